// Log compaction and membership with real processes: a member that was down while the log was
// compacted catches up through a snapshot; a learner is added, catches up and is promoted.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, waitFor } from '../lib/cluster-harness.js';
import type { ClusterMember } from '../lib/cluster-harness.js';
import { call, keepLogsIfFailed, kvPath, put, tracked } from './client.js';
import type { FailureFlag } from './client.js';

const SNAPSHOT_ENTRIES = 50;

async function writeMany(c: Cluster, prefix: string, count: number, workers = 8): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let i = next++; i < count; i = next++) {
      const r = await put(c, `${prefix}/${i}`, `value-${i}`);
      assert.equal(r.status, 200, r.text);
    }
  }));
}

async function serializable(c: Cluster, m: ClusterMember, key: string): Promise<string | null> {
  try {
    const r = await c.request(m, 'GET', `${kvPath(key)}?consistency=serializable`, { timeoutMs: 1000 });
    return r.status === 200 ? r.text : null;
  } catch {
    return null;
  }
}

describe('snapshots and membership', () => {
  const flag: FailureFlag = { failed: false };
  let c: Cluster | undefined;
  after(async () => {
    keepLogsIfFailed(c, flag, 'snapshot-membership');
    await c?.destroy();
  });

  test('a member restarted after compaction catches up through a snapshot', tracked(flag, async () => {
    c = await Cluster.start({ members: 3, electionTimeoutMs: 600, heartbeatIntervalMs: 100, snapshotEntries: SNAPSHOT_ENTRIES });
    const cl = c;
    const leader = await cl.waitForLeader();
    const lagging = cl.running().find((m) => m !== leader);
    assert.ok(lagging);
    await writeMany(cl, 'early', 10);
    await cl.terminate(lagging);
    await writeMany(cl, 'while-down', SNAPSHOT_ENTRIES * 4);
    const ls = await waitFor('leader snapshot', 5000, async () => {
      const s = await cl.status(leader);
      return s && s.snapshotIndex > 0 ? s : null;
    });
    assert.ok(ls.snapshotIndex >= SNAPSHOT_ENTRIES, `leader snapshot at ${ls.snapshotIndex}`);
    cl.restart(lagging);
    await waitFor(`${lagging.name} caught up`, 15_000, async () => {
      const v = await serializable(cl, lagging, `while-down/${SNAPSHOT_ENTRIES * 4 - 1}`);
      return v === `value-${SNAPSHOT_ENTRIES * 4 - 1}` ? true : null;
    });
    assert.equal(await serializable(cl, lagging, 'while-down/0'), 'value-0');
    assert.equal(await serializable(cl, lagging, 'early/3'), 'value-3');
    // The member may answer the read a moment before the snapshot it is due is recorded (taking
    // one runs after the apply that made it due), so wait briefly rather than read once.
    const st = await waitFor(`${lagging.name} holds a snapshot`, 5000, async () => {
      const s = await cl.status(lagging);
      return s && s.snapshotIndex > 0 ? s : null;
    });
    assert.ok(st.snapshotIndex > 0, `the restarted member holds a snapshot (${st.snapshotIndex})`);
  }));

  test('POST /v1/snapshot takes a snapshot now', tracked(flag, async () => {
    assert.ok(c);
    const r = await call(c, 'POST', '/v1/snapshot');
    assert.equal(r.status, 200, r.text);
    assert.ok((r.json as { index: number }).index > 0, r.text);
  }));

  test('a learner is added, catches up, and is promoted to voter', tracked(flag, async () => {
    assert.ok(c);
    const cl = c;
    const n4 = await cl.addMember('n4');
    const members = await waitFor('n4 listed as learner', 5000, async () => {
      const r = await call(cl, 'GET', '/v1/members');
      const ms = (r.json as { members: { name: string; voter: boolean }[] }).members;
      return ms.some((m) => m.name === 'n4' && !m.voter) ? ms : null;
    });
    assert.equal(members.length, 4);
    await waitFor('n4 has the data', 15_000, async () => ((await serializable(cl, n4, 'while-down/7')) === 'value-7' ? true : null));
    await waitFor('n4 promoted', 15_000, async () => {
      const r = await call(cl, 'POST', '/v1/members/n4/promote', { retry: false });
      return r.status === 200 ? true : null;
    });
    const st = await waitFor('n4 is a voter everywhere', 5000, async () => {
      const s = await cl.status(n4);
      return s && s.members.find((m) => m.name === 'n4')?.voter === true ? s : null;
    });
    assert.equal(st.members.filter((m) => m.voter).length, 4);
    const w = await put(cl, 'after-promote', 'ok');
    assert.equal(w.status, 200, w.text);
    await waitFor('n4 applies new writes', 5000, async () => ((await serializable(cl, n4, 'after-promote')) === 'ok' ? true : null));
  }));

  test('a second membership change while one is pending, or promoting an unknown member, is refused', tracked(flag, async () => {
    assert.ok(c);
    const r = await call(c, 'POST', '/v1/members/nobody/promote', { retry: false });
    assert.ok(r.status === 404 || r.status === 409 || r.status === 400, `promote unknown: ${r.status} ${r.text}`);
  }));

  test('removing the leader hands leadership off first, then removes it', tracked(flag, async () => {
    assert.ok(c);
    const cl = c;
    const leader = await cl.waitForLeader();
    const r = await call(cl, 'DELETE', `/v1/members/${leader.name}`, { deadlineMs: 15_000 });
    assert.equal(r.status, 200, r.text);
    // The removed member may never hear that its removal committed: ask the others.
    const others = cl.running().filter((m) => m !== leader);
    const members = await waitFor('leader removed from the configuration', 5000, async () => {
      const views = await Promise.all(others.map((m) => cl.status(m)));
      if (views.some((v) => v === null || v.members.some((x) => x.name === leader.name))) return null;
      return views[0]?.members ?? null;
    });
    assert.equal(members.length, 3);
    await cl.kill9(leader);
    const next = await cl.waitForLeader(10_000);
    assert.notEqual(next.name, leader.name);
    const w = await put(cl, 'after-remove', 'ok');
    assert.equal(w.status, 200, w.text);
  }));

  test('a removed follower learns its removal: 410 to clients, /readyz 503, status says removed, also after a restart', tracked(flag, async () => {
    assert.ok(c);
    const cl = c;
    const leader = await cl.waitForLeader();
    const target = cl.running().find((m) => m !== leader);
    assert.ok(target);
    const r = await call(cl, 'DELETE', `/v1/members/${target.name}`, { deadlineMs: 15_000 });
    assert.equal(r.status, 200, r.text);
    const expectRemoved = async (what: string): Promise<void> => {
      await waitFor(`${target.name} reports removed (${what})`, 10_000, async () => ((await cl.status(target))?.removed === true ? true : null));
      const ready = await cl.request(target, 'GET', '/readyz');
      assert.equal(ready.status, 503, ready.text);
      assert.equal((ready.json as { reason?: string }).reason, 'removed from the cluster');
      const write = await cl.request(target, 'PUT', kvPath('to-a-removed-member'), { body: 'v' });
      assert.equal(write.status, 410, write.text);
      assert.equal((write.json as { code?: string }).code, 'MEMBER_REMOVED');
      const read = await cl.request(target, 'GET', `${kvPath('after-remove')}?consistency=serializable`);
      assert.equal(read.status, 410, read.text);
    };
    await expectRemoved('told by the leader\'s last Append');
    await cl.kill9(target);
    cl.restart(target);
    await expectRemoved('after kill -9 and restart');
    await cl.kill9(target);
    const w = await put(cl, 'after-second-remove', 'ok');
    assert.equal(w.status, 200, w.text);
    const l = await cl.waitForLeader();
    const members = (await cl.status(l))?.members.map((m) => m.name) ?? [];
    assert.ok(!members.includes(target.name), `${target.name} is gone from ${members.join(',')}`);
  }));
});
