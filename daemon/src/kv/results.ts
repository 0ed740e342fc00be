// Apply results and their binary encoding. The encoding is what version-1 snapshots stored in
// the idempotency table (whole encoded first results); version 2 keeps compact answers
// (answers.ts) and reads version-1 images through decodeApplyResult.

import { ByteReader, ByteWriter, DecodeError } from './bytes.js';
import type { KvErrorCode } from './limits.js';

/** One stored key. */
export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Number of puts since the key was (re)created; 1 after the first put. */
  readonly version: number;
}

/** One result of a txn op, in op order. */
export type TxnOpResult =
  | { readonly type: 'put'; readonly key: string; readonly revision: number }
  | { readonly type: 'delete'; readonly key: string; readonly deleted: boolean }
  | { readonly type: 'get'; readonly key: string; readonly kv: KvEntry | null; readonly forgotten?: true };

/**
 * Fields every result has. `replayed` is true when an Idempotency-Key or session retry returned
 * the remembered first answer (a replayed txn's get results say `forgotten: true`: values are not kept).
 */
interface ResultBase {
  /** Raft index/term of the entry that produced the result (the first one for a replay). */
  readonly index: number;
  readonly term: number;
  readonly replayed: boolean;
}

export interface PutResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'put';
  readonly revision: number;
}
export interface DeleteResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'delete';
  readonly deleted: boolean;
  readonly revision: number;
}
export interface TxnResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'txn';
  readonly succeeded: boolean;
  readonly revision: number;
  readonly results: readonly TxnOpResult[];
}
export interface LockResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'lock';
  readonly token: number;
  readonly owner: string;
  readonly expiresAtMs: number;
}
export interface UnlockResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'unlock';
  readonly released: true;
}

/** POST /v1/sessions: the new session's id (the raft index of its open entry) and idle TTL. */
export interface SessionResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'session';
  readonly id: number;
  readonly ttlMs: number;
}
/** DELETE /v1/sessions/{id}. */
export interface SessionClosedResult extends ResultBase {
  readonly ok: true;
  readonly kind: 'sessionClosed';
  readonly closed: boolean;
}

/** A refusal. Nothing in the store changed. */
export interface ApplyFailure extends ResultBase {
  readonly ok: false;
  readonly code: KvErrorCode;
  readonly message: string;
  /** Store revision when refused. */
  readonly revision: number;
  /** PreconditionFailed: the key's actual modRevision (0 = absent). */
  readonly currentModRevision?: number;
  /** LockHeld: who holds it. */
  readonly holder?: string;
  /** IdempotencyWindowFull: command-clock ms until the oldest entry expires and frees room. */
  readonly retryAfterMs?: number;
}

/** What apply returns. */
export type ApplyResult = PutResult | DeleteResult | TxnResult | LockResult | UnlockResult | SessionResult | SessionClosedResult | ApplyFailure;

const K_PUT = 1;
const K_DELETE = 2;
const K_TXN = 3;
const K_LOCK = 4;
const K_UNLOCK = 5;
const K_FAIL = 6;
const MAX = 0x7fffffff;

function writeEntry(w: ByteWriter, e: KvEntry): void {
  w.str(e.key).bytes(e.value).f64(e.createRevision).f64(e.modRevision).f64(e.version);
}

function readEntry(r: ByteReader): KvEntry {
  return { key: r.str(MAX), value: r.bytes(MAX), createRevision: r.uint('createRevision'), modRevision: r.uint('modRevision'), version: r.uint('version') };
}

/** Encodes a result as version-1 snapshots stored them (kept for tests of reading such images). */
export function encodeApplyResult(res: ApplyResult): Uint8Array {
  const w = new ByteWriter(64);
  const head = (k: number): void => {
    w.u8(k).f64(res.index).f64(res.term);
  };
  if (!res.ok) {
    head(K_FAIL);
    w.str(res.code).str(res.message).f64(res.revision);
    w.f64(res.currentModRevision ?? -1);
    w.u8(res.holder !== undefined ? 1 : 0);
    if (res.holder !== undefined) w.str(res.holder);
    return w.finish();
  }
  switch (res.kind) {
    case 'put':
      head(K_PUT);
      w.f64(res.revision);
      break;
    case 'delete':
      head(K_DELETE);
      w.u8(res.deleted ? 1 : 0).f64(res.revision);
      break;
    case 'txn':
      head(K_TXN);
      w.u8(res.succeeded ? 1 : 0).f64(res.revision).u32(res.results.length);
      for (const op of res.results) {
        if (op.type === 'put') w.u8(0).str(op.key).f64(op.revision);
        else if (op.type === 'delete') w.u8(1).str(op.key).u8(op.deleted ? 1 : 0);
        else {
          w.u8(2).str(op.key).u8(op.kv ? 1 : 0);
          if (op.kv) writeEntry(w, op.kv);
        }
      }
      break;
    case 'lock':
      head(K_LOCK);
      w.f64(res.token).str(res.owner).f64(res.expiresAtMs);
      break;
    case 'unlock':
      head(K_UNLOCK);
      break;
    case 'session':
    case 'sessionClosed':
      throw new Error(`a ${res.kind} result has no version-1 encoding`);
  }
  return w.finish();
}

const CODES: ReadonlySet<string> = new Set<KvErrorCode>(['InvalidCommand', 'PreconditionFailed', 'StaleFencingToken', 'LockHeld', 'LockNotHeld', 'BadToken', 'TooManyLocks', 'Compacted', 'AlreadyApplied']);

/** Decodes a stored result; throws DecodeError on corruption. */
export function decodeApplyResult(data: Uint8Array, replayed: boolean): ApplyResult {
  const r = new ByteReader(data);
  const kind = r.u8();
  const index = r.uint('index');
  const term = r.uint('term');
  const base = { index, term, replayed };
  let out: ApplyResult;
  switch (kind) {
    case K_PUT:
      out = { ok: true, kind: 'put', ...base, revision: r.uint('revision') };
      break;
    case K_DELETE: {
      const deleted = r.bool();
      out = { ok: true, kind: 'delete', ...base, deleted, revision: r.uint('revision') };
      break;
    }
    case K_TXN: {
      const succeeded = r.bool();
      const revision = r.uint('revision');
      const n = r.u32();
      const results: TxnOpResult[] = [];
      for (let i = 0; i < n; i++) {
        const t = r.u8();
        const key = r.str(MAX);
        if (t === 0) results.push({ type: 'put', key, revision: r.uint('revision') });
        else if (t === 1) results.push({ type: 'delete', key, deleted: r.bool() });
        else if (t === 2) results.push({ type: 'get', key, kv: r.bool() ? readEntry(r) : null });
        else throw new DecodeError('bad txn result');
      }
      out = { ok: true, kind: 'txn', ...base, succeeded, revision, results };
      break;
    }
    case K_LOCK: {
      const token = r.uint('token');
      const owner = r.str(MAX);
      out = { ok: true, kind: 'lock', ...base, token, owner, expiresAtMs: r.f64() };
      break;
    }
    case K_UNLOCK:
      out = { ok: true, kind: 'unlock', ...base, released: true };
      break;
    case K_FAIL: {
      const code = r.str(64);
      if (!CODES.has(code)) throw new DecodeError(`bad code ${code}`);
      const message = r.str(MAX);
      const revision = r.uint('revision');
      const cmr = r.f64();
      const f: { -readonly [K in keyof ApplyFailure]: ApplyFailure[K] } = { ok: false, ...base, code: code as KvErrorCode, message, revision };
      if (cmr >= 0) f.currentModRevision = cmr;
      if (r.bool()) f.holder = r.str(MAX);
      out = f;
      break;
    }
    default:
      throw new DecodeError(`bad result kind ${kind}`);
  }
  r.end();
  return out;
}
