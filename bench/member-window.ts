// What a member reports about one measuring window (bench/stalls.ts): deltas of its /metrics
// series and of its threads' CPU from /proc between two samples.
import type { ThreadCpu } from './proc-cpu.js';

/** One sample of a member's Prometheus text: `name{labels}` → value, labels as written (member label dropped). */
export type Metrics = Map<string, number>;

/** Parses Prometheus text: `name{labels}` → value, the `member` label dropped so members compare. */
export function parseMetrics(text: string): Metrics {
  const out: Metrics = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const key = line.slice(0, sp).replace(/,?member="[^"]*"/, '').replace('{,', '{').replace('{}', '');
    out.set(key, Number(line.slice(sp + 1)));
  }
  return out;
}

export interface Sample { metrics: Metrics; cpu: ThreadCpu; atMs: number }

/**
 * CPU milliseconds, in the window, of the busiest thread other than the main one: on a member
 * under write load that is the storage worker (RocksDB's write and fdatasync run on it).
 */
export function busiestOtherThreadMs(a: Sample, b: Sample): number {
  let best = 0;
  for (const [tid, ms] of b.cpu.byThread) best = Math.max(best, ms - (a.cpu.byThread.get(tid) ?? 0));
  return best;
}

/** The delta of one series between two samples (0 where it is missing). */
export function delta(a: Sample, b: Sample, key: string): number {
  return (b.metrics.get(key) ?? 0) - (a.metrics.get(key) ?? 0);
}

/** The delta of a counter summed over all its label sets (e.g. every peer). */
export function deltaSum(a: Sample, b: Sample, name: string): number {
  const sum = (m: Metrics): number => {
    let t = 0;
    for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) t += v;
    return t;
  };
  return sum(b.metrics) - sum(a.metrics);
}

/** Of a histogram's observations in the window, how many were above `leSeconds` (a bucket bound). */
export function above(a: Sample, b: Sample, name: string, leSeconds: string): number {
  return delta(a, b, `${name}_count`) - delta(a, b, `${name}_bucket{le="${leSeconds}"}`);
}

export interface MemberRow {
  readonly name: string;
  readonly leader: boolean;
  readonly mainUsPerOp: number;
  readonly otherUsPerOp: number;
  /** Of otherUsPerOp, the busiest single thread (the storage worker under writes). */
  readonly busiestOtherUsPerOp: number;
  readonly fsyncs: number;
  readonly fsyncMeanMs: number;
  readonly fsyncOver4: number;
  readonly fsyncOver8: number;
  readonly fsyncOver16: number;
  readonly gc: Record<'minor' | 'major' | 'incremental', { n: number; ms: number }>;
  readonly gcOver10ms: number;
  readonly snapshots: number;
  readonly snapshotMs: number;
  readonly readRounds: number;
  readonly peerBytesPerOp: number;
}

export function memberRow(name: string, leader: boolean, a: Sample, b: Sample, ops: number): MemberRow {
  const fsyncs = delta(a, b, 'raftkv_disk_wal_fsync_duration_seconds_count');
  const gcOf = (kind: string): { n: number; ms: number } => ({
    n: delta(a, b, `nodejs_gc_duration_seconds_count{kind="${kind}"}`),
    ms: delta(a, b, `nodejs_gc_duration_seconds_sum{kind="${kind}"}`) * 1000,
  });
  let gcOver10ms = 0;
  for (const kind of ['minor', 'major', 'incremental']) {
    gcOver10ms += delta(a, b, `nodejs_gc_duration_seconds_count{kind="${kind}"}`) - delta(a, b, `nodejs_gc_duration_seconds_bucket{le="0.01",kind="${kind}"}`);
  }
  return {
    name,
    leader,
    mainUsPerOp: ((b.cpu.main - a.cpu.main) * 1000) / Math.max(1, ops),
    otherUsPerOp: ((b.cpu.other - a.cpu.other) * 1000) / Math.max(1, ops),
    busiestOtherUsPerOp: (busiestOtherThreadMs(a, b) * 1000) / Math.max(1, ops),
    fsyncs,
    fsyncMeanMs: (delta(a, b, 'raftkv_disk_wal_fsync_duration_seconds_sum') * 1000) / Math.max(1, fsyncs),
    fsyncOver4: above(a, b, 'raftkv_disk_wal_fsync_duration_seconds', '0.004'),
    fsyncOver8: above(a, b, 'raftkv_disk_wal_fsync_duration_seconds', '0.008'),
    fsyncOver16: above(a, b, 'raftkv_disk_wal_fsync_duration_seconds', '0.016'),
    gc: { minor: gcOf('minor'), major: gcOf('major'), incremental: gcOf('incremental') },
    gcOver10ms,
    snapshots: delta(a, b, 'raftkv_snapshot_save_duration_seconds_count'),
    snapshotMs: delta(a, b, 'raftkv_snapshot_save_duration_seconds_sum') * 1000,
    readRounds: deltaSum(a, b, 'raftkv_server_read_indexes_total'),
    peerBytesPerOp: deltaSum(a, b, 'raftkv_network_peer_sent_bytes_total') / Math.max(1, ops),
  };
}
