// Who may call what: the access each route needs, and the check every request passes before any
// handler (the /v1/kv fast path included) sees it. Off unless the member has an
// --auth-token-file. The table below names every route the API serves; a unit test compares it
// with the routes actually registered, so a new route cannot go unprotected by omission, and a
// path the table does not know is admin-only under /v1/ (fail closed).
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Principal, Role, TokenTable } from '../security/tokens.js';
import { roleAllows } from '../security/tokens.js';
import { ApiError } from './errors.js';

/** What a route needs: nothing, or a role. */
export type Access = 'open' | Role;

/** One route: method, express-style template (`:param`; `/v1/kv/:key` spans slashes) and access. */
export interface RouteAccess {
  readonly method: string;
  readonly path: string;
  readonly access: Access;
}

/** The probes that stay open by default (`--auth-open-paths`). */
export const DEFAULT_OPEN_PATHS: readonly string[] = ['/healthz', '/readyz', '/metrics'];
/** The paths --auth-open-paths may name. */
export const OPENABLE_PATHS: readonly string[] = ['/healthz', '/readyz', '/metrics'];

/** Every route of the API with the access it needs (probes: `open` here, see `accessFor`). */
export const ROUTE_ACCESS: readonly RouteAccess[] = [
  { method: 'GET', path: '/v1/kv/:key', access: 'read' },
  { method: 'HEAD', path: '/v1/kv/:key', access: 'read' },
  { method: 'PUT', path: '/v1/kv/:key', access: 'write' },
  { method: 'DELETE', path: '/v1/kv/:key', access: 'write' },
  { method: 'GET', path: '/v1/kv', access: 'read' },
  { method: 'HEAD', path: '/v1/kv', access: 'read' },
  { method: 'POST', path: '/v1/txn', access: 'write' },
  { method: 'POST', path: '/v1/locks/:name', access: 'write' },
  { method: 'DELETE', path: '/v1/locks/:name', access: 'write' },
  { method: 'POST', path: '/v1/sessions', access: 'write' },
  { method: 'DELETE', path: '/v1/sessions/:id', access: 'write' },
  { method: 'GET', path: '/v1/watch', access: 'read' },
  { method: 'GET', path: '/v1/status', access: 'read' },
  { method: 'GET', path: '/v1/members', access: 'read' },
  // Browsers send CORS preflights without credentials; they reveal nothing.
  { method: 'OPTIONS', path: '/v1/status', access: 'open' },
  { method: 'OPTIONS', path: '/v1/members', access: 'open' },
  { method: 'POST', path: '/v1/members', access: 'admin' },
  { method: 'POST', path: '/v1/members/:name/promote', access: 'admin' },
  { method: 'DELETE', path: '/v1/members/:name', access: 'admin' },
  { method: 'POST', path: '/v1/leader/transfer', access: 'admin' },
  { method: 'POST', path: '/v1/snapshot', access: 'admin' },
  { method: 'GET', path: '/v1/snapshot', access: 'admin' },
  { method: 'POST', path: '/v1/debug/faults', access: 'admin' },
  // The API's description reveals no data; tools and people fetch it before they have a token.
  { method: 'GET', path: '/v1/openapi.json', access: 'open' },
  { method: 'GET', path: '/healthz', access: 'open' },
  { method: 'GET', path: '/readyz', access: 'open' },
  { method: 'GET', path: '/metrics', access: 'open' },
];

interface CompiledRoute extends RouteAccess {
  readonly re: RegExp;
}

function compile(r: RouteAccess): CompiledRoute {
  const pattern = r.path
    .split('/')
    .map((seg) => (seg === ':key' ? '.+' : seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return { ...r, re: new RegExp(`^${pattern}$`) };
}

const COMPILED = ROUTE_ACCESS.map(compile);

/** Accesses, weakest first. */
const ACCESS_ORDER: readonly Access[] = ['open', 'read', 'write', 'admin'];

/** The table entry for a request, or null when no route matches. HEAD falls back to GET's entry. */
export function routeFor(method: string, path: string): RouteAccess | null {
  const exact = COMPILED.find((r) => r.method === method && r.re.test(path));
  if (exact) return exact;
  if (method === 'HEAD') return COMPILED.find((r) => r.method === 'GET' && r.re.test(path)) ?? null;
  return null;
}

/**
 * The access a request needs. Probes follow `openPaths` (not listed: `read`). A path no route
 * matches is admin-only under /v1/ and for anything but GET/HEAD (fail closed); GET/HEAD
 * elsewhere are the status page's static files (code, not data) and stay open.
 */
export function accessFor(method: string, path: string, openPaths: ReadonlySet<string>): Access {
  const of = (r: RouteAccess): Access => (OPENABLE_PATHS.includes(r.path) ? (openPaths.has(r.path) ? 'open' : 'read') : r.access);
  const r = routeFor(method, path);
  if (r !== null) return of(r);
  // A served path asked with a method it does not serve: no handler runs, the answer is 405 with
  // Allow. It needs what the path's weakest route needs (TRACE /healthz is not an admin matter).
  const onPath = COMPILED.filter((c) => c.re.test(path)).map(of);
  if (onPath.length > 0) return onPath.reduce((a, b) => (ACCESS_ORDER.indexOf(a) <= ACCESS_ORDER.indexOf(b) ? a : b));
  if (path.startsWith('/v1/') || path === '/v1' || (method !== 'GET' && method !== 'HEAD')) return 'admin';
  return 'open';
}

/** Reads `Authorization: Bearer <token>`; undefined when absent, '' when malformed. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers['authorization'];
  if (h === undefined) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(h);
  return m ? (m[1] as string) : '';
}

/** The subject CN of a client certificate the TLS layer verified, or undefined. */
export function verifiedCertificateCn(req: IncomingMessage): string | undefined {
  const socket = req.socket as Partial<TLSSocket>;
  if (socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

/** The token table in force; replaced on reload. */
export interface TokenSource {
  readonly current: TokenTable;
}

/** The API's access control: built when --auth-token-file is given. */
export interface AccessControl {
  readonly tokens: TokenSource;
  readonly openPaths: ReadonlySet<string>;
}

/**
 * Checks one request. Returns the principal (null for open routes); throws ApiError
 * UNAUTHORIZED (no or unknown credentials) or FORBIDDEN (role too weak). A bearer token, when
 * sent, is the credential (a wrong token is refused even with a good certificate); otherwise a
 * verified client certificate whose CN the token file lists.
 */
export function authorize(ac: AccessControl, req: IncomingMessage): Principal | null {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const method = req.method ?? 'GET';
  const needed = accessFor(method, path, ac.openPaths);
  if (needed === 'open') return null;
  const table = ac.tokens.current;
  const token = bearerToken(req);
  let who: Principal | null = null;
  if (token !== undefined) {
    who = token === '' ? null : table.byToken(token);
    if (who === null) throw new ApiError('UNAUTHORIZED', token === '' ? 'malformed Authorization header (expected: Bearer <token>)' : 'invalid token');
  } else {
    const cn = verifiedCertificateCn(req);
    who = cn !== undefined ? table.byCertificate(cn) : null;
    if (who === null) throw new ApiError('UNAUTHORIZED', cn !== undefined ? 'the client certificate is not authorised (its CN is not in the token file)' : 'authentication required: send Authorization: Bearer <token>');
  }
  if (!roleAllows(who.role, needed)) throw new ApiError('FORBIDDEN', `role '${who.role}' may not ${method} ${path} (needs '${needed}')`);
  return who;
}

/**
 * Routes served but missing from ROUTE_ACCESS (by exact method and template), and table entries
 * no served route backs. Both lists must be empty; the access test asserts it.
 */
export function accessTableGaps(served: readonly { readonly method: string; readonly path: string }[]): { uncovered: string[]; stale: string[] } {
  const key = (r: { readonly method: string; readonly path: string }): string => `${r.method} ${r.path}`;
  const table = new Set(ROUTE_ACCESS.map(key));
  const servedKeys = new Set(served.map(key));
  return {
    uncovered: [...servedKeys].filter((k) => !table.has(k)).sort(),
    stale: [...table].filter((k) => !servedKeys.has(k)).sort(),
  };
}
