// `make bench-ab A=<git ref>`: the cost of a change, measured as users feel it. Two raftkv builds
// (A: an older checkout's bin/raftkv, B: this one) run as 3-member clusters on loopback, fsync
// on, and this build's `raftctl bench` drives put rows at each one in alternating rounds (every
// case and round takes the next of the six orders of the three variants, so no variant always
// runs first, last or next to the same neighbour, and drift on a shared machine hits all). B is measured with
// client sessions (raftctl's default) and with `--sessions false`; A, which may predate sessions,
// without. Prints a table of medians and B/A ratios and writes bench/results/ab-latest.{md,json}.
// Each run's CPU per put (the 3 members, from /proc, within the bench's measured window) is reported too: on a shared machine it
// moves far less than throughput, so it shows what a change costs where ops/s only shows noise.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RaftkvBenchCluster } from './clusters.js';
import { totalCpuMs } from './proc-cpu.js';
import type { BenchResult } from '../daemon/src/cli/bench/load-generator.js';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE = 'usage: node dist/bench/ab.js --a DIR [--b DIR] [--rounds N] [--duration-ms N] [--connections 1,16,64,256]  (DIR: a built checkout with bin/raftkv; B defaults to this one; the load generator is always this checkout\'s raftctl bench)';
/** Bounds that keep a typo from running for hours. */
const MAX_ROUNDS = 10;
const MAX_DURATION_MS = 60_000;
const WARMUP_RUN_MS = 4_000;
/** Every order of the three variants; rounds rotate through them. */
const ORDERS: readonly (readonly number[])[] = [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 2, 1], [2, 1, 0], [1, 0, 2]];

interface Settings { readonly aDir: string; readonly bDir: string; readonly rounds: number; readonly durationMs: number; readonly connections: readonly number[] }

interface Variant { readonly label: string; readonly cluster: RaftkvBenchCluster; readonly sessions: boolean }

/** One measured run: the bench's result and the members' CPU per put (µs) within its measured window. */
interface Run { readonly r: BenchResult; readonly cpuUsPerPut: number }

/** How often the members' CPU is read during a run (the window's edges are interpolated between reads). */
const CPU_SAMPLE_MS = 100;

/** The members' CPU (ms) at `atMs` (epoch), interpolated between the two reads around it. */
function cpuAt(samples: readonly { readonly tMs: number; readonly cpuMs: number }[], atMs: number): number {
  let prev = samples[0] ?? { tMs: atMs, cpuMs: 0 };
  for (const x of samples) {
    if (x.tMs >= atMs) return x.tMs === prev.tMs ? x.cpuMs : prev.cpuMs + ((x.cpuMs - prev.cpuMs) * (atMs - prev.tMs)) / (x.tMs - prev.tMs);
    prev = x;
  }
  return prev.cpuMs;
}

const BENCH_WARMUP_MS = 1_000;

function usage(msg: string): never {
  process.stderr.write(`bench-ab: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Settings {
  let aDir = '';
  let bDir = repoRoot;
  let rounds = ORDERS.length;
  let durationMs = 5_000;
  let connections: number[] = [1, 16, 64, 256];
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const need = (): string => (v === undefined ? usage(`${argv[i]} needs a value`) : v);
    switch (argv[i]) {
      case '--a': aDir = resolve(need()); i++; break;
      case '--b': bDir = resolve(need()); i++; break;
      case '--rounds': rounds = Number(need()); i++; break;
      case '--duration-ms': durationMs = Number(need()); i++; break;
      case '--connections': connections = need().split(',').map(Number); i++; break;
      default: usage(`unknown argument ${argv[i] ?? ''}`);
    }
  }
  if (aDir === '' || !existsSync(join(aDir, 'bin', 'raftkv'))) usage('--a must name a built checkout (DIR/bin/raftkv)');
  if (!existsSync(join(bDir, 'bin', 'raftkv'))) usage('--b must name a built checkout (DIR/bin/raftkv)');
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > MAX_ROUNDS) usage(`--rounds must be 1..${MAX_ROUNDS}`);
  if (!Number.isInteger(durationMs) || durationMs < 1000 || durationMs > MAX_DURATION_MS) usage(`--duration-ms must be 1000..${MAX_DURATION_MS}`);
  if (connections.some((c) => !Number.isInteger(c) || c < 1 || c > 1024)) usage('--connections: integers 1..1024');
  return { aDir, bDir, rounds, durationMs, connections };
}

async function benchPut(port: number, connections: number, durationMs: number, sessions: boolean): Promise<BenchResult> {
  const { stdout } = await run(process.execPath, [
    join(repoRoot, 'bin', 'raftctl'), 'bench', '--endpoint', `127.0.0.1:${port}`, '--op', 'put',
    '--connections', String(connections), '--duration', `${durationMs}ms`, '--warmup', `${BENCH_WARMUP_MS}ms`, '--value-bytes', '256',
    '--sessions', String(sessions), '--json',
  ], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as BenchResult;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-bench-ab-'));
  const timing = { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 10_000 };
  const a = new RaftkvBenchCluster(join(dir, 'a'), 23_100, timing, join(s.aDir, 'bin', 'raftkv'));
  const b = new RaftkvBenchCluster(join(dir, 'b'), 23_200, timing, join(s.bDir, 'bin', 'raftkv'));
  const variants: Variant[] = [
    { label: 'A', cluster: a, sessions: false },
    { label: 'B', cluster: b, sessions: true },
    { label: 'B --sessions false', cluster: b, sessions: false },
  ];
  const results = new Map<string, Run[]>();
  const load: number[] = [];
  try {
    await a.start();
    await b.start();
    // One untimed run per cluster first: a fresh process's first seconds (JIT, RocksDB caches) are slower.
    for (const c of [a, b]) await benchPut((await c.leader()).clientPort, 16, WARMUP_RUN_MS, false);
    for (let round = 0; round < s.rounds; round++) {
      for (const [ci, c] of s.connections.entries()) {
        const order = ORDERS[(round + ci) % ORDERS.length]?.map((i) => variants[i] as Variant) ?? variants;
        for (const v of order) {
          const leader = await v.cluster.leader();
          const pids = v.cluster.pids();
          // CPU read through the run, charged to the bench's measured window only (not to its
          // start-up, warm-up, or the opening and closing of its sessions).
          const samples: { tMs: number; cpuMs: number }[] = [{ tMs: Date.now(), cpuMs: totalCpuMs(pids) }];
          const sampler = setInterval(() => samples.push({ tMs: Date.now(), cpuMs: totalCpuMs(pids) }), CPU_SAMPLE_MS);
          let r: BenchResult;
          try {
            r = await benchPut(leader.clientPort, c, s.durationMs, v.sessions);
          } finally {
            clearInterval(sampler);
          }
          samples.push({ tMs: Date.now(), cpuMs: totalCpuMs(pids) });
          const cpuUsPerPut = ((cpuAt(samples, r.measuredToEpochMs) - cpuAt(samples, r.measuredFromEpochMs)) * 1000) / Math.max(1, r.ok);
          const key = `${c}|${v.label}`;
          results.set(key, [...(results.get(key) ?? []), { r, cpuUsPerPut }]);
          load.push(loadavg()[0] ?? 0);
          process.stdout.write(`  round ${round + 1} put c=${String(c).padEnd(4)} ${v.label.padEnd(19)} ${r.opsPerSec.toFixed(0).padStart(7)} ops/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  p99.9 ${r.p999Ms.toFixed(2)} ms  errors ${r.errors}  members' CPU ${cpuUsPerPut.toFixed(0)} µs/put\n`);
        }
      }
    }
  } finally {
    await a.stopAll();
    await b.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: string[] = [
    `A = ${s.aDir}, B = ${s.bDir === repoRoot ? 'this checkout' : s.bDir}; ${s.rounds} alternating rounds of ${s.durationMs / 1000} s per case; medians; load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}`,
    '',
    'B/A is the ratio of medians; "paired" is the median of each round\'s own ratio (the three runs of a round are back to back, so slow drift cancels).',
    '',
    '| put | A ops/s (p50 ms) | B ops/s (p50 ms) | B/A | paired | B --sessions false ops/s (p50 ms) | /A | paired |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const cpuRows: string[] = [
    '',
    'CPU of the 3 members per put within the measured window (µs, from /proc, medians; "paired" as above, so above 1 means B costs more):',
    '',
    '| put | A | B | B/A paired | B --sessions false | /A paired |',
    '|---|---|---|---|---|---|',
  ];
  const tailRows: string[] = [
    '',
    'Tail latency (ms, medians of the rounds; "paired" as above, so below 1 means B answers faster):',
    '',
    '| put | A p99 / p99.9 | B p99 / p99.9 | B/A paired p99, p99.9 | B --sessions false p99 / p99.9 | /A paired p99, p99.9 |',
    '|---|---|---|---|---|---|',
  ];
  const json: Record<string, unknown>[] = [];
  for (const c of s.connections) {
    const m = (label: string): { ops: number; p50: number; cpuUsPerPut: number } => {
      const rs = results.get(`${c}|${label}`) ?? [];
      return { ops: median(rs.map((x) => x.r.opsPerSec)), p50: median(rs.map((x) => x.r.p50Ms)), cpuUsPerPut: median(rs.map((x) => x.cpuUsPerPut)) };
    };
    const ra = m('A');
    const rb = m('B');
    const rn = m('B --sessions false');
    const paired = (label: string, of: (x: Run) => number): number => {
      const as = results.get(`${c}|A`) ?? [];
      const xs = results.get(`${c}|${label}`) ?? [];
      return median(xs.map((x, i) => of(x) / (as[i] !== undefined ? of(as[i]) : Number.NaN)));
    };
    const pb = paired('B', (x) => x.r.opsPerSec);
    const pn = paired('B --sessions false', (x) => x.r.opsPerSec);
    const cb = paired('B', (x) => x.cpuUsPerPut);
    const cn = paired('B --sessions false', (x) => x.cpuUsPerPut);
    const tail = (label: string): string => {
      const rs = results.get(`${c}|${label}`) ?? [];
      return `${median(rs.map((x) => x.r.p99Ms)).toFixed(2)} / ${median(rs.map((x) => x.r.p999Ms)).toFixed(2)}`;
    };
    const pairedTail = (label: string): string => `${paired(label, (x) => x.r.p99Ms).toFixed(3)}×, ${paired(label, (x) => x.r.p999Ms).toFixed(3)}×`;
    tailRows.push(`| c=${c} | ${tail('A')} | ${tail('B')} | ${pairedTail('B')} | ${tail('B --sessions false')} | ${pairedTail('B --sessions false')} |`);
    cpuRows.push(`| c=${c} | ${ra.cpuUsPerPut.toFixed(0)} | ${rb.cpuUsPerPut.toFixed(0)} | ${cb.toFixed(3)}× | ${rn.cpuUsPerPut.toFixed(0)} | ${cn.toFixed(3)}× |`);
    rows.push(`| c=${c} | ${ra.ops.toFixed(0)} (${ra.p50.toFixed(2)}) | ${rb.ops.toFixed(0)} (${rb.p50.toFixed(2)}) | ${(rb.ops / ra.ops).toFixed(3)}× | ${pb.toFixed(3)}× | ${rn.ops.toFixed(0)} (${rn.p50.toFixed(2)}) | ${(rn.ops / ra.ops).toFixed(3)}× | ${pn.toFixed(3)}× |`);
    json.push({
      connections: c, a: ra, b: rb, bWithoutSessions: rn, pairedB: pb, pairedBWithoutSessions: pn, pairedCpuB: cb, pairedCpuBWithoutSessions: cn,
      runs: Object.fromEntries(['A', 'B', 'B --sessions false'].map((l) => [l, (results.get(`${c}|${l}`) ?? []).map((x) => x.r.opsPerSec)])),
      p99Ms: Object.fromEntries(['A', 'B', 'B --sessions false'].map((l) => [l, (results.get(`${c}|${l}`) ?? []).map((x) => x.r.p99Ms)])),
      p999Ms: Object.fromEntries(['A', 'B', 'B --sessions false'].map((l) => [l, (results.get(`${c}|${l}`) ?? []).map((x) => x.r.p999Ms)])),
      cpuUsPerPut: Object.fromEntries(['A', 'B', 'B --sessions false'].map((l) => [l, (results.get(`${c}|${l}`) ?? []).map((x) => Math.round(x.cpuUsPerPut * 10) / 10)])),
    });
  }
  const md = [...rows, ...tailRows, ...cpuRows].join('\n');
  process.stdout.write(`\n${md}\n`);
  const out = join(repoRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'ab-latest.md'), `${md}\n`);
  writeFileSync(join(out, 'ab-latest.json'), `${JSON.stringify({ settings: s, rows: json }, null, 1)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-ab: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
