// Per-member replication progress kept by the leader: how far each member's log matches
// ours, where the next Append starts, and the bounded window of unacknowledged Appends.
import { assertInvariant } from './errors.js';
import type { ProgressStatus } from './types.js';

/**
 * Ring buffer of the last entry index of each Append in flight to one follower. Bounded by
 * `capacity` (config.maxInflightMsgs): a full window pauses replication until acks free it.
 */
export class Inflights {
  private readonly buf: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    assertInvariant(Number.isInteger(capacity) && capacity > 0, `maxInflightMsgs must be a positive integer, got ${capacity}`);
    this.buf = new Array<number>(capacity).fill(0);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  /** Records an Append whose last entry is `lastIndex`; indexes must increase. */
  add(lastIndex: number): void {
    assertInvariant(!this.full(), 'inflights: add to a full window');
    const slot = (this.start + this.count) % this.capacity;
    this.buf[slot] = lastIndex;
    this.count++;
  }

  /** Frees every in-flight Append whose last index is <= `index` (they were acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && (this.buf[this.start] as number) <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
    if (this.count === 0) this.start = 0;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/** Replication state of one follower (etcd-io/raft's three states). */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** What the leader knows about one member's log. */
export class Progress {
  /** Highest index known to match the leader's log. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState = 'probe';
  /** Probe state: an Append is out and unanswered; wait for a reply or a heartbeat. */
  probeSent = false;
  /** Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from in the current check-quorum window. */
  recentActive = false;
  /** Highest commit index told to this member (avoids empty Appends when nothing changed). */
  sentCommit = 0;
  /** Leader tick when match last advanced (or the window was last empty): detects lost Appends. */
  lastProgressTick = 0;
  /** Snapshot state: the leader tick when the snapshot was sent (a lost one is resent). */
  snapshotSentTick = 0;
  /** Lease: the leader tick stamped on the newest heartbeat this member acknowledged. */
  leaseAckTick = -1;
  readonly inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, public isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflightMsgs);
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.next = this.match + 1;
    }
    this.state = 'probe';
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = this.match + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.state = 'snapshot';
    this.pendingSnapshot = snapshotIndex;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** An ack for `index`: true if it moved match forward. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * A rejection of the Append after `rejected`; `hint` is the highest index that may match.
   * False if the rejection is stale (answers an older Append).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  /** True when no further Append may be sent now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  toStatus(): ProgressStatus {
    return { match: this.match, next: this.next, state: this.state, recentActive: this.recentActive };
  }
}
