// OpenTelemetry tracing for the member: one span per client request, child spans for the steps
// a write goes through (propose → persist → replicate → apply), and the W3C traceparent carried
// in raft messages so a follower's append lands in the leader's trace.
//
// Cost model: product code only touches `@opentelemetry/api`. Unless OTEL_EXPORTER_OTLP_ENDPOINT
// is set, `initTracing` installs nothing and the API's no-op tracer answers every call with a
// non-recording span whose context is invalid, so `injectTraceParent` returns undefined and no
// bytes are added to peer frames. Call sites that would do extra work (maps, string building)
// check `tracingEnabled()` first.
//
// Wiring (the calls the driver and the API make; each is one boolean check when tracing is off):
//   main.ts        const tracing = await initTracing('raftkv', config.name);   // before serving
//                  ... on shutdown, after the HTTP server closed: await tracing.shutdown();
//   api/server.ts  in the single request listener (span named `METHOD /route/template`):
//                  if (tracingEnabled()) { traceHttpRequest(req, res, () => dispatch(req, res)); return; }
//   server.ts      proposeCommand runs inside the request's context (async hooks carry it), so:
//                  withChild(SPAN.propose, () => { index = core.propose(cmd);
//                                                  if (tracingEnabled()) entryTraces.remember(index, injectTraceParent()); });
//                  persisting a Ready's entries [first..last] (one synced batch):
//                  await withEntrySpan(SPAN.persist, entryTraces, first, last, () => storage.persist(...));
//                  sending an Append (leader):  if (tracingEnabled()) msg = { ...msg, traceParent: entryTraces.forRange(first, last) };
//                  receiving an Append (follower), around its persist:
//                  await withRemoteSpan(SPAN.replicate, msg.traceParent, () => persist(...));
//                  applying committed entries [first..last]:
//                  withEntrySpan(SPAN.apply, entryTraces, first, last, () => apply(...)); entryTraces.forget(last);
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Context, Span, SpanContext, Tracer } from '@opentelemetry/api';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** The instrumentation scope name every raftkv span is created under. */
export const TRACER_NAME = 'raftkv';

/** Span names of the steps of a write; stable, dashboards and trace queries use them. */
export const SPAN = {
  propose: 'raft.propose',
  persist: 'raft.persist',
  replicate: 'raft.replicate',
  apply: 'raft.apply',
} as const;

/** Bound on entries whose trace context the leader remembers (older ones are dropped, not traced). */
export const ENTRY_TRACES_MAX = 4096;

/** What `initTracing` installed. `shutdown` flushes pending spans; idempotent. */
export interface TracingHandle {
  /** True when an SDK was installed and spans are exported. */
  readonly enabled: boolean;
  /** Flushes and stops the exporter (bounded by the SDK's own export timeout). */
  shutdown(): Promise<void>;
}

let enabled = false;

/** True when an SDK is installed (spans record). Hot paths check it before doing extra work. */
export function tracingEnabled(): boolean {
  return enabled;
}

function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Installs the OpenTelemetry SDK (BatchSpanProcessor + OTLP/HTTP exporter) when the environment
 * names an OTLP endpoint (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` +
 * `/v1/traces`), else installs nothing and returns a disabled handle. The SDK
 * modules are imported lazily so a member without tracing never loads them. Call once, before
 * the member serves.
 */
export async function initTracing(serviceName: string, member: string, env: NodeJS.ProcessEnv = process.env): Promise<TracingHandle> {
  const tracesEndpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim() ?? '';
  const baseEndpoint = env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() ?? '';
  if (tracesEndpoint === '' && baseEndpoint === '') return { enabled: false, shutdown: () => Promise.resolve() };
  // As the OTLP spec says: the signal-specific variable is used as is, the base one gets /v1/traces.
  const url = tracesEndpoint !== '' ? tracesEndpoint : `${baseEndpoint.replace(/\/+$/, '')}/v1/traces`;
  const [{ OTLPTraceExporter }, { BatchSpanProcessor }] = await Promise.all([
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/sdk-trace-base'),
  ]);
  return installTracing(serviceName, member, new BatchSpanProcessor(new OTLPTraceExporter({ url })));
}

/**
 * Installs a NodeTracerProvider (async-hooks context manager, W3C propagator) with `processor`
 * as the global provider. Used by `initTracing` and by tests with an in-memory exporter. Only
 * one provider may be installed at a time: `shutdown` the previous handle first.
 */
export async function installTracing(serviceName: string, member: string, processor: SpanProcessor): Promise<TracingHandle> {
  if (enabled) throw new Error('installTracing: a tracer provider is already installed; shut it down first');
  const [{ NodeTracerProvider }, { resourceFromAttributes }, { ATTR_SERVICE_NAME }] = await Promise.all([
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/semantic-conventions'),
  ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName, 'service.instance.id': member, 'raftkv.member': member }),
    spanProcessors: [processor],
  });
  provider.register();
  enabled = true;
  let stopped: Promise<void> | null = null;
  return {
    enabled: true,
    shutdown(): Promise<void> {
      stopped ??= provider.shutdown().finally(() => {
        enabled = false;
        // Unset the globals so a later install (tests) starts clean.
        trace.disable();
        context.disable();
      });
      return stopped;
    },
  };
}

/** A client request's span; `run` executes code inside it, `end` closes it with the status. */
export interface RequestSpan {
  readonly span: Span;
  /** Runs `fn` with this span as the active context (children attach to it). */
  run<T>(fn: () => T): T;
  /** Ends the span with the HTTP status code (5xx marks it as an error). Idempotent. */
  end(statusCode: number): void;
}

/**
 * Starts the server span of one client request, named `METHOD route` with the route TEMPLATE
 * (e.g. `/v1/kv/:key`; never a key, so span names stay low-cardinality). A valid incoming W3C
 * `traceparent` header makes it a child of the caller's trace.
 */
export function startRequestSpan(method: string, route: string, traceParentHeader?: string | string[]): RequestSpan {
  const header = Array.isArray(traceParentHeader) ? traceParentHeader[0] : traceParentHeader;
  const parent = header !== undefined ? extractContext(header) : context.active();
  const span = tracer().startSpan(`${method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route } }, parent);
  const ctx = trace.setSpan(parent, span);
  let ended = false;
  return {
    span,
    run: <T>(fn: () => T): T => context.with(ctx, fn),
    end(statusCode: number): void {
      if (ended) return;
      ended = true;
      span.setAttribute('http.response.status_code', statusCode);
      if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    },
  };
}

/**
 * Runs `fn` inside a child span `name` of the active context and ends the span when `fn`
 * returns or, if it returns a promise, when that settles. A throw or rejection is recorded on
 * the span and re-thrown unchanged.
 */
export function withChild<T>(name: string, fn: (span: Span) => T): T {
  return tracer().startActiveSpan(name, (span) => {
    let result: T;
    try {
      result = fn(span);
    } catch (err) {
      failSpan(span, err);
      span.end();
      throw err;
    }
    if (result instanceof Promise) {
      return result.then(
        (v: unknown) => {
          span.end();
          return v;
        },
        (err: unknown) => {
          failSpan(span, err);
          span.end();
          throw err;
        },
      ) as T;
    }
    span.end();
    return result;
  });
}

function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C traceparent (`00-<trace-id>-<span-id>-<flags>`) of the span active in `ctx`, or
 * undefined when there is none or it is invalid (always the case with tracing off), so the
 * caller can leave Message.traceParent unset.
 */
export function injectTraceParent(ctx: Context = context.active()): string | undefined {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || !isSpanContextValid(sc)) return undefined;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * A context whose parent is the remote span named by `traceParent` (from Message.traceParent or
 * an HTTP header). Malformed, all-zero or absent values give the root context, so a bad peer
 * can never make us throw or attach to garbage.
 */
export function extractContext(traceParent: string | undefined): Context {
  if (traceParent === undefined) return ROOT_CONTEXT;
  const m = TRACEPARENT_RE.exec(traceParent.trim().toLowerCase());
  if (m === null) return ROOT_CONTEXT;
  const sc: SpanContext = { traceId: m[1] as string, spanId: m[2] as string, traceFlags: Number.parseInt(m[3] as string, 16) & TraceFlags.SAMPLED, isRemote: true };
  if (!isSpanContextValid(sc)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, sc);
}

/**
 * The leader's memory of which trace proposed which log entry, so an Append carrying those
 * entries can name the trace (Message.traceParent). Bounded by `maxEntries`: when full, new
 * entries are simply not traced. Not thread-aware; owned by the driver loop.
 */
export class EntryTraces {
  private readonly byIndex = new Map<number, string>();

  constructor(private readonly maxEntries: number = ENTRY_TRACES_MAX) {}

  /** Remembers the traceparent (from `injectTraceParent`) of the entry at `index`; undefined is ignored. */
  remember(index: number, traceParent: string | undefined): void {
    if (traceParent === undefined || this.byIndex.size >= this.maxEntries) return;
    this.byIndex.set(index, traceParent);
  }

  /** The traceparent of the first traced entry in `[firstIndex, lastIndex]` (bounded scan), or undefined. */
  forRange(firstIndex: number, lastIndex: number): string | undefined {
    if (this.byIndex.size === 0) return undefined;
    const last = Math.min(lastIndex, firstIndex + this.maxEntries);
    for (let i = firstIndex; i <= last; i++) {
      const tp = this.byIndex.get(i);
      if (tp !== undefined) return tp;
    }
    return undefined;
  }

  /** Drops every entry at or below `index` (call after apply). */
  forget(index: number): void {
    for (const k of this.byIndex.keys()) if (k <= index) this.byIndex.delete(k);
  }

  /** Entries remembered now. */
  get size(): number {
    return this.byIndex.size;
  }
}

/** Route templates of the client port (docs/api.md), matched in order; bounded and key-free. */
const ROUTE_TEMPLATES: readonly (readonly [RegExp, string])[] = [
  [/^\/v1\/kv\/.+/, '/v1/kv/:key'],
  [/^\/v1\/kv\/?$/, '/v1/kv'],
  [/^\/v1\/txn\/?$/, '/v1/txn'],
  [/^\/v1\/watch\/?$/, '/v1/watch'],
  [/^\/v1\/locks\/[^/]+\/?$/, '/v1/locks/:name'],
  [/^\/v1\/status\/?$/, '/v1/status'],
  [/^\/v1\/members\/?$/, '/v1/members'],
  [/^\/v1\/members\/[^/]+\/promote\/?$/, '/v1/members/:name/promote'],
  [/^\/v1\/members\/[^/]+\/?$/, '/v1/members/:name'],
  [/^\/v1\/leader\/transfer\/?$/, '/v1/leader/transfer'],
  [/^\/v1\/snapshot\/?$/, '/v1/snapshot'],
  [/^\/v1\/debug\/faults\/?$/, '/v1/debug/faults'],
  [/^\/(healthz|readyz|metrics)$/, '/$1'],
  [/^\/$/, '/'],
];

/**
 * The route template of a request URL (path and query), for span names: `/v1/kv/a/b?x=1` →
 * `/v1/kv/:key`. Unknown paths give `other`, so a scanner cannot create unbounded span names.
 */
export function routeTemplateOf(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  for (const [re, template] of ROUTE_TEMPLATES) {
    const m = re.exec(path);
    if (m !== null) return template.replace('$1', m[1] ?? '');
  }
  return 'other';
}

/**
 * Runs `handle` inside a server span for one HTTP request and ends the span when the response
 * closes. Meant for the API's single request listener:
 *   if (tracingEnabled()) { traceHttpRequest(req, res, () => dispatch(req, res)); return; }
 * A throw from `handle` ends the span as a 500 and is re-thrown.
 */
export function traceHttpRequest(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
  const rs = startRequestSpan(req.method ?? 'GET', routeTemplateOf(req.url ?? '/'), req.headers.traceparent);
  res.once('close', () => rs.end(res.statusCode));
  try {
    rs.run(handle);
  } catch (err) {
    rs.end(500);
    throw err;
  }
}

/**
 * Runs `fn` in a span `name` whose parent is the trace that proposed the first traced entry in
 * `[firstIndex, lastIndex]` (the driver's persist and apply steps work on batches outside any
 * request's context). With tracing off, or no traced entry in the range, it just calls `fn`.
 */
export function withEntrySpan<T>(name: string, traces: EntryTraces, firstIndex: number, lastIndex: number, fn: () => T): T {
  if (!enabled || lastIndex < firstIndex) return fn();
  const tp = traces.forRange(firstIndex, lastIndex);
  if (tp === undefined) return fn();
  return context.with(extractContext(tp), () => withChild(name, (span) => {
    span.setAttribute('raft.entries.first_index', firstIndex);
    span.setAttribute('raft.entries.last_index', lastIndex);
    return fn();
  }));
}

/**
 * Runs `fn` in a span `name` under the remote parent named by a received message's
 * `traceParent` (a follower's replicate step). Without one, or with tracing off, just calls `fn`.
 */
export function withRemoteSpan<T>(name: string, traceParent: string | undefined, fn: () => T): T {
  if (!enabled || traceParent === undefined) return fn();
  return context.with(extractContext(traceParent), () => withChild(name, () => fn()));
}
