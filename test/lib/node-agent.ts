// A node agent for the e2e tier (test harness, not product): plays kubelet, container runtime,
// CNI, cluster DNS and a static volume provisioner for ONE registered Node, running each pod's
// container as a local process. Only what raftkv pods need is implemented, faithfully where it
// matters to the operator: graceful deletion, restarts, readiness, stable volumes.
//
//   node     registers a Node (Ready, with capacity) and keeps it alive with a Lease in
//            kube-node-lease and Ready heartbeats, so the node-lifecycle controller never taints it;
//   pods     every sync (default 250 ms) lists the pods bound to the node (the scheduler binds
//            them). A new pod gets its own loopback address (podIP 127.0.0.x), its container's
//            env and args resolved (fieldRef, configMapKeyRef, secretKeyRef, $(VAR)), wildcard
//            listens and volume paths localised (node-agent-spec.ts), and runs as
//            `node --import node-agent-resolver.js <entry> args...`;
//   status   phase Running, podIP, containerStatuses and conditions Ready/ContainersReady from the
//            readiness probe (HTTP GET on podIP), written through pods/status only when changed;
//            a failing liveness probe (failureThreshold in a row) kills the process;
//   init     initContainers run to completion, in order, before the main container (each as its
//            own process); a failed one is retried with the back-off below (restartPolicy Never:
//            the pod fails); initContainerStatuses and the Initialized condition show where it is;
//   restarts restartPolicy Always: a process that exits is restarted with a doubling back-off
//            (1 s .. 10 s), restartCount counts it; OnFailure restarts only a failure; Never and a
//            success under OnFailure end the pod (phase Succeeded / Failed), as Job pods expect
//            (node-agent-spec.ts afterExit);
//   delete   a pod with a deletionTimestamp gets SIGTERM, SIGKILL after its grace period, then the
//            agent confirms with DELETE gracePeriodSeconds=0 (what the kubelet does), so the
//            StatefulSet controller may recreate the name;
//   DNS      an /etc/hosts-style file of `<hostname>.<subdomain>.<ns>.svc` for pods whose
//            subdomain is a headless Service, read by the resolver preload (node-agent-resolver.ts);
//   volumes  every Pending PVC gets a pre-bound hostPath PV (Retain) on a directory named after the
//            PVC's uid, so the PV controller binds it and the data survives pod restarts; when the
//            PVC is gone the agent deletes the PV and the directory. Secret volumes are files
//            under the pod's directory, written as the kubelet does (a timestamped dir, a `..data`
//            symlink swapped atomically, one symlink per top-level name) and refreshed every
//            second while the pod runs, so a Secret update reaches the container as on a node;
//   probes   HTTP or HTTPS (`scheme`); HTTPS probes do not verify the certificate, as the kubelet's.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EnvVarSpec, HostMount, HttpGetSpec, PodFacts, ProjectedFile, SecretVolumeSpec } from './node-agent-spec.js';
import { ContainerConfigError, afterExit, hostsText, localProcessSpec, podPhaseOf, probeTarget, resolveEnv, restartPolicyOf, secretVolumeFiles, serviceBackends } from './node-agent-spec.js';
import { HOSTS_FILE_ENV } from './node-agent-resolver.js';

/** One JSON request to the apiserver (as KubeControlPlane.request). */
export type KubeRequest = (method: string, path: string, body?: unknown, contentType?: string) => Promise<{ status: number; body: unknown }>;

/**
 * What a container image runs on this node: a script run by `node` (the agent adds the resolver
 * preload), optionally with arguments that go before the container's args (the rest of its command).
 */
export type ImageResolver = (image: string, command: readonly string[] | undefined) => string | { readonly script: string; readonly leadingArgs: readonly string[] };

/** Options of NodeAgent. */
export interface NodeAgentOptions {
  readonly request: KubeRequest;
  /** Working root: volumes/, pods/, logs/, hosts. The caller removes it. */
  readonly root: string;
  /** Script a container runs (by image and command); throw ContainerConfigError to refuse. */
  readonly entrypoint: ImageResolver;
  /** Compiled node-agent-resolver.js, preloaded into every container process. */
  readonly resolverModule: string;
  /** Default `e2e-node`. */
  readonly nodeName?: string;
  /** Pod addresses are `<ipPrefix><n>` for n in ipRange. Default `127.0.0.` and [10, 250]. */
  readonly ipPrefix?: string;
  readonly ipRange?: readonly [number, number];
  /** Sync period. Default 250 ms. */
  readonly syncIntervalMs?: number;
  /** Lease renew / Ready heartbeat period. Default 5 s. */
  readonly heartbeatIntervalMs?: number;
  /** Extra env for every container process (e.g. NODE_OPTIONS). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** Progress lines (pod started, restarted, killed, ...). */
  readonly log?: (line: string) => void;
}

/** Something the agent did, for the test's record. */
export interface AgentEvent {
  readonly at: number;
  readonly pod: string;
  readonly what: 'started' | 'exited' | 'restarted' | 'killed' | 'deleted' | 'ready' | 'unready' | 'liveness-kill' | 'config-error';
  readonly detail: string;
}

interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
}
interface HttpProbe { httpGet?: HttpGetSpec; periodSeconds?: number; failureThreshold?: number; initialDelaySeconds?: number; timeoutSeconds?: number }
interface ContainerSpec {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVarSpec[];
  ports?: { containerPort: number; name?: string }[];
  readinessProbe?: HttpProbe;
  livenessProbe?: HttpProbe;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface PodObject {
  metadata: ObjectMeta;
  spec: {
    nodeName?: string;
    hostname?: string;
    subdomain?: string;
    serviceAccountName?: string;
    restartPolicy?: string;
    terminationGracePeriodSeconds?: number;
    containers: ContainerSpec[];
    initContainers?: ContainerSpec[];
    volumes?: { name: string; persistentVolumeClaim?: { claimName: string }; emptyDir?: Record<string, unknown>; hostPath?: { path: string }; secret?: SecretVolumeSpec }[];
  };
  status?: { phase?: string };
}
interface PvcObject {
  metadata: ObjectMeta;
  spec: { volumeName?: string; storageClassName?: string; accessModes?: string[]; resources?: { requests?: { storage?: string } } };
  status?: { phase?: string };
}
interface PvObject { metadata: ObjectMeta; spec: { claimRef?: { uid?: string; name?: string; namespace?: string }; hostPath?: { path: string } }; status?: { phase?: string } }
interface ServiceObject { metadata: ObjectMeta; spec: { clusterIP?: string; selector?: Record<string, string> } }
interface List<T> { items: T[] }

/** Per-pod state (keyed by pod uid: a recreated pod with the same name is a new pod). */
interface PodRun {
  readonly uid: string;
  readonly key: string;
  pod: PodObject;
  ip: string | undefined;
  proc: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  restartCount: number;
  backoffMs: number;
  nextStartAt: number;
  startTime: string | undefined;
  containerStartedAt: string | undefined;
  lastTermination: { exitCode: number; reason: string; finishedAt: string; startedAt: string } | undefined;
  ready: boolean;
  readyChangedAt: string;
  readinessFailures: number;
  livenessFailures: number;
  nextProbeAt: number;
  probing: boolean;
  waitingReason: string | undefined;
  waitingMessage: string | undefined;
  terminating: Promise<void> | undefined;
  lastStatus: string;
  logFile: string;
  /** Init containers finished so far (0..initContainers.length); the main container starts at the end. */
  initDone: number;
  /** Restarts of the current init container (its back-off), and its last failure. */
  initRestartCount: number;
  initLastTermination: { exitCode: number; reason: string; finishedAt: string; startedAt: string } | undefined;
  /** When each finished init container started and ended (their terminated states). */
  initFinished: { startedAt: string; finishedAt: string }[];
  /** Which container the process is: an init container or the main one. */
  runningKind: 'init' | 'main' | undefined;
  /** Set once the pod finished for good (restartPolicy Never/OnFailure): no more starts. */
  finished: 'Succeeded' | 'Failed' | undefined;
  /** Secret volumes of the container: where they are and what was last written (refreshed while it runs). */
  secretVolumes: { dir: string; source: SecretVolumeSpec; written: string }[];
  nextSecretSyncAt: number;
}

const LABEL_NODE = 'node-agent.raftkv.dev/node';
const MAX_BACKOFF_MS = 10_000;
/** How often a running pod's Secret volumes are compared with their Secrets. */
const SECRET_REFRESH_MS = 1_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const microNow = (): string => new Date().toISOString().replace(/Z$/, '000Z');

function alive(p: ChildProcess | undefined): p is ChildProcess {
  return p !== undefined && p.exitCode === null && p.signalCode === null;
}

async function portFree(ip: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, ip, () => srv.close(() => res(true)));
  });
}

/**
 * Writes `files` into `dir` as the kubelet's AtomicWriter does for Secret volumes: into a fresh
 * `..<timestamp>` directory, then the `..data` symlink is swapped to it by a rename, and each
 * top-level name is a symlink into `..data`. A reader sees the old set or the new set, never a
 * mix. Older timestamped directories and links of names no longer projected are removed.
 */
export function writeAtomicDir(dir: string, files: readonly ProjectedFile[]): void {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${Math.random().toString(36).slice(2, 8)}`;
  mkdirSync(join(dir, stamp), { recursive: true });
  for (const f of files) {
    const target = join(dir, stamp, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.content, { mode: f.mode });
  }
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(stamp, tmpLink);
  renameSync(tmpLink, join(dir, '..data'));
  const top = new Set(files.map((f) => f.path.split('/')[0] ?? ''));
  for (const name of top) {
    if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  }
  for (const entry of readdirSync(dir)) {
    const p = join(dir, entry);
    if (entry.startsWith('..') && entry !== '..data' && entry !== stamp) rmSync(p, { recursive: true, force: true });
    else if (!entry.startsWith('..') && !top.has(entry) && lstatSync(p).isSymbolicLink()) rmSync(p, { force: true });
  }
}

/** The node agent; `start()` registers the node and begins syncing, `stop()` kills every process it started. */
export class NodeAgent {
  readonly nodeName: string;
  /** The hosts file the resolver preload reads (pass it as NODE_AGENT_HOSTS_FILE to other processes). */
  readonly hostsFile: string;
  readonly events: AgentEvent[] = [];
  private readonly runs = new Map<string, PodRun>();
  private readonly usedIps = new Set<string>();
  private readonly provisioned = new Set<string>();
  private ipCursor: number;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing = false;
  private stopped = false;
  private lastHeartbeat = 0;
  private hosts = '';
  private nodeUid = '';
  private syncErrors = 0;
  private lastSyncError = '';

  constructor(private readonly options: NodeAgentOptions) {
    this.nodeName = options.nodeName ?? 'e2e-node';
    this.hostsFile = join(options.root, 'hosts');
    this.ipCursor = (options.ipRange ?? [10, 250])[0];
    for (const d of ['volumes', 'pods', 'logs']) mkdirSync(join(options.root, d), { recursive: true });
    writeFileSync(this.hostsFile, hostsText([]));
  }

  /** Registers the Node and its Lease, then syncs every interval until stop(). */
  async start(): Promise<void> {
    const req = this.options.request;
    const node = await req('POST', '/api/v1/nodes', {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name: this.nodeName, labels: { 'kubernetes.io/hostname': this.nodeName, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', [LABEL_NODE]: this.nodeName } },
      spec: {},
    });
    if (node.status !== 201) throw new Error(`registering node ${this.nodeName}: ${node.status} ${JSON.stringify(node.body)}`);
    this.nodeUid = (node.body as { metadata: { uid: string } }).metadata.uid;
    await this.heartbeat(true);
    // If the test process dies without stop(), no container outlives it.
    process.on('exit', this.killOnExit);
    this.syncTimer = setInterval(() => {
      if (this.syncing || this.stopped) return;
      this.syncing = true;
      this.sync().catch((err: unknown) => {
        this.syncErrors++;
        this.lastSyncError = err instanceof Error ? err.message : String(err);
      }).finally(() => {
        this.syncing = false;
      });
    }, this.options.syncIntervalMs ?? 250);
  }

  /** Sync passes that threw (apiserver hiccups are retried next pass), and the last error. */
  syncFailures(): { count: number; last: string } {
    return { count: this.syncErrors, last: this.lastSyncError };
  }

  /** pids of the container processes running now. */
  pids(): number[] {
    return [...this.runs.values()].flatMap((r) => (alive(r.proc) && r.proc.pid !== undefined ? [r.proc.pid] : []));
  }

  /** pid of a pod's container process now (for tests that crash one), by `namespace/name`. */
  containerPid(namespace: string, name: string): number | undefined {
    const run = [...this.runs.values()].find((r) => r.key === `${namespace}/${name}` && r.terminating === undefined);
    return alive(run?.proc) ? run.proc.pid : undefined;
  }

  /** podIP of a running pod by `namespace/name`. */
  podIP(namespace: string, name: string): string | undefined {
    return [...this.runs.values()].find((r) => r.key === `${namespace}/${name}` && r.terminating === undefined)?.ip;
  }

  /** The pods it runs now: `namespace/name` → podIP and readiness. */
  pods(): { key: string; ip: string; ready: boolean; labels: Record<string, string> }[] {
    return [...this.runs.values()].filter((r) => r.ip !== undefined && r.terminating === undefined && alive(r.proc))
      .map((r) => ({ key: r.key, ip: r.ip ?? '', ready: r.ready, labels: r.pod.metadata.labels ?? {} }));
  }

  /** The tail of a pod's container log (every restart appends). */
  podLog(namespace: string, name: string, lines = 40): string {
    const run = [...this.runs.values()].reverse().find((r) => r.key === `${namespace}/${name}`);
    if (run === undefined) return '(no such pod)';
    try {
      return readFileSync(run.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private readonly killOnExit = (): void => {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* already gone */ }
    }
  };

  /** Stops syncing and kills every container process (SIGTERM, SIGKILL after 5 s). Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    process.off('exit', this.killOnExit);
    if (this.syncTimer !== undefined) clearInterval(this.syncTimer);
    for (let i = 0; i < 100 && this.syncing; i++) await sleep(50);
    await Promise.all([...this.runs.values()].map((r) => this.kill(r, 5_000)));
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private record(run: PodRun, what: AgentEvent['what'], detail = ''): void {
    this.events.push({ at: Date.now(), pod: run.key, what, detail });
    this.log(`node-agent: ${run.key} ${what}${detail === '' ? '' : ` (${detail})`}`);
  }

  private async heartbeat(first: boolean): Promise<void> {
    const req = this.options.request;
    const t = now();
    const cond = (type: string, status: string, reason: string): Record<string, string> => ({ type, status, reason, message: reason, lastHeartbeatTime: t, lastTransitionTime: t });
    const capacity = { cpu: '16', memory: '64Gi', pods: '110', 'ephemeral-storage': '100Gi' };
    const status: Record<string, unknown> = {
      conditions: [cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory'), cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID'), cond('Ready', 'True', 'KubeletReady')],
    };
    if (first) {
      Object.assign(status, {
        capacity, allocatable: capacity,
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }, { type: 'Hostname', address: this.nodeName }],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: { machineID: 'e2e', systemUUID: 'e2e', bootID: 'e2e', kernelVersion: '', osImage: 'raftkv e2e node agent', containerRuntimeVersion: 'node-agent://1',
          kubeletVersion: 'v1.37.0', kubeProxyVersion: '', operatingSystem: 'linux', architecture: 'amd64' },
      });
    }
    // Merge patch replaces the conditions list; keeping lastTransitionTime fresh is harmless here.
    const r = await req('PATCH', `/api/v1/nodes/${this.nodeName}/status`, { status }, 'application/merge-patch+json');
    if (r.status !== 200) throw new Error(`node status: ${r.status} ${JSON.stringify(r.body)}`);
    const lease = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.nodeName}`;
    const spec = { holderIdentity: this.nodeName, leaseDurationSeconds: 40, renewTime: microNow() };
    if (first) {
      const c = await req('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
        metadata: { name: this.nodeName, ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: this.nodeUid }] }, spec,
      });
      if (c.status !== 201 && c.status !== 409) throw new Error(`node lease: ${c.status} ${JSON.stringify(c.body)}`);
    } else await req('PATCH', lease, { spec }, 'application/merge-patch+json');
    this.lastHeartbeat = Date.now();
  }

  private async sync(): Promise<void> {
    const req = this.options.request;
    if (Date.now() - this.lastHeartbeat > (this.options.heartbeatIntervalMs ?? 5_000)) await this.heartbeat(false);
    await this.provisionVolumes();
    const list = await req('GET', `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.nodeName}`)}`);
    if (list.status !== 200) throw new Error(`list pods: ${list.status}`);
    const pods = (list.body as List<PodObject>).items;
    const seen = new Set<string>();
    for (const pod of pods) {
      if (this.stopped) return;
      const uid = pod.metadata.uid;
      seen.add(uid);
      let run = this.runs.get(uid);
      if (run === undefined) {
        if (pod.metadata.deletionTimestamp !== undefined) {
          // Never started here: nothing to stop, confirm the deletion at once.
          await this.confirmDeletion(pod);
          continue;
        }
        run = this.newRun(pod);
        this.runs.set(uid, run);
      }
      run.pod = pod;
      if (pod.metadata.deletionTimestamp !== undefined) {
        if (run.terminating === undefined) run.terminating = this.terminate(run);
        continue;
      }
      if (!alive(run.proc) && run.finished === undefined && Date.now() >= run.nextStartAt) await this.startContainer(run);
      if (alive(run.proc) && run.secretVolumes.length > 0 && Date.now() >= run.nextSecretSyncAt) {
        run.nextSecretSyncAt = Date.now() + SECRET_REFRESH_MS;
        for (const v of run.secretVolumes) await this.writeSecretVolume(run, v).catch((err: unknown) => this.log(`node-agent: ${run?.key ?? ''} secret volume refresh: ${String(err)}`));
      }
      if (alive(run.proc) && run.runningKind === 'main' && !run.probing && Date.now() >= run.nextProbeAt) {
        run.probing = true;
        void this.probe(run).finally(() => {
          if (run !== undefined) run.probing = false;
        });
      }
      await this.writeStatus(run);
    }
    // Pods gone from the apiserver without us (force-deleted): stop their processes.
    for (const run of this.runs.values()) {
      if (!seen.has(run.uid) && run.terminating === undefined) run.terminating = this.terminate(run, false);
    }
    await this.writeHosts();
  }

  private newRun(pod: PodObject): PodRun {
    const key = `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name}`;
    return {
      uid: pod.metadata.uid, key, pod, ip: undefined, proc: undefined, exited: undefined, restartCount: 0, backoffMs: 1_000, nextStartAt: 0,
      startTime: undefined, containerStartedAt: undefined, lastTermination: undefined, ready: false, readyChangedAt: now(),
      readinessFailures: 0, livenessFailures: 0, nextProbeAt: 0, probing: false, waitingReason: 'ContainerCreating', waitingMessage: undefined,
      terminating: undefined, lastStatus: '', logFile: join(this.options.root, 'logs', `${key.replace('/', '_')}_${pod.metadata.uid.slice(0, 8)}.log`),
      initDone: 0, initRestartCount: 0, initLastTermination: undefined, initFinished: [], runningKind: undefined, finished: undefined,
      secretVolumes: [], nextSecretSyncAt: 0,
    };
  }

  /** A free loopback address whose container ports are free too; round-robin so a recreated pod gets a new IP, as with a CNI. */
  private async allocateIp(ports: readonly number[]): Promise<string> {
    const [lo, hi] = this.options.ipRange ?? [10, 250];
    const prefix = this.options.ipPrefix ?? '127.0.0.';
    for (let n = 0; n <= hi - lo; n++) {
      const x = lo + ((this.ipCursor - lo + n) % (hi - lo + 1));
      const ip = `${prefix}${x}`;
      if (this.usedIps.has(ip)) continue;
      let free = true;
      for (const p of ports) if (!(await portFree(ip, p))) free = false;
      if (!free) continue;
      this.ipCursor = x + 1;
      this.usedIps.add(ip);
      return ip;
    }
    throw new ContainerConfigError(`no free pod address in ${prefix}${lo}..${hi}`);
  }

  private async keyLookup(ns: string, kind: 'ConfigMap' | 'Secret', name: string, key: string): Promise<string | undefined> {
    const r = await this.options.request('GET', `/api/v1/namespaces/${ns}/${kind === 'ConfigMap' ? 'configmaps' : 'secrets'}/${name}`);
    if (r.status === 404) return undefined;
    if (r.status !== 200) throw new Error(`get ${kind} ${ns}/${name}: ${r.status}`);
    const data = (r.body as { data?: Record<string, string> }).data ?? {};
    const v = data[key];
    return v === undefined ? undefined : kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v;
  }

  /**
   * Writes a Secret volume as the kubelet's AtomicWriter does: the files into a fresh
   * `..<timestamp>` directory, then `..data` swapped to it by a rename of a symlink, and one
   * symlink per top-level name into `..data`. A reader sees the old set or the new set, never a mix.
   * Returns false (and writes nothing) when the Secret or a key is missing: the kubelet's FailedMount.
   */
  private async writeSecretVolume(run: PodRun, vol: { dir: string; source: SecretVolumeSpec; written: string }): Promise<boolean> {
    const ns = run.pod.metadata.namespace ?? 'default';
    const r = await this.options.request('GET', `/api/v1/namespaces/${ns}/secrets/${encodeURIComponent(vol.source.secretName)}`);
    if (r.status !== 200 && r.status !== 404) throw new Error(`get secret ${ns}/${vol.source.secretName}: ${r.status}`);
    const data = r.status === 404 ? undefined : ((r.body as { data?: Record<string, string> }).data ?? {});
    let files;
    try {
      files = secretVolumeFiles(vol.source, data);
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      run.waitingMessage = `MountVolume.SetUp failed: ${err.message}`;
      return false;
    }
    const fingerprint = JSON.stringify(files.map((f) => [f.path, f.mode, f.content.toString('base64')]));
    if (fingerprint === vol.written && existsSync(join(vol.dir, '..data'))) return true;
    writeAtomicDir(vol.dir, files);
    vol.written = fingerprint;
    return true;
  }

  /** Host directories of the container's mounts; undefined while a PVC is not bound or a Secret is missing (the kubelet waits too). */
  private async mounts(run: PodRun, c: ContainerSpec): Promise<HostMount[] | undefined> {
    const ns = run.pod.metadata.namespace ?? 'default';
    const out: HostMount[] = [];
    run.secretVolumes = [];
    for (const vm of c.volumeMounts ?? []) {
      const vol = (run.pod.spec.volumes ?? []).find((v) => v.name === vm.name);
      let dir: string;
      if (vol?.secret !== undefined) {
        if (vm.subPath !== undefined && vm.subPath !== '') throw new ContainerConfigError(`volume ${vm.name}: subPath on a secret volume is not supported`);
        const sv = { dir: join(this.options.root, 'pods', run.uid, 'volumes', vol.name), source: vol.secret, written: '' };
        if (!(await this.writeSecretVolume(run, sv))) return undefined;
        run.secretVolumes.push(sv);
        out.push({ mountPath: vm.mountPath, hostPath: sv.dir });
        continue;
      }
      if (vol?.persistentVolumeClaim !== undefined) {
        const pvc = await this.options.request('GET', `/api/v1/namespaces/${ns}/persistentvolumeclaims/${vol.persistentVolumeClaim.claimName}`);
        const p = pvc.body as PvcObject;
        if (pvc.status !== 200 || p.status?.phase !== 'Bound' || p.spec.volumeName === undefined) {
          run.waitingMessage = `waiting for PVC ${vol.persistentVolumeClaim.claimName} to be bound`;
          return undefined;
        }
        const pv = await this.options.request('GET', `/api/v1/persistentvolumes/${p.spec.volumeName}`);
        const path = (pv.body as PvObject).spec?.hostPath?.path;
        if (pv.status !== 200 || path === undefined) throw new ContainerConfigError(`PV ${p.spec.volumeName} has no hostPath this node can mount`);
        dir = path;
      } else if (vol?.emptyDir !== undefined) dir = join(this.options.root, 'pods', run.uid, 'volumes', vol.name);
      else if (vol?.hostPath !== undefined) dir = vol.hostPath.path;
      else throw new ContainerConfigError(`volume ${vm.name}: only persistentVolumeClaim, emptyDir, hostPath and secret are supported`);
      if (vm.subPath !== undefined && vm.subPath !== '') dir = join(dir, vm.subPath);
      mkdirSync(dir, { recursive: true });
      out.push({ mountPath: vm.mountPath, hostPath: dir });
    }
    return out;
  }

  /** The container to start next: the first unfinished init container, else the main one. */
  private nextContainer(run: PodRun): { c: ContainerSpec | undefined; kind: 'init' | 'main' } {
    const inits = run.pod.spec.initContainers ?? [];
    return run.initDone < inits.length ? { c: inits[run.initDone], kind: 'init' } : { c: run.pod.spec.containers[0], kind: 'main' };
  }

  private async startContainer(run: PodRun): Promise<void> {
    const pod = run.pod;
    const { c, kind } = this.nextContainer(run);
    if (c === undefined) return;
    try {
      if (pod.spec.containers.length > 1) throw new ContainerConfigError('only single-container pods are supported');
      const resolved = this.options.entrypoint(c.image, c.command);
      const { script, leadingArgs } = typeof resolved === 'string' ? { script: resolved, leadingArgs: [] } : resolved;
      const mounts = await this.mounts(run, c);
      if (mounts === undefined) {
        run.nextStartAt = Date.now() + 500;
        return;
      }
      // The pod's address is chosen for the main container's ports, before any container runs.
      if (run.ip === undefined) run.ip = await this.allocateIp((pod.spec.containers[0]?.ports ?? []).map((p) => p.containerPort));
      const facts: PodFacts = {
        name: pod.metadata.name, namespace: pod.metadata.namespace ?? 'default', uid: pod.metadata.uid, nodeName: this.nodeName,
        podIP: run.ip, hostIP: '127.0.0.1', serviceAccountName: pod.spec.serviceAccountName ?? 'default',
        labels: pod.metadata.labels ?? {}, annotations: pod.metadata.annotations ?? {},
      };
      const vars = await resolveEnv(c.env ?? [], facts, (k, name, key) => this.keyLookup(facts.namespace, k, name, key));
      const spec = localProcessSpec([...leadingArgs, ...(c.args ?? [])], vars, mounts, run.ip);
      const cwd = join(this.options.root, 'pods', run.uid, 'rootfs');
      mkdirSync(cwd, { recursive: true });
      const fd = openSync(run.logFile, 'a');
      const child = spawn(process.execPath, ['--import', pathToFileURL(this.options.resolverModule).href, script, ...spec.args], {
        cwd, stdio: ['ignore', fd, fd],
        env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOSTNAME: pod.spec.hostname ?? pod.metadata.name, [HOSTS_FILE_ENV]: this.hostsFile, ...this.options.extraEnv, ...spec.env },
      });
      closeSync(fd);
      const startedAt = now();
      run.proc = child;
      run.runningKind = kind;
      run.containerStartedAt = startedAt;
      run.startTime ??= startedAt;
      run.waitingReason = undefined;
      run.waitingMessage = undefined;
      run.ready = false;
      run.readinessFailures = 0;
      run.livenessFailures = 0;
      run.nextProbeAt = Date.now() + 200;
      run.exited = new Promise((res) => child.once('exit', (code, signal) => {
        this.onExit(run, kind, c.name, { exitCode: code ?? 137, reason: signal !== null ? `Signal ${signal}` : code === 0 ? 'Completed' : 'Error', startedAt, finishedAt: now() });
        res();
      }));
      this.record(run, kind === 'init' ? 'started' : run.restartCount === 0 ? 'started' : 'restarted', `${kind === 'init' ? `init container ${c.name} ` : ''}pid ${String(child.pid)} ip ${run.ip}`);
    } catch (err) {
      if (!(err instanceof ContainerConfigError)) throw err;
      run.waitingReason = 'CreateContainerConfigError';
      run.waitingMessage = err.message;
      run.nextStartAt = Date.now() + 2_000;
      this.record(run, 'config-error', err.message);
    }
  }

  /** A container process ended: next init container, restart with back-off, or the pod finished (afterExit). */
  private onExit(run: PodRun, kind: 'init' | 'main', name: string, term: { exitCode: number; reason: string; startedAt: string; finishedAt: string }): void {
    run.runningKind = undefined;
    if (run.ready) run.readyChangedAt = now();
    run.ready = false;
    if (kind === 'main') run.lastTermination = term;
    else if (term.exitCode !== 0) run.initLastTermination = term;
    if (run.terminating !== undefined || this.stopped) return;
    const next = afterExit(restartPolicyOf(run.pod.spec.restartPolicy), kind, term.exitCode);
    const detail = `${kind === 'init' ? `init container ${name} ` : ''}code ${term.exitCode} (${term.reason})`;
    switch (next) {
      case 'next':
        run.initFinished.push({ startedAt: term.startedAt, finishedAt: term.finishedAt });
        run.initDone++;
        run.initRestartCount = 0;
        run.initLastTermination = undefined;
        run.nextStartAt = Date.now();
        this.record(run, 'exited', `${detail}; next container`);
        return;
      case 'restart':
        if (kind === 'init') run.initRestartCount++;
        else run.restartCount++;
        run.nextStartAt = Date.now() + run.backoffMs;
        run.backoffMs = Math.min(run.backoffMs * 2, MAX_BACKOFF_MS);
        run.waitingReason = kind === 'init' ? 'Init:CrashLoopBackOff' : 'CrashLoopBackOff';
        this.record(run, 'exited', `${detail}; restart in ${run.nextStartAt - Date.now()} ms`);
        return;
      case 'succeeded':
      case 'failed':
        run.finished = next === 'succeeded' ? 'Succeeded' : 'Failed';
        // A finished pod keeps its status; its loopback address may go to another pod.
        if (run.ip !== undefined) this.usedIps.delete(run.ip);
        this.record(run, 'exited', `${detail}; pod ${run.finished}`);
    }
  }

  private async httpProbe(run: PodRun, probe: HttpProbe): Promise<boolean> {
    const c = run.pod.spec.containers[0];
    const get = probe.httpGet;
    if (get === undefined || run.ip === undefined) return true;
    let target: { url: string; insecure: boolean };
    try {
      target = probeTarget(get, run.ip, c?.ports ?? []);
    } catch {
      return false;
    }
    const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
    // node:http(s) rather than fetch: an HTTPS probe must skip certificate verification.
    return new Promise<boolean>((resolve) => {
      const onResponse = (res: http.IncomingMessage): void => {
        res.resume();
        res.on('end', () => resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400));
        res.on('error', () => resolve(false));
      };
      const req = target.insecure
        ? https.request(target.url, { rejectUnauthorized: false, timeout: timeoutMs }, onResponse)
        : http.request(target.url, { timeout: timeoutMs }, onResponse);
      const timer = setTimeout(() => req.destroy(new Error('probe timeout')), timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new Error('probe timeout')));
      req.on('error', () => resolve(false));
      req.end();
    });
  }

  /**
   * Readiness and liveness probes. The readiness period is min(spec, 1 s) so the test sees changes
   * quickly; the thresholds are the spec's (a member turns unready after failureThreshold misses).
   */
  private async probe(run: PodRun): Promise<void> {
    const c = run.pod.spec.containers[0];
    if (c === undefined || !alive(run.proc)) return;
    const rp = c.readinessProbe;
    const ok = rp === undefined ? true : await this.httpProbe(run, rp);
    if (ok) run.readinessFailures = 0;
    else run.readinessFailures++;
    const ready = ok ? true : run.ready && run.readinessFailures < (rp?.failureThreshold ?? 3);
    if (ready !== run.ready && alive(run.proc)) {
      run.ready = ready;
      run.readyChangedAt = now();
      if (ready) run.backoffMs = 1_000;
      this.record(run, ready ? 'ready' : 'unready');
    }
    const lp = c.livenessProbe;
    const sinceStart = Date.now() - Date.parse(run.containerStartedAt ?? now());
    if (lp !== undefined && sinceStart >= (lp.initialDelaySeconds ?? 0) * 1000) {
      if (await this.httpProbe(run, lp)) run.livenessFailures = 0;
      else if (++run.livenessFailures >= (lp.failureThreshold ?? 3) && alive(run.proc) && run.proc.pid !== undefined) {
        this.record(run, 'liveness-kill', `${run.livenessFailures} failed liveness probes`);
        run.livenessFailures = 0;
        process.kill(run.proc.pid, 'SIGKILL');
      }
    }
    run.nextProbeAt = Date.now() + Math.min((rp?.periodSeconds ?? 10) * 1000, 1_000);
  }

  private podStatus(run: PodRun): Record<string, unknown> {
    const c = run.pod.spec.containers[0];
    const inits = run.pod.spec.initContainers ?? [];
    const initsDone = run.initDone >= inits.length;
    const mainRunning = alive(run.proc) && run.runningKind === 'main';
    const ready = mainRunning && run.ready ? 'True' : 'False';
    const t = run.startTime ?? now();
    const terminated = (x: { exitCode: number; reason: string; startedAt: string; finishedAt: string }): Record<string, unknown> => ({ terminated: x });
    let state: Record<string, unknown>;
    if (mainRunning) state = { running: { startedAt: run.containerStartedAt } };
    else if (run.finished !== undefined && run.lastTermination !== undefined) state = terminated(run.lastTermination);
    else if (!initsDone) state = { waiting: { reason: 'PodInitializing' } };
    else state = { waiting: { reason: run.waitingReason ?? 'ContainerCreating', ...(run.waitingMessage === undefined ? {} : { message: run.waitingMessage }) } };
    const initContainerStatuses = inits.map((ic, i) => {
      let st: Record<string, unknown>;
      const finished = run.initFinished[i];
      if (finished !== undefined) st = terminated({ exitCode: 0, reason: 'Completed', ...finished });
      else if (i === run.initDone && alive(run.proc) && run.runningKind === 'init') st = { running: { startedAt: run.containerStartedAt } };
      else if (i === run.initDone && run.finished === 'Failed' && run.initLastTermination !== undefined) st = terminated(run.initLastTermination);
      else if (i === run.initDone) st = { waiting: { reason: run.waitingReason ?? 'PodInitializing', ...(run.waitingMessage === undefined ? {} : { message: run.waitingMessage }) } };
      else st = { waiting: { reason: 'PodInitializing' } };
      return {
        name: ic.name, image: ic.image, imageID: `node-agent://${ic.image}`, ready: finished !== undefined, started: i === run.initDone && run.runningKind === 'init',
        restartCount: i === run.initDone ? run.initRestartCount : 0, state: st,
        ...(i === run.initDone && run.initLastTermination !== undefined ? { lastState: terminated(run.initLastTermination) } : {}),
      };
    });
    return {
      phase: podPhaseOf({ hasIp: run.ip !== undefined, initsDone, finished: run.finished }),
      hostIP: '127.0.0.1', hostIPs: [{ ip: '127.0.0.1' }],
      ...(run.ip === undefined ? {} : { podIP: run.ip, podIPs: [{ ip: run.ip }] }),
      ...(run.startTime === undefined ? {} : { startTime: run.startTime }),
      conditions: [
        { type: 'PodReadyToStartContainers', status: run.ip === undefined ? 'False' : 'True', lastTransitionTime: t },
        { type: 'Initialized', status: initsDone ? 'True' : 'False', ...(initsDone ? {} : { reason: 'ContainersNotInitialized' }), lastTransitionTime: t },
        { type: 'Ready', status: ready, lastTransitionTime: run.readyChangedAt },
        { type: 'ContainersReady', status: ready, lastTransitionTime: run.readyChangedAt },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: t },
      ],
      ...(inits.length === 0 ? {} : { initContainerStatuses }),
      containerStatuses: c === undefined ? [] : [{
        name: c.name, image: c.image, imageID: `node-agent://${c.image}`,
        ...(mainRunning ? { containerID: `node-agent://${String(run.proc?.pid)}` } : {}),
        ready: mainRunning && run.ready, started: mainRunning, restartCount: run.restartCount, state,
        ...(run.lastTermination === undefined || run.finished !== undefined ? {} : { lastState: { terminated: run.lastTermination } }),
      }],
    };
  }

  private async writeStatus(run: PodRun): Promise<void> {
    const status = this.podStatus(run);
    const text = JSON.stringify(status);
    if (text === run.lastStatus) return;
    const ns = run.pod.metadata.namespace ?? 'default';
    const r = await this.options.request('PATCH', `/api/v1/namespaces/${ns}/pods/${run.pod.metadata.name}/status`,
      { metadata: { uid: run.uid }, status }, 'application/merge-patch+json');
    // 404/409: the pod went away or was replaced meanwhile; the next sync sees it.
    if (r.status === 200) run.lastStatus = text;
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves once the process is gone. */
  private async kill(run: PodRun, graceMs: number): Promise<void> {
    const p = run.proc;
    if (!alive(p) || p.pid === undefined) return;
    const pid = p.pid;
    process.kill(pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (alive(p)) process.kill(pid, 'SIGKILL');
    }, graceMs);
    await run.exited;
    clearTimeout(t);
  }

  /** Graceful deletion as the kubelet does it: stop the container within the grace period, then confirm. */
  private async terminate(run: PodRun, confirm = true): Promise<void> {
    const graceS = run.pod.metadata.deletionGracePeriodSeconds ?? run.pod.spec.terminationGracePeriodSeconds ?? 30;
    const wasAlive = alive(run.proc);
    const t0 = Date.now();
    await this.kill(run, graceS * 1000);
    if (wasAlive) this.record(run, 'killed', `stopped in ${Date.now() - t0} ms (grace ${graceS} s), ${run.lastTermination?.reason ?? ''}`);
    if (run.ip !== undefined) this.usedIps.delete(run.ip);
    if (confirm && !this.stopped) await this.confirmDeletion(run.pod);
    this.runs.delete(run.uid);
    rmSync(join(this.options.root, 'pods', run.uid), { recursive: true, force: true });
  }

  private async confirmDeletion(pod: PodObject): Promise<void> {
    const ns = pod.metadata.namespace ?? 'default';
    const r = await this.options.request('DELETE', `/api/v1/namespaces/${ns}/pods/${pod.metadata.name}`,
      { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } });
    if (r.status === 200 || r.status === 202 || r.status === 404 || r.status === 409) {
      if (r.status !== 409) this.events.push({ at: Date.now(), pod: `${ns}/${pod.metadata.name}`, what: 'deleted', detail: '' });
      return;
    }
    throw new Error(`confirming deletion of ${ns}/${pod.metadata.name}: ${r.status} ${JSON.stringify(r.body)}`);
  }

  /** Rewrites the hosts file (atomically) when the set of published names changed. */
  private async writeHosts(): Promise<void> {
    const live = [...this.runs.values()].filter((r) => r.ip !== undefined && r.terminating === undefined);
    const withSub = live.filter((r) => r.pod.spec.subdomain !== undefined);
    let services: ServiceObject[] = [];
    if (live.length > 0) {
      const s = await this.options.request('GET', '/api/v1/services');
      if (s.status === 200) services = (s.body as List<ServiceObject>).items;
    }
    const headless = new Set(services.filter((x) => x.spec.clusterIP === 'None').map((x) => `${x.metadata.namespace ?? 'default'}/${x.metadata.name}`));
    const backends = serviceBackends(
      services.map((x) => ({ name: x.metadata.name, namespace: x.metadata.namespace ?? 'default', ...(x.spec.clusterIP !== undefined ? { clusterIP: x.spec.clusterIP } : {}), ...(x.spec.selector !== undefined ? { selector: x.spec.selector } : {}) })),
      live.map((r) => ({ name: r.pod.metadata.name, namespace: r.pod.metadata.namespace ?? 'default', ip: r.ip ?? '', ready: r.ready, labels: r.pod.metadata.labels ?? {} })),
    );
    const text = hostsText(withSub
      .filter((r) => headless.has(`${r.pod.metadata.namespace ?? 'default'}/${r.pod.spec.subdomain ?? ''}`))
      .map((r) => ({ ip: r.ip ?? '', hostname: r.pod.spec.hostname ?? r.pod.metadata.name, subdomain: r.pod.spec.subdomain ?? '', namespace: r.pod.metadata.namespace ?? 'default' })), backends);
    if (text === this.hosts) return;
    const tmp = `${this.hostsFile}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, this.hostsFile);
    this.hosts = text;
  }

  /** The static provisioner: a pre-bound hostPath PV per Pending PVC; PV and directory removed once the PVC is gone. */
  private async provisionVolumes(): Promise<void> {
    const req = this.options.request;
    const pvcs = await req('GET', '/api/v1/persistentvolumeclaims');
    if (pvcs.status !== 200) throw new Error(`list PVCs: ${pvcs.status}`);
    const claims = (pvcs.body as List<PvcObject>).items;
    const uids = new Set(claims.map((c) => c.metadata.uid));
    for (const c of claims) {
      if (c.status?.phase !== 'Pending' || c.spec.volumeName !== undefined && c.spec.volumeName !== '' || c.metadata.deletionTimestamp !== undefined) continue;
      if (this.provisioned.has(c.metadata.uid)) continue;
      const dir = join(this.options.root, 'volumes', `pvc-${c.metadata.uid}`);
      mkdirSync(dir, { recursive: true });
      const r = await req('POST', '/api/v1/persistentvolumes', {
        apiVersion: 'v1', kind: 'PersistentVolume',
        metadata: { name: `e2e-pv-${c.metadata.uid}`, labels: { [LABEL_NODE]: this.nodeName }, annotations: { 'node-agent.raftkv.dev/claim': `${c.metadata.namespace ?? ''}/${c.metadata.name}` } },
        spec: {
          capacity: { storage: c.spec.resources?.requests?.storage ?? '1Gi' }, accessModes: c.spec.accessModes ?? ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain', storageClassName: c.spec.storageClassName ?? '', volumeMode: 'Filesystem',
          claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
          hostPath: { path: dir, type: 'DirectoryOrCreate' },
          nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [this.nodeName] }] }] } },
        },
      });
      if (r.status !== 201 && r.status !== 409) throw new Error(`creating PV for ${c.metadata.name}: ${r.status} ${JSON.stringify(r.body)}`);
      this.provisioned.add(c.metadata.uid);
      this.log(`node-agent: provisioned PV for PVC ${c.metadata.namespace ?? ''}/${c.metadata.name} at ${dir}`);
    }
    const pvs = await req('GET', `/api/v1/persistentvolumes?labelSelector=${encodeURIComponent(`${LABEL_NODE}=${this.nodeName}`)}`);
    if (pvs.status !== 200) return;
    for (const pv of (pvs.body as List<PvObject>).items) {
      const claimUid = pv.spec.claimRef?.uid;
      if (claimUid === undefined || uids.has(claimUid) || pv.metadata.deletionTimestamp !== undefined) continue;
      const d = await req('DELETE', `/api/v1/persistentvolumes/${pv.metadata.name}`);
      if (d.status === 200 || d.status === 404) {
        if (pv.spec.hostPath !== undefined) rmSync(pv.spec.hostPath.path, { recursive: true, force: true });
        this.provisioned.delete(claimUid);
        this.log(`node-agent: PVC ${pv.spec.claimRef?.namespace ?? ''}/${pv.spec.claimRef?.name ?? ''} gone; deleted PV ${pv.metadata.name} and its directory`);
      }
    }
  }

  /** Number of PVs this agent provisioned that still exist (for the cleanup check). */
  async provisionedVolumes(): Promise<string[]> {
    const pvs = await this.options.request('GET', `/api/v1/persistentvolumes?labelSelector=${encodeURIComponent(`${LABEL_NODE}=${this.nodeName}`)}`);
    return pvs.status === 200 ? (pvs.body as List<PvObject>).items.map((p) => p.metadata.name) : [];
  }
}
