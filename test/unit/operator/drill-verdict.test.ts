import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judgeDrill, longestUnavailableMs } from '../../../operator/src/controllers/drill-verdict.js';
import { parseOperatorFlags } from '../../../operator/src/flags.js';

test('longest unavailability counts the edges and unsorted acks', () => {
  assert.equal(longestUnavailableMs([300, 100, 200], 0, 1000), 700);
  assert.equal(longestUnavailableMs([], 0, 500), 500);
  assert.equal(longestUnavailableMs([100, 1600, 1700], 0, 1800), 1500);
  assert.equal(longestUnavailableMs([-5, 100, 5000], 0, 1000), 900, 'acks outside the window are ignored');
});

test('verdict: lost writes fail, slow recovery fails, no writes fail, else succeed', () => {
  const ok = { acknowledgedWrites: 100, lostWrites: 0, unavailableMs: 2000, maxUnavailableSeconds: 5 };
  assert.equal(judgeDrill(ok).phase, 'Succeeded');
  assert.equal(judgeDrill({ ...ok, lostWrites: 1 }).reason, 'WritesLost');
  assert.equal(judgeDrill({ ...ok, unavailableMs: 5001 }).reason, 'RecoveryTooSlow');
  assert.equal(judgeDrill({ ...ok, unavailableMs: 5000 }).phase, 'Succeeded');
  assert.equal(judgeDrill({ ...ok, acknowledgedWrites: 0 }).reason, 'NoWrites');
  assert.equal(judgeDrill({ ...ok, error: 'boom' }).phase, 'Failed');
});

test('operator flags: values, env fallback, errors', () => {
  const f = parseOperatorFlags(['--namespaces', 'a,b', '--metrics-port=9000'], { RAFTKV_OPERATOR_LEASE_NAME: 'x', POD_NAMESPACE: 'ops' });
  assert.deepEqual(f.namespaces, ['a', 'b']);
  assert.equal(f.metricsPort, 9000);
  assert.equal(f.leaseName, 'x');
  assert.equal(f.leaseNamespace, 'ops');
  assert.throws(() => parseOperatorFlags(['--bogus'], {}), RangeError);
  assert.throws(() => parseOperatorFlags(['--metrics-port', '70000'], {}), RangeError);
});
