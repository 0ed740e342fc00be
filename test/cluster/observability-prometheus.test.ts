// Proof that the Grafana dashboards work against a real cluster and a real Prometheus: every
// panel query, with the dashboard variables substituted as Grafana would, returns data; and
// killing the leader shows up in the "Leader changes" and "Current leader" queries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot, sleep, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { Cluster, ClusterMember } from '../lib/cluster-harness.js';
import { panelQueries, substitute } from '../unit/observability/dashboards.js';
import type { DashboardVars } from '../unit/observability/dashboards.js';
import { TestPrometheus } from './observability/prometheus.js';
import type { PromSample } from './observability/prometheus.js';

const CLUSTER_LABEL = 'obs-test';
/** Grafana's "All" for the overview and `$__rate_interval`/`$__range` values fitting a short test. */
const VARS: DashboardVars = { cluster: CLUSTER_LABEL, member: '.*', rateInterval: '30s', range: '5m' };

/** Writes through the leader and reads everywhere for `durationMs`, so rates and histograms have samples. */
async function driveLoad(c: Cluster, leader: ClusterMember, durationMs: number): Promise<number> {
  const until = Date.now() + durationMs;
  let ok = 0;
  for (let i = 0; Date.now() < until && i < 100_000; i++) {
    const put = await c.request(leader, 'PUT', `/v1/kv/obs/key-${i % 50}`, { body: `value-${i}` });
    if (put.status === 200) ok++;
    if (i % 5 === 0) {
      for (const m of c.running()) await c.request(m, 'GET', `/v1/kv/obs/key-${i % 50}?consistency=serializable`);
      await c.request(leader, 'GET', '/v1/status');
      await c.request(leader, 'GET', '/v1/kv/obs/does-not-exist');
    }
    await sleep(20);
  }
  return ok;
}

function values(samples: readonly PromSample[]): Map<string, number> {
  return new Map(samples.map((s) => [s.metric['member'] ?? '', Number(s.value[1])]));
}

test('every dashboard panel returns data from a real Prometheus, and a leader kill is visible', { timeout: 180_000 }, async () => {
  await withCluster('observability-prometheus', { members: 3 }, async (c) => {
    const leader = await c.waitForLeader();
    const targets = c.members.map((m) => new URL(m.clientUrl).host);
    const prom = await TestPrometheus.start(targets, { cluster: CLUSTER_LABEL }, [join(repoRoot(), 'k8s', 'grafana', 'raftkv-alerts.yml')]);
    try {
      process.stdout.write(`prometheus pid ${prom.pid()} at ${prom.url}\n`);
      await prom.waitForTargetsUp(3, 20_000);
      // A snapshot so the snapshot panels have something to show.
      const snap = await c.request(leader, 'POST', '/v1/snapshot');
      assert.equal(snap.status, 200, `POST /v1/snapshot: ${snap.text}`);
      const writes = await driveLoad(c, leader, 8_000);
      assert.ok(writes > 20, `the load wrote only ${writes} keys`);
      // Two more scrapes after the load, so every rate window holds it.
      await sleep(2_500);

      const queries = panelQueries(repoRoot());
      assert.ok(queries.length > 0);
      const empty: string[] = [];
      const nanOnly: string[] = [];
      const verified = new Set<string>();
      for (const q of queries) {
        const expr = substitute(q.expr, VARS);
        const r = await prom.query(expr);
        const label = `${q.dashboard.replace(/^.*\//, '')} / ${q.panel} [${q.refId}]`;
        if (r.samples.length === 0) empty.push(`${label}: ${expr}`);
        else {
          verified.add(`${q.dashboard.replace(/^.*\//, '')} / ${q.panel}`);
          if (r.samples.every((s) => Number.isNaN(Number(s.value[1])))) nanOnly.push(label);
        }
      }
      // The member dashboard with one concrete member, as its single-select variable would be.
      for (const q of queries.filter((x) => x.dashboard.endsWith('raftkv-member.json'))) {
        const r = await prom.query(substitute(q.expr, { ...VARS, member: leader.name }));
        for (const s of r.samples) if (s.metric['member'] !== undefined) assert.equal(s.metric['member'], leader.name, q.panel);
      }
      process.stdout.write(`panels verified against Prometheus (${verified.size}):\n  ${[...verified].join('\n  ')}\n`);
      if (nanOnly.length > 0) process.stdout.write(`panels whose every series is NaN (no observations in the window):\n  ${nanOnly.join('\n  ')}\n`);
      assert.deepEqual(empty, [], `panel queries returned no data:\n${empty.join('\n')}`);
      // The alerting rules evaluate against real series without errors.
      const rules = await prom.rules();
      assert.ok(rules.length >= 5, `alert rules loaded: ${rules.length}`);
      assert.deepEqual(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError}`), []);

      // Kill the leader: the survivors elect a new one; the dashboards must show it.
      const changesExpr = substitute(queries.find((q) => q.panel === 'Leader changes (in range)')?.expr ?? '', VARS);
      const leaderExpr = substitute(queries.find((q) => q.panel === 'Current leader')?.expr ?? '', VARS);
      assert.notEqual(changesExpr, '', 'the overview has a Leader changes panel');
      assert.notEqual(leaderExpr, '', 'the overview has a Current leader panel');
      const before = values((await prom.query(changesExpr)).samples);
      const shownLeader = (await prom.query(leaderExpr)).samples.map((s) => s.metric['member']);
      assert.deepEqual(shownLeader, [leader.name], 'Current leader shows the leader');
      await c.kill9(leader);
      const next = await c.waitForLeader(20_000, [leader.name]);
      assert.notEqual(next.name, leader.name);
      await waitFor('the leader-changes query to count the new election', 20_000, async () => {
        const after = values((await prom.query(changesExpr)).samples);
        const grew = [...after].filter(([m, v]) => m !== leader.name && v >= (before.get(m) ?? 0) + 0.5);
        return grew.length >= 1 ? grew : null;
      });
      await waitFor('the current-leader query to name the new leader', 20_000, async () => {
        const shown = (await prom.query(leaderExpr)).samples.map((s) => s.metric['member']);
        return shown.length === 1 && shown[0] === next.name ? true : null;
      });
    } catch (err) {
      process.stderr.write(`prometheus log:\n${prom.log()}\n`);
      throw err;
    } finally {
      await prom.stop();
    }
  });
});
