// The simulator's checkers catch real bugs: each deliberately broken core variant fails some
// seed in a bounded range with the expected property; the correct core passes the same kind
// of runs; a seed replays exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from '../../sim/cluster.js';
import type { SimResult } from '../../sim/cluster.js';
import type { BrokenVariants } from '../../../daemon/src/raft/index.js';
import type { Property } from '../../sim/invariants.js';

/** Runs seeds first..first+count-1 until one fails; returns it (or undefined). */
function firstFailure(broken: BrokenVariants, first: number, count: number): SimResult | undefined {
  for (let seed = first; seed < first + count; seed++) {
    const r = runSimulation({ seed, brokenVariants: broken, safetyTicks: 1500 });
    if (!r.ok) return r;
  }
  return undefined;
}

function caught(broken: BrokenVariants, expected: readonly Property[], count: number): void {
  const r = firstFailure(broken, 1, count);
  assert.ok(r !== undefined, `no seed in 1..${count} failed with ${JSON.stringify(broken)}`);
  assert.ok(expected.includes(r.property as Property), `seed ${r.seed} failed with ${String(r.property)} (${r.detail ?? ''}), expected one of ${expected.join(', ')}`);
}

test('voteTwiceInTerm is caught by election safety', () => {
  caught({ voteTwiceInTerm: true }, ['election-safety', 'log-matching'], 30);
});

test('readIndexWithoutQuorum is caught by the linearizability checker', () => {
  caught({ readIndexWithoutQuorum: true }, ['linearizability'], 150);
});

test('commitPreviousTermByCount (Figure 8) is caught by leader completeness / state machine safety', () => {
  caught({ commitPreviousTermByCount: true }, ['leader-completeness', 'state-machine-safety', 'commit-monotonic', 'log-matching'], 400);
});

test('the correct core passes, and a seed replays exactly', () => {
  for (let seed = 1000; seed < 1020; seed++) {
    const r = runSimulation({ seed, safetyTicks: 1000 });
    assert.ok(r.ok, `seed ${seed}: ${String(r.property)} ${r.detail ?? ''}`);
  }
  const a = runSimulation({ seed: 77, safetyTicks: 800 });
  const b = runSimulation({ seed: 77, safetyTicks: 800 });
  assert.equal(a.summary, b.summary);
  assert.equal(a.steps, b.steps);
  const lines: string[] = [];
  const c = runSimulation({ seed: 77, safetyTicks: 800, trace: (l) => lines.push(l) });
  assert.equal(c.steps, a.steps, 'tracing must not change the run');
  assert.ok(lines.some((l) => l.includes('becomes leader')));
});

test('cluster size option is honoured', () => {
  for (const nodes of [3, 5, 7]) assert.equal(runSimulation({ seed: 5, nodes, safetyTicks: 300 }).stats.nodes, nodes);
});

// Found by the simulator (seed 202545, 3 members): a member removed and re-added under the same
// name with a fresh disk (it keeps its term and vote) has not learned the configuration yet, but
// it grants votes; a stale member whose configuration still lists the name as a voter wins with
// that vote while the real configuration elects another leader in the same term. Until the core
// refuses (pre-)votes while its configuration is unknown, this is a known failure, kept as a todo
// so it runs and reports without failing the suite.
test('re-added member with a fresh disk cannot help elect a stale leader', { todo: 'raft core: a joiner that has not learned its configuration must not vote' }, () => {
  const r = runSimulation({ seed: 202545, nodes: 3 });
  assert.ok(r.ok, `${String(r.property)}: ${r.detail ?? ''}`);
});
