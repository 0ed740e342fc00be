// Starts and stops the 3-member clusters `make bench` compares: raftkv (bin/raftkv) and etcd 3.6
// (scripts/ensure-etcd36.sh), both on loopback, both with fsync on, data in a temp folder.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long a cluster may take to elect a leader before the benchmark gives up. */
const CLUSTER_READY_TIMEOUT_MS = 30_000;
/** Per-request timeout for the harness's own control requests. */
const CONTROL_REQUEST_TIMEOUT_MS = 2_000;

export interface BenchMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  process: ChildProcess | null;
}

/** One cluster under test: start/stop members and find the leader. */
export interface BenchCluster {
  readonly system: 'raftkv' | 'etcd';
  readonly members: BenchMember[];
  start(): Promise<void>;
  startMember(m: BenchMember): void;
  /** The member that leads now, waiting (bounded) for one. */
  leader(timeoutMs?: number): Promise<BenchMember>;
  /** Sends SIGKILL or SIGTERM and waits for the process to exit. */
  stopMember(m: BenchMember, signal: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  stopAll(): Promise<void>;
  /** Writes one 256-byte value through any live member; true when acknowledged. */
  tryWrite(key: string, timeoutMs: number): Promise<boolean>;
  /** Process ids of the live members (for CPU accounting). */
  pids(): number[];
}

export interface ClusterTiming {
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Both compact their log with a snapshot this often (raftkv --snapshot-entries, etcd --snapshot-count). */
  readonly snapshotEntries: number;
}

async function fetchJson(url: string, init: RequestInit = {}, timeoutMs = CONTROL_REQUEST_TIMEOUT_MS): Promise<unknown> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

function waitExit(p: ChildProcess, timeoutMs: number): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      resolve();
    }, timeoutMs);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

abstract class BaseCluster implements BenchCluster {
  abstract readonly system: 'raftkv' | 'etcd';
  readonly members: BenchMember[];
  protected readonly value = 'v'.repeat(256);

  constructor(
    protected readonly dir: string,
    basePort: number,
    protected readonly timing: ClusterTiming,
  ) {
    this.members = [0, 1, 2].map((i) => ({ name: `m${i + 1}`, clientPort: basePort + i * 10, peerPort: basePort + i * 10 + 1, process: null }));
  }

  abstract startMember(m: BenchMember): void;
  abstract leader(timeoutMs?: number): Promise<BenchMember>;
  abstract tryWrite(key: string, timeoutMs: number): Promise<boolean>;

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    for (const m of this.members) this.startMember(m);
    await this.leader(CLUSTER_READY_TIMEOUT_MS);
  }

  protected spawnLogged(m: BenchMember, cmd: string, args: string[]): void {
    const logFd = openSync(join(this.dir, `${m.name}.log`), 'a');
    const p = spawn(cmd, args, { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    m.process = p;
  }

  async stopMember(m: BenchMember, signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const p = m.process;
    if (!p) return;
    p.kill(signal);
    await waitExit(p, 15_000);
    m.process = null;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.members.map((m) => this.stopMember(m, 'SIGKILL')));
  }

  pids(): number[] {
    return this.live().flatMap((m) => (m.process?.pid !== undefined ? [m.process.pid] : []));
  }

  protected live(): BenchMember[] {
    return this.members.filter((m) => m.process !== null);
  }
}

/** raftkv members started from bin/raftkv. */
export class RaftkvBenchCluster extends BaseCluster {
  readonly system = 'raftkv' as const;

  /** `nodeArgs` go to node before the script (e.g. --cpu-prof, which NODE_OPTIONS may not carry). */
  constructor(dir: string, basePort: number, timing: ClusterTiming, private readonly raftkvBin: string, private readonly extraArgs: readonly string[] = [], private readonly nodeArgs: readonly string[] = []) {
    super(dir, basePort, timing);
  }

  startMember(m: BenchMember): void {
    const initial = this.members.map((x) => `${x.name}=127.0.0.1:${x.peerPort}`).join(',');
    this.spawnLogged(m, process.execPath, [
      ...this.nodeArgs,
      this.raftkvBin,
      '--name', m.name,
      '--data-dir', join(this.dir, m.name),
      '--listen-client', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer', `127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initial,
      '--election-timeout-ms', String(this.timing.electionTimeoutMs),
      '--heartbeat-interval-ms', String(this.timing.heartbeatIntervalMs),
      '--snapshot-entries', String(this.timing.snapshotEntries),
      '--log-level', 'warn',
      ...this.extraArgs,
    ]);
  }

  async leader(timeoutMs = CLUSTER_READY_TIMEOUT_MS): Promise<BenchMember> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const m of this.live()) {
        try {
          const s = (await fetchJson(`http://127.0.0.1:${m.clientPort}/v1/status`)) as { role?: string };
          if (s.role === 'leader') return m;
        } catch {
          // not up yet
        }
      }
      await sleep(50);
    }
    throw new Error('raftkv: no leader within timeout');
  }

  async tryWrite(key: string, timeoutMs: number): Promise<boolean> {
    for (const m of this.live()) {
      try {
        // fetch follows the 307 to the leader itself.
        const res = await fetch(`http://127.0.0.1:${m.clientPort}/v1/kv/${encodeURIComponent(key)}`, {
          method: 'PUT', body: this.value, signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer();
        if (res.status === 200) return true;
      } catch {
        // try the next member
      }
    }
    return false;
  }
}

/** etcd members (the etcd 3.6 binary scripts/ensure-etcd36.sh builds), fsync on (its default). */
export class EtcdBenchCluster extends BaseCluster {
  readonly system = 'etcd' as const;

  constructor(dir: string, basePort: number, timing: ClusterTiming, private readonly etcdBin: string) {
    super(dir, basePort, timing);
  }

  startMember(m: BenchMember): void {
    const initial = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peerPort}`).join(',');
    this.spawnLogged(m, this.etcdBin, [
      '--name', m.name,
      '--data-dir', join(this.dir, m.name),
      '--listen-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', 'raftkv-bench',
      '--election-timeout', String(this.timing.electionTimeoutMs),
      '--heartbeat-interval', String(this.timing.heartbeatIntervalMs),
      '--snapshot-count', String(this.timing.snapshotEntries),
      '--log-level', 'warn',
      '--logger', 'zap',
    ]);
  }

  async leader(timeoutMs = CLUSTER_READY_TIMEOUT_MS): Promise<BenchMember> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const m of this.live()) {
        try {
          const s = (await fetchJson(`http://127.0.0.1:${m.clientPort}/v3/maintenance/status`, { method: 'POST', body: '{}' })) as {
            header?: { member_id?: string };
            leader?: string;
          };
          if (s.leader && s.leader !== '0' && s.header?.member_id === s.leader) return m;
        } catch {
          // not up yet
        }
      }
      await sleep(50);
    }
    throw new Error('etcd: no leader within timeout');
  }

  async tryWrite(key: string, timeoutMs: number): Promise<boolean> {
    const body = JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(this.value).toString('base64') });
    for (const m of this.live()) {
      try {
        const res = await fetch(`http://127.0.0.1:${m.clientPort}/v3/kv/put`, { method: 'POST', body, signal: AbortSignal.timeout(timeoutMs) });
        const json = (await res.json()) as { header?: unknown; error?: unknown };
        if (res.status === 200 && json.header && !json.error) return true;
      } catch {
        // try the next member
      }
    }
    return false;
  }
}
