// A throwaway Kubernetes control plane for tests, as envtest does it: Debian's etcd plus a
// kube-apiserver (from scripts/ensure-k8s-binaries.sh) on free loopback ports, with a temp dir,
// a static bearer token with cluster-admin rights, and no kubelet, scheduler or controllers.
// On request (options.controllerManager / options.scheduler) it also starts kube-controller-manager
// (every default controller: StatefulSet, garbage collector, PV binder, node lifecycle, ...) and
// kube-scheduler against the same apiserver, for operator tests that need those controllers (the
// e2e tier runs on a real node instead: scripts/cluster.sh).
//
// Usage:
//   const cp = await startKubeControlPlane();          // throws with the logs' tails on failure
//   try {
//     await cp.installCrds(['k8s/crds/raftclusters.raftkv.dev.yaml']);
//     const kc = cp.kubeConfig();                      // @kubernetes/client-node KubeConfig
//     ... or pass cp.kubeconfigPath to kubectl / a child process (KUBECONFIG)
//   } finally { await cp.stop(); }                     // kills both processes by pid, removes the dir
//
// Binaries: kube-apiserver from $KUBEBUILDER_ASSETS, else <repo>/.cache/bin, else PATH; etcd from
// $ETCD_BIN, else PATH (/usr/bin/etcd). Every process is also killed on process exit.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import YAML from 'yaml';
import { freePort } from './free-port.js';

/** Bound on start-up (etcd + apiserver ready), generous for 2 shared cores. */
const START_TIMEOUT_MS = 120_000;
/** Bound on a process exiting after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;
/** Bound on one HTTP call to the apiserver. */
const HTTP_TIMEOUT_MS = 10_000;
const POLL_MS = 200;

/** Options of startKubeControlPlane; all optional. */
export interface KubeControlPlaneOptions {
  /** Extra kube-apiserver flags (e.g. to enable admission plugins). */
  readonly apiServerArgs?: readonly string[];
  /** Keep the temp dir (logs, certs, etcd data) after stop(). */
  readonly keepDir?: boolean;
  /** Start-up bound. Default 120 s. */
  readonly startTimeoutMs?: number;
  /** Also start kube-controller-manager (default false: envtest-style, no controllers). */
  readonly controllerManager?: boolean;
  /** Extra kube-controller-manager flags (e.g. `--controllers=*,-nodelifecycle`). */
  readonly controllerManagerArgs?: readonly string[];
  /** Also start kube-scheduler (default false). */
  readonly scheduler?: boolean;
  /** Extra kube-scheduler flags. */
  readonly schedulerArgs?: readonly string[];
}

/** A running control plane. */
export interface KubeControlPlane {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Bearer token (user `admin`, group system:masters). */
  readonly token: string;
  /** A kubeconfig file for kubectl and child processes (TLS verification off: self-signed serving cert). */
  readonly kubeconfigPath: string;
  /** Temp dir holding logs (`etcd.log`, `kube-apiserver.log`, `kube-controller-manager.log`, `kube-scheduler.log`), certs and etcd data. */
  readonly dir: string;
  /** etcd client URL. */
  readonly etcdUrl: string;
  /** Wall time start-up took. */
  readonly setupMs: number;
  /** pids of etcd and kube-apiserver (and of the controller manager / scheduler when started), for tests that check cleanup. */
  readonly pids: { readonly etcd: number; readonly apiServer: number; readonly controllerManager?: number; readonly scheduler?: number };
  /** A fresh client-node KubeConfig for this control plane. */
  kubeConfig(): KubeConfig;
  /** One JSON request to the apiserver; resolves with status and parsed body (never rejects on HTTP errors). */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }>;
  /** Creates (or replaces) CRDs from YAML files and waits until they are Established. */
  installCrds(files: readonly string[]): Promise<void>;
  /** The last lines of one of the logs in `dir` (for failure messages). */
  logTail(log: string, lines?: number): string;
  /** Kills every process it started (SIGTERM, then SIGKILL) and removes the temp dir unless keepDir. Idempotent. */
  stop(): Promise<void>;
}

/** The repo root (this file is test/lib/ in the sources and <out>/test/lib/ when compiled). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** Path of a control-plane binary, or throws telling how to get it. */
export function findK8sBinary(name: string): string {
  const candidates: string[] = [];
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets !== undefined && assets !== '') candidates.push(join(assets, name));
  candidates.push(join(repoRoot(), '.cache', 'bin', name));
  for (const p of (process.env['PATH'] ?? '').split(':')) if (p !== '') candidates.push(join(p, name));
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`${name} not found (looked in ${candidates.slice(0, 3).join(', ')}, PATH); run: bash scripts/ensure-k8s-binaries.sh`);
  return found;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  live.add(child);
  child.on('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) if (c.pid !== undefined) try { process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
    });
  }
}

async function killProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function httpsRequest(server: string, token: string, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: unknown }> {
  return new Promise((res, rej) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(`${server}${path}`, {
      method, rejectUnauthorized: false, timeout: HTTP_TIMEOUT_MS,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(data === undefined ? {} : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(data)) }) },
    }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON (e.g. /readyz) */ }
        res({ status: r.statusCode ?? 0, body: parsed });
      });
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', rej);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** Starts etcd and kube-apiserver; rejects (after cleaning up) if they are not ready in time. */
export async function startKubeControlPlane(options: KubeControlPlaneOptions = {}): Promise<KubeControlPlane> {
  const started = Date.now();
  const apiServerBin = findK8sBinary('kube-apiserver');
  const etcdBin = process.env['ETCD_BIN'] ?? findK8sBinary('etcd');
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-kcp-'));
  const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const server = `https://127.0.0.1:${apiPort}`;
  const token = `raftkv-test-${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, YAML.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'default' } }],
  }));

  const children: ChildProcess[] = [];
  const spawnLogged = (bin: string, args: string[], log: string): ChildProcess => {
    const fd = openSync(join(dir, log), 'a');
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: false });
    closeSync(fd);
    track(child);
    children.push(child);
    return child;
  };
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    for (const c of [...children].reverse()) await killProcess(c);
    if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };

  try {
    const etcd = spawnLogged(etcdBin, [
      '--name', 'default', '--data-dir', join(dir, 'etcd'),
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeerPort}`,
      '--initial-cluster', `default=http://127.0.0.1:${etcdPeerPort}`, '--log-level', 'warn',
    ], 'etcd.log');
    const apiServer = spawnLogged(apiServerBin, [
      `--etcd-servers=${etcdUrl}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1', `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`, `--token-auth-file=${join(dir, 'tokens.csv')}`, '--authorization-mode=RBAC',
      `--service-account-issuer=https://kubernetes.default.svc`, `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`, '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true', '--endpoint-reconciler-type=none', '--disable-admission-plugins=ServiceAccount', '--enable-priority-and-fairness=false',
      '--v=1', ...(options.apiServerArgs ?? []),
    ], 'kube-apiserver.log');
    const deadline = Date.now() + (options.startTimeoutMs ?? START_TIMEOUT_MS);
    for (;;) {
      if (etcd.exitCode !== null) throw new Error(`etcd exited (${etcd.exitCode})`);
      if (apiServer.exitCode !== null) throw new Error(`kube-apiserver exited (${apiServer.exitCode})`);
      const r = await httpsRequest(server, token, 'GET', '/readyz').catch(() => ({ status: 0, body: '' }));
      if (r.status === 200) {
        // The default namespace is created by a post-start hook; wait for it too.
        const ns = await httpsRequest(server, token, 'GET', '/api/v1/namespaces/default').catch(() => ({ status: 0, body: '' }));
        if (ns.status === 200) break;
      }
      if (Date.now() > deadline) throw new Error(`kube-apiserver not ready after ${options.startTimeoutMs ?? START_TIMEOUT_MS} ms`);
      await new Promise((r2) => setTimeout(r2, POLL_MS));
    }
    const request = (method: string, path: string, body?: unknown, contentType?: string): Promise<{ status: number; body: unknown }> =>
      httpsRequest(server, token, method, path, body, contentType);
    // Controllers and scheduler start after the apiserver has written its self-signed serving
    // cert, which doubles as the root CA the controller manager publishes into namespaces.
    const extra: { controllerManager?: number; scheduler?: number } = {};
    const waitHealthy = async (name: string, child: ChildProcess, port: number): Promise<void> => {
      for (;;) {
        if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode})\n--- ${name}.log ---\n${tail(join(dir, `${name}.log`))}`);
        const r = await httpsRequest(`https://127.0.0.1:${port}`, token, 'GET', '/healthz').catch(() => ({ status: 0, body: '' }));
        if (r.status === 200) return;
        if (Date.now() > deadline) throw new Error(`${name} not healthy after ${options.startTimeoutMs ?? START_TIMEOUT_MS} ms\n--- ${name}.log ---\n${tail(join(dir, `${name}.log`))}`);
        await new Promise((r2) => setTimeout(r2, POLL_MS));
      }
    };
    const waiting: Promise<void>[] = [];
    if (options.controllerManager === true) {
      const port = await freePort();
      const kcm = spawnLogged(findK8sBinary('kube-controller-manager'), [
        `--kubeconfig=${kubeconfigPath}`, `--authentication-kubeconfig=${kubeconfigPath}`, `--authorization-kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1', `--secure-port=${port}`, `--cert-dir=${join(dir, 'kcm-certs')}`,
        '--leader-elect=false', '--controllers=*', '--use-service-account-credentials=false',
        `--service-account-private-key-file=${join(dir, 'sa.key')}`, `--root-ca-file=${join(dir, 'certs', 'apiserver.crt')}`,
        '--service-cluster-ip-range=10.0.0.0/24', '--allocate-node-cidrs=false',
        '--v=1', ...(options.controllerManagerArgs ?? []),
      ], 'kube-controller-manager.log');
      extra.controllerManager = kcm.pid ?? -1;
      waiting.push(waitHealthy('kube-controller-manager', kcm, port));
    }
    if (options.scheduler === true) {
      const port = await freePort();
      const sched = spawnLogged(findK8sBinary('kube-scheduler'), [
        `--kubeconfig=${kubeconfigPath}`, `--authentication-kubeconfig=${kubeconfigPath}`, `--authorization-kubeconfig=${kubeconfigPath}`,
        '--bind-address=127.0.0.1', `--secure-port=${port}`, `--cert-dir=${join(dir, 'sched-certs')}`, '--leader-elect=false',
        '--v=1', ...(options.schedulerArgs ?? []),
      ], 'kube-scheduler.log');
      extra.scheduler = sched.pid ?? -1;
      waiting.push(waitHealthy('kube-scheduler', sched, port));
    }
    await Promise.all(waiting);
    return {
      server, token, kubeconfigPath, dir, etcdUrl, setupMs: Date.now() - started,
      pids: { etcd: etcd.pid ?? -1, apiServer: apiServer.pid ?? -1, ...extra },
      logTail: (log, lines) => tail(join(dir, log), lines),
      kubeConfig: () => {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      request,
      installCrds: async (files) => {
        const names: string[] = [];
        for (const f of files) {
          for (const doc of YAML.parseAllDocuments(readFileSync(f, 'utf8'))) {
            const crd = doc.toJS() as { metadata: { name: string } } | null;
            if (crd === null) continue;
            names.push(crd.metadata.name);
            const r = await request('PATCH', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=test&force=true`, crd, 'application/apply-patch+yaml');
            if (r.status >= 300) throw new Error(`installing CRD ${crd.metadata.name}: ${r.status} ${JSON.stringify(r.body)}`);
          }
        }
        const until = Date.now() + 30_000;
        for (const n of names) {
          for (;;) {
            const r = await request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${n}`);
            const conds = (r.body as { status?: { conditions?: { type: string; status: string }[] } }).status?.conditions ?? [];
            if (conds.some((c) => c.type === 'Established' && c.status === 'True')) break;
            if (Date.now() > until) throw new Error(`CRD ${n} not Established after 30 s`);
            await new Promise((r2) => setTimeout(r2, POLL_MS));
          }
        }
        // Discovery of a new group can lag behind Established by a moment.
        await new Promise((r2) => setTimeout(r2, 500));
      },
      stop,
    };
  } catch (err) {
    const msg = `${err instanceof Error ? err.message : String(err)}\n--- etcd.log ---\n${tail(join(dir, 'etcd.log'))}\n--- kube-apiserver.log ---\n${tail(join(dir, 'kube-apiserver.log'))}`;
    await stop();
    throw new Error(`startKubeControlPlane: ${msg}`);
  }
}
