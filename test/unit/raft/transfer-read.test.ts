// Leadership transfer (thesis §3.10), ReadIndex and lease reads (thesis §6.4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd } from './harness.js';
import { RaftError } from '../../../daemon/src/raft/index.js';

const code = (c: string) => (e: unknown) => e instanceof RaftError && e.code === c;

test('transfer to a lagging member: catch it up first, then TimeoutNow; proposals refused meanwhile', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.partition('c');
  for (let i = 0; i < 5; i++) net.node('a').propose(cmd(`v${i}`));
  net.stabilize();
  const last = net.node('a').status().lastIndex;
  assert.ok(net.node('c').status().lastIndex < last);
  net.heal();
  net.node('a').transferLeadership('c');
  assert.equal(net.node('a').status().leadTransferee, 'c');
  assert.throws(() => net.node('a').propose(cmd('no')), code('TransferInProgress'));
  net.processAll();
  assert.ok(!net.queue.some(is.type(MessageType.TimeoutNow)), 'no TimeoutNow before c holds the whole log');
  for (let i = 0; i < 5 && !net.sent.some(is.type(MessageType.TimeoutNow)); i++) {
    net.tick(1, ['a']);
    net.processAll();
    net.deliver();
  }
  const tn = net.sent.find(is.type(MessageType.TimeoutNow));
  assert.ok(tn);
  assert.equal(net.node('c').status().lastIndex, last, 'c was caught up when TimeoutNow went out');
  net.stabilize();
  assert.deepEqual(net.leaders(), ['c']);
  assert.equal(net.node('c').status().term, 2);
  net.node('c').propose(cmd('after'));
  net.stabilize();
  assert.equal(net.node('a').status().commit, net.node('c').status().lastIndex);
});

test('transfer without a target picks the most up-to-date voter; an unreachable target aborts after electionTicks', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.partition('b');
  net.node('a').propose(cmd('x'));
  net.stabilize();
  net.node('a').transferLeadership();
  assert.equal(net.node('a').status().leadTransferee, 'c');
  net.stabilize();
  assert.deepEqual(net.leaders(), ['c']);
  // Unreachable target: the transfer is abandoned after electionTicks and proposals resume.
  const net2 = new Network(['a', 'b', 'c']);
  net2.elect('a');
  net2.partition('c');
  net2.node('a').propose(cmd('y'));
  net2.stabilize();
  net2.node('a').transferLeadership('c');
  assert.throws(() => net2.node('a').propose(cmd('no')), code('TransferInProgress'));
  for (let i = 0; i < 10; i++) {
    net2.tick(1, ['a']);
    net2.stabilize();
  }
  assert.equal(net2.node('a').status().leadTransferee, null);
  net2.node('a').propose(cmd('yes'));
  assert.throws(() => net2.node('b').transferLeadership('a'), code('NotLeader'));
  assert.throws(() => net2.node('a').transferLeadership('zz'), code('UnknownMember'));
});

test('ReadIndex: many requests share one heartbeat round and are answered after a quorum acks', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  a.readIndex(1);
  a.readIndex(2);
  a.readIndex(3);
  net.process('a');
  const hbs = net.queue.filter(is.type(MessageType.Heartbeat));
  assert.equal(hbs.length, 2, 'one heartbeat per follower for three reads');
  assert.ok(hbs.every((m) => m.context === hbs[0]!.context && m.context > 0));
  assert.deepEqual(net.get('a').readStates, []);
  net.deliver(is.to('b'));
  net.drop(is.to('c'));
  net.process('b');
  net.deliver(is.to('a'));
  net.process('a');
  assert.deepEqual(net.get('a').readStates, [{ requestId: 1, index: 1 }, { requestId: 2, index: 1 }, { requestId: 3, index: 1 }]);
});

test('ReadIndex without a quorum is never answered; the broken variant answers at once', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.partition('a');
  net.node('a').readIndex(7);
  for (let i = 0; i < 5; i++) {
    net.tick(1, ['a']);
    net.stabilize();
  }
  assert.deepEqual(net.get('a').readStates, []);
  const bad = new Network(['a', 'b', 'c'], () => ({ brokenVariants: { readIndexWithoutQuorum: true } }));
  bad.elect('a');
  bad.partition('a');
  bad.node('a').readIndex(7);
  bad.processAll();
  assert.deepEqual(bad.get('a').readStates, [{ requestId: 7, index: 1 }]);
});

test('ReadIndex on a follower is forwarded to the leader and answered with the leader\'s commit', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.node('a').propose(cmd('x'));
  net.stabilize();
  net.node('b').readIndex(42);
  net.stabilize();
  assert.ok(net.sent.some((m) => m.type === MessageType.ReadIndex && m.from === 'b' && m.to === 'a' && m.context === 42));
  assert.deepEqual(net.get('b').readStates, [{ requestId: 42, index: 2 }]);
  const lone = new Network(['a', 'b']);
  assert.throws(() => lone.node('a').readIndex(1), code('NotLeader'));
});

test('a new leader answers reads only after committing an entry of its own term', () => {
  const net = new Network(['a', 'b', 'c']);
  net.node('a').campaign();
  net.processAll();
  net.deliver();
  net.processAll();
  net.deliver(is.type(MessageType.VoteResp));
  assert.equal(net.node('a').status().role, 'leader');
  net.node('a').readIndex(5);
  net.process('a');
  assert.ok(!net.queue.some((m) => m.type === MessageType.Heartbeat && m.context > 0), 'no read round before the noop commits');
  net.stabilize();
  assert.deepEqual(net.get('a').readStates, [{ requestId: 5, index: 1 }]);
});

test('lease read: with leaseRead the leader answers from its lease without a heartbeat round', () => {
  const net = new Network(['a', 'b', 'c'], (id) => ({ checkQuorum: true, leaseRead: true, rng: { intBelow: () => (id === 'a' ? 0 : 9) } }));
  net.elect('a');
  net.tick(1);
  net.stabilize(); // heartbeats acked: the lease is held
  const before = net.sent.length;
  net.node('a').readIndex(9);
  net.process('a');
  assert.deepEqual(net.get('a').readStates, [{ requestId: 9, index: 1 }]);
  assert.ok(!net.sent.slice(before).some(is.type(MessageType.Heartbeat)));
  // Cut off, the lease runs out after electionTicks: reads fall back to a round that never completes.
  net.partition('a');
  net.tick(10, ['a']);
  net.processAll();
  net.node('a').readIndex(10);
  net.processAll();
  assert.equal(net.get('a').readStates.length, 1, 'no answer without a lease or quorum');
  assert.throws(() => new Network(['x'], () => ({ leaseRead: true, checkQuorum: false })), /leaseRead requires/);
});

test('lease read: a leader whose ticks stood still while the others elected a new leader answers stale from its lease; given the missed ticks first (as the driver does), it does not answer', () => {
  const run = (catchUp: boolean): { states: { requestId: number; index: number }[]; newCommit: number } => {
    const net = new Network(['a', 'b', 'c'], (id) => ({ preVote: true, checkQuorum: true, leaseRead: true, rng: { intBelow: () => (id === 'b' ? 0 : 9) } }));
    net.elect('a');
    net.tick(1);
    net.stabilize(); // heartbeats acked: a holds its lease
    net.partition('a');
    // a's thread is held (no ticks); b and c tick on, hear nobody, and b wins the next term.
    let ticks = 0;
    for (; ticks < 60 && net.node('b').status().role !== 'leader'; ticks++) {
      net.tick(1, ['b', 'c']);
      net.stabilize();
    }
    assert.equal(net.node('b').status().role, 'leader');
    net.node('b').propose(cmd('new'));
    net.stabilize();
    if (catchUp) net.tick(ticks, ['a']);
    net.processAll();
    net.node('a').readIndex(7);
    net.processAll();
    return { states: net.get('a').readStates, newCommit: net.node('b').status().commit };
  };
  const held = run(false);
  assert.equal(held.states.length, 1, 'with its ticks held, a still trusts its lease');
  assert.ok((held.states[0]?.index ?? 0) < held.newCommit, 'and its answer misses what the new leader committed: a stale read');
  const caughtUp = run(true);
  assert.deepEqual(caughtUp.states, [], 'given the missed ticks, its lease has lapsed and no quorum confirms the read');
});
