// POST /v1/txn, the lock routes and the client sessions: JSON in, one proposal, the apply
// outcome out. All are writes, so a follower redirects them to the leader (redirect.ts).
import type { Request } from 'express';
import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { ApiError, outcomeMismatch } from '../errors.js';
import { REPLAYED_HEADER } from '../kv-port.js';
import type { TxnOpResultView, WriteMeta, WriteOutcome } from '../kv-port.js';
import { requireLeaderSoon } from '../redirect.js';
import { readJson } from '../respond.js';
import { MAX_WIRE_INTEGER, parseIdempotencyKey, parseIntParam, parseLockAcquire, parseLockName, parseSessionHeaders, parseTxn } from '../validate.js';
import { kvJson } from './kv.js';
import { param, query, route } from './handler.js';

function oneHeader(req: Request, name: string): string | undefined {
  const h = req.headers[name];
  return Array.isArray(h) ? h[0] : h;
}

/** Idempotency-Key (with this member's budget stamped) or Session-Id/Session-Seq. */
function writeMeta(ctx: ApiContext, req: Request): WriteMeta {
  const idem = parseIdempotencyKey(oneHeader(req, 'idempotency-key'));
  const session = parseSessionHeaders(oneHeader(req, 'session-id'), oneHeader(req, 'session-seq'));
  // A session and a key: the session decides retries (documented in the OpenAPI document).
  if (session !== undefined) return { session, proposedAtMs: Date.now() };
  if (idem !== undefined) return { idempotencyKey: idem, idempotencyBudgetBytes: ctx.idempotencyBudgetBytes, proposedAtMs: Date.now() };
  return { proposedAtMs: Date.now() };
}

const NO_HEADERS: Readonly<Record<string, string>> = {};
const REPLAYED: Readonly<Record<string, string>> = { [REPLAYED_HEADER]: 'true' };

function replayedHeaders(o: WriteOutcome): Readonly<Record<string, string>> {
  return o.replayed ? REPLAYED : NO_HEADERS;
}

function unexpected(o: WriteOutcome, what: string, meta?: WriteMeta): never {
  throw outcomeMismatch(o.kind, what, meta?.idempotencyKey);
}

function txnResultJson(r: TxnOpResultView): unknown {
  if (r.type === 'get') {
    // A replayed txn: the window keeps outcomes, not the values its gets saw.
    if (r.forgotten === true) return { type: 'get', key: r.key, forgotten: true };
    return { type: 'get', key: r.key, kv: r.kv === null ? null : kvJson(r.kv) };
  }
  return r;
}

/** Registers POST /v1/txn, POST /v1/locks/:name and DELETE /v1/locks/:name. */
export function registerWriteRoutes(router: Router, ctx: ApiContext): void {
  router.post('/v1/txn', route(ctx, '/v1/txn', async (req) => {
    // Validated before the leader check: a malformed request is a 400 on any member, never a
    // redirect the client would follow only to get the 400 from the leader.
    const meta = writeMeta(ctx, req);
    const txn = parseTxn(await readJson(req, ctx.maxRequestBytes));
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.txn({ ...txn, ...meta, proposedAtMs: Date.now() })));
    if (o.kind !== 'txn') unexpected(o, 'txn', meta);
    return { status: 200, body: { succeeded: o.succeeded, revision: o.revision, results: o.results.map(txnResultJson) }, headers: replayedHeaders(o) };
  }));

  router.post('/v1/locks/:name', route(ctx, '/v1/locks/:name', async (req) => {
    const name = parseLockName(param(req, 'name'));
    const meta = writeMeta(ctx, req);
    const body = parseLockAcquire(await readJson(req, ctx.maxRequestBytes));
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.lockAcquire({ ...meta, name, owner: body.owner, ttlMs: body.ttlMs, proposedAtMs: Date.now() })));
    if (o.kind !== 'lock') unexpected(o, 'lock acquire', meta);
    return { status: 200, body: { token: o.token, owner: o.owner }, headers: replayedHeaders(o) };
  }));

  router.delete('/v1/locks/:name', route(ctx, '/v1/locks/:name', async (req) => {
    const name = parseLockName(param(req, 'name'));
    const tokenText = query(req, 'token');
    if (tokenText === undefined) throw new ApiError('BAD_REQUEST', 'token query parameter is required: DELETE /v1/locks/{name}?token=F');
    const token = parseIntParam(tokenText, 'token', 0, MAX_WIRE_INTEGER);
    const meta = writeMeta(ctx, req);
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.lockRelease({ ...meta, name, token, proposedAtMs: Date.now() })));
    if (o.kind !== 'unlock') unexpected(o, 'lock release', meta);
    return { status: 200, body: { released: o.released }, headers: replayedHeaders(o) };
  }));

  router.post('/v1/sessions', route(ctx, '/v1/sessions', async (req) => {
    await readJson(req, ctx.maxRequestBytes); // no fields; the body, if any, is read and ignored
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.sessionOpen({ proposedAtMs: Date.now(), maxSessions: ctx.maxSessions })));
    if (o.kind !== 'session') unexpected(o, 'session open');
    // The id as a string: clients put it in a header, and JSON numbers above 2^53 would not survive.
    return { status: 201, body: { id: String(o.id), ttlMs: o.ttlMs } };
  }));

  router.delete('/v1/sessions/:id', route(ctx, '/v1/sessions/:id', async (req) => {
    const id = parseIntParam(param(req, 'id'), 'session id', 0, Number.MAX_SAFE_INTEGER);
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.sessionClose({ proposedAtMs: Date.now(), id })));
    if (o.kind !== 'sessionClosed') unexpected(o, 'session close');
    return { status: 200, body: { closed: o.closed } };
  }));
}
