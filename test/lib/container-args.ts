// How the operator tier runs what a StatefulSet's container would run, as a local process: the
// container's args after the kubelet's `$(VAR)` expansion, with paths under a volume mount moved to
// the directory standing in for that volume and wildcard listens moved to a loopback address.
// Only the operator tier uses it (to run the restore init container and members with the flags the
// operator wrote); the e2e tier runs the real image on a real kubelet.

/** A container's volume mount and the local directory that stands in for the volume. */
export interface HostMount {
  readonly mountPath: string;
  readonly hostPath: string;
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

/** Rewrites one arg or env value: `--flag=<path>` / `<path>` under a mount, wildcard listens to `ip`. */
export function localizeValue(value: string, mounts: readonly HostMount[], ip: string): string {
  const eq = value.startsWith('--') ? value.indexOf('=') : -1;
  const [prefix, rest] = eq >= 0 ? [value.slice(0, eq + 1), value.slice(eq + 1)] : ['', value];
  const mapped = mapMountedPath(rest, mounts);
  // 0.0.0.0 (and [::]) inside a pod means "every address of this pod", i.e. `ip` here.
  return prefix + mapped.replace(/(^|\/\/|@)(0\.0\.0\.0|\[::\])(?=:|\/|$)/g, `$1${ip}`);
}

/** The process a container becomes: its argv after `$(VAR)` expansion and localisation, and its env. */
export interface LocalProcessSpec {
  readonly args: string[];
  readonly env: Record<string, string>;
}

/** Builds argv and env for a container from its resolved variables. */
export function localProcessSpec(args: readonly string[], vars: ReadonlyMap<string, string>, mounts: readonly HostMount[], ip: string): LocalProcessSpec {
  const env: Record<string, string> = {};
  for (const [k, v] of vars) env[k] = localizeValue(v, mounts, ip);
  return { args: args.map((a) => localizeValue(expandVars(a, vars), mounts, ip)), env };
}
