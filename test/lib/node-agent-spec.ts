// Pure parts of the node agent (test harness, not product): how a container's env and args become
// a local process's env and argv, as the kubelet and the container runtime would do it. Kept apart
// from node-agent.ts so the unit test can check them without a control plane.
//
// The pod is "containerised" by rewriting, not isolation:
//   - network: each pod owns one loopback address (its podIP, 127.0.0.x); a wildcard listen
//     (0.0.0.0) in an arg or env value becomes that address, which is what a listen on 0.0.0.0
//     inside the pod's own network namespace would reach;
//   - volumes: a path under a volumeMount's mountPath in an arg or env value becomes the same path
//     under the host directory backing the volume (the PVC's directory for volumeClaimTemplates).

/** The few pod fields the kubelet resolves `fieldRef`s against. */
export interface PodFacts {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly nodeName: string;
  readonly podIP: string;
  readonly hostIP: string;
  readonly serviceAccountName: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/** One `env` entry of a container (the subset raftkv pods use, plus secrets). */
export interface EnvVarSpec {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    readonly fieldRef?: { readonly fieldPath: string };
    readonly configMapKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
    readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean };
  };
}

/** Reads a key of a ConfigMap or Secret (already base64-decoded for secrets); undefined when absent. */
export type KeyLookup = (kind: 'ConfigMap' | 'Secret', name: string, key: string) => Promise<string | undefined>;

/** Thrown when a container cannot be started as specified (the kubelet's CreateContainerConfigError). */
export class ContainerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/** Value of a `fieldRef.fieldPath` (the paths the downward API supports for env). */
export function fieldRefValue(pod: PodFacts, fieldPath: string): string {
  switch (fieldPath) {
    case 'metadata.name': return pod.name;
    case 'metadata.namespace': return pod.namespace;
    case 'metadata.uid': return pod.uid;
    case 'spec.nodeName': return pod.nodeName;
    case 'spec.serviceAccountName': return pod.serviceAccountName;
    case 'status.podIP': case 'status.podIPs': return pod.podIP;
    case 'status.hostIP': case 'status.hostIPs': return pod.hostIP;
  }
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m !== null) return (m[1] === 'labels' ? pod.labels : pod.annotations)[m[2] ?? ''] ?? '';
  throw new ContainerConfigError(`unsupported fieldRef ${fieldPath}`);
}

/**
 * Kubernetes `$(VAR)` expansion: a reference to a defined variable is replaced, `$$` is an escaped
 * `$`, and a reference to an undefined variable is left as written (as the kubelet does).
 */
export function expandVars(input: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i];
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = input.indexOf(')', i + 2);
      const name = close < 0 ? undefined : input.slice(i + 2, close);
      if (name !== undefined && vars.has(name)) {
        out += vars.get(name);
        i = close;
      } else out += ch;
    } else out += ch;
  }
  return out;
}

/** Resolves a container's env in order (later entries may reference earlier ones). */
export async function resolveEnv(env: readonly EnvVarSpec[], pod: PodFacts, lookup: KeyLookup): Promise<Map<string, string>> {
  const vars = new Map<string, string>();
  for (const e of env) {
    let v: string | undefined;
    if (e.value !== undefined) v = expandVars(e.value, vars);
    else if (e.valueFrom?.fieldRef !== undefined) v = fieldRefValue(pod, e.valueFrom.fieldRef.fieldPath);
    else if (e.valueFrom?.configMapKeyRef !== undefined || e.valueFrom?.secretKeyRef !== undefined) {
      const ref = e.valueFrom.configMapKeyRef ?? e.valueFrom.secretKeyRef;
      const kind = e.valueFrom.configMapKeyRef !== undefined ? 'ConfigMap' : 'Secret';
      if (ref === undefined) continue;
      v = await lookup(kind, ref.name, ref.key);
      if (v === undefined) {
        if (ref.optional === true) continue;
        throw new ContainerConfigError(`${kind.toLowerCase()} ${ref.name} key ${ref.key} not found (env ${e.name})`);
      }
    } else v = '';
    vars.set(e.name, v);
  }
  return vars;
}

/** One mount: a container path backed by a host directory. */
export interface HostMount {
  readonly mountPath: string;
  readonly hostPath: string;
}

/** Rewrites a path-like value under a mount to its host directory (longest mountPath wins). */
export function mapMountedPath(value: string, mounts: readonly HostMount[]): string {
  const sorted = [...mounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const m of sorted) {
    const mp = m.mountPath.replace(/\/+$/, '');
    if (value === mp) return m.hostPath;
    if (value.startsWith(`${mp}/`)) return `${m.hostPath}${value.slice(mp.length)}`;
  }
  return value;
}

/** Rewrites one arg or env value: `--flag=<path>` / `<path>` under a mount, wildcard listens to the pod IP. */
export function localizeValue(value: string, mounts: readonly HostMount[], podIP: string): string {
  const eq = value.startsWith('--') ? value.indexOf('=') : -1;
  const [prefix, rest] = eq >= 0 ? [value.slice(0, eq + 1), value.slice(eq + 1)] : ['', value];
  const mapped = mapMountedPath(rest, mounts);
  // 0.0.0.0 (and [::]) inside a pod means "every address of this pod", i.e. its podIP here.
  return prefix + mapped.replace(/(^|\/\/|@)(0\.0\.0\.0|\[::\])(?=:|\/|$)/g, `$1${podIP}`);
}

/** The process a container becomes: its argv after `$(VAR)` expansion and localisation, and its env. */
export interface LocalProcessSpec {
  readonly args: string[];
  readonly env: Record<string, string>;
}

/** Builds argv and env for a container from its resolved variables (see resolveEnv). */
export function localProcessSpec(args: readonly string[], vars: ReadonlyMap<string, string>, mounts: readonly HostMount[], podIP: string): LocalProcessSpec {
  const env: Record<string, string> = {};
  for (const [k, v] of vars) env[k] = localizeValue(v, mounts, podIP);
  return { args: args.map((a) => localizeValue(expandVars(a, vars), mounts, podIP)), env };
}

/** A Service name answered with one backend pod's IP (what ClusterIP + kube-proxy give a client). */
export interface ServiceHostEntry {
  readonly ip: string;
  readonly service: string;
  readonly namespace: string;
}

/**
 * /etc/hosts-style text for the cluster DNS names of pods (`<hostname>.<subdomain>.<ns>.svc[.cluster.local]`)
 * and of ClusterIP Services (`<service>.<ns>.svc[.cluster.local]`, see serviceBackends).
 */
export function hostsText(entries: readonly { readonly ip: string; readonly hostname: string; readonly subdomain: string; readonly namespace: string }[], services: readonly ServiceHostEntry[] = []): string {
  const lines = ['# written by the raftkv e2e node agent: headless-service DNS of the pods it runs, one ready backend per ClusterIP Service'];
  for (const e of [...entries].sort((a, b) => a.ip.localeCompare(b.ip))) {
    const base = `${e.hostname}.${e.subdomain}.${e.namespace}.svc`;
    lines.push(`${e.ip} ${base} ${base}.cluster.local`);
  }
  for (const e of [...services].sort((a, b) => `${a.namespace}/${a.service}`.localeCompare(`${b.namespace}/${b.service}`))) {
    const base = `${e.service}.${e.namespace}.svc`;
    lines.push(`${e.ip} ${base} ${base}.cluster.local`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * There is no kube-proxy on this node: a ClusterIP Service's name resolves to one READY pod it
 * selects (the first by name, so the answer is stable), as a connection through the Service's
 * virtual IP would reach one backend. Headless Services and Services without a selector or a
 * ready backend get no entry (a client then sees ENOTFOUND, as with no endpoints it would see a
 * refused connection). Ports are not remapped: raftkv's Services use the container ports.
 */
export function serviceBackends(
  services: readonly { readonly name: string; readonly namespace: string; readonly clusterIP?: string; readonly selector?: Readonly<Record<string, string>> }[],
  pods: readonly { readonly name: string; readonly namespace: string; readonly ip: string; readonly ready: boolean; readonly labels: Readonly<Record<string, string>> }[],
): ServiceHostEntry[] {
  const out: ServiceHostEntry[] = [];
  for (const svc of services) {
    const selector = Object.entries(svc.selector ?? {});
    if (svc.clusterIP === 'None' || selector.length === 0) continue;
    const backend = pods
      .filter((p) => p.namespace === svc.namespace && p.ready && p.ip !== '' && selector.every(([k, v]) => p.labels[k] === v))
      .sort((a, b) => a.name.localeCompare(b.name))[0];
    if (backend !== undefined) out.push({ ip: backend.ip, service: svc.name, namespace: svc.namespace });
  }
  return out;
}

/** Compiled entry points the agent can run, by the image's command name. */
export interface EntryPoints {
  /** The daemon (`raftkv`, the image's ENTRYPOINT; also `raftkv restore ...`). */
  readonly raftkv: string;
  /** The command-line client (`raftctl`, e.g. the backup CronJob's container). */
  readonly raftctl: string;
}

/**
 * What a container runs: an empty command (the image's ENTRYPOINT `raftkv`) or `raftkv` → the
 * daemon, `raftctl` → the client, by the command's basename as a PATH lookup would find them;
 * the rest of the command goes before the args (as the runtime joins command and args).
 * Anything else cannot run on this node (undefined).
 */
export function entrypointFor(command: readonly string[] | undefined, entries: EntryPoints): { script: string; leadingArgs: string[] } | undefined {
  if (command === undefined || command.length === 0) return { script: entries.raftkv, leadingArgs: [] };
  const name = (command[0] ?? '').split('/').pop();
  const script = name === 'raftkv' ? entries.raftkv : name === 'raftctl' ? entries.raftctl : undefined;
  return script === undefined ? undefined : { script, leadingArgs: command.slice(1) };
}

/** A pod's restartPolicy (Always is the API default). */
export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** What the kubelet does after a container exits. */
export type AfterExit = 'next' | 'restart' | 'succeeded' | 'failed';

/**
 * The kubelet's rule after a container of a pod exits with `exitCode`:
 *  - an init container that succeeded → the next init container (or the main one);
 *  - an init container that failed → retried with back-off, unless restartPolicy is Never (pod Failed);
 *  - the main container: Always → restart; OnFailure → restart on failure, Succeeded on 0;
 *    Never → Succeeded on 0, Failed otherwise (what Job pods rely on).
 */
export function afterExit(policy: RestartPolicy, kind: 'init' | 'main', exitCode: number): AfterExit {
  if (kind === 'init') return exitCode === 0 ? 'next' : policy === 'Never' ? 'failed' : 'restart';
  if (policy === 'Always') return 'restart';
  if (exitCode === 0) return 'succeeded';
  return policy === 'OnFailure' ? 'restart' : 'failed';
}

/** restartPolicy from a pod spec value (anything unknown is Always, the default). */
export function restartPolicyOf(value: string | undefined): RestartPolicy {
  return value === 'Never' || value === 'OnFailure' ? value : 'Always';
}

/** Pod phase: Pending until the main container runs (init containers included), then Running until it finished for good. */
export function podPhaseOf(o: { readonly hasIp: boolean; readonly initsDone: boolean; readonly finished: 'Succeeded' | 'Failed' | undefined }): 'Pending' | 'Running' | 'Succeeded' | 'Failed' {
  if (o.finished !== undefined) return o.finished;
  return o.hasIp && o.initsDone ? 'Running' : 'Pending';
}

/** A pod's `secret` volume source (core/v1 SecretVolumeSource). */
export interface SecretVolumeSpec {
  readonly secretName: string;
  readonly items?: readonly { readonly key: string; readonly path: string; readonly mode?: number }[];
  readonly defaultMode?: number;
  readonly optional?: boolean;
}

/** One file of a projected Secret volume. */
export interface ProjectedFile {
  /** Relative to the volume's root. */
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
}

/** The kubelet's default file mode of Secret volumes (0644). */
export const SECRET_DEFAULT_MODE = 0o644;

/**
 * The files a Secret volume holds, as the kubelet projects them: every key as a file, or only
 * `items` (key → path, each key must exist unless the volume is optional); modes from the item,
 * else defaultMode, else 0644. `data` is the Secret's base64 data, undefined when the Secret does
 * not exist (an error unless optional, the kubelet's FailedMount). Paths must stay inside the volume.
 */
export function secretVolumeFiles(source: SecretVolumeSpec, data: Readonly<Record<string, string>> | undefined): ProjectedFile[] {
  if (data === undefined) {
    if (source.optional === true) return [];
    throw new ContainerConfigError(`secret ${source.secretName} not found`);
  }
  const mode = source.defaultMode ?? SECRET_DEFAULT_MODE;
  const wanted: readonly { readonly key: string; readonly path: string; readonly mode?: number }[] = source.items ?? Object.keys(data).sort().map((key) => ({ key, path: key }));
  const out: ProjectedFile[] = [];
  for (const item of wanted) {
    const segments = item.path.split('/');
    if (item.path === '' || item.path.startsWith('/') || segments.some((s) => s === '..' || s === '') || segments[0]?.startsWith('..') === true) {
      throw new ContainerConfigError(`secret ${source.secretName}: item path ${JSON.stringify(item.path)} must be relative, without '..'`);
    }
    const v = data[item.key];
    if (v === undefined) {
      if (source.optional === true) continue;
      throw new ContainerConfigError(`secret ${source.secretName} has no key ${item.key}`);
    }
    out.push({ path: item.path, content: Buffer.from(v, 'base64'), mode: item.mode ?? mode });
  }
  return out;
}

/** An HTTP probe's `httpGet` (scheme HTTP by default). */
export interface HttpGetSpec {
  readonly path?: string;
  readonly port: number | string;
  readonly scheme?: string;
}

/**
 * Where a probe goes: the pod IP, the port (a number, or a named container port), the scheme.
 * HTTPS probes do not verify the certificate (`insecure`), as the kubelet's do not.
 */
export function probeTarget(get: HttpGetSpec, podIP: string, ports: readonly { readonly containerPort: number; readonly name?: string }[]): { url: string; insecure: boolean } {
  const port = typeof get.port === 'number' ? get.port : ports.find((p) => p.name === get.port)?.containerPort;
  if (port === undefined) throw new ContainerConfigError(`probe port ${String(get.port)} is not a container port`);
  const scheme = (get.scheme ?? 'HTTP').toUpperCase();
  if (scheme !== 'HTTP' && scheme !== 'HTTPS') throw new ContainerConfigError(`probe scheme ${scheme}: HTTP or HTTPS`);
  const path = get.path ?? '/';
  return { url: `${scheme.toLowerCase()}://${podIP}:${port}${path.startsWith('/') ? path : `/${path}`}`, insecure: scheme === 'HTTPS' };
}
