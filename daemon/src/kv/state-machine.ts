// The replicated KV state machine. apply() is deterministic: its only inputs are the entry
// bytes, index and term; time comes from the command's proposedAtMs, made monotone by taking
// the max with every earlier command's (a new leader with a slower clock cannot make a lock or
// idempotency entry live again). No Date.now, no randomness, no iteration over unordered state
// that reaches the store.

import { createHash } from 'node:crypto';
import { ByteReader, ByteWriter, DecodeError } from './bytes.js';
import { answerOf, readAnswer, replayOf, summarizeInto, writeAnswer, type Answer } from './answers.js';
import { decodeCommand, type DeleteCommand, type Fencing, type KvWriteCommand, type LockAcquireCommand, type LockReleaseCommand, type PutCommand, type SessionOpenCommand, type TxnCommand, type TxnCompare } from './command-codec.js';
import { IdempotencyTable, idempotencyEntryBytes } from './idempotency.js';
import { DEFAULT_KV_LIMITS, SESSION_BYTES, type KvErrorCode, type KvLimits } from './limits.js';
import { lastAnswerOf, newSession, rememberAnswer, SessionTable, type SessionState } from './sessions.js';
import { LockTable, type LockState } from './locks.js';
import { decodeApplyResult, type ApplyFailure, type ApplyResult, type KvEntry, type TxnOpResult } from './results.js';
import { SortedKeys } from './sorted-keys.js';
import { WatchHub, type WatchSubscriber, type WatchSubscription } from './watch.js';

/** A page of a prefix listing. */
export interface KvRange {
  readonly kvs: readonly KvEntry[];
  readonly more: boolean;
  readonly revision: number;
}

/** Thrown by restore() on an image this version cannot read; the state is left unchanged. */
export class KvSnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KvSnapshotError';
  }
}

/** Options of a state machine. */
export interface KvStateMachineOptions {
  readonly limits?: Partial<KvLimits>;
  /** How watch flushes are scheduled (default setImmediate). */
  readonly scheduleWatchFlush?: (fn: () => void) => void;
}

/** What the exactly-once machinery holds and has done, for metrics (counters are member-local). */
export interface ExactlyOnceStats {
  readonly idempotencyEntries: number;
  readonly idempotencyBytes: number;
  readonly idempotencyExpiredTotal: number;
  readonly idempotencyRefusedTotal: number;
  readonly sessionsLive: number;
  readonly sessionsBytes: number;
  readonly sessionsOpenedTotal: number;
  readonly sessionsExpiredTotal: number;
  readonly sessionsRefusedTotal: number;
}

const SNAPSHOT_MAGIC = 0x4b56534d; // "KVSM"
/** 2: compact idempotency answers and sessions. Version 1 images (whole encoded results, no sessions) are still read. */
const SNAPSHOT_VERSION = 2;
const MAX = 0x7fffffff;
const EMPTY = new Uint8Array(0);

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function cmpHolds(op: '=' | '!=' | '<' | '>', c: number): boolean {
  switch (op) {
    case '=':
      return c === 0;
    case '!=':
      return c !== 0;
    case '<':
      return c < 0;
    case '>':
      return c > 0;
  }
}

/**
 * The KV state machine (docs/api.md). Feed it every committed entry in index order: apply() for
 * KV commands, applyNoop() for entries without one (raft Noop, ConfChange, driver entries), so
 * appliedIndex is exact. Reads (get/range/revision/watch) see the applied state.
 */
export class KvStateMachine {
  /** Effective bounds. */
  readonly limits: KvLimits;
  private readonly data = new Map<string, KvEntry>();
  private readonly keys = new SortedKeys();
  private readonly locks = new LockTable();
  private readonly idem: IdempotencyTable;
  private readonly sessions: SessionTable;
  private idemRefused = 0;
  private sessionsOpened = 0;
  private sessionsRefused = 0;
  private readonly hub: WatchHub;
  private rev = 0;
  private clock = 0;
  private appliedIdx = 0;
  private appliedTrm = 0;

  constructor(opts: KvStateMachineOptions = {}) {
    this.limits = Object.freeze({ ...DEFAULT_KV_LIMITS, ...opts.limits });
    this.idem = new IdempotencyTable(this.limits.idempotencyTtlMs);
    this.sessions = new SessionTable(this.limits.sessionTtlMs);
    this.hub = new WatchHub({
      maxHistoryEvents: this.limits.maxWatchHistoryEvents,
      maxBufferedEvents: this.limits.maxWatchSubscriberBufferedEvents,
      ...(opts.scheduleWatchFlush ? { schedule: opts.scheduleWatchFlush } : {}),
    });
  }

  /** Highest index applied (by apply or applyNoop or restore). */
  get appliedIndex(): number {
    return this.appliedIdx;
  }
  get appliedTerm(): number {
    return this.appliedTrm;
  }
  /** Current store revision (0 before the first write). */
  get revision(): number {
    return this.rev;
  }
  /** The command clock: max proposedAtMs seen. */
  get clockMs(): number {
    return this.clock;
  }
  /** Number of keys. */
  get size(): number {
    return this.data.size;
  }
  get idempotencyEntries(): number {
    return this.idem.size;
  }
  /** Accounted bytes of the idempotency window. */
  get idempotencyBytes(): number {
    return this.idem.bytes;
  }
  /** Open client sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }
  /** Gauges and counters of the idempotency window and the sessions. */
  exactlyOnceStats(): ExactlyOnceStats {
    return {
      idempotencyEntries: this.idem.size,
      idempotencyBytes: this.idem.bytes,
      idempotencyExpiredTotal: this.idem.expiredTotal,
      idempotencyRefusedTotal: this.idemRefused,
      sessionsLive: this.sessions.size,
      sessionsBytes: this.sessions.size * SESSION_BYTES,
      sessionsOpenedTotal: this.sessionsOpened,
      sessionsExpiredTotal: this.sessions.expiredTotal,
      sessionsRefusedTotal: this.sessionsRefused,
    };
  }
  get lockCount(): number {
    return this.locks.size;
  }
  /** The watch hub (subscriber count, flush for tests). */
  get watchHub(): WatchHub {
    return this.hub;
  }

  /** Records an entry that carries no KV command. Indexes at or below appliedIndex are ignored. */
  applyNoop(index: number, term: number = this.appliedTrm): void {
    if (index <= this.appliedIdx) return;
    this.appliedIdx = index;
    this.appliedTrm = term;
  }

  /**
   * Applies one committed command. Never throws for any input: garbage yields an
   * InvalidCommand failure (the index still counts as applied). An index at or below
   * appliedIndex changes nothing and yields AlreadyApplied.
   */
  apply(index: number, term: number, data: Uint8Array): ApplyResult {
    if (index <= this.appliedIdx) {
      return this.fail(index, term, 'AlreadyApplied', `index ${index} is at or below appliedIndex ${this.appliedIdx}`);
    }
    this.appliedIdx = index;
    this.appliedTrm = term;
    const d = decodeCommand(data, this.limits);
    if (!d.ok) return this.fail(index, term, 'InvalidCommand', d.error);
    const cmd = d.command;
    if (cmd.proposedAtMs > this.clock) this.clock = cmd.proposedAtMs;
    this.idem.expire(this.clock);
    this.sessions.expire(this.clock);
    if (cmd.op === 'sessionOpen') return this.applySessionOpen(index, term, cmd);
    if (cmd.op === 'sessionClose') {
      return { ok: true, kind: 'sessionClosed', closed: this.sessions.close(cmd.id), index, term, replayed: false };
    }
    if (cmd.session !== undefined) return this.applySessioned(index, term, cmd, cmd.session.id, cmd.session.seq);
    const ik = cmd.idempotencyKey;
    if (ik === undefined) return this.execute(index, term, cmd);
    const prev = this.idem.get(ik);
    if (prev !== undefined) return replayOf(prev, cmd);
    // The promise: room is made only by expiry, never by dropping an unexpired entry.
    const budget = cmd.idempotencyBudgetBytes ?? this.limits.idempotencyBudgetBytes;
    // A txn's answer may carry its deleted bits (at most maxTxnOps/8 bytes): charge the most it can cost.
    const charge = idempotencyEntryBytes(ik) + (cmd.op === 'txn' ? 64 + Math.ceil(this.limits.maxTxnOps / 8) : 0);
    if (this.idem.bytes + charge > budget) {
      this.idemRefused++;
      const retryAfterMs = this.idem.msUntilRoom(this.clock);
      return { ...this.fail(index, term, 'IdempotencyWindowFull', `the idempotency window is full (${this.idem.size} keyed writes within the last ${this.limits.idempotencyTtlMs} ms use ${this.idem.bytes} of ${budget} bytes); nothing was applied, retry later or use a session`), retryAfterMs };
    }
    const res = this.execute(index, term, cmd);
    this.idem.record(ik, this.clock, answerOf(res));
    return res;
  }

  private applySessionOpen(index: number, term: number, c: SessionOpenCommand): ApplyResult {
    if (this.sessions.size >= c.maxSessions) {
      this.sessionsRefused++;
      return this.fail(index, term, 'TooManySessions', `at most ${c.maxSessions} client sessions may be open; idle ones expire after ${this.limits.sessionTtlMs} ms`);
    }
    this.sessions.put(newSession(index, this.clock));
    this.sessionsOpened++;
    return { ok: true, kind: 'session', id: index, ttlMs: this.limits.sessionTtlMs, index, term, replayed: false };
  }

  /** Dissertation §6.3: apply a sequence number once, answer its retry from memory, refuse older ones. */
  private applySessioned(index: number, term: number, cmd: KvWriteCommand, id: number, seq: number): ApplyResult {
    const s: SessionState | undefined = this.sessions.get(id);
    if (s === undefined) {
      return this.fail(index, term, 'UnknownSession', `session ${id} does not exist: it expired (unused for ${this.limits.sessionTtlMs} ms), was closed, or never was; nothing was applied`);
    }
    this.sessions.touch(s, this.clock);
    if (seq < s.lastSeq) return this.fail(index, term, 'StaleSessionSeq', `Session-Seq ${seq} is older than ${s.lastSeq}, the last one session ${id} applied; nothing was applied`);
    if (seq === s.lastSeq && s.kind !== 0) return replayOf(s, cmd);
    const res = this.execute(index, term, cmd);
    s.lastSeq = seq;
    summarizeInto(res, s);
    return res;
  }

  private execute(index: number, term: number, cmd: KvWriteCommand): ApplyResult {
    switch (cmd.op) {
      case 'put':
        return this.applyPut(index, term, cmd);
      case 'delete':
        return this.applyDelete(index, term, cmd);
      case 'txn':
        return this.applyTxn(index, term, cmd);
      case 'lockAcquire':
        return this.applyLockAcquire(index, term, cmd);
      case 'lockRelease':
        return this.applyLockRelease(index, term, cmd);
    }
  }

  private fail(index: number, term: number, code: KvErrorCode, message: string, extra?: { currentModRevision?: number; holder?: string }): ApplyFailure {
    return { ok: false, code, message, index, term, replayed: false, revision: this.rev, ...extra };
  }

  private fencingRefusal(index: number, term: number, f: Fencing | undefined): ApplyFailure | null {
    if (f === undefined || this.locks.checkFencing(f.lock, f.token, this.clock)) return null;
    const cur = this.locks.current(f.lock, this.clock);
    const why = cur === null ? `lock ${f.lock} is not held` : `lock ${f.lock} is held with token ${cur.token}`;
    return this.fail(index, term, 'StaleFencingToken', `fencing token ${f.lock}:${f.token} is stale: ${why}`);
  }

  private ifMatchRefusal(index: number, term: number, key: string, ifMatch: number | undefined): ApplyFailure | null {
    if (ifMatch === undefined) return null;
    const cur = this.data.get(key)?.modRevision ?? 0;
    if (cur === ifMatch) return null;
    return this.fail(index, term, 'PreconditionFailed', `If-Match ${ifMatch} does not match modRevision ${cur} of the key`, { currentModRevision: cur });
  }

  /** Writes without bumping the revision (callers bump once per command). */
  private write(key: string, value: Uint8Array, revision: number): void {
    const prev = this.data.get(key);
    if (prev === undefined) {
      this.data.set(key, { key, value, createRevision: revision, modRevision: revision, version: 1 });
      this.keys.insert(key);
    } else {
      this.data.set(key, { key, value, createRevision: prev.createRevision, modRevision: revision, version: prev.version + 1 });
    }
    this.hub.publish({ type: 'put', key, value, revision });
  }

  private remove(key: string, revision: number): boolean {
    if (!this.data.delete(key)) return false;
    this.keys.remove(key);
    this.hub.publish({ type: 'delete', key, value: EMPTY, revision });
    return true;
  }

  private applyPut(index: number, term: number, c: PutCommand): ApplyResult {
    const refusal = this.fencingRefusal(index, term, c.fencing) ?? this.ifMatchRefusal(index, term, c.key, c.ifMatch);
    if (refusal) return refusal;
    this.rev++;
    this.write(c.key, c.value, this.rev);
    return { ok: true, kind: 'put', revision: this.rev, index, term, replayed: false };
  }

  private applyDelete(index: number, term: number, c: DeleteCommand): ApplyResult {
    const refusal = this.fencingRefusal(index, term, c.fencing) ?? this.ifMatchRefusal(index, term, c.key, c.ifMatch);
    if (refusal) return refusal;
    if (!this.data.has(c.key)) return { ok: true, kind: 'delete', deleted: false, revision: this.rev, index, term, replayed: false };
    this.rev++;
    this.remove(c.key, this.rev);
    return { ok: true, kind: 'delete', deleted: true, revision: this.rev, index, term, replayed: false };
  }

  private compareHolds(c: TxnCompare): boolean {
    const e = this.data.get(c.key);
    switch (c.target) {
      case 'exists':
        return (e !== undefined) === c.value ? c.op === '=' : c.op === '!=';
      case 'modRevision':
        return cmpHolds(c.op, (e?.modRevision ?? 0) - c.value);
      case 'value':
        // A missing key has no value: only "!=" holds.
        if (e === undefined) return c.op === '!=';
        return cmpHolds(c.op, compareBytes(e.value, c.value));
    }
  }

  private applyTxn(index: number, term: number, c: TxnCommand): ApplyResult {
    const refusal = this.fencingRefusal(index, term, c.fencing);
    if (refusal) return refusal;
    let succeeded = true;
    for (const cmp of c.compare) {
      if (!this.compareHolds(cmp)) {
        succeeded = false;
        break;
      }
    }
    const ops = succeeded ? c.success : c.failure;
    // All writes of a txn share one revision, as in etcd; the revision only moves if one happened.
    const txnRev = this.rev + 1;
    let modified = false;
    const results: TxnOpResult[] = [];
    for (const op of ops) {
      if ('put' in op) {
        this.write(op.put.key, op.put.value, txnRev);
        modified = true;
        results.push({ type: 'put', key: op.put.key, revision: txnRev });
      } else if ('delete' in op) {
        const deleted = this.remove(op.delete.key, txnRev);
        if (deleted) modified = true;
        results.push({ type: 'delete', key: op.delete.key, deleted });
      } else {
        results.push({ type: 'get', key: op.get.key, kv: this.data.get(op.get.key) ?? null });
      }
    }
    if (modified) this.rev = txnRev;
    return { ok: true, kind: 'txn', succeeded, revision: this.rev, results, index, term, replayed: false };
  }

  private applyLockAcquire(index: number, term: number, c: LockAcquireCommand): ApplyResult {
    const cur = this.locks.current(c.name, this.clock);
    if (cur !== null && cur.owner !== c.owner) {
      return this.fail(index, term, 'LockHeld', `lock ${c.name} is held by ${cur.owner}`, { holder: cur.owner });
    }
    const expiresAtMs = this.clock + c.ttlMs;
    if (cur !== null) {
      // Refresh by the holder: same token, so its fenced writes stay valid.
      this.locks.set({ ...cur, expiresAtMs });
      return { ok: true, kind: 'lock', token: cur.token, owner: cur.owner, expiresAtMs, index, term, replayed: false };
    }
    if (this.locks.size >= this.limits.maxLocks && !this.hasLockEntry(c.name)) {
      this.locks.purgeExpired(this.clock);
      if (this.locks.size >= this.limits.maxLocks) return this.fail(index, term, 'TooManyLocks', `at most ${this.limits.maxLocks} locks may be held`);
    }
    this.locks.set({ name: c.name, owner: c.owner, token: index, expiresAtMs });
    return { ok: true, kind: 'lock', token: index, owner: c.owner, expiresAtMs, index, term, replayed: false };
  }

  private hasLockEntry(name: string): boolean {
    return this.locks.current(name, -Infinity) !== null;
  }

  private applyLockRelease(index: number, term: number, c: LockReleaseCommand): ApplyResult {
    const cur = this.locks.current(c.name, this.clock);
    if (cur === null) return this.fail(index, term, 'LockNotHeld', `lock ${c.name} is not held`);
    if (cur.token !== c.token) return this.fail(index, term, 'BadToken', `token ${c.token} is not the current token of lock ${c.name}`);
    this.locks.delete(c.name);
    return { ok: true, kind: 'unlock', released: true, index, term, replayed: false };
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The key's entry, or null. */
  get(key: string): KvEntry | null {
    return this.data.get(key) ?? null;
  }

  /**
   * Keys starting with `prefix`, sorted, at most `limit` (limit <= 0 or above maxRangeLimit
   * is clamped to maxRangeLimit); `more` tells whether further keys match. With `after`, only
   * keys greater than it: the next page after a page that ended at `after`.
   */
  range(prefix: string, limit: number, after?: string): KvRange {
    const max = limit > 0 ? Math.min(Math.floor(limit), this.limits.maxRangeLimit) : this.limits.maxRangeLimit;
    const kvs: KvEntry[] = [];
    const from = after !== undefined && after >= prefix ? after : prefix;
    let i = this.keys.lowerBound(from);
    if (after !== undefined && this.keys.at(i) === after) i++;
    for (;;) {
      const k = this.keys.at(i);
      if (k === undefined || !k.startsWith(prefix)) return { kvs, more: false, revision: this.rev };
      if (kvs.length === max) return { kvs, more: true, revision: this.rev };
      kvs.push(this.data.get(k) as KvEntry);
      i++;
    }
  }

  /** The lock as held at the command clock, or null. */
  lock(name: string): LockState | null {
    return this.locks.current(name, this.clock);
  }

  /**
   * Subscribes to changes under `prefix` from `fromRevision` (inclusive; <= 0 = from now).
   * Throws KvError code 'Compacted' (→ 410) if that revision is no longer retained.
   */
  watch(prefix: string, fromRevision: number, subscriber: WatchSubscriber): WatchSubscription {
    return this.hub.subscribe(prefix, fromRevision, subscriber);
  }

  // ---- snapshots ---------------------------------------------------------------------------

  /** A complete binary image: data, revision, clock, locks, idempotency window, sessions, applied index/term. */
  snapshot(): Uint8Array {
    const w = new ByteWriter(1024);
    w.u32(SNAPSHOT_MAGIC).u8(SNAPSHOT_VERSION);
    w.f64(this.appliedIdx).f64(this.appliedTrm).f64(this.rev).f64(this.clock);
    const keys = this.keys.all();
    w.u32(keys.length);
    for (const k of keys) {
      const e = this.data.get(k) as KvEntry;
      w.str(k).bytes(e.value).f64(e.createRevision).f64(e.modRevision).f64(e.version);
    }
    const locks = this.locks.entries();
    w.u32(locks.length);
    for (const l of locks) w.str(l.name).str(l.owner).f64(l.token).f64(l.expiresAtMs);
    const idem = this.idem.list();
    w.u32(idem.length);
    for (const e of idem) {
      w.str(e.key).f64(e.recordedAtMs);
      writeAnswer(w, e);
    }
    const sessions = this.sessions.list();
    w.u32(sessions.length);
    for (const s of sessions) {
      const a = lastAnswerOf(s);
      w.f64(s.id).f64(s.lastSeq).f64(s.lastActiveMs).u8(a !== null ? 1 : 0);
      if (a !== null) writeAnswer(w, a);
    }
    return w.finish();
  }

  /**
   * Replaces the whole state with a snapshot image. Throws KvSnapshotError (state unchanged)
   * if the image is malformed. Watch history is reset: revisions up to the image's are
   * compacted and open subscriptions are closed with reason 'reset'.
   */
  restore(image: Uint8Array): void {
    let parsed;
    try {
      parsed = this.parseSnapshot(image);
    } catch (e) {
      throw new KvSnapshotError(e instanceof DecodeError ? e.message : `bad snapshot image: ${String(e)}`);
    }
    this.data.clear();
    for (const e of parsed.entries) this.data.set(e.key, e);
    this.keys.reset(parsed.entries.map((e) => e.key));
    this.locks.clear();
    for (const l of parsed.locks) this.locks.set(l);
    this.idem.clear();
    for (const e of parsed.idem) this.idem.record(e.key, e.recordedAtMs, e.answer);
    this.sessions.clear();
    for (const s of parsed.sessions) this.sessions.put(s);
    this.appliedIdx = parsed.appliedIndex;
    this.appliedTrm = parsed.appliedTerm;
    this.rev = parsed.revision;
    this.clock = parsed.clock;
    this.hub.reset(this.rev);
  }

  private parseSnapshot(image: Uint8Array) {
    const r = new ByteReader(image);
    if (r.u32() !== SNAPSHOT_MAGIC) throw new DecodeError('not a KV snapshot image');
    const version = r.u8();
    if (version !== 1 && version !== SNAPSHOT_VERSION) throw new DecodeError(`unsupported KV snapshot version ${version}`);
    const appliedIndex = r.uint('appliedIndex');
    const appliedTerm = r.uint('appliedTerm');
    const revision = r.uint('revision');
    const clock = r.f64();
    if (!Number.isSafeInteger(clock)) throw new DecodeError('bad clock');
    const n = r.u32();
    const entries: KvEntry[] = [];
    let last: string | null = null;
    for (let i = 0; i < n; i++) {
      const key = r.str(MAX);
      if (last !== null && !(last < key)) throw new DecodeError('keys not sorted');
      last = key;
      entries.push({ key, value: r.bytes(MAX), createRevision: r.uint('createRevision'), modRevision: r.uint('modRevision'), version: r.uint('version') });
    }
    const nl = r.u32();
    const locks: LockState[] = [];
    for (let i = 0; i < nl; i++) locks.push({ name: r.str(MAX), owner: r.str(MAX), token: r.uint('token'), expiresAtMs: r.f64() });
    const ni = r.u32();
    const idem: { key: string; recordedAtMs: number; answer: Answer }[] = [];
    let lastAtMs = -Infinity;
    const seen = new Set<string>();
    for (let i = 0; i < ni; i++) {
      const key = r.str(MAX);
      const recordedAtMs = r.f64();
      if (!Number.isFinite(recordedAtMs) || recordedAtMs < lastAtMs || seen.has(key)) throw new DecodeError('idempotency entries out of order or repeated');
      lastAtMs = recordedAtMs;
      seen.add(key);
      // Version 1 kept whole encoded results: keep their summary (a txn's get values are dropped).
      const answer = version === 1 ? answerOf(decodeApplyResult(r.bytes(MAX), false)) : readAnswer(r);
      idem.push({ key, recordedAtMs, answer });
    }
    const sessions: SessionState[] = [];
    if (version >= 2) {
      const ns = r.u32();
      let lastActive = -Infinity;
      const ids = new Set<number>();
      for (let i = 0; i < ns; i++) {
        const id = r.uint('session id');
        const lastSeq = r.uint('session seq');
        const lastActiveMs = r.f64();
        if (!Number.isFinite(lastActiveMs) || lastActiveMs < lastActive || ids.has(id)) throw new DecodeError('sessions out of order or repeated');
        lastActive = lastActiveMs;
        ids.add(id);
        const s = newSession(id, lastActiveMs);
        if (r.bool()) rememberAnswer(s, lastSeq, readAnswer(r));
        else s.lastSeq = lastSeq;
        sessions.push(s);
      }
    }
    r.end();
    return { appliedIndex, appliedTerm, revision, clock, entries, locks, idem, sessions };
  }

  /**
   * sha256 (hex) over a canonical encoding of the KV data (sorted keys, values, create/mod
   * revisions, versions) and the revision. Replicas that applied the same commands agree.
   */
  hash(): string {
    const h = createHash('sha256');
    let w = new ByteWriter(64 * 1024);
    let pending = 0;
    w.str('raftkv-kv-hash-v1').f64(this.rev).u32(this.keys.size);
    for (const k of this.keys.all()) {
      const e = this.data.get(k) as KvEntry;
      w.str(k).bytes(e.value).f64(e.createRevision).f64(e.modRevision).f64(e.version);
      pending += k.length * 3 + e.value.length + 32;
      if (pending > 60 * 1024) {
        h.update(w.finish());
        w = new ByteWriter(64 * 1024);
        pending = 0;
      }
    }
    h.update(w.finish());
    return h.digest('hex');
  }
}
