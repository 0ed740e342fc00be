// Parsing etcd's benchmark tool report (the anchor of `make bench`) and mixing its read and
// write distributions: a misread report would quietly skew every ratio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mixturePercentile, parseEtcdBenchmarkOutput } from '../../../bench/native-clients.js';

function report(total: string, slowest: string, fastest: string, rps: string, pcts: readonly [string, string][], errors = ''): string {
  return [
    '', 'Summary:', `  Total:\t${total} secs.`, `  Slowest:\t${slowest} secs.`, `  Fastest:\t${fastest} secs.`, '  Average:\t0.0010 secs.', '  Stddev:\t0.0001 secs.',
    `  Requests/sec:\t${rps}`, '', 'Response time histogram:', '  0.0003 [1]\t|', '', 'Latency distribution:',
    ...pcts.map(([p, s]) => `  ${p}% in ${s} secs.`), '', ...(errors ? ['Error distribution:', errors, ''] : []),
  ].join('\n');
}

const PCTS: [string, string][] = [['10', '0.0004'], ['25', '0.0005'], ['50', '0.0010'], ['75', '0.0012'], ['90', '0.0015'], ['95', '0.0020'], ['99', '0.0040'], ['99.9', '0.0080']];

test('one put report: throughput, count, percentiles in ms, errors', () => {
  const [r, extra] = parseEtcdBenchmarkOutput(report('2.0000', '0.0100', '0.0003', '500.0000', PCTS, '  [3]\tetcdserver: request timed out\n  [2]\tcontext deadline exceeded'));
  assert.equal(extra, undefined);
  assert.ok(r);
  assert.equal(r.opsPerSec, 500);
  assert.equal(r.ok, 1000);
  assert.equal(r.errors, 5);
  assert.equal(r.percentiles.find(([p]) => p === 50)?.[1], 1);
  assert.equal(r.percentiles.find(([p]) => p === 99.9)?.[1], 8);
  assert.equal(r.slowestMs, 10);
});

test('txn-mixed prints a read and a write report; the mixture weighs them by count', () => {
  const reads = report('1.0000', '0.0020', '0.0001', '900.0000', [['50', '0.0005'], ['99', '0.0010']]);
  const writes = report('1.0000', '0.0100', '0.0020', '100.0000', [['50', '0.0040'], ['99', '0.0090']]);
  const rs = parseEtcdBenchmarkOutput(`bench with linearizable range\nTotal Read Ops: 900\nDetails:${reads}\nTotal Write Ops: 100\nDetails:${writes}`);
  assert.equal(rs.length, 2);
  const p50 = mixturePercentile(rs, 50);
  // 90% of operations are reads with a median of 0.5 ms: the mixed median is a read latency...
  assert.ok(p50 > 0.4 && p50 < 1, `p50 ${p50}`);
  // ...and the 95th percentile lies among the writes (every read is done by 2 ms).
  const p95 = mixturePercentile(rs, 95);
  assert.ok(p95 > 2 && p95 < 10, `p95 ${p95}`);
  // Taking the write report alone (the bug this guards against) would put the median at 4 ms.
  assert.notEqual(Math.round(p50), 4);
});

test('output without a summary parses to no report (the caller then fails the run)', () => {
  assert.deepEqual(parseEtcdBenchmarkOutput('Error: dial tcp 127.0.0.1:1: connect: connection refused\n'), []);
});
