// RawNode.leaderProgress: what a leader acts on while its outstanding Ready is being written
// (the daemon's leader replicates and answers clients during its own fsync).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, is, cmd, text } from './harness.js';
import type { Ready } from '../../../daemon/src/raft/index.js';

/** Takes a's next Ready as the daemon's leader does: messages go out, the write is outstanding. */
function startWrite(net: Network, id: string): Ready {
  const rd = net.node(id).ready();
  for (const m of rd.messages) net.queue.push(m);
  return rd;
}

/** The outstanding write completed: entries on disk, committed entries applied, advance. */
function finishWrite(net: Network, id: string, rd: Ready): void {
  const m = net.get(id);
  if (rd.hardState) m.disk.hardState = rd.hardState;
  for (const e of rd.entries) m.disk.entries.push(e);
  for (const e of rd.committedEntries) {
    if (e.index <= m.appliedIndex) continue;
    m.applied.push(e);
    m.appliedIndex = e.index;
  }
  m.node.advance(rd);
}

function applyProgress(net: Network, id: string): { sent: number; applied: string[] } {
  const m = net.get(id);
  const lp = m.node.leaderProgress();
  if (lp === null) return { sent: 0, applied: [] };
  for (const msg of lp.messages) net.queue.push(msg);
  for (const e of lp.committedEntries) {
    assert.equal(e.index, m.appliedIndex + 1, 'handed out in order, after everything before');
    m.applied.push(e);
    m.appliedIndex = e.index;
  }
  return { sent: lp.messages.length, applied: lp.committedEntries.map(text) };
}

test('while its write is outstanding a leader commits and hands out entries a quorum of others holds, its own copy durable or not; new proposals wait for the next Ready', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  a.propose(cmd('x'));
  net.process('a'); // x durable on a, Appends queued
  net.deliver(is.to('b'));
  net.deliver(is.to('c'));
  net.process('b');
  net.process('c'); // acks for x queued to a

  a.propose(cmd('y'));
  const rd = startWrite(net, 'a'); // y is being written on a
  assert.deepEqual(rd.entries.map(text), ['y']);
  net.deliver(is.and(is.to('a'), is.type(MessageType.AppendResp)));
  // x: acked by b and c, durable on a → applied now, not after the write.
  assert.deepEqual(applyProgress(net, 'a').applied, ['x']);

  // A proposal during the write waits for the next Ready (one Append per follower per Ready).
  a.propose(cmd('z'));
  const before = net.queue.length;
  assert.equal(applyProgress(net, 'a').sent, 0);
  assert.equal(net.queue.length, before);
  assert.ok(a.hasReady());

  // b and c make y durable and ack: y is committed (b + c are a quorum, each acked after its own
  // synced write) though not durable on a yet: it is handed out now, not after a's write.
  net.deliver(is.to('b'));
  net.deliver(is.to('c'));
  net.process('b');
  net.process('c');
  net.deliver(is.and(is.to('a'), is.type(MessageType.AppendResp)));
  assert.equal(a.status().commit, 3);
  assert.deepEqual(applyProgress(net, 'a').applied, ['y']);

  finishWrite(net, 'a', rd);
  assert.deepEqual(rd.committedEntries.map(text), [], 'x was not repeated in the outstanding Ready');
  net.stabilize();
  assert.deepEqual(net.get('a').applied.map(text).slice(-3), ['x', 'y', 'z']);
  assert.equal(net.get('a').applied.filter((e) => text(e) === 'x').length, 1, 'x applied once');
  assert.equal(net.get('a').applied.filter((e) => text(e) === 'y').length, 1, 'y applied once');
  assert.equal(a.status().applied, a.status().commit);
});

test('leaderProgress gives nothing once the leader stepped down during its write', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  a.propose(cmd('x'));
  const rd = startWrite(net, 'a');
  net.queue = [];
  // A higher term arrives while a writes: it becomes a follower of a newer term, which must be
  // durable before it sends anything.
  net.node('b').campaign();
  net.process('b');
  net.deliver(is.and(is.to('a'), is.type(MessageType.Vote)));
  assert.equal(a.status().role, 'follower');
  assert.equal(a.leaderProgress(), null);
  finishWrite(net, 'a', rd);
  net.stabilize();
  assert.deepEqual(net.leaders(), ['b']);
});

test('leaderProgress with nothing new returns null and changes nothing', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  net.stabilize();
  const a = net.node('a');
  const rd = startWrite(net, 'a');
  assert.equal(a.leaderProgress(), null);
  finishWrite(net, 'a', rd);
  assert.equal(a.hasReady(), false);
});
