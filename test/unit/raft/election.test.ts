// §5.2 Leader election: terms, RequestVote, split votes, stale leaders, single-member bootstrap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd, fixedRng, text } from './harness.js';

test('§5.2 a follower that hears no leader campaigns after its randomized timeout and wins', () => {
  const net = new Network(['a', 'b', 'c'], (id) => ({ rng: fixedRng(id === 'a' ? 0 : 5) }));
  net.tick(9);
  net.processAll();
  assert.equal(net.queue.length, 0, 'no one campaigns before electionTicks');
  net.tick(1);
  net.processAll();
  const votes = net.queue.filter(is.type(MessageType.Vote));
  assert.deepEqual(votes.map((m) => [m.from, m.to, m.term]), [['a', 'b', 1], ['a', 'c', 1]]);
  net.stabilize();
  assert.deepEqual(net.leaders(), ['a']);
  const st = net.node('a').status();
  assert.equal(st.term, 1);
  // The new leader's noop (index 1, term 1) is committed and applied everywhere.
  for (const id of ['a', 'b', 'c']) {
    assert.equal(net.get(id).appliedIndex, 1, id);
    assert.equal(net.get(id).disk.hardState.term, 1);
  }
  assert.equal(net.get('b').disk.hardState.vote, 'a');
});

test('§5.2 each member votes at most once per term (split vote: no leader, then a retry wins)', () => {
  const net = new Network(['a', 'b', 'c', 'd']);
  net.node('a').campaign();
  net.node('b').campaign();
  net.processAll();
  // c votes for a, d votes for b: 2-2 with a quorum of 3 -> nobody wins.
  net.deliver(is.and(is.type(MessageType.Vote), (m) => (m.from === 'a' && m.to === 'c') || (m.from === 'b' && m.to === 'd')));
  net.deliver(is.type(MessageType.Vote)); // the rest arrive late; everyone already voted
  net.processAll();
  net.deliver();
  net.processAll();
  assert.deepEqual(net.leaders(), []);
  assert.equal(net.node('c').status().vote, 'a');
  assert.equal(net.node('d').status().vote, 'b');
  // A second vote request in the same term from someone else is refused.
  net.stabilize();
  assert.deepEqual(net.leaders(), []);
  // Next term: a campaigns again and wins.
  net.node('a').campaign();
  net.stabilize();
  assert.deepEqual(net.leaders(), ['a']);
  assert.equal(net.node('a').status().term, 2);
});

test('§5.4.1 election restriction: a voter refuses a candidate whose log is behind', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').propose(cmd('x'));
  net.processAll();
  net.deliver(is.to('b')); // only b gets entry 2
  net.processAll();
  net.drop(() => true);
  assert.equal(net.node('b').status().lastIndex, 2);
  assert.equal(net.node('c').status().lastIndex, 1);
  net.partition('a');
  net.node('c').campaign(); // c's log (last 1) is behind b's (last 2)
  net.processAll();
  net.deliver(is.type(MessageType.Vote));
  net.processAll();
  const resp = net.queue.filter(is.type(MessageType.VoteResp));
  assert.equal(resp.length, 1);
  assert.equal(resp[0]!.reject, true);
  net.stabilize();
  assert.notEqual(net.node('c').status().role, 'leader');
  net.node('b').campaign();
  net.stabilize();
  assert.equal(net.node('b').status().role, 'leader');
});

test('§5.1 a stale leader steps down when it sees a higher term', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.partition('a');
  net.elect('b');
  assert.equal(net.node('b').status().term, 2);
  assert.equal(net.node('a').status().role, 'leader', 'isolated a still thinks it leads');
  net.heal();
  net.node('a').propose(cmd('lost'));
  net.tick(1, ['a']); // a's heartbeat at term 1 is answered with term 2 (Figure 2: reply currentTerm)
  net.stabilize();
  assert.equal(net.node('a').status().role, 'follower');
  assert.equal(net.node('a').status().term, 2);
  net.tick(1, ['b']); // b's heartbeat at term 2 reaches a
  net.stabilize();
  assert.equal(net.node('a').status().role, 'follower');
  assert.equal(net.node('a').status().term, 2);
  // a's uncommitted term-1 entry is overwritten by b's log.
  net.node('b').propose(cmd('kept'));
  net.stabilize();
  const applied = net.get('a').applied.map(text);
  assert.ok(applied.includes('kept'));
  assert.ok(!applied.includes('lost'));
});

test('single-member cluster: campaign wins at once and commits on advance', () => {
  const net = new Network(['a']);
  net.node('a').campaign();
  assert.equal(net.node('a').status().role, 'leader');
  assert.equal(net.node('a').status().commit, 0, 'the noop is not committed before it is persisted');
  net.process('a');
  assert.equal(net.node('a').status().commit, 1, 'committed on advance');
  const pos = net.node('a').propose(cmd('v'));
  assert.deepEqual(pos, { index: 2, term: 1 });
  net.processAll();
  assert.deepEqual(net.get('a').applied.map((e) => e.index), [1, 2]);
  assert.equal(net.node('a').status().applied, 2);
});
