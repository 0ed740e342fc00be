// The core asserts its invariants and throws RaftInvariantError loudly instead of continuing on
// a state it cannot trust: corrupt stored state at start, a broken random source, misuse of
// compaction. (The simulator reports such a throw as the `core-invariant` property.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawNode, RaftInvariantError, EntryType } from '../../../daemon/src/raft/index.js';
import type { Entry, RaftInitialState } from '../../../daemon/src/raft/index.js';
import { baseConfig, Network, cmd } from './harness.js';

const conf = { voters: ['a', 'b', 'c'], learners: [] };
const e = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });
const start = (initial: RaftInitialState) => new RawNode(baseConfig('a'), initial);
const snap0 = { index: 0, term: 0, confState: conf };

test('a consistent stored state starts (the control for the cases below)', () => {
  const n = start({ hardState: { term: 2, vote: 'a', commit: 2 }, snapshot: snap0, entries: [e(1, 1), e(2, 2)] });
  assert.equal(n.status().commit, 2);
});

test('corrupt stored state at start throws RaftInvariantError', () => {
  const cases: Array<[string, RaftInitialState]> = [
    ['hard state term below the snapshot term', { hardState: { term: 1, vote: '', commit: 5 }, snapshot: { index: 5, term: 3, confState: conf }, entries: [] }],
    ['log not contiguous', { hardState: { term: 2, vote: '', commit: 0 }, snapshot: snap0, entries: [e(1, 1), e(3, 2)] }],
    ['last log term above the hard state term', { hardState: { term: 1, vote: '', commit: 0 }, snapshot: snap0, entries: [e(1, 1), e(2, 4)] }],
    ['commit beyond the stored log', { hardState: { term: 1, vote: '', commit: 3 }, snapshot: snap0, entries: [e(1, 1)] }],
  ];
  for (const [what, initial] of cases) assert.throws(() => start(initial), RaftInvariantError, what);
});

test('a random source outside [0, max) is refused, not silently used', () => {
  const initial: RaftInitialState = { hardState: { term: 0, vote: '', commit: 0 }, snapshot: snap0, entries: [] };
  assert.throws(() => new RawNode(baseConfig('a', { rng: { intBelow: (max: number) => max } }), initial), RaftInvariantError);
  assert.throws(() => new RawNode(baseConfig('a', { rng: { intBelow: () => -1 } }), initial), RaftInvariantError);
});

test('confStateAt outside [snapshot, commit] throws', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').propose(cmd('x'));
  net.stabilize();
  const a = net.node('a');
  assert.throws(() => a.confStateAt(a.status().commit + 1), RaftInvariantError);
});
