import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedMember, ObservedPod, PlannerInput } from '../../../operator/src/planner/planner.js';
import { plan } from '../../../operator/src/planner/planner.js';

function m(i: number, over: Partial<ObservedMember> = {}): ObservedMember {
  return { name: `kv-${i}`, ordinal: i, voter: true, healthy: true, role: i === 0 ? 'leader' : 'follower', appliedIndex: 100, ...over };
}
function input(over: Partial<PlannerInput> = {}): PlannerInput {
  return {
    desiredReplicas: 3, statefulSetReplicas: 3, leader: 'kv-0', commitIndex: 100,
    members: [m(0), m(1), m(2)], pods: [], learnerMaxLagEntries: 10, memberNameOf: (i) => `kv-${i}`, ...over,
  };
}

test('steady cluster: nothing to do', () => {
  assert.deepEqual(plan(input()), { kind: 'none' });
});

test('refuses even or out-of-range replicas', () => {
  for (const r of [0, 2, 4, 11, 1.5]) {
    const s = plan(input({ desiredReplicas: r }));
    assert.equal(s.kind === 'refuse' && s.reason, 'InvalidReplicas', `replicas=${r}`);
  }
});

test('bootstraps when the StatefulSet does not exist', () => {
  assert.deepEqual(plan(input({ statefulSetReplicas: undefined, leader: undefined, members: [] })), { kind: 'bootstrap', replicas: 3, reason: 'new cluster of 3 voters' });
});

test('refuses without a leader or a healthy quorum', () => {
  let s = plan(input({ leader: undefined, desiredReplicas: 5 }));
  assert.equal(s.kind === 'refuse' && s.reason, 'NoQuorum');
  s = plan(input({ desiredReplicas: 5, members: [m(0), m(1, { healthy: false }), m(2, { healthy: false })] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'NoQuorum');
});

test('refuses to change the cluster while a member is unhealthy', () => {
  const s = plan(input({ desiredReplicas: 5, members: [m(0), m(1), m(2, { healthy: false })] }));
  assert.equal(s.kind, 'refuse');
  assert.equal(s.kind === 'refuse' && s.reason, 'MemberUnhealthy');
  assert.match(s.kind === 'refuse' ? s.message : '', /kv-2/);
  // ...but an unhealthy member alone does not make a steady cluster act.
  assert.deepEqual(plan(input({ members: [m(0), m(1), m(2, { healthy: false })] })), { kind: 'none' });
});

test('refuses while membership has gaps or foreign members (a change in progress elsewhere)', () => {
  let s = plan(input({ members: [m(0), m(2)] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'ChangeInProgress');
  s = plan(input({ members: [m(0), m(1), { ...m(2), name: 'stranger', ordinal: undefined }] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'ChangeInProgress');
});

test('scale up 3→5 goes one member at a time: pod, learner, promote', () => {
  assert.equal(plan(input({ desiredReplicas: 5 })).kind, 'setStatefulSetReplicas');
  assert.deepEqual(plan(input({ desiredReplicas: 5, statefulSetReplicas: 4 })), { kind: 'addLearner', member: 'kv-3' });
  const learner = m(3, { voter: false, role: 'learner', appliedIndex: 95 });
  assert.deepEqual(plan(input({ desiredReplicas: 5, statefulSetReplicas: 4, members: [m(0), m(1), m(2), learner] })), { kind: 'promote', member: 'kv-3' });
  const s = plan(input({ desiredReplicas: 5, statefulSetReplicas: 5, members: [m(0), m(1), m(2), m(3)] }));
  assert.deepEqual(s, { kind: 'addLearner', member: 'kv-4' });
});

test('refuses to promote a learner that has not caught up (or is not healthy)', () => {
  let s = plan(input({ desiredReplicas: 5, statefulSetReplicas: 4, members: [m(0), m(1), m(2), m(3, { voter: false, appliedIndex: 50 })] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'LearnerNotCaughtUp');
  s = plan(input({ desiredReplicas: 5, statefulSetReplicas: 4, members: [m(0), m(1), m(2), m(3, { voter: false, healthy: false })] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'LearnerNotCaughtUp');
});

test('scale down 5→3: remove the highest member, then lower the StatefulSet', () => {
  const five = [m(0), m(1), m(2), m(3), m(4)];
  assert.deepEqual(plan(input({ statefulSetReplicas: 5, members: five })), { kind: 'removeMember', member: 'kv-4' });
  const s = plan(input({ statefulSetReplicas: 5, members: five.slice(0, 4) }));
  assert.equal(s.kind === 'setStatefulSetReplicas' && s.replicas, 4);
});

test('scale down transfers leadership away from the highest ordinal first', () => {
  const five = [m(0, { role: 'follower' }), m(1, { appliedIndex: 90 }), m(2, { appliedIndex: 99 }), m(3), m(4, { role: 'leader' })];
  const s = plan(input({ statefulSetReplicas: 5, members: five, leader: 'kv-4' }));
  assert.equal(s.kind, 'transferLeadership');
  assert.equal(s.kind === 'transferLeadership' && s.from, 'kv-4');
  assert.equal(s.kind === 'transferLeadership' && s.to, 'kv-0');
});

test('a learner left behind by a cancelled scale-up is removed when scaling down', () => {
  const s = plan(input({ statefulSetReplicas: 4, members: [m(0), m(1), m(2), m(3, { voter: false, appliedIndex: 0 })] }));
  assert.deepEqual(s, { kind: 'removeMember', member: 'kv-3' });
});

test('image rollout: followers first (one at a time, all ready), leader last after a transfer', () => {
  const pods = (outdated: string[], notReady: string[] = []): ObservedPod[] =>
    ['kv-0', 'kv-1', 'kv-2'].map((name) => ({ name, ready: !notReady.includes(name), outdated: outdated.includes(name) }));
  let s = plan(input({ pods: pods(['kv-0', 'kv-1', 'kv-2']) }));
  assert.equal(s.kind === 'deletePod' && s.pod, 'kv-2');
  s = plan(input({ pods: pods(['kv-0', 'kv-1'], ['kv-2']) }));
  assert.equal(s.kind === 'refuse' && s.reason, 'RolloutWaitingForHealth');
  s = plan(input({ pods: pods(['kv-0', 'kv-1']).filter((p) => p.name !== 'kv-2') }));
  assert.equal(s.kind === 'refuse' && s.reason, 'RolloutWaitingForHealth', 'a deleted pod not yet recreated blocks the next one');
  s = plan(input({ pods: pods(['kv-0']) }));
  assert.equal(s.kind, 'transferLeadership');
  assert.equal(s.kind === 'transferLeadership' && s.from, 'kv-0');
});
