// Recovery from permanent quorum loss with real processes: 2 of 3 members are killed and their
// disks wiped; the survivor alone has no leader and refuses writes; restarted once with
// --force-new-cluster it becomes a one-member cluster with all its data; two new members join
// through add-member/promote; the grown cluster survives losing the old survivor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { sleep, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { Cluster, ClusterMember } from '../lib/cluster-harness.js';
import { call, kvPath, put } from './client.js';

const KEYS = 200;

async function promote(c: Cluster, name: string): Promise<void> {
  await waitFor(`${name} promoted`, 30_000, async () => {
    const r = await call(c, 'POST', `/v1/members/${name}/promote`, { deadlineMs: 3000 });
    return r.status === 200 ? true : null;
  });
}

async function serializable(c: Cluster, m: ClusterMember, key: string): Promise<string | null> {
  const r = await c.request(m, 'GET', `${kvPath(key)}?consistency=serializable`, { timeoutMs: 2000 }).catch(() => null);
  return r?.status === 200 ? r.text : null;
}

test('--force-new-cluster: one survivor of a killed 3-member cluster keeps its data and grows back to 3', { timeout: 240_000 }, async () => {
  await withCluster('force-new-cluster', { members: 3, electionTimeoutMs: 1000 }, async (c) => {
    const leader = await c.waitForLeader();
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let i = next++; i < KEYS; i = next++) assert.equal((await put(c, `k/${i}`, `v${i}`)).status, 200);
    }));
    const survivor = c.running().find((m) => m !== leader);
    assert.ok(survivor);
    const before = await c.status(survivor);
    assert.ok(before);
    // The disaster: two members are gone for good.
    for (const m of c.running().filter((x) => x !== survivor)) {
      await c.kill9(m);
      rmSync(m.dataDir, { recursive: true, force: true });
    }
    await waitFor('the survivor to lose its leader', 15_000, async () => ((await c.status(survivor))?.leader === null ? true : null));
    const refused = await c.request(survivor, 'PUT', kvPath('lost'), { body: 'x', timeoutMs: 3000 });
    assert.ok(refused.status === 503 || refused.status === 307, `no write without quorum (got ${refused.status})`);

    await c.terminate(survivor);
    survivor.extraArgs = ['--force-new-cluster'];
    c.restart(survivor);
    await waitFor('the survivor leads alone', 20_000, async () => {
      const s = await c.status(survivor);
      return s?.role === 'leader' && s.members.length === 1 ? s : null;
    });
    assert.match(readFileSync(survivor.logFile, 'utf8'), /FORCE NEW CLUSTER/);
    for (let i = 0; i < KEYS; i += 17) assert.equal((await call(c, 'GET', kvPath(`k/${i}`))).text, `v${i}`);
    assert.equal((await put(c, 'after-recovery', 'yes')).status, 200);
    // From now on the flag must be gone: a plain restart keeps the one-member configuration.
    await c.terminate(survivor);
    survivor.extraArgs = [];
    c.restart(survivor);
    await waitFor('the survivor leads again after a plain restart', 20_000, async () => ((await c.status(survivor))?.role === 'leader' ? true : null));

    // Grow back to three voters.
    for (const name of ['n4', 'n5']) {
      const m = await c.addMember(name, 30_000);
      await waitFor(`${m.name} caught up`, 30_000, async () => ((await serializable(c, m, 'after-recovery')) === 'yes' ? true : null));
      await promote(c, name);
    }
    const grown = await c.waitForLeader(20_000);
    const st = await c.status(grown);
    assert.deepEqual(st?.members.map((m) => [m.name, m.voter]), [[survivor.name, true], ['n4', true], ['n5', true]]);
    // The new members are real voters: without the old survivor they elect a leader and keep all data.
    await c.kill9(survivor);
    const newLeader = await c.waitForLeader(20_000);
    assert.ok(newLeader.name === 'n4' || newLeader.name === 'n5');
    assert.equal((await put(c, 'after-growth', 'ok')).status, 200);
    for (let i = 0; i < KEYS; i += 13) assert.equal((await call(c, 'GET', kvPath(`k/${i}`))).text, `v${i}`);
    await sleep(100);
  });
});
