// Proof that traces leave real members: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a local
// OTLP/HTTP receiver, a client write shows up as one trace: the leader's request span (named by
// route template) with propose/persist/apply children, and each follower's replicate and apply
// spans under the same request, carried there by the traceparent in the raft Append.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, withCluster } from '../lib/cluster-harness.js';
import { OtlpCollector } from './observability/otlp-collector.js';
import type { ReceivedSpan } from './observability/otlp-collector.js';

/** A request trace with every step on the leader and a replicate span on both followers. */
function completeTrace(spans: readonly ReceivedSpan[], leader: string, followers: readonly string[]): { traceId: string; spans: ReceivedSpan[] } | null {
  const requests = spans.filter((s) => s.name === 'PUT /v1/kv/:key' && s.member === leader);
  for (const req of requests) {
    const inTrace = spans.filter((s) => s.traceId === req.traceId);
    const child = (member: string, name: string): boolean => inTrace.some((s) => s.member === member && s.name === name && s.parentSpanId !== '' && inTrace.some((p) => p.spanId === s.parentSpanId));
    const leaderSteps = ['raft.propose', 'raft.persist', 'raft.apply'].every((n) => inTrace.some((s) => s.member === leader && s.name === n && s.parentSpanId === req.spanId));
    if (leaderSteps && followers.every((f) => child(f, 'raft.replicate'))) return { traceId: req.traceId, spans: inTrace };
  }
  return null;
}

test('a write is one trace across the leader and its followers, exported over OTLP', { timeout: 120_000 }, async () => {
  const collector = await OtlpCollector.start();
  try {
    // A short batch delay so spans arrive within the test's bounds.
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '200' };
    await withCluster('observability-tracing', { members: 3, env }, async (c) => {
      const leader = await c.waitForLeader();
      const followers = c.members.filter((m) => m.name !== leader.name).map((m) => m.name);
      for (let i = 0; i < 20; i++) {
        const r = await c.request(leader, 'PUT', `/v1/kv/trace/k${i}`, { body: `v${i}` });
        assert.equal(r.status, 200, r.text);
      }
      const puts = await waitFor('PUT spans from the leader', 15_000, () => {
        const s = collector.spans.filter((x) => x.name === 'PUT /v1/kv/:key' && x.member === leader.name);
        return s.length >= 20 ? s : null;
      });
      assert.ok(puts.every((s) => s.service === 'raftkv' && s.parentSpanId === ''), 'request spans are roots named by template, from service raftkv');
      assert.ok(!collector.spans.some((s) => s.name.includes('/trace/k')), 'span names never contain keys');
      const trace = await waitFor('one complete write trace across the three members', 15_000, () => completeTrace(collector.spans, leader.name, followers));
      process.stdout.write(`trace ${trace.traceId}:\n${trace.spans.map((s) => `  ${s.member} ${s.name}`).join('\n')}\n`);
    });
  } finally {
    await collector.close();
  }
});
