// Pre-vote and check-quorum (Ongaro's thesis §9.6 and §6.2): a rejoining partitioned member
// does not disrupt a healthy cluster, and a leader that lost its quorum steps down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, fixedRng } from './harness.js';
import type { Rng } from '../../../daemon/src/raft/index.js';

test('pre-vote: a partitioned member campaigning alone does not raise its term, and does not disrupt on rejoin', () => {
  const net = new Network(['a', 'b', 'c'], (id) => ({ preVote: true, checkQuorum: true, rng: fixedRng(id === 'c' ? 0 : 5) }));
  net.elect('a');
  assert.equal(net.node('a').status().term, 1);
  net.partition('c');
  for (let i = 0; i < 60; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.equal(net.node('c').status().term, 1, 'pre-votes never reach a quorum, so c never increments its term');
  assert.ok(net.sent.some((m) => m.from === 'c' && m.type === MessageType.PreVote));
  assert.ok(!net.sent.some((m) => m.from === 'c' && m.type === MessageType.Vote));
  net.heal();
  for (let i = 0; i < 30; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.deepEqual(net.leaders(), ['a']);
  assert.equal(net.node('a').status().term, 1, 'the leader was not disrupted');
  assert.equal(net.node('c').status().leader, 'a');
});

test('without pre-vote the same rejoin disrupts the leader (the contrast that makes the test above meaningful)', () => {
  const net = new Network(['a', 'b', 'c'], (id) => ({ rng: fixedRng(id === 'c' ? 0 : 5) }));
  net.elect('a');
  net.partition('c');
  for (let i = 0; i < 30; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.ok(net.node('c').status().term > 1);
  net.heal();
  for (let i = 0; i < 25; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.ok(net.node('a').status().term > 1, 'the leader was forced into a higher term');
});

test('check-quorum: followers that hear a leader ignore a higher-term vote request', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ checkQuorum: true }));
  net.elect('a');
  net.tick(1);
  net.stabilize();
  // A disruptive Vote at term 5 from c (as if c had raised its term in a partition).
  net.node('b').step({ type: MessageType.Vote, from: 'c', to: 'b', term: 5, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 });
  net.processAll();
  assert.equal(net.node('b').status().term, 1);
  assert.equal(net.queue.filter(is.type(MessageType.VoteResp)).length, 0);
});

test('check-quorum: a leader that has not heard from a quorum for electionTicks steps down', () => {
  const net = new Network(['a', 'b', 'c'], (id) => ({ checkQuorum: true, rng: fixedRng(id === 'a' ? 0 : 9) }));
  net.elect('a');
  net.partition('a');
  for (let i = 0; i < 9; i++) net.tick(1, ['a']);
  assert.equal(net.node('a').status().role, 'leader');
  for (let i = 0; i < 11; i++) net.tick(1, ['a']);
  assert.equal(net.node('a').status().role, 'follower', 'stepped down within two check windows');
  assert.equal(net.node('a').status().leader, null);
  assert.equal(net.node('a').status().term, 1, 'stepping down does not change the term');
});

test('check-quorum: a connected leader stays leader', () => {
  const net = new Network(['a', 'b', 'c'], (id) => ({ checkQuorum: true, rng: fixedRng(id === 'a' ? 0 : 9) }));
  net.elect('a');
  for (let i = 0; i < 50; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.deepEqual(net.leaders(), ['a']);
  assert.equal(net.node('a').status().term, 1);
});

/** Ticks b and c one at a time (a is dead) until one of them leads; returns the tick count (or limit). */
function ticksUntilNewLeader(net: Network, limit: number): number {
  for (let t = 1; t <= limit; t++) {
    net.tick(1, ['b', 'c']);
    net.stabilize();
    if (net.leaders().some((l) => l !== 'a')) return t;
  }
  return limit + 1;
}

/** Randomized timeouts of electionTicks + 9 (the plain draw, max 10) but `jitter` for the peerGone draw (max 2). */
function drawRng(jitter: number): Rng {
  return { intBelow: (max: number) => (max === 10 ? 9 : Math.min(jitter, max - 1)) };
}

function deadLeaderNet(): Network {
  // Without the hint b and c wait 10 + 9 = 19 ticks; with it c campaigns at 10, b at 11. (The
  // harness ticks every member in the same phase, so equal draws would split the vote every
  // time; real members tick out of phase and the jitter keeps them apart.)
  const net = new Network(['a', 'b', 'c'], (id) => ({ preVote: true, checkQuorum: true, leaseRead: true, rng: drawRng(id === 'c' ? 0 : 1) }));
  net.elect('a');
  net.tick(1);
  net.stabilize();
  net.partition('a'); // the process is gone: nothing from or to it arrives any more
  return net;
}

test('peerGone: followers of a leader whose process is gone campaign when the vote lease ends, not up to 2x later', () => {
  const hinted = deadLeaderNet();
  hinted.node('b').peerGone('a');
  hinted.node('c').peerGone('a');
  const fast = ticksUntilNewLeader(hinted, 40);
  assert.ok(fast <= 12, `a new leader after ${fast} ticks (lease 10 + jitter + one round)`);
  assert.ok(fast >= 10, `not before the vote lease of electionTicks ends (${fast})`);
  const plain = ticksUntilNewLeader(deadLeaderNet(), 40);
  assert.ok(plain >= 19, `without the hint the randomized timeout holds (${plain} ticks)`);
});

test('peerGone: no effect for a peer that is not our leader, nor while the leader is still heard (a false alarm)', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ preVote: true, checkQuorum: true, rng: fixedRng(9) }));
  net.elect('a');
  const sentBefore = net.sent.length;
  net.node('b').peerGone('c');
  net.node('b').peerGone('a');
  net.node('c').peerGone('a');
  for (let i = 0; i < 40; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.deepEqual(net.leaders(), ['a'], 'heartbeats keep resetting the election timer: nobody campaigns');
  assert.equal(net.node('a').status().term, 1);
  assert.ok(!net.sent.slice(sentBefore).some((m) => m.type === MessageType.PreVote), 'no pre-vote was even sent');
});
