// Input validation for every route: keys, headers, query parameters and JSON bodies. Each
// parser returns a typed value or throws ApiError('BAD_REQUEST') with a message that names the
// offending field, so a client can fix its request from the message alone.
import { ApiError } from './errors.js';
import type { FencingToken, TxnCompare, TxnOp, TxnRequest } from './kv-port.js';

/** Byte bounds of client-supplied strings. */
export const INPUT_LIMITS = {
  /**
   * Keys (and listing/watch prefixes) are 1..4096 characters (Unicode code points, what JSON
   * Schema's maxLength counts, so the OpenAPI document states the bound exactly).
   */
  maxKeyChars: 4096,
  /** Idempotency-Key header. */
  maxIdempotencyKeyBytes: 256,
  /**
   * Lock names and owners, in characters (Unicode code points, as JSON Schema's maxLength counts):
   * 128 characters are at most 512 UTF-8 bytes, the KV module's bound.
   */
  maxLockNameChars: 128,
  maxLockOwnerChars: 128,
  /** Lock TTLs: 100 ms (the KV module's minimum) .. 24 h. */
  minLockTtlMs: 100,
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

/** Length in Unicode code points (what JSON Schema's minLength/maxLength count). */
export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function bad(message: string): never {
  throw new ApiError('BAD_REQUEST', message);
}

/** A `%` not followed by two hex digits. */
const MALFORMED_PERCENT = /%(?![0-9A-Fa-f]{2})/;

/**
 * Percent-decodes a path segment as UTF-8; throws BAD_REQUEST saying which of the two ways it
 * is wrong: a malformed escape (`%G1`, a lone `%`), or escapes whose bytes are not UTF-8 (`%FF`).
 */
export function decodePathSegment(raw: string, what: string): string {
  if (raw.indexOf('%') === -1) return raw;
  if (MALFORMED_PERCENT.test(raw)) bad(`${what}: malformed percent-encoding (a % must be followed by two hex digits)`);
  try {
    return decodeURIComponent(raw);
  } catch {
    return bad(`${what} is not valid UTF-8 (its percent-encoded bytes must form UTF-8 text)`);
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

/** Checks a decoded key: 1..4096 characters, well-formed (no lone surrogates). */
export function checkKey(key: string, what = 'key', checkSurrogates = true): string {
  if (key.length === 0) bad(`${what} must not be empty`);
  checkKeyLength(key, what);
  // Keys decoded from a URL are well-formed already (decodeURIComponent refuses bad UTF-8).
  if (checkSurrogates && !isWellFormedUtf16(key)) bad(`${what} is not valid UTF-8`);
  return key;
}

/** Throws unless `s` is at most maxKeyChars characters (keys, prefixes, `after`). */
export function checkKeyLength(s: string, what: string): void {
  // Fast accept: a code point is at most two UTF-16 units.
  if (s.length <= INPUT_LIMITS.maxKeyChars) return;
  if (codePoints(s) > INPUT_LIMITS.maxKeyChars) bad(`${what} is longer than ${INPUT_LIMITS.maxKeyChars} characters`);
}

/** Decodes and checks the key part of /v1/kv/{key} (everything after the prefix, before `?`). */
export function parseKeyPath(raw: string): string {
  if (raw.length === 0) bad('key must not be empty');
  return checkKey(decodePathSegment(raw, 'key'), 'key', false);
}

/**
 * Revisions, tokens and counts on the wire: decimal, no sign, no leading zeros, at most 15 digits
 * (every such number is a safe integer, so the text and the number always agree).
 */
export const MAX_WIRE_INTEGER = 999_999_999_999_999;
/** The pattern of MAX_WIRE_INTEGER's numbers (the OpenAPI document uses the same source). */
export const NON_NEG_INT_PATTERN = '^(0|[1-9][0-9]{0,14})$';
const NON_NEG_INT = new RegExp(NON_NEG_INT_PATTERN);

/** `If-Match: <modRevision>`: a non-negative integer (a quoted ETag-style value is accepted). */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  let v = header.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (!NON_NEG_INT.test(v)) bad(`If-Match must be a mod revision: an integer 0..${MAX_WIRE_INTEGER}, optionally in double quotes`);
  return Number(v);
}

/**
 * `Fencing-Token: <lock>:<token>`: printable ASCII (a header value carries no other text reliably),
 * the lock name may itself contain ':' (the last one splits).
 */
export const FENCING_TOKEN_PATTERN = '^[!-~]([ -~]*[!-~])?:(0|[1-9][0-9]{0,14})$';
/** Bound of the whole header: a lock name of maxLockNameChars, ':' and 15 digits. */
export const FENCING_TOKEN_MAX_CHARS = INPUT_LIMITS.maxLockNameChars + 16;
const FENCING_TOKEN = new RegExp(FENCING_TOKEN_PATTERN);

/** Parses a Fencing-Token header. */
export function parseFencingToken(header: string | undefined): FencingToken | undefined {
  if (header === undefined) return undefined;
  const v = header.trim();
  if (v.length > FENCING_TOKEN_MAX_CHARS) bad(`Fencing-Token is longer than ${FENCING_TOKEN_MAX_CHARS} characters`);
  if (!FENCING_TOKEN.test(v)) bad(`Fencing-Token must be <lock>:<token> in printable ASCII, the token an integer 0..${MAX_WIRE_INTEGER}`);
  // A lock name longer than any lock can have names no lock: the write is fenced off (409).
  const at = v.lastIndexOf(':');
  return { lock: v.slice(0, at), token: Number(v.slice(at + 1)) };
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
 * `Session-Id` and `Session-Seq` (both, or neither): positive integers. With an Idempotency-Key
 * as well, the session decides retries and the key is not recorded (the callers drop it).
 */
export function parseSessionHeaders(idHeader: string | undefined, seqHeader: string | undefined): { id: number; seq: number } | undefined {
  if (idHeader === undefined && seqHeader === undefined) return undefined;
  if (idHeader === undefined || seqHeader === undefined) bad('Session-Id and Session-Seq go together');
  const positive = (v: string, name: string): number => {
    const t = v.trim();
    if (!NON_NEG_INT.test(t)) bad(`${name} must be a positive integer`);
    const n = Number(t);
    if (!Number.isSafeInteger(n) || n < 1) bad(`${name} must be a positive integer`);
    return n;
  };
  return { id: positive(idHeader, 'Session-Id'), seq: positive(seqHeader, 'Session-Seq') };
}

/** A non-negative integer query parameter, or `fallback` when absent (present but empty is a 400). */
export function parseIntParam(value: string | null | undefined, name: string, fallback: number, max: number): number {
  if (value === null || value === undefined) return fallback;
  if (!NON_NEG_INT.test(value)) bad(`${name} must be an integer 0..${Math.min(max, MAX_WIRE_INTEGER)}`);
  const n = Number(value);
  if (n > max) bad(`${name} must be <= ${max}`);
  return n;
}

/** `?consistency=`: linearizable (default when absent) or serializable. */
export function parseConsistency(value: string | null | undefined): 'linearizable' | 'serializable' {
  if (value === null || value === undefined || value === 'linearizable') return 'linearizable';
  if (value === 'serializable') return 'serializable';
  return bad("consistency must be 'linearizable' or 'serializable'");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Refuses fields a body does not know: a typo (`"vaule"`) is a 400, not a silently empty value. */
function onlyFields(o: Record<string, unknown>, known: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) bad(`${what}: unknown field '${k}' (known: ${known.join(', ')})`);
}

/** Standard base64 (RFC 4648 §4) with padding; the OpenAPI document uses the same pattern. */
export const BASE64_PATTERN = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';
const BASE64 = new RegExp(BASE64_PATTERN);

/** Decodes a base64 field strictly (Buffer.from silently skips garbage). */
export function decodeBase64(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'string') bad(`${field} must be a base64 string`);
  if (!BASE64.test(v)) bad(`${field} must be standard base64 with padding (RFC 4648), e.g. "aGVsbG8=" for hello`);
  return Buffer.from(v, 'base64');
}

/**
 * The bytes of a txn value given as `value` (UTF-8 text, stored as its UTF-8 bytes) or
 * `valueBase64` (any bytes). Exactly one of the two: both, or neither, is a 400 rather than a
 * guess (a text that happens to be valid base64 must never be decoded behind the client's back).
 */
function valueField(o: Record<string, unknown>, f: string): Uint8Array {
  const hasText = o.value !== undefined;
  const hasB64 = o.valueBase64 !== undefined;
  if (hasText && hasB64) bad(`${f}: give either value (UTF-8 text) or valueBase64 (binary), not both`);
  if (hasB64) return decodeBase64(o.valueBase64, `${f}.valueBase64`);
  if (!hasText) bad(`${f}: value (UTF-8 text) or valueBase64 (binary, base64) is required`);
  if (typeof o.value !== 'string') bad(`${f}.value must be a string of UTF-8 text (binary values go in valueBase64)`);
  if (!isWellFormedUtf16(o.value)) bad(`${f}.value is not valid UTF-8 text (binary values go in valueBase64)`);
  return Buffer.from(o.value, 'utf8');
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
      onlyFields(c, ['key', 'target', 'op', 'value', 'valueBase64'], f);
      return { key, target: 'value', op: o, value: valueField(c, f) };
    case 'modRevision': {
      onlyFields(c, ['key', 'target', 'op', 'value'], f);
      const v = c.value;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${f}.value must be a non-negative integer`);
      return { key, target: 'modRevision', op: o, value: v };
    }
    case 'exists': {
      onlyFields(c, ['key', 'target', 'op', 'value'], f);
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
  if (isRecord(o.put)) {
    onlyFields(o.put, ['key', 'value', 'valueBase64'], `${f}.put`);
    return { put: { key: keyField(o.put.key, `${f}.put.key`), value: valueField(o.put, `${f}.put`) } };
  }
  if (isRecord(o.delete)) {
    onlyFields(o.delete, ['key'], `${f}.delete`);
    return { delete: { key: keyField(o.delete.key, `${f}.delete.key`) } };
  }
  if (isRecord(o.get)) {
    onlyFields(o.get, ['key'], `${f}.get`);
    return { get: { key: keyField(o.get.key, `${f}.get.key`) } };
  }
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
  if (!isRecord(body)) bad('txn body must be a JSON object {"compare","success","failure"} (see docs/api.md, POST /v1/txn)');
  onlyFields(body, ['compare', 'success', 'failure'], 'txn body');
  const compare = list(body.compare, 'compare', INPUT_LIMITS.maxTxnCompares).map(parseCompare);
  const success = list(body.success, 'success', INPUT_LIMITS.maxTxnOps).map((o, i) => parseOp(o, `success[${i}]`));
  const failure = list(body.failure, 'failure', INPUT_LIMITS.maxTxnOps).map((o, i) => parseOp(o, `failure[${i}]`));
  return { compare, success, failure };
}

/** Validates a lock name (already percent-decoded by the router). */
export function parseLockName(name: string): string {
  if (name.length === 0) bad('lock name must not be empty');
  if (!isWellFormedUtf16(name)) bad('lock name is not valid UTF-8');
  if (codePoints(name) > INPUT_LIMITS.maxLockNameChars) bad(`lock name is longer than ${INPUT_LIMITS.maxLockNameChars} characters`);
  return name;
}

/** Validates a POST /v1/locks/{name} body `{"owner","ttlMs"}`. */
export function parseLockAcquire(body: unknown): { owner: string; ttlMs: number } {
  if (!isRecord(body)) bad('lock body must be a JSON object {"owner","ttlMs"}');
  onlyFields(body, ['owner', 'ttlMs'], 'lock body');
  const owner = body.owner;
  if (typeof owner !== 'string' || owner.length === 0) bad('owner must be a non-empty string');
  if (!isWellFormedUtf16(owner)) bad('owner is not valid UTF-8 text');
  if (codePoints(owner) > INPUT_LIMITS.maxLockOwnerChars) bad(`owner is longer than ${INPUT_LIMITS.maxLockOwnerChars} characters`);
  const ttlMs = body.ttlMs;
  if (typeof ttlMs !== 'number' || !Number.isSafeInteger(ttlMs) || ttlMs < INPUT_LIMITS.minLockTtlMs || ttlMs > INPUT_LIMITS.maxLockTtlMs) {
    bad(`ttlMs must be an integer in ${INPUT_LIMITS.minLockTtlMs}..${INPUT_LIMITS.maxLockTtlMs}`);
  }
  return { owner, ttlMs };
}

/** Member names, as `raftkv --name` takes them. */
export const MEMBER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
const MEMBER_NAME = new RegExp(MEMBER_NAME_PATTERN);
const PORT = '(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})';
/** A member's peer URL: `[http[s]://]host:port[/]` (host: a DNS name or IPv4 address). */
export const PEER_URL_PATTERN = `^(https?://)?[A-Za-z0-9._-]+:${PORT}/?$`;
/** A member's client URL: `http[s]://host:port[/]`. */
export const CLIENT_URL_PATTERN = `^https?://[A-Za-z0-9._-]+:${PORT}/?$`;
const PEER_URL = new RegExp(PEER_URL_PATTERN);
const CLIENT_URL = new RegExp(CLIENT_URL_PATTERN);

/** Validates a member name in a path (promote, remove) or body. */
export function parseMemberName(name: unknown, field = 'member name'): string {
  if (typeof name !== 'string' || !MEMBER_NAME.test(name)) bad(`${field} must be 1..63 of [A-Za-z0-9._-], starting with a letter or digit`);
  return name;
}

/** Validates a POST /v1/members body. */
export function parseMemberAdd(body: unknown): { name: string; peerUrl: string; clientUrl: string } {
  if (!isRecord(body)) bad('member body must be a JSON object {"name","peerUrl","clientUrl"}');
  onlyFields(body, ['name', 'peerUrl', 'clientUrl'], 'member body');
  const { peerUrl, clientUrl } = body;
  const name = parseMemberName(body.name, 'name');
  if (typeof peerUrl !== 'string' || !PEER_URL.test(peerUrl)) bad('peerUrl must be [http[s]://]host:port with a port in 1..65535');
  if (clientUrl !== undefined && (typeof clientUrl !== 'string' || (clientUrl !== '' && !CLIENT_URL.test(clientUrl)))) bad('clientUrl must be http[s]://host:port with a port in 1..65535 (or empty)');
  return { name, peerUrl, clientUrl: clientUrl ?? '' };
}

/** Validates POST /v1/leader/transfer `{"to"?}` (an empty body: any caught-up voter). */
export function parseTransfer(body: unknown): { to?: string } {
  if (body === undefined) return {};
  if (!isRecord(body)) bad('transfer body must be a JSON object {"to"?}');
  onlyFields(body, ['to'], 'transfer body');
  if (body.to === undefined) return {};
  return { to: parseMemberName(body.to, 'to') };
}

/** Validates POST /v1/debug/faults `{dropPeerTraffic, dropPeers?, durationMs?}`. */
export function parseFaults(body: unknown): { dropPeerTraffic: boolean; dropPeers?: string[]; durationMs?: number } {
  if (!isRecord(body)) bad('faults body must be a JSON object');
  onlyFields(body, ['dropPeerTraffic', 'dropPeers', 'durationMs'], 'faults body');
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
