// The slow-disk warning (after etcd's "slow fdatasync"): once per window, the WAL fsync p99 of
// that window is estimated from the raftkv_disk_wal_fsync_duration_seconds histogram (bucket
// deltas, interpolated within the bucket as Prometheus's histogram_quantile does) and a warning
// is logged when it passes --slow-fsync-threshold-ms. Reading the histogram keeps this out of
// the driver's hot path: the driver only observes, as it already does for the metric.
import type { Histogram } from 'prom-client';

/** Logger subset. */
export interface SlowFsyncLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Fewer fsyncs than this in a window say too little for a p99; no warning then. */
export const MIN_SAMPLES = 20;

/** Cumulative bucket counts by upper bound (seconds), +Inf last. */
type Buckets = ReadonlyMap<number, number>;

async function readBuckets(h: Histogram): Promise<Buckets> {
  const out = new Map<number, number>();
  for (const v of (await h.get()).values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = v.labels['le'];
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + v.value);
  }
  return out;
}

/**
 * The q-quantile (seconds) of the observations between two cumulative bucket readings, or null
 * when there are fewer than MIN_SAMPLES. Above the last finite bound it answers that bound.
 */
export function windowQuantile(before: Buckets, after: Buckets, q: number): { value: number; samples: number } | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = bounds.map((b) => Math.max(0, (after.get(b) ?? 0) - (before.get(b) ?? 0)));
  const total = delta[delta.length - 1] ?? 0;
  if (total < MIN_SAMPLES) return null;
  const rank = q * total;
  let lower = 0;
  let prevCount = 0;
  for (let i = 0; i < bounds.length; i++) {
    const upper = bounds[i] as number;
    const count = delta[i] as number;
    if (count >= rank) {
      if (!Number.isFinite(upper)) return { value: lower, samples: total };
      const inBucket = count - prevCount;
      const frac = inBucket > 0 ? (rank - prevCount) / inBucket : 1;
      return { value: lower + (upper - lower) * frac, samples: total };
    }
    lower = Number.isFinite(upper) ? upper : lower;
    prevCount = count;
  }
  return { value: lower, samples: total };
}

/** Checks the fsync histogram once per window; `stop()` ends it. */
export class SlowFsyncMonitor {
  private before: Buckets = new Map();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly histogram: Histogram,
    private readonly thresholdMs: number,
    private readonly windowMs: number,
    private readonly log: SlowFsyncLogger,
  ) {}

  async start(): Promise<void> {
    if (this.thresholdMs <= 0 || this.timer) return;
    this.before = await readBuckets(this.histogram);
    this.timer = setInterval(() => void this.check(), this.windowMs);
    this.timer.unref();
  }

  /** One window's check (the timer calls it; tests call it directly). Resolves true when it warned. */
  async check(): Promise<boolean> {
    const after = await readBuckets(this.histogram);
    const q = windowQuantile(this.before, after, 0.99);
    this.before = after;
    if (q === null || q.value * 1000 <= this.thresholdMs) return false;
    this.log.warn({
      event: 'slow_fsync', p99Ms: Math.round(q.value * 1000 * 10) / 10, thresholdMs: this.thresholdMs, samples: q.samples, windowMs: this.windowMs,
    }, 'slow fsync: the WAL fsync p99 over the last window passed the threshold; the disk is too slow for raft (elections and write latency will suffer)');
    return true;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
