// A member removed and re-added under its old name with a wiped disk (found by the simulator,
// seeds 202545 and 302583): until it learns the configuration it must refuse votes and
// pre-votes, or a stale member whose configuration still counts that name as a voter wins a
// term without entries the cluster committed. Once it learned the configuration (from the
// leader's log or a snapshot) it votes like any member.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd } from './harness.js';
import type { ConfChange, Entry, Message, RaftConfig } from '../../../daemon/src/raft/index.js';

const NO_CTX = new Uint8Array(0);
const cc = (type: ConfChange['type'], node: string): ConfChange => ({ type, node, context: NO_CTX });

interface Outcome {
  net: Network;
  /** Index of the entry committed by a and the old x while b was cut off. */
  committedIndex: number;
}

/**
 * a, b, x are voters; a leads. With b cut off, a and the old x commit `v1` and then x's
 * removal. x is wiped and started again as a joiner (empty configuration; like the simulator it
 * keeps its term and vote). b, still believing {a, b, x} and missing both entries, campaigns
 * and can reach only the new x.
 */
function staleCandidateAsksFreshMember(over: Partial<RaftConfig>, xOver: Partial<RaftConfig>): Outcome {
  const net = new Network(['a', 'b', 'x'], () => over);
  net.elect('a');
  net.partition('b');
  const a = net.node('a');
  const { index: committedIndex } = a.propose(cmd('v1'));
  net.stabilize();
  a.proposeConfChange(cc('remove', 'x'));
  net.stabilize();
  assert.equal(a.status().commit, a.status().lastIndex);
  assert.ok(a.status().commit > committedIndex);
  assert.deepEqual(a.status().confState.voters, ['a', 'b']);
  assert.ok(net.node('b').status().lastIndex < committedIndex, 'b misses the committed entry');

  const hard = net.get('x').disk.hardState;
  net.add('x', { voters: [], learners: [] }, { ...over, ...xOver }, {
    hardState: { term: hard.term, vote: hard.vote, commit: 0 },
    snapshot: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    entries: [],
  });
  // b can reach x only (a stays cut off from both).
  net.heal();
  net.partition('a');
  net.node('b').campaign();
  net.stabilize();
  return { net, committedIndex };
}

test('a re-added member with a wiped disk refuses votes until it knows the configuration', () => {
  const { net } = staleCandidateAsksFreshMember({}, {});
  const answers = net.sent.filter(is.and(is.from('x'), is.to('b'), is.type(MessageType.VoteResp)));
  assert.ok(answers.length > 0, 'x answered');
  assert.ok(answers.every((m) => m.reject), 'x refused its vote');
  assert.notEqual(net.node('b').status().role, 'leader', 'b cannot lead without the committed entry');
  assert.notEqual(net.get('x').disk.hardState.vote, 'b', 'x recorded no vote for b');
});

test('... and refuses pre-votes too', () => {
  const { net } = staleCandidateAsksFreshMember({ preVote: true }, {});
  const answers = net.sent.filter(is.and(is.from('x'), is.to('b'), is.type(MessageType.PreVoteResp)));
  assert.ok(answers.length > 0, 'x answered the pre-vote');
  assert.ok(answers.every((m) => m.reject), 'x refused its pre-vote');
  assert.equal(net.sent.filter(is.and(is.from('b'), is.type(MessageType.Vote))).length, 0, 'b never got to a real election');
  assert.notEqual(net.node('b').status().role, 'leader');
});

test('the scenario is real: with voteWithoutConf the stale member leads without a committed entry', () => {
  const { net, committedIndex } = staleCandidateAsksFreshMember({}, { brokenVariants: { voteWithoutConf: true } });
  const b = net.node('b').status();
  assert.equal(b.role, 'leader');
  // b's own noop took the index where a and the old x committed v1, and b commits it too.
  const aEntry = net.get('a').disk.entries.find((e) => e.index === committedIndex);
  const bEntry = net.get('b').disk.entries.find((e) => e.index === committedIndex);
  assert.equal(aEntry?.term, 1);
  assert.ok(bEntry !== undefined && bEntry.term !== aEntry.term, 'b holds another entry at the committed index');
  assert.ok(b.commit >= committedIndex && net.node('a').status().commit >= committedIndex, 'both count their entry committed');
});

test('a joiner votes once it learned the configuration from the leader log', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').proposeConfChange(cc('addLearner', 'd'));
  net.stabilize();
  net.add('d', { voters: [], learners: [] });
  net.tick(1, ['a']);
  net.stabilize();
  net.node('a').proposeConfChange(cc('promote', 'd'));
  net.stabilize();
  assert.deepEqual(net.node('d').status().confState.voters, ['a', 'b', 'c', 'd']);
  // Without a, c needs both b and d (3 of 4).
  net.partition('a');
  net.node('c').campaign();
  net.stabilize();
  assert.equal(net.node('c').status().role, 'leader');
  assert.equal(net.get('d').disk.hardState.vote, 'c');
});

test('a joiner votes once it learned the configuration from a snapshot', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  a.propose(cmd('v1'));
  net.stabilize();
  const { index } = a.proposeConfChange(cc('addLearner', 'd'));
  net.stabilize();
  // Compacted past index 1: d can only catch up from a snapshot.
  a.compact(index);
  net.add('d', { voters: [], learners: [] });
  net.tick(1, ['a']);
  net.stabilize();
  assert.ok(net.sent.some(is.and(is.to('d'), is.type(MessageType.Snapshot))), 'd got a snapshot');
  a.proposeConfChange(cc('promote', 'd'));
  net.stabilize();
  net.partition('a');
  net.node('b').campaign();
  net.stabilize();
  assert.equal(net.node('b').status().role, 'leader');
  assert.equal(net.get('d').disk.hardState.vote, 'b');
});

test('members of a new cluster know their configuration from bootstrap and vote at once', () => {
  const net = new Network(['a', 'b', 'c']);
  net.partition('a');
  net.node('b').campaign();
  net.stabilize();
  assert.equal(net.node('b').status().role, 'leader');
  assert.equal(net.get('c').disk.hardState.vote, 'b');
});

/** A whole Message with the defaults the core uses. */
function msg(f: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0, ...f };
}

/**
 * a leads a, b, c with a few committed entries and adds learner d; d (a fresh joiner) gets the
 * first Append from index 0, which teaches it the configuration but carries only entry 1.
 */
function joinerTaughtByFirstAppend(): { net: Network; term: number; commit: number; entries: readonly Entry[] } {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  for (let i = 0; i < 5; i++) a.propose(cmd(`v${i}`));
  net.stabilize();
  a.proposeConfChange(cc('addLearner', 'd'));
  net.stabilize();
  const d = net.add('d', { voters: [], learners: [] });
  const term = a.status().term;
  const commit = a.status().commit;
  const entries = net.get('a').disk.entries;
  const boot = { index: 0, term: 0, confState: { voters: ['a', 'b', 'c'], learners: [] } };
  d.node.step(msg({ type: MessageType.Append, from: 'a', to: 'd', term, entries: entries.slice(0, 1), commit, snapshot: boot }));
  return { net, term, commit, entries };
}

test('a joiner that learned the configuration from the leader log votes only once its log reaches the leader commit it learned it at', () => {
  const { net, term, commit, entries } = joinerTaughtByFirstAppend();
  const d = net.get('d');
  assert.deepEqual(d.node.status().confState.voters, ['a', 'b', 'c']);
  const ask = (t: number) => d.node.step(msg({ type: MessageType.Vote, from: 'c', to: 'd', term: t, index: commit, logTerm: term }));
  ask(term + 1);
  net.processAll();
  const first = net.sent.filter(is.and(is.from('d'), is.type(MessageType.VoteResp)));
  assert.equal(first.length, 1);
  assert.ok(first[0]?.reject, 'd refuses: it holds 1 entry of the ' + String(commit) + ' committed when it learned the configuration');
  // The rest of the log arrives (from the leader of the new term, which holds it all).
  d.node.step(msg({ type: MessageType.Append, from: 'c', to: 'd', term: term + 1, index: 1, logTerm: entries[0]?.term ?? 0, entries: entries.slice(1, commit), commit }));
  ask(term + 2);
  net.processAll();
  const second = net.sent.filter(is.and(is.from('d'), is.type(MessageType.VoteResp)));
  assert.equal(second.length, 2);
  assert.equal(second[1]?.reject, false, 'd votes once its log reaches that commit');
});

test('the vote floor is part of the hard state: a joiner restarted before reaching it still refuses votes', () => {
  const { net, term, commit } = joinerTaughtByFirstAppend();
  net.processAll();
  assert.equal(net.get('d').disk.hardState.voteFloor, commit, 'the floor was written with the Ready');
  // d crashes and restarts from its disk: entry 1 (the bootstrap Noop) tells it the configuration
  // again, but it still holds 1 of the entries committed when it learned it.
  const restarted = net.restart('d');
  restarted.node.step(msg({ type: MessageType.Vote, from: 'c', to: 'd', term: term + 1, index: commit, logTerm: term }));
  net.processAll();
  const answers = net.sent.filter(is.and(is.from('d'), is.type(MessageType.VoteResp)));
  assert.equal(answers.length, 1);
  assert.ok(answers[0]?.reject, 'the restarted joiner refuses: its log is below the durable floor');
});
