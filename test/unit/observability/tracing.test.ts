// Tracing helpers against a real SDK with an in-memory exporter: parent/child structure, the
// traceparent round trip through a raft message field, and "nothing installed" without an endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import {
  EntryTraces,
  SPAN,
  extractContext,
  initTracing,
  injectTraceParent,
  installTracing,
  startRequestSpan,
  tracingEnabled,
  withChild,
} from '../../../daemon/src/observability/tracing.js';

function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const s = spans.find((x) => x.name === name);
  assert.ok(s, `span ${name} not exported; got ${spans.map((x) => x.name).join(', ')}`);
  return s;
}

test('without an OTLP endpoint nothing is installed and helpers are no-ops', async () => {
  const handle = await initTracing('raftkv', 'n1', {});
  assert.equal(handle.enabled, false);
  assert.equal(tracingEnabled(), false);
  const rs = startRequestSpan('PUT', '/v1/kv/:key');
  assert.equal(rs.span.isRecording(), false);
  const tp = rs.run(() => withChild(SPAN.propose, () => injectTraceParent()));
  rs.end(200);
  assert.equal(tp, undefined, 'no traceparent may be put on the wire with tracing off');
  await handle.shutdown();
});

test('request span parents propose/persist/apply, and a follower append joins the same trace via traceParent', async () => {
  const exporter = new InMemorySpanExporter();
  const handle = await installTracing('raftkv', 'n1', new SimpleSpanProcessor(exporter));
  try {
    assert.equal(tracingEnabled(), true);
    const entryTraces = new EntryTraces(8);
    const rs = startRequestSpan('PUT', '/v1/kv/:key');
    // The async persist step proves the context survives an await (async-hooks context manager).
    await rs.run(async () => {
      withChild(SPAN.propose, () => entryTraces.remember(7, injectTraceParent()));
      await withChild(SPAN.persist, async () => {
        await new Promise((r) => setTimeout(r, 5));
      });
      withChild(SPAN.apply, () => undefined);
    });
    rs.end(200);
    // Leader sends an Append covering entries 5..9; the follower extracts and records its work.
    const message: { traceParent?: string } = {};
    const tp = entryTraces.forRange(5, 9);
    assert.ok(tp !== undefined);
    message.traceParent = tp;
    assert.match(message.traceParent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    context.with(extractContext(message.traceParent), () => withChild(SPAN.replicate, () => undefined));

    const spans = exporter.getFinishedSpans();
    const req = byName(spans, 'PUT /v1/kv/:key');
    const traceId = req.spanContext().traceId;
    for (const name of [SPAN.propose, SPAN.persist, SPAN.apply]) {
      const s = byName(spans, name);
      assert.equal(s.spanContext().traceId, traceId, `${name} is in the request's trace`);
      assert.equal(s.parentSpanContext?.spanId, req.spanContext().spanId, `${name} is a child of the request span`);
    }
    const propose = byName(spans, SPAN.propose);
    const replicate = byName(spans, SPAN.replicate);
    assert.equal(replicate.spanContext().traceId, traceId, 'the follower append is in the same trace');
    assert.equal(replicate.parentSpanContext?.spanId, propose.spanContext().spanId, 'and a child of the proposing span');
    assert.equal(replicate.parentSpanContext?.isRemote, true);
    assert.equal(req.attributes['http.response.status_code'], 200);
    assert.equal(req.resource.attributes['service.name'], 'raftkv');
    entryTraces.forget(9);
    assert.equal(entryTraces.size, 0);
  } finally {
    await handle.shutdown();
  }
  assert.equal(tracingEnabled(), false);
  assert.equal(trace.getSpanContext(context.active()), undefined);
});

test('an incoming traceparent header makes the request span a child of the caller', async () => {
  const exporter = new InMemorySpanExporter();
  const handle = await installTracing('raftkv', 'n2', new SimpleSpanProcessor(exporter));
  try {
    const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    startRequestSpan('GET', '/v1/status', caller).end(503);
    const [span] = exporter.getFinishedSpans();
    assert.ok(span);
    assert.equal(span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(span.parentSpanContext?.spanId, 'b7ad6b7169203331');
    assert.equal(span.status.code, 2, '5xx marks the span as an error');
  } finally {
    await handle.shutdown();
  }
});

test('a failing child records the error and rethrows it', async () => {
  const exporter = new InMemorySpanExporter();
  const handle = await installTracing('raftkv', 'n3', new SimpleSpanProcessor(exporter));
  try {
    await assert.rejects(withChild(SPAN.persist, () => Promise.reject(new Error('disk full'))), /disk full/);
    assert.throws(() => withChild(SPAN.apply, () => { throw new RangeError('bad'); }), RangeError);
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 2);
    for (const s of spans) assert.equal(s.status.code, 2);
  } finally {
    await handle.shutdown();
  }
});

test('extractContext rejects malformed and all-zero traceparents', () => {
  for (const bad of ['', 'garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']) {
    assert.equal(trace.getSpanContext(extractContext(bad)), undefined, bad);
  }
  const ok = trace.getSpanContext(extractContext('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'));
  assert.equal(ok?.spanId, 'b7ad6b7169203331');
  assert.equal(injectTraceParent(extractContext('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
});

test('EntryTraces is bounded', () => {
  const t = new EntryTraces(2);
  t.remember(1, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  t.remember(2, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-01');
  t.remember(3, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203333-01');
  assert.equal(t.size, 2);
  assert.equal(t.forRange(3, 3), undefined);
  assert.match(t.forRange(2, 3) ?? '', /3332-01$/);
});

test('with OTEL_EXPORTER_OTLP_ENDPOINT set, initTracing installs the SDK and shutdown removes it', async () => {
  // No span is created, so nothing is ever sent to this (closed) port.
  const handle = await initTracing('raftkv', 'n4', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
  try {
    assert.equal(handle.enabled, true);
    assert.equal(tracingEnabled(), true);
  } finally {
    await handle.shutdown();
  }
  assert.equal(tracingEnabled(), false);
});

test('routeTemplateOf maps URLs to bounded, key-free templates', async () => {
  const { routeTemplateOf } = await import('../../../daemon/src/observability/tracing.js');
  const cases: [string, string][] = [
    ['/v1/kv/a/b/c?consistency=serializable', '/v1/kv/:key'],
    ['/v1/kv?prefix=x', '/v1/kv'],
    ['/v1/members/n2/promote', '/v1/members/:name/promote'],
    ['/v1/members/n2', '/v1/members/:name'],
    ['/v1/locks/l1?token=3', '/v1/locks/:name'],
    ['/healthz', '/healthz'],
    ['/', '/'],
    ['/wp-admin/../../etc/passwd', 'other'],
  ];
  for (const [url, want] of cases) assert.equal(routeTemplateOf(url), want, url);
});

test('traceHttpRequest, withEntrySpan and withRemoteSpan put a request, its batch steps and a follower append in one trace', async () => {
  const { createServer } = await import('node:http');
  const { traceHttpRequest, withEntrySpan, withRemoteSpan } = await import('../../../daemon/src/observability/tracing.js');
  const exporter = new InMemorySpanExporter();
  const handle = await installTracing('raftkv', 'n1', new SimpleSpanProcessor(exporter));
  const traces = new EntryTraces();
  let appendTraceParent: string | undefined;
  const server = createServer((req, res) => traceHttpRequest(req, res, () => {
    // What the driver does: remember the proposing context, then persist/apply in batches outside it.
    withChild(SPAN.propose, () => traces.remember(11, injectTraceParent()));
    setTimeout(() => {
      withEntrySpan(SPAN.persist, traces, 10, 12, () => undefined);
      appendTraceParent = traces.forRange(10, 12);
      withRemoteSpan(SPAN.replicate, appendTraceParent, () => undefined);
      withEntrySpan(SPAN.apply, traces, 10, 12, () => undefined);
      res.end('ok');
    }, 1);
  }));
  try {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    assert.ok(addr !== null && typeof addr === 'object');
    const r = await fetch(`http://127.0.0.1:${addr.port}/v1/kv/some/key`, { method: 'PUT', body: 'v' });
    assert.equal(await r.text(), 'ok');
    await new Promise((r2) => setTimeout(r2, 20));
    const spans = exporter.getFinishedSpans();
    const req = byName(spans, 'PUT /v1/kv/:key');
    for (const name of [SPAN.propose, SPAN.persist, SPAN.replicate, SPAN.apply]) assert.equal(byName(spans, name).spanContext().traceId, req.spanContext().traceId, name);
    assert.equal(req.attributes['http.response.status_code'], 200);
    // Untraced ranges and tracing-off calls cost nothing and make no span.
    const before = exporter.getFinishedSpans().length;
    assert.equal(withEntrySpan(SPAN.persist, traces, 100, 200, () => 7), 7);
    assert.equal(withRemoteSpan(SPAN.replicate, undefined, () => 8), 8);
    assert.equal(exporter.getFinishedSpans().length, before);
  } finally {
    server.close();
    await handle.shutdown();
  }
});
