// The alerting rules are valid for Prometheus (promtool) and only use metrics the daemon exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { createMetrics } from '../../../daemon/src/observability/metrics.js';
import { createOperatorMetrics } from '../../../operator/src/metrics.js';
import { exposedNames, metricNames } from './dashboards.js';

const PROMTOOL = '/usr/bin/promtool';

function rulesFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const f = join(dir, 'k8s', 'grafana', 'raftkv-alerts.yml');
    if (existsSync(f)) return f;
    dir = dirname(dir);
  }
  throw new Error('cannot find k8s/grafana/raftkv-alerts.yml');
}

test('promtool accepts the alerting rules', () => {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is required (Debian package prometheus)`);
  const r = spawnSync(PROMTOOL, ['check', 'rules', rulesFile()], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `promtool check rules failed:\n${r.stdout}\n${r.stderr}`);
});

test('alert expressions reference only exported metrics (the daemon\'s, the operator\'s, plus up)', async () => {
  const known = new Set<string>(['up']);
  for (const m of await createMetrics('n1').registry.getMetricsAsJSON()) for (const n of exposedNames(m.name, String(m.type))) known.add(n);
  for (const m of await createOperatorMetrics().registry.getMetricsAsJSON()) for (const n of exposedNames(m.name, String(m.type))) known.add(n);
  const doc = parse(readFileSync(rulesFile(), 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
  const rules = doc.groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 5);
  const unknown = rules.flatMap((r) => metricNames(r.expr).filter((n) => !known.has(n)).map((n) => `${r.alert}: ${n}`));
  assert.deepEqual(unknown, []);
});

test('RaftkvIdempotencyWindowFull fires on one refused keyed write and not without one (promtool test rules)', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-alert-'));
  try {
    const doc = parse(readFileSync(rulesFile(), 'utf8')) as { groups: { rules: { alert: string; annotations: { summary: string; description: string } }[] }[] };
    const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === 'RaftkvIdempotencyWindowFull');
    assert.ok(rule, 'the rule exists');
    const summary = rule.annotations.summary.replace('{{ $labels.member }}', 'n1').replace('{{ $labels.cluster }}', 'c').replace('{{ $value }}', '3');
    const spec = {
      rule_files: [rulesFile()],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: [
          { series: 'raftkv_idempotency_refused_total{cluster="c",member="n1"}', values: '0 0 0 3 3 3 3 3 3 3' },
          { series: 'raftkv_idempotency_refused_total{cluster="c",member="n2"}', values: '0 0 0 0 0 0 0 0 0 0' },
        ],
        alert_rule_test: [
          { eval_time: '2m', alertname: 'RaftkvIdempotencyWindowFull', exp_alerts: [] },
          {
            eval_time: '4m',
            alertname: 'RaftkvIdempotencyWindowFull',
            exp_alerts: [{ exp_labels: { severity: 'warning', cluster: 'c', member: 'n1' }, exp_annotations: { summary, description: rule.annotations.description } }],
          },
          { eval_time: '9m', alertname: 'RaftkvIdempotencyWindowFull', exp_alerts: [] },
        ],
      }],
    };
    const f = join(dir, 'window.test.yml');
    writeFileSync(f, JSON.stringify(spec));
    const r = spawnSync(PROMTOOL, ['test', 'rules', f], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `promtool test rules failed:\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('RaftkvBackupNotFresh fires after BackupFresh has been False for a minute, only for that cluster, and clears (promtool test rules)', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-alert-'));
  try {
    const doc = parse(readFileSync(rulesFile(), 'utf8')) as { groups: { rules: { alert: string; annotations: { summary: string; description: string } }[] }[] };
    const rule = doc.groups.flatMap((g) => g.rules).find((r) => r.alert === 'RaftkvBackupNotFresh');
    assert.ok(rule, 'the rule exists');
    const summary = rule.annotations.summary.replace('{{ $labels.namespace }}', 'prod').replace('{{ $labels.cluster }}', 'kv');
    const spec = {
      rule_files: [rulesFile()],
      evaluation_interval: '30s',
      tests: [{
        interval: '30s',
        input_series: [
          { series: 'raftkv_operator_backup_fresh{namespace="prod",cluster="kv",instance="op-0"}', values: '1 1 0 0 0 0 0 1 1 1' },
          { series: 'raftkv_operator_backup_fresh{namespace="prod",cluster="other",instance="op-0"}', values: '1 1 1 1 1 1 1 1 1 1' },
        ],
        alert_rule_test: [
          { eval_time: '90s', alertname: 'RaftkvBackupNotFresh', exp_alerts: [] },
          { eval_time: '150s', alertname: 'RaftkvBackupNotFresh', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'prod', cluster: 'kv' }, exp_annotations: { summary, description: rule.annotations.description } }] },
          { eval_time: '240s', alertname: 'RaftkvBackupNotFresh', exp_alerts: [] },
        ],
      }],
    };
    const f = join(dir, 'backup.test.yml');
    writeFileSync(f, JSON.stringify(spec));
    const r = spawnSync(PROMTOOL, ['test', 'rules', f], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `promtool test rules failed:\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
