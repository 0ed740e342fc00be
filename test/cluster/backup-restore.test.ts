// Backup and restore with real processes: `raftctl snapshot save` from a running 3-member
// cluster, `raftkv restore` into the data dirs of a NEW 3-member cluster (new names, ports and
// cluster token), and the new cluster serves exactly the saved data at the saved revision —
// nothing written after the save. A damaged backup file is refused. Restore timings are printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, http, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { Cluster } from '../lib/cluster-harness.js';
import { call, put } from './client.js';
import { HandMember, raftctl, raftkvRestore } from './security-support.js';

const KEYS = 1500;

interface Listing {
  readonly kvs: readonly { key: string; value: string; modRevision: number; createRevision: number }[];
  readonly more: boolean;
  readonly revision: number;
}

async function writeMany(c: Cluster, prefix: string, count: number, workers = 8): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let i = next++; i < count; i = next++) {
      const r = await put(c, `${prefix}/${String(i).padStart(5, '0')}`, `value-${i}-${'x'.repeat(i % 50)}`);
      assert.equal(r.status, 200, r.text);
    }
  }));
}

async function listAll(base: string): Promise<Listing> {
  const r = await http(`${base}/v1/kv?prefix=&limit=10000`, { timeoutMs: 10_000 });
  assert.equal(r.status, 200, r.text);
  return r.json as Listing;
}

test('snapshot save → restore into a new 3-member cluster → identical data at the same revision', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-backup-'));
  const restored: HandMember[] = [];
  try {
    const file = join(dir, 'cluster.backup');
    let saved: Listing | undefined;
    let savedIndex = 0;
    await withCluster('backup-save', { members: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      await writeMany(c, 'data', KEYS);
      for (let i = 0; i < 100; i += 3) assert.equal((await call(c, 'DELETE', `/v1/kv/data%2F${String(i).padStart(5, '0')}`)).status, 200);
      assert.equal((await call(c, 'POST', '/v1/locks/backup-job', { body: JSON.stringify({ owner: 'me', ttlMs: 600_000 }), headers: { 'content-type': 'application/json' } })).status, 200);
      assert.equal((await put(c, 'idem', 'once', { 'idempotency-key': 'backup-test-1' })).status, 200);
      saved = await listAll(leader.clientUrl);
      // From a follower: the save waits for everything committed before it (ReadIndex).
      const follower = c.running().find((m) => m !== leader);
      assert.ok(follower);
      const s = await raftctl(['--endpoints', follower.clientUrl, 'snapshot', 'save', file]);
      assert.equal(s.code, 0, s.stderr);
      const m = /index=(\d+) revision=(\d+) bytes=(\d+) sha256=([0-9a-f]{64}) ms=(\d+)/.exec(s.stdout);
      assert.ok(m, s.stdout);
      savedIndex = Number(m[1]);
      assert.equal(Number(m[2]), saved.revision, 'the backup is at the revision listed just before it');
      process.stdout.write(`# backup: ${s.stdout.trim()} (raftctl wall ${s.ms} ms)\n`);
      // Written after the save: must not be in the restored cluster.
      await writeMany(c, 'after', 50);
    });
    assert.ok(saved);
    assert.equal(saved.more, false);
    assert.equal(saved.kvs.length, KEYS - 34 + 1);

    // A damaged copy is refused before anything is written.
    const damaged = join(dir, 'damaged.backup');
    copyFileSync(file, damaged);
    const bytes = readFileSync(damaged);
    const mid = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(mid) ^ 0xff, mid);
    writeFileSync(damaged, bytes);
    const bad = await raftkvRestore(['--from', damaged, '--data-dir', join(dir, 'bad'), '--name', 'r1', '--initial-cluster', 'r1=127.0.0.1:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /checksum mismatch/);

    // The new cluster: new names, ports and cluster token.
    const names = ['r1', 'r2', 'r3'];
    const ports = await Promise.all(names.map(async () => ({ client: await freePort(), peer: await freePort() })));
    const initial = names.map((n, i) => `${n}=127.0.0.1:${ports[i]?.peer}`).join(',');
    const timings: string[] = [];
    for (const [i, n] of names.entries()) {
      const r = await raftkvRestore(['--from', file, '--data-dir', join(dir, n), '--name', n, '--initial-cluster', initial, '--cluster-token', 'restored']);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { index: number; revision: number; durationMs: number };
      assert.equal(out.index, savedIndex);
      assert.equal(out.revision, saved.revision);
      timings.push(`${n}: restore ${out.durationMs} ms in-process, ${r.ms} ms wall`);
      const p = ports[i];
      assert.ok(p);
      restored.push(new HandMember(n, [
        '--name', n, '--data-dir', join(dir, n), '--listen-client', `http://127.0.0.1:${p.client}`, '--listen-peer', `127.0.0.1:${p.peer}`,
        '--initial-cluster', initial, '--cluster-token', 'restored', '--election-timeout-ms', '1000',
      ], join(dir, `${n}.log`)));
    }
    const t0 = Date.now();
    for (const m of restored) m.start();
    const urls = ports.map((p) => `http://127.0.0.1:${p.client}`);
    await waitFor('every restored member ready', 30_000, async () => {
      const rs = await Promise.all(urls.map((u) => http(`${u}/readyz`, { timeoutMs: 1000 }).catch(() => null)));
      return rs.every((r) => r?.status === 200) ? true : null;
    });
    timings.push(`start → all 3 ready: ${Date.now() - t0} ms; backup file ${statSync(file).size} bytes, ${saved.kvs.length} keys`);
    process.stdout.write(`# restore timings: ${timings.join('; ')}\n`);

    for (const u of urls) {
      const l = await listAll(u);
      assert.equal(l.revision, saved.revision, `${u}: revision`);
      assert.deepEqual(l.kvs, saved.kvs, `${u}: data identical to the saved data`);
      const st = (await http(`${u}/v1/status`)).json as { appliedIndex: number; snapshotIndex: number; members: { name: string; voter: boolean }[] };
      assert.ok(st.appliedIndex >= savedIndex);
      assert.deepEqual(st.members.map((x) => [x.name, x.voter]), names.map((n) => [n, true]));
    }
    // State beyond keys came along: the lock is held, the idempotency record answers a retry.
    const leaderUrl = await waitFor('restored leader', 10_000, async () => {
      const s = (await http(`${urls[0]}/v1/status`)).json as { leader: { clientUrl: string } | null };
      return s.leader && s.leader.clientUrl !== '' ? s.leader.clientUrl : null;
    });
    const lock = await http(`${leaderUrl}/v1/locks/backup-job`, { method: 'POST', body: JSON.stringify({ owner: 'someone-else', ttlMs: 1000 }), headers: { 'content-type': 'application/json' } });
    assert.equal(lock.status, 409, 'the lock taken before the backup is still held');
    const retry = await http(`${leaderUrl}/v1/kv/idem`, { method: 'PUT', body: 'twice', headers: { 'idempotency-key': 'backup-test-1' } });
    assert.equal(retry.status, 200);
    assert.equal((await http(`${leaderUrl}/v1/kv/idem`)).text, 'once', 'a retried write is not applied twice');
    const w = await http(`${leaderUrl}/v1/kv/new-key`, { method: 'PUT', body: 'v' });
    assert.equal(w.status, 200);
    assert.equal((w.json as { revision: number }).revision, saved.revision + 1, 'the restored cluster continues from the saved revision');
  } finally {
    for (const m of restored) await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
