// A real-process raftkv cluster for tests: N `raftkv` processes on 127.0.0.1 with free ports and
// temp data dirs. Start, find the leader, kill -9 / SIGTERM / SIGSTOP / SIGCONT / restart a
// member, add a member, talk HTTP to any member, keep logs on failure, and always clean up.
//
// Usage:
//   const c = await Cluster.start({ members: 3 });
//   try { const leader = await c.waitForLeader(); ... } finally { await c.destroy(); }
// or, saving every member's log under test-output/cluster-logs/ when the body throws:
//   await withCluster('my test', { members: 3 }, async (c) => { ... });
//
// The command that runs a member is `RAFTKV_BIN` (a space-separated command, e.g.
// `node .build/daemon/daemon/src/main.js`) or, by default, `node <repo>/bin/raftkv`.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.js';

export { freePort };

/** Bound on one HTTP call the harness makes. */
const HTTP_TIMEOUT_MS = 5_000;
/** Bound on waiting for a stopped member to exit before SIGKILL. */
const STOP_TIMEOUT_MS = 12_000;
/** Polling period while waiting for a condition. */
const POLL_MS = 50;
/** Largest cluster the harness starts. */
const MAX_MEMBERS = 9;

/** Options for `Cluster.start`. Every field has a default suited to fast tests. */
export interface ClusterOptions {
  /** Voters bootstrapped together (1..9). Default 3. */
  readonly members?: number;
  readonly electionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly snapshotEntries?: number;
  /** Extra flags for every member. */
  readonly extraArgs?: readonly string[];
  /** Extra environment for every member. */
  readonly env?: Readonly<Record<string, string>>;
  readonly logLevel?: string;
  /** Member name prefix; members are `<prefix>1..N`. Default `n`. */
  readonly namePrefix?: string;
  /** Keep the temp dir (data and logs) after destroy. Default false. */
  readonly keepData?: boolean;
  /** Start members with --enable-fault-injection (POST /v1/debug/faults). Default true. */
  readonly faultInjection?: boolean;
  /** Bearer token the harness's own status calls send (members with --auth-token-file); '' = none. */
  readonly statusToken?: string;
}

/** One member process slot (survives restarts). */
export interface ClusterMember {
  readonly name: string;
  readonly clientUrl: string;
  /** `127.0.0.1:port` */
  readonly peerAddress: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The running process, or null when stopped. */
  process: ChildProcess | null;
  /** How the member was last started: `new` (bootstrap voter) or `existing` (joiner). */
  clusterState: 'new' | 'existing';
  extraArgs: readonly string[];
  paused: boolean;
}

/** How a process ended. */
export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly elapsedMs: number;
}

/** A parsed HTTP response (redirects are NOT followed). */
export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** `JSON.parse(text)` when it parses, else undefined. */
  readonly json: unknown;
}

/** The subset of GET /v1/status the harness relies on. */
export interface StatusLite {
  readonly name: string;
  readonly role: string;
  readonly term: number;
  readonly leader: { readonly name: string; readonly clientUrl: string } | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly members: readonly { readonly name: string; readonly voter: boolean; readonly clientUrl: string; readonly peerUrl: string }[];
  /** The member applied its own removal. */
  readonly removed?: boolean;
}

/** Every process any harness started and has not seen exit; killed on process exit. */
const livePids = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const pid of livePids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    livePids.clear();
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

/** The repository root (the folder holding package.json and bin/raftkv). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'bin', 'raftkv'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cluster-harness: cannot find the repository root');
}

/** The command that runs one member: RAFTKV_BIN split on spaces, or `node <repo>/bin/raftkv`. */
export function raftkvCommand(): string[] {
  const fromEnv = process.env['RAFTKV_BIN'];
  if (fromEnv && fromEnv.trim() !== '') {
    const parts = fromEnv.trim().split(/\s+/);
    // A lone .js path runs under this node.
    if (parts.length === 1 && parts[0]?.endsWith('.js')) return [process.execPath, resolve(parts[0])];
    return parts;
  }
  return [process.execPath, join(repoRoot(), 'bin', 'raftkv')];
}


/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` every POLL_MS until it returns a non-null value; throws `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | null> | T | null): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (err) {
      lastErr = err;
    }
    await sleep(POLL_MS);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
}

/** One HTTP call with a timeout; never follows redirects. */
export async function http(url: string, init: { method?: string; body?: string | Uint8Array; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    body: init.body ?? null,
    redirect: 'manual',
    signal: AbortSignal.timeout(init.timeoutMs ?? HTTP_TIMEOUT_MS),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A running test cluster. Create with `Cluster.start`; always `destroy()` it. */
export class Cluster {
  readonly members: ClusterMember[] = [];
  readonly baseDir: string;
  private readonly command: string[];
  private destroyed = false;

  private constructor(private readonly o: Required<ClusterOptions>) {
    this.baseDir = mkdtempSync(join(tmpdir(), 'raftkv-cluster-'));
    this.command = raftkvCommand();
  }

  /** Starts `members` bootstrap voters and returns once every process is spawned (not yet elected). */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    installExitHook();
    const o: Required<ClusterOptions> = {
      members: options.members ?? 3,
      electionTimeoutMs: options.electionTimeoutMs ?? 1000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 100,
      snapshotEntries: options.snapshotEntries ?? 10_000,
      extraArgs: options.extraArgs ?? [],
      env: options.env ?? {},
      logLevel: options.logLevel ?? 'info',
      namePrefix: options.namePrefix ?? 'n',
      keepData: options.keepData ?? false,
      statusToken: options.statusToken ?? '',
      faultInjection: options.faultInjection ?? true,
    };
    if (o.members < 1 || o.members > MAX_MEMBERS) throw new Error(`members must be 1..${MAX_MEMBERS}`);
    const c = new Cluster(o);
    try {
      for (let i = 1; i <= o.members; i++) c.members.push(await c.newSlot(`${o.namePrefix}${i}`, 'new'));
      for (const m of c.members) c.spawn(m);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  private async newSlot(name: string, state: 'new' | 'existing'): Promise<ClusterMember> {
    const clientPort = await freePort();
    const peerPort = await freePort();
    return {
      name,
      clientUrl: `http://127.0.0.1:${clientPort}`,
      peerAddress: `127.0.0.1:${peerPort}`,
      dataDir: join(this.baseDir, name, 'data'),
      logFile: join(this.baseDir, `${name}.log`),
      process: null,
      clusterState: state,
      extraArgs: [],
      paused: false,
    };
  }

  /** `n1=127.0.0.1:p1,...` over the bootstrap voters. */
  initialCluster(): string {
    return this.members.filter((m) => m.clusterState === 'new').map((m) => `${m.name}=${m.peerAddress}`).join(',');
  }

  /** The flags a member is started with (exposed so tests can start variants by hand). */
  argsFor(m: ClusterMember): string[] {
    return [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client', m.clientUrl,
      '--listen-peer', m.peerAddress,
      '--initial-cluster', this.initialCluster(),
      '--initial-cluster-state', m.clusterState,
      '--election-timeout-ms', String(this.o.electionTimeoutMs),
      '--heartbeat-interval-ms', String(this.o.heartbeatIntervalMs),
      '--snapshot-entries', String(this.o.snapshotEntries),
      '--log-level', this.o.logLevel,
      ...(this.o.faultInjection ? ['--enable-fault-injection'] : []),
      ...this.o.extraArgs,
      ...m.extraArgs,
    ];
  }

  private spawn(m: ClusterMember): void {
    if (this.destroyed) throw new Error('cluster destroyed');
    if (m.process) throw new Error(`${m.name} is already running`);
    mkdirSync(dirname(m.dataDir), { recursive: true });
    const fd = openSync(m.logFile, 'a');
    const [cmd, ...pre] = this.command;
    if (!cmd) throw new Error('empty RAFTKV_BIN');
    const p = spawn(cmd, [...pre, ...this.argsFor(m)], { stdio: ['ignore', fd, fd], env: { ...process.env, ...this.o.env } });
    closeSync(fd);
    const pid = p.pid;
    if (pid !== undefined) livePids.add(pid);
    p.once('exit', () => {
      if (pid !== undefined) livePids.delete(pid);
      if (m.process === p) m.process = null;
    });
    m.process = p;
    m.paused = false;
  }

  /** The member slot called `name`. */
  member(name: string): ClusterMember {
    const m = this.members.find((x) => x.name === name);
    if (!m) throw new Error(`no member ${name}`);
    return m;
  }

  /** Members with a live, unpaused process. */
  running(): ClusterMember[] {
    return this.members.filter((m) => m.process !== null && !m.paused);
  }

  /** GET /v1/status of one member, or null when it does not answer. */
  async status(m: ClusterMember): Promise<StatusLite | null> {
    try {
      const r = await http(`${m.clientUrl}/v1/status`, { timeoutMs: 1000, ...(this.o.statusToken !== '' ? { headers: { authorization: `Bearer ${this.o.statusToken}` } } : {}) });
      return r.status === 200 ? (r.json as StatusLite) : null;
    } catch {
      return null;
    }
  }

  /**
   * Waits until one running member is leader and every running voter names it as leader
   * (so redirects work everywhere), and returns it.
   */
  async waitForLeader(timeoutMs = 15_000, except: readonly string[] = []): Promise<ClusterMember> {
    return waitFor('an agreed leader', timeoutMs, async () => {
      const live = this.running().filter((m) => !except.includes(m.name));
      const statuses = await Promise.all(live.map(async (m) => ({ m, s: await this.status(m) })));
      const leaders = statuses.filter((x) => x.s?.role === 'leader');
      if (leaders.length !== 1) return null;
      const l = leaders[0];
      if (!l?.s) return null;
      const allAgree = statuses.every((x) => x.s !== null && x.s.leader?.name === l.m.name && x.s.leader.clientUrl !== '');
      return allAgree ? l.m : null;
    });
  }

  /** The member that says it leads (highest term wins), or null. */
  async leader(): Promise<ClusterMember | null> {
    const statuses = await Promise.all(this.running().map(async (m) => ({ m, s: await this.status(m) })));
    const leaders = statuses.filter((x) => x.s?.role === 'leader').sort((a, b) => (b.s?.term ?? 0) - (a.s?.term ?? 0));
    return leaders[0]?.m ?? null;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after STOP_TIMEOUT_MS). */
  async signal(m: ClusterMember, signal: NodeJS.Signals): Promise<ExitInfo> {
    const p = m.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      m.process = null;
      return { code: p?.exitCode ?? null, signal: p?.signalCode ?? null, elapsedMs: 0 };
    }
    const t0 = Date.now();
    if (m.paused && signal !== 'SIGKILL') p.kill('SIGCONT');
    const info = await new Promise<ExitInfo>((resolveExit) => {
      const t = setTimeout(() => p.kill('SIGKILL'), STOP_TIMEOUT_MS);
      p.once('exit', (code, sig) => {
        clearTimeout(t);
        resolveExit({ code, signal: sig, elapsedMs: Date.now() - t0 });
      });
      p.kill(signal);
    });
    m.process = null;
    m.paused = false;
    return info;
  }

  /** kill -9. */
  kill9(m: ClusterMember): Promise<ExitInfo> {
    return this.signal(m, 'SIGKILL');
  }

  /** SIGTERM, waits for the exit. */
  terminate(m: ClusterMember): Promise<ExitInfo> {
    return this.signal(m, 'SIGTERM');
  }

  pause(m: ClusterMember): void {
    if (m.process && !m.paused) {
      m.process.kill('SIGSTOP');
      m.paused = true;
    }
  }

  resume(m: ClusterMember): void {
    if (m.process && m.paused) {
      m.process.kill('SIGCONT');
      m.paused = false;
    }
  }

  /** Starts a stopped member again with the same data dir and flags. */
  restart(m: ClusterMember): void {
    this.spawn(m);
  }

  /**
   * Starts a new member with an empty data dir and `--initial-cluster-state existing`, without
   * adding it: the caller adds it (e.g. with `raftctl members add`, as the runbook says).
   */
  async startJoiner(name: string): Promise<ClusterMember> {
    if (this.members.some((m) => m.name === name)) throw new Error(`member ${name} exists`);
    const m = await this.newSlot(name, 'existing');
    this.members.push(m);
    this.spawn(m);
    return m;
  }

  /**
   * Starts a new member with `--initial-cluster-state existing`, adds it as a learner through
   * the leader's POST /v1/members, and returns it (not yet promoted).
   */
  async addMember(name: string, timeoutMs = 15_000): Promise<ClusterMember> {
    const m = await this.startJoiner(name);
    await waitFor(`${name} added as a learner`, timeoutMs, async () => {
      const leader = await this.leader();
      if (!leader) return null;
      const r = await http(`${leader.clientUrl}/v1/members`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, peerUrl: m.peerAddress, clientUrl: m.clientUrl }),
      });
      return r.status === 200 ? true : null;
    });
    return m;
  }

  /** An HTTP call to one member (redirects not followed). */
  request(m: ClusterMember, method: string, path: string, init: { body?: string | Uint8Array; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResult> {
    return http(`${m.clientUrl}${path}`, { ...init, method });
  }

  /** Every member's log, concatenated with headers (for failure reports). */
  logs(): string {
    return this.members.map((m) => `===== ${m.name} (${m.logFile}) =====\n${existsSync(m.logFile) ? readFileSync(m.logFile, 'utf8') : '(no log)'}`).join('\n');
  }

  /** Copies every member's log to `dir` (created); returns the paths. */
  saveLogs(dir: string): string[] {
    mkdirSync(dir, { recursive: true });
    const out: string[] = [];
    for (const m of this.members) {
      if (!existsSync(m.logFile)) continue;
      const to = join(dir, `${m.name}.log`);
      copyFileSync(m.logFile, to);
      out.push(to);
    }
    return out;
  }

  /** Kills every member (SIGKILL) and removes the temp dir unless keepData. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all(this.members.map((m) => this.kill9(m)));
    this.destroyed = true;
    if (!this.o.keepData) rmSync(this.baseDir, { recursive: true, force: true });
  }
}

/**
 * Runs `body` against a fresh cluster. On failure, saves every member's log under
 * `<repo>/test-output/cluster-logs/<label>-<time>/` and says where; always destroys the cluster.
 */
export async function withCluster<T>(label: string, options: ClusterOptions, body: (c: Cluster) => Promise<T>): Promise<T> {
  const c = await Cluster.start(options);
  try {
    return await body(c);
  } catch (err) {
    const dir = join(repoRoot(), 'test-output', 'cluster-logs', `${label.replace(/[^A-Za-z0-9_-]+/g, '_')}-${Date.now()}`);
    try {
      c.saveLogs(dir);
      process.stderr.write(`cluster-harness: member logs saved in ${dir}\n`);
    } catch {
      // best effort
    }
    throw err;
  } finally {
    await c.destroy();
  }
}
