// Requests waiting on the log: proposals keyed by the (index, term) the leader gave their entry,
// and linearizable reads batched onto one ReadIndex request id. Both are bounded and expire
// after the request timeout; the driver sweeps them on every tick.
import { MemberError } from './errors.js';

interface Deferred<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
}

interface PendingProposal<R> extends Deferred<R> {
  readonly term: number;
  readonly bytes: number;
  readonly deadlineMs: number;
}

/**
 * Proposals waiting to be applied. A proposal is answered when the entry at its index is
 * applied: with the state machine's result if the applied entry has the proposal's term,
 * otherwise with ProposalDropped (a new leader replaced it).
 */
export class ProposalTracker<R> {
  private readonly byIndex = new Map<number, PendingProposal<R>>();
  private bytesPending = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.byIndex.size;
  }

  get bytes(): number {
    return this.bytesPending;
  }

  /** Throws Backpressure when one more proposal of `bytes` would exceed a bound. */
  checkRoom(bytes: number): void {
    if (this.byIndex.size >= this.maxCount) throw new MemberError('Backpressure', `too many pending proposals (${this.maxCount})`);
    if (this.bytesPending + bytes > this.maxBytes) throw new MemberError('Backpressure', `too many pending proposal bytes (${this.maxBytes})`);
  }

  /** Registers the proposal of the entry at (index, term). */
  add(index: number, term: number, bytes: number, deadlineMs: number): Promise<R> {
    const prev = this.byIndex.get(index);
    // A new leader term may reuse an index we were waiting on: the old entry lost.
    if (prev) this.settle(index, prev, new MemberError('ProposalDropped', 'the entry was replaced after a leader change; retry with the same Idempotency-Key'));
    return new Promise<R>((resolve, reject) => {
      this.byIndex.set(index, { resolve, reject, term, bytes, deadlineMs });
      this.bytesPending += bytes;
    });
  }

  /** The entry at `index` was applied with `term`: answers its proposal, if any. */
  applied(index: number, term: number, result: () => R | Error): void {
    const p = this.byIndex.get(index);
    if (!p) return;
    if (p.term !== term) {
      this.settle(index, p, new MemberError('ProposalDropped', 'the entry was replaced after a leader change; retry with the same Idempotency-Key'));
      return;
    }
    const r = result();
    this.byIndex.delete(index);
    this.bytesPending -= p.bytes;
    if (r instanceof Error) p.reject(r);
    else p.resolve(r);
  }

  /** Fails proposals in [fromIndex, toIndex] (e.g. their persist failed or a snapshot skipped them). */
  failRange(fromIndex: number, toIndex: number, err: Error): number {
    let n = 0;
    for (const [index, p] of this.byIndex) {
      if (index >= fromIndex && index <= toIndex) {
        this.settle(index, p, err);
        n++;
      }
    }
    return n;
  }

  /** Fails every proposal whose deadline passed; returns how many. */
  expire(nowMs: number): number {
    let n = 0;
    for (const [index, p] of this.byIndex) {
      if (p.deadlineMs <= nowMs) {
        this.settle(index, p, new MemberError('Timeout', 'the write was not applied within the request timeout; its outcome is unknown (retry with the same Idempotency-Key)'));
        n++;
      }
    }
    return n;
  }

  failAll(err: Error): void {
    for (const [index, p] of this.byIndex) this.settle(index, p, err);
  }

  private settle(index: number, p: PendingProposal<R>, err: Error): void {
    this.byIndex.delete(index);
    this.bytesPending -= p.bytes;
    p.reject(err);
  }
}

interface ReadWaiter extends Deferred<void> {
  readonly deadlineMs: number;
}

/**
 * Linearizable reads. Reads arriving while no ReadIndex request is being opened join the open
 * batch; the driver submits the batch under one request id, gets a read index back from the
 * core, and releases the batch once the state machine has applied that index.
 */
export class ReadTracker {
  private open: ReadWaiter[] = [];
  /** Submitted to the core, no read index yet. */
  private readonly submitted = new Map<number, ReadWaiter[]>();
  /** Read index known, waiting for apply; kept in arrival order (read indexes never decrease per leader). */
  private waitingApply: { index: number; waiters: ReadWaiter[] }[] = [];
  private count = 0;
  private nextId = 1;

  constructor(private readonly maxCount: number) {}

  get size(): number {
    return this.count;
  }

  hasOpenBatch(): boolean {
    return this.open.length > 0;
  }

  /** Queues a read in the open batch; throws Backpressure beyond the bound. */
  add(deadlineMs: number): Promise<void> {
    if (this.count >= this.maxCount) throw new MemberError('Backpressure', `too many pending reads (${this.maxCount})`);
    this.count++;
    return new Promise<void>((resolve, reject) => {
      this.open.push({ resolve, reject, deadlineMs });
    });
  }

  /** Closes the open batch and returns its request id (0 when empty). */
  takeOpenBatch(): number {
    if (this.open.length === 0) return 0;
    const id = this.nextId++;
    this.submitted.set(id, this.open);
    this.open = [];
    return id;
  }

  /** The core could not take the batch: fail its reads. */
  failBatch(id: number, err: Error): void {
    const ws = this.submitted.get(id);
    if (!ws) return;
    this.submitted.delete(id);
    for (const w of ws) this.settle(w, err);
  }

  /** The core answered request `id` with `index`. Unknown ids (expired) are ignored. */
  readState(id: number, index: number): void {
    const ws = this.submitted.get(id);
    if (!ws) return;
    this.submitted.delete(id);
    this.waitingApply.push({ index, waiters: ws });
  }

  /** Releases every batch whose read index is applied. */
  applied(appliedIndex: number): void {
    if (this.waitingApply.length === 0) return;
    const keep: { index: number; waiters: ReadWaiter[] }[] = [];
    for (const b of this.waitingApply) {
      if (b.index <= appliedIndex) {
        for (const w of b.waiters) {
          this.count--;
          w.resolve();
        }
      } else keep.push(b);
    }
    this.waitingApply = keep;
  }

  /** Fails reads past their deadline (their ReadIndex round was lost, e.g. on a leader change). */
  expire(nowMs: number): void {
    const err = (): MemberError => new MemberError('Timeout', 'the linearizable read could not be confirmed within the request timeout');
    const sweep = (ws: ReadWaiter[]): ReadWaiter[] => ws.filter((w) => {
      if (w.deadlineMs > nowMs) return true;
      this.settle(w, err());
      return false;
    });
    this.open = sweep(this.open);
    for (const [id, ws] of this.submitted) {
      const left = sweep(ws);
      if (left.length === 0) this.submitted.delete(id);
      else this.submitted.set(id, left);
    }
    this.waitingApply = this.waitingApply
      .map((b) => ({ index: b.index, waiters: sweep(b.waiters) }))
      .filter((b) => b.waiters.length > 0);
  }

  /** Submitted batches still without a read index (to re-submit after a leader change). */
  unansweredIds(): number[] {
    return [...this.submitted.keys()];
  }

  /** Moves an unanswered batch back into the open batch so it is submitted again. */
  reopen(id: number): void {
    const ws = this.submitted.get(id);
    if (!ws) return;
    this.submitted.delete(id);
    this.open.push(...ws);
  }

  failAll(err: Error): void {
    for (const w of this.open) this.settle(w, err);
    this.open = [];
    for (const ws of this.submitted.values()) for (const w of ws) this.settle(w, err);
    this.submitted.clear();
    for (const b of this.waitingApply) for (const w of b.waiters) this.settle(w, err);
    this.waitingApply = [];
  }

  private settle(w: ReadWaiter, err: Error): void {
    this.count--;
    w.reject(err);
  }
}
