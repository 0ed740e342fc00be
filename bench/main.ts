// `make bench`: raftkv against etcd on the same machine, in the same run, with the same load
// generator and the same durability. Prints a side-by-side table, writes
// bench/results/latest.json and a PNG plot, and removes every process and data dir it made.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad, preload, DEFAULT_BENCH_OPTIONS } from '../daemon/src/cli/bench/index.js';
import type { BenchOp, BenchResult } from '../daemon/src/cli/bench/index.js';
import { EtcdBenchCluster, RaftkvBenchCluster } from './clusters.js';
import type { BenchCluster } from './clusters.js';
import { renderPlot } from './plot.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface LoadCase {
  readonly name: string;
  readonly op: BenchOp;
  readonly connections: number;
}

const LOAD_CASES: readonly LoadCase[] = [
  { name: 'put c=1', op: 'put', connections: 1 },
  { name: 'put c=16', op: 'put', connections: 16 },
  { name: 'put c=64', op: 'put', connections: 64 },
  { name: 'put c=256', op: 'put', connections: 256 },
  { name: 'get c=64 (linearizable)', op: 'get', connections: 64 },
  { name: 'mix 90/10 c=64', op: 'mix', connections: 64 },
];

interface Settings {
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly failoverTrials: number;
  /** Snapshot interval given to both systems (raftkv's default; etcd 3.4 defaults to 100,000). */
  readonly snapshotEntries: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly only: 'all' | 'load' | 'failover';
}

function parseArgs(argv: readonly string[]): Settings {
  let s: Settings = { rounds: 3, durationMs: 5000, warmupMs: 1000, failoverTrials: 9, snapshotEntries: 10_000, electionTimeoutMs: 1000, heartbeatIntervalMs: 100, only: 'all' };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) usage(`${flag} needs a positive number`);
      i++;
      return n;
    };
    if (flag === '--rounds') s = { ...s, rounds: num() };
    else if (flag === '--duration-ms') s = { ...s, durationMs: num() };
    else if (flag === '--warmup-ms') s = { ...s, warmupMs: num() };
    else if (flag === '--failover-trials') s = { ...s, failoverTrials: num() };
    else if (flag === '--snapshot-entries') s = { ...s, snapshotEntries: num() };
    else if (flag === '--election-timeout-ms') s = { ...s, electionTimeoutMs: num() };
    else if (flag === '--heartbeat-interval-ms') s = { ...s, heartbeatIntervalMs: num() };
    else if (flag === '--only' && (v === 'load' || v === 'failover' || v === 'all')) { s = { ...s, only: v }; i++; }
    else usage(`unknown flag ${flag ?? ''}`);
  }
  return s;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: node dist/bench/main.js [--rounds N] [--duration-ms N] [--warmup-ms N] [--failover-trials N] [--snapshot-entries N] [--election-timeout-ms N] [--heartbeat-interval-ms N] [--only load|failover|all]\n`);
  process.exit(2);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The round whose throughput is the median represents the case (its latencies come with it). */
function medianRun(runs: readonly BenchResult[]): BenchResult {
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
  const r = sorted[Math.floor((sorted.length - 1) / 2)];
  if (!r) throw new Error('no runs');
  return r;
}

async function runLoadCases(clusters: readonly BenchCluster[], s: Settings): Promise<Map<string, Map<string, BenchResult[]>>> {
  const results = new Map<string, Map<string, BenchResult[]>>();
  for (const c of clusters) {
    const leader = await c.leader();
    await preload({ ...DEFAULT_BENCH_OPTIONS, target: c.system, endpoint: `127.0.0.1:${leader.clientPort}` });
  }
  for (let round = 0; round < s.rounds; round++) {
    for (const lc of LOAD_CASES) {
      // Alternate which system goes first so slow drift on a shared machine hits both.
      const order = (round + LOAD_CASES.indexOf(lc)) % 2 === 0 ? clusters : [...clusters].reverse();
      for (const c of order) {
        const leader = await c.leader();
        const r = await runLoad({
          ...DEFAULT_BENCH_OPTIONS,
          target: c.system,
          endpoint: `127.0.0.1:${leader.clientPort}`,
          op: lc.op,
          connections: lc.connections,
          durationMs: s.durationMs,
          warmupMs: s.warmupMs,
        });
        const perCase = results.get(lc.name) ?? new Map<string, BenchResult[]>();
        perCase.set(c.system, [...(perCase.get(c.system) ?? []), r]);
        results.set(lc.name, perCase);
        process.stdout.write(`  round ${round + 1} ${lc.name.padEnd(24)} ${c.system.padEnd(7)} ${r.opsPerSec.toFixed(0).padStart(7)} ops/s  p99 ${r.p99Ms.toFixed(2)} ms  errors ${r.errors}\n`);
      }
    }
  }
  return results;
}

/** Kills (or stops) the leader and times until a write is acknowledged again; median of trials. */
async function measureFailover(c: BenchCluster, signal: 'SIGKILL' | 'SIGTERM', trials: number): Promise<number[]> {
  const times: number[] = [];
  for (let t = 0; t < trials; t++) {
    const leader = await c.leader();
    // Make sure the cluster takes writes before the fault.
    const warmDeadline = Date.now() + 10_000;
    while (!(await c.tryWrite(`failover/warm/${t}`, 1000)) && Date.now() < warmDeadline) await sleep(50);
    const t0 = performance.now();
    const stopped = c.stopMember(leader, signal);
    let ackedAt = Number.NaN;
    const deadline = t0 + 30_000;
    let i = 0;
    while (performance.now() < deadline) {
      if (await c.tryWrite(`failover/${signal}/${t}/${i++}`, 250)) {
        ackedAt = performance.now();
        break;
      }
      await sleep(5);
    }
    await stopped;
    times.push(ackedAt - t0);
    process.stdout.write(`  ${c.system} ${signal} trial ${t + 1}: ${(ackedAt - t0).toFixed(0)} ms\n`);
    c.startMember(leader);
    await sleep(2000);
    await c.leader();
  }
  return times;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  const raftkvBin = join(repoRoot, 'bin', 'raftkv');
  if (!existsSync(join(repoRoot, 'dist', 'daemon', 'src', 'main.js'))) usage('run `make build` first');
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
  } catch {
    usage('etcd not found: `make deps` installs Debian\'s etcd-server');
  }
  const work = mkdtempSync(join(tmpdir(), 'raftkv-bench-'));
  const timing = { electionTimeoutMs: settings.electionTimeoutMs, heartbeatIntervalMs: settings.heartbeatIntervalMs, snapshotEntries: settings.snapshotEntries };
  const raftkv = new RaftkvBenchCluster(join(work, 'raftkv'), 23000, timing, raftkvBin);
  const etcd = new EtcdBenchCluster(join(work, 'etcd'), 24000, timing);
  const clusters = [raftkv, etcd];
  const cleanup = async (): Promise<void> => {
    await Promise.all(clusters.map((c) => c.stopAll()));
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const startedAt = new Date();
  try {
    process.stdout.write(`bench: starting 3-member raftkv and etcd clusters in ${work}\n`);
    await Promise.all(clusters.map((c) => c.start()));
    const load = settings.only === 'failover' ? new Map<string, Map<string, BenchResult[]>>() : await runLoadCases(clusters, settings);
    const failover: Record<string, Record<string, number[]>> = {};
    if (settings.only !== 'load') {
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        for (const c of clusters) {
          (failover[signal] ??= {})[c.system] = await measureFailover(c, signal, settings.failoverTrials);
        }
      }
    }
    const rows = LOAD_CASES.filter((lc) => load.has(lc.name)).map((lc) => {
      const per = load.get(lc.name);
      const r = medianRun(per?.get('raftkv') ?? []);
      const e = medianRun(per?.get('etcd') ?? []);
      return { case: lc.name, op: lc.op, connections: lc.connections, raftkv: r, etcd: e, throughputRatio: r.opsPerSec / e.opsPerSec, p99Ratio: r.p99Ms / e.p99Ms };
    });
    const lines: string[] = [];
    lines.push(`raftkv vs etcd ${execFileSync('etcd', ['--version']).toString().split('\n')[0]?.replace('etcd Version: ', '') ?? ''} — ${startedAt.toISOString().slice(0, 10)}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ${Math.round(totalmem() / 2 ** 30)} GiB, 3 members each on loopback, fsync on, a snapshot every ${settings.snapshotEntries} entries, 256-byte values, median of ${settings.rounds} alternating rounds of ${settings.durationMs / 1000}s`);
    lines.push('');
    lines.push('| case | raftkv ops/s | etcd ops/s | ratio | raftkv p50 / p99 / p99.9 ms | etcd p50 / p99 / p99.9 ms | p99 ratio |');
    lines.push('|---|---:|---:|---:|---|---|---:|');
    for (const row of rows) {
      lines.push(`| ${row.case} | ${fmt(row.raftkv.opsPerSec)} | ${fmt(row.etcd.opsPerSec)} | ${fmt(row.throughputRatio, 2)}× | ${fmt(row.raftkv.p50Ms, 2)} / ${fmt(row.raftkv.p99Ms, 2)} / ${fmt(row.raftkv.p999Ms, 2)} | ${fmt(row.etcd.p50Ms, 2)} / ${fmt(row.etcd.p99Ms, 2)} / ${fmt(row.etcd.p999Ms, 2)} | ${fmt(row.p99Ratio, 2)} |`);
    }
    const failoverRows: { kind: string; raftkvMs: number; etcdMs: number }[] = [];
    for (const [signal, per] of Object.entries(failover)) {
      const r = median(per['raftkv'] ?? []);
      const e = median(per['etcd'] ?? []);
      failoverRows.push({ kind: signal, raftkvMs: r, etcdMs: e });
      lines.push(`| failover after ${signal} of the leader (median of ${settings.failoverTrials}, ms to first ack) | ${fmt(r)} | ${fmt(e)} | ${fmt(r / e, 2)}× | | | |`);
    }
    const table = lines.join('\n');
    process.stdout.write(`\n${table}\n\n`);
    const resultsDir = join(repoRoot, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const json = { startedAt: startedAt.toISOString(), machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30) }, settings, rows, failover, failoverRows, table };
    writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(resultsDir, 'latest.md'), `${table}\n`);
    const png = join(resultsDir, 'latest.png');
    try {
      await renderPlot(rows, png, work);
      process.stdout.write(`bench: wrote ${join('bench', 'results', 'latest.json')}, latest.md and latest.png\n`);
    } catch (err) {
      process.stdout.write(`bench: wrote latest.json; plot failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
