// Pre-vote and check-quorum (Ongaro's thesis §9.6 and §6.2): a rejoining partitioned member
// does not disrupt a healthy cluster, and a leader that lost its quorum steps down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, fixedRng } from './harness.js';

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
