import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ObservedClaim } from '../../../operator/src/planner/storage.js';
import { planStorage, quantityBytes } from '../../../operator/src/planner/storage.js';
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
  assert.equal(done.kind, 'replaceStatefulSet');
});

test('refused with the reason (and nothing else blocked): a class that cannot expand, a shrink, a class change', () => {
  const was = { size: '1Gi', storageClassName: 'fast' };
  const s = planStorage({ size: '2Gi', storageClassName: 'fast' }, was, [claim(0, '1Gi', 'StorageClass fast does not allow volume expansion (allowVolumeExpansion is not true)')]);
  assert.equal(s.kind, 'refuse');
  assert.match(s.kind === 'refuse' ? s.message : '', /data-kv-0.*does not allow volume expansion.*set spec.storage.size back to 1Gi/);
  const shrink = planStorage({ size: '512Mi', storageClassName: 'fast' }, was, []);
  assert.match(shrink.kind === 'refuse' ? shrink.message : '', /cannot shrink/);
  const move = planStorage({ size: '1Gi', storageClassName: 'slow' }, was, []);
  assert.match(move.kind === 'refuse' ? move.message : '', /class change is not supported/);
  const c = storageCondition(s, false, 2);
  assert.deepEqual([c.type, c.status, c.reason, c.observedGeneration], ['StorageSynced', 'False', 'StorageChangeRefused', 2]);
  assert.equal(storageCondition({ kind: 'none' }, true, 2).reason, 'ReplacingStatefulSet', 'an old StatefulSet still being deleted');
  assert.equal(storageCondition({ kind: 'none' }, false, 2).status, 'True');
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
  assert.deepEqual(planStorage(want, want, [{ ...claim(0, '1Gi'), capacity: '1Gi' }]), { kind: 'none' }, 'a claim not asking for more (outside this change) is not waited for');
});
