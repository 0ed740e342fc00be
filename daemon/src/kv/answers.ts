// Compact first answers for the exactly-once machinery (the idempotency window and client
// sessions). An answer is a handful of numbers, never the encoded result: a txn's get values,
// refusal messages and a lock owner are not kept, because the retried command (which is in the
// log again) carries the keys and the owner, and the numbers carry everything else. That is
// what makes the window's memory a fixed figure per entry (see IDEMPOTENCY_ENTRY_BASE_BYTES).

import { DecodeError, type ByteReader, type ByteWriter } from './bytes.js';
import type { KvCommand, TxnOp } from './command-codec.js';
import type { KvErrorCode } from './limits.js';
import type { ApplyResult, TxnOpResult } from './results.js';

/** Refusal codes an answer can remember, by their index here (the order is part of the snapshot format). */
const REMEMBERED_CODES: readonly KvErrorCode[] = [
  'InvalidCommand',
  'PreconditionFailed',
  'StaleFencingToken',
  'LockHeld',
  'LockNotHeld',
  'BadToken',
  'TooManyLocks',
  'Compacted',
  'AlreadyApplied',
  'IdempotencyWindowFull',
  'UnknownSession',
  'StaleSessionSeq',
  'TooManySessions',
];

const A_PUT = 1;
const A_DELETE = 2;
const A_TXN = 3;
const A_LOCK = 4;
const A_UNLOCK = 5;
/** A refusal: kind = A_FAIL_BASE + index in REMEMBERED_CODES. */
const A_FAIL_BASE = 16;

/**
 * A remembered first answer. `revision` is the store revision (for a lock: its expiry on the
 * command clock); `detail` is deleted/succeeded (0/1), a lock token, or a refusal's
 * currentModRevision (-1: none); `deletedBits` (txn only, when its branch had deletes) holds
 * one bit per op of the branch that ran: 1 = that delete removed a key.
 */
export interface Answer {
  readonly kind: number;
  readonly index: number;
  readonly term: number;
  readonly revision: number;
  readonly detail: number;
  readonly deletedBits?: Uint8Array | undefined;
}

/** The fields of an answer, written in place (a session keeps them inline). */
export interface AnswerSlot {
  kind: number;
  index: number;
  term: number;
  revision: number;
  detail: number;
  deletedBits: Uint8Array | undefined;
}

/**
 * Summarises `res` into `out` without allocating: a sessioned write runs this on every member
 * once per write (an object spread here cost ~2 µs a write per member, 10 % of put throughput).
 */
export function summarizeInto(res: ApplyResult, out: AnswerSlot): void {
  out.index = res.index;
  out.term = res.term;
  out.deletedBits = undefined;
  if (!res.ok) {
    out.kind = A_FAIL_BASE + Math.max(0, REMEMBERED_CODES.indexOf(res.code));
    out.revision = res.revision;
    out.detail = res.currentModRevision ?? -1;
    return;
  }
  switch (res.kind) {
    case 'put':
      out.kind = A_PUT;
      out.revision = res.revision;
      out.detail = 0;
      return;
    case 'delete':
      out.kind = A_DELETE;
      out.revision = res.revision;
      out.detail = res.deleted ? 1 : 0;
      return;
    case 'txn':
      out.kind = A_TXN;
      out.revision = res.revision;
      out.detail = res.succeeded ? 1 : 0;
      out.deletedBits = deletedBitsOf(res.results);
      return;
    case 'lock':
      out.kind = A_LOCK;
      out.revision = res.expiresAtMs;
      out.detail = res.token;
      return;
    case 'unlock':
      out.kind = A_UNLOCK;
      out.revision = 0;
      out.detail = 0;
      return;
    case 'session':
    case 'sessionClosed':
      // Session commands carry neither a key nor a session; the state machine never remembers them.
      throw new Error(`assertion: a ${res.kind} result is never remembered`);
  }
}

/** One bit per op of the branch that ran (1 = that delete removed a key); undefined without deletes. */
function deletedBitsOf(results: readonly TxnOpResult[]): Uint8Array | undefined {
  if (!results.some((r) => r.type === 'delete')) return undefined;
  const bits = new Uint8Array(Math.ceil(results.length / 8));
  results.forEach((r, i) => {
    if (r.type === 'delete' && r.deleted) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
  });
  return bits;
}

/** Summarises a result to remember. */
export function answerOf(res: ApplyResult): Answer {
  const slot: AnswerSlot = { kind: 0, index: 0, term: 0, revision: 0, detail: 0, deletedBits: undefined };
  summarizeInto(res, slot);
  if (slot.deletedBits !== undefined) return slot;
  return { kind: slot.kind, index: slot.index, term: slot.term, revision: slot.revision, detail: slot.detail };
}

function replayedOps(ops: readonly TxnOp[], revision: number, bits: Uint8Array | undefined): TxnOpResult[] {
  return ops.map((op, i): TxnOpResult => {
    if ('put' in op) return { type: 'put', key: op.put.key, revision };
    if ('delete' in op) return { type: 'delete', key: op.delete.key, deleted: bits !== undefined && (((bits[i >> 3] ?? 0) >> (i & 7)) & 1) === 1 };
    // The value a get saw is not kept: the answer says so rather than inventing one.
    return { type: 'get', key: op.get.key, kv: null, forgotten: true };
  });
}

/**
 * The first answer again, for the retried command `cmd` (same keys and owner as the first try
 * when the client kept its promise of one Idempotency-Key / sequence number per request).
 */
export function replayOf(a: Answer, cmd: KvCommand): ApplyResult {
  const base = { index: a.index, term: a.term, replayed: true };
  switch (a.kind) {
    case A_PUT:
      return { ok: true, kind: 'put', ...base, revision: a.revision };
    case A_DELETE:
      return { ok: true, kind: 'delete', ...base, deleted: a.detail === 1, revision: a.revision };
    case A_TXN: {
      const succeeded = a.detail === 1;
      const ops = cmd.op === 'txn' ? (succeeded ? cmd.success : cmd.failure) : [];
      return { ok: true, kind: 'txn', ...base, succeeded, revision: a.revision, results: replayedOps(ops, a.revision, a.deletedBits) };
    }
    case A_LOCK:
      return { ok: true, kind: 'lock', ...base, token: a.detail, owner: cmd.op === 'lockAcquire' ? cmd.owner : '', expiresAtMs: a.revision };
    case A_UNLOCK:
      return { ok: true, kind: 'unlock', ...base, released: true };
    default: {
      const code = REMEMBERED_CODES[a.kind - A_FAIL_BASE] ?? 'InvalidCommand';
      const f = { ok: false as const, ...base, code, revision: a.revision, message: `${code} (the first answer to this request, replayed)` };
      return a.detail >= 0 ? { ...f, currentModRevision: a.detail } : f;
    }
  }
}

/** Writes an answer (snapshot format). */
export function writeAnswer(w: ByteWriter, a: Answer): void {
  w.u8(a.kind).f64(a.index).f64(a.term).f64(a.revision).f64(a.detail);
  w.bytes(a.deletedBits ?? new Uint8Array(0));
}

/** Reads an answer written by writeAnswer; throws DecodeError on garbage. */
export function readAnswer(r: ByteReader): Answer {
  const kind = r.u8();
  const known = (kind >= A_PUT && kind <= A_UNLOCK) || (kind >= A_FAIL_BASE && kind < A_FAIL_BASE + REMEMBERED_CODES.length);
  if (!known) throw new DecodeError(`bad answer kind ${kind}`);
  const index = r.uint('index');
  const term = r.uint('term');
  const revision = r.f64();
  const detail = r.f64();
  if (!Number.isFinite(revision) || !Number.isFinite(detail)) throw new DecodeError('bad answer numbers');
  const bits = r.bytes(64);
  const a: Answer = { kind, index, term, revision, detail };
  return bits.length > 0 ? { ...a, deletedBits: bits } : a;
}
