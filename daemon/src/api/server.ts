// The member's HTTP server: node's http (or, with --cert/--key, https) server whose request
// listener checks access (access.ts, when auth is on), serves the /v1/kv hot path directly
// (routes/kv.ts) and hands everything else to an express 5 app.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { MemberService } from '../member-service.js';
import type { Logger } from '../observability/logger.js';
import type { RaftkvMetrics } from '../observability/metrics.js';
import { traceHttpRequest, tracingEnabled } from '../observability/tracing.js';
import type { ApiContext } from './context.js';
import { authorize } from './access.js';
import type { AccessControl } from './access.js';
import type { TlsMaterial } from '../security/tls-material.js';
import { ApiError, methodNotAllowed, toApiError } from './errors.js';
import type { KvPort } from './kv-port.js';
import { kvBinding } from './kv-binding.js';
import { DEFAULT_KV_LIMITS } from '../kv/index.js';
import { HttpTimer, sendError } from './respond.js';
import { registerClusterRoutes } from './routes/cluster.js';
import { KV_ROUTES, handleKvRequest } from './routes/kv.js';
import { registerBackupRoute } from './routes/backup.js';
import { WatchHub } from './routes/watch.js';
import { registerWriteRoutes } from './routes/writes.js';
import { refusalWhenRemoved } from './removed.js';
import { LEADER_WAIT } from './redirect.js';

/** HTTP timing of the client port. */
export const HTTP_TIMING = {
  /** Idle keep-alive connections close after this (clients reuse them well within it). */
  keepAliveTimeoutMs: 30_000,
  /** Headers must arrive within this; above keepAliveTimeout so an idle socket is not cut mid-request. */
  headersTimeoutMs: 35_000,
  /** The whole request (headers and body) must arrive within this; watch responses are not bounded by it. */
  requestTimeoutMs: 60_000,
  /**
   * Request line and headers together (node's default is 16 KiB). The longest legitimate request
   * line is a listing with prefix and after of 4096 characters each, percent-encoded: up to
   * 2 × 4096 × 12 bytes; beyond this bound the answer is 431.
   */
  maxHeaderBytes: 128 * 1024,
  /** On close(): how long in-flight requests may finish before connections are cut. */
  closeGraceMs: 2_000,
  /** Watch: heartbeat comment interval. */
  watchHeartbeatMs: 15_000,
  /** Watch: unsent bytes per stream before it is closed as too slow. */
  watchMaxBufferedBytes: 8 * 1024 * 1024,
} as const;

/** Options of `createApiServer`. */
export interface ApiServerOptions {
  readonly metrics: RaftkvMetrics;
  readonly logger: Logger;
  /** --max-request-bytes: bound on every request body (beyond: 413). */
  readonly maxRequestBytes: number;
  /** Open watch streams at once (beyond: 429). */
  readonly maxWatchers: number;
  /** --idempotency-budget-bytes (default DEFAULT_KV_LIMITS.idempotencyBudgetBytes). */
  readonly idempotencyBudgetBytes?: number;
  /** --max-sessions (default DEFAULT_KV_LIMITS.maxSessions). */
  readonly maxSessions?: number;
  /** Folder with the status page (index.html) served at GET /; optional. */
  readonly staticDir?: string;
  /** Serve POST /v1/debug/faults (else 404). */
  readonly enableFaultInjection: boolean;
  /** The KV module adapter; defaults to kv-binding.ts (the real KV module over service.stateMachine). */
  readonly kv?: KvPort;
  /** How long a request waits for an election under way before 503 NO_LEADER; default LEADER_WAIT.defaultMaxWaitMs. */
  readonly leaderWaitMs?: number;
  /** Overrides of HTTP_TIMING's watch settings (tests). */
  readonly watchHeartbeatMs?: number;
  /** Bearer-token / client-certificate access control (--auth-token-file); absent: everything open. */
  readonly access?: AccessControl;
  /** HTTPS on the client port (--cert/--key[/--client-ca]); absent: plain HTTP. */
  readonly tls?: ApiTls;
}

/** The client port's TLS: material that may change (rotation) and whether client certificates are required. */
export interface ApiTls {
  readonly current: TlsMaterial;
  /** Registers a listener for new material; the server swaps its secure context in it. */
  onChange(listener: (m: TlsMaterial) => void): void;
  /** --client-ca given: a client without a certificate signed by it is refused in the handshake. */
  readonly requireClientCert: boolean;
}

/** A route the server serves (method and template), as registered. */
export interface ServedRoute {
  readonly method: string;
  readonly path: string;
}

/** A running (or ready to run) API server. */
export interface ApiServer {
  /** Listens on `url`'s host and port (`http://host:port`; port 0 picks a free one). */
  listen(url: string): Promise<void>;
  /** The URL the server is bound to (after listen), e.g. http://127.0.0.1:41234. */
  url(): string;
  /** Stops accepting connections, ends watch streams, lets requests finish (bounded), closes. Idempotent. */
  close(): Promise<void>;
  /** The node server, for callers that need its events. */
  readonly server: Server | HttpsServer;
  /** Every route registered (the fast KV routes and the express router), for the access test. */
  routes(): ServedRoute[];
}

/** Levels walked up from the compiled server.js looking for the status page sources. */
const STATUS_PAGE_SEARCH_DEPTH = 6;

/**
 * Finds the status page folder (daemon/src/api/status-page with an index.html) beside this
 * module or in the source tree above the compiled output (dist/ holds only JS). Undefined when
 * it is not there; pass the result as `staticDir`.
 */
export function findStatusPageDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  const beside = join(dir, 'status-page');
  if (existsSync(join(beside, 'index.html'))) return beside;
  for (let i = 0; i < STATUS_PAGE_SEARCH_DEPTH; i++) {
    const candidate = join(dir, 'daemon', 'src', 'api', 'status-page');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function buildApp(ctx: ApiContext, hub: WatchHub, options: ApiServerOptions): { app: express.Express; router: express.Router } {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  const router = express.Router();
  registerWriteRoutes(router, ctx);
  registerClusterRoutes(router, ctx, options.enableFaultInjection, options.access !== undefined ? { openPaths: options.access.openPaths } : null);
  registerBackupRoute(router, ctx);
  hub.register(router);
  app.use(router);
  if (options.staticDir !== undefined && existsSync(options.staticDir)) {
    app.use(express.static(options.staticDir, { index: 'index.html', dotfiles: 'ignore', fallthrough: true }));
  }
  // A path the API serves with other methods is a 405 with Allow; anything else a 404.
  const allowed = allowedMethodsOf(() => [...KV_ROUTES, ...routerRoutes(router)]);
  app.use((req: Request, res: Response) => {
    const allow = allowed(req.path);
    const err = allow.length > 0 ? methodNotAllowed(req.method, req.path, allow) : new ApiError('NOT_FOUND', `no route for ${req.method} ${req.path} (the API: GET /v1/openapi.json, docs/api.md)`);
    sendError(res, err, req.originalUrl, ctx.logger);
  });
  // Errors express itself raised (e.g. a malformed percent-encoding in a route parameter).
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let e: unknown = err;
    if (toApiError(err) === null && typeof err === 'object' && err !== null) {
      const status = (err as { status?: unknown }).status;
      if (typeof status === 'number' && status >= 400 && status < 500) e = new ApiError(status === 413 ? 'PAYLOAD_TOO_LARGE' : 'BAD_REQUEST', 'malformed request');
    }
    sendError(res, e, req.originalUrl, ctx.logger);
  });
  return { app, router };
}

/**
 * The methods served on a path (HEAD wherever GET is, as express serves it), from the route
 * templates (`:param` is one segment, `:key` the rest of the path). Compiled on first use, when
 * every route is registered.
 */
function allowedMethodsOf(routes: () => readonly ServedRoute[]): (path: string) => string[] {
  let compiled: { re: RegExp; method: string }[] | null = null;
  return (path) => {
    compiled ??= routes().map((r) => ({
      method: r.method,
      re: new RegExp(`^${r.path.split('/').map((seg) => (seg === ':key' ? '.+' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`),
    }));
    const methods = new Set<string>();
    for (const r of compiled) {
      if (!r.re.test(path)) continue;
      methods.add(r.method);
      if (r.method === 'GET') methods.add('HEAD');
    }
    return [...methods];
  };
}

/** Routes on an express router (method and template of each). */
function routerRoutes(router: express.Router): ServedRoute[] {
  const out: ServedRoute[] = [];
  for (const layer of router.stack as unknown as { route?: { path: unknown; methods: Record<string, boolean> } }[]) {
    const r = layer.route;
    if (!r || typeof r.path !== 'string') continue;
    for (const m of Object.keys(r.methods)) if (r.methods[m]) out.push({ method: m.toUpperCase(), path: r.path });
  }
  return out;
}

/** Node TLS server options for the client port from material. */
function httpsOptionsOf(m: TlsMaterial, requireClientCert: boolean): { cert: Buffer; key: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: boolean } {
  const base = { cert: m.cert, key: m.key, requestCert: requireClientCert, rejectUnauthorized: requireClientCert };
  return m.ca !== undefined ? { ...base, ca: m.ca } : base;
}

/**
 * Builds the member's HTTP API on `service`. `service.stateMachine` must be the KvStateMachine
 * (or an adapter holding it as `kv`); a mismatch throws here, at startup. Nothing listens until `listen`. The server owns
 * its watch streams and connections; `close` releases them all.
 */
export function createApiServer(service: MemberService, options: ApiServerOptions): ApiServer {
  const kv = options.kv ?? kvBinding;
  const ctx: ApiContext = {
    service,
    kv,
    reader: kv.reader(service.stateMachine),
    logger: options.logger,
    metrics: options.metrics,
    timer: new HttpTimer(options.metrics.httpRequestSeconds),
    maxRequestBytes: options.maxRequestBytes,
    idempotencyBudgetBytes: options.idempotencyBudgetBytes ?? DEFAULT_KV_LIMITS.idempotencyBudgetBytes,
    maxSessions: options.maxSessions ?? DEFAULT_KV_LIMITS.maxSessions,
    leaderWaitMs: options.leaderWaitMs ?? LEADER_WAIT.defaultMaxWaitMs,
  };
  const hub = new WatchHub(ctx, {
    maxWatchers: options.maxWatchers,
    maxBufferedBytes: HTTP_TIMING.watchMaxBufferedBytes,
    heartbeatMs: options.watchHeartbeatMs ?? HTTP_TIMING.watchHeartbeatMs,
  });
  const { app, router } = buildApp(ctx, hub, options);
  // The latency series of every route exist at 0 from the start (dashboards read rate() of them).
  for (const r of [...KV_ROUTES, ...routerRoutes(router)]) options.metrics.httpRequestSeconds.zero({ route: r.path, method: r.method, code: '200' });
  const access = options.access;
  const dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      // Before any handler: a refused request never reaches the KV path, a redirect or a body read.
      if (access !== undefined) authorize(access, req);
      if (service.isRemoved()) {
        const refusal = refusalWhenRemoved(req.method ?? 'GET', req.url ?? '/');
        if (refusal !== null) throw refusal;
      }
      if (handleKvRequest(ctx, req, res)) return;
    } catch (err) {
      sendError(res, err, req.url ?? '/', ctx.logger);
      return;
    }
    app(req, res);
  };
  // One span per request when tracing is on (named by route template); a boolean check otherwise.
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (tracingEnabled()) traceHttpRequest(req, res, () => dispatch(req, res));
    else dispatch(req, res);
  };
  const tlsOpts = options.tls;
  let server: Server | HttpsServer;
  if (tlsOpts !== undefined) {
    const https = createHttpsServer({ ...httpsOptionsOf(tlsOpts.current, tlsOpts.requireClientCert), maxHeaderSize: HTTP_TIMING.maxHeaderBytes }, onRequest);
    // Rotation: new connections get the new certificate (and CA); open ones keep theirs.
    tlsOpts.onChange((m) => https.setSecureContext(httpsOptionsOf(m, tlsOpts.requireClientCert)));
    https.on('tlsClientError', (err: Error, socket) => {
      options.logger.debug({ remote: socket.remoteAddress, err: err.message }, 'client TLS handshake failed');
    });
    server = https;
  } else {
    server = createServer({ maxHeaderSize: HTTP_TIMING.maxHeaderBytes }, onRequest);
  }
  server.keepAliveTimeout = HTTP_TIMING.keepAliveTimeoutMs;
  server.headersTimeout = HTTP_TIMING.headersTimeoutMs;
  server.requestTimeout = HTTP_TIMING.requestTimeoutMs;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Unparseable requests (bad header, oversized headers): answer 400/431 if the socket still can.
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ error: status === 431 ? 'request headers too large' : status === 408 ? 'request timeout' : 'malformed HTTP request', code: 'BAD_REQUEST' });
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  let boundUrl = '';
  let closing: Promise<void> | null = null;
  const scheme = tlsOpts !== undefined ? 'https' : 'http';
  return {
    server,
    routes: () => [...KV_ROUTES, ...routerRoutes(router)],
    listen(url: string): Promise<void> {
      const u = new URL(url);
      if (u.protocol !== `${scheme}:`) return Promise.reject(new Error(`listen: this server speaks ${scheme}://, got ${url}`));
      const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      const port = u.port === '' ? 80 : Number(u.port);
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          const a = server.address() as AddressInfo;
          boundUrl = `${scheme}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
          resolve();
        });
      });
    },
    url(): string {
      return boundUrl;
    },
    close(): Promise<void> {
      if (closing) return closing;
      closing = new Promise<void>((resolve) => {
        hub.closeAll();
        if (!server.listening) {
          resolve();
          return;
        }
        const grace = setTimeout(() => server.closeAllConnections(), HTTP_TIMING.closeGraceMs);
        grace.unref();
        server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
