// The replicated idempotency table: Idempotency-Key → the encoded first result. Entries are
// kept in insertion order; since the command clock never goes backwards, insertion order is
// also expiry order, so both the count bound and the TTL evict from the front in O(1) each.

/** One remembered result. */
export interface IdempotencyEntry {
  readonly key: string;
  readonly recordedAtMs: number;
  /** The first result, encoded with encodeApplyResult (bytes keep snapshots exact). */
  readonly result: Uint8Array;
}

/** Bounded, expiring table. */
export class IdempotencyTable {
  private readonly entries = new Map<string, IdempotencyEntry>();

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Drops expired entries; call once per apply with the command clock. */
  expire(nowMs: number): void {
    for (const e of this.entries.values()) {
      if (nowMs - e.recordedAtMs < this.ttlMs) break;
      this.entries.delete(e.key);
    }
  }

  get(key: string): IdempotencyEntry | undefined {
    return this.entries.get(key);
  }

  record(key: string, nowMs: number, result: Uint8Array): void {
    this.entries.delete(key);
    this.entries.set(key, { key, recordedAtMs: nowMs, result });
    while (this.entries.size > this.maxEntries) {
      const first = this.entries.keys().next();
      if (first.done === true) break;
      this.entries.delete(first.value);
    }
  }

  /** Entries oldest first (the order is state: it decides eviction). */
  list(): IdempotencyEntry[] {
    return [...this.entries.values()];
  }

  clear(): void {
    this.entries.clear();
  }
}
