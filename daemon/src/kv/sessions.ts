// Client sessions (Raft dissertation §6.3): a client opens a session through the log, then
// numbers its writes 1, 2, 3 ... within it. Per session the state machine keeps the highest
// sequence number applied and its compact answer, so a retry of that number is answered from
// memory and never applied twice; exactly-once costs memory per client, not per request.
// Sessions are kept in order of last use; with one TTL for all, that is expiry order.

import type { Answer } from './answers.js';

/** One open session. Mutated only by the state machine's apply. */
export interface SessionState {
  /** The raft index of the entry that opened it: unique and the same on every replica. */
  readonly id: number;
  /** Highest sequence number applied (0: none yet). */
  lastSeq: number;
  /** Its answer (null until the first write). */
  answer: Answer | null;
  /** Command clock of the last command that used the session. */
  lastActiveMs: number;
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
