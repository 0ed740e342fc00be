// A member re-added as a learner with a wiped log but a term above the leader's (it campaigned
// while cut off, then was removed and re-added keeping its hard state; simulator seeds 2002227,
// 2007520). It must be caught up within a bounded number of ticks whatever pre-vote and
// check-quorum say, and a higher term from outside the configuration must depose nobody.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, cmd } from './harness.js';
import type { ConfChange, RaftConfig } from '../../../daemon/src/raft/index.js';

const NO_CTX = new Uint8Array(0);
const cc = (type: ConfChange['type'], node: string): ConfChange => ({ type, node, context: NO_CTX });
const ELECTION_TICKS = 10;
/** Two elections (one may be split) plus the replication rounds: generous, but bounded. */
const CATCH_UP_BOUND_TICKS = 8 * ELECTION_TICKS;
const LEARNER_TERM = 50;

function joinWithHigherTerm(over: Partial<RaftConfig>): { net: Network; ticks: number } {
  const net = new Network(['a', 'b', 'c'], () => over);
  net.elect('a');
  for (let i = 0; i < 5; i++) net.node('a').propose(cmd(`v${i}`));
  net.stabilize();
  assert.ok(net.node('a').status().term < LEARNER_TERM);
  net.add('x', { voters: [], learners: [] }, over, {
    hardState: { term: LEARNER_TERM, vote: 'x', commit: 0 },
    snapshot: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    entries: [],
  });
  net.node('a').proposeConfChange(cc('addLearner', 'x'));
  net.stabilize();
  let ticks = 0;
  for (; ticks < CATCH_UP_BOUND_TICKS; ticks++) {
    const leaders = net.leaders();
    if (leaders.length === 1) {
      const lead = net.node(leaders[0] as string).status();
      const x = net.node('x').status();
      if (lead.commit === lead.lastIndex && x.commit === lead.commit && net.get('x').appliedIndex === lead.commit && x.confState.learners.includes('x')) break;
    }
    net.tick(1);
    net.stabilize();
  }
  return { net, ticks };
}

for (const [name, over] of [
  ['pre-vote and check-quorum off', {}],
  ['pre-vote on', { preVote: true }],
  ['check-quorum on', { checkQuorum: true }],
  ['both on', { preVote: true, checkQuorum: true }],
] as const) {
  test(`an empty learner holding a higher term is caught up within ${CATCH_UP_BOUND_TICKS} ticks (${name})`, () => {
    const { net, ticks } = joinWithHigherTerm(over);
    assert.ok(ticks < CATCH_UP_BOUND_TICKS, `x not caught up after ${ticks} ticks: ${JSON.stringify(net.node('x').status())}`);
    const lead = net.node(net.leaders()[0] as string).status();
    assert.ok(lead.term > LEARNER_TERM, `the cluster re-elected above the learner's term (term ${lead.term})`);
    const leaderApplied = net.get(net.leaders()[0] as string).applied;
    const xApplied = net.get('x').applied;
    assert.equal(xApplied.length, leaderApplied.length, 'x applied the whole log');
    xApplied.forEach((e, k) => assert.deepEqual([e.index, e.term], [leaderApplied[k]?.index, leaderApplied[k]?.term]));
  });
}

test('the old rule (a stale leader ignored without pre-vote and check-quorum) leaves the learner empty', () => {
  const { net, ticks } = joinWithHigherTerm({ brokenVariants: { silentToStaleLeader: true } });
  assert.equal(ticks, CATCH_UP_BOUND_TICKS);
  assert.equal(net.node('x').status().lastIndex, 0);
  assert.equal(net.node('x').status().term, LEARNER_TERM);
});

test('a higher term in an answer from outside the configuration deposes nobody', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  const term = a.status().term;
  for (const type of [MessageType.AppendResp, MessageType.HeartbeatResp]) {
    a.step({ type, from: 'z', to: 'a', term: term + 7, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 });
    assert.equal(a.status().role, 'leader');
    assert.equal(a.status().term, term);
  }
  // The same answer from a member of the configuration does depose it (Figure 2).
  a.step({ type: MessageType.AppendResp, from: 'b', to: 'a', term: term + 7, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 });
  assert.equal(a.status().role, 'follower');
  assert.equal(a.status().term, term + 7);
});

test('a learner is promoted only once it holds every committed entry', () => {
  // A large lag allowance: the old rule would promote a learner that holds nothing.
  const net = new Network(['a', 'b', 'c'], () => ({ maxLearnerLagEntries: 1000 }));
  net.elect('a');
  net.add('x', { voters: [], learners: [] }, { maxLearnerLagEntries: 1000 });
  net.partition('x');
  const a = net.node('a');
  a.proposeConfChange(cc('addLearner', 'x'));
  net.stabilize();
  for (let i = 0; i < 3; i++) a.propose(cmd(`v${i}`));
  net.stabilize();
  assert.throws(() => a.proposeConfChange(cc('promote', 'x')), (e: Error & { code?: string }) => e.code === 'LearnerNotCaughtUp');
  net.heal();
  for (let i = 0; i < 3 * ELECTION_TICKS && net.node('x').status().commit < a.status().commit; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.equal(net.node('x').status().lastIndex, a.status().commit);
  a.proposeConfChange(cc('promote', 'x'));
  net.stabilize();
  assert.ok(a.status().confState.voters.includes('x'));
});
