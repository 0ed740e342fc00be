// §5.3 Log replication: batching, pipelining, commit, and the Ready contract.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Network, MessageType, EntryType, is, cmd, text } from './harness.js';
import { RaftError } from '../../../daemon/src/raft/index.js';
import { APPEND_CONTEXT_COMMIT_ONLY } from '../../../daemon/src/raft/index.js';

test('§5.3 proposals since the last Ready travel in one Append per follower and commit on a quorum', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  const p1 = a.propose(cmd('x'));
  const p2 = a.propose(cmd('y'));
  const p3 = a.propose(cmd('z'));
  assert.deepEqual([p1.index, p2.index, p3.index], [2, 3, 4]);
  net.process('a');
  const apps = net.queue.filter(is.type(MessageType.Append));
  assert.equal(apps.length, 2, 'one Append per follower');
  for (const m of apps) assert.deepEqual(m.entries.map((e) => e.index), [2, 3, 4]);
  assert.equal(a.status().commit, 1);
  // Only b answers: leader + b is a quorum of 3.
  net.deliver(is.to('b'));
  net.drop(is.to('c'));
  net.process('b');
  net.deliver(is.to('a'));
  assert.equal(a.status().commit, 4);
  net.stabilize();
  assert.deepEqual(net.get('a').applied.slice(1).map(text), ['x', 'y', 'z']);
  assert.equal(net.get('a').applied[0]?.type, EntryType.Noop);
});

test('§5.3 pipelining: further Appends go out before acks, bounded by maxInflightMsgs', () => {
  const net = new Network(['a', 'b', 'c'], () => ({ maxInflightMsgs: 2 }));
  net.elect('a');
  const a = net.node('a');
  for (let i = 0; i < 4; i++) {
    a.propose(cmd(`p${i}`));
    net.process('a');
  }
  const toB = net.queue.filter(is.and(is.type(MessageType.Append), is.to('b')));
  assert.equal(toB.length, 2, 'window of 2 Appends in flight, the rest wait');
  assert.equal(a.status().progress.get('b')?.state, 'replicate');
  net.stabilize();
  assert.equal(net.node('b').status().lastIndex, 5);
  assert.equal(net.node('b').status().commit, 5);
});

test('maxSizePerMsgBytes splits a large backlog into several Appends', () => {
  const net = new Network(['a', 'b'], () => ({ maxSizePerMsgBytes: 250 }));
  net.elect('a');
  for (let i = 0; i < 10; i++) net.node('a').propose(new Uint8Array(100));
  net.process('a');
  const toB = net.queue.filter(is.and(is.type(MessageType.Append), is.to('b')));
  assert.ok(toB.length >= 4, `expected several Appends, got ${toB.length}`);
  for (const m of toB) assert.ok(m.entries.length >= 1 && m.entries.length <= 2);
  net.stabilize();
  assert.equal(net.node('b').status().commit, 11);
});

test('propose on a follower throws NotLeader naming the leader', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  assert.throws(() => net.node('b').propose(cmd('x')), (e: unknown) => e instanceof RaftError && e.code === 'NotLeader' && e.leader === 'a');
});

test('committedEntries never include an entry not persisted by an earlier or the same Ready', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const persisted = new Map<string, number>();
  for (let i = 0; i < 5; i++) {
    net.node('a').propose(cmd(`v${i}`));
    for (const id of ['a', 'b', 'c']) {
      const n = net.node(id);
      if (!n.hasReady()) continue;
      const rd = n.ready();
      const last = rd.entries[rd.entries.length - 1]?.index ?? persisted.get(id) ?? 1;
      persisted.set(id, Math.max(persisted.get(id) ?? 1, last));
      for (const e of rd.committedEntries) assert.ok(e.index <= persisted.get(id)!, `${id} applies ${e.index} before persisting it`);
      for (const m of rd.messages) net.queue.push(m);
      n.advance(rd);
    }
    net.deliver();
  }
});

test('restart re-delivers committed entries after the snapshot so the state machine is rebuilt', () => {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  for (const v of ['x', 'y']) net.node('a').propose(cmd(v));
  net.stabilize();
  const before = net.get('b').applied.map(text);
  const m = net.restart('b');
  assert.equal(m.node.status().commit, 3);
  assert.equal(m.node.status().applied, 0);
  assert.ok(m.node.hasReady());
  net.process('b');
  assert.deepEqual(net.get('b').applied.map(text), before);
  assert.equal(net.node('b').status().applied, 3);
});

/** Three members, a leading; one entry proposed, its Appends delivered and persisted (acks queued). */
function proposedAndAppended(): { net: Network; a: ReturnType<Network['node']>; p: ReturnType<ReturnType<Network['node']>['propose']> } {
  const net = new Network(['a', 'b', 'c']);
  net.elect('a');
  const a = net.node('a');
  const p = a.propose(cmd('x'));
  net.process('a');
  net.deliver();
  net.processAll();
  return { net, a, p };
}

test('an accepted commit-only Append (context 1) to a follower in replicate state is not answered; one without the mark is', () => {
  const { net, a, p } = proposedAndAppended();
  const acks = net.deliver(is.type(MessageType.AppendResp));
  assert.equal(acks.length, 2, 'the entries are acked by both followers');
  net.process('a');
  assert.equal(a.status().commit, p.index);
  const commitOnly = net.queue.filter(is.type(MessageType.Append));
  assert.equal(commitOnly.length, 2);
  for (const m of commitOnly) {
    assert.equal(m.entries.length, 0);
    assert.equal(m.commit, p.index);
    assert.equal(m.context, APPEND_CONTEXT_COMMIT_ONLY);
  }
  // A member that predates the mark sends the same Append with context 0: answered as before.
  const unmarked = { ...(commitOnly.find(is.to('c')) as (typeof commitOnly)[number]), context: 0 };
  net.deliver(is.to('b'));
  net.drop(is.to('c'));
  net.node('c').step(unmarked);
  net.processAll();
  assert.equal(net.node('b').status().commit, p.index, 'the follower learned the commit index');
  assert.deepEqual(net.queue.filter(is.type(MessageType.AppendResp)).map((m) => m.from), ['c'], 'only the unmarked Append is answered');
  net.stabilize();
  assert.deepEqual(net.get('b').applied.map(text).slice(-1), ['x']);
});

test('acks of entries lost with only commit-only Appends after them: the leader probes and commits after a few heartbeats', () => {
  const { net, a, p } = proposedAndAppended();
  net.drop(is.type(MessageType.AppendResp));
  assert.equal(a.status().commit, p.index - 1);
  for (let i = 0; i < 20 && a.status().commit < p.index; i++) {
    net.tick(1);
    net.stabilize();
  }
  assert.equal(a.status().commit, p.index, 'committed without a new proposal');
  assert.equal(net.node('b').status().commit, p.index);
});
