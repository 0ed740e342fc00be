// `node dist/bench/put-cost.js [--connections 64] [--rounds 4] [--duration-ms 5000] [--cpu-prof DIR]`:
// what a sessioned put costs next to a plain one, in CPU rather than in throughput (on a shared
// 2-core machine throughput swings ±30 % from run to run; CPU per acknowledged put barely moves).
// Starts one 3-member cluster of this checkout (loopback, fsync on), then alternates
// `raftctl bench --sessions true|false` runs and charges each run's CPU (from /proc, within the
// bench's measured window) to the leader and the followers, in µs per put (the client's: whole run). With --cpu-prof DIR, each variant gets a
// fresh cluster whose members run under node's --cpu-prof: the leader's profile is summarized
// by self time per function (µs per put), the top lines of both variants side by side.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RaftkvBenchCluster } from './clusters.js';
import { loadAverage1m, processCpuMs } from './proc-cpu.js';
import type { BenchResult } from '../daemon/src/cli/bench/load-generator.js';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const USAGE = 'usage: node dist/bench/put-cost.js [--connections N] [--rounds N (1..10)] [--duration-ms N (1000..60000)] [--cpu-prof DIR] [--top N] [--trace-gc]';
const TIMING = { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 10_000 };
const WARMUP_RUN_MS = 4_000;
/** From spawning `raftctl bench` to its measured window: node start, connections, sessions, its 1 s warm-up. */
const MEASURE_DELAY_US = 2_000_000;

interface Settings { connections: number; rounds: number; durationMs: number; cpuProfDir: string | null; top: number; traceGc: boolean }

function usage(msg: string): never {
  process.stderr.write(`put-cost: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Settings {
  const s: Settings = { connections: 64, rounds: 4, durationMs: 5_000, cpuProfDir: null, top: 25, traceGc: false };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    const need = (): string => (v === undefined ? usage(`${argv[i]} needs a value`) : v);
    switch (argv[i]) {
      case '--connections': s.connections = Number(need()); i++; break;
      case '--rounds': s.rounds = Number(need()); i++; break;
      case '--duration-ms': s.durationMs = Number(need()); i++; break;
      case '--cpu-prof': s.cpuProfDir = resolve(need()); i++; break;
      case '--top': s.top = Number(need()); i++; break;
      case '--trace-gc': s.traceGc = true; break;
      default: usage(`unknown argument ${argv[i] ?? ''}`);
    }
  }
  if (!Number.isInteger(s.connections) || s.connections < 1 || s.connections > 1024) usage('--connections must be 1..1024');
  if (!Number.isInteger(s.rounds) || s.rounds < 1 || s.rounds > 10) usage('--rounds must be 1..10');
  if (!Number.isInteger(s.durationMs) || s.durationMs < 1000 || s.durationMs > 60_000) usage('--duration-ms must be 1000..60000');
  if (!Number.isInteger(s.top) || s.top < 1 || s.top > 200) usage('--top must be 1..200');
  return s;
}

async function benchPut(port: number, connections: number, durationMs: number, sessions: boolean): Promise<BenchResult> {
  const { stdout } = await run(process.execPath, [
    join(repoRoot, 'bin', 'raftctl'), 'bench', '--endpoint', `127.0.0.1:${port}`, '--op', 'put',
    '--connections', String(connections), '--duration', `${durationMs}ms`, '--warmup', '1s', '--value-bytes', '256',
    '--sessions', String(sessions), '--json',
  ], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout) as BenchResult;
}

interface Cost { ops: number; opsPerSec: number; leaderUs: number; followersUs: number; clientUs: number; gc: GcCost | null }

/** What V8's --trace-gc-nvp lines say about one run on one member, per put. */
interface GcCost { allocatedBytes: number; promotedBytes: number; pauseUs: number }

/** Sums the allocated/promoted bytes and pauses of the --trace-gc-nvp lines in `text`, per put. */
function gcCost(text: string, ops: number): GcCost {
  let allocated = 0;
  let promoted = 0;
  let pauseMs = 0;
  for (const line of text.split('\n')) {
    if (!line.includes(' gc=')) continue;
    allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
    pauseMs += Number(/ pause=([\d.]+)/.exec(line)?.[1] ?? 0);
  }
  return { allocatedBytes: allocated / ops, promotedBytes: promoted / ops, pauseUs: (pauseMs * 1000) / ops };
}

function logSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** One bench run with CPU charged per put (warm-up and set-up included: the same for both variants). */
async function measure(cluster: RaftkvBenchCluster, clusterDir: string, s: Settings, sessions: boolean): Promise<Cost> {
  const leader = await cluster.leader();
  const leaderLog = join(clusterDir, `${leader.name}.log`);
  const logFrom = logSize(leaderLog);
  const lp = leader.process?.pid ?? 0;
  const fps = cluster.members.filter((m) => m !== leader).map((m) => m.process?.pid ?? 0);
  // Members' CPU read every 100 ms and charged to the bench's measured window only (not to its
  // start-up, warm-up or the opening and closing of its sessions).
  const read = (): { tMs: number; l: number; f: number } => ({ tMs: Date.now(), l: processCpuMs(lp), f: fps.reduce((a, p) => a + processCpuMs(p), 0) });
  const samples = [read()];
  const sampler = setInterval(() => samples.push(read()), 100);
  let r: BenchResult;
  try {
    r = await benchPut(leader.clientPort, s.connections, s.durationMs, sessions);
  } finally {
    clearInterval(sampler);
  }
  samples.push(read());
  const at = (tMs: number, k: 'l' | 'f'): number => {
    let prev = samples[0] as { tMs: number; l: number; f: number };
    for (const x of samples) {
      if (x.tMs >= tMs) return x.tMs === prev.tMs ? x[k] : prev[k] + ((x[k] - prev[k]) * (tMs - prev.tMs)) / (x.tMs - prev.tMs);
      prev = x;
    }
    return prev[k];
  };
  const windowCpu = (k: 'l' | 'f'): number => at(r.measuredToEpochMs, k) - at(r.measuredFromEpochMs, k);
  const ops = Math.max(1, r.ok);
  // The client's CPU and the GC lines cover the whole run (warm-up included): per put of the whole run.
  const runOps = r.ok * ((s.durationMs + 1000) / s.durationMs);
  const gc = s.traceGc ? gcCost(readFileSync(leaderLog).subarray(logFrom).toString('utf8'), runOps) : null;
  return { ops: r.ok, opsPerSec: r.opsPerSec, leaderUs: (windowCpu('l') * 1000) / ops, followersUs: (windowCpu('f') * 1000) / ops / 2, clientUs: (r.clientCpuMs * 1000) / runOps, gc };
}

function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const m = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[m] ?? 0) : ((v[m - 1] ?? 0) + (v[m] ?? 0)) / 2;
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] }

/** Monotonic clock in µs: the clock V8 stamps profile samples with (CLOCK_MONOTONIC on Linux). */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function frameName(f: ProfileNode['callFrame']): string {
  const file = f.url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '').replace(/.*\/node_modules\//, 'node_modules/');
  return `${f.functionName || '(anonymous)'} ${file}${file ? `:${f.lineNumber + 1}` : ''}`;
}

/**
 * Self and inclusive time (µs) per function of a .cpuprofile within [fromUs, toUs), by
 * "name file:line"; inclusive names are marked "incl:" and count a function once per sample.
 */
function timeByFunction(profile: CpuProfile, fromUs: number, toUs: number): Map<string, number> {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const out = new Map<string, number>();
  const add = (k: string, us: number): void => {
    out.set(k, (out.get(k) ?? 0) + us);
  };
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    const us = profile.timeDeltas[i + 1] ?? 0;
    const n = byId.get(profile.samples[i] as number);
    if (n === undefined) continue;
    add(frameName(n.callFrame), us);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const name = frameName((byId.get(id) as ProfileNode).callFrame);
      if (seen.has(name) || name.startsWith('(root)')) continue;
      seen.add(name);
      add(`incl: ${name}`, us);
    }
  }
  return out;
}

/** A fresh cluster under --cpu-prof, one bench run, a clean stop; returns the leader's profile per put. */
async function profileVariant(s: Settings, root: string, sessions: boolean, round: number): Promise<{ perPut: Map<string, number>; ops: number; opsPerSec: number }> {
  const profDir = join(s.cpuProfDir as string, `${sessions ? 'sessions' : 'plain'}-${round + 1}`);
  rmSync(profDir, { recursive: true, force: true });
  mkdirSync(profDir, { recursive: true });
  const cluster = new RaftkvBenchCluster(join(root, `${sessions ? 's' : 'p'}${round}`), 23_400, TIMING, join(repoRoot, 'bin', 'raftkv'), [], ['--cpu-prof', `--cpu-prof-dir=${profDir}`]);
  let leaderPid = 0;
  let result: BenchResult;
  let windowUs = { from: 0, to: 0 };
  try {
    await cluster.start();
    const leader = await cluster.leader();
    leaderPid = leader.process?.pid ?? 0;
    await benchPut(leader.clientPort, 16, WARMUP_RUN_MS, sessions);
    const spawnedUs = monotonicUs();
    result = await benchPut(leader.clientPort, s.connections, s.durationMs, sessions);
    // The bench's own measured window: after its start-up (process, connections, sessions) and 1 s warm-up.
    windowUs = { from: spawnedUs + MEASURE_DELAY_US, to: Math.min(monotonicUs(), spawnedUs + MEASURE_DELAY_US + s.durationMs * 1000 - 200_000) };
  } finally {
    // SIGTERM: the members exit through their own handler, and node writes the profiles.
    await Promise.all(cluster.members.map((m) => cluster.stopMember(m, 'SIGTERM')));
  }
  const file = readdirSync(profDir).find((f) => f.includes(`.${leaderPid}.`) && f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no profile of the leader (pid ${leaderPid}) in ${profDir}`);
  const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8')) as CpuProfile;
  const self = timeByFunction(profile, windowUs.from, windowUs.to);
  // Puts within the window, at the run's measured rate.
  const ops = result.opsPerSec * ((windowUs.to - windowUs.from) / 1e6);
  const perPut = new Map([...self].map(([k, us]) => [k, us / ops]));
  return { perPut, ops: result.ok, opsPerSec: result.opsPerSec };
}

async function main(): Promise<void> {
  const s = parseArgs(process.argv.slice(2));
  const root = mkdtempSync(join(tmpdir(), 'raftkv-put-cost-'));
  try {
    if (s.cpuProfDir !== null) {
      // Means over rounds; the variants alternate which goes first.
      const runs: Record<'plain' | 'sessions', { perPut: Map<string, number>; opsPerSec: number }[]> = { plain: [], sessions: [] };
      for (let round = 0; round < s.rounds; round++) {
        for (const sessions of round % 2 === 0 ? [false, true] : [true, false]) {
          const r = await profileVariant(s, root, sessions, round);
          runs[sessions ? 'sessions' : 'plain'].push(r);
          process.stdout.write(`  round ${round + 1} ${sessions ? 'sessions' : 'plain   '} ${r.opsPerSec.toFixed(0)} ops/s, load average ${loadAverage1m().toFixed(1)}\n`);
        }
      }
      const mean = (rs: { perPut: Map<string, number>; opsPerSec: number }[]): { perPut: Map<string, number>; opsPerSec: number } => {
        const m = new Map<string, number>();
        for (const r of rs) for (const [k, v] of r.perPut) m.set(k, (m.get(k) ?? 0) + v / rs.length);
        return { perPut: m, opsPerSec: rs.reduce((a, r) => a + r.opsPerSec / rs.length, 0) };
      };
      const plain = mean(runs.plain);
      const sess = mean(runs.sessions);
      const total = (m: Map<string, number>): number => [...m].filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('incl:')).reduce((a, [, b]) => a + b, 0);
      process.stdout.write(`leader CPU per put (profile samples in the measured window, idle excluded, µs): plain ${total(plain.perPut).toFixed(1)} (${plain.opsPerSec.toFixed(0)} ops/s), sessions ${total(sess.perPut).toFixed(1)} (${sess.opsPerSec.toFixed(0)} ops/s)\n`);
      const names = new Set([...plain.perPut.keys(), ...sess.perPut.keys()]);
      const rows = [...names].map((n) => ({ n, p: plain.perPut.get(n) ?? 0, q: sess.perPut.get(n) ?? 0 }));
      process.stdout.write('\nlargest differences (sessions − plain, µs per put):\n');
      for (const r of rows.filter((x) => !x.n.startsWith('incl:')).sort((a, b) => Math.abs(b.q - b.p) - Math.abs(a.q - a.p)).slice(0, s.top)) {
        process.stdout.write(`  ${(r.q - r.p).toFixed(2).padStart(7)}  plain ${r.p.toFixed(2).padStart(6)}  sessions ${r.q.toFixed(2).padStart(6)}  ${r.n}\n`);
      }
      process.stdout.write('\nlargest inclusive differences (sessions − plain, µs per put):\n');
      const incl = rows.filter((r) => r.n.startsWith('incl:'));
      for (const r of [...incl].sort((a, b) => Math.abs(b.q - b.p) - Math.abs(a.q - a.p)).slice(0, s.top)) {
        process.stdout.write(`  ${(r.q - r.p).toFixed(2).padStart(7)}  plain ${r.p.toFixed(2).padStart(6)}  sessions ${r.q.toFixed(2).padStart(6)}  ${r.n}\n`);
      }
      process.stdout.write('\nlargest self times with sessions (µs per put):\n');
      for (const r of rows.filter((x) => !x.n.startsWith('incl:')).sort((a, b) => b.q - a.q).slice(0, s.top)) {
        process.stdout.write(`  ${r.q.toFixed(2).padStart(7)}  (plain ${r.p.toFixed(2).padStart(6)})  ${r.n}\n`);
      }
      process.stdout.write(`\nprofiles: ${s.cpuProfDir}/{plain,sessions}-N\n`);
      return;
    }
    const clusterDir = join(root, 'c');
    const cluster = new RaftkvBenchCluster(clusterDir, 23_400, TIMING, join(repoRoot, 'bin', 'raftkv'), [], s.traceGc ? ['--trace-gc-nvp'] : []);
    const costs: Record<'plain' | 'sessions', Cost[]> = { plain: [], sessions: [] };
    const load: number[] = [];
    try {
      await cluster.start();
      await benchPut((await cluster.leader()).clientPort, 16, WARMUP_RUN_MS, false);
      for (let round = 0; round < s.rounds; round++) {
        const order = round % 2 === 0 ? [false, true] : [true, false];
        for (const sessions of order) {
          const c = await measure(cluster, clusterDir, s, sessions);
          costs[sessions ? 'sessions' : 'plain'].push(c);
          load.push(loadAverage1m());
          process.stdout.write(`  round ${round + 1} c=${s.connections} ${sessions ? 'sessions' : 'plain   '} ${c.opsPerSec.toFixed(0).padStart(6)} ops/s  CPU µs/put: leader ${c.leaderUs.toFixed(1)}  follower ${c.followersUs.toFixed(1)}  client ${c.clientUs.toFixed(1)}${c.gc ? `  leader GC: ${(c.gc.allocatedBytes / 1024).toFixed(2)} KiB allocated, ${c.gc.promotedBytes.toFixed(0)} B promoted, ${c.gc.pauseUs.toFixed(1)} µs paused` : ''}\n`);
        }
      }
    } finally {
      await cluster.stopAll();
    }
    process.stdout.write(`\nc=${s.connections}, ${s.rounds} rounds of ${s.durationMs / 1000} s, medians, load average ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)}\n`);
    process.stdout.write(`| variant | ops/s | leader µs/put | follower µs/put | client µs/put |${s.traceGc ? ' leader KiB allocated/put | leader B promoted/put | leader GC pause µs/put |' : ''}\n|---|---|---|---|---|${s.traceGc ? '---|---|---|' : ''}\n`);
    for (const k of ['plain', 'sessions'] as const) {
      const cs = costs[k];
      process.stdout.write(`| ${k} | ${median(cs.map((c) => c.opsPerSec)).toFixed(0)} | ${median(cs.map((c) => c.leaderUs)).toFixed(1)} | ${median(cs.map((c) => c.followersUs)).toFixed(1)} | ${median(cs.map((c) => c.clientUs)).toFixed(1)} |${s.traceGc ? ` ${(median(cs.map((c) => c.gc?.allocatedBytes ?? 0)) / 1024).toFixed(2)} | ${median(cs.map((c) => c.gc?.promotedBytes ?? 0)).toFixed(0)} | ${median(cs.map((c) => c.gc?.pauseUs ?? 0)).toFixed(1)} |` : ''}\n`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`put-cost: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
