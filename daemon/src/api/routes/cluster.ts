// Cluster API (docs/api.md): status, membership, leader transfer, snapshot, health, readiness,
// metrics, and the drills' fault endpoint. Membership, transfer and snapshot are writes and
// are redirected to the leader; everything else is served by the member asked.
import type { Router } from 'express';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { requireLeaderSoon } from '../redirect.js';
import { readJson } from '../respond.js';
import { parseFaults, parseMemberAdd, parseMemberName, parseTransfer } from '../validate.js';
import { param, route } from './handler.js';
import { openApiDocument } from '../openapi.js';
import type { DocumentAuth } from '../openapi.js';

/** Status and members are fetched cross-origin by the status page of another member. */
const CORS = { 'access-control-allow-origin': '*' } as const;

/** Registers the cluster routes. `enableFaultInjection` off: POST /v1/debug/faults is 404. */
export function registerClusterRoutes(router: Router, ctx: ApiContext, enableFaultInjection: boolean, auth: DocumentAuth | null): void {
  const { service } = ctx;

  // Preflight for browsers that send one (custom headers); the answers above are simple GETs.
  for (const path of ['/v1/status', '/v1/members']) {
    router.options(path, (_req, res) => {
      res.writeHead(204, { ...CORS, 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'authorization, *', 'access-control-max-age': '600' });
      res.end();
    });
  }

  router.get('/v1/status', route(ctx, '/v1/status', () => Promise.resolve({ status: 200, body: service.status(), headers: CORS })));
  router.get('/v1/members', route(ctx, '/v1/members', () => Promise.resolve({ status: 200, body: { members: service.status().members }, headers: CORS })));

  router.post('/v1/members', route(ctx, '/v1/members', async (req) => {
    const m = parseMemberAdd(await readJson(req, ctx.maxRequestBytes));
    await requireLeaderSoon(service, ctx.leaderWaitMs);
    await service.addLearner(m);
    return { status: 200, body: { members: service.status().members } };
  }));

  router.post('/v1/members/:name/promote', route(ctx, '/v1/members/:name/promote', async (req) => {
    const name = parseMemberName(param(req, 'name'));
    await requireLeaderSoon(service, ctx.leaderWaitMs);
    await service.promote(name);
    return { status: 200, body: { members: service.status().members } };
  }));

  router.delete('/v1/members/:name', route(ctx, '/v1/members/:name', async (req) => {
    const name = parseMemberName(param(req, 'name'));
    await requireLeaderSoon(service, ctx.leaderWaitMs);
    await service.removeMember(name);
    return { status: 200, body: { members: service.status().members } };
  }));

  router.post('/v1/leader/transfer', route(ctx, '/v1/leader/transfer', async (req) => {
    const t = parseTransfer(await readJson(req, ctx.maxRequestBytes));
    await requireLeaderSoon(service, ctx.leaderWaitMs);
    const r = await service.transferLeadership(t.to);
    const leader = service.leader();
    return { status: 200, body: { leader: r.leader, clientUrl: leader?.name === r.leader ? leader.clientUrl : null } };
  }));

  router.post('/v1/snapshot', route(ctx, '/v1/snapshot', async () => {
    await requireLeaderSoon(service, ctx.leaderWaitMs);
    const r = await service.snapshotNow();
    return { status: 200, body: { index: r.index } };
  }));

  // The document is built once; it changes only with the code.
  const openApi = JSON.stringify(openApiDocument(auth));
  router.get('/v1/openapi.json', route(ctx, '/v1/openapi.json', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(openApi), ...CORS });
    res.end(openApi);
    return Promise.resolve(null);
  }));

  router.get('/healthz', route(ctx, '/healthz', () => Promise.resolve({ status: 200, body: { ok: true } })));

  router.get('/readyz', route(ctx, '/readyz', () => {
    if (service.isReady()) return Promise.resolve({ status: 200, body: { ready: true } });
    const reason = service.isRemoved() ? 'removed from the cluster' : service.leader() === null ? 'no leader known' : 'not yet applied up to the commit index';
    return Promise.resolve({ status: 503, body: { ready: false, reason }, headers: { 'retry-after': '1' } });
  }));

  router.get('/metrics', route(ctx, '/metrics', async (_req, res) => {
    const text = await ctx.metrics.registry.metrics();
    res.statusCode = 200;
    res.setHeader('content-type', ctx.metrics.registry.contentType);
    res.end(text);
    return null;
  }));

  router.post('/v1/debug/faults', route(ctx, '/v1/debug/faults', async (req) => {
    if (!enableFaultInjection) throw new ApiError('NOT_FOUND', 'no such route (fault injection is off; start with --enable-fault-injection)');
    const f = parseFaults(await readJson(req, ctx.maxRequestBytes));
    service.setPeerFaults(f);
    return { status: 200, body: { ok: true, faults: f } };
  }));
}
