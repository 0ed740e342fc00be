import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedMember, ObservedPod, PlanStep, PlannerInput } from '../../../operator/src/planner/planner.js';
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
  s = plan(input({ pods: pods(['kv-0', 'kv-1', 'kv-2'], ['kv-2']).map((p) => (p.name === 'kv-2' ? { ...p, terminating: true } : p)) }));
  assert.equal(s.kind === 'refuse' && s.reason, 'RolloutWaitingForHealth', 'the pod just deleted (terminating, not ready, outdated) is waited for, not deleted again');
  s = plan(input({ pods: pods(['kv-0']) }));
  assert.equal(s.kind, 'transferLeadership');
  assert.equal(s.kind === 'transferLeadership' && s.from, 'kv-0');
});

test('scale down 5→3 with the member being removed dead completes: it is removed without waiting for it', () => {
  const five = [m(0), m(1), m(2), m(3), m(4, { healthy: false })];
  assert.deepEqual(plan(input({ statefulSetReplicas: 5, members: five })), { kind: 'removeMember', member: 'kv-4' });
});

test('scale down removes dead members first, then the live ones above spec.replicas, then shrinks the StatefulSet', () => {
  const five = [m(0), m(1), m(2), m(3, { healthy: false }), m(4)];
  assert.deepEqual(plan(input({ statefulSetReplicas: 5, members: five })), { kind: 'removeMember', member: 'kv-3' });
  // kv-3 gone: the gap above spec.replicas is fine; kv-4 next, the StatefulSet keeps 5 pods meanwhile.
  assert.deepEqual(plan(input({ statefulSetReplicas: 5, members: [m(0), m(1), m(2), m(4)] })), { kind: 'removeMember', member: 'kv-4' });
  const s = plan(input({ statefulSetReplicas: 5, members: [m(0), m(1), m(2)] }));
  assert.equal(s.kind === 'setStatefulSetReplicas' && s.replicas, 3);
  // 7→3 with three dead and one live above: the dead go first, so the live removal never costs the quorum.
  const seven = [m(0), m(1), m(2), m(3, { healthy: false }), m(4, { healthy: false }), m(5, { healthy: false }), m(6)];
  assert.deepEqual(plan(input({ statefulSetReplicas: 7, members: seven })), { kind: 'removeMember', member: 'kv-5' });
});

test('scale down still refuses while a member that stays is unhealthy; a gap below spec.replicas is refused', () => {
  const s = plan(input({ statefulSetReplicas: 5, members: [m(0), m(1, { healthy: false }), m(2), m(3), m(4)] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'MemberUnhealthy');
  const g = plan(input({ desiredReplicas: 5, statefulSetReplicas: 5, members: [m(0), m(1), m(2), m(4)] }));
  assert.equal(g.kind === 'refuse' && g.reason, 'ChangeInProgress', 'scaling up across a hole would re-add a member with stale data');
});

test('a rollout replaces a pod already down on an outdated revision first: a bad image can be reverted', () => {
  // After the revert kv-0 and kv-1 are on the (again) current revision; kv-2 crash-loops on the bad one.
  const pods: ObservedPod[] = [{ name: 'kv-0', ready: true, outdated: false }, { name: 'kv-1', ready: true, outdated: false }, { name: 'kv-2', ready: false, outdated: true }];
  const s = plan(input({ pods, members: [m(0), m(1), m(2, { healthy: false })] }));
  assert.equal(s.kind === 'deletePod' && s.pod, 'kv-2');
  // A pod on the new revision that is not ready (the bad image itself) still stops the rollout.
  const bad: ObservedPod[] = [{ name: 'kv-0', ready: true, outdated: true }, { name: 'kv-1', ready: true, outdated: true }, { name: 'kv-2', ready: false, outdated: false }];
  const w = plan(input({ pods: bad, members: [m(0), m(1), m(2, { healthy: false })] }));
  assert.equal(w.kind === 'refuse' && w.reason, 'MemberUnhealthy');
});

/** Random cluster states; every removal or pod deletion `planFn` plans that leaves healthy voters below a quorum. */
function unsafeSteps(planFn: (i: PlannerInput) => PlanStep): { checked: number; unsafe: string[] } {
  let seed = 12345;
  const rnd = (k: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * k); // the high bits: an LCG's low bits cycle
  };
  let checked = 0;
  const unsafe: string[] = [];
  const quorumKept = (ms: ObservedMember[]): boolean => ms.filter((x) => x.voter && x.healthy).length >= Math.floor(ms.filter((x) => x.voter).length / 2) + 1;
  for (let iter = 0; iter < 20_000; iter++) {
    const n = 1 + rnd(9);
    const deadOneIn = 2 + rnd(4);
    const members = [...Array(n).keys()].map((i) => m(i, { healthy: i === 0 || rnd(deadOneIn) !== 0, voter: i < n - 1 || rnd(8) !== 0, role: i === 0 ? 'leader' : 'follower' }));
    const pods: ObservedPod[] = members.map((x) => ({ name: x.name, ready: x.healthy, outdated: rnd(4) === 0 }));
    const desired = [1, 3, 5, 7][rnd(4)] ?? 3;
    const s = planFn(input({ desiredReplicas: desired, statefulSetReplicas: n, members, pods }));
    if (s.kind === 'removeMember') {
      checked++;
      if (!quorumKept(members.filter((x) => x.name !== s.member))) unsafe.push(`removing ${s.member} of ${JSON.stringify(members)}`);
    }
    if (s.kind === 'deletePod') {
      checked++;
      if (!quorumKept(members.map((x) => (x.name === s.pod ? { ...x, healthy: false } : x)))) unsafe.push(`deleting ${s.pod} of ${JSON.stringify(members)}`);
    }
  }
  return { checked, unsafe };
}

test('checker: a planner that removes the highest member of a scale-down whatever its health is caught', () => {
  const naive = (i: PlannerInput): PlanStep => {
    const top = [...i.members].sort((a, b) => (b.ordinal ?? 0) - (a.ordinal ?? 0))[0];
    return i.desiredReplicas < i.members.length && top !== undefined && top.name !== i.leader ? { kind: 'removeMember', member: top.name } : plan(i);
  };
  assert.ok(unsafeSteps(naive).unsafe.length > 0);
});

test('property: over random health, roles and specs, no planned removal or pod deletion takes healthy voters below a quorum', () => {
  const r = unsafeSteps(plan);
  assert.deepEqual(r.unsafe.slice(0, 3), []);
  assert.ok(r.checked > 100, `only ${r.checked} steps checked`);
});

test('a deliberate replacement (raftkv.dev/replace-member): remove, wipe, re-add as a learner, promote; leadership moved first', () => {
  const replace = (wiped: boolean, member = 'kv-1') => ({ member, ordinal: Number(member.split('-')[1]), wiped });
  const pods: ObservedPod[] = ['kv-0', 'kv-1', 'kv-2'].map((name) => ({ name, ready: true, outdated: false }));
  assert.deepEqual(plan(input({ pods, replace: replace(false), members: [m(0), m(1, { healthy: false }), m(2)] })), { kind: 'removeMember', member: 'kv-1' });
  assert.deepEqual(plan(input({ pods, replace: replace(false), members: [m(0), m(2)] })), { kind: 'wipeMember', member: 'kv-1' });
  // The old pod still terminating: wait for the new one.
  const s = plan(input({ pods: pods.map((p) => (p.name === 'kv-1' ? { ...p, ready: false, terminating: true } : p)), replace: replace(true), members: [m(0), m(2)] }));
  assert.equal(s.kind === 'refuse' && s.reason, 'ChangeInProgress');
  // Added back only once the process at its address is the empty one: not before it answers, not
  // while the old process (log intact) still does (its acks would stand for the empty member's).
  assert.match(JSON.stringify(plan(input({ pods, replace: replace(true), members: [m(0), m(2)] }))), /ChangeInProgress.*waiting for kv-1 to start on its empty volume/);
  assert.match(JSON.stringify(plan(input({ pods, replace: { ...replace(true), answeringLastIndex: 183 }, members: [m(0), m(2)] }))), /ChangeInProgress.*previous kv-1 process to stop.*log index 183/);
  assert.deepEqual(plan(input({ pods, replace: { ...replace(true), answeringLastIndex: 0 }, members: [m(0), m(2)] })), { kind: 'addLearner', member: 'kv-1' });
  assert.deepEqual(plan(input({ pods, replace: replace(true), members: [m(0), m(1, { voter: false, role: 'learner' }), m(2)] })), { kind: 'promote', member: 'kv-1' });
  assert.deepEqual(plan(input({ pods, replace: replace(true), members: [m(0), m(1), m(2)] })), { kind: 'none' }, 'done once it is a voter again');
  // The leader is replaced after a transfer; a live voter whose removal costs the quorum is refused; a bad name is refused.
  assert.equal(plan(input({ pods, replace: replace(false, 'kv-0') })).kind, 'transferLeadership');
  const q = plan(input({ pods, replace: replace(false, 'kv-2'), members: [m(0), m(1, { healthy: false }), m(2)] }));
  assert.equal(q.kind === 'refuse' && q.reason, 'ReplacementRefused');
  const bad = plan(input({ pods, replace: { member: 'kv-7', ordinal: 7, wiped: false } }));
  assert.equal(bad.kind === 'refuse' && bad.reason, 'ReplacementRefused');
});

test('automatic replacement: a member unhealthy long enough in a settled cluster with a quorum, one at a time; never the leader', async () => {
  const { autoReplaceCandidate } = await import('../../../operator/src/planner/planner.js');
  const now = 1_000_000;
  const base = { desiredReplicas: 3, leader: 'kv-0', nowMs: now, afterMs: 60_000 };
  const members = [m(0), m(1, { healthy: false }), m(2)];
  assert.equal(autoReplaceCandidate({ ...base, members, unhealthySinceMs: new Map([['kv-1', now - 61_000]]) }), 'kv-1');
  assert.equal(autoReplaceCandidate({ ...base, members, unhealthySinceMs: new Map([['kv-1', now - 30_000]]) }), undefined, 'not long enough');
  assert.equal(autoReplaceCandidate({ ...base, afterMs: 0, members, unhealthySinceMs: new Map([['kv-1', 0]]) }), undefined, '0 = never');
  const two = [m(0), m(1, { healthy: false }), m(2, { healthy: false })];
  assert.equal(autoReplaceCandidate({ ...base, members: two, unhealthySinceMs: new Map([['kv-1', 0], ['kv-2', 0]]) }), undefined, 'no quorum without them: nothing is removed');
  const five = [m(0), m(1), m(2, { healthy: false }), m(3, { healthy: false }), m(4)];
  assert.equal(autoReplaceCandidate({ ...base, desiredReplicas: 5, members: five, unhealthySinceMs: new Map([['kv-2', 0], ['kv-3', 0]]) }), 'kv-2', 'lowest ordinal first');
  assert.equal(autoReplaceCandidate({ ...base, desiredReplicas: 5, members: [m(0), m(1), m(2, { healthy: false })], unhealthySinceMs: new Map([['kv-2', 0]]) }), undefined, 'not while scaling');
  assert.equal(autoReplaceCandidate({ ...base, members: [m(0, { healthy: false }), m(1), m(2)], leader: 'kv-0', unhealthySinceMs: new Map([['kv-0', 0]]) }), undefined);
});
