// Command line of the deterministic simulator.
//   node dist/test/sim/main.js --seeds 500            seeds 1..500 (sizes drawn per seed)
//   node dist/test/sim/main.js --seed 42 --trace      replay one seed with a readable trace
//   node dist/test/sim/main.js --seeds 500 --first-from-commit      500 seeds from a start drawn from HEAD's hash (CI)
//   node dist/test/sim/main.js --seeds 100000 --first 5000000 --nodes 3,5,7 --workers 2 --keep-going   (make sim-long)
// Options: --nodes 3|5|7 or a list (sizes taken in turn), --first N (first seed of a --seeds range),
// --ticks N (safety phase), --broken VARIANT (checker demos), --keep-going (run every seed even after
// a failure), --workers N (worker threads), --max-minutes M (start no seed after M minutes).
// Exit code 1 on any failure, 2 on a usage error.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { BrokenVariants } from '../../daemon/src/raft/index.js';
import { DEFAULT_SAFETY_TICKS, runSimulation } from './cluster.js';
import type { SimOptions, SimResult } from './cluster.js';

interface Args {
  seeds: number;
  first: number;
  firstFromCommit: boolean;
  seed: number | undefined;
  trace: boolean;
  nodes: readonly number[];
  ticks: number;
  broken: BrokenVariants | undefined;
  keepGoing: boolean;
  workers: number;
  maxMinutes: number;
}

const BROKEN = ['commitPreviousTermByCount', 'voteTwiceInTerm', 'readIndexWithoutQuorum', 'voteWithoutConf', 'neverSendSnapshot', 'silentToStaleLeader', 'promoteBelowCommit', 'trustStaleAcks'] as const;
const USAGE = `usage: main.js [--seeds N [--first S | --first-from-commit]] [--seed N] [--trace] [--nodes 3|5|7[,..]] [--ticks N] [--broken ${BROKEN.join('|')}] [--keep-going] [--workers N] [--max-minutes M]`;
/** Seeds drawn from a commit hash fall in 1..COMMIT_SEED_SPACE (far from the small pinned seeds). */
const COMMIT_SEED_SPACE = 1_000_000_000;
const PROGRESS_EVERY_MS = 10_000;
const MAX_WORKERS = 16;

function usage(msg: string): never {
  process.stderr.write(`sim: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { seeds: 100, first: 1, firstFromCommit: false, seed: undefined, trace: false, nodes: [], ticks: DEFAULT_SAFETY_TICKS, broken: undefined, keepGoing: false, workers: 1, maxMinutes: 0 };
  const int = (i: number, name: string): number => {
    const v = Number(argv[i + 1]);
    if (argv[i + 1] === undefined || !Number.isSafeInteger(v) || v < 0) usage(`${name} needs a non-negative integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    switch (f) {
      case '--seeds': a.seeds = int(i++, f); break;
      case '--first': a.first = int(i++, f); break;
      case '--first-from-commit': a.firstFromCommit = true; break;
      case '--seed': a.seed = int(i++, f); break;
      case '--ticks': a.ticks = int(i++, f); break;
      case '--trace': a.trace = true; break;
      case '--keep-going': a.keepGoing = true; break;
      case '--max-minutes': a.maxMinutes = int(i++, f); break;
      case '--workers': {
        a.workers = int(i++, f);
        if (a.workers < 1 || a.workers > MAX_WORKERS) usage(`--workers must be 1..${MAX_WORKERS}`);
        break;
      }
      case '--nodes': {
        const list = (argv[++i] ?? '').split(',').map(Number);
        if (list.length === 0 || list.some((n) => n !== 3 && n !== 5 && n !== 7)) usage('--nodes must be 3, 5 or 7, or a comma-separated list of them');
        a.nodes = list;
        break;
      }
      case '--broken': {
        const b = argv[++i];
        if (!(BROKEN as readonly (string | undefined)[]).includes(b)) usage(`--broken must be one of ${BROKEN.join(', ')}`);
        a.broken = { [b as string]: true };
        break;
      }
      default:
        usage(`unknown argument ${String(f)}`);
    }
  }
  if (a.firstFromCommit && a.seed !== undefined) usage('--first-from-commit goes with --seeds, not --seed');
  if (a.trace && a.workers > 1) usage('--trace needs --workers 1');
  return a;
}

/** A start seed that changes with every commit, so each CI run explores seeds no run tried. */
function firstFromCommit(): { first: number; commit: string } {
  let commit: string;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    usage('--first-from-commit needs a git checkout (git rev-parse HEAD failed)');
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) usage(`--first-from-commit: unexpected commit id ${commit}`);
  return { first: (parseInt(commit.slice(0, 12), 16) % COMMIT_SEED_SPACE) + 1, commit };
}

/** Cluster size of the i-th seed of the run: the --nodes list in turn, or drawn from the seed. */
function nodesFor(args: Args, i: number): number | undefined {
  return args.nodes.length === 0 ? undefined : args.nodes[i % args.nodes.length];
}

interface SeedOutcome {
  readonly seed: number;
  readonly nodes: number | undefined;
  readonly ok: boolean;
  readonly steps: number;
  readonly ticks: number;
  readonly linUnknown: boolean;
  readonly failure?: string;
}

function runOne(args: Args, seed: number, nodes: number | undefined): SeedOutcome {
  const opts: SimOptions = {
    seed,
    safetyTicks: args.ticks,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(args.broken !== undefined ? { brokenVariants: args.broken } : {}),
    ...(args.trace ? { trace: (line: string) => process.stdout.write(`${line}\n`) } : {}),
  };
  const r = runSimulation(opts);
  const base = { seed, nodes, ok: r.ok, steps: r.steps, ticks: r.ticks, linUnknown: r.stats.linearizability === 'unknown' };
  return r.ok ? base : { ...base, failure: describeFailure(r, args, nodes) };
}

function describeFailure(r: SimResult, args: Args, nodes: number | undefined): string {
  const extra = `${nodes !== undefined ? ` --nodes ${nodes}` : ''}${args.ticks !== DEFAULT_SAFETY_TICKS ? ` --ticks ${args.ticks}` : ''}${args.broken !== undefined ? ` --broken ${Object.keys(args.broken).join('')}` : ''}`;
  return `FAIL seed=${r.seed} property=${r.property ?? '?'}\n  ${r.detail ?? ''}\n  ${r.summary}\n  replay: npm run sim -- --seed ${r.seed}${extra} --trace\n`;
}

interface WorkerJob {
  readonly args: Args;
  readonly seeds: readonly { seed: number; nodes: number | undefined }[];
  readonly deadline: number;
}

/** Runs seeds one by one, in this thread or in workers; calls `done` for each outcome. */
async function runAll(args: Args, seeds: readonly { seed: number; nodes: number | undefined }[], deadline: number, onOutcome: (o: SeedOutcome) => boolean): Promise<void> {
  if (args.workers <= 1) {
    for (const s of seeds) {
      if (deadline > 0 && Date.now() >= deadline) return;
      if (!onOutcome(runOne(args, s.seed, s.nodes))) return;
    }
    return;
  }
  const slices = Array.from({ length: args.workers }, (_, w) => seeds.filter((_s, i) => i % args.workers === w));
  const workers = slices.map((slice) => new Worker(new URL(import.meta.url), { workerData: { args, seeds: slice, deadline } satisfies WorkerJob }));
  await new Promise<void>((resolve, reject) => {
    let live = workers.length;
    let stopped = false;
    const stopAll = (): void => {
      if (stopped) return;
      stopped = true;
      for (const w of workers) void w.terminate();
    };
    for (const w of workers) {
      w.on('message', (o: SeedOutcome) => {
        if (!stopped && !onOutcome(o)) stopAll();
      });
      w.on('error', (e) => {
        stopAll();
        reject(e);
      });
      w.on('exit', () => {
        if (--live === 0) resolve();
      });
    }
  });
}

function workerMain(): void {
  const job = workerData as WorkerJob;
  for (const s of job.seeds) {
    if (job.deadline > 0 && Date.now() >= job.deadline) return;
    parentPort?.postMessage(runOne(job.args, s.seed, s.nodes));
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.firstFromCommit) {
    const { first, commit } = firstFromCommit();
    args.first = first;
    process.stdout.write(`sim: seeds ${first}..${first + args.seeds - 1}, start drawn from commit ${commit.slice(0, 12)}\n`);
  }
  const seeds = args.seed !== undefined
    ? [{ seed: args.seed, nodes: nodesFor(args, 0) }]
    : Array.from({ length: args.seeds }, (_, i) => ({ seed: args.first + i, nodes: nodesFor(args, i) }));
  const started = performance.now();
  const deadline = args.maxMinutes > 0 ? Date.now() + args.maxMinutes * 60_000 : 0;
  let passed = 0;
  let failed = 0;
  let steps = 0;
  let ticks = 0;
  let linUnknown = 0;
  let lastProgress = Date.now();
  const failures: string[] = [];
  const progress = (): void => {
    const secs = (performance.now() - started) / 1000;
    const done = passed + failed;
    const rate = done / Math.max(secs, 1e-3);
    const etaMin = (seeds.length - done) / Math.max(rate, 1e-9) / 60;
    process.stdout.write(`sim: progress ${done}/${seeds.length} seeds, ${failed} failed, ${(rate * 60).toFixed(0)} seeds/min, ${(steps / 1e6).toFixed(1)}M steps, ${secs.toFixed(0)} s elapsed, ~${etaMin.toFixed(0)} min left\n`);
  };
  await runAll(args, seeds, deadline, (o) => {
    steps += o.steps;
    ticks += o.ticks;
    if (o.linUnknown) linUnknown++;
    if (o.ok) {
      passed++;
      if (args.seed !== undefined) process.stdout.write(`ok seed=${o.seed}\n`);
    } else {
      failed++;
      failures.push(o.failure ?? '');
      process.stdout.write(o.failure ?? '');
    }
    if (seeds.length > 1000 && Date.now() - lastProgress >= PROGRESS_EVERY_MS) {
      lastProgress = Date.now();
      progress();
    }
    return o.ok || args.keepGoing;
  });
  const secs = (performance.now() - started) / 1000;
  const ran = passed + failed;
  if (ran < seeds.length && deadline > 0 && Date.now() >= deadline) process.stdout.write(`sim: --max-minutes ${args.maxMinutes} reached after ${ran} of ${seeds.length} seeds\n`);
  if (failures.length > 1) process.stdout.write(`sim: ${failures.length} failing seeds:\n${failures.map((f) => `  ${f.split('\n').find((l) => l.includes('replay:'))?.trim() ?? f}`).join('\n')}\n`);
  process.stdout.write(`sim: ${ran} seeds, ${ticks} ticks, ${steps} steps in ${secs.toFixed(1)}s (${Math.round(steps / Math.max(secs, 1e-3))} steps/s, ${(ran / Math.max(secs, 1e-3) * 60).toFixed(0)} seeds/min, ${args.workers} worker${args.workers > 1 ? 's' : ''}; linearizability undecided within the search bound on ${linUnknown} seeds)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

if (isMainThread) {
  main().catch((e: unknown) => {
    process.stderr.write(`sim: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
} else {
  workerMain();
}
