// raftctl's retry policy: which failures are sent again (reads always, writes only when nothing
// was applied or they carry an Idempotency-Key), the backoff, and the per-attempt timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKOFF, attemptTimeoutMs, backoffMs, classifyHttpAnswer, classifyNetworkError, shouldRetry } from '../../../daemon/src/cli/retry.js';

test('network errors: refused means not sent; reset and timeouts mean unknown; TLS failures are final', () => {
  assert.equal(classifyNetworkError('ECONNREFUSED', 'Error'), 'not-applied');
  assert.equal(classifyNetworkError('ENOTFOUND', 'Error'), 'not-applied');
  assert.equal(classifyNetworkError('ECONNRESET', 'Error'), 'unknown-outcome');
  assert.equal(classifyNetworkError(null, 'TimeoutError'), 'unknown-outcome');
  assert.equal(classifyNetworkError('DEPTH_ZERO_SELF_SIGNED_CERT', 'Error'), 'final');
  assert.equal(classifyNetworkError('ERR_TLS_CERT_ALTNAME_INVALID', 'Error'), 'final');
});

test('HTTP answers: no leader, overload and a removed member were not applied; timeouts are unknown; the rest is final', () => {
  assert.equal(classifyHttpAnswer(503, 'NO_LEADER'), 'not-applied');
  assert.equal(classifyHttpAnswer(429, 'TOO_MANY_REQUESTS'), 'not-applied');
  assert.equal(classifyHttpAnswer(410, 'MEMBER_REMOVED'), 'not-applied');
  for (const code of ['TIMEOUT', 'PROPOSAL_DROPPED', 'SHUTTING_DOWN']) assert.equal(classifyHttpAnswer(503, code), 'unknown-outcome', code);
  for (const [status, code] of [[400, 'BAD_REQUEST'], [401, 'UNAUTHORIZED'], [403, 'FORBIDDEN'], [404, 'NOT_FOUND'], [409, 'CONFLICT'], [410, 'GONE'], [412, 'PRECONDITION_FAILED'], [500, 'INTERNAL'], [507, 'NO_SPACE']] as const) {
    assert.equal(classifyHttpAnswer(status, code), 'final', `${status} ${code}`);
  }
});

test('an unknown outcome is retried only for idempotent requests', () => {
  assert.equal(shouldRetry('not-applied', false), true);
  assert.equal(shouldRetry('unknown-outcome', false), false);
  assert.equal(shouldRetry('unknown-outcome', true), true);
  assert.equal(shouldRetry('final', true), false);
});

test('backoff grows exponentially to its cap, with jitter in the upper half', () => {
  assert.equal(backoffMs(0, 0), BACKOFF.baseMs / 2);
  assert.equal(backoffMs(0, 0.999999), BACKOFF.baseMs);
  assert.equal(backoffMs(3, 0), (BACKOFF.baseMs * 8) / 2);
  assert.equal(backoffMs(50, 0.999999), BACKOFF.maxMs);
  for (let r = 0; r < 30; r++) assert.ok(backoffMs(r, Math.random()) <= BACKOFF.maxMs);
});

test('one attempt may take at most half the deadline when other endpoints are left', () => {
  assert.equal(attemptTimeoutMs(10_000, 10_000, 3), 5000);
  assert.equal(attemptTimeoutMs(1200, 10_000, 3), 1200);
  assert.equal(attemptTimeoutMs(10_000, 10_000, 1), 10_000);
  assert.equal(attemptTimeoutMs(-5, 10_000, 1), 1);
});
