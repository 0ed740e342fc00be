// ReadIndex bookkeeping on the leader: read requests batched into heartbeat rounds; a round
// is confirmed when a quorum of voters acknowledges its heartbeat (or any later round's).
import type { NodeId } from './types.js';

/** One read request waiting for leadership confirmation. */
export interface PendingRead {
  /** Who asked: this member (answered through Ready.readStates) or a follower (ReadIndexResp). */
  readonly from: NodeId;
  readonly requestId: number;
}

/** A heartbeat round confirming leadership for the reads it carries. */
export interface ReadRound {
  readonly id: number;
  /** The commit index when the round's reads arrived: the read point. */
  readonly index: number;
  readonly reads: PendingRead[];
  readonly acks: Set<NodeId>;
}

/** Most read requests the leader holds unconfirmed; more are refused (Backpressure). */
export const MAX_PENDING_READS = 65536;

/** Leader-side ReadIndex queue: requests not yet in a round, and rounds awaiting a quorum. */
export class ReadOnlyQueue {
  /** Requests received since the last round started (they share the next round). */
  batch: PendingRead[] = [];
  /** Requests received before the leader committed an entry in its term. */
  beforeCommit: PendingRead[] = [];
  /** Rounds in id order. */
  rounds: ReadRound[] = [];
  private nextRoundId = 1;
  private pendingCount = 0;

  get size(): number {
    return this.pendingCount;
  }

  add(read: PendingRead, committedInTerm: boolean): void {
    this.pendingCount++;
    if (committedInTerm) this.batch.push(read);
    else this.beforeCommit.push(read);
  }

  /** The leader committed in its term: requests waiting for that join the next round. */
  releaseBeforeCommit(): void {
    if (this.beforeCommit.length === 0) return;
    for (const r of this.beforeCommit) this.batch.push(r);
    this.beforeCommit = [];
  }

  /** Starts a round for the batched requests at read point `index`; returns its id (0 if none). */
  startRound(index: number, self: NodeId): number {
    if (this.batch.length === 0) return 0;
    const round: ReadRound = { id: this.nextRoundId++, index, reads: this.batch, acks: new Set([self]) };
    this.batch = [];
    this.rounds.push(round);
    return round.id;
  }

  /** Id of the newest unconfirmed round (heartbeats carry it so acks keep flowing), 0 if none. */
  newestRoundId(): number {
    const r = this.rounds[this.rounds.length - 1];
    return r === undefined ? 0 : r.id;
  }

  /**
   * Records `from`'s ack of round `id`. If `confirmed(acks)` then holds, returns every round
   * up to and including it (removed from the queue), oldest first.
   */
  ack(id: number, from: NodeId, confirmed: (acks: ReadonlySet<NodeId>) => boolean): ReadRound[] {
    const pos = this.rounds.findIndex((r) => r.id === id);
    if (pos < 0) return [];
    const round = this.rounds[pos] as ReadRound;
    round.acks.add(from);
    if (!confirmed(round.acks)) return [];
    const done = this.rounds.splice(0, pos + 1);
    for (const r of done) this.pendingCount -= r.reads.length;
    return done;
  }

  /** Takes every request out (leader stepping down or serving them at once). */
  clear(): void {
    this.batch = [];
    this.beforeCommit = [];
    this.rounds = [];
    this.pendingCount = 0;
  }

  /** Removes and returns batched requests, to be answered without a round. */
  takeBatch(): PendingRead[] {
    const b = this.batch;
    this.batch = [];
    this.pendingCount -= b.length;
    return b;
  }
}
