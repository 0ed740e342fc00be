// Response helpers shared by the fast KV handler and the express routes: JSON and error
// answers, request bodies with a byte bound, and the HTTP latency histogram. Everything here
// works on node's plain IncomingMessage/ServerResponse so the hot path never touches express.
import type { IncomingMessage, OutgoingHttpHeader, ServerResponse } from 'node:http';
import type { Histogram } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { ApiError, errorResponse } from './errors.js';

type HistogramChild = ReturnType<Histogram<'route' | 'method' | 'code'>['labels']>;

/**
 * Records request latency into raftkv_http_request_duration_seconds by route template (never a
 * key), method and status. Label children are cached, so an observation is a map lookup and an
 * add; the label space is bounded by the routes × methods × codes the API can produce.
 */
export class HttpTimer {
  private readonly children = new Map<string, HistogramChild>();
  /** Bound on cached children; routes × methods × codes stay far below it. */
  private static readonly maxChildren = 512;

  constructor(private readonly histogram: Histogram<'route' | 'method' | 'code'>) {}

  /** Observes one finished request that started at `startMs` (performance.now()). */
  observe(route: string, method: string, status: number, startMs: number): void {
    const id = `${route} ${method} ${status}`;
    let child = this.children.get(id);
    if (child === undefined) {
      child = this.histogram.labels(route, method, String(status));
      if (this.children.size < HttpTimer.maxChildren) this.children.set(id, child);
    }
    child.observe((performance.now() - startMs) / 1000);
  }
}

/** Sends a JSON body (already serialized) with a status and optional extra headers. */
export function sendJson(res: ServerResponse, status: number, body: string, headers?: Readonly<Record<string, string>>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  // One writeHead with a flat [name, value, ...] list instead of a setHeader per header: node
  // then builds the header block straight from the list, without its per-response header map
  // (headers set earlier with setHeader are still merged in by writeHead).
  const list: OutgoingHttpHeader[] = ['content-type', 'application/json', 'content-length', Buffer.byteLength(body)];
  if (headers) for (const k in headers) list.push(k, headers[k] as string);
  res.writeHead(status, list);
  res.end(body);
}

/** Answers with the registry's response for `err`; returns the status sent. */
export function sendError(res: ServerResponse, err: unknown, pathAndQuery: string, logger: Logger | null): number {
  const r = errorResponse(err, pathAndQuery, logger);
  sendJson(res, r.status, r.body, r.headers);
  return r.status;
}

/**
 * A declared body this many times over the bound is not drained: the connection is closed after
 * the 413 instead, so a client cannot make the member read gigabytes it will discard.
 */
const DRAIN_LIMIT_FACTOR = 8;

/**
 * Reads a request body of at most `maxBytes`. Rejects with PAYLOAD_TOO_LARGE as soon as the
 * declared or received length passes the bound. The rest of the body is discarded by node when
 * the response ends, so the keep-alive connection stays usable; a declared length far over the
 * bound marks `res` (when given) to close the connection instead.
 */
export function readBody(req: IncomingMessage, maxBytes: number, res?: ServerResponse): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined) {
      const n = Number(declared);
      if (n > maxBytes) {
        if (res !== undefined && n > maxBytes * DRAIN_LIMIT_FACTOR) res.shouldKeepAlive = false;
        else req.resume();
        reject(tooLarge(maxBytes));
        return;
      }
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > maxBytes) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    req.on('error', (err) => {
      if (failed) return;
      failed = true;
      reject(new ApiError('BAD_REQUEST', `request body: ${err.message}`));
    });
  });
}

function tooLarge(maxBytes: number): ApiError {
  return new ApiError('PAYLOAD_TOO_LARGE', `request body is larger than ${maxBytes} bytes (--max-request-bytes)`);
}

/** Reads and parses a JSON body; an empty body is `undefined`; malformed JSON is BAD_REQUEST. */
export async function readJson(req: IncomingMessage, maxBytes: number, res?: ServerResponse): Promise<unknown> {
  const buf = await readBody(req, maxBytes, res);
  if (buf.length === 0) return undefined;
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (err) {
    throw new ApiError('BAD_REQUEST', `malformed JSON body: ${err instanceof Error ? err.message : 'parse error'}`);
  }
}
