// The alerting rules on a real Prometheus (Debian's) against a real 3-member cluster: the leader
// is killed repeatedly and RaftkvHighNumberOfLeaderChanges fires (via /api/v1/alerts); then two
// members are stopped and RaftkvNoLeader fires on the third. The rule expressions are loaded as
// shipped; only their `for:` hold times are set to 0s, so the test is bounded (the hold times
// themselves are Prometheus semantics, checked by `promtool check rules`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parse, stringify } from 'yaml';
import { repoRoot, sleep, waitFor, withCluster } from '../lib/cluster-harness.js';
import { TestPrometheus } from './observability/prometheus.js';

const CLUSTER_LABEL = 'alerts-test';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
}

interface PromAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly state: string;
  readonly value: string;
}

async function alerts(prom: TestPrometheus): Promise<PromAlert[]> {
  const r = await fetch(`${prom.url}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) });
  const body = (await r.json()) as { data?: { alerts?: PromAlert[] } };
  return body.data?.alerts ?? [];
}

function firing(list: readonly PromAlert[], name: string): PromAlert[] {
  return list.filter((a) => a.labels['alertname'] === name && a.state === 'firing' && a.labels['cluster'] === CLUSTER_LABEL);
}

test('alert rules on a real Prometheus: repeated leader kills fire RaftkvHighNumberOfLeaderChanges; a lost quorum fires RaftkvNoLeader', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-alerts-'));
  try {
    const shipped = join(repoRoot(), 'k8s', 'grafana', 'raftkv-alerts.yml');
    const doc = parse(readFileSync(shipped, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
    const exprs = doc.groups.flatMap((g) => g.rules.map((r) => r.expr));
    for (const g of doc.groups) for (const r of g.rules) r.for = '0s';
    const rulesFile = join(dir, 'rules.yml');
    writeFileSync(rulesFile, stringify(doc));
    assert.deepEqual((parse(readFileSync(rulesFile, 'utf8')) as typeof doc).groups.flatMap((g) => g.rules.map((r) => r.expr)), exprs, 'expressions unchanged');
    const check = spawnSync('/usr/bin/promtool', ['check', 'rules', rulesFile], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(check.status, 0, check.stdout + check.stderr);

    await withCluster('alerts-leader-changes', { members: 3, electionTimeoutMs: 1000 }, async (c) => {
      await c.waitForLeader();
      const prom = await TestPrometheus.start(c.members.map((m) => new URL(m.clientUrl).host), { cluster: CLUSTER_LABEL }, [rulesFile]);
      try {
        await prom.waitForTargetsUp(3, 30_000);
        await sleep(3000);
        assert.deepEqual(firing(await alerts(prom), 'RaftkvHighNumberOfLeaderChanges'), [], 'a calm cluster does not fire');
        // Per-follower replication lag, exported by the leader only.
        const lag = await waitFor('follower lag series', 20_000, async () => {
          const q = await prom.query(`raftkv_raft_follower_lag_entries{cluster="${CLUSTER_LABEL}"} * on (member) group_left () raftkv_server_is_leader{cluster="${CLUSTER_LABEL}"}`);
          return q.samples.length === 2 ? q.samples : null;
        });
        assert.equal(new Set(lag.map((s) => s.metric['follower'])).size, 2, 'one series per follower');
        const rules = await prom.rules();
        assert.ok(rules.length >= 10 && rules.every((r) => r.health !== 'err'), JSON.stringify(rules.filter((r) => r.health === 'err')));
        let kills = 0;
        const fired = await waitFor('RaftkvHighNumberOfLeaderChanges firing', 150_000, async () => {
          const f = firing(await alerts(prom), 'RaftkvHighNumberOfLeaderChanges');
          if (f.length > 0) return f;
          if (kills >= 8) return null; // bounded: then only wait for the evaluation
          const leader = await c.waitForLeader(20_000);
          await c.kill9(leader);
          kills++;
          await c.waitForLeader(20_000);
          c.restart(leader);
          await sleep(2500); // two scrapes at least, so every change is seen
          return null;
        });
        process.stdout.write(`# leader kills: ${kills}; firing for ${fired.map((a) => `${a.labels['member']}=${a.value}`).join(', ')}\n`);
        assert.ok(kills >= 1);

        // Lost quorum: one member left, it knows no leader.
        const leader = await c.waitForLeader(20_000);
        const keep = c.running().find((m) => m !== leader);
        assert.ok(keep);
        for (const m of c.running().filter((x) => x !== keep)) await c.kill9(m);
        const noLeader = await waitFor('RaftkvNoLeader firing', 60_000, async () => {
          const f = firing(await alerts(prom), 'RaftkvNoLeader');
          return f.some((a) => a.labels['member'] === keep.name) ? f : null;
        });
        assert.equal(noLeader.length, 1);
      } finally {
        await prom.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
