// Replicated locks with fencing tokens. A lock's token is the raft index of the entry that
// acquired it, so tokens only grow for a name; a refresh by the same owner keeps the token.
// Expiry is measured with the state machine's command clock, never the local clock.

/** One held lock. */
export interface LockState {
  readonly name: string;
  readonly owner: string;
  readonly token: number;
  readonly expiresAtMs: number;
}

/** Lock table; every method is deterministic given its arguments. */
export class LockTable {
  private readonly locks = new Map<string, LockState>();

  get size(): number {
    return this.locks.size;
  }

  /** The lock if held and unexpired at nowMs. */
  current(name: string, nowMs: number): LockState | null {
    const l = this.locks.get(name);
    return l !== undefined && nowMs < l.expiresAtMs ? l : null;
  }

  /** True when `token` is exactly the token of the unexpired holder of `name`. */
  checkFencing(name: string, token: number, nowMs: number): boolean {
    const l = this.current(name, nowMs);
    return l !== null && l.token === token;
  }

  /** Stores a (new or refreshed) lock. */
  set(l: LockState): void {
    this.locks.set(l.name, l);
  }

  delete(name: string): void {
    this.locks.delete(name);
  }

  /** Drops locks expired at nowMs (called when the table is full). */
  purgeExpired(nowMs: number): void {
    for (const [name, l] of this.locks) if (nowMs >= l.expiresAtMs) this.locks.delete(name);
  }

  /** Locks sorted by name, for snapshots. */
  entries(): LockState[] {
    return [...this.locks.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  clear(): void {
    this.locks.clear();
  }
}
