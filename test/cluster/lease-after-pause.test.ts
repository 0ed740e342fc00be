// A leader whose process was stopped while the others elected a new leader must not answer
// linearizable reads from its lease when it resumes: its ticks stood still while time passed
// (SIGSTOP here; a synchronous fsync or a GC pause in production), so the driver makes up the
// missed ticks before the core judges the lease.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, withCluster } from '../lib/cluster-harness.js';
import { injectFaults, kvPath } from './client.js';

test('a leader stopped while another was elected answers no stale read from its lease when it resumes', { timeout: 90_000 }, async () => {
  await withCluster('lease-after-pause', { members: 3, electionTimeoutMs: 1000, heartbeatIntervalMs: 100, extraArgs: ['--enable-fault-injection'] }, async (c) => {
    const old = await c.waitForLeader();
    assert.equal((await c.request(old, 'PUT', kvPath('k'), { body: 'before' })).status, 200);
    // Cut it off first, so that when it resumes no higher term reaches it before the read;
    // then stop the process at once (its last heartbeats were acknowledged a moment ago).
    await injectFaults(c, old, { dropPeerTraffic: true, durationMs: 30_000 });
    c.pause(old);
    const next = await c.waitForLeader(20_000, [old.name]);
    assert.notEqual(next.name, old.name);
    await waitFor('the write on the new leader', 10_000, async () => ((await c.request(next, 'PUT', kvPath('k'), { body: 'after' })).status === 200 ? true : null));
    c.resume(old);
    const r = await c.request(old, 'GET', kvPath('k'), { timeoutMs: 8000 }).catch(() => null);
    assert.ok(r === null || r.status !== 200 || r.text === 'after', `the resumed old leader answered ${r?.status ?? '-'} ${r?.text ?? ''}: a stale read from its lease`);
    assert.notEqual(r?.status, 200, 'cut off from the others, it cannot confirm any read');
  });
});
