// The error registry and the one mapping function: every registry entry, every driver and core
// code, foreign typed errors, and unknown throws (500, no stack, one log line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { API_ERRORS, ApiError, errorResponse } from '../../../daemon/src/api/errors.js';
import type { ApiErrorCode } from '../../../daemon/src/api/errors.js';
import { RaftError } from '../../../daemon/src/raft/errors.js';
import type { RaftErrorCode } from '../../../daemon/src/raft/errors.js';
import { KV_ERROR_HTTP_STATUS, KvError } from '../../../daemon/src/kv/index.js';
import type { KvErrorCode } from '../../../daemon/src/kv/index.js';
import { kvOutcome } from '../../../daemon/src/api/kv-binding.js';
import { StorageError } from '../../../daemon/src/storage/errors.js';
import { MEMBER_ERROR_STATUS, MemberError } from '../../../daemon/src/server/errors.js';
import type { MemberErrorCode } from '../../../daemon/src/server/errors.js';

const leader = { name: 'n2', clientUrl: 'http://10.0.0.2:2379' };

test('every registry entry maps to its status, the error shape, and Retry-After where it applies', () => {
  const expected: Record<ApiErrorCode, [number, string | undefined]> = {
    BAD_REQUEST: [400, undefined],
    UNAUTHORIZED: [401, undefined],
    FORBIDDEN: [403, undefined],
    NOT_FOUND: [404, undefined],
    METHOD_NOT_ALLOWED: [405, undefined],
    CONFLICT: [409, undefined],
    GONE: [410, undefined],
    MEMBER_REMOVED: [410, undefined],
    PRECONDITION_FAILED: [412, undefined],
    IDEMPOTENCY_KEY_REUSED: [409, undefined],
    PAYLOAD_TOO_LARGE: [413, undefined],
    TOO_MANY_REQUESTS: [429, '1'],
    IDEMPOTENCY_WINDOW_FULL: [429, '1'],
    SESSION_UNKNOWN: [410, undefined],
    SESSION_SEQ_STALE: [409, undefined],
    TOO_MANY_SESSIONS: [429, '10'],
    NOT_LEADER: [307, undefined],
    NO_LEADER: [503, '1'],
    TIMEOUT: [503, '1'],
    PROPOSAL_DROPPED: [503, '1'],
    NO_SPACE: [507, undefined],
    SHUTTING_DOWN: [503, '1'],
    INTERNAL: [500, undefined],
  };
  assert.deepEqual(Object.keys(expected).sort(), Object.keys(API_ERRORS).sort(), 'the table covers the registry');
  for (const code of Object.keys(API_ERRORS) as ApiErrorCode[]) {
    const [status, retryAfter] = expected[code];
    const err = new ApiError(code, `msg ${code}`, code === 'NOT_LEADER' ? leader : null);
    const r = errorResponse(err, '/v1/kv/a?b=1', null);
    assert.equal(r.status, status, code);
    assert.deepEqual(JSON.parse(r.body), { error: `msg ${code}`, code }, code);
    assert.equal(r.headers['retry-after'], retryAfter, `${code} Retry-After`);
    if (code === 'NOT_LEADER') {
      assert.equal(r.headers['location'], 'http://10.0.0.2:2379/v1/kv/a?b=1');
      assert.equal(r.headers['x-raft-leader'], 'n2');
    }
  }
});

test('every driver error code maps to the status the driver documents', () => {
  const expectedCode: Record<MemberErrorCode, ApiErrorCode> = {
    NotLeader: 'NOT_LEADER',
    NoLeader: 'NO_LEADER',
    Backpressure: 'TOO_MANY_REQUESTS',
    Timeout: 'TIMEOUT',
    NoSpace: 'NO_SPACE',
    ShuttingDown: 'SHUTTING_DOWN',
    ProposalDropped: 'PROPOSAL_DROPPED',
    Conflict: 'CONFLICT',
    UnknownMember: 'NOT_FOUND',
    InvalidRequest: 'BAD_REQUEST',
    TooLarge: 'PAYLOAD_TOO_LARGE',
    // The API answers 404 (not the driver's 403) so the route looks absent when disabled.
    FaultInjectionDisabled: 'NOT_FOUND',
    Removed: 'MEMBER_REMOVED',
  };
  for (const code of Object.keys(MEMBER_ERROR_STATUS) as MemberErrorCode[]) {
    const r = errorResponse(new MemberError(code, `m ${code}`, code === 'NotLeader' ? leader : null), '/p', null);
    const want = expectedCode[code];
    assert.equal(JSON.parse(r.body).code, want, code);
    if (code !== 'FaultInjectionDisabled') assert.equal(r.status, MEMBER_ERROR_STATUS[code], code);
  }
});

test('a driver NotLeader without a usable leader URL becomes 503 NO_LEADER', () => {
  const r = errorResponse(new MemberError('NotLeader', 'x', { name: 'n2', clientUrl: '' }), '/p', null);
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
});

test('every core refusal maps to a registry code', () => {
  const want: Record<RaftErrorCode, number> = {
    NotLeader: 503, // a raw RaftError has no leader URL: no redirect possible
    TransferInProgress: 503,
    ConfChangeInProgress: 409,
    Backpressure: 429,
    LearnerNotCaughtUp: 409,
    UnknownMember: 404,
    AlreadyMember: 409,
    InvalidConfChange: 409, // names are validated first: promote a voter, remove the last voter
    ProposalTooLarge: 413,
  };
  for (const code of Object.keys(want) as RaftErrorCode[]) {
    assert.equal(errorResponse(new RaftError(code, code, 'n2'), '/p', null).status, want[code], code);
  }
});

test('typed errors of other modules map by code (KV, storage)', () => {
  const cases: [unknown, number][] = [
    [Object.assign(new Error('compacted'), { code: 'Compacted' }), 410],
    [Object.assign(new Error('disk full'), { code: 'NoSpace' }), 507],
    [Object.assign(new Error('lock held'), { code: 'LockHeld' }), 409],
    [Object.assign(new Error('stale'), { code: 'StaleFencingToken' }), 409],
    [Object.assign(new Error('mismatch'), { code: 'PreconditionFailed' }), 412],
    [Object.assign(new Error('bad'), { code: 'InvalidCommand' }), 400],
  ];
  for (const [err, status] of cases) assert.equal(errorResponse(err, '/p', null).status, status, String(err));
});

test('storage errors: NoSpace and IO are 507, Corrupt is 500 without detail', () => {
  assert.equal(errorResponse(new StorageError('NoSpace', 'persist: ENOSPC'), '/p', null).status, 507);
  assert.equal(errorResponse(new StorageError('IO', 'persist: EIO'), '/p', null).status, 507);
  const c = errorResponse(new StorageError('Corrupt', 'crc mismatch at /data/x'), '/p', pino({ level: 'silent' }));
  assert.equal(c.status, 500);
  assert.doesNotMatch(c.body, /crc|data/);
});

test('unknown throws are 500 with a generic message, no stack, and one log line', () => {
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(chunk.toString()); cb(); } });
  const logger = pino({ level: 'error' }, sink);
  for (const thrown of [new TypeError('secret detail at /src/x.ts:12'), 'a string', 42, null, undefined, { weird: true }]) {
    const r = errorResponse(thrown, '/p', logger);
    assert.equal(r.status, 500);
    assert.deepEqual(JSON.parse(r.body), { error: 'internal error', code: 'INTERNAL' });
    assert.doesNotMatch(r.body, /secret|\.ts|at /);
  }
  assert.equal(lines.length, 6);
  assert.match(lines[0] ?? '', /secret detail/, 'the detail goes to the log');
});

test('every KV refusal code maps to the status the KV module documents, thrown or returned', () => {
  for (const code of Object.keys(KV_ERROR_HTTP_STATUS) as KvErrorCode[]) {
    const want = KV_ERROR_HTTP_STATUS[code];
    assert.equal(errorResponse(new KvError(code, `kv ${code}`), '/p', pino({ level: 'silent' })).status, want, `thrown ${code}`);
    const failure = { ok: false, code, message: `kv ${code}`, revision: 1, index: 5, term: 2, replayed: false };
    let status = 0;
    try {
      kvOutcome(failure);
    } catch (err) {
      status = errorResponse(err, '/p', pino({ level: 'silent' })).status;
    }
    assert.equal(status, want, `returned ${code}`);
  }
});

test('kvOutcome passes successes through with the first index and term', () => {
  assert.deepEqual(kvOutcome({ ok: true, kind: 'put', revision: 7, index: 12, term: 3, replayed: true }), { kind: 'put', revision: 7, term: 3, index: 12, replayed: true });
  assert.throws(() => kvOutcome(undefined), /no KV result/);
});

test('a full idempotency window is 429 with the Retry-After the state machine computed; a replayed refusal says so', () => {
  let r = null;
  try {
    kvOutcome({ ok: false, code: 'IdempotencyWindowFull', message: 'full', revision: 1, index: 5, term: 2, replayed: false, retryAfterMs: 61_500 });
  } catch (err) {
    r = errorResponse(err, '/p', null);
  }
  assert.equal(r?.status, 429);
  assert.equal(r?.headers['retry-after'], '62');
  assert.equal(r?.code, 'IDEMPOTENCY_WINDOW_FULL');
  assert.equal(r?.headers['idempotency-replayed'], undefined);
  try {
    kvOutcome({ ok: false, code: 'PreconditionFailed', message: 'no', revision: 1, index: 5, term: 2, replayed: true });
  } catch (err) {
    r = errorResponse(err, '/p', null);
  }
  assert.equal(r?.status, 412);
  assert.equal(r?.headers['idempotency-replayed'], 'true');
});
