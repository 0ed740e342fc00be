// Cluster DNS for processes the node agent starts (test harness, not product). Loaded with
// `node --import <this file>` before the daemon or the operator, it answers host-name lookups from
// an /etc/hosts-style file the node agent keeps up to date (`NODE_AGENT_HOSTS_FILE`), the way
// CoreDNS answers `<pod>.<headless-service>.<ns>.svc` from EndpointSlices in a real cluster.
// Names under `.svc` / `.cluster.local` missing from the file fail with ENOTFOUND at once (as an
// NXDOMAIN would); any other name goes to the system resolver.
//
// Why a preload and not /etc/hosts: the machine's /etc/hosts is shared with other engineers'
// processes, and a per-process hook needs no root. Node's net.connect, http.request and fetch
// (undici) all resolve through `dns.lookup`, which is read from the module object at call time,
// so patching it here covers every client the daemon and the operator use.
import dns from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions, LookupOptions } from 'node:dns';
import { readFileSync, statSync } from 'node:fs';

/** Environment variable naming the hosts file. */
export const HOSTS_FILE_ENV = 'NODE_AGENT_HOSTS_FILE';

/** Parses an /etc/hosts-style text (`ip name [name...]`, `#` comments) into name → IPv4. */
export function parseHosts(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [ip, ...names] = line.split(/\s+/);
    if (ip === undefined || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) continue;
    for (const n of names) out.set(n.toLowerCase().replace(/\.$/, ''), ip);
  }
  return out;
}

/** True for names only the cluster DNS may answer. */
export function isClusterName(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return h.endsWith('.svc') || h.endsWith('.cluster.local');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => void;

/** Installs the hook in this process; a no-op when `NODE_AGENT_HOSTS_FILE` is unset. */
export function installResolver(file: string | undefined = process.env[HOSTS_FILE_ENV]): void {
  if (file === undefined || file === '') return;
  let cached = new Map<string, string>();
  let cachedStamp = '';
  // Re-read only when the file changed: a stat per lookup is cheap, lookups are per connection.
  const table = (): Map<string, string> => {
    try {
      // The agent replaces the file by rename, so the inode changes with every version.
      const st = statSync(file);
      const stamp = `${st.ino}:${st.mtimeMs}:${st.size}`;
      if (stamp !== cachedStamp) {
        cached = parseHosts(readFileSync(file, 'utf8'));
        cachedStamp = stamp;
      }
    } catch {
      cached = new Map();
      cachedStamp = '';
    }
    return cached;
  };
  const original = dns.lookup.bind(dns) as (host: string, options: LookupOptions, cb: LookupCallback) => void;
  const patched = (host: string, optionsOrCb: LookupOptions | number | LookupCallback | undefined, maybeCb?: LookupCallback): void => {
    const cb = (typeof optionsOrCb === 'function' ? optionsOrCb : maybeCb) as LookupCallback;
    const options: LookupOptions = typeof optionsOrCb === 'number' ? { family: optionsOrCb } : typeof optionsOrCb === 'object' ? optionsOrCb : {};
    const ip = table().get(host.toLowerCase().replace(/\.$/, ''));
    if (ip !== undefined) {
      if (options.all === true) process.nextTick(cb, null, [{ address: ip, family: 4 }]);
      else process.nextTick(cb, null, ip, 4);
      return;
    }
    if (isClusterName(host)) {
      const err: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: host });
      process.nextTick(cb, err);
      return;
    }
    original(host, options, cb);
  };
  (dns as { lookup: unknown }).lookup = patched;
  const promiseLookup = (host: string, options?: LookupOneOptions | LookupAllOptions | number): Promise<LookupAddress | LookupAddress[]> =>
    new Promise((res, rej) => {
      patched(host, options, (err, address, family) => {
        if (err !== null) rej(err);
        else if (Array.isArray(address)) res(address);
        else res({ address: address ?? '', family: family ?? 4 });
      });
    });
  (dns.promises as { lookup: unknown }).lookup = promiseLookup;
}

installResolver();
