// The disaster-recovery runbook's case 3 ("quorum lost for good", docs/security.md), followed
// step by step with raftctl on real processes: 3 of 5 members are killed and their disks wiped;
// of the two survivors one had been down and lags. `raftctl status` (its LAST-INDEX column and
// `lastIndex` in -w json) names the up-to-date one; it is backed up with `snapshot save
// --serializable`, the lagging one is retired, the survivor starts once with --force-new-cluster
// (one-member cluster, all its data), restarts without it, and two new members join through
// `raftctl members add` / `members promote`; the grown cluster survives losing the old survivor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, withCluster } from '../lib/cluster-harness.js';
import type { Cluster, ClusterMember } from '../lib/cluster-harness.js';
import { kvPath, put } from './client.js';
import { raftctl } from './security-support.js';
import type { RunResult } from './security-support.js';

const KEYS = 200;
const LATE_KEYS = 20;

interface StatusJson {
  readonly members: readonly { readonly name: string; readonly role: string | null; readonly voter: boolean | null; readonly lastIndex: number | null; readonly error: string | null }[];
  readonly leader: { readonly name: string } | null;
}

async function statusJson(endpoints: string): Promise<{ run: RunResult; body: StatusJson }> {
  const r = await raftctl(['--endpoints', endpoints, '--timeout', '3s', 'status', '-w', 'json']);
  return { run: r, body: JSON.parse(r.stdout === '' ? '{"members":[],"leader":null}' : r.stdout) as StatusJson };
}

async function serializable(c: Cluster, m: ClusterMember, key: string): Promise<string | null> {
  const r = await c.request(m, 'GET', `${kvPath(key)}?consistency=serializable`, { timeoutMs: 2000 }).catch(() => null);
  return r?.status === 200 ? r.text : null;
}

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}: ${r.stderr}`);
  return r;
}

test('runbook, quorum lost for good: raftctl status picks the survivor; backup, --force-new-cluster, members add/promote', { timeout: 300_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'raftkv-runbook-'));
  try {
    await withCluster('runbook-quorum-loss', { members: 5, electionTimeoutMs: 1000 }, async (c) => {
      const leader = await c.waitForLeader();
      let next = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = next++; i < KEYS; i = next++) assert.equal((await put(c, `k/${i}`, `v${i}`)).status, 200);
      }));
      const followers = c.running().filter((m) => m !== leader);
      const [lagging, upToDate, ...rest] = followers;
      assert.ok(lagging && upToDate && rest.length === 2);
      // One member is down for a while and misses the latest writes.
      await c.kill9(lagging);
      for (let i = 0; i < LATE_KEYS; i++) assert.equal((await put(c, `late/${i}`, `l${i}`)).status, 200);
      // The disaster: three members are gone for good, the leader among them.
      for (const m of [leader, ...rest]) {
        await c.kill9(m);
        rmSync(m.dataDir, { recursive: true, force: true });
      }
      c.restart(lagging);
      const survivors = `${lagging.clientUrl},${upToDate.clientUrl}`;

      // "From the most up-to-date survivor (the highest LAST-INDEX in raftctl status)".
      const seen = await waitFor('both survivors answer raftctl status', 30_000, async () => {
        const s = await statusJson(survivors);
        const answering = s.body.members.filter((m) => m.lastIndex !== null);
        return answering.length === 2 ? s : null;
      });
      assert.equal(seen.run.code, 1, 'three members are unreachable: status exits 1');
      assert.equal(seen.body.leader, null, 'no leader without a quorum');
      assert.deepEqual(seen.body.members.filter((m) => m.error !== null).map((m) => m.name).sort(), [leader, ...rest].map((m) => m.name).sort());
      const pick = [...seen.body.members].filter((m) => m.lastIndex !== null).sort((a, b) => (b.lastIndex ?? 0) - (a.lastIndex ?? 0))[0];
      assert.equal(pick?.name, upToDate.name, `the highest lastIndex is the member that saw every write: ${JSON.stringify(seen.body.members)}`);
      const table = await raftctl(['--endpoints', survivors, 'status']);
      const header = table.stdout.split('\n')[0] ?? '';
      assert.match(header, /^NAME\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAST-INDEX\s+LAG\s+CLIENT-URL$/);
      const col = header.indexOf('LAST-INDEX');
      const lastIndexOf = (name: string): number => Number((table.stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '').slice(col).split(/\s+/)[0]);
      assert.ok(lastIndexOf(upToDate.name) > lastIndexOf(lagging.name), table.stdout);
      const survivor = upToDate;
      // Longer than a member holds a write while it waits for an election (then 503 NO_LEADER).
      const refused = await raftctl(['--endpoints', survivor.clientUrl, '--timeout', '5s', 'put', 'lost', 'x']);
      assert.equal(refused.code, 1, 'no write without a quorum');
      assert.match(refused.stderr, /no member served the request within 5s .*503 NO_LEADER/);

      // 1. "Optionally save what it holds".
      const bak = join(tmp, 'pre-force.bak');
      assert.match(ok(await raftctl(['--endpoints', survivor.clientUrl, 'snapshot', 'save', bak, '--serializable']), 'snapshot save').stdout, /^saved /);
      assert.ok(existsSync(bak));
      // 2. "Make sure the lost members can never return with their old data": the lagging one too.
      await c.kill9(lagging);
      rmSync(lagging.dataDir, { recursive: true, force: true });
      // 3. "Stop the survivor; start it once with --force-new-cluster".
      await c.terminate(survivor);
      survivor.extraArgs = ['--force-new-cluster'];
      c.restart(survivor);
      // 4. "Check it leads: raftctl status shows one voter, leader = survivor".
      await waitFor('raftctl status: one voter, the survivor leads', 20_000, async () => {
        const s = await statusJson(survivor.clientUrl);
        return s.run.code === 0 && s.body.members.length === 1 && s.body.leader?.name === survivor.name ? true : null;
      });
      assert.match(readFileSync(survivor.logFile, 'utf8'), /FORCE NEW CLUSTER/);
      // "Stop it and start it again without --force-new-cluster".
      await c.terminate(survivor);
      survivor.extraArgs = [];
      c.restart(survivor);
      await waitFor('the survivor leads again after a plain restart', 20_000, async () => ((await statusJson(survivor.clientUrl)).body.leader?.name === survivor.name ? true : null));
      // All it held is there, the late writes included.
      for (let i = 0; i < KEYS; i += 17) assert.equal(ok(await raftctl(['--endpoints', survivor.clientUrl, 'get', `k/${i}`]), 'get').stdout, `v${i}\n`);
      for (let i = 0; i < LATE_KEYS; i++) assert.equal(ok(await raftctl(['--endpoints', survivor.clientUrl, 'get', `late/${i}`]), 'get').stdout, `l${i}\n`);
      ok(await raftctl(['--endpoints', survivor.clientUrl, 'put', 'after-recovery', 'yes']), 'put after recovery');

      // 5. "Grow back: start it with an empty data dir and --initial-cluster-state existing,
      //    raftctl members add, wait, raftctl members promote".
      const joined: ClusterMember[] = [];
      for (const name of ['n6', 'n7']) {
        const m = await c.startJoiner(name);
        const endpoints = [survivor, ...joined].map((x) => x.clientUrl).join(',');
        assert.match(ok(await raftctl(['--endpoints', endpoints, 'members', 'add', name, m.peerAddress, m.clientUrl]), 'members add').stdout, /^added n\d as a learner/);
        await waitFor(`${name} caught up`, 30_000, async () => ((await serializable(c, m, 'after-recovery')) === 'yes' ? true : null));
        await waitFor(`${name} promoted`, 30_000, async () => ((await raftctl(['--endpoints', endpoints, 'members', 'promote', name])).code === 0 ? true : null));
        joined.push(m);
      }
      const all = [survivor, ...joined].map((x) => x.clientUrl).join(',');
      const members = JSON.parse(ok(await raftctl(['--endpoints', all, 'members', 'list', '-w', 'json']), 'members list').stdout) as { members: { name: string; voter: boolean }[] };
      assert.deepEqual(members.members.map((m) => [m.name, m.voter]), [[survivor.name, true], ['n6', true], ['n7', true]]);
      // The new members are real voters: without the old survivor they elect a leader and keep all data.
      await c.kill9(survivor);
      ok(await raftctl(['--endpoints', all, 'put', 'after-growth', 'ok']), 'put after growth');
      for (let i = 0; i < KEYS; i += 13) assert.equal(ok(await raftctl(['--endpoints', all, 'get', `k/${i}`]), 'get').stdout, `v${i}\n`);
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
