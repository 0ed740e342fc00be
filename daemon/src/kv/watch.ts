// Watch fan-out. Apply only appends events to a bounded history ring (O(1) per event, no
// per-subscriber work); subscribers are cursors into that ring, served by a flush scheduled
// off the apply path. A subscriber whose consumer is backpressured (onEvent returned false)
// stops receiving until resume(); one that falls more than maxBufferedEvents behind, or behind
// the retained history, is closed with a reason instead of holding memory.

import { KvError } from './limits.js';

/** One change. Deletes carry an empty value. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  readonly value: Uint8Array;
  readonly revision: number;
}

/** Why a subscription ended. */
export type WatchCloseReason = 'cancelled' | 'slow' | 'reset';

/** Callbacks of one subscription. */
export interface WatchSubscriber {
  /** Return false to pause delivery (the consumer's buffer is full) until handle.resume(). */
  onEvent(ev: WatchEvent): boolean | void;
  /** Called once when the hub closes the subscription (not after cancel()). */
  onClose?(reason: WatchCloseReason, message: string): void;
}

/** A live subscription. */
export interface WatchSubscription {
  /** Continue delivery after onEvent returned false. */
  resume(): void;
  /** Idempotent. */
  cancel(): void;
  readonly closed: boolean;
}

interface Sub {
  readonly prefix: string;
  readonly cb: WatchSubscriber;
  /** Sequence number of the next event to look at. */
  cursor: number;
  /** Events below this revision are skipped (a subscriber may ask for a future revision). */
  readonly minRevision: number;
  paused: boolean;
  closed: boolean;
}

/** Options of the hub. */
export interface WatchHubOptions {
  readonly maxHistoryEvents: number;
  readonly maxBufferedEvents: number;
  /** How flushes are scheduled; tests pass a no-op and call flush() themselves. */
  readonly schedule?: (fn: () => void) => void;
}

/** The hub; one per state machine. */
export class WatchHub {
  private readonly ring: (WatchEvent | undefined)[];
  /** Sequence of the oldest retained event. */
  private firstSeq = 0;
  /** Sequence the next event will get. */
  private nextSeq = 0;
  /** Events with revision <= this are no longer (all) retained. */
  private compactedRevision = 0;
  /** Latest revision the hub knows of (set by apply, even for revisions without events). */
  private currentRevision = 0;
  private readonly subs = new Set<Sub>();
  private flushScheduled = false;
  private readonly schedule: (fn: () => void) => void;

  constructor(private readonly opts: WatchHubOptions) {
    this.ring = new Array<WatchEvent | undefined>(Math.max(1, opts.maxHistoryEvents));
    this.schedule = opts.schedule ?? ((fn) => setImmediate(fn));
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  /** Oldest revision a new subscriber may start from. */
  get oldestResumableRevision(): number {
    return this.compactedRevision + 1;
  }

  /** Called by apply for every change, in revision order. */
  publish(ev: WatchEvent): void {
    const cap = this.ring.length;
    if (this.nextSeq - this.firstSeq === cap) {
      const old = this.ring[this.firstSeq % cap];
      if (old !== undefined) this.compactedRevision = Math.max(this.compactedRevision, old.revision);
      this.firstSeq++;
    }
    this.ring[this.nextSeq % cap] = ev;
    this.nextSeq++;
    if (ev.revision > this.currentRevision) this.currentRevision = ev.revision;
    this.requestFlush();
  }

  /** Tells the hub the store's revision (after restore or at start). */
  setRevision(revision: number): void {
    this.currentRevision = revision;
  }

  /**
   * Forgets history (after a snapshot restore): older revisions become compacted and every
   * subscriber is closed with 'reset' since it may have missed changes.
   */
  reset(revision: number): void {
    this.ring.fill(undefined);
    this.firstSeq = this.nextSeq = 0;
    this.compactedRevision = revision;
    this.currentRevision = revision;
    for (const s of [...this.subs]) this.close(s, 'reset', 'state replaced by a snapshot; re-watch from the current revision');
  }

  /**
   * Subscribes to keys starting with `prefix` from `fromRevision` (inclusive). fromRevision
   * <= 0 means "changes after now". Throws KvError('Compacted') when fromRevision is older
   * than the retained history.
   */
  subscribe(prefix: string, fromRevision: number, cb: WatchSubscriber): WatchSubscription {
    let cursor: number;
    if (fromRevision <= 0 || fromRevision > this.currentRevision) {
      cursor = this.nextSeq;
    } else {
      if (fromRevision <= this.compactedRevision) {
        throw new KvError('Compacted', `revision ${fromRevision} is compacted; oldest available is ${this.compactedRevision + 1}`);
      }
      cursor = this.seekRevision(fromRevision);
    }
    const sub: Sub = { prefix, cb, cursor, minRevision: Math.max(0, fromRevision), paused: false, closed: false };
    this.subs.add(sub);
    if (cursor < this.nextSeq) this.requestFlush();
    return {
      resume: () => {
        if (sub.closed || !sub.paused) return;
        sub.paused = false;
        this.requestFlush();
      },
      cancel: () => {
        if (sub.closed) return;
        sub.closed = true;
        this.subs.delete(sub);
      },
      get closed() {
        return sub.closed;
      },
    };
  }

  /** First sequence whose event revision >= rev (binary search: revisions are sorted). */
  private seekRevision(rev: number): number {
    let lo = this.firstSeq;
    let hi = this.nextSeq;
    const cap = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const ev = this.ring[mid % cap] as WatchEvent;
      if (ev.revision < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private requestFlush(): void {
    if (this.flushScheduled || this.subs.size === 0) return;
    this.flushScheduled = true;
    this.schedule(() => this.flush());
  }

  private close(s: Sub, reason: WatchCloseReason, message: string): void {
    if (s.closed) return;
    s.closed = true;
    this.subs.delete(s);
    try {
      s.cb.onClose?.(reason, message);
    } catch {
      // A consumer's failure must not stop delivery to the others.
    }
  }

  /** Delivers pending events to every unpaused subscriber. Safe to call any time. */
  flush(): void {
    this.flushScheduled = false;
    const cap = this.ring.length;
    for (const s of [...this.subs]) {
      if (s.closed) continue;
      if (s.cursor < this.firstSeq) {
        this.close(s, 'slow', 'watcher fell behind the retained history');
        continue;
      }
      // Only a paused consumer holds events back; an unpaused one drains everything right now.
      if (s.paused && this.nextSeq - s.cursor > this.opts.maxBufferedEvents) {
        this.close(s, 'slow', `watcher fell more than ${this.opts.maxBufferedEvents} events behind`);
        continue;
      }
      while (!s.paused && !s.closed && s.cursor < this.nextSeq) {
        const ev = this.ring[s.cursor % cap] as WatchEvent;
        s.cursor++;
        if (ev.revision < s.minRevision || !ev.key.startsWith(s.prefix)) continue;
        let more: boolean | void;
        try {
          more = s.cb.onEvent(ev);
        } catch (e) {
          this.close(s, 'cancelled', `watch consumer threw: ${String(e)}`);
          break;
        }
        if (more === false) s.paused = true;
      }
    }
  }
}
