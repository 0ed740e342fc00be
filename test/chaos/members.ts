// The chaos run's member processes: real bin/raftkv, each inside its network namespace (or on
// its loopback address), with start, kill -9, SIGSTOP/SIGCONT, restart, wipe-and-rejoin, and
// an optional small tmpfs data dir that a nemesis can fill up.
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, rmSync, writeSync, readFileSync, existsSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChaosNetwork } from './network.js';

export const CLIENT_PORT = 2379;
export const PEER_PORT = 2380;
/** Size of the tmpfs that holds the disk nemesis member's data. */
export const TMPFS_SIZE_MB = 192;
/** How long a stopped member may take to exit before SIGKILL. */
const STOP_TIMEOUT_MS = 12_000;
/** Like a kubelet: a member that exits on its own is started again after this delay... */
const SUPERVISOR_RESTART_DELAY_MS = 1_000;
/** ...at most this many times per member per run (a crash loop must not run forever). */
const MAX_SUPERVISOR_RESTARTS = 20;
/** Bytes of a member's log kept to explain an exit... */
const EXIT_LOG_TAIL_BYTES = 4096;
/** ...out of at most this much of its output since it started. */
const MAX_EXIT_LOG_READ_BYTES = 8 * 1024 * 1024;

/** A member process that exited without being told to (judged by checkNoCrash). */
export interface UnexpectedExit {
  readonly member: string;
  readonly atMs: number;
  readonly code: number | null;
  readonly signal: string | null;
  /** Its disk was full when it exited. */
  readonly diskFull: boolean;
  /** It had not yet answered /v1/status since this start (it died starting up). */
  readonly duringStartup: boolean;
  /** The last lines it wrote to stderr/stdout. */
  readonly logTail: string;
}

export interface ChaosMember {
  readonly index: number;
  readonly name: string;
  readonly dataDir: string;
  readonly onTmpfs: boolean;
  process: ChildProcess | null;
  paused: boolean;
  /** Starts it with --initial-cluster-state existing (it was removed and is re-joining). */
  joining: boolean;
  /** Its tmpfs is filled up by the disk nemesis. */
  diskFull: boolean;
  /** Where the current process's output starts in its log file. */
  logStartOffset: number;
  supervisorRestarts: number;
}

export interface MemberSetOptions {
  readonly count: number;
  readonly baseDir: string;
  readonly raftkvBin: string;
  /** Arguments before the member flags (the planted-bug entry point's --planted-bug NAME). */
  readonly raftkvArgs?: readonly string[];
  readonly network: ChaosNetwork;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  /** Member index whose data dir lives on a tmpfs (-1 for none). */
  readonly tmpfsMember: number;
  /** Extra environment for every member (e.g. a planted bug for checker tests). */
  readonly extraEnv: Readonly<Record<string, string>>;
}

export class MemberSet {
  readonly members: ChaosMember[];
  private exitLog: string[] = [];
  private readonly unexpected: UnexpectedExit[] = [];
  /** Processes we are stopping on purpose: their exit is not a crash. */
  private readonly stopping = new WeakSet<ChildProcess>();
  private destroyed = false;

  constructor(private readonly o: MemberSetOptions) {
    mkdirSync(o.baseDir, { recursive: true });
    this.members = Array.from({ length: o.count }, (_, i) => {
      const onTmpfs = i === o.tmpfsMember;
      const dataDir = onTmpfs ? join(o.baseDir, `tmpfs-n${i}`, 'data') : join(o.baseDir, `n${i}`, 'data');
      return { index: i, name: `n${i}`, dataDir, onTmpfs, process: null, paused: false, joining: false, diskFull: false, logStartOffset: 0, supervisorRestarts: 0 };
    });
    for (const m of this.members) {
      if (m.onTmpfs) {
        const mountPoint = join(o.baseDir, `tmpfs-n${m.index}`);
        mkdirSync(mountPoint, { recursive: true });
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE_MB}m`, 'tmpfs', mountPoint]);
      }
    }
  }

  clientUrl(i: number): string {
    return `http://${this.o.network.address(i)}:${CLIENT_PORT}`;
  }

  peerAddress(i: number): string {
    return `${this.o.network.address(i)}:${PEER_PORT}`;
  }

  initialCluster(): string {
    return this.members.map((m) => `${m.name}=${this.peerAddress(m.index)}`).join(',');
  }

  start(m: ChaosMember): void {
    if (m.process) return;
    mkdirSync(m.dataDir, { recursive: true });
    const args = [
      process.execPath, this.o.raftkvBin, ...(this.o.raftkvArgs ?? []),
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client', this.clientUrl(m.index),
      '--listen-peer', this.peerAddress(m.index),
      '--initial-cluster', this.initialCluster(),
      '--initial-cluster-state', m.joining ? 'existing' : 'new',
      '--election-timeout-ms', String(this.o.electionTimeoutMs),
      '--heartbeat-interval-ms', String(this.o.heartbeatIntervalMs),
      '--snapshot-entries', String(this.o.snapshotEntries),
      '--enable-fault-injection',
      '--log-level', 'info',
    ];
    const wrapped = [...this.o.network.wrap(m.index), ...args];
    const logPath = join(this.o.baseDir, `${m.name}.log`);
    m.logStartOffset = existsSync(logPath) ? statSync(logPath).size : 0;
    const logFd = openSync(logPath, 'a');
    const [cmd, ...rest] = wrapped;
    if (!cmd) throw new Error('empty command');
    // `ip netns exec` execs the command, so this pid is the daemon itself.
    const p = spawn(cmd, rest, { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...this.o.extraEnv } });
    closeSync(logFd);
    m.process = p;
    m.paused = false;
    p.once('exit', (code, signal) => {
      this.exitLog.push(`${new Date().toISOString()} ${m.name} exited code=${code} signal=${signal}`);
      if (m.process === p) m.process = null;
      if (this.stopping.has(p) || this.destroyed) return;
      const output = this.outputSince(m, m.logStartOffset);
      this.unexpected.push({
        member: m.name, atMs: Date.now(), code, signal, diskFull: m.diskFull,
        // The daemon logs "serving" once its client listener is up.
        duringStartup: !output.includes('"msg":"serving"'),
        logTail: output.slice(-EXIT_LOG_TAIL_BYTES),
      });
      if (m.supervisorRestarts < MAX_SUPERVISOR_RESTARTS) {
        m.supervisorRestarts++;
        setTimeout(() => {
          if (!this.destroyed && !m.process) this.start(m);
        }, SUPERVISOR_RESTART_DELAY_MS);
      }
    });
  }

  /** What the member's log holds from `offset` on (bounded by MAX_EXIT_LOG_READ_BYTES). */
  private outputSince(m: ChaosMember, offset: number): string {
    try {
      const buf = readFileSync(join(this.o.baseDir, `${m.name}.log`));
      return buf.subarray(Math.max(offset, buf.length - MAX_EXIT_LOG_READ_BYTES)).toString('utf8');
    } catch {
      return '';
    }
  }

  /** Exits nobody asked for, in order. */
  unexpectedExits(): readonly UnexpectedExit[] {
    return this.unexpected;
  }

  kill9(m: ChaosMember): Promise<void> {
    return this.stop(m, 'SIGKILL');
  }

  /** Sends `signal` and waits for exit (SIGKILL after a bound). */
  async stop(m: ChaosMember, signal: NodeJS.Signals): Promise<void> {
    const p = m.process;
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      m.process = null;
      return;
    }
    this.stopping.add(p);
    if (m.paused) {
      p.kill('SIGCONT');
      m.paused = false;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        p.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill(signal);
    });
    m.process = null;
  }

  pause(m: ChaosMember): void {
    if (m.process && !m.paused) {
      m.process.kill('SIGSTOP');
      m.paused = true;
    }
  }

  resume(m: ChaosMember): void {
    if (m.process && m.paused) {
      m.process.kill('SIGCONT');
      m.paused = false;
    }
  }

  /** Deletes a member's data so it can rejoin as a brand-new member. */
  wipe(m: ChaosMember): void {
    if (m.process) throw new Error(`${m.name} is running`);
    if (existsSync(m.dataDir)) rmSync(m.dataDir, { recursive: true, force: true });
  }

  /**
   * Fills the member's tmpfs to the last byte; returns the filler path. Big chunks first, then
   * ever smaller ones, because a write that does not fit fails whole and would leave up to a
   * chunk of free space that a small WAL append still fits into.
   */
  fillDisk(m: ChaosMember): string {
    if (!m.onTmpfs) throw new Error(`${m.name} is not on a tmpfs`);
    const filler = join(this.o.baseDir, `tmpfs-n${m.index}`, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (let chunkBytes = 1024 * 1024; chunkBytes >= 1; chunkBytes = Math.floor(chunkBytes / 16)) {
        const chunk = Buffer.alloc(chunkBytes, 0x5a);
        // Bounded: the tmpfs holds TMPFS_SIZE_MB MiB, so at most that many chunks of any size fit
        // before ENOSPC; the cap only guards against a mount that is not what we made.
        for (let i = 0; i < (TMPFS_SIZE_MB + 8) * 16; i++) {
          try {
            writeSync(fd, chunk);
          } catch {
            break; // ENOSPC at this chunk size: go smaller
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    m.diskFull = true;
    return filler;
  }

  /** Bytes still free on the member's tmpfs (diagnostics for the disk nemesis). */
  freeBytes(m: ChaosMember): number {
    const st = statfsSync(join(this.o.baseDir, `tmpfs-n${m.index}`));
    return st.bavail * st.bsize;
  }

  freeDisk(m: ChaosMember, filler: string): void {
    rmSync(filler, { force: true });
    m.diskFull = false;
  }

  running(): ChaosMember[] {
    return this.members.filter((m) => m.process !== null && !m.paused);
  }

  exits(): readonly string[] {
    return this.exitLog;
  }

  /** Stops everything and unmounts tmpfs; safe to call more than once. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await Promise.all(this.members.map((m) => this.stop(m, 'SIGKILL')));
    for (const m of this.members) {
      if (m.onTmpfs) {
        const mountPoint = join(this.o.baseDir, `tmpfs-n${m.index}`);
        try {
          execFileSync('umount', [mountPoint], { stdio: 'ignore' });
        } catch {
          // already unmounted
        }
      }
    }
  }

  /** Lists the member log files (for the failure report). */
  logFiles(): string[] {
    return readdirSync(this.o.baseDir).filter((f) => f.endsWith('.log')).map((f) => join(this.o.baseDir, f));
  }
}
