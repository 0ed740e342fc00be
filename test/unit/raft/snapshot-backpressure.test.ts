// Log compaction and snapshots (§7), and backpressure on uncommitted bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd, text } from './harness.js';
import { RaftError, RaftInvariantError } from '../../../daemon/src/raft/index.js';

const code = (c: string) => (e: unknown) => e instanceof RaftError && e.code === c;

test('§7 a follower behind the first retained index gets a Snapshot, then the log after it', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.partition('c');
  for (let i = 0; i < 6; i++) net.node('a').propose(cmd(`v${i}`));
  net.stabilize();
  const a = net.node('a');
  const meta = a.compact(5);
  assert.deepEqual({ index: meta.index, term: meta.term }, { index: 5, term: 1 });
  assert.deepEqual(meta.confState, { voters: ['a', 'b', 'c'], learners: [] });
  assert.equal(a.status().snapshotIndex, 5);
  net.heal();
  for (let i = 0; i < 4; i++) {
    net.tick(1, ['a']);
    net.stabilize();
  }
  const snaps = net.sent.filter(is.and(is.type(MessageType.Snapshot), is.to('c')));
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0]!.snapshot?.index, 5);
  const c = net.get('c');
  assert.equal(c.disk.snapshot.index, 5, 'the follower persisted the snapshot from its Ready');
  assert.equal(c.node.status().lastIndex, 7);
  assert.deepEqual(c.applied.map(text), ['v4', 'v5'], 'committed entries start after the snapshot (index 6 on)');
  a.reportSnapshot('c', true);
  assert.equal(a.status().progress.get('c')?.state, 'replicate');
});

test('compact() refuses to go beyond applied; a restart from a snapshot re-delivers only later entries', () => {
  const net = new Network(['a']);
  net.elect('a');
  for (let i = 0; i < 4; i++) net.node('a').propose(cmd(`v${i}`));
  net.processAll();
  assert.throws(() => net.node('a').compact(99), RaftInvariantError);
  const meta = net.node('a').compact(3);
  const m = net.get('a');
  m.disk.snapshot = meta;
  m.disk.entries = m.disk.entries.filter((e) => e.index > 3);
  net.restart('a');
  net.processAll();
  assert.deepEqual(net.get('a').applied.map(text), ['v2', 'v3']);
});

test('backpressure: proposals beyond maxUncommittedBytes are refused until entries commit', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ maxUncommittedBytes: 100 }));
  net.elect('a');
  const a = net.node('a');
  assert.throws(() => a.propose(new Uint8Array(101)), code('ProposalTooLarge'));
  net.partition('a');
  a.propose(new Uint8Array(100)); // a single proposal on an empty backlog is always allowed
  assert.throws(() => a.propose(new Uint8Array(1)), code('Backpressure'));
  net.heal();
  for (let i = 0; i < 3; i++) {
    net.tick(1, ['a']);
    net.stabilize();
  }
  assert.equal(a.status().commit, 2);
  a.propose(new Uint8Array(60));
  assert.throws(() => a.propose(new Uint8Array(60)), code('Backpressure'));
  a.propose(new Uint8Array(40));
});

test('step() ignores malformed, misaddressed and unknown-sender messages', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  const before = a.status();
  const junk: unknown[] = [
    null,
    {},
    { type: 99, from: 'b', to: 'a', term: 1 },
    { type: MessageType.AppendResp, from: 'zz', to: 'a', term: 1, logTerm: 0, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 },
    { type: MessageType.AppendResp, from: 'b', to: 'a', term: 1, logTerm: 0, index: 999, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 },
    { type: MessageType.AppendResp, from: 'b', to: 'x', term: 1, logTerm: 0, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 },
    { type: MessageType.Append, from: 'b', to: 'a', term: 1, logTerm: 0, index: -1, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 },
    { type: MessageType.Snapshot, from: 'b', to: 'c', term: 1, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 },
  ];
  for (const j of junk) {
    a.step(j as never);
    net.node('c').step(j as never);
  }
  assert.deepEqual(a.status().progress, before.progress);
  assert.equal(a.status().role, 'leader');
});
