// POST /v1/txn and the lock routes: JSON in, one proposal, the apply outcome out. All are
// writes, so a follower redirects them to the leader (redirect.ts).
import type { Request } from 'express';
import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { ApiError, outcomeMismatch } from '../errors.js';
import type { TxnOpResultView, WriteMeta, WriteOutcome } from '../kv-port.js';
import { requireLeaderSoon } from '../redirect.js';
import { readJson } from '../respond.js';
import { MAX_WIRE_INTEGER, parseIdempotencyKey, parseIntParam, parseLockAcquire, parseLockName, parseTxn } from '../validate.js';
import { kvJson } from './kv.js';
import { param, query, route } from './handler.js';

function writeMeta(req: Request): WriteMeta {
  const h = req.headers['idempotency-key'];
  const idem = parseIdempotencyKey(Array.isArray(h) ? h[0] : h);
  return idem === undefined ? { proposedAtMs: Date.now() } : { idempotencyKey: idem, proposedAtMs: Date.now() };
}

function unexpected(o: WriteOutcome, what: string, meta: WriteMeta): never {
  throw outcomeMismatch(o.kind, what, meta.idempotencyKey);
}

function txnResultJson(r: TxnOpResultView): unknown {
  if (r.type === 'get') return { type: 'get', key: r.key, kv: r.kv === null ? null : kvJson(r.kv) };
  return r;
}

/** Registers POST /v1/txn, POST /v1/locks/:name and DELETE /v1/locks/:name. */
export function registerWriteRoutes(router: Router, ctx: ApiContext): void {
  router.post('/v1/txn', route(ctx, '/v1/txn', async (req) => {
    // Validated before the leader check: a malformed request is a 400 on any member, never a
    // redirect the client would follow only to get the 400 from the leader.
    const meta = writeMeta(req);
    const txn = parseTxn(await readJson(req, ctx.maxRequestBytes));
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.txn({ ...txn, ...meta, proposedAtMs: Date.now() })));
    if (o.kind !== 'txn') unexpected(o, 'txn', meta);
    return { status: 200, body: { succeeded: o.succeeded, revision: o.revision, results: o.results.map(txnResultJson) } };
  }));

  router.post('/v1/locks/:name', route(ctx, '/v1/locks/:name', async (req) => {
    const name = parseLockName(param(req, 'name'));
    const meta = writeMeta(req);
    const body = parseLockAcquire(await readJson(req, ctx.maxRequestBytes));
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.lockAcquire({ ...meta, name, owner: body.owner, ttlMs: body.ttlMs, proposedAtMs: Date.now() })));
    if (o.kind !== 'lock') unexpected(o, 'lock acquire', meta);
    return { status: 200, body: { token: o.token, owner: o.owner } };
  }));

  router.delete('/v1/locks/:name', route(ctx, '/v1/locks/:name', async (req) => {
    const name = parseLockName(param(req, 'name'));
    const tokenText = query(req, 'token');
    if (tokenText === undefined) throw new ApiError('BAD_REQUEST', 'token query parameter is required: DELETE /v1/locks/{name}?token=F');
    const token = parseIntParam(tokenText, 'token', 0, MAX_WIRE_INTEGER);
    const meta = writeMeta(req);
    await requireLeaderSoon(ctx.service, ctx.leaderWaitMs);
    const o = ctx.kv.outcome(await ctx.service.proposeCommand(ctx.kv.encode.lockRelease({ ...meta, name, token, proposedAtMs: Date.now() })));
    if (o.kind !== 'unlock') unexpected(o, 'lock release', meta);
    return { status: 200, body: { released: o.released } };
  }));
}
