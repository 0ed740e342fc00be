// Input validation for every route: keys, headers, query parameters and JSON bodies. Each
// parser returns a typed value or throws ApiError('BAD_REQUEST') with a message that names the
// offending field, so a client can fix its request from the message alone.
import { ApiError } from './errors.js';
import type { FencingToken, TxnCompare, TxnOp, TxnRequest } from './kv-port.js';

/** Byte bounds of client-supplied strings. */
export const INPUT_LIMITS = {
  /** Keys are 1..4096 bytes of UTF-8 (API.md §2). */
  maxKeyBytes: 4096,
  /** Idempotency-Key header. */
  maxIdempotencyKeyBytes: 256,
  /** Lock names and owners. */
  maxLockNameBytes: 256,
  maxLockOwnerBytes: 256,
  /** Lock TTLs: 1 ms .. 24 h. */
  maxLockTtlMs: 24 * 60 * 60 * 1000,
  /** Compares and operations in one txn. */
  maxTxnCompares: 128,
  maxTxnOps: 128,
  /** `limit` of a listing, and the default when none is given. */
  maxListLimit: 10_000,
  defaultListLimit: 1000,
} as const;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` has no lone surrogate, i.e. it encodes to UTF-8 without replacement. */
export function isWellFormedUtf16(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

function bad(message: string): never {
  throw new ApiError('BAD_REQUEST', message);
}

/** Percent-decodes a path segment as UTF-8; throws BAD_REQUEST on bad encoding. */
export function decodePathSegment(raw: string, what: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return bad(`${what}: invalid percent-encoding`);
  }
}

/**
 * Parses a query string strictly: `+` is a space and every value must be valid percent-encoded
 * UTF-8. URLSearchParams would turn `%FF` into U+FFFD, so `after=%FF` would silently page from a
 * different key than the client sent; a clear 400 is better. The first value of a name wins.
 */
export function parseQuery(raw: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  if (raw.length === 0) return out;
  for (const part of raw.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = decodeQueryPart(eq === -1 ? part : part.slice(0, eq), 'query parameter name');
    const value = eq === -1 ? '' : decodeQueryPart(part.slice(eq + 1), `query parameter ${name}`);
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function decodeQueryPart(raw: string, what: string): string {
  const spaced = raw.indexOf('+') === -1 ? raw : raw.replace(/\+/g, ' ');
  return decodePathSegment(spaced, what);
}

/** Checks a decoded key: 1..4096 UTF-8 bytes, well-formed (no lone surrogates). */
export function checkKey(key: string, what = 'key', checkSurrogates = true): string {
  if (key.length === 0) bad(`${what} must not be empty`);
  // Fast reject before counting bytes: each UTF-16 unit is at least one byte.
  if (key.length > INPUT_LIMITS.maxKeyBytes || Buffer.byteLength(key, 'utf8') > INPUT_LIMITS.maxKeyBytes) {
    bad(`${what} is longer than ${INPUT_LIMITS.maxKeyBytes} bytes`);
  }
  // Keys decoded from a URL are well-formed already (decodeURIComponent refuses bad UTF-8).
  if (checkSurrogates && !isWellFormedUtf16(key)) bad(`${what} is not valid UTF-8`);
  return key;
}

/** Decodes and checks the key part of /v1/kv/{key} (everything after the prefix, before `?`). */
export function parseKeyPath(raw: string): string {
  if (raw.length === 0) bad('key must not be empty');
  return checkKey(decodePathSegment(raw, 'key'), 'key', false);
}

const NON_NEG_INT = /^(0|[1-9][0-9]{0,15})$/;

/** `If-Match: <modRevision>`: a non-negative integer (a quoted ETag-style value is accepted). */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  let v = header.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (!NON_NEG_INT.test(v)) bad('If-Match must be a non-negative integer mod revision');
  const n = Number(v);
  if (!Number.isSafeInteger(n)) bad('If-Match is out of range');
  return n;
}

/** `Fencing-Token: <lock>:<token>`; the lock name may itself contain ':' (the last one splits). */
export function parseFencingToken(header: string | undefined): FencingToken | undefined {
  if (header === undefined) return undefined;
  const v = header.trim();
  const at = v.lastIndexOf(':');
  if (at <= 0) bad('Fencing-Token must be <lock>:<token>');
  const lock = v.slice(0, at);
  const tokenText = v.slice(at + 1);
  if (!NON_NEG_INT.test(tokenText)) bad('Fencing-Token: the token must be a non-negative integer');
  const token = Number(tokenText);
  if (!Number.isSafeInteger(token)) bad('Fencing-Token: the token is out of range');
  if (Buffer.byteLength(lock, 'utf8') > INPUT_LIMITS.maxLockNameBytes) bad('Fencing-Token: lock name too long');
  return { lock, token };
}

/** `Idempotency-Key`: 1..256 bytes of visible ASCII. */
export function parseIdempotencyKey(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (header.length === 0 || header.length > INPUT_LIMITS.maxIdempotencyKeyBytes) {
    bad(`Idempotency-Key must be 1..${INPUT_LIMITS.maxIdempotencyKeyBytes} characters`);
  }
  // Node already refuses control characters in header values; non-ASCII arrives as latin1.
  for (let i = 0; i < header.length; i++) {
    const c = header.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) bad('Idempotency-Key must be visible ASCII');
  }
  return header;
}

/**
 * `Session-Id` and `Session-Seq` (both, or neither): positive integers. A write carries either
 * them or an Idempotency-Key, not both (which one would decide a retry would be ambiguous).
 */
export function parseSessionHeaders(idHeader: string | undefined, seqHeader: string | undefined, idempotencyKey: string | undefined): { id: number; seq: number } | undefined {
  if (idHeader === undefined && seqHeader === undefined) return undefined;
  if (idHeader === undefined || seqHeader === undefined) bad('Session-Id and Session-Seq go together');
  if (idempotencyKey !== undefined) bad('a write carries Session-Id/Session-Seq or an Idempotency-Key, not both');
  const positive = (v: string, name: string): number => {
    const t = v.trim();
    if (!NON_NEG_INT.test(t)) bad(`${name} must be a positive integer`);
    const n = Number(t);
    if (!Number.isSafeInteger(n) || n < 1) bad(`${name} must be a positive integer`);
    return n;
  };
  return { id: positive(idHeader, 'Session-Id'), seq: positive(seqHeader, 'Session-Seq') };
}

/** A non-negative integer query parameter, or `fallback` when absent. */
export function parseIntParam(value: string | null | undefined, name: string, fallback: number, max: number): number {
  if (value === null || value === undefined || value === '') return fallback;
  if (!NON_NEG_INT.test(value)) bad(`${name} must be a non-negative integer`);
  const n = Number(value);
  if (n > max) bad(`${name} must be <= ${max}`);
  return n;
}

/** `?consistency=`: linearizable (default) or serializable. */
export function parseConsistency(value: string | null | undefined): 'linearizable' | 'serializable' {
  if (value === null || value === undefined || value === '' || value === 'linearizable') return 'linearizable';
  if (value === 'serializable') return 'serializable';
  return bad("consistency must be 'linearizable' or 'serializable'");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes a base64 field strictly (Buffer.from silently skips garbage). */
export function decodeBase64(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string') bad(`${field} must be a base64 string`);
  const s = v.replace(/\s+/g, '');
  if (!BASE64.test(s) || s.length % 4 === 1) bad(`${field} must be base64`);
  return Buffer.from(s, 'base64');
}

function keyField(v: unknown, field: string): string {
  if (typeof v !== 'string') bad(`${field} must be a string`);
  return checkKey(v, field);
}

const COMPARE_OPS = new Set(['=', '!=', '<', '>']);

function parseCompare(c: unknown, i: number): TxnCompare {
  const f = `compare[${i}]`;
  if (!isRecord(c)) bad(`${f} must be an object`);
  const key = keyField(c.key, `${f}.key`);
  const op = c.op;
  if (typeof op !== 'string' || !COMPARE_OPS.has(op)) bad(`${f}.op must be one of = != < >`);
  const o = op as '=' | '!=' | '<' | '>';
  switch (c.target) {
    case 'value':
      return { key, target: 'value', op: o, value: decodeBase64(c.value, `${f}.value`) };
    case 'modRevision': {
      const v = c.value;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${f}.value must be a non-negative integer`);
      return { key, target: 'modRevision', op: o, value: v };
    }
    case 'exists': {
      if (typeof c.value !== 'boolean') bad(`${f}.value must be a boolean`);
      if (o !== '=' && o !== '!=') bad(`${f}.op must be = or != for target exists`);
      return { key, target: 'exists', op: o, value: c.value };
    }
    default:
      return bad(`${f}.target must be value, modRevision or exists`);
  }
}

function parseOp(o: unknown, f: string): TxnOp {
  if (!isRecord(o)) bad(`${f} must be an object`);
  const kinds = Object.keys(o);
  if (kinds.length !== 1) bad(`${f} must have exactly one of put, delete, get`);
  if (isRecord(o.put)) return { put: { key: keyField(o.put.key, `${f}.put.key`), value: decodeBase64(o.put.value ?? '', `${f}.put.value`) } };
  if (isRecord(o.delete)) return { delete: { key: keyField(o.delete.key, `${f}.delete.key`) } };
  if (isRecord(o.get)) return { get: { key: keyField(o.get.key, `${f}.get.key`) } };
  return bad(`${f} must be {"put":{...}}, {"delete":{...}} or {"get":{...}}`);
}

function list(v: unknown, field: string, max: number): readonly unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) bad(`${field} must be an array`);
  if (v.length > max) bad(`${field} has more than ${max} entries`);
  return v;
}

/** Validates a POST /v1/txn body. */
export function parseTxn(body: unknown): TxnRequest {
  if (!isRecord(body)) bad('txn body must be a JSON object');
  const compare = list(body.compare, 'compare', INPUT_LIMITS.maxTxnCompares).map(parseCompare);
  const success = list(body.success, 'success', INPUT_LIMITS.maxTxnOps).map((o, i) => parseOp(o, `success[${i}]`));
  const failure = list(body.failure, 'failure', INPUT_LIMITS.maxTxnOps).map((o, i) => parseOp(o, `failure[${i}]`));
  return { compare, success, failure };
}

/** Validates a lock name (already percent-decoded by the router). */
export function parseLockName(name: string): string {
  if (name.length === 0) bad('lock name must not be empty');
  if (Buffer.byteLength(name, 'utf8') > INPUT_LIMITS.maxLockNameBytes) bad(`lock name is longer than ${INPUT_LIMITS.maxLockNameBytes} bytes`);
  if (!isWellFormedUtf16(name)) bad('lock name is not valid UTF-8');
  return name;
}

/** Validates a POST /v1/locks/{name} body `{"owner","ttlMs"}`. */
export function parseLockAcquire(body: unknown): { owner: string; ttlMs: number } {
  if (!isRecord(body)) bad('lock body must be a JSON object {"owner","ttlMs"}');
  const owner = body.owner;
  if (typeof owner !== 'string' || owner.length === 0) bad('owner must be a non-empty string');
  if (Buffer.byteLength(owner, 'utf8') > INPUT_LIMITS.maxLockOwnerBytes) bad(`owner is longer than ${INPUT_LIMITS.maxLockOwnerBytes} bytes`);
  const ttlMs = body.ttlMs;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < 1 || ttlMs > INPUT_LIMITS.maxLockTtlMs) {
    bad(`ttlMs must be an integer in 1..${INPUT_LIMITS.maxLockTtlMs}`);
  }
  return { owner, ttlMs };
}

/** Validates a POST /v1/members body. */
export function parseMemberAdd(body: unknown): { name: string; peerUrl: string; clientUrl: string } {
  if (!isRecord(body)) bad('member body must be a JSON object {"name","peerUrl","clientUrl"}');
  const { name, peerUrl, clientUrl } = body;
  if (typeof name !== 'string' || name.length === 0 || name.length > 63) bad('name must be a string of 1..63 characters');
  if (typeof peerUrl !== 'string' || peerUrl.length === 0 || peerUrl.length > 512) bad('peerUrl must be a non-empty string');
  if (clientUrl !== undefined && (typeof clientUrl !== 'string' || clientUrl.length > 512)) bad('clientUrl must be a string');
  return { name, peerUrl, clientUrl: clientUrl ?? '' };
}

/** Validates POST /v1/leader/transfer `{"to"?}`. */
export function parseTransfer(body: unknown): { to?: string } {
  if (body === undefined || body === null) return {};
  if (!isRecord(body)) bad('transfer body must be a JSON object {"to"?}');
  if (body.to === undefined || body.to === null) return {};
  if (typeof body.to !== 'string' || body.to.length === 0) bad('to must be a member name');
  return { to: body.to };
}

/** Validates POST /v1/debug/faults `{dropPeerTraffic, dropPeers?, durationMs?}`. */
export function parseFaults(body: unknown): { dropPeerTraffic: boolean; dropPeers?: string[]; durationMs?: number } {
  if (!isRecord(body)) bad('faults body must be a JSON object');
  const out: { dropPeerTraffic: boolean; dropPeers?: string[]; durationMs?: number } = { dropPeerTraffic: body.dropPeerTraffic === true };
  if (body.dropPeerTraffic !== undefined && typeof body.dropPeerTraffic !== 'boolean') bad('dropPeerTraffic must be a boolean');
  if (body.dropPeers !== undefined) {
    if (!Array.isArray(body.dropPeers) || body.dropPeers.length > 64 || !body.dropPeers.every((p) => typeof p === 'string')) bad('dropPeers must be an array of member names');
    out.dropPeers = body.dropPeers as string[];
  }
  if (body.durationMs !== undefined) {
    if (typeof body.durationMs !== 'number' || !Number.isSafeInteger(body.durationMs) || body.durationMs < 0) bad('durationMs must be a non-negative integer');
    out.durationMs = body.durationMs;
  }
  return out;
}
