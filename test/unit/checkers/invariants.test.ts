// Each Raft safety checker fed a hand-made violating state, and the matching valid state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PropertyViolation, SafetyChecker } from '../../sim/invariants.js';
import type { LogView, Property } from '../../sim/invariants.js';

/** A log of (term, digest) pairs after a snapshot at (snapIndex, snapTerm). */
function log(entries: readonly [number, number][], snapIndex = 0, snapTerm = 0): LogView {
  return {
    snapshotIndex: snapIndex,
    snapshotTerm: snapTerm,
    termAt: (i) => (i === snapIndex ? snapTerm : entries[i - snapIndex - 1]?.[0]),
    digestAt: (i) => entries[i - snapIndex - 1]?.[1],
    lastIndex: () => snapIndex + entries.length,
  };
}

function violates(property: Property, f: () => void): void {
  assert.throws(f, (e: unknown) => e instanceof PropertyViolation && e.property === property);
}

test('election safety: two leaders in one term', () => {
  const c = new SafetyChecker();
  c.leaderElected('a', 1, log([]));
  c.leaderElected('a', 1, log([])); // the same leader again is fine
  c.leaderElected('b', 2, log([]));
  violates('election-safety', () => c.leaderElected('c', 2, log([])));
});

test('log matching: same index and term, different entry or different predecessor', () => {
  const c = new SafetyChecker();
  c.entriesPersisted('a', [{ index: 1, term: 1, digest: 10 }, { index: 2, term: 1, digest: 20 }], 0);
  c.entriesPersisted('b', [{ index: 1, term: 1, digest: 10 }, { index: 2, term: 1, digest: 20 }], 0);
  violates('log-matching', () => c.entriesPersisted('c', [{ index: 2, term: 1, digest: 99 }], 1));
  const d = new SafetyChecker();
  d.entriesPersisted('a', [{ index: 3, term: 2, digest: 30 }], 1);
  violates('log-matching', () => d.entriesPersisted('b', [{ index: 3, term: 2, digest: 30 }], 2));
});

test('leader completeness: a new leader lacks an entry committed in an earlier term', () => {
  const c = new SafetyChecker();
  const l = log([[1, 10], [2, 20]]);
  c.entriesPersisted('a', [{ index: 1, term: 1, digest: 10 }, { index: 2, term: 2, digest: 20 }], 0);
  c.commitPersisted('a', 2, 2, l);
  c.leaderElected('b', 3, log([[1, 10], [2, 20], [3, 30]]));
  violates('leader-completeness', () => c.leaderElected('c', 4, log([[1, 10], [3, 25]])));
  // A leader of the committing term itself (or an earlier one) is not bound by it.
  c.leaderElected('d', 2, log([[1, 10]]));
});

test('leader completeness holds through a snapshot that covers the committed entry', () => {
  const c = new SafetyChecker();
  c.commitPersisted('a', 2, 2, log([[1, 10], [2, 20]]));
  c.leaderElected('b', 3, log([[3, 30]], 2, 2));
  violates('leader-completeness', () => c.leaderElected('c', 4, log([[4, 40]], 2, 3)));
});

test('state machine safety: two members apply different entries at one index', () => {
  const c = new SafetyChecker();
  c.entryApplied('a', { index: 1, term: 1, digest: 10 });
  c.entryApplied('b', { index: 1, term: 1, digest: 10 });
  violates('state-machine-safety', () => c.entryApplied('c', { index: 1, term: 2, digest: 11 }));
  const d = new SafetyChecker();
  d.commitPersisted('a', 1, 1, log([[1, 10]]));
  violates('state-machine-safety', () => d.commitPersisted('b', 2, 1, log([[2, 12]])));
  violates('state-machine-safety', () => d.entryApplied('b', { index: 1, term: 1, digest: 77 }));
  violates('state-machine-safety', () => d.snapshotInstalled('c', 1, 3));
});

test('commit never goes back for a member (also across restarts); a re-added member starts over', () => {
  const c = new SafetyChecker();
  c.commitPersisted('a', 1, 2, log([[1, 1], [1, 2]]));
  c.commitPersisted('a', 1, 2, log([[1, 1], [1, 2]]));
  violates('commit-monotonic', () => c.commitPersisted('a', 1, 1, log([[1, 1], [1, 2]])));
  c.memberReset('a');
  c.commitPersisted('a', 1, 1, log([[1, 1]]));
});

test('applied never exceeds committed', () => {
  const c = new SafetyChecker();
  c.appliedWithinCommit('a', 3, 3);
  violates('applied-le-committed', () => c.appliedWithinCommit('a', 4, 3));
});

test('exactly-once: one client command taking effect at two indexes is caught; at one index on every member it is not', () => {
  const c = new SafetyChecker();
  c.executed(2, 7, 41, 'n1');
  c.executed(2, 7, 41, 'n2');
  c.executed(2, 8, 44, 'n1');
  assert.throws(() => c.executed(2, 7, 45, 'n3'), (e: unknown) => e instanceof PropertyViolation && e.property === 'exactly-once');
});
