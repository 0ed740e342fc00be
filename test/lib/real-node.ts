// The e2e tier's view of the real one-node cluster that scripts/cluster.sh starts (test harness):
// where it is (kubeconfig, node.env), `kubectl exec` into pods, HTTP calls made from inside a pod
// (so cluster DNS, Services and certificates are the cluster's own), and the host side of a
// container (its pid, found with containerd's `ctr`) for crash and pause faults.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What scripts/cluster.sh (or scripts/e2e-kind.sh, for a kind node) writes to <state>/node.env,
 * plus the kubeconfig next to it.
 */
export interface RealNode {
  readonly dir: string;
  readonly kubeconfig: string;
  /** A network namespace under /run/netns where pod IPs route (the node's). */
  readonly netns: string;
  /** containerd's socket, as the node's own processes see it. */
  readonly containerdSock: string;
  /** The node's address the host reaches it at (a listener in `netns` bound here is reachable from the host). */
  readonly linkNode: string;
  /** The node's address on the pod bridge: pods reach a listener in `netns` bound here ('' when node.env has none, e.g. kind). */
  readonly nodeIp: string;
  /** The local-path provisioner's directory, as the host sees it. */
  readonly volumesDir: string;
  /** A command prefix that runs a command on the node (empty: the node's processes are the host's). */
  readonly nodeExec: readonly string[];
  /** Where the node's root file system is seen from the host ('' when it is the host's). */
  readonly rootOnHost: string;
  /** Namespaces whose pods are the node's own (a kind node runs CNI, kube-proxy, CoreDNS and the provisioner as pods). */
  readonly systemNamespaces: readonly string[];
}

/** Reads the node's description from RAFTKV_E2E_CLUSTER_DIR (scripts/test-e2e.sh and scripts/e2e-kind.sh set it). */
export function realNodeFromEnv(): RealNode {
  const dir = process.env['RAFTKV_E2E_CLUSTER_DIR'] ?? '';
  const envFile = join(dir, 'node.env');
  if (dir === '' || !existsSync(envFile)) {
    throw new Error(`no real node: RAFTKV_E2E_CLUSTER_DIR (${dir === '' ? 'unset' : dir}) has no node.env; run the tier with make test-e2e or make e2e-kind (they start the node)`);
  }
  const vars = new Map<string, string>();
  for (const line of readFileSync(envFile, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) vars.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const need = (k: string): string => {
    const v = vars.get(k);
    if (v === undefined || v === '') throw new Error(`${envFile} has no ${k}`);
    return v;
  };
  const words = (k: string): string[] => (vars.get(k) ?? '').split(' ').filter((w) => w !== '');
  return {
    dir, kubeconfig: join(dir, 'kubeconfig'), netns: need('NETNS'), containerdSock: need('CONTAINERD_SOCK'), linkNode: need('LINK_NODE'), nodeIp: vars.get('NODE_IP') ?? '',
    volumesDir: need('VOLUMES_DIR'), nodeExec: words('NODE_EXEC'), rootOnHost: vars.get('NODE_ROOT') ?? '', systemNamespaces: words('SYSTEM_NAMESPACES'),
  };
}

/** A path on the node as the host sees it (e.g. a PV's hostPath). */
export function hostPathOf(node: RealNode, nodePath: string): string {
  return node.rootOnHost + nodePath;
}

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`); never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** `kubectl exec` into a pod's (first) container; the result whatever the exit code. */
export function podExec(kubeconfig: string, ns: string, pod: string, argv: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return run(process.env['KUBECTL'] ?? 'kubectl', [`--kubeconfig=${kubeconfig}`, '-n', ns, 'exec', ...(opts.input === undefined ? [] : ['-i']), pod, '--', ...argv],
    { timeoutMs: timeoutMs + 5_000, ...(opts.input === undefined ? {} : { input: opts.input }) });
}

/** An HTTP(S) request as a client inside the cluster makes it (see IN_POD_HTTP). */
export interface PodHttpRequest {
  readonly method: string;
  readonly url: string;
  readonly body?: string;
  readonly token?: string;
  /** PEM of the CA to trust for https:// (the system roots when absent). */
  readonly ca?: string;
}

export interface PodHttpResult {
  readonly status: number;
  readonly text: string;
  /** Host names of the 307 redirects followed. */
  readonly via: string[];
  /** Set when no answer came (connection refused, TLS failure, timeout). */
  readonly error?: string;
}

/**
 * Run by `node -e` in a pod of the raftkv image: one request, following 307s (up to 4) the way an
 * in-cluster client does, the names resolved by the pod's resolver (CoreDNS), certificates checked
 * against the given CA for the name in the URL. Prints one JSON line.
 */
const IN_POD_HTTP = `
const req = JSON.parse(process.argv[1]);
const via = [];
const once = (url) => new Promise((resolve) => {
  const u = new URL(url);
  const mod = require(u.protocol === 'https:' ? 'node:https' : 'node:http');
  const headers = {};
  if (req.token) headers.authorization = 'Bearer ' + req.token;
  if (req.body !== undefined) headers['content-length'] = Buffer.byteLength(req.body);
  const r = mod.request(u, { method: req.method, headers, timeout: 10000, ...(req.ca ? { ca: req.ca } : {}) }, (res) => {
    const chunks = [];
    res.on('data', (c) => chunks.push(c));
    res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), location: res.headers.location }));
  });
  r.on('timeout', () => r.destroy(new Error('timeout')));
  r.on('error', (e) => resolve({ status: 0, text: '', error: e.code ? e.code + ': ' + e.message : e.message }));
  r.end(req.body);
});
(async () => {
  let url = req.url;
  for (let hop = 0; hop < 5; hop++) {
    const r = await once(url);
    if (r.status !== 307 || !r.location || hop === 4) { console.log(JSON.stringify({ status: r.status, text: r.text, via, error: r.error })); return; }
    const next = new URL(r.location, url);
    via.push(next.hostname);
    url = next.toString();
  }
})();
`;

/** One request made from inside `pod` (which must run the raftkv image: it has node). */
export async function podHttp(kubeconfig: string, ns: string, pod: string, req: PodHttpRequest): Promise<PodHttpResult> {
  const r = await podExec(kubeconfig, ns, pod, ['node', '-e', IN_POD_HTTP, JSON.stringify(req)]);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as PodHttpResult;
  } catch {
    throw new Error(`in-pod request ${req.method} ${req.url} printed no result (exit ${String(r.code)}): ${r.stdout}${r.stderr}`);
  }
}

/**
 * Run by `node -e` in a pod: polls GET /v1/status of the given member URLs every 50 ms for up to
 * `limitMs`, and prints when each stopped answering and when some member first named a leader other
 * than `oldLeader` (epoch ms). Started before a fault, so the hand-off is timed from inside the cluster.
 */
const IN_POD_LEADER_WATCH = `
const [urls, oldLeader, limitMs] = JSON.parse(process.argv[1]);
const http = require('node:http');
const out = { start: Date.now(), newLeader: null, newLeaderAt: null, down: {} };
const get = (u) => new Promise((resolve) => {
  const r = http.get(u + '/v1/status', { timeout: 300 }, (res) => {
    let b = ''; res.on('data', (c) => b += c); res.on('end', () => { try { resolve(JSON.parse(b)); } catch { resolve(null); } });
  });
  r.on('timeout', () => r.destroy(new Error('timeout')));
  r.on('error', () => resolve(null));
});
(async () => {
  while (Date.now() - out.start < limitMs) {
    const t = Date.now();
    const all = await Promise.all(urls.map(get));
    all.forEach((s, i) => { if (s === null && out.down[urls[i]] === undefined) out.down[urls[i]] = t; });
    const named = all.find((s) => s && s.leader && s.leader.name !== oldLeader && s.role !== undefined);
    if (named && out.newLeader === null) { out.newLeader = named.leader.name; out.newLeaderAt = Date.now(); }
    if (out.newLeader !== null && Object.keys(out.down).length > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify(out));
})();
`;

export interface LeaderWatch {
  readonly start: number;
  readonly newLeader: string | null;
  readonly newLeaderAt: number | null;
  /** URL → epoch ms when it first did not answer. */
  readonly down: Record<string, number>;
}

/** Starts IN_POD_LEADER_WATCH in `pod`; resolves with its result when it ends. */
export async function watchLeaderChange(kubeconfig: string, ns: string, pod: string, urls: readonly string[], oldLeader: string, limitMs: number): Promise<LeaderWatch> {
  const r = await podExec(kubeconfig, ns, pod, ['node', '-e', IN_POD_LEADER_WATCH, JSON.stringify([urls, oldLeader, limitMs])], { timeoutMs: limitMs + 15_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LeaderWatch;
  } catch {
    throw new Error(`leader watch printed no result (exit ${String(r.code)}): ${r.stdout}${r.stderr}`);
  }
}

/** The host pid of a running container's init process (`ctr tasks ls` on the node's containerd). */
export async function containerHostPid(node: RealNode, containerId: string): Promise<number> {
  const id = containerId.replace(/^containerd:\/\//, '');
  const [cmd = 'ctr', ...pre] = [...node.nodeExec, 'ctr'];
  const r = await run(cmd, [...pre, '--address', node.containerdSock, '-n', 'k8s.io', 'tasks', 'ls'], { timeoutMs: 15_000 });
  for (const line of r.stdout.split('\n')) {
    const [task, pid, status] = line.trim().split(/\s+/);
    if (task === id && status === 'RUNNING') return node.nodeExec.length === 0 ? Number(pid) : hostPidOfNodePid(node, Number(pid));
  }
  throw new Error(`container ${id} is not a running task on the node: ${r.stdout}${r.stderr}`);
}

/** The first field of a /proc/<pid>/status line, or undefined. */
function statusField(pid: string, field: string): string[] | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line?.slice(field.length + 1).trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/**
 * The host pid of a process the node (a container with a pid namespace of its own) knows as
 * `nodePid`: the host process whose second NSpid entry is `nodePid` and whose ancestors include the
 * node's init (the process that owns `rootOnHost`, /proc/<pid>/root).
 */
function hostPidOfNodePid(node: RealNode, nodePid: number): number {
  const init = /^\/proc\/(\d+)\/root$/.exec(node.rootOnHost)?.[1];
  if (init === undefined) throw new Error(`no node init pid in NODE_ROOT ${node.rootOnHost}`);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (statusField(entry, 'NSpid')?.[1] !== String(nodePid)) continue;
    let p = entry;
    for (let hops = 0; hops < 64 && p !== '0' && p !== '1'; hops++) {
      if (p === init) return Number(entry);
      p = statusField(p, 'PPid')?.[0] ?? '0';
    }
  }
  throw new Error(`no host process is pid ${nodePid} in the node's pid namespace`);
}
