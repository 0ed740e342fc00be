// The hot path: PUT/GET/DELETE /v1/kv/{key} and GET /v1/kv?prefix=, served straight from
// node's request event before express sees the request. No router regexes, no body-parser,
// headers read directly; per request only the body reader and the proposal's continuation
// allocate closures.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiContext } from '../context.js';
import { ApiError, methodNotAllowed, outcomeMismatch } from '../errors.js';
import type { KeyWrite, KvEntryView } from '../kv-port.js';
import { leaderElected, requireLeader, waitLinearizableSoon } from '../redirect.js';
import { readBody, sendError, sendJson } from '../respond.js';
import { REPLAYED_HEADER } from '../kv-port.js';
import { INPUT_LIMITS, checkKeyLength, parseConsistency, parseFencingToken, parseIdempotencyKey, parseIfMatch, parseIntParam, parseKeyPath, parseQuery, parseSessionHeaders } from '../validate.js';

const KEY_PREFIX = '/v1/kv/';
const ROUTE_KEY = '/v1/kv/:key';
const ROUTE_LIST = '/v1/kv';

/** The routes this fast path serves (express never sees them); the access table must cover each. */
export const KV_ROUTES: readonly { readonly method: string; readonly path: string }[] = [
  { method: 'GET', path: ROUTE_KEY },
  { method: 'HEAD', path: ROUTE_KEY },
  { method: 'PUT', path: ROUTE_KEY },
  { method: 'DELETE', path: ROUTE_KEY },
  { method: 'GET', path: ROUTE_LIST },
  { method: 'HEAD', path: ROUTE_LIST },
];

const KEY_METHODS = KV_ROUTES.filter((r) => r.path === ROUTE_KEY).map((r) => r.method);
const LIST_METHODS = KV_ROUTES.filter((r) => r.path === ROUTE_LIST).map((r) => r.method);

/** Calls `fn`, turning a synchronous throw into a rejection so it reaches the error mapping. */
function settle<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    // Keep the thrown value as is: typed errors need their code for the mapping.
    return Promise.reject(err as Error);
  }
}

function oneHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** The header a replayed answer carries. */
const REPLAYED: Readonly<Record<string, string>> = { [REPLAYED_HEADER]: 'true' };

/** Reads the write headers (Idempotency-Key or Session-Id/Session-Seq, If-Match, Fencing-Token) into a KeyWrite. */
function keyWrite(ctx: ApiContext, req: IncomingMessage, key: string): KeyWrite {
  const h = req.headers;
  const w: { -readonly [K in keyof KeyWrite]: KeyWrite[K] } = { key, proposedAtMs: 0 };
  const idem = parseIdempotencyKey(oneHeader(h['idempotency-key']));
  const sid = oneHeader(h['session-id']);
  const sseq = oneHeader(h['session-seq']);
  const session = sid !== undefined || sseq !== undefined ? parseSessionHeaders(sid, sseq) : undefined;
  // A session and a key: the session decides retries (documented in the OpenAPI document).
  if (session !== undefined) w.session = session;
  else if (idem !== undefined) {
    w.idempotencyKey = idem;
    w.idempotencyBudgetBytes = ctx.idempotencyBudgetBytes;
  }
  const ifMatch = parseIfMatch(oneHeader(h['if-match']));
  if (ifMatch !== undefined) w.ifMatch = ifMatch;
  const fencing = parseFencingToken(oneHeader(h['fencing-token']));
  if (fencing !== undefined) w.fencing = fencing;
  return w;
}

/** A base64 listing entry. */
export function kvJson(kv: KvEntryView): { key: string; value: string; modRevision: number; createRevision: number } {
  return { key: kv.key, value: Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength).toString('base64'), modRevision: kv.modRevision, createRevision: kv.createRevision };
}

/**
 * Serves the request when it is a /v1/kv route and returns true; returns false (without
 * touching the request) for every other path, which then goes to express.
 */
export function handleKvRequest(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): boolean {
  const url = req.url ?? '';
  if (!url.startsWith('/v1/kv')) return false;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const startMs = performance.now();
  const method = req.method ?? 'GET';
  if (path === ROUTE_LIST) {
    if (method !== 'GET' && method !== 'HEAD') return finishError(ctx, res, methodNotAllowed(method, '/v1/kv', LIST_METHODS), url, ROUTE_LIST, method, startMs);
    serveList(ctx, res, url, q, method, startMs);
    return true;
  }
  if (!path.startsWith(KEY_PREFIX)) return false;
  let key: string;
  try {
    key = parseKeyPath(path.slice(KEY_PREFIX.length));
  } catch (err) {
    return finishError(ctx, res, err, url, ROUTE_KEY, method, startMs);
  }
  switch (method) {
    case 'GET':
    case 'HEAD':
      serveGet(ctx, res, url, q, key, method, startMs);
      return true;
    case 'PUT':
      servePut(ctx, req, res, url, key, startMs);
      return true;
    case 'DELETE':
      serveDelete(ctx, req, res, url, key, startMs);
      return true;
    default:
      return finishError(ctx, res, methodNotAllowed(method, '/v1/kv/{key}', KEY_METHODS), url, ROUTE_KEY, method, startMs);
  }
}

function finishError(ctx: ApiContext, res: ServerResponse, err: unknown, url: string, route: string, method: string, startMs: number): true {
  const status = sendError(res, err, url, ctx.logger);
  ctx.timer.observe(route, method, status, startMs);
  return true;
}

function serveGet(ctx: ApiContext, res: ServerResponse, url: string, q: number, key: string, method: string, startMs: number): void {
  let consistency: 'linearizable' | 'serializable' = 'linearizable';
  if (q !== -1) {
    try {
      consistency = parseConsistency(parseQuery(url.slice(q + 1)).get('consistency'));
    } catch (err) {
      finishError(ctx, res, err, url, ROUTE_KEY, method, startMs);
      return;
    }
  }
  if (consistency === 'serializable') {
    sendValue(ctx, res, url, key, method, startMs);
    return;
  }
  settle(() => waitLinearizableSoon(ctx.service, ctx.leaderWaitMs)).then(
    () => sendValue(ctx, res, url, key, method, startMs),
    (err: unknown) => finishError(ctx, res, err, url, ROUTE_KEY, method, startMs),
  );
}

function sendValue(ctx: ApiContext, res: ServerResponse, url: string, key: string, method: string, startMs: number): void {
  let kv: KvEntryView | null;
  try {
    kv = ctx.reader.get(key);
  } catch (err) {
    finishError(ctx, res, err, url, ROUTE_KEY, method, startMs);
    return;
  }
  if (kv === null) {
    finishError(ctx, res, new ApiError('NOT_FOUND', 'key not found'), url, ROUTE_KEY, method, startMs);
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': kv.value.byteLength,
    'x-revision': kv.modRevision,
    'x-create-revision': kv.createRevision,
    'x-raft-term': ctx.service.currentTerm(),
  });
  res.end(method === 'HEAD' ? undefined : kv.value);
  ctx.timer.observe(ROUTE_KEY, method, 200, startMs);
}

function serveList(ctx: ApiContext, res: ServerResponse, url: string, q: number, method: string, startMs: number): void {
  let prefix = '';
  let after: string | undefined;
  let limit: number = INPUT_LIMITS.defaultListLimit;
  let consistency: 'linearizable' | 'serializable' = 'linearizable';
  try {
    if (q !== -1) {
      const params = parseQuery(url.slice(q + 1));
      prefix = params.get('prefix') ?? '';
      checkKeyLength(prefix, 'prefix');
      const afterParam = params.get('after');
      if (afterParam !== undefined) {
        checkKeyLength(afterParam, 'after');
        after = afterParam;
      }
      limit = parseIntParam(params.get('limit'), 'limit', INPUT_LIMITS.defaultListLimit, INPUT_LIMITS.maxListLimit);
      if (limit === 0) limit = INPUT_LIMITS.defaultListLimit;
      consistency = parseConsistency(params.get('consistency'));
    }
  } catch (err) {
    finishError(ctx, res, err, url, ROUTE_LIST, method, startMs);
    return;
  }
  const send = (): void => {
    try {
      const page = ctx.reader.range(prefix, limit, after);
      const body = JSON.stringify({ kvs: page.kvs.map(kvJson), more: page.more, revision: page.revision });
      sendJson(res, 200, body, { 'x-raft-term': String(ctx.service.currentTerm()) });
      ctx.timer.observe(ROUTE_LIST, method, 200, startMs);
    } catch (err) {
      finishError(ctx, res, err, url, ROUTE_LIST, method, startMs);
    }
  };
  if (consistency === 'serializable') send();
  else settle(() => waitLinearizableSoon(ctx.service, ctx.leaderWaitMs)).then(send, (err: unknown) => finishError(ctx, res, err, url, ROUTE_LIST, method, startMs));
}

function servePut(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, url: string, key: string, startMs: number): void {
  let w: KeyWrite;
  try {
    w = keyWrite(ctx, req, key);
  } catch (err) {
    finishError(ctx, res, err, url, ROUTE_KEY, 'PUT', startMs);
    return;
  }
  withLeader(ctx, res, url, 'PUT', startMs, () => {
    readBody(req, ctx.maxRequestBytes, res).then(
      (value) => propose(ctx, res, url, 'PUT', startMs, () => ctx.kv.encode.put({ ...w, value, proposedAtMs: Date.now() }), w.idempotencyKey),
      (err: unknown) => finishError(ctx, res, err, url, ROUTE_KEY, 'PUT', startMs),
    );
  });
}

/**
 * Runs `then` once this member may take the write: at once when a leader is known (the hot
 * path stays synchronous), after a bounded wait while an election is under way; answers the
 * redirect or 503 itself otherwise.
 */
function withLeader(ctx: ApiContext, res: ServerResponse, url: string, method: 'PUT' | 'DELETE', startMs: number, then: () => void): void {
  const go = (): void => {
    try {
      requireLeader(ctx.service);
    } catch (err) {
      finishError(ctx, res, err, url, ROUTE_KEY, method, startMs);
      return;
    }
    then();
  };
  const wait = leaderElected(ctx.service, ctx.leaderWaitMs);
  if (wait === null) go();
  else void wait.then(go);
}

function serveDelete(ctx: ApiContext, req: IncomingMessage, res: ServerResponse, url: string, key: string, startMs: number): void {
  let w: KeyWrite;
  try {
    w = keyWrite(ctx, req, key);
  } catch (err) {
    finishError(ctx, res, err, url, ROUTE_KEY, 'DELETE', startMs);
    return;
  }
  // A DELETE body carries nothing; let node discard it.
  req.resume();
  withLeader(ctx, res, url, 'DELETE', startMs, () => propose(ctx, res, url, 'DELETE', startMs, () => ctx.kv.encode.delete({ ...w, proposedAtMs: Date.now() }), w.idempotencyKey));
}

function propose(ctx: ApiContext, res: ServerResponse, url: string, method: 'PUT' | 'DELETE', startMs: number, encode: () => Uint8Array, idempotencyKey: string | undefined): void {
  let command: Uint8Array;
  try {
    command = encode();
  } catch (err) {
    finishError(ctx, res, err, url, ROUTE_KEY, method, startMs);
    return;
  }
  settle(() => ctx.service.proposeCommand(command)).then(
    (result) => {
      try {
        const o = ctx.kv.outcome(result);
        let body: string;
        if (o.kind === 'put') body = `{"revision":${o.revision},"term":${o.term},"index":${o.index}}`;
        else if (o.kind === 'delete') body = `{"deleted":${o.deleted},"revision":${o.revision},"term":${o.term},"index":${o.index}}`;
        else throw outcomeMismatch(o.kind, method === 'PUT' ? 'put' : 'delete', idempotencyKey);
        sendJson(res, 200, body, o.replayed ? REPLAYED : undefined);
        ctx.timer.observe(ROUTE_KEY, method, 200, startMs);
      } catch (err) {
        finishError(ctx, res, err, url, ROUTE_KEY, method, startMs);
      }
    },
    (err: unknown) => finishError(ctx, res, err, url, ROUTE_KEY, method, startMs),
  );
}
