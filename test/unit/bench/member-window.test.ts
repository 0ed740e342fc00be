import { test } from 'node:test';
import assert from 'node:assert/strict';
import { above, deltaSum, memberRow, parseMetrics } from '../../../bench/member-window.js';
import type { Sample } from '../../../bench/member-window.js';

const text = (fsyncs: number, slow: number, gcMinor: number, sentM2: number): string => [
  '# HELP raftkv_disk_wal_fsync_duration_seconds x',
  `raftkv_disk_wal_fsync_duration_seconds_bucket{le="0.004",member="m1"} ${fsyncs - slow}`,
  `raftkv_disk_wal_fsync_duration_seconds_bucket{le="0.008",member="m1"} ${fsyncs - 1}`,
  `raftkv_disk_wal_fsync_duration_seconds_bucket{le="0.016",member="m1"} ${fsyncs}`,
  `raftkv_disk_wal_fsync_duration_seconds_sum{member="m1"} ${fsyncs * 0.001}`,
  `raftkv_disk_wal_fsync_duration_seconds_count{member="m1"} ${fsyncs}`,
  `nodejs_gc_duration_seconds_sum{member="m1",kind="minor"} ${gcMinor * 0.002}`,
  `nodejs_gc_duration_seconds_count{member="m1",kind="minor"} ${gcMinor}`,
  `nodejs_gc_duration_seconds_bucket{le="0.01",member="m1",kind="minor"} ${gcMinor - 1}`,
  `raftkv_network_peer_sent_bytes_total{member="m1",peer="m2"} ${sentM2}`,
  'raftkv_network_peer_sent_bytes_total{member="m1",peer="m3"} 100',
].join('\n');

const at = (t: string, main: number, threads: readonly (readonly [number, number])[], atMs: number): Sample => ({
  metrics: parseMetrics(t),
  cpu: { main, other: threads.reduce((sum, [, ms]) => sum + ms, 0), byThread: new Map(threads) },
  atMs,
});

test('a member\'s series parse without its member label, so members compare', () => {
  const m = parseMetrics(text(10, 2, 5, 50));
  assert.equal(m.get('raftkv_disk_wal_fsync_duration_seconds_count'), 10);
  assert.equal(m.get('nodejs_gc_duration_seconds_count{kind="minor"}'), 5);
  assert.equal(m.get('raftkv_network_peer_sent_bytes_total{peer="m2"}'), 50);
});

test('a window charges only what happened in it: slow synced writes, GC, bytes to every peer, CPU per op', () => {
  const a = at(text(100, 3, 10, 1_000), 1_000, [[11, 300], [12, 200]], 0);
  // Thread 13 started inside the window; thread 11 did the most work in it (70 of 100 ms).
  const b = at(text(300, 8, 25, 5_000), 1_400, [[11, 370], [12, 210], [13, 20]], 2_000);
  assert.equal(above(a, b, 'raftkv_disk_wal_fsync_duration_seconds', '0.004'), 5);
  assert.equal(deltaSum(a, b, 'raftkv_network_peer_sent_bytes_total'), 4_000);
  const row = memberRow('m1', true, a, b, 2_000);
  assert.equal(row.fsyncs, 200);
  assert.equal(row.fsyncOver4, 5);
  assert.equal(row.fsyncOver8, 0);
  assert.equal(row.gc.minor.n, 15);
  assert.ok(Math.abs(row.gc.minor.ms - 30) < 1e-9);
  assert.equal(row.mainUsPerOp, 200);
  assert.equal(row.otherUsPerOp, 50);
  assert.equal(row.busiestOtherUsPerOp, 35);
  assert.equal(row.peerBytesPerOp, 2);
});
