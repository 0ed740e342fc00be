import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedClaim, StorageReplacementInput } from '../../../operator/src/planner/storage.js';
import { nextStorageReplacement, planStorage, quantityBytes } from '../../../operator/src/planner/storage.js';
import type { ObservedMember, ObservedPod } from '../../../operator/src/planner/planner.js';
import { storageCondition } from '../../../operator/src/controllers/raftcluster.js';

const claim = (i: number, request: string, expandable: true | string = true): ObservedClaim => ({ name: `data-kv-${i}`, request, storageClassName: 'fast', expandable });

test('quantities of the forms the CRD admits', () => {
  assert.equal(quantityBytes('1Gi'), 1024 ** 3);
  assert.equal(quantityBytes('1536Mi'), quantityBytes('1.5Gi'));
  assert.equal(quantityBytes('10G'), 10e9);
  assert.equal(quantityBytes('1000'), 1000);
  assert.throws(() => quantityBytes('1e9'), RangeError);
  assert.throws(() => quantityBytes('lots'), RangeError);
});

test('unchanged storage (also written differently) or no StatefulSet yet: nothing to do', () => {
  assert.deepEqual(planStorage({ size: '1Gi' }, undefined, []), { kind: 'none' });
  assert.deepEqual(planStorage({ size: '1.5Gi', storageClassName: 'fast' }, { size: '1536Mi', storageClassName: 'fast' }, []), { kind: 'none' });
});

test('a size increase: expand the PVCs still below it, then replace the StatefulSet object', () => {
  const want = { size: '2Gi', storageClassName: 'fast' };
  const was = { size: '1Gi', storageClassName: 'fast' };
  assert.deepEqual(planStorage(want, was, [claim(0, '1Gi'), claim(1, '2Gi'), claim(2, '1Gi')]), { kind: 'expandClaims', claims: ['data-kv-0', 'data-kv-2'], size: '2Gi' });
  const done = planStorage(want, was, [claim(0, '2Gi'), claim(1, '2Gi'), claim(2, '2Gi')]);
  assert.deepEqual(done.kind === 'replaceStatefulSet' ? [done.kind, done.thenReplaceMembers] : [], ['replaceStatefulSet', false]);
});

test('refused with the reason (and nothing else blocked): InPlace and a class that cannot expand, a shrink, InPlace and a class change', () => {
  const was = { size: '1Gi', storageClassName: 'fast' };
  const s = planStorage({ size: '2Gi', storageClassName: 'fast' }, was, [claim(0, '1Gi', 'StorageClass fast does not allow volume expansion (allowVolumeExpansion is not true)')], { policy: 'InPlace' });
  assert.equal(s.kind, 'refuse');
  assert.match(s.kind === 'refuse' ? s.message : '', /data-kv-0.*does not allow volume expansion.*set spec.storage.size back to 1Gi, or set spec.storage.resizePolicy Auto/);
  for (const policy of ['Auto', 'InPlace', 'ReplaceMembers'] as const) {
    const shrink = planStorage({ size: '512Mi', storageClassName: 'fast' }, was, [], { policy });
    assert.match(shrink.kind === 'refuse' ? shrink.message : '', /volumes cannot shrink/, policy);
  }
  const move = planStorage({ size: '1Gi', storageClassName: 'slow' }, was, [], { policy: 'InPlace' });
  assert.match(move.kind === 'refuse' ? move.message : '', /cannot change class in place and spec.storage.resizePolicy is InPlace/);
  const c = storageCondition(s, false, 2);
  assert.deepEqual([c.type, c.status, c.reason, c.observedGeneration], ['StorageSynced', 'False', 'StorageChangeRefused', 2]);
  assert.equal(storageCondition({ kind: 'none' }, true, 2).reason, 'ReplacingStatefulSet', 'an old StatefulSet still being deleted');
  assert.equal(storageCondition({ kind: 'none' }, false, 2).status, 'True');
});

test('Auto, a class that cannot expand: the StatefulSet gets the new template first, then the members are replaced', () => {
  const was = { size: '1Gi', storageClassName: 'fixed' };
  const want = { size: '2Gi', storageClassName: 'fixed' };
  const fixed = 'StorageClass fixed does not allow volume expansion (allowVolumeExpansion is not true)';
  const fixedClaim = (i: number, request: string): ObservedClaim => ({ ...claim(i, request, fixed), storageClassName: 'fixed', member: `kv-${i}` });
  const first = planStorage(want, was, [fixedClaim(0, '1Gi'), fixedClaim(1, '1Gi'), fixedClaim(2, '1Gi')]);
  assert.equal(first.kind, 'replaceStatefulSet');
  assert.ok(first.kind === 'replaceStatefulSet' && first.thenReplaceMembers);
  assert.match(first.kind === 'replaceStatefulSet' ? first.reason : '', /data-kv-0 cannot grow to 2Gi in place.*replaced one at a time through learners/);
  // The template is 2Gi now: the claims still at 1Gi are their members' to replace, never expanded.
  const then = planStorage(want, want, [fixedClaim(0, '1Gi'), fixedClaim(1, '2Gi'), fixedClaim(2, '1Gi')], { memberCount: 3 });
  assert.deepEqual(then, { kind: 'replaceMembers', pending: ['kv-0', 'kv-2'], done: 1, total: 3, target: '2Gi of class fixed' });
  // A member whose PVC is gone (being replaced) counts as not done.
  const gone = planStorage(want, want, [fixedClaim(0, '1Gi'), fixedClaim(1, '2Gi')], { memberCount: 3 });
  assert.deepEqual(gone.kind === 'replaceMembers' ? [gone.done, gone.total] : [], [1, 3]);
  const c = storageCondition(then, false, 4, { kind: 'replace', member: 'kv-2', message: 'replacing kv-2 (a follower; the leader kv-0 goes last)' });
  assert.deepEqual([c.status, c.reason, c.message], ['False', 'ReplacingMembers', '1/3 members on 2Gi of class fixed; replacing kv-2 (a follower; the leader kv-0 goes last)']);
  // Every PVC matches, but the last member replaced has not rejoined as a voter yet: not done.
  const done = [0, 1, 2].map((i) => ({ ...fixedClaim(i, '2Gi'), capacity: '2Gi' }));
  const finishing = planStorage(want, want, done, { memberCount: 3, replacementUnderWay: 'kv-0' });
  assert.deepEqual(finishing, { kind: 'replaceMembers', pending: [], done: 3, total: 3, target: '2Gi of class fixed' });
  const rejoining = nextStorageReplacement({ pending: [], desiredReplicas: 3, leader: 'kv-1', members: [{ name: 'kv-0', ordinal: 0, voter: false, healthy: true, role: 'learner', appliedIndex: 1 }], pods: [], replacing: 'kv-0', drillInProgress: undefined });
  assert.equal(storageCondition(finishing, false, 4, rejoining).message, '3/3 members on 2Gi of class fixed; replacing kv-0: removed, recreated on a new PVC, rejoining as a learner');
  // All replaced, bound at the new size, and the last one a voter again: in sync.
  assert.deepEqual(planStorage(want, want, done, { memberCount: 3 }), { kind: 'none' });
});

test('a class change (Auto or ReplaceMembers) replaces the members; InPlace refuses; an unset class matches any', () => {
  const was = { size: '1Gi', storageClassName: 'fast' };
  const want = { size: '1Gi', storageClassName: 'slow' };
  for (const policy of ['Auto', 'ReplaceMembers'] as const) {
    const s = planStorage(want, was, [claim(0, '1Gi')], { policy });
    assert.ok(s.kind === 'replaceStatefulSet' && s.thenReplaceMembers, policy);
  }
  const then = planStorage(want, want, [{ ...claim(0, '1Gi'), member: 'kv-0' }, { ...claim(1, '1Gi'), member: 'kv-1', storageClassName: 'slow' }]);
  assert.deepEqual(then.kind === 'replaceMembers' ? then.pending : [], ['kv-0'], 'the claim of the old class, although of the size');
  const refused = planStorage(want, want, [claim(0, '1Gi')], { policy: 'InPlace' });
  assert.match(refused.kind === 'refuse' ? refused.message : '', /data-kv-0 is of class "fast".*resizePolicy is InPlace/);
  assert.deepEqual(planStorage({ size: '1Gi' }, { size: '1Gi' }, [claim(0, '1Gi')]), { kind: 'none' }, 'no class in spec: the default class, whatever the claims got');
});

test('ReplaceMembers replaces also where in-place expansion would work; Auto expands in place what it can', () => {
  const was = { size: '1Gi', storageClassName: 'fast' };
  const want = { size: '2Gi', storageClassName: 'fast' };
  const s = planStorage(want, was, [claim(0, '1Gi')], { policy: 'ReplaceMembers' });
  assert.ok(s.kind === 'replaceStatefulSet' && s.thenReplaceMembers);
  const then = planStorage(want, want, [{ ...claim(0, '1Gi'), member: 'kv-0' }], { policy: 'ReplaceMembers' });
  assert.equal(then.kind, 'replaceMembers');
  assert.deepEqual(planStorage(want, was, [claim(0, '1Gi')], { policy: 'Auto' }), { kind: 'expandClaims', claims: ['data-kv-0'], size: '2Gi' });
  // Template already 2Gi (e.g. a class that allows expansion now): Auto grows the claims in place.
  assert.deepEqual(planStorage(want, want, [claim(0, '1Gi'), claim(1, '2Gi')], { policy: 'Auto' }), { kind: 'expandClaims', claims: ['data-kv-0'], size: '2Gi' });
});

test('never replaces onto a class that cannot provision, nor decides from a class it could not read', () => {
  const was = { size: '1Gi', storageClassName: 'fast' };
  const gone = planStorage({ size: '1Gi', storageClassName: 'nope' }, was, [claim(0, '1Gi')], { desiredClassProblem: 'StorageClass nope not found' });
  assert.match(gone.kind === 'refuse' ? gone.message : '', /but StorageClass nope not found: no member is replaced/);
  const later = planStorage({ size: '1Gi', storageClassName: 'nope' }, { size: '1Gi', storageClassName: 'nope' }, [claim(0, '1Gi')], { desiredClassProblem: 'StorageClass nope not found' });
  assert.equal(later.kind, 'refuse');
  const unreadable: ObservedClaim = { ...claim(0, '1Gi', 'the operator cannot read StorageClass fast (403)'), expandableUnknown: true };
  const s = planStorage({ size: '2Gi', storageClassName: 'fast' }, was, [unreadable]);
  assert.match(s.kind === 'refuse' ? s.message : '', /cannot grow data-kv-0 to 2Gi: the operator cannot read StorageClass fast/);
  assert.equal(planStorage({ size: '2Gi', storageClassName: 'fast' }, { size: '2Gi', storageClassName: 'fast' }, [unreadable]).kind, 'refuse');
});

const voter = (i: number, healthy = true): ObservedMember => ({ name: `kv-${i}`, ordinal: i, voter: true, healthy, role: i === 0 ? 'leader' : 'follower', appliedIndex: 100 });
const pod = (i: number, extra: Partial<ObservedPod> = {}): ObservedPod => ({ name: `kv-${i}`, ready: true, outdated: false, ...extra });
const replacementInput = (over: Partial<StorageReplacementInput> = {}): StorageReplacementInput => ({
  pending: ['kv-0', 'kv-1', 'kv-2'], desiredReplicas: 3, leader: 'kv-0', members: [voter(0), voter(1), voter(2)], pods: [pod(0), pod(1), pod(2)],
  replacing: undefined, drillInProgress: undefined, ...over,
});

test('storage replacement order: followers first (highest ordinal first), the leader last', () => {
  assert.deepEqual(nextStorageReplacement(replacementInput()), { kind: 'replace', member: 'kv-2', message: 'replacing kv-2 (a follower; the leader kv-0 goes last)' });
  assert.equal((nextStorageReplacement(replacementInput({ pending: ['kv-0', 'kv-1'] })) as { member?: string }).member, 'kv-1');
  const last = nextStorageReplacement(replacementInput({ pending: ['kv-0'] }));
  assert.deepEqual(last, { kind: 'replace', member: 'kv-0', message: 'replacing kv-0 (the leader, last: leadership moves first)' });
  // Leadership moved to kv-2 meanwhile: kv-0 is a follower now and goes before kv-2.
  assert.equal((nextStorageReplacement(replacementInput({ pending: ['kv-0', 'kv-2'], leader: 'kv-2' })) as { member?: string }).member, 'kv-0');
});

test('storage replacement waits: one at a time, for health, settled membership, rollouts, drills; never a lone member', () => {
  const waits = (over: Partial<StorageReplacementInput>, re: RegExp): void => {
    const d = nextStorageReplacement(replacementInput(over));
    assert.equal(d.kind, 'wait', JSON.stringify(over));
    assert.match(d.message, re);
  };
  waits({ replacing: 'kv-2' }, /replacing kv-2: removed, recreated on a new PVC, rejoining as a learner/);
  waits({ replacing: 'kv-1', pending: ['kv-0'] }, /waiting for the replacement of kv-1 to finish/);
  waits({ drillInProgress: 'default/d1' }, /drill default\/d1 is running/);
  waits({ leader: undefined }, /no member reports a leader/);
  waits({ members: [voter(0), voter(1, false), voter(2)] }, /waiting for kv-1 to be healthy/);
  waits({ members: [voter(0), voter(1), { ...voter(2), voter: false }] }, /membership to settle/);
  waits({ desiredReplicas: 5 }, /membership to settle.*spec.replicas 5/);
  waits({ pods: [pod(0), pod(1, { outdated: true }), pod(2)] }, /pods kv-1 \(a rollout or a restart\)/);
  waits({ pods: [pod(0), pod(1), pod(2, { terminating: true })] }, /pods kv-2/);
  waits({ members: [voter(0)], desiredReplicas: 1, pending: ['kv-0'] }, /cannot replace its only member.*scale to 3/);
  waits({ pending: ['kv-7'] }, /belong to no member/);
});

test('the claims ask for the new size but their volumes did not grow: reported (VolumeExpansionPending), nothing else to do', () => {
  const want = { size: '2Gi', storageClassName: 'fast' };
  const grown = { ...claim(0, '2Gi'), capacity: '2Gi' };
  const behind = { ...claim(1, '2Gi'), capacity: '1Gi', resizer: 'rancher.io/local-path' };
  const unbound = claim(2, '2Gi');
  const s = planStorage(want, want, [grown, behind, unbound]);
  assert.equal(s.kind, 'awaitExpansion');
  assert.match(s.kind === 'awaitExpansion' ? s.message : '', /grow to 2Gi: data-kv-1 has 1Gi; resizer rancher.io\/local-path must expand them/);
  const c = storageCondition(s, false, 3);
  assert.deepEqual([c.status, c.reason], ['False', 'VolumeExpansionPending']);
  assert.deepEqual(planStorage(want, want, [grown, { ...behind, capacity: '2048Mi' }, unbound]), { kind: 'none' }, 'grown (written differently): in sync');
  // A claim asking for less than the template (a PVC older than the change) is grown, not waited for.
  assert.deepEqual(planStorage(want, want, [{ ...claim(0, '1Gi'), capacity: '1Gi' }]), { kind: 'expandClaims', claims: ['data-kv-0'], size: '2Gi' });
});
