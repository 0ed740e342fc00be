// TcpTransport over loopback: delivery between three members, reconnect after a restart, queue
// overflow, garbage isolation, cluster id mismatch, multi-megabyte snapshots, fault injection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { MessageType, EntryType, type Message } from '../../../daemon/src/raft/types.js';
import { TcpTransport, type TcpTransportOptions } from '../../../daemon/src/transport/tcp-transport.js';

interface LogLine { obj: Record<string, unknown>; msg: string }

async function member(id: string, extra: Partial<TcpTransportOptions> = {}, port = 0) {
  const logs: LogLine[] = [];
  const got: Message[] = [];
  const t = new TcpTransport({
    id, clusterId: 'c1', listenHost: '127.0.0.1', listenPort: port, pingIntervalMs: 50,
    logger: { warn: (obj, msg) => logs.push({ obj, msg }) }, ...extra,
  });
  await t.start((m) => got.push(m));
  return { t, got, logs, addr: `127.0.0.1:${t.port}` };
}

function msg(from: string, to: string, n: number, extra: Partial<Message> = {}): Message {
  return {
    type: MessageType.Append, from, to, term: 1, logTerm: 1, index: n,
    entries: [{ term: 1, index: n + 1, type: EntryType.Normal, data: new Uint8Array(16).fill(n & 0xff) }],
    commit: n, reject: false, rejectHint: 0, rejectHintTerm: 0, context: n, ...extra,
  };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('three members exchange messages in order, counters and RTT are recorded', async () => {
  const a = await member('a');
  const b = await member('b');
  const c = await member('c');
  try {
    for (const x of [a, b, c]) for (const y of [a, b, c]) if (x !== y) x.t.setPeer(y.t === a.t ? 'a' : y.t === b.t ? 'b' : 'c', y.addr);
    for (let i = 0; i < 500; i++) {
      a.t.send(msg('a', 'b', i));
      a.t.send(msg('a', 'c', i));
      b.t.send(msg('b', 'a', i));
    }
    await waitFor(() => b.got.length === 500 && c.got.length === 500 && a.got.length === 500, 'all messages');
    assert.deepEqual(b.got.map((m) => m.index), Array.from({ length: 500 }, (_, i) => i));
    assert.deepEqual(b.got[7], msg('a', 'b', 7));
    const sa = a.t.peerStats().get('b');
    assert.equal(sa?.sentMessages, 500);
    assert.equal(b.t.peerStats().get('a')?.receivedMessages, 500);
    await waitFor(() => (a.t.peerStats().get('b')?.rttMs ?? null) !== null, 'rtt');
  } finally {
    await Promise.all([a.t.close(), b.t.close(), c.t.close()]);
  }
});

test('reconnects after the peer restarts on the same port', async () => {
  const a = await member('a', { reconnectBaseMs: 10, reconnectMaxMs: 100 });
  let b = await member('b');
  const port = b.t.port;
  try {
    a.t.setPeer('b', b.addr);
    a.t.send(msg('a', 'b', 1));
    await waitFor(() => b.got.length === 1, 'first message');
    await b.t.close();
    // Sends while b is down fail to connect and back off; none of this may throw.
    for (let i = 0; i < 5; i++) {
      a.t.send(msg('a', 'b', 100 + i));
      await new Promise((r) => setTimeout(r, 20));
    }
    b = await member('b', {}, port);
    await waitFor(() => {
      a.t.send(msg('a', 'b', 2));
      return b.got.some((m) => m.index === 2);
    }, 'message after restart');
    assert.ok((a.t.peerStats().get('b')?.reconnects ?? 0) >= 1);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a peer whose process is gone (its port refuses) is reported once; a peer that only dropped the connection is not', async () => {
  const gone: string[] = [];
  const a = await member('a', { reconnectBaseMs: 10, reconnectMaxMs: 100, goneProbeMinConnectionMs: 100, observer: { onPeerGone: (p) => gone.push(p) } });
  const b = await member('b');
  // c keeps listening but cuts every connection it accepts after the first frame (a flaky
  // network or a restarted transport, not a dead process).
  let cut = 0;
  const cServer = net.createServer((s) => s.once('data', () => {
    cut++;
    s.destroy();
  }));
  await new Promise<void>((r) => cServer.listen(0, '127.0.0.1', r));
  const cPort = (cServer.address() as net.AddressInfo).port;
  try {
    a.t.setPeer('b', b.addr);
    a.t.setPeer('c', `127.0.0.1:${cPort}`);
    a.t.send(msg('a', 'b', 1));
    a.t.send(msg('a', 'c', 1));
    await waitFor(() => b.got.length === 1 && cut >= 1, 'both connections made');
    await new Promise((r) => setTimeout(r, 150)); // b's connection is now stable (> 100 ms)
    await b.t.close(); // the process "dies": listener and connections gone
    await waitFor(() => gone.includes('b'), 'b reported gone');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(gone, ['b'], 'reported once, and never for c, which still listens');
    // A peer that accepts and drops must not be re-dialled in a loop when nothing is queued.
    assert.ok(cut <= 3, `c was dialled ${cut} times`);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
    await new Promise<void>((r) => cServer.close(() => r()));
  }
});

test('a full queue drops and counts; send never throws', async () => {
  // The peer address points at a closed port: nothing drains the queue.
  const dead = net.createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
  const port = (dead.address() as net.AddressInfo).port;
  await new Promise<void>((r) => dead.close(() => r()));
  const a = await member('a', { maxQueueMessages: 10, reconnectBaseMs: 1000 });
  try {
    a.t.setPeer('b', `127.0.0.1:${port}`);
    for (let i = 0; i < 25; i++) a.t.send(msg('a', 'b', i));
    a.t.send(msg('a', 'nobody', 1));
    const s = a.t.peerStats();
    assert.equal(s.get('b')?.dropped, 15);
    assert.equal(s.get('nobody')?.dropped, 1);
  } finally {
    await a.t.close();
  }
  const small = await member('a2', { maxQueueBytes: 500, reconnectBaseMs: 1000 });
  try {
    small.t.setPeer('b', `127.0.0.1:${port}`);
    for (let i = 0; i < 25; i++) small.t.send(msg('a2', 'b', i));
    const dropped = small.t.peerStats().get('b')?.dropped ?? 0;
    assert.ok(dropped > 10 && dropped < 25, `byte bound dropped ${dropped}`);
  } finally {
    await small.t.close();
  }
});

test('garbage or an oversize frame closes only that connection, with one log line', async () => {
  const a = await member('a');
  const b = await member('b', { maxFrameBytes: 64 * 1024 });
  try {
    a.t.setPeer('b', b.addr);
    a.t.send(msg('a', 'b', 1));
    await waitFor(() => b.got.length === 1, 'first');
    for (const payload of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2])]) {
      const evil = net.connect(b.t.port, '127.0.0.1');
      const closed = new Promise<void>((r) => evil.on('close', () => r()));
      evil.on('error', () => {});
      evil.write(payload);
      await closed;
    }
    const bad = b.logs.filter((l) => l.obj['event'] === 'transport.bad_frame');
    assert.equal(bad.length, 2, JSON.stringify(b.logs));
    // Wrong cluster id is refused too.
    const other = await member('z', { clusterId: 'other' });
    other.t.setPeer('b', b.addr);
    other.t.send(msg('z', 'b', 9));
    await waitFor(() => b.logs.some((l) => l.obj['event'] === 'transport.cluster_mismatch'), 'cluster mismatch log');
    await other.t.close();
    a.t.send(msg('a', 'b', 2));
    await waitFor(() => b.got.length === 2, 'message after garbage');
    assert.ok(!b.got.some((m) => m.from === 'z'));
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a multi-megabyte snapshot arrives whole, and small messages still flow', async () => {
  const a = await member('a', { snapshotChunkBytes: 256 * 1024 });
  const b = await member('b');
  try {
    a.t.setPeer('b', b.addr);
    const data = new Uint8Array(6 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131) & 0xff;
    const snap = msg('a', 'b', 0, {
      type: MessageType.Snapshot, entries: [],
      snapshot: { index: 42, term: 3, confState: { voters: ['a', 'b'], learners: [] } }, snapshotData: data,
    });
    a.t.send(snap);
    a.t.send(msg('a', 'b', 1));
    await waitFor(() => b.got.length === 2, 'snapshot + message', 10_000);
    const got = b.got.find((m) => m.type === MessageType.Snapshot);
    assert.ok(got?.snapshotData);
    assert.equal(got.snapshotData.length, data.length);
    assert.ok(Buffer.from(got.snapshotData).equals(Buffer.from(data)));
    assert.deepEqual(got.snapshot, snap.snapshot);
    // An over-bound snapshot is dropped by the sender.
    const tiny = await member('t', { maxSnapshotBytes: 1024 });
    tiny.t.setPeer('b', b.addr);
    tiny.t.send({ ...snap, from: 't' });
    assert.equal(tiny.t.peerStats().get('b')?.dropped, 1);
    await tiny.t.close();
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('faults drop traffic silently; clearing them restores it', async () => {
  const a = await member('a');
  const b = await member('b');
  try {
    a.t.setPeer('b', b.addr);
    b.t.setPeer('a', a.addr);
    a.t.setFaults({ dropOutgoingTo: ['b'] });
    b.t.setFaults({ dropIncomingFrom: ['a'] });
    a.t.send(msg('a', 'b', 1));
    b.t.send(msg('b', 'a', 1));
    await waitFor(() => a.got.length === 1, 'b→a still works');
    a.t.setFaults({});
    a.t.send(msg('a', 'b', 2));
    await waitFor(() => (b.t.peerStats().get('a')?.droppedByFault ?? 0) === 1, 'incoming drop counted');
    assert.equal(b.got.length, 0);
    assert.equal(a.t.peerStats().get('b')?.droppedByFault, 1);
    b.t.setFaults({});
    a.t.send(msg('a', 'b', 3));
    await waitFor(() => b.got.length === 1, 'traffic restored');
    assert.equal(b.got[0]?.index, 3);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('a message for a member we do not dial goes back on the connection it made to us; without one it is dropped', async () => {
  const dropped: string[] = [];
  const a = await member('a', { observer: { onDropped: (peer, reason) => dropped.push(`${peer}:${reason}`) } });
  const b = await member('b');
  try {
    // b dials a (b still counts a as a member); a has no address for b (it removed b).
    a.t.send(msg('a', 'b', 1));
    assert.deepEqual(dropped, ['b:unknownPeer'], 'no connection from b yet: dropped and counted');
    b.t.setPeer('a', a.addr);
    b.t.send(msg('b', 'a', 1));
    await waitFor(() => a.got.length === 1, 'b reaches a');
    a.t.send(msg('a', 'b', 2, { type: MessageType.AppendResp, entries: [] }));
    a.t.send(msg('a', 'b', 3));
    await waitFor(() => b.got.length === 2, 'a answers on b\'s connection');
    assert.deepEqual(b.got.map((m) => [m.from, m.index]), [['a', 2], ['a', 3]]);
    assert.equal(a.t.peerStats().get('b')?.sentMessages, 2);
    // A message claiming another sender is not delivered to b: a does not lie, and b only
    // accepts on its connection to a what a sent.
    a.t.send(msg('c', 'b', 4));
    a.t.send(msg('a', 'b', 5));
    await waitFor(() => b.got.length === 3, 'the next one');
    assert.deepEqual(b.got.map((m) => m.index), [2, 3, 5]);
    // b's incoming faults apply to replies as to any message.
    b.t.setFaults({ dropIncomingFrom: ['a'] });
    a.t.send(msg('a', 'b', 6));
    await waitFor(() => (b.t.peerStats().get('a')?.droppedByFault ?? 0) === 1, 'dropped by fault');
    assert.equal(b.got.length, 3);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

test('flush() writes what send() queued at once instead of at the end of the event-loop turn', async () => {
  const a = await member('a');
  const b = await member('b');
  try {
    a.t.setPeer('b', b.addr);
    a.t.send(msg('a', 'b', 1));
    await waitFor(() => b.got.length === 1, 'the connection and the first message');
    a.t.send(msg('a', 'b', 2));
    a.t.send(msg('a', 'b', 3));
    assert.equal(a.t.peerStats().get('b')?.sentMessages, 1, 'send only queues');
    a.t.flush();
    assert.equal(a.t.peerStats().get('b')?.sentMessages, 3, 'flush wrote both to the socket synchronously');
    a.t.flush(); // nothing queued: a no-op
    await waitFor(() => b.got.length === 3, 'the flushed messages');
    assert.deepEqual(b.got.map((m) => m.index), [1, 2, 3]);
    assert.equal(a.t.peerStats().get('b')?.sentMessages, 3, 'the turn-end flush found nothing left to send');
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});
