// The Grafana dashboards are valid, use the datasource and cluster/member variables, and only
// reference metrics the daemon exports (metrics.ts or prom-client's defaults), so renaming a
// metric without updating the dashboards fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { createMetrics } from '../../../daemon/src/observability/metrics.js';
import { DASHBOARD_FILES, exposedNames, metricNames, panelQueries, readDashboard, substitute } from './dashboards.js';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'k8s', 'grafana'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the repository root');
}

async function exportedNames(): Promise<Set<string>> {
  const metrics = createMetrics('n1');
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) for (const n of exposedNames(m.name, String(m.type))) names.add(n);
  return names;
}

/** Every panel query's metric names missing from `known`, as `dashboard / panel: name`. */
function unknownNames(known: Set<string>, queries: readonly { dashboard: string; panel: string; expr: string }[]): string[] {
  const bad: string[] = [];
  for (const q of queries) for (const n of metricNames(q.expr)) if (!known.has(n)) bad.push(`${q.dashboard} / ${q.panel}: ${n}`);
  return bad;
}

test('metricNames extracts metric names, not functions, labels or keywords', () => {
  assert.deepEqual(
    metricNames('histogram_quantile(0.99, sum by (member, le) (rate(raftkv_disk_wal_fsync_duration_seconds_bucket{cluster="$cluster", member=~"a|b"}[5m])))'),
    ['raftkv_disk_wal_fsync_duration_seconds_bucket'],
  );
  assert.deepEqual(
    metricNames('sum by (member) (rate(x_total{code=~"[45].."}[1m])) or sum by (member) (0 * y{a="b"}) - scalar(max(z))').sort(),
    ['x_total', 'y', 'z'],
  );
});

test('every dashboard panel references only exported metric names', async () => {
  const known = await exportedNames();
  const queries = panelQueries(repoRoot());
  assert.ok(queries.length >= 25, `expected the dashboards to hold many queries, found ${queries.length}`);
  assert.deepEqual(unknownNames(known, queries), []);
});

test('the check catches a renamed metric', async () => {
  const known = await exportedNames();
  const renamed = [{ dashboard: 'x', panel: 'fsync', expr: 'histogram_quantile(0.99, sum by (le) (rate(raftkv_wal_fsync_seconds_bucket[1m])))' }];
  assert.deepEqual(unknownNames(known, renamed), ['x / fsync: raftkv_wal_fsync_seconds_bucket']);
});

test('dashboards are Grafana JSON with the datasource, cluster and member variables', () => {
  const root = repoRoot();
  for (const file of DASHBOARD_FILES) {
    const d = readDashboard(root, file);
    assert.equal(typeof d['uid'], 'string', file);
    assert.ok(typeof d['schemaVersion'] === 'number' && d['schemaVersion'] >= 36, `${file} schemaVersion`);
    const vars = ((d['templating'] as { list: { name: string; type: string }[] }).list).map((v) => `${v.name}:${v.type}`);
    assert.deepEqual(vars, ['datasource:datasource', 'cluster:query', 'member:query'], file);
    const panels = d['panels'] as { id: number; type: string; datasource?: { uid?: string }; gridPos: { w: number; x: number } }[];
    const ids = new Set(panels.map((p) => p.id));
    assert.equal(ids.size, panels.length, `${file}: panel ids are unique`);
    for (const p of panels) {
      assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${file}: panel ${p.id} fits the 24-column grid`);
      if (p.type !== 'row') assert.equal(p.datasource?.uid, '${datasource}', `${file}: panel ${p.id} uses the datasource variable`);
    }
  }
  for (const q of panelQueries(root)) {
    // Each metric selector is filtered by cluster and member, so one Prometheus can hold many clusters.
    const selectors = q.expr.match(/[A-Za-z_:][A-Za-z0-9_:]*\{[^}]*\}/g) ?? [];
    assert.ok(selectors.length > 0, `${q.panel}: has a selector`);
    for (const sel of selectors) assert.match(sel, /cluster="\$cluster"/, `${q.panel}: ${sel}`);
    assert.ok(/member=~"\$member"/.test(q.expr), `${q.panel}: filters by $member`);
    const sub = substitute(q.expr, { cluster: 'c1', member: '.*', rateInterval: '30s', range: '5m' });
    assert.ok(!sub.includes('$'), `${q.panel}: every variable substituted: ${sub}`);
  }
});
