import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isPaused } from '../../../operator/src/api/types.js';
import { computeStatus, reconcileErrorStatus } from '../../../operator/src/controllers/raftcluster.js';
import type { ObservedMember } from '../../../operator/src/planner/planner.js';
import { cluster } from './fixtures.js';

const T0 = '2030-01-01T00:00:00Z';
const T1 = '2030-01-01T00:05:00Z';

function m(i: number, over: Partial<ObservedMember> = {}): ObservedMember {
  return { name: `kv-${i}`, ordinal: i, voter: true, healthy: true, role: i === 0 ? 'leader' : 'follower', appliedIndex: 100, ...over };
}

test('quorum loss keeps the last configuration, marked stale, with what each member still says', () => {
  const c = cluster();
  const live = computeStatus(c, { leader: 'kv-0', term: 4, commitIndex: 100, members: [m(0), m(1), m(2)] }, { kind: 'none' }, 3, T0);
  assert.equal(live.membersStaleSince, undefined);
  c.status = live;
  const lost = computeStatus(c, { leader: undefined, term: 5, commitIndex: 0, members: [], answered: new Map([['kv-1', { role: 'candidate', appliedIndex: 120, lastIndex: 121, term: 5 }]]) },
    { kind: 'refuse', reason: 'NoQuorum', message: 'no member reports a leader' }, 3, T1);
  assert.deepEqual(lost.members, [
    { name: 'kv-0', role: 'unreachable', voter: true, healthy: false, appliedIndex: 100, unhealthySince: T1 },
    { name: 'kv-1', role: 'candidate', voter: true, healthy: false, appliedIndex: 120, unhealthySince: T1 },
    { name: 'kv-2', role: 'unreachable', voter: true, healthy: false, appliedIndex: 100, unhealthySince: T1 },
  ]);
  assert.equal(lost.replicas, 3, 'not 0: the scale subresource keeps the membership size');
  assert.equal(lost.readyReplicas, 0);
  assert.equal(lost.membersStaleSince, T1);
  assert.equal(lost.phase, 'Degraded');
  assert.equal(lost.leader, undefined);
  assert.match(lost.conditions?.find((x) => x.type === 'Available')?.message ?? '', /stale since 2030-01-01T00:05:00Z/);
  // A second pass without a leader: still Degraded (not Bootstrapping), same stale-since time.
  c.status = lost;
  const again = computeStatus(c, { leader: undefined, term: 5, commitIndex: 0, members: [] }, { kind: 'refuse', reason: 'NoQuorum', message: 'x' }, 3, '2030-01-01T00:09:00Z');
  assert.equal(again.phase, 'Degraded');
  assert.equal(again.membersStaleSince, T1);
  // A leader again: live view, the stale marker gone.
  c.status = again;
  const back = computeStatus(c, { leader: 'kv-1', term: 6, commitIndex: 130, members: [m(0, { role: 'follower' }), m(1, { role: 'leader' }), m(2)] }, { kind: 'none' }, 3, T1);
  assert.equal(back.membersStaleSince, undefined);
  assert.equal(back.phase, 'Running');
});

test('a new cluster without a leader yet is Bootstrapping with no members (nothing stale to keep)', () => {
  const st = computeStatus(cluster(), { leader: undefined, term: undefined, commitIndex: 0, members: [] }, { kind: 'refuse', reason: 'NoQuorum', message: 'x' }, 3, T0);
  assert.equal(st.phase, 'Bootstrapping');
  assert.deepEqual(st.members, []);
  assert.equal(st.membersStaleSince, undefined);
});

test('a failed pass sets ReconcileError and lastError; a repeat within a minute writes nothing; success clears the condition, keeps lastError', () => {
  const c = cluster();
  const t = Date.parse(T0);
  const first = reconcileErrorStatus(c, 'apply', 'PATCH statefulsets/kv: 422 forbidden', t);
  assert.ok(first !== undefined);
  const cond = first.conditions?.find((x) => x.type === 'ReconcileError');
  assert.deepEqual([cond?.status, cond?.reason, cond?.message], ['True', 'ApplyFailed', 'apply: PATCH statefulsets/kv: 422 forbidden']);
  assert.deepEqual(first.lastError, { time: T0, step: 'apply', message: 'PATCH statefulsets/kv: 422 forbidden' });
  c.status = { ...first };
  assert.equal(reconcileErrorStatus(c, 'apply', 'PATCH statefulsets/kv: 422 forbidden', t + 30_000), undefined, 'no write: it would wake the watch and defeat the backoff');
  assert.equal(reconcileErrorStatus(c, 'apply', 'PATCH statefulsets/kv: 422 forbidden', t + 61_000)?.lastError?.time, '2030-01-01T00:01:01Z');
  assert.ok(reconcileErrorStatus(c, 'act', 'other', t + 1000) !== undefined, 'a different error is written at once');
  const ok = computeStatus(c, { leader: 'kv-0', term: 1, commitIndex: 1, members: [m(0), m(1), m(2)] }, { kind: 'none' }, 3, T1);
  const cleared = ok.conditions?.find((x) => x.type === 'ReconcileError');
  assert.deepEqual([cleared?.status, cleared?.reason, cleared?.lastTransitionTime], ['False', 'Reconciled', T1]);
  assert.deepEqual(ok.lastError, first.lastError);
});

test('pause annotation: only the exact value pauses; status reports Paused False once resumed', () => {
  assert.equal(isPaused({ annotations: { 'raftkv.dev/reconcile': 'paused' } }), true);
  assert.equal(isPaused({ annotations: { 'raftkv.dev/reconcile': 'Paused' } }), false);
  assert.equal(isPaused({}), false);
  const c = cluster();
  c.status = { conditions: [{ type: 'Paused', status: 'True', reason: 'ReconcilePaused', message: 'x', lastTransitionTime: T0 }] };
  const st = computeStatus(c, { leader: 'kv-0', term: 1, commitIndex: 1, members: [m(0), m(1), m(2)] }, { kind: 'none' }, 3, T1);
  const p = st.conditions?.find((x) => x.type === 'Paused');
  assert.deepEqual([p?.status, p?.reason], ['False', 'Reconciling']);
  // A cluster never paused gets no Paused condition at all.
  assert.equal(computeStatus(cluster(), { leader: 'kv-0', term: 1, commitIndex: 1, members: [m(0)] }, { kind: 'none' }, 1, T1).conditions?.some((x) => x.type === 'Paused'), false);
});

test('status.members[].unhealthySince: set when a member turns unhealthy, kept while it stays so, gone once healthy', () => {
  const c = cluster();
  c.status = computeStatus(c, { leader: 'kv-0', term: 1, commitIndex: 100, members: [m(0), m(1), m(2)] }, { kind: 'none' }, 3, T0);
  assert.equal(c.status.members?.[1]?.unhealthySince, undefined);
  c.status = computeStatus(c, { leader: 'kv-0', term: 1, commitIndex: 100, members: [m(0), m(1, { healthy: false }), m(2)] }, { kind: 'none' }, 3, T0);
  assert.equal(c.status.members?.[1]?.unhealthySince, T0);
  c.status = computeStatus(c, { leader: 'kv-0', term: 1, commitIndex: 100, members: [m(0), m(1, { healthy: false }), m(2)] }, { kind: 'none' }, 3, T1);
  assert.equal(c.status.members?.[1]?.unhealthySince, T0, 'kept: no status churn, and the age counts from the first time');
  c.status = computeStatus(c, { leader: 'kv-0', term: 1, commitIndex: 100, members: [m(0), m(1), m(2)] }, { kind: 'none' }, 3, T1);
  assert.equal(c.status.members?.[1]?.unhealthySince, undefined);
});
