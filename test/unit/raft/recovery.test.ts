// Recovery from lost messages and crashes: lost pipelined Appends, lost snapshots, a crash
// between ready() and advance(), and the vote lease a restarted follower keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, EntryType, is, cmd } from './harness.js';

test('lost pipelined Appends are resent once the follower answers heartbeats without acking them', () => {
  // Two voters: nothing commits without b, so only the heartbeat path can notice the loss.
  const net = new Network(['a', 'b']);
  net.elect('a');
  net.node('a').propose(cmd('x'));
  net.process('a');
  net.drop(is.and(is.type(MessageType.Append), is.to('b')));
  net.stabilize();
  assert.equal(net.node('b').status().lastIndex, 1, 'b missed entry 2');
  assert.equal(net.node('a').status().progress.get('b')?.state, 'replicate');
  for (let i = 0; i < 4; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.equal(net.node('b').status().lastIndex, 2);
  assert.equal(net.node('b').status().commit, 2);
});

test('reportUnreachable drops a follower back to probing', () => {
  const net = new Network(['a', 'b']);
  net.elect('a');
  assert.equal(net.node('a').status().progress.get('b')?.state, 'replicate');
  net.node('a').reportUnreachable('b');
  assert.equal(net.node('a').status().progress.get('b')?.state, 'probe');
  net.node('a').propose(cmd('y'));
  net.stabilize();
  assert.equal(net.node('b').status().commit, 2);
});

test('a lost snapshot is sent again: at once after reportSnapshot(false), and eventually without any report', () => {
  for (const report of [true, false]) {
    const net = new Network(['a', 'b', 'c']);
    net.elect('a');
    net.partition('c');
    for (let i = 0; i < 3; i++) net.node('a').propose(cmd(`v${i}`));
    net.stabilize();
    net.node('a').compact(3);
    net.heal();
    for (let i = 0; i < 3; i++) {
      net.tick(1, ['a']);
      net.processAll();
      net.drop(is.type(MessageType.Snapshot));
      net.deliver();
    }
    assert.equal(net.node('a').status().progress.get('c')?.state, 'snapshot');
    const sentBefore = net.sent.filter(is.type(MessageType.Snapshot)).length;
    if (report) net.node('a').reportSnapshot('c', false);
    for (let i = 0; i < 50 && net.node('c').status().snapshotIndex === 0; i++) {
      net.tick(1);
      net.stabilize();
    }
    assert.ok(net.sent.filter(is.type(MessageType.Snapshot)).length > sentBefore);
    assert.equal(net.node('c').status().snapshotIndex, 3, `report=${report}`);
    assert.equal(net.node('c').status().commit, 4);
  }
});

test('a crash between ready() and advance() loses only what was never persisted; nothing was sent', () => {
  const net = new Network(['a']);
  net.elect('a');
  net.node('a').propose(cmd('lost'));
  const rd = net.node('a').ready(); // never persisted: the member crashes now
  assert.equal(rd.entries.length, 1);
  net.restart('a');
  net.node('a').campaign();
  net.processAll();
  assert.equal(net.node('a').status().role, 'leader');
  assert.equal(net.node('a').status().term, 2);
  assert.deepEqual(net.get('a').applied.map((e) => [e.index, e.term, e.type]), [[1, 1, EntryType.Noop], [2, 2, EntryType.Noop]], 'the two noops; never the lost command');
});

test('a restarted follower with checkQuorum keeps refusing disruptive votes for one election timeout', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ checkQuorum: true, preVote: true }));
  net.elect('a');
  net.restart('b', { checkQuorum: true, preVote: true });
  const vote = { type: MessageType.PreVote, from: 'c', to: 'b', term: 2, logTerm: 1, index: 1, entries: [], commit: 0, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0 } as const;
  net.node('b').step(vote);
  net.processAll();
  assert.equal(net.queue.filter(is.type(MessageType.PreVoteResp)).length, 0, 'ignored right after restart');
  net.tick(10, ['b']);
  net.node('b').step(vote);
  net.processAll();
  assert.equal(net.queue.filter(is.type(MessageType.PreVoteResp)).length, 1, 'answered once the timeout passed without a leader');
});
