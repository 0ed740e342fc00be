// A rate-limited work queue in the client-go mould: a key is queued at most once, never handed
// to two workers at once (a key re-added while processing is queued again after done()), and
// failures back off exponentially per key.

/** Bounds of the queue. */
export interface WorkQueueOptions {
  /** First retry delay after a failure. */
  readonly baseDelayMs: number;
  /** Longest retry delay. */
  readonly maxDelayMs: number;
  /** Most distinct keys queued or waiting; further adds are dropped and counted. */
  readonly maxKeys: number;
}

/** Defaults for the operator. */
export const DEFAULT_WORK_QUEUE_OPTIONS: WorkQueueOptions = { baseDelayMs: 250, maxDelayMs: 60_000, maxKeys: 10_000 };

/** Keyed work queue; call get() → work → done(key); after a failure addRateLimited(key), after success forget(key). */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  /** Adds dropped because maxKeys was reached. */
  dropped = 0;

  constructor(private readonly options: WorkQueueOptions = DEFAULT_WORK_QUEUE_OPTIONS) {}

  /** Keys waiting to be handed out (not counting delayed ones). */
  get length(): number {
    return this.queue.length;
  }

  /** Queues `key` now (no-op if already queued). */
  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    if (this.queued.size + this.timers.size >= this.options.maxKeys && !this.timers.has(key)) {
      this.dropped++;
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      this.processing.add(key);
      waiter(key);
      return;
    }
    this.queued.add(key);
    this.queue.push(key);
  }

  /** Queues `key` after `delayMs`; an earlier pending delay for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing !== undefined && existing.at <= at) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    else if (this.queued.size + this.timers.size >= this.options.maxKeys) {
      this.dropped++;
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Queues `key` after its per-key exponential backoff and counts a failure. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(n, 30));
    this.addAfter(key, delay);
    return delay;
  }

  /** Failures counted for `key` since the last forget(). */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Clears the backoff of `key` (call after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Next key to work on; undefined once shut down. */
  async get(): Promise<string | undefined> {
    if (this.shuttingDown) return undefined;
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      return key;
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` finished; it is queued again if it was added meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirtyWhileProcessing.delete(key)) this.add(key);
  }

  /** Stops handing out work; pending get() calls resolve undefined. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(undefined);
  }
}
