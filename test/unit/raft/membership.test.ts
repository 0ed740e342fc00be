// Membership: learners, one change at a time, promote only when caught up, removal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd } from './harness.js';
import { RaftError, encodeConfChange, decodeConfChange, encodeConfState, decodeConfState } from '../../../daemon/src/raft/index.js';
import type { ConfChange } from '../../../daemon/src/raft/index.js';

const NO_CTX = new Uint8Array(0);
const cc = (type: ConfChange['type'], node: string): ConfChange => ({ type, node, context: NO_CTX });
const code = (c: string) => (e: unknown) => e instanceof RaftError && e.code === c;

test('ConfState encoding round-trips and rejects foreign bytes', () => {
  const cs = { voters: ['a', 'bé'], learners: ['c'] };
  assert.deepEqual(decodeConfState(encodeConfState(cs)), cs);
  assert.equal(decodeConfState(new Uint8Array([9, 9])), null);
  assert.equal(decodeConfState(new Uint8Array(0)), null);
});

test('ConfChange encoding round-trips', () => {
  const x: ConfChange = { type: 'promote', node: 'member-é', context: new Uint8Array([1, 2, 3]) };
  const y = decodeConfChange(encodeConfChange(x));
  assert.deepEqual({ ...y, context: [...y.context] }, { ...x, context: [1, 2, 3] });
  assert.throws(() => encodeConfChange(cc('addLearner', '')), code('InvalidConfChange'));
});

test('a learner never campaigns and its acks do not count towards commit', () => {
  const net = new Network(['a', 'b'], () => ({}), ['c', 'd']);
  for (let i = 0; i < 50; i++) net.tick(1, ['c', 'd']);
  net.processAll();
  assert.equal(net.queue.length, 0, 'learners never campaign');
  net.elect('a');
  assert.equal(net.node('c').status().commit, 1);
  net.partition('b');
  net.node('a').propose(cmd('x'));
  net.stabilize();
  assert.equal(net.node('c').status().lastIndex, 2, 'learners receive the log');
  assert.equal(net.node('a').status().commit, 1, 'two learner acks + leader are not a quorum of {a, b}');
  net.heal();
  for (let i = 0; i < 3; i++) {
    net.tick(1, ['a']);
    net.stabilize();
  }
  assert.equal(net.node('a').status().commit, 2);
});

test('a learner vote does not count for a candidate', () => {
  const net = new Network(['a', 'b', 'c'], () => ({}), ['d']);
  net.partition('b', ['a', 'c']);
  net.partition('a', ['c']);
  net.node('a').campaign(); // a reaches only d (a learner): no quorum of voters
  net.stabilize();
  assert.notEqual(net.node('a').status().role, 'leader');
  assert.ok(!net.sent.some((m) => m.to === 'd' && m.type === MessageType.Vote), 'learners are not even asked');
});

test('addLearner then promote: refused while the learner lags, accepted once caught up', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ maxLearnerLagEntries: 3 }));
  net.elect('a');
  const a = net.node('a');
  a.proposeConfChange(cc('addLearner', 'd'));
  net.stabilize();
  assert.deepEqual(a.status().confState.learners, ['d']);
  // The bootstrap configuration lives in the index-0 snapshot, not the log: the driver
  // snapshots before adding a learner so the learner starts from a snapshot.
  a.compact(a.status().applied);
  const d = net.add('d', { voters: [], learners: [] }, { maxLearnerLagEntries: 3 });
  net.partition('d');
  for (let i = 0; i < 10; i++) a.propose(cmd(`v${i}`));
  net.stabilize();
  assert.throws(() => a.proposeConfChange(cc('promote', 'd')), code('LearnerNotCaughtUp'));
  net.heal();
  for (let i = 0; i < 3; i++) {
    net.tick(1, ['a']);
    net.stabilize();
  }
  assert.ok(net.sent.some((m) => m.to === 'd' && m.type === MessageType.Snapshot));
  assert.equal(d.node.status().lastIndex, a.status().lastIndex);
  assert.deepEqual(d.node.status().confState, { voters: ['a', 'b', 'c'], learners: ['d'] }, 'the joining member learned the configuration from the log');
  a.proposeConfChange(cc('promote', 'd'));
  net.stabilize();
  assert.deepEqual(a.status().confState, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  assert.deepEqual(net.node('d').status().confState.voters, ['a', 'b', 'c', 'd']);
});

test('one change at a time: a second change is refused while the first is pending; invalid changes are refused', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  assert.throws(() => a.proposeConfChange(cc('addLearner', 'b')), code('AlreadyMember'));
  assert.throws(() => a.proposeConfChange(cc('promote', 'zz')), code('UnknownMember'));
  assert.throws(() => a.proposeConfChange(cc('remove', 'zz')), code('UnknownMember'));
  assert.throws(() => a.proposeConfChange(cc('promote', 'b')), code('InvalidConfChange'));
  a.proposeConfChange(cc('addLearner', 'd'));
  assert.equal(a.status().confChangePending, true);
  assert.throws(() => a.proposeConfChange(cc('addLearner', 'e')), code('ConfChangeInProgress'));
  net.stabilize();
  assert.equal(a.status().confChangePending, false);
  a.proposeConfChange(cc('addLearner', 'e'));
  assert.throws(() => net.node('b').proposeConfChange(cc('remove', 'e')), code('NotLeader'));
});

test('a new leader refuses a change until it has committed an entry of its own term', () => {
  const net = new Network(['a', 'b', 'c']);
  net.node('a').campaign();
  net.processAll();
  net.deliver();
  net.processAll();
  net.deliver(is.type(MessageType.VoteResp));
  assert.equal(net.node('a').status().role, 'leader');
  assert.throws(() => net.node('a').proposeConfChange(cc('addLearner', 'd')), code('ConfChangeInProgress'));
  net.stabilize();
  net.node('a').proposeConfChange(cc('addLearner', 'd'));
});

test('removing the last voter is invalid', () => {
  const net = new Network(['a']);
  net.elect('a');
  assert.throws(() => net.node('a').proposeConfChange(cc('remove', 'a')), code('InvalidConfChange'));
});

test('a removed leader steps down once the removal commits; the rest elect a new leader', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').proposeConfChange(cc('remove', 'a'));
  assert.equal(net.node('a').status().role, 'leader', 'still leading while the removal is uncommitted');
  net.stabilize();
  assert.equal(net.node('a').status().role, 'follower');
  assert.deepEqual(net.node('b').status().confState.voters, ['b', 'c'], 'the last Append told the others the commit');
  assert.equal(net.leaders().length, 1, 'a voter holding the whole log was told to campaign at once');
  // a is no voter of its own configuration: it never campaigns again.
  const mark = net.sent.length;
  for (let i = 0; i < 40; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.ok(!net.sent.slice(mark).some((m) => m.from === 'a' && (m.type === MessageType.Vote || m.type === MessageType.PreVote)));
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], 'a');
  const l = net.node(leaders[0]!);
  l.propose(cmd('after'));
  net.stabilize();
  assert.equal(net.node('b').status().commit, l.status().lastIndex);
});

test('a removed follower learns that its removal committed from the leader\'s last Append', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const pos = net.node('a').proposeConfChange(cc('remove', 'c'));
  net.stabilize();
  assert.deepEqual(net.node('a').status().confState.voters, ['a', 'b']);
  const last = [...net.sent].reverse().find((m) => m.from === 'a' && m.to === 'c');
  assert.equal(last?.type, MessageType.Append, 'the leader\'s last message to c is the farewell Append carrying the commit');
  assert.ok((net.node('c').status().commit) >= pos.index, `c committed its removal (commit ${net.node('c').status().commit}, removal at ${pos.index})`);
  assert.deepEqual(net.node('c').status().confState.voters, ['a', 'b'], 'c applied the configuration without itself');
  // Nothing more goes to c, and c (no voter of its own configuration) never campaigns.
  const mark = net.sent.length;
  for (let i = 0; i < 40; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.ok(!net.sent.slice(mark).some((m) => m.to === 'c' || (m.from === 'c' && (m.type === MessageType.Vote || m.type === MessageType.PreVote))));
});

test('a follower removed while cut off learns its removal from the leader when it next pre-votes; the leader keeps its term', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ preVote: true, checkQuorum: true }));
  net.elect('a');
  net.node('a').propose(cmd('before'));
  net.stabilize();
  net.partition('c');
  const pos = net.node('a').proposeConfChange(cc('remove', 'c'));
  net.node('a').propose(cmd('after'));
  net.stabilize();
  assert.deepEqual(net.node('a').status().confState.voters, ['a', 'b']);
  assert.ok(net.node('c').status().commit < pos.index, 'c missed the farewell');
  assert.deepEqual(net.node('c').status().confState.voters, ['a', 'b', 'c']);
  net.heal();
  const term = net.node('a').status().term;
  for (let i = 0; i < 60 && net.node('c').status().commit < pos.index; i++) {
    net.tick(1, ['c']);
    net.stabilize();
  }
  assert.ok(net.node('c').status().commit >= pos.index, `c committed its removal (commit ${net.node('c').status().commit}, removal at ${pos.index})`);
  assert.deepEqual(net.node('c').status().confState.voters, ['a', 'b'], 'c applied the configuration without itself');
  assert.equal(net.node('a').status().role, 'leader');
  assert.equal(net.node('a').status().term, term, 'the removed member disturbed nobody');
  // c no longer campaigns.
  const mark = net.sent.length;
  for (let i = 0; i < 40; i++) {
    net.tick(1, ['c']);
    net.stabilize();
  }
  assert.ok(!net.sent.slice(mark).some((m) => m.from === 'c' && (m.type === MessageType.Vote || m.type === MessageType.PreVote)));
});

test('a late farewell is not sent to a non-member whose term is above the leader\'s, nor from a log that does not match its last entry', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ preVote: true, checkQuorum: true }));
  net.elect('a');
  net.node('a').proposeConfChange(cc('remove', 'c'));
  net.stabilize();
  const a = net.node('a');
  const { term, lastIndex } = a.status();
  const preVote = (over: { term: number; index: number; logTerm: number }) => ({
    type: MessageType.PreVote, from: 'c', to: 'a', entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0, ...over,
  });
  const mark = net.sent.length;
  a.step(preVote({ term: term + 2, index: lastIndex, logTerm: term }));
  a.step(preVote({ term: term + 1, index: lastIndex, logTerm: term + 5 }));
  a.step(preVote({ term: term + 1, index: lastIndex + 10, logTerm: term }));
  net.processAll();
  assert.ok(!net.sent.slice(mark).some((m) => m.to === 'c' && m.type === MessageType.Append));
  a.step(preVote({ term: term + 1, index: lastIndex, logTerm: term }));
  net.processAll();
  const farewell = net.sent.slice(mark).filter((m) => m.to === 'c' && m.type === MessageType.Append);
  assert.equal(farewell.length, 1, 'a matching pre-vote from a non-member gets the commit');
  assert.equal(farewell[0]?.commit, a.status().commit);
});

test('a joining member replicated from index 1 learns the bootstrap voters from the leader and can lead later', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').proposeConfChange(cc('addLearner', 'd'));
  net.stabilize();
  const d = net.add('d', { voters: [], learners: [] });
  net.tick(1, ['a']);
  net.stabilize();
  assert.deepEqual(d.node.status().confState, { voters: ['a', 'b', 'c'], learners: ['d'] });
  net.node('a').proposeConfChange(cc('promote', 'd'));
  net.stabilize();
  assert.deepEqual(d.node.status().confState.voters, ['a', 'b', 'c', 'd']);
  // After a restart the bootstrap voters come back from the index-1 noop (durable in the log).
  net.restart('d');
  assert.deepEqual(net.node('d').status().confState.voters, ['a', 'b', 'c', 'd']);
  net.partition('a');
  net.node('d').campaign();
  net.stabilize();
  assert.equal(net.node('d').status().role, 'leader', 'd counts votes against the full voter set');
});

test('a joining member with an empty configuration waits for the leader', () => {
  const net = new Network(['a']);
  const j = net.add('j', { voters: [], learners: [] });
  for (let i = 0; i < 50; i++) j.node.tick();
  net.processAll();
  assert.equal(net.queue.length, 0);
  assert.equal(j.node.status().role, 'follower');
});

test('confStateAt gives the configuration as of an index (what a snapshot there must record)', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const { index } = net.node('a').proposeConfChange(cc('addLearner', 'd'));
  net.stabilize();
  const a = net.node('a');
  assert.deepEqual(a.confStateAt(index - 1), { voters: ['a', 'b', 'c'], learners: [] });
  assert.deepEqual(a.confStateAt(index), { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.deepEqual(a.compact(index).confState, a.confStateAt(index));
});
