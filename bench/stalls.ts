// `node dist/bench/stalls.js [--op put|get] [--connections N] [--rounds N] [--duration-ms N] [--lease-read true|false]`:
// where one case's tail latency and CPU go, member by member. Starts one 3-member cluster of
// this checkout (loopback, fsync on, the bench's timing), runs `raftctl bench` against its
// leader, and charges to the same window what each member reports about itself (its /metrics
// before and after the run: synced writes and their duration buckets, GC pauses by kind,
// snapshots, ReadIndex rounds) and its CPU per operation from /proc, split into the main thread
// (the event loop: HTTP, raft, apply) and every other thread (the storage worker, V8's GC and
// JIT helpers, RocksDB). A request slower than the p99 waited on one of these; the table shows
// how often each happened and for how long.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RaftkvBenchCluster } from './clusters.js';
import type { BenchMember } from './clusters.js';
import { loadAverage1m, threadCpuMs } from './proc-cpu.js';
import { memberRow, parseMetrics } from './member-window.js';
import type { MemberRow, Metrics, Sample } from './member-window.js';
import type { BenchResult } from '../daemon/src/cli/bench/load-generator.js';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE = 'usage: node dist/bench/stalls.js [--op put|get] [--connections N (1..1024)] [--rounds N (1..10)] [--duration-ms N (1000..60000)] [--lease-read true|false] [--snapshot-entries N] [--base-port N]';
const TIMING = { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 };
const METRICS_TIMEOUT_MS = 2_000;
/** Keys a read run reads (preloaded), as `make bench` does. */
const READ_KEYS = 1_000;

interface Settings { op: 'put' | 'get'; connections: number; rounds: number; durationMs: number; leaseRead: boolean; snapshotEntries: number; basePort: number }

function usage(msg: string): never {
  process.stderr.write(`stalls: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Settings {
  const s: Settings = { op: 'put', connections: 64, rounds: 3, durationMs: 6_000, leaseRead: true, snapshotEntries: 10_000, basePort: 23_400 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const need = (): string => (v === undefined ? usage(`${argv[i]} needs a value`) : v);
    const int = (lo: number, hi: number): number => {
      const n = Number(need());
      if (!Number.isInteger(n) || n < lo || n > hi) usage(`${argv[i]}: an integer ${lo}..${hi}`);
      return n;
    };
    switch (argv[i]) {
      case '--op': {
        const op = need();
        if (op !== 'put' && op !== 'get') usage('--op: put or get');
        s.op = op;
        i++;
        break;
      }
      case '--connections': s.connections = int(1, 1024); i++; break;
      case '--rounds': s.rounds = int(1, 10); i++; break;
      case '--duration-ms': s.durationMs = int(1_000, 60_000); i++; break;
      case '--base-port': s.basePort = int(1_024, 65_000); i++; break;
      case '--snapshot-entries': s.snapshotEntries = int(1, 100_000_000); i++; break;
      case '--lease-read': {
        const b = need();
        if (b !== 'true' && b !== 'false') usage('--lease-read: true or false');
        s.leaseRead = b === 'true';
        i++;
        break;
      }
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  return s;
}

async function scrape(m: BenchMember): Promise<Metrics> {
  const res = await fetch(`http://127.0.0.1:${m.clientPort}/metrics`, { signal: AbortSignal.timeout(METRICS_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${m.name}: /metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

async function sample(m: BenchMember): Promise<Sample> {
  const pid = m.process?.pid;
  if (pid === undefined) throw new Error(`${m.name} is not running`);
  return { metrics: await scrape(m), cpu: threadCpuMs(pid), atMs: Date.now() };
}

async function bench(port: number, s: Settings): Promise<BenchResult> {
  const args = [
    join(repoRoot, 'bin', 'raftctl'), 'bench', '--endpoint', `127.0.0.1:${port}`, '--op', s.op,
    '--connections', String(s.connections), '--duration', `${s.durationMs}ms`, '--warmup', '0s', '--value-bytes', '256', '--json',
  ];
  if (s.op === 'get') args.push('--keys', String(READ_KEYS));
  const { stdout } = await run(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as BenchResult;
}

async function preload(port: number): Promise<void> {
  await run(process.execPath, [
    join(repoRoot, 'bin', 'raftctl'), 'bench', '--endpoint', `127.0.0.1:${port}`, '--op', 'put', '--preload', '--keys', String(READ_KEYS),
    '--connections', '16', '--duration', '1s', '--warmup', '0s', '--value-bytes', '256', '--json',
  ], { maxBuffer: 16 * 1024 * 1024 });
}

const fmt = (n: number, digits = 0): string => n.toFixed(digits);

function report(s: Settings, r: BenchResult, rows: readonly MemberRow[], seconds: number): string {
  const lines: string[] = [];
  const what = s.op === 'put' ? 'put' : `linearizable read (${s.leaseRead ? 'lease' : 'ReadIndex'})`;
  lines.push(`${what} c=${s.connections}, --snapshot-entries ${s.snapshotEntries}: ${fmt(r.opsPerSec)} ops/s, p50 ${fmt(r.p50Ms, 2)} / p99 ${fmt(r.p99Ms, 2)} / p99.9 ${fmt(r.p999Ms, 2)} ms, ${r.ok} ok, ${r.errors} errors; load average ${fmt(loadAverage1m(), 1)}`);
  lines.push('');
  lines.push('| member | CPU µs/op main thread / other threads (the busiest of them) | synced writes /s, mean ms | synced writes > 4 / 8 / 16 ms | GC minor: n, mean ms | GC major + incremental: n, mean ms | GC pauses > 10 ms | GC ms per s | snapshots: n, mean ms | read batches per 100 ops | peer bytes/op |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const m of rows) {
    const big = { n: m.gc.major.n + m.gc.incremental.n, ms: m.gc.major.ms + m.gc.incremental.ms };
    const gcMsPerS = (m.gc.minor.ms + big.ms) / seconds;
    lines.push(`| ${m.name}${m.leader ? ' (leader)' : ''} | ${fmt(m.mainUsPerOp, 1)} / ${fmt(m.otherUsPerOp, 1)} (${fmt(m.busiestOtherUsPerOp, 1)}) | ${fmt(m.fsyncs / seconds)}, ${fmt(m.fsyncMeanMs, 2)} | ${m.fsyncOver4} / ${m.fsyncOver8} / ${m.fsyncOver16} | ${m.gc.minor.n}, ${fmt(m.gc.minor.ms / Math.max(1, m.gc.minor.n), 2)} | ${big.n}, ${fmt(big.ms / Math.max(1, big.n), 2)} | ${m.gcOver10ms} | ${fmt(gcMsPerS, 1)} | ${m.snapshots}, ${fmt(m.snapshotMs / Math.max(1, m.snapshots), 1)} | ${fmt((m.readRounds * 100) / Math.max(1, r.ok), 2)} | ${fmt(m.peerBytesPerOp)} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-stalls-'));
  const cluster = new RaftkvBenchCluster(dir, s.basePort, { ...TIMING, snapshotEntries: s.snapshotEntries }, join(repoRoot, 'bin', 'raftkv'), ['--lease-read', String(s.leaseRead)]);
  try {
    await cluster.start();
    const leader = await cluster.leader();
    if (s.op === 'get') await preload(leader.clientPort);
    // One untimed run first: a fresh process's first seconds (JIT, RocksDB caches) are slower.
    await bench(leader.clientPort, { ...s, durationMs: 3_000 });
    for (let round = 0; round < s.rounds; round++) {
      const lead = await cluster.leader();
      const before = await Promise.all(cluster.members.map((m) => sample(m)));
      const r = await bench(lead.clientPort, s);
      const after = await Promise.all(cluster.members.map((m) => sample(m)));
      const seconds = ((after[0]?.atMs ?? 0) - (before[0]?.atMs ?? 0)) / 1000;
      const rows = cluster.members.map((m, i) => memberRow(m.name, m === lead, before[i] as Sample, after[i] as Sample, r.ok));
      process.stdout.write(`round ${round + 1} (window ${fmt(seconds, 1)} s)\n${report(s, r, rows, seconds)}\n\n`);
    }
  } finally {
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`stalls: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
