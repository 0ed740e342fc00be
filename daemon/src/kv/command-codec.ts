// Binary encoding of KV commands proposed through raft. Layout: u8 opcode (1..7; never 0xFF,
// which the driver reserves for its own entries) | f64 proposedAtMs | u8 option flags |
// options | body. Decoding validates everything against KvLimits, so apply can trust a
// decoded command; garbage yields {ok:false} and never throws.

import { ByteReader, ByteWriter, DecodeError, utf8Length } from './bytes.js';
import { DEFAULT_KV_LIMITS, type KvLimits } from './limits.js';

/** `Fencing-Token: <lock>:<token>`. */
export interface Fencing {
  readonly lock: string;
  readonly token: number;
}

/** `Session-Id` and `Session-Seq` of a write (dissertation §6.3). */
export interface SessionRef {
  readonly id: number;
  /** 1, 2, 3 ... per session; a retry repeats the number. */
  readonly seq: number;
}

/** Options every write may carry. */
export interface CommandMeta {
  /** Leader's wall clock at propose time: the only clock the state machine uses. */
  readonly proposedAtMs: number;
  readonly idempotencyKey?: string;
  /**
   * With idempotencyKey: the proposing leader's idempotency budget (--idempotency-budget-bytes),
   * stamped so every replica judges the write by the same bound.
   */
  readonly idempotencyBudgetBytes?: number;
  /** A sessioned write; exclusive with idempotencyKey. */
  readonly session?: SessionRef;
}

export type CompareOp = '=' | '!=' | '<' | '>';

/** A txn compare (docs/api.md). A missing key has modRevision 0 and no value. */
export type TxnCompare =
  | { readonly key: string; readonly target: 'value'; readonly op: CompareOp; readonly value: Uint8Array }
  | { readonly key: string; readonly target: 'modRevision'; readonly op: CompareOp; readonly value: number }
  | { readonly key: string; readonly target: 'exists'; readonly op: '=' | '!='; readonly value: boolean };

/** One txn operation. */
export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: Uint8Array } }
  | { readonly delete: { readonly key: string } }
  | { readonly get: { readonly key: string } };

export interface PutCommand extends CommandMeta {
  readonly op: 'put';
  readonly key: string;
  readonly value: Uint8Array;
  /** If-Match: required modRevision; 0 = key must not exist. */
  readonly ifMatch?: number;
  readonly fencing?: Fencing;
}

export interface DeleteCommand extends CommandMeta {
  readonly op: 'delete';
  readonly key: string;
  readonly ifMatch?: number;
  readonly fencing?: Fencing;
}

export interface TxnCommand extends CommandMeta {
  readonly op: 'txn';
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
  readonly fencing?: Fencing;
}

export interface LockAcquireCommand extends CommandMeta {
  readonly op: 'lockAcquire';
  readonly name: string;
  readonly owner: string;
  readonly ttlMs: number;
}

export interface LockReleaseCommand extends CommandMeta {
  readonly op: 'lockRelease';
  readonly name: string;
  readonly token: number;
}

/** POST /v1/sessions. `maxSessions` is the proposing leader's --max-sessions, stamped. */
export interface SessionOpenCommand {
  readonly op: 'sessionOpen';
  readonly proposedAtMs: number;
  readonly maxSessions: number;
}

/** DELETE /v1/sessions/{id}. */
export interface SessionCloseCommand {
  readonly op: 'sessionClose';
  readonly proposedAtMs: number;
  readonly id: number;
}

/** Every command the state machine applies. */
export type KvCommand = PutCommand | DeleteCommand | TxnCommand | LockAcquireCommand | LockReleaseCommand | SessionOpenCommand | SessionCloseCommand;

/** The commands that change keys or locks (and may carry an Idempotency-Key or a session). */
export type KvWriteCommand = PutCommand | DeleteCommand | TxnCommand | LockAcquireCommand | LockReleaseCommand;

/** Result of decoding: a validated command, or why the bytes are not one. */
export type DecodeResult = { readonly ok: true; readonly command: KvCommand } | { readonly ok: false; readonly error: string };

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_TXN = 3;
const OP_LOCK_ACQUIRE = 4;
const OP_LOCK_RELEASE = 5;
const OP_SESSION_OPEN = 6;
const OP_SESSION_CLOSE = 7;

const F_IDEMPOTENCY = 1;
const F_IF_MATCH = 2;
const F_FENCING = 4;
const F_BUDGET = 8;
const F_SESSION = 16;
const F_ALL = F_IDEMPOTENCY | F_IF_MATCH | F_FENCING | F_BUDGET | F_SESSION;

const CMP_TARGET = { value: 0, modRevision: 1, exists: 2 } as const;
const CMP_OPS: readonly CompareOp[] = ['=', '!=', '<', '>'];
const TXN_PUT = 0;
const TXN_DELETE = 1;
const TXN_GET = 2;

/** Thrown by encode* when the caller passes something apply would refuse anyway; the API validates first. */
export class CommandEncodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandEncodeError';
  }
}

function writeHeader(w: ByteWriter, opcode: number, c: CommandMeta & { readonly ifMatch?: number; readonly fencing?: Fencing }): void {
  if (!Number.isFinite(c.proposedAtMs)) throw new CommandEncodeError('proposedAtMs must be finite');
  if (c.idempotencyKey !== undefined && c.session !== undefined) throw new CommandEncodeError('a write carries an Idempotency-Key or a session, not both');
  const budget = c.idempotencyKey !== undefined ? c.idempotencyBudgetBytes : undefined;
  let flags = 0;
  if (c.idempotencyKey !== undefined) flags |= F_IDEMPOTENCY;
  if (c.ifMatch !== undefined) flags |= F_IF_MATCH;
  if (c.fencing !== undefined) flags |= F_FENCING;
  if (budget !== undefined) flags |= F_BUDGET;
  if (c.session !== undefined) flags |= F_SESSION;
  w.u8(opcode).f64(Math.trunc(c.proposedAtMs)).u8(flags);
  if (c.idempotencyKey !== undefined) w.str(c.idempotencyKey);
  if (c.ifMatch !== undefined) w.f64(c.ifMatch);
  if (c.fencing !== undefined) w.str(c.fencing.lock).f64(c.fencing.token);
  if (budget !== undefined) w.f64(budget);
  if (c.session !== undefined) w.f64(c.session.id).f64(c.session.seq);
}

function writeOp(w: ByteWriter, op: TxnOp): void {
  if ('put' in op) w.u8(TXN_PUT).str(op.put.key).bytes(op.put.value);
  else if ('delete' in op) w.u8(TXN_DELETE).str(op.delete.key);
  else w.u8(TXN_GET).str(op.get.key);
}

/** Bytes of a put's or delete's encoding (header, options, key, value), so its writer is sized exactly and finish() copies nothing. */
function keyCommandBytes(c: PutCommand | DeleteCommand): number {
  const idem = c.idempotencyKey !== undefined;
  return 10 + (idem ? 4 + utf8Length(c.idempotencyKey) : 0) + (c.ifMatch !== undefined ? 8 : 0) +
    (c.fencing !== undefined ? 12 + utf8Length(c.fencing.lock) : 0) + (idem && c.idempotencyBudgetBytes !== undefined ? 8 : 0) +
    (c.session !== undefined ? 16 : 0) + 4 + utf8Length(c.key) + (c.op === 'put' ? 4 + c.value.length : 0);
}

/** Encodes one command for proposal. */
export function encodeCommand(c: KvCommand): Uint8Array {
  const w = new ByteWriter(c.op === 'put' || c.op === 'delete' ? keyCommandBytes(c) : 64);
  switch (c.op) {
    case 'put':
      writeHeader(w, OP_PUT, c);
      w.str(c.key).bytes(c.value);
      break;
    case 'delete':
      writeHeader(w, OP_DELETE, c);
      w.str(c.key);
      break;
    case 'txn':
      writeHeader(w, OP_TXN, c);
      w.u32(c.compare.length);
      for (const cmp of c.compare) {
        w.u8(CMP_TARGET[cmp.target]).u8(CMP_OPS.indexOf(cmp.op)).str(cmp.key);
        if (cmp.target === 'value') w.bytes(cmp.value);
        else if (cmp.target === 'modRevision') w.f64(cmp.value);
        else w.u8(cmp.value ? 1 : 0);
      }
      w.u32(c.success.length);
      for (const op of c.success) writeOp(w, op);
      w.u32(c.failure.length);
      for (const op of c.failure) writeOp(w, op);
      break;
    case 'lockAcquire':
      writeHeader(w, OP_LOCK_ACQUIRE, c);
      w.str(c.name).str(c.owner).f64(c.ttlMs);
      break;
    case 'lockRelease':
      writeHeader(w, OP_LOCK_RELEASE, c);
      w.str(c.name).f64(c.token);
      break;
    case 'sessionOpen':
      writeHeader(w, OP_SESSION_OPEN, { proposedAtMs: c.proposedAtMs });
      w.f64(c.maxSessions);
      break;
    case 'sessionClose':
      writeHeader(w, OP_SESSION_CLOSE, { proposedAtMs: c.proposedAtMs });
      w.f64(c.id);
      break;
  }
  return w.finish();
}

function readKey(r: ByteReader, limits: KvLimits): string {
  const k = r.str(limits.maxKeyBytes);
  if (k.length === 0) throw new DecodeError('empty key');
  return k;
}

function readName(r: ByteReader, limits: KvLimits, what: string): string {
  const s = r.str(limits.maxLockNameBytes);
  if (s.length === 0) throw new DecodeError(`empty ${what}`);
  return s;
}

function readOps(r: ByteReader, limits: KvLimits): TxnOp[] {
  const n = r.u32();
  if (n > limits.maxTxnOps) throw new DecodeError(`txn branch has ${n} ops, limit ${limits.maxTxnOps}`);
  const ops: TxnOp[] = [];
  for (let i = 0; i < n; i++) {
    const t = r.u8();
    const key = readKey(r, limits);
    if (t === TXN_PUT) ops.push({ put: { key, value: r.bytes(limits.maxValueBytes) } });
    else if (t === TXN_DELETE) ops.push({ delete: { key } });
    else if (t === TXN_GET) ops.push({ get: { key } });
    else throw new DecodeError(`unknown txn op ${t}`);
  }
  return ops;
}

function decodeUnchecked(data: Uint8Array, limits: KvLimits): KvCommand {
  const r = new ByteReader(data);
  const opcode = r.u8();
  const proposedAtMs = r.f64();
  if (!Number.isSafeInteger(proposedAtMs)) throw new DecodeError('proposedAtMs is not an integer');
  const flags = r.u8();
  if ((flags & ~F_ALL) !== 0) throw new DecodeError('unknown option flags');
  if ((flags & F_IDEMPOTENCY) && (flags & F_SESSION)) throw new DecodeError('a write carries an Idempotency-Key or a session, not both');
  if ((flags & F_BUDGET) && !(flags & F_IDEMPOTENCY)) throw new DecodeError('an idempotency budget without an Idempotency-Key');
  const meta: { proposedAtMs: number; idempotencyKey?: string; idempotencyBudgetBytes?: number; session?: SessionRef } = { proposedAtMs };
  if (flags & F_IDEMPOTENCY) {
    const k = r.str(limits.maxIdempotencyKeyBytes);
    if (k.length === 0) throw new DecodeError('empty idempotency key');
    meta.idempotencyKey = k;
  }
  const opts: { ifMatch?: number; fencing?: Fencing } = {};
  if (flags & F_IF_MATCH) opts.ifMatch = r.uint('If-Match');
  if (flags & F_FENCING) opts.fencing = { lock: readName(r, limits, 'fencing lock'), token: r.uint('fencing token') };
  if (flags & F_BUDGET) meta.idempotencyBudgetBytes = r.uint('idempotency budget');
  if (flags & F_SESSION) {
    const id = r.uint('session id');
    const seq = r.uint('session seq');
    if (id < 1 || seq < 1) throw new DecodeError('session id and seq start at 1');
    meta.session = { id, seq };
  }
  if ((opcode === OP_SESSION_OPEN || opcode === OP_SESSION_CLOSE) && flags !== 0) throw new DecodeError('session commands take no options');
  let cmd: KvCommand;
  switch (opcode) {
    case OP_PUT: {
      const key = readKey(r, limits);
      cmd = { op: 'put', ...meta, ...opts, key, value: r.bytes(limits.maxValueBytes) };
      break;
    }
    case OP_DELETE:
      cmd = { op: 'delete', ...meta, ...opts, key: readKey(r, limits) };
      break;
    case OP_TXN: {
      if (opts.ifMatch !== undefined) throw new DecodeError('txn takes no If-Match');
      const n = r.u32();
      if (n > limits.maxTxnOps) throw new DecodeError(`txn has ${n} compares, limit ${limits.maxTxnOps}`);
      const compare: TxnCompare[] = [];
      for (let i = 0; i < n; i++) {
        const target = r.u8();
        const opIdx = r.u8();
        const op = CMP_OPS[opIdx];
        if (op === undefined) throw new DecodeError(`unknown compare op ${opIdx}`);
        const key = readKey(r, limits);
        if (target === CMP_TARGET.value) compare.push({ key, target: 'value', op, value: r.bytes(limits.maxValueBytes) });
        else if (target === CMP_TARGET.modRevision) compare.push({ key, target: 'modRevision', op, value: r.uint('modRevision') });
        else if (target === CMP_TARGET.exists) {
          if (op !== '=' && op !== '!=') throw new DecodeError('exists compares only with = or !=');
          compare.push({ key, target: 'exists', op, value: r.bool() });
        } else throw new DecodeError(`unknown compare target ${target}`);
      }
      const success = readOps(r, limits);
      const failure = readOps(r, limits);
      cmd = { op: 'txn', ...meta, ...(opts.fencing ? { fencing: opts.fencing } : {}), compare, success, failure };
      break;
    }
    case OP_LOCK_ACQUIRE: {
      if (flags & (F_IF_MATCH | F_FENCING)) throw new DecodeError('lock commands take no If-Match or Fencing-Token');
      const name = readName(r, limits, 'lock name');
      const owner = readName(r, limits, 'lock owner');
      const ttlMs = r.uint('ttlMs');
      if (ttlMs < limits.minLockTtlMs || ttlMs > limits.maxLockTtlMs) throw new DecodeError(`ttlMs must be in ${limits.minLockTtlMs}..${limits.maxLockTtlMs}`);
      cmd = { op: 'lockAcquire', ...meta, name, owner, ttlMs };
      break;
    }
    case OP_LOCK_RELEASE: {
      if (flags & (F_IF_MATCH | F_FENCING)) throw new DecodeError('lock commands take no If-Match or Fencing-Token');
      cmd = { op: 'lockRelease', ...meta, name: readName(r, limits, 'lock name'), token: r.uint('token') };
      break;
    }
    case OP_SESSION_OPEN: {
      const maxSessions = r.uint('maxSessions');
      if (maxSessions < 1) throw new DecodeError('maxSessions must be >= 1');
      cmd = { op: 'sessionOpen', proposedAtMs, maxSessions };
      break;
    }
    case OP_SESSION_CLOSE:
      cmd = { op: 'sessionClose', proposedAtMs, id: r.uint('session id') };
      break;
    default:
      throw new DecodeError(`unknown opcode ${opcode}`);
  }
  r.end();
  return cmd;
}

/** Decodes and validates a command; never throws. */
export function decodeCommand(data: Uint8Array, limits: KvLimits = DEFAULT_KV_LIMITS): DecodeResult {
  try {
    return { ok: true, command: decodeUnchecked(data, limits) };
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false, error: e.message };
    return { ok: false, error: `undecodable command: ${String(e)}` };
  }
}

/**
 * Checks a command against the limits before proposing, so the API can answer 400 without a
 * round through raft. Returns null when valid, else the reason. Same rules as decodeCommand.
 */
export function validateCommand(c: KvCommand, limits: KvLimits = DEFAULT_KV_LIMITS): string | null {
  const key = (k: string): string | null => {
    const n = utf8Length(k);
    return n < 1 || n > limits.maxKeyBytes ? `key must be 1..${limits.maxKeyBytes} UTF-8 bytes` : null;
  };
  try {
    const d = decodeCommand(encodeCommand(c), limits);
    if (!d.ok) return d.error;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  if ('key' in c) return key(c.key);
  return null;
}
