// The in-memory raft log: the last snapshot's position plus every retained entry after it.
// The driver loads the whole retained log at start; compaction (compact()) bounds it.
// Tracks which entries were handed to the driver for persistence and which are durable.
import { assertInvariant } from './errors.js';
import type { Entry, SnapshotMeta } from './types.js';

/** Bytes an entry costs in a message beyond its payload (index, term, type, framing). */
export const ENTRY_OVERHEAD_BYTES = 24;

/** Bytes `e` counts for against maxSizePerMsgBytes. */
export function entrySizeBytes(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD_BYTES;
}

/**
 * Entries `snapshot.index+1 .. lastIndex()` in one array (`entries[i]` holds index
 * `snapshot.index + 1 + i`). Appending is O(1); compaction copies the retained tail once.
 */
export class RaftLog {
  private snap: SnapshotMeta;
  private entries: Entry[];
  /** Highest index known to be committed. */
  committed: number;
  /** First index not yet handed to the driver in a Ready. */
  unstableFrom: number;
  /** Every entry <= persisted is durable on the driver's disk and still in this log. */
  persisted: number;
  /**
   * Simulator-only (brokenVariants.commitPreviousTermByCount): a conflict at a committed index
   * truncates it and lowers commit instead of stopping the member, so the simulator's state
   * machine checker (not this assertion) is what sees the divergence.
   */
  allowCommittedTruncation = false;

  constructor(snapshot: SnapshotMeta, entries: readonly Entry[], committed: number) {
    this.snap = snapshot;
    this.entries = entries.slice();
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i] as Entry;
      assertInvariant(e.index === snapshot.index + 1 + i, `initial log is not contiguous at position ${i}: index ${e.index} after snapshot ${snapshot.index}`);
      const prevTerm = i === 0 ? snapshot.term : (this.entries[i - 1] as Entry).term;
      if (e.term < prevTerm) {
        // Storage may keep entries past an installed snapshot that belonged to the log the
        // snapshot replaced; a term below its predecessor's marks where that stale tail starts.
        assertInvariant(e.index > committed, `initial log terms decrease at committed index ${e.index}`);
        this.entries.length = i;
        break;
      }
    }
    assertInvariant(committed >= snapshot.index, `commit ${committed} is below the snapshot index ${snapshot.index}`);
    assertInvariant(committed <= this.lastIndex(), `commit ${committed} is beyond the last stored index ${this.lastIndex()}`);
    this.committed = committed;
    this.unstableFrom = this.lastIndex() + 1;
    this.persisted = this.lastIndex();
  }

  get snapshot(): SnapshotMeta {
    return this.snap;
  }

  /** Index of the first retained entry (snapshot.index + 1, even when there is none). */
  firstIndex(): number {
    return this.snap.index + 1;
  }

  lastIndex(): number {
    return this.snap.index + this.entries.length;
  }

  lastTerm(): number {
    const n = this.entries.length;
    return n === 0 ? this.snap.term : (this.entries[n - 1] as Entry).term;
  }

  /** Term of the entry at `index`, or undefined if compacted away or beyond the end. */
  term(index: number): number | undefined {
    const off = index - this.snap.index;
    if (off === 0) return this.snap.term;
    if (off < 0 || off > this.entries.length) return undefined;
    return (this.entries[off - 1] as Entry).term;
  }

  /** The entry at `index` (must be retained). */
  entry(index: number): Entry {
    const e = this.entries[index - this.snap.index - 1];
    assertInvariant(e !== undefined, `entry ${index} is not in the log [${this.firstIndex()}, ${this.lastIndex()}]`);
    return e;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction: is a log ending at (lastTerm, lastIndex) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) — lo must be retained — stopping once `maxBytes` is exceeded (but always
   * at least one entry when lo < hi). Returns a fresh array (messages and Readies own theirs).
   */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo >= hi) return [];
    assertInvariant(lo > this.snap.index && hi <= this.lastIndex() + 1, `slice [${lo}, ${hi}) outside [${this.firstIndex()}, ${this.lastIndex() + 1})`);
    const base = this.snap.index + 1;
    if (maxBytes === Infinity) return this.entries.slice(lo - base, hi - base);
    let bytes = 0;
    let end = lo;
    while (end < hi) {
      bytes += entrySizeBytes(this.entries[end - base] as Entry);
      if (bytes > maxBytes && end > lo) break;
      end++;
    }
    return this.entries.slice(lo - base, end - base);
  }

  /** Leader: appends one new entry at lastIndex()+1. */
  appendOne(e: Entry): void {
    assertInvariant(e.index === this.lastIndex() + 1, `append of index ${e.index} after last ${this.lastIndex()}`);
    assertInvariant(e.term >= this.lastTerm(), `append of term ${e.term} after term ${this.lastTerm()}`);
    this.entries.push(e);
  }

  /**
   * Follower: the leader says entries follow (prevIndex, prevTerm), which must match. Skips
   * entries we already hold, truncates at the first conflict and appends the rest. Returns
   * the index of the last entry the message covered.
   */
  appendFromLeader(prevIndex: number, entries: readonly Entry[]): number {
    const lastNew = prevIndex + entries.length;
    let i = 0;
    // Skip a prefix that is compacted (already committed, so it matches) or already held.
    for (; i < entries.length; i++) {
      const e = entries[i] as Entry;
      assertInvariant(e.index === prevIndex + 1 + i, `append message is not contiguous at ${e.index}`);
      if (e.index <= this.snap.index) continue;
      const t = this.term(e.index);
      if (t === undefined) break; // beyond our end
      if (t !== e.term) {
        if (this.allowCommittedTruncation && e.index <= this.committed) this.committed = e.index - 1;
        assertInvariant(e.index > this.committed, `conflict at committed index ${e.index} (commit ${this.committed}): ours term ${t}, leader's ${e.term}`);
        this.truncateFrom(e.index);
        break;
      }
    }
    for (; i < entries.length; i++) {
      const e = entries[i] as Entry;
      assertInvariant(e.index === this.lastIndex() + 1, `append gap: ${e.index} after ${this.lastIndex()}`);
      assertInvariant(e.term >= this.lastTerm(), `log terms decrease at ${e.index}: ${e.term} after ${this.lastTerm()}`);
      this.entries.push(e);
    }
    return lastNew;
  }

  private truncateFrom(index: number): void {
    assertInvariant(index > this.committed, `truncating committed entry ${index} (commit ${this.committed})`);
    this.entries.length = index - this.snap.index - 1;
    if (this.unstableFrom > index) this.unstableFrom = index;
    if (this.persisted >= index) this.persisted = index - 1;
  }

  /**
   * Largest index <= `index` whose term is <= `term` (fast backtracking). Returns the
   * snapshot index if the search runs into the compacted region.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    while (i > this.snap.index) {
      const t = this.term(i) as number;
      if (t <= term) return i;
      i--;
    }
    return Math.max(i, this.snap.index);
  }

  commitTo(index: number): void {
    if (index <= this.committed) return;
    assertInvariant(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Entries handed to the driver are now durable (up to the newest one still in the log). */
  stableTo(handed: readonly Entry[]): void {
    for (let i = handed.length - 1; i >= 0; i--) {
      const e = handed[i] as Entry;
      if (e.index >= this.unstableFrom || e.index <= this.snap.index) continue;
      if (this.term(e.index) !== e.term) continue;
      if (e.index > this.persisted) this.persisted = e.index;
      return;
    }
  }

  /** Entries not yet handed to the driver; marks them handed. */
  takeUnstable(): Entry[] {
    const last = this.lastIndex();
    if (this.unstableFrom > last) return [];
    const out = this.slice(this.unstableFrom, last + 1);
    this.unstableFrom = last + 1;
    return out;
  }

  hasUnstable(): boolean {
    return this.unstableFrom <= this.lastIndex();
  }

  /**
   * A joining member (empty index-0 configuration) learns the bootstrap configuration from
   * the leader: only the index-0 snapshot meta's confState changes.
   */
  adoptBootstrapConf(meta: SnapshotMeta): void {
    assertInvariant(this.snap.index === 0 && meta.index === 0, 'a bootstrap configuration applies at index 0 only');
    this.snap = { index: 0, term: this.snap.term, confState: meta.confState };
  }

  /** Replaces the whole log with `snapshot` (a follower installing the leader's snapshot). */
  restore(snapshot: SnapshotMeta): void {
    assertInvariant(snapshot.index > this.committed, `restore of snapshot ${snapshot.index} at or below commit ${this.committed}`);
    this.snap = snapshot;
    this.entries = [];
    this.committed = snapshot.index;
    this.unstableFrom = snapshot.index + 1;
    // Durable only once the Ready carrying it is advanced.
    this.persisted = Math.min(this.persisted, snapshot.index - 1);
  }

  /** Drops entries <= meta.index (they are in the driver's snapshot). */
  compactTo(meta: SnapshotMeta): void {
    assertInvariant(meta.index > this.snap.index, `compaction to ${meta.index} at or below snapshot ${this.snap.index}`);
    assertInvariant(meta.index <= this.persisted && (meta.index <= this.committed || this.allowCommittedTruncation), `compaction to ${meta.index} beyond durable ${this.persisted} / committed ${this.committed}`);
    assertInvariant(this.term(meta.index) === meta.term, `compaction term ${meta.term} != log term ${String(this.term(meta.index))} at ${meta.index}`);
    this.entries = this.entries.slice(meta.index - this.snap.index);
    this.snap = meta;
  }
}
