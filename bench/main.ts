// `make bench`: raftkv against etcd 3.6 on the same machine in the same run, each driven by its
// own client (raftkv by `raftctl bench`, etcd by etcd's own gRPC benchmark tool), both at the
// leader and, in some rows, at all members, with the same durability, in alternating rounds. Charges server and client CPU per
// operation from /proc, prints a side-by-side table, writes bench/results/latest.{md,json,png}
// and removes every process and data dir it made.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { preload, DEFAULT_BENCH_OPTIONS } from '../daemon/src/cli/bench/index.js';
import { EtcdBenchCluster, RaftkvBenchCluster } from './clusters.js';
import type { BenchCluster } from './clusters.js';
import { runEtcdBenchmark, runRaftctlBench } from './native-clients.js';
import type { LoadSpec, Measurement } from './native-clients.js';
import { loadAverage1m } from './proc-cpu.js';
import { renderPlot } from './plot.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Which raftkv cluster a case runs on: 'default' (lease reads on, as shipped) or 'readindex'
 * (--lease-read=false: every linearizable read takes a ReadIndex quorum round, as etcd's do).
 */
type RaftkvFlavour = 'default' | 'readindex';

interface LoadCase {
  readonly name: string;
  readonly spec: LoadSpec;
  readonly raftkv: RaftkvFlavour;
  /** Where the clients connect: the leader, or spread over all three members (each system's client as a user runs it). */
  readonly at: 'leader' | 'all';
  /** A raftkv-only row compared with the etcd result of another case (etcd has no lease reads). */
  readonly etcdFrom?: string;
  /** etcd requests a second the first round sizes its run with (later rounds use the last measured rate). */
  readonly etcdRateGuess: number;
}

const READ_C = 64;
const LOAD_CASES: readonly LoadCase[] = [
  { name: 'put c=1', spec: { op: 'put', connections: 1, consistency: 'linearizable', readRatio: 0 }, raftkv: 'default', at: 'leader', etcdRateGuess: 600 },
  { name: 'put c=16', spec: { op: 'put', connections: 16, consistency: 'linearizable', readRatio: 0 }, raftkv: 'default', at: 'leader', etcdRateGuess: 2500 },
  { name: 'put c=64', spec: { op: 'put', connections: 64, consistency: 'linearizable', readRatio: 0 }, raftkv: 'default', at: 'leader', etcdRateGuess: 5000 },
  { name: 'put c=256', spec: { op: 'put', connections: 256, consistency: 'linearizable', readRatio: 0 }, raftkv: 'default', at: 'leader', etcdRateGuess: 6000 },
  { name: `linearizable read c=${READ_C}, ReadIndex both`, spec: { op: 'read', connections: READ_C, consistency: 'linearizable', readRatio: 1 }, raftkv: 'readindex', at: 'leader', etcdRateGuess: 10000 },
  { name: `linearizable read c=${READ_C}, raftkv lease read vs etcd ReadIndex`, spec: { op: 'read', connections: READ_C, consistency: 'linearizable', readRatio: 1 }, raftkv: 'default', at: 'leader', etcdFrom: `linearizable read c=${READ_C}, ReadIndex both`, etcdRateGuess: 10000 },
  { name: `serializable read c=${READ_C}`, spec: { op: 'read', connections: READ_C, consistency: 'serializable', readRatio: 1 }, raftkv: 'default', at: 'leader', etcdRateGuess: 15000 },
  { name: 'put c=64 at all members', spec: { op: 'put', connections: 64, consistency: 'linearizable', readRatio: 0 }, raftkv: 'default', at: 'all', etcdRateGuess: 5000 },
  { name: `linearizable read c=${READ_C} at all members, ReadIndex both`, spec: { op: 'read', connections: READ_C, consistency: 'linearizable', readRatio: 1 }, raftkv: 'readindex', at: 'all', etcdRateGuess: 10000 },
  { name: `serializable read c=${READ_C} at all members`, spec: { op: 'read', connections: READ_C, consistency: 'serializable', readRatio: 1 }, raftkv: 'default', at: 'all', etcdRateGuess: 15000 },
  { name: 'mixed 90/10 c=64, ReadIndex both', spec: { op: 'mix', connections: 64, consistency: 'linearizable', readRatio: 0.9 }, raftkv: 'readindex', at: 'leader', etcdRateGuess: 8000 },
];

interface Settings {
  readonly rounds: number;
  readonly durationMs: number;
  readonly failoverTrials: number;
  readonly snapshotEntries: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly only: 'all' | 'load' | 'failover';
  /** Only the cases whose name contains this text. */
  readonly cases: string | null;
  readonly quick: boolean;
  /** raftkv listens from here, the ReadIndex raftkv from +100, etcd from +200 (two ports a member, ten apart). */
  readonly basePort: number;
}

const USAGE =
  'usage: node dist/bench/main.js [--quick] [--rounds N] [--duration-ms N] [--failover-trials N] [--snapshot-entries N] ' +
  '[--election-timeout-ms N] [--heartbeat-interval-ms N] [--only load|failover|all] [--cases TEXT] [--base-port N]\n' +
  '  --quick: 1 round of 2 s a case and 2 failover trials (about 2 minutes; for development, not for figures)';

function parseArgs(argv: readonly string[]): Settings {
  let s: Settings = { rounds: 3, durationMs: 5000, failoverTrials: 5, snapshotEntries: 10_000, electionTimeoutMs: 1000, heartbeatIntervalMs: 100, only: 'all', cases: null, quick: false, basePort: 26000 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) usage(`${flag} needs a positive number`);
      i++;
      return n;
    };
    if (flag === '--quick') s = { ...s, quick: true, rounds: 1, durationMs: 2000, failoverTrials: 2 };
    else if (flag === '--rounds') s = { ...s, rounds: num() };
    else if (flag === '--duration-ms') s = { ...s, durationMs: num() };
    else if (flag === '--failover-trials') s = { ...s, failoverTrials: num() };
    else if (flag === '--snapshot-entries') s = { ...s, snapshotEntries: num() };
    else if (flag === '--election-timeout-ms') s = { ...s, electionTimeoutMs: num() };
    else if (flag === '--heartbeat-interval-ms') s = { ...s, heartbeatIntervalMs: num() };
    else if (flag === '--only' && (v === 'load' || v === 'failover' || v === 'all')) { s = { ...s, only: v }; i++; }
    else if (flag === '--cases' && v !== undefined) { s = { ...s, cases: v }; i++; }
    else if (flag === '--base-port') s = { ...s, basePort: Math.min(65000, Math.floor(num())) };
    else usage(`unknown flag ${flag ?? ''}`);
  }
  return s;
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function median(xs: readonly number[]): number {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The round whose throughput is the median represents the case (its latencies and CPU come with it). */
function medianRun(runs: readonly Measurement[]): Measurement | undefined {
  const sorted = [...runs].sort((a, b) => a.opsPerSec - b.opsPerSec);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

interface Clusters {
  readonly raftkv: Record<RaftkvFlavour, RaftkvBenchCluster>;
  readonly etcd: EtcdBenchCluster;
}

interface Tools {
  readonly raftctl: string;
  readonly etcdBenchmark: string;
}

/** Key etcd's range case reads (written before the rounds; raftkv reads its 1,000 preloaded keys). */
const ETCD_READ_KEY = 'bench/read';

interface CaseRuns {
  raftkv: Measurement[];
  etcd: Measurement[];
  /** raftkv ops/s ÷ etcd ops/s of the same round. */
  roundRatios: number[];
}

async function runLoadCases(cl: Clusters, tools: Tools, cases: readonly LoadCase[], s: Settings): Promise<Map<string, CaseRuns>> {
  const results = new Map<string, CaseRuns>(cases.map((c) => [c.name, { raftkv: [], etcd: [], roundRatios: [] }]));
  const etcdRate = new Map<string, number>(cases.map((c) => [c.name, c.etcdRateGuess]));
  for (let round = 0; round < s.rounds; round++) {
    for (const [ci, lc] of cases.entries()) {
      const runs = results.get(lc.name) as CaseRuns;
      // Alternate which system goes first so slow drift on a shared machine hits both.
      const etcdFirst = (round + ci) % 2 === 1;
      const endpointsOf = async (c: BenchCluster): Promise<string[]> => {
        const leader = await c.leader();
        const others = lc.at === 'all' ? c.members.filter((m) => m !== leader) : [];
        return [leader, ...others].map((m) => `127.0.0.1:${m.clientPort}`);
      };
      const runRaftkv = async (): Promise<Measurement> => {
        const c = cl.raftkv[lc.raftkv];
        return runRaftctlBench(tools.raftctl, await endpointsOf(c), lc.spec, s.durationMs, c.pids());
      };
      const runEtcd = async (): Promise<Measurement | null> => {
        if (lc.etcdFrom !== undefined) return null;
        const total = Math.max(100, Math.round(((etcdRate.get(lc.name) ?? 1000) * s.durationMs) / 1000));
        const m = await runEtcdBenchmark(tools.etcdBenchmark, await endpointsOf(cl.etcd), lc.spec, total, s.durationMs, cl.etcd.pids(), ETCD_READ_KEY);
        etcdRate.set(lc.name, m.opsPerSec);
        return m;
      };
      let r: Measurement;
      let e: Measurement | null;
      if (etcdFirst) {
        e = await runEtcd();
        r = await runRaftkv();
      } else {
        r = await runRaftkv();
        e = await runEtcd();
      }
      runs.raftkv.push(r);
      if (e) runs.etcd.push(e);
      const eRef = e ?? results.get(lc.etcdFrom ?? '')?.etcd[round];
      if (eRef) runs.roundRatios.push(r.opsPerSec / eRef.opsPerSec);
      const line = (sys: string, m: Measurement): string =>
        `  round ${round + 1} ${lc.name.padEnd(58)} ${sys.padEnd(6)} ${m.opsPerSec.toFixed(0).padStart(6)} ops/s  p50 ${m.p50Ms.toFixed(2)} p99 ${m.p99Ms.toFixed(2)} ms  ` +
        `server ${m.serverCpuUsPerOp.toFixed(0)} µs/op client ${m.clientCpuUsPerOp.toFixed(0)} µs/op  errors ${m.errors}\n`;
      if (e) process.stdout.write(line('etcd', e));
      process.stdout.write(line('raftkv', r));
    }
  }
  return results;
}

/** Kills (or stops) the leader and times until a write is acknowledged again. */
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
    await sleep(1500);
    await c.leader();
  }
  return times;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function fmtMs(m: Measurement): string {
  return `${fmt(m.p50Ms, 2)} / ${fmt(m.p99Ms, 2)} / ${fmt(m.p999Ms, 2)}`;
}

function requireTool(path: string, hint: string): string {
  if (!existsSync(path)) usage(`${path} not found: ${hint}`);
  return path;
}

export interface ResultRow {
  readonly case: string;
  readonly spec: LoadSpec;
  readonly raftkvCluster: RaftkvFlavour;
  readonly raftkv: Measurement;
  readonly etcd: Measurement;
  readonly throughputRatio: number;
  readonly roundRatios: readonly number[];
  readonly p50Ratio: number;
  readonly p99Ratio: number;
  readonly serverCpuRatio: number;
}

async function main(): Promise<void> {
  const settings = parseArgs(process.argv.slice(2));
  if (!existsSync(join(repoRoot, 'dist', 'daemon', 'src', 'main.js'))) usage('run `make build` first');
  const cacheBin = join(repoRoot, '.cache', 'bin');
  const etcdBin = requireTool(join(cacheBin, 'etcd36'), 'run scripts/ensure-etcd36.sh (make bench does)');
  const tools: Tools = {
    raftctl: join(repoRoot, 'bin', 'raftctl'),
    etcdBenchmark: requireTool(join(cacheBin, 'etcd-benchmark'), 'run scripts/ensure-etcd36.sh (make bench does)'),
  };
  const etcdVersion = execFileSync(etcdBin, ['--version']).toString().split('\n')[0]?.replace('etcd Version: ', '') ?? '';
  const cases = LOAD_CASES.filter((c) => settings.cases === null || c.name.includes(settings.cases) || (c.etcdFrom === undefined && LOAD_CASES.some((d) => d.etcdFrom === c.name && d.name.includes(settings.cases ?? ''))));
  const work = mkdtempSync(join(tmpdir(), 'raftkv-bench-'));
  const timing = { electionTimeoutMs: settings.electionTimeoutMs, heartbeatIntervalMs: settings.heartbeatIntervalMs, snapshotEntries: settings.snapshotEntries };
  const raftkvBin = join(repoRoot, 'bin', 'raftkv');
  const cl: Clusters = {
    raftkv: {
      default: new RaftkvBenchCluster(join(work, 'raftkv'), settings.basePort, timing, raftkvBin),
      readindex: new RaftkvBenchCluster(join(work, 'raftkv-readindex'), settings.basePort + 100, timing, raftkvBin, ['--lease-read', 'false']),
    },
    etcd: new EtcdBenchCluster(join(work, 'etcd'), settings.basePort + 200, timing, etcdBin),
  };
  const all: BenchCluster[] = [cl.raftkv.default, cl.raftkv.readindex, cl.etcd];
  const cleanup = async (): Promise<void> => {
    await Promise.all(all.map((c) => c.stopAll()));
    rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const startedAt = new Date();
  const loadAtStart = loadAverage1m();
  try {
    process.stdout.write(`bench: starting 3-member raftkv (lease reads on; and one with --lease-read false) and etcd ${etcdVersion} clusters in ${work}; load average ${loadAtStart}\n`);
    await Promise.all(all.map((c) => c.start()));
    for (const c of [cl.raftkv.default, cl.raftkv.readindex]) {
      const leader = await c.leader();
      await preload({ ...DEFAULT_BENCH_OPTIONS, target: 'raftkv', endpoint: `127.0.0.1:${leader.clientPort}` });
    }
    if (!(await cl.etcd.tryWrite(ETCD_READ_KEY, 5000))) throw new Error('etcd: could not write the key the read cases read');
    const load = settings.only === 'failover' ? new Map<string, CaseRuns>() : await runLoadCases(cl, tools, cases, settings);
    // The ReadIndex cluster is idle from here on; stop it so failover runs on a quieter machine.
    await cl.raftkv.readindex.stopAll();
    const failover: Record<string, Record<string, number[]>> = {};
    if (settings.only !== 'load') {
      for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
        for (const c of [cl.etcd, cl.raftkv.default]) {
          (failover[signal] ??= {})[c.system] = await measureFailover(c, signal, settings.failoverTrials);
        }
      }
    }
    const loadAtEnd = loadAverage1m();
    const rows: ResultRow[] = [];
    for (const lc of cases) {
      const runs = load.get(lc.name);
      const r = medianRun(runs?.raftkv ?? []);
      const e = medianRun((lc.etcdFrom !== undefined ? load.get(lc.etcdFrom)?.etcd : runs?.etcd) ?? []);
      if (!r || !e || !runs) continue;
      rows.push({
        case: lc.name, spec: lc.spec, raftkvCluster: lc.raftkv, raftkv: r, etcd: e,
        throughputRatio: r.opsPerSec / e.opsPerSec, roundRatios: runs.roundRatios,
        p50Ratio: r.p50Ms / e.p50Ms, p99Ratio: r.p99Ms / e.p99Ms, serverCpuRatio: r.serverCpuUsPerOp / e.serverCpuUsPerOp,
      });
    }
    const lines: string[] = [];
    lines.push(
      `raftkv vs etcd ${etcdVersion} — ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'}), ` +
        `${Math.round(totalmem() / 2 ** 30)} GiB, load average ${fmt(loadAtStart, 2)} at the start and ${fmt(loadAtEnd, 2)} at the end. ` +
        `3 members each on loopback, fsync on, a snapshot every ${settings.snapshotEntries} entries, 256-byte values, both driven by their own client at the leader (rows marked "at all members": connections spread over the three; a raftkv follower answers a write with 307 and the client follows it, an etcd follower forwards it) ` +
        `(raftkv: raftctl bench, HTTP/1.1; etcd: etcd's benchmark tool, gRPC), median of ${settings.rounds} alternating round(s) of ${settings.durationMs / 1000} s${settings.quick ? ' (--quick: not for figures)' : ''}.`,
    );
    lines.push('');
    lines.push('| case | etcd ops/s | raftkv ops/s | ratio (per round) | etcd p50 / p99 / p99.9 ms | raftkv p50 / p99 / p99.9 ms | p50, p99 ratio | server CPU µs/op etcd / raftkv (ratio) | client CPU µs/op etcd / raftkv |');
    lines.push('|---|---:|---:|---|---|---|---|---|---|');
    for (const row of rows) {
      const perRound = row.roundRatios.map((x) => x.toFixed(2)).join(', ');
      lines.push(
        `| ${row.case} | ${fmt(row.etcd.opsPerSec)} | ${fmt(row.raftkv.opsPerSec)} | **${fmt(row.throughputRatio, 2)}×** (${perRound}) | ${fmtMs(row.etcd)} | ${fmtMs(row.raftkv)} | ` +
          `${fmt(row.p50Ratio, 2)}, ${fmt(row.p99Ratio, 2)} | ${fmt(row.etcd.serverCpuUsPerOp)} / ${fmt(row.raftkv.serverCpuUsPerOp)} (${fmt(row.serverCpuRatio, 2)}) | ${fmt(row.etcd.clientCpuUsPerOp)} / ${fmt(row.raftkv.clientCpuUsPerOp)} |`,
      );
    }
    const failoverRows: { kind: string; raftkvMs: number; etcdMs: number }[] = [];
    for (const [signal, per] of Object.entries(failover)) {
      const r = median(per['raftkv'] ?? []);
      const e = median(per['etcd'] ?? []);
      failoverRows.push({ kind: signal, raftkvMs: r, etcdMs: e });
      lines.push(`| failover after ${signal} of the leader, ms to the first acknowledged write (median of ${settings.failoverTrials}; lower is better) | ${fmt(e)} | ${fmt(r)} | ${fmt(r / e, 2)}× | | | | | |`);
    }
    lines.push('');
    lines.push(
      'Ratios are raftkv ÷ etcd from this run (throughput: higher is better for raftkv; latency and CPU: lower is). CPU is user + system time from /proc of the three member ' +
        'processes (server) and of the client process (raftkv: the load generator\'s own getrusage, Node start-up excluded; etcd: the tool\'s process, start-up included) ' +
        'divided by acknowledged operations; on this 2-core machine the client\'s CPU comes out of the servers\' share. etcd\'s tool runs a fixed request count sized from its ' +
        'previous rate, about the same seconds as raftkv\'s timed runs; its clients share gRPC connections ten to one, as etcd\'s performance guide runs it. ' +
        'etcd reads one key (`benchmark range`); raftkv reads 1,000 preloaded keys at random. etcd\'s mixed case is `benchmark txn-mixed --rw-ratio 9 --limit 1` ' +
        '(its reads are limit-1 range reads over the key space), its latency percentiles the mixture of the tool\'s read and write distributions. ' +
        'etcd has no lease reads: the lease row compares raftkv\'s default lease reads with etcd\'s ReadIndex reads of the row above. ' +
        'Failover: both with the same election timeout and heartbeat; the client retries every member every 5 ms with a 250 ms timeout.',
    );
    const table = lines.join('\n');
    process.stdout.write(`\n${table}\n\n`);
    const resultsDir = join(repoRoot, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const rawRuns = Object.fromEntries([...load.entries()].map(([k, v]) => [k, v]));
    const json = {
      startedAt: startedAt.toISOString(), etcdVersion,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? '', memoryGiB: Math.round(totalmem() / 2 ** 30), loadAverage1mAtStart: loadAtStart, loadAverage1mAtEnd: loadAtEnd },
      settings, rows, rawRuns, failover, failoverRows, table,
    };
    writeFileSync(join(resultsDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(resultsDir, 'latest.md'), `${table}\n`);
    const png = join(resultsDir, 'latest.png');
    try {
      await renderPlot(rows, png, work, `raftkv vs etcd ${etcdVersion}, ${startedAt.toISOString().slice(0, 10)}`);
      process.stdout.write(`bench: wrote ${join('bench', 'results', 'latest.json')}, latest.md and latest.png\n`);
    } catch (err) {
      process.stdout.write(`bench: wrote latest.json and latest.md; plot failed: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
