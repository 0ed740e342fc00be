// Client sessions (Raft dissertation §6.3): a client opens a session through the log, then
// numbers its writes 1, 2, 3 ... within it. Per session the state machine keeps the highest
// sequence number applied and its compact answer, so a retry of that number is answered from
// memory and never applied twice; exactly-once costs memory per client, not per request.
// Sessions are kept in order of last use; with one TTL for all, that is expiry order.

import type { Answer, AnswerSlot } from './answers.js';

/**
 * One open session. Mutated only by the state machine's apply. The last answer's fields are
 * inline (one object per session); `kind` 0 means no write applied yet.
 */
export interface SessionState extends AnswerSlot {
  /** The raft index of the entry that opened it: unique and the same on every replica. */
  readonly id: number;
  /** Highest sequence number applied (0: none yet). */
  lastSeq: number;
  /** Command clock of the last command that used the session. */
  lastActiveMs: number;
}

/** A new session's state. */
export function newSession(id: number, nowMs: number): SessionState {
  return { id, lastSeq: 0, lastActiveMs: nowMs, kind: 0, index: 0, term: 0, revision: 0, detail: 0, deletedBits: undefined };
}

/** The session's last answer, or null before its first write. */
export function lastAnswerOf(s: SessionState): Answer | null {
  if (s.kind === 0) return null;
  const a = { kind: s.kind, index: s.index, term: s.term, revision: s.revision, detail: s.detail };
  return s.deletedBits !== undefined ? { ...a, deletedBits: s.deletedBits } : a;
}

/** Remembers `a` as the answer to `seq`. */
export function rememberAnswer(s: SessionState, seq: number, a: Answer): void {
  s.lastSeq = seq;
  s.kind = a.kind;
  s.index = a.index;
  s.term = a.term;
  s.revision = a.revision;
  s.detail = a.detail;
  s.deletedBits = a.deletedBits;
}

/** Open sessions, expiring after ttlMs without use. */
export class SessionTable {
  private readonly sessions = new Map<number, SessionState>();
  /** Sessions expired since this table was created (member-local, for metrics). */
  expiredTotal = 0;

  constructor(readonly ttlMs: number) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Drops sessions idle for ttlMs or more; call once per apply with the command clock. */
  expire(nowMs: number): void {
    for (const s of this.sessions.values()) {
      if (nowMs - s.lastActiveMs < this.ttlMs) break;
      this.sessions.delete(s.id);
      this.expiredTotal++;
    }
  }

  get(id: number): SessionState | undefined {
    return this.sessions.get(id);
  }

  /** Opens (or, from a snapshot, re-inserts) a session; the caller checks the count bound. */
  put(s: SessionState): void {
    if (this.sessions.has(s.id)) throw new Error(`assertion: session ${s.id} opened twice`);
    this.sessions.set(s.id, s);
  }

  /** Marks a use at `nowMs`: moves the session to the back (latest use last). */
  touch(s: SessionState, nowMs: number): void {
    s.lastActiveMs = nowMs;
    this.sessions.delete(s.id);
    this.sessions.set(s.id, s);
  }

  close(id: number): boolean {
    return this.sessions.delete(id);
  }

  /** Sessions least recently used first (the order is state: it decides expiry). */
  list(): SessionState[] {
    return [...this.sessions.values()];
  }

  clear(): void {
    this.sessions.clear();
  }
}
