// A member removed while it could not hear the leader learns its removal once it can: its next
// campaign (a pre-vote) reaches the leader, which no longer dials it, and the leader's answer —
// the committed entries, its removal among them — travels back on the member's own connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sleep, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { ClusterMember } from '../lib/cluster-harness.js';
import { injectFaults, kvPath } from './client.js';

test('a follower removed while cut off learns its removal when it can reach the leader again', { timeout: 90_000 }, async () => {
  await withCluster('removed-while-cut-off', { members: 3, electionTimeoutMs: 600, heartbeatIntervalMs: 100, extraArgs: ['--enable-fault-injection'] }, async (c) => {
    const leader = await c.waitForLeader();
    const target = c.running().find((m) => m !== leader);
    assert.ok(target);
    assert.equal((await c.request(leader, 'PUT', kvPath('before'), { body: '1' })).status, 200);
    await injectFaults(c, target, { dropPeerTraffic: true, durationMs: 60_000 });
    const del = await c.request(leader, 'DELETE', `/v1/members/${target.name}`, { timeoutMs: 10_000 });
    assert.equal(del.status, 200, del.text);
    assert.equal((await c.request(leader, 'PUT', kvPath('after'), { body: '2' })).status, 200);
    // Several of its election timeouts: it campaigns, unheard, and never hears the farewell.
    await sleep(2000);
    const cutOff = await c.status(target);
    assert.equal(cutOff?.removed, false, 'cut off, it cannot know yet');
    assert.notEqual((await c.request(target, 'GET', '/readyz')).status, 410);
    await injectFaults(c, target, { dropPeerTraffic: false });
    await waitFor(`${target.name} reports removed`, 20_000, async () => ((await c.status(target))?.removed === true ? true : null));
    const write = await c.request(target, 'PUT', kvPath('to-a-removed-member'), { body: 'v' });
    assert.equal(write.status, 410, write.text);
    const ready = await c.request(target, 'GET', '/readyz');
    assert.equal(ready.status, 503, ready.text);
    assert.match(readLog(target), /this member was removed from the cluster/);
    // The two that remain keep serving.
    const l = await c.waitForLeader(10_000, [target.name]);
    assert.notEqual(l.name, target.name);
    assert.equal((await c.request(l, 'PUT', kvPath('afterwards'), { body: '3' })).status, 200);
  });
});

function readLog(m: ClusterMember): string {
  return readFileSync(m.logFile, 'utf8');
}
