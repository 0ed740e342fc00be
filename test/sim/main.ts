// Command line of the deterministic simulator.
//   node dist/test/sim/main.js --seeds 500            seeds 1..500 (sizes drawn per seed)
//   node dist/test/sim/main.js --seed 42 --trace      replay one seed with a readable trace
// Options: --nodes 3|5|7, --first N (first seed of a --seeds range), --ticks N (safety phase),
// --broken commitPreviousTermByCount|voteTwiceInTerm|readIndexWithoutQuorum|voteWithoutConf|neverSendSnapshot (checker demos),
// --keep-going (run every seed even after a failure). Exit code 1 on any failure.
import { performance } from 'node:perf_hooks';
import type { BrokenVariants } from '../../daemon/src/raft/index.js';
import { DEFAULT_SAFETY_TICKS, runSimulation } from './cluster.js';
import type { SimOptions, SimResult } from './cluster.js';

interface Args {
  seeds: number;
  first: number;
  seed: number | undefined;
  trace: boolean;
  nodes: number | undefined;
  ticks: number;
  broken: BrokenVariants | undefined;
  keepGoing: boolean;
}

const BROKEN = ['commitPreviousTermByCount', 'voteTwiceInTerm', 'readIndexWithoutQuorum', 'voteWithoutConf', 'neverSendSnapshot'] as const;

function usage(msg: string): never {
  process.stderr.write(`sim: ${msg}\nusage: main.js [--seeds N [--first S]] [--seed N] [--trace] [--nodes 3|5|7] [--ticks N] [--broken ${BROKEN.join('|')}] [--keep-going]\n`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { seeds: 100, first: 1, seed: undefined, trace: false, nodes: undefined, ticks: DEFAULT_SAFETY_TICKS, broken: undefined, keepGoing: false };
  const int = (i: number, name: string): number => {
    const v = Number(argv[i + 1]);
    if (!Number.isSafeInteger(v) || v < 0) usage(`${name} needs a non-negative integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    switch (f) {
      case '--seeds': a.seeds = int(i++, f); break;
      case '--first': a.first = int(i++, f); break;
      case '--seed': a.seed = int(i++, f); break;
      case '--ticks': a.ticks = int(i++, f); break;
      case '--trace': a.trace = true; break;
      case '--keep-going': a.keepGoing = true; break;
      case '--nodes': {
        const n = int(i++, f);
        if (n !== 3 && n !== 5 && n !== 7) usage('--nodes must be 3, 5 or 7');
        a.nodes = n;
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
  return a;
}

function report(r: SimResult, args: Args): void {
  const extra = `${args.nodes !== undefined ? ` --nodes ${args.nodes}` : ''}${args.ticks !== DEFAULT_SAFETY_TICKS ? ` --ticks ${args.ticks}` : ''}${args.broken !== undefined ? ` --broken ${Object.keys(args.broken).join('')}` : ''}`;
  process.stdout.write(`FAIL seed=${r.seed} property=${r.property ?? '?'}\n  ${r.detail ?? ''}\n  ${r.summary}\n  replay: npm run sim -- --seed ${r.seed}${extra} --trace\n`);
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const seeds = args.seed !== undefined ? [args.seed] : Array.from({ length: args.seeds }, (_, i) => args.first + i);
  const started = performance.now();
  let passed = 0;
  let failed = 0;
  let steps = 0;
  let ticks = 0;
  let linUnknown = 0;
  for (const seed of seeds) {
    const opts: SimOptions = {
      seed,
      safetyTicks: args.ticks,
      ...(args.nodes !== undefined ? { nodes: args.nodes } : {}),
      ...(args.broken !== undefined ? { brokenVariants: args.broken } : {}),
      ...(args.trace ? { trace: (line: string) => process.stdout.write(`${line}\n`) } : {}),
    };
    const r = runSimulation(opts);
    steps += r.steps;
    ticks += r.ticks;
    if (r.stats.linearizability === 'unknown') linUnknown++;
    if (r.ok) {
      passed++;
      if (args.seed !== undefined) process.stdout.write(`ok seed=${seed} ${r.summary}\n`);
    } else {
      failed++;
      report(r, args);
      if (!args.keepGoing) break;
    }
  }
  const secs = (performance.now() - started) / 1000;
  process.stdout.write(`sim: ${passed + failed} seeds, ${ticks} ticks, ${steps} steps in ${secs.toFixed(1)}s (${Math.round(steps / Math.max(secs, 1e-3))} steps/s, ${((passed + failed) / Math.max(secs, 1e-3) * 60).toFixed(0)} seeds/min; linearizability undecided within the search bound on ${linUnknown} seeds)\n`);
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main();
