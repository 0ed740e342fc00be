// The replicated idempotency window: Idempotency-Key → the compact first answer. The window is a
// promise: an entry lives exactly idempotencyTtlMs of command clock and is never evicted before
// that. Its bound is a byte budget; a keyed write that would pass it is refused by the state
// machine instead of dropping an older promise. Entries are kept in insertion order, which is
// also expiry order because the command clock never goes backwards, so expiry pops the front.

import { IDEMPOTENCY_ENTRY_BASE_BYTES } from './limits.js';
import type { Answer } from './answers.js';

/** One remembered answer (the answer's fields inline: one object per entry). */
export interface IdempotencyEntry extends Answer {
  readonly key: string;
  readonly recordedAtMs: number;
}

/** Accounted bytes of an entry for `key`: a pure function of the key, so every replica agrees. */
export function idempotencyEntryBytes(key: string, answer?: Answer): number {
  let chars = 0;
  // Latin-1 strings take a byte per character in V8, others two.
  for (let i = 0; i < key.length; i++) chars += key.charCodeAt(i) > 0xff ? 2 : 1;
  return IDEMPOTENCY_ENTRY_BASE_BYTES + chars + (answer?.deletedBits !== undefined ? 64 + answer.deletedBits.length : 0);
}

/** The window: expiring by TTL, accounted in bytes. The budget is checked by the caller (it comes with each command). */
export class IdempotencyTable {
  private readonly entries = new Map<string, IdempotencyEntry>();
  private accountedBytes = 0;
  private tailAtMs = -Infinity;
  /** Entries dropped by expiry since this table was created (member-local, for metrics). */
  expiredTotal = 0;

  constructor(private readonly ttlMs: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Accounted bytes of all live entries. */
  get bytes(): number {
    return this.accountedBytes;
  }

  /** Drops expired entries; call once per apply with the command clock. */
  expire(nowMs: number): void {
    for (const e of this.entries.values()) {
      if (nowMs - e.recordedAtMs < this.ttlMs) break;
      this.entries.delete(e.key);
      this.accountedBytes -= idempotencyEntryBytes(e.key, e);
      this.expiredTotal++;
    }
  }

  /** Command-clock ms until the oldest entry expires (the TTL when empty). */
  msUntilRoom(nowMs: number): number {
    const first = this.entries.values().next();
    if (first.done === true) return this.ttlMs;
    return Math.max(1, first.value.recordedAtMs + this.ttlMs - nowMs);
  }

  get(key: string): IdempotencyEntry | undefined {
    return this.entries.get(key);
  }

  /**
   * Remembers the first answer for `key`. The key must not be present (a present key is a
   * retry and is answered from the table): recording never replaces or evicts a promise.
   */
  record(key: string, nowMs: number, answer: Answer): void {
    if (this.entries.has(key)) throw new Error(`assertion: idempotency key ${JSON.stringify(key)} recorded twice`);
    // Insertion order must stay expiry order, or expire() could stop before an expired entry.
    if (nowMs < this.tailAtMs) throw new Error(`assertion: idempotency entries out of clock order (${nowMs} < ${this.tailAtMs})`);
    const e: IdempotencyEntry = answer.deletedBits !== undefined
      ? { key, recordedAtMs: nowMs, kind: answer.kind, index: answer.index, term: answer.term, revision: answer.revision, detail: answer.detail, deletedBits: answer.deletedBits }
      : { key, recordedAtMs: nowMs, kind: answer.kind, index: answer.index, term: answer.term, revision: answer.revision, detail: answer.detail };
    this.entries.set(key, e);
    this.tailAtMs = nowMs;
    this.accountedBytes += idempotencyEntryBytes(key, answer);
  }

  /** Entries oldest first (the order is state: it decides expiry). */
  list(): IdempotencyEntry[] {
    return [...this.entries.values()];
  }

  clear(): void {
    this.entries.clear();
    this.accountedBytes = 0;
    this.tailAtMs = -Infinity;
  }
}
