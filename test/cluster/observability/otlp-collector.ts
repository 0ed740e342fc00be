// A minimal OTLP/HTTP trace receiver for tests: accepts POST /v1/traces with the JSON encoding
// (what @opentelemetry/exporter-trace-otlp-http sends) and keeps the spans, flattened.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Bound on spans kept (older are dropped). */
const MAX_SPANS = 100_000;
/** Bound on one request body. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** One received span with its resource's service name and member. */
export interface ReceivedSpan {
  readonly service: string;
  readonly member: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
}

interface OtlpAttr { readonly key: string; readonly value?: { readonly stringValue?: string } }
interface OtlpSpan { readonly name: string; readonly traceId: string; readonly spanId: string; readonly parentSpanId?: string }
interface OtlpBody {
  readonly resourceSpans?: readonly {
    readonly resource?: { readonly attributes?: readonly OtlpAttr[] };
    readonly scopeSpans?: readonly { readonly spans?: readonly OtlpSpan[] }[];
  }[];
}

/** A running receiver; `close` it. */
export class OtlpCollector {
  readonly spans: ReceivedSpan[] = [];
  private constructor(private readonly server: Server, readonly url: string) {}

  /** Listens on a free 127.0.0.1 port; `url` is the base for OTEL_EXPORTER_OTLP_ENDPOINT. */
  static async start(): Promise<OtlpCollector> {
    let self: OtlpCollector | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
      });
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces' || size > MAX_BODY_BYTES || !/json/.test(req.headers['content-type'] ?? '')) {
          res.statusCode = 400;
          res.end();
          return;
        }
        try {
          self?.ingest(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpBody);
          res.setHeader('content-type', 'application/json');
          res.end('{}');
        } catch {
          res.statusCode = 400;
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const a = server.address() as AddressInfo;
    self = new OtlpCollector(server, `http://127.0.0.1:${a.port}`);
    return self;
  }

  private ingest(body: OtlpBody): void {
    for (const rs of body.resourceSpans ?? []) {
      const attrs = new Map((rs.resource?.attributes ?? []).map((x) => [x.key, x.value?.stringValue ?? '']));
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          if (this.spans.length >= MAX_SPANS) this.spans.shift();
          this.spans.push({ service: attrs.get('service.name') ?? '', member: attrs.get('service.instance.id') ?? '', name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '' });
        }
      }
    }
  }

  /** Stops listening. */
  close(): Promise<void> {
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}
