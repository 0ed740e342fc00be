// Operator tier: spec.storage changes never wedge reconcile. A real kube-apiserver with
// kube-controller-manager (its StatefulSet controller makes the PVCs, its garbage collector
// carries out the orphan cascade; the PV binder and expander are off since no storage exists:
// the test marks PVCs Bound itself). Members are fakes reached through the memberUrl hook.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import type { Operator } from '../../operator/src/operator.js';
import type { RaftCluster } from '../../operator/src/api/types.js';
import { FakeRaftCluster, operatorOverFakes, pollUntil } from './fake-members.js';

const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const STS = '/apis/apps/v1/namespaces/default/statefulsets';
const PVCS = '/api/v1/namespaces/default/persistentvolumeclaims';
const PODS = '/api/v1/namespaces/default/pods';
const WAIT_MS = 60_000;

let cp: KubeControlPlane;
let op: Operator;
const fakes = new Map<string, FakeRaftCluster>();
const logLines: string[] = [];

interface Sts { metadata: { uid: string }; spec: { replicas: number; volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] } }
interface Pvc { spec: { resources: { requests: { storage: string } } }; status?: { phase?: string } }

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, fn, timeoutMs, logLines);

async function get<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

const cond = (c: RaftCluster | undefined, type: string): { status: string; reason: string; message: string } | undefined => c?.status?.conditions?.find((x) => x.type === type);

/** Plays the volume binder: each PVC of `names` becomes Bound with its requested capacity. */
async function bind(names: readonly string[]): Promise<void> {
  for (const n of names) {
    const pvc = await waitFor(`PVC ${n}`, () => get<Pvc>(`${PVCS}/${n}`));
    if (pvc.status?.phase === 'Bound') continue;
    const r = await cp.request('PATCH', `${PVCS}/${n}/status`, { status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: pvc.spec.resources.requests.storage } } }, 'application/merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

async function newCluster(name: string, replicas: number, storage: { size: string; storageClassName: string; resizePolicy?: string }, extra: object = {}): Promise<FakeRaftCluster> {
  const fake = new FakeRaftCluster([...Array(replicas).keys()].map((i) => `${name}-${i}`));
  await fake.start();
  fakes.set(name, fake);
  const r = await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name }, spec: { replicas, image: 'raftkv:test', storage, ...extra } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await waitFor(`${name} Running`, async () => (await get<RaftCluster>(`${CR}/${name}`))?.status?.phase === 'Running');
  return fake;
}

before(async () => {
  cp = await startKubeControlPlane({ controllerManager: true, controllerManagerArgs: ['--controllers=-persistentvolume-binder-controller,-persistentvolume-expander-controller'] });
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  for (const [name, allow] of [['expandable', true], ['fixed', false]] as const) {
    const r = await cp.request('POST', '/apis/storage.k8s.io/v1/storageclasses', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: 'example.com/none', allowVolumeExpansion: allow });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  op = operatorOverFakes(cp.kubeConfig(), 'storage-op', fakes, logLines);
  await op.start();
});

after(async () => {
  await op?.stop();
  await cp?.stop();
  for (const f of fakes.values()) await f.stop();
});

test('validation refuses a shrink, and a class change with resizePolicy InPlace, with a clear message; a lone member is never replaced', async () => {
  await newCluster('sv', 1, { size: '1Gi', storageClassName: 'expandable' });
  const created = await get<RaftCluster>(`${CR}/sv`);
  assert.equal(created?.spec.storage.resizePolicy, 'Auto', 'the default policy');
  const shrink = await cp.request('PATCH', `${CR}/sv`, { spec: { storage: { size: '512Mi' } } }, 'application/merge-patch+json');
  assert.equal(shrink.status, 422);
  assert.match(JSON.stringify(shrink.body), /spec.storage.size cannot shrink/);
  const move = await cp.request('PATCH', `${CR}/sv`, { spec: { storage: { storageClassName: 'fixed', resizePolicy: 'InPlace' } } }, 'application/merge-patch+json');
  assert.equal(move.status, 422);
  assert.match(JSON.stringify(move.body), /storageClassName cannot change with resizePolicy InPlace/);
  const bad = await cp.request('PATCH', `${CR}/sv`, { spec: { storage: { resizePolicy: 'Sometimes' } } }, 'application/merge-patch+json');
  assert.equal(bad.status, 422);
  assert.match(JSON.stringify(bad.body), /Auto.*InPlace.*ReplaceMembers/);
  assert.equal((await cp.request('PATCH', `${CR}/sv`, { spec: { storage: { size: '1024Mi' } } }, 'application/merge-patch+json')).status, 200, 'the same size written differently is fine');
  // With Auto a class change is accepted, but one member has nobody to copy its data from: status says so, nothing is removed.
  const fake = fakes.get('sv');
  assert.ok(fake !== undefined);
  assert.equal((await cp.request('PATCH', `${CR}/sv`, { spec: { storage: { storageClassName: 'fixed' } } }, 'application/merge-patch+json')).status, 200);
  const waiting = await waitFor('ReplacingMembers waiting', async () => {
    const c = await get<RaftCluster>(`${CR}/sv`);
    return cond(c, 'StorageSynced')?.reason === 'ReplacingMembers' ? c : undefined;
  });
  assert.match(cond(waiting, 'StorageSynced')?.message ?? '', /0\/1 members on 1024Mi of class fixed; a cluster of 1 member cannot replace its only member/);
  assert.deepEqual(fake.calls, []);
  assert.equal(waiting.metadata.annotations?.['raftkv.dev/replace-member'], undefined);
});

test('a size increase expands the PVCs in place, replaces the StatefulSet object (pods kept), and scaling still works', async () => {
  const fake = await newCluster('sz', 3, { size: '1Gi', storageClassName: 'expandable' });
  const pvcs = ['data-sz-0', 'data-sz-1', 'data-sz-2'];
  await bind(pvcs);
  const stsBefore = await waitFor('sts', () => get<Sts>(`${STS}/sz`));
  const podUid = await waitFor('pod sz-0', async () => (await get<{ metadata: { uid: string } }>(`${PODS}/sz-0`))?.metadata.uid);
  const t0 = Date.now();
  assert.equal((await cp.request('PATCH', `${CR}/sz`, { spec: { storage: { size: '2Gi' } } }, 'application/merge-patch+json')).status, 200);
  await waitFor('PVCs request 2Gi', async () => (await Promise.all(pvcs.map((n) => get<Pvc>(`${PVCS}/${n}`)))).every((p) => p?.spec.resources.requests.storage === '2Gi'));
  const stsAfter = await waitFor('StatefulSet recreated with 2Gi', async () => {
    const s = await get<Sts>(`${STS}/sz`);
    return s !== undefined && s.metadata.uid !== stsBefore.metadata.uid && s.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage === '2Gi' ? s : undefined;
  });
  assert.equal(stsAfter.spec.replicas, 3, 'recreated with the members there are, not bootstrapped');
  // No resizer here: the volumes stay at 1Gi, and status says so instead of InSync.
  const pending = await waitFor('VolumeExpansionPending', async () => {
    const c = await get<RaftCluster>(`${CR}/sz`);
    return cond(c, 'StorageSynced')?.reason === 'VolumeExpansionPending' ? c : undefined;
  });
  assert.match(cond(pending, 'StorageSynced')?.message ?? '', /grow to 2Gi: data-sz-0 has 1Gi, data-sz-1 has 1Gi, data-sz-2 has 1Gi/);
  // The test plays the resizer, as it plays the binder: the volumes grew.
  for (const n of pvcs) {
    const r = await cp.request('PATCH', `${PVCS}/${n}/status`, { status: { capacity: { storage: '2Gi' } } }, 'application/merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  const synced = await waitFor('StorageSynced', async () => {
    const c = await get<RaftCluster>(`${CR}/sz`);
    return cond(c, 'StorageSynced')?.status === 'True' && c?.status?.phase === 'Running' ? c : undefined;
  });
  console.log(`# storage 1Gi -> 2Gi done in ${Date.now() - t0} ms`);
  assert.notEqual(cond(synced, 'ReconcileError')?.status, 'True');
  assert.equal((await get<{ metadata: { uid: string } }>(`${PODS}/sz-0`))?.metadata.uid, podUid, 'pods were orphaned and adopted, not recreated');
  const cm = await get<{ data: Record<string, string> }>('/api/v1/namespaces/default/configmaps/sz-config');
  assert.equal(cm?.data['initial-cluster-state'], 'existing');
  const events = await get<{ items: { reason: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  const reasons = new Set(events?.items.filter((e) => e.involvedObject.name === 'sz').map((e) => e.reason));
  assert.ok(reasons.has('ExpandVolumes') && reasons.has('ReplaceStatefulSet'), [...reasons].join(','));
  fake.calls.length = 0;
  assert.equal((await cp.request('PATCH', `${CR}/sz/scale`, { spec: { replicas: 5 } }, 'application/merge-patch+json')).status, 200);
  await waitFor('scaled to 5', async () => fake.voters().length === 5);
  assert.deepEqual(fake.calls, ['add sz-3', 'promote sz-3', 'add sz-4', 'promote sz-4']);
});

test('resizePolicy InPlace: a size increase the StorageClass cannot do is refused in status while scaling keeps working', async () => {
  const fake = await newCluster('sf', 1, { size: '1Gi', storageClassName: 'fixed', resizePolicy: 'InPlace' });
  await bind(['data-sf-0']);
  assert.equal((await cp.request('PATCH', `${CR}/sf`, { spec: { storage: { size: '2Gi' } } }, 'application/merge-patch+json')).status, 200);
  const refused = await waitFor('StorageChangeRefused', async () => {
    const c = await get<RaftCluster>(`${CR}/sf`);
    return cond(c, 'StorageSynced')?.reason === 'StorageChangeRefused' ? c : undefined;
  });
  assert.match(cond(refused, 'StorageSynced')?.message ?? '', /data-sf-0.*StorageClass fixed does not allow volume expansion/);
  assert.equal((await get<Pvc>(`${PVCS}/data-sf-0`))?.spec.resources.requests.storage, '1Gi');
  assert.equal((await get<Sts>(`${STS}/sf`))?.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, '1Gi');
  assert.equal((await cp.request('PATCH', `${CR}/sf`, { spec: { replicas: 3 } }, 'application/merge-patch+json')).status, 200);
  await waitFor('scaled to 3', async () => fake.voters().length === 3);
  const c = await get<RaftCluster>(`${CR}/sf`);
  assert.notEqual(cond(c, 'ReconcileError')?.status, 'True');
  const events = await get<{ items: { reason: string; type: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.ok(events?.items.some((e) => e.involvedObject.name === 'sf' && e.type === 'Warning' && e.reason === 'StorageChangeRefused'));
});

test('raftkv.dev/replace-member: the member is removed, its PVC and pod are recreated empty, it joins as a learner and is promoted', async () => {
  const fake = await newCluster('rp', 3, { size: '1Gi', storageClassName: 'expandable' });
  const pvcUid = await waitFor('PVC data-rp-1', async () => (await get<{ metadata: { uid: string } }>(`${PVCS}/data-rp-1`))?.metadata.uid);
  const podUid = await waitFor('pod rp-1', async () => (await get<{ metadata: { uid: string } }>(`${PODS}/rp-1`))?.metadata.uid);
  const m1 = fake.members.get('rp-1');
  assert.ok(m1 !== undefined);
  m1.up = false; // stuck: say its disk is corrupt
  fake.calls.length = 0;
  const t0 = Date.now();
  assert.equal((await cp.request('PATCH', `${CR}/rp`, { metadata: { annotations: { 'raftkv.dev/replace-member': 'rp-1' } } }, 'application/merge-patch+json')).status, 200);
  const inProgress = await waitFor('status.replacement', async () => (await get<RaftCluster>(`${CR}/rp`))?.status?.replacement);
  assert.equal(inProgress.member, 'rp-1');
  const done = await waitFor('replaced', async () => {
    const c = await get<RaftCluster>(`${CR}/rp`);
    return c?.metadata.annotations?.['raftkv.dev/replace-member'] === undefined && c?.status?.replacement === undefined && fake.voters().length === 3 && c?.status?.phase === 'Running' ? c : undefined;
  });
  console.log(`# member replacement: ${Date.now() - t0} ms`);
  assert.deepEqual(fake.calls, ['remove rp-1', 'add rp-1', 'promote rp-1']);
  assert.notEqual((await get<{ metadata: { uid: string } }>(`${PVCS}/data-rp-1`))?.metadata.uid, pvcUid, 'a new, empty PVC');
  assert.notEqual((await get<{ metadata: { uid: string } }>(`${PODS}/rp-1`))?.metadata.uid, podUid, 'a new pod');
  assert.equal(done.status?.members?.find((x) => x.name === 'rp-1')?.voter, true);
  const events = await get<{ items: { reason: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  const reasons = new Set(events?.items.filter((e) => e.involvedObject.name === 'rp').map((e) => e.reason));
  assert.ok(reasons.has('WipeMember') && reasons.has('MemberReplaced'), [...reasons].join(','));
});

test('a replaced member is added back only once its address answers empty, never while the old process (log intact) still answers there', async () => {
  const fake = await newCluster('ro', 3, { size: '1Gi', storageClassName: 'expandable' });
  fake.oldProcessAnswers.add('ro-1');
  fake.calls.length = 0;
  assert.equal((await cp.request('PATCH', `${CR}/ro`, { metadata: { annotations: { 'raftkv.dev/replace-member': 'ro-1' } } }, 'application/merge-patch+json')).status, 200);
  const waiting = await waitFor('the wait for the old process', async () => {
    const c = await get<RaftCluster>(`${CR}/ro`);
    const p = c?.status?.conditions?.find((x) => x.type === 'Progressing');
    return c?.status?.replacement?.wiped === true && /waiting for the previous ro-1 process to stop: its address still answers with log index \d+/.test(p?.message ?? '') ? p : undefined;
  });
  assert.equal(waiting.reason, 'ChangeInProgress');
  await new Promise((r) => setTimeout(r, 1500)); // several passes
  assert.deepEqual(fake.calls, ['remove ro-1'], 'not added back while the old process answers');
  fake.oldProcessAnswers.delete('ro-1'); // it stopped; the new, empty one answers
  await waitFor('replaced', async () => {
    const c = await get<RaftCluster>(`${CR}/ro`);
    return c?.metadata.annotations?.['raftkv.dev/replace-member'] === undefined && fake.voters().length === 3 && c?.status?.phase === 'Running' ? c : undefined;
  });
  assert.deepEqual(fake.calls, ['remove ro-1', 'add ro-1', 'promote ro-1']);
});

test('spec.replaceUnhealthyAfterSeconds: a member unhealthy that long is replaced automatically and the cluster keeps serving', async () => {
  const fake = await newCluster('ar', 3, { size: '1Gi', storageClassName: 'expandable' }, { replaceUnhealthyAfterSeconds: 2 });
  const pvcUid = await waitFor('PVC data-ar-2', async () => (await get<{ metadata: { uid: string } }>(`${PVCS}/data-ar-2`))?.metadata.uid);
  const m2 = fake.members.get('ar-2');
  assert.ok(m2 !== undefined);
  fake.calls.length = 0;
  const t0 = Date.now();
  m2.up = false;
  const since = await waitFor('unhealthySince', async () => (await get<RaftCluster>(`${CR}/ar`))?.status?.members?.find((x) => x.name === 'ar-2')?.unhealthySince);
  assert.ok(Date.parse(since) <= Date.now());
  await waitFor('replaced automatically', async () => {
    const c = await get<RaftCluster>(`${CR}/ar`);
    return fake.calls.includes('promote ar-2') && c?.metadata.annotations?.['raftkv.dev/replace-member'] === undefined && c?.status?.phase === 'Running' ? c : undefined;
  });
  console.log(`# automatic replacement (2 s threshold): ${Date.now() - t0} ms`);
  assert.deepEqual(fake.calls, ['remove ar-2', 'add ar-2', 'promote ar-2']);
  assert.notEqual((await get<{ metadata: { uid: string } }>(`${PVCS}/data-ar-2`))?.metadata.uid, pvcUid);
  assert.equal(fake.voters().length, 3);
  const events = await get<{ items: { reason: string; type: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.ok(events?.items.some((e) => e.involvedObject.name === 'ar' && e.type === 'Warning' && e.reason === 'AutoReplaceMember'));
});

test('a member that restarted empty (its PVC lost) is not healthy, so it is replaced automatically', async () => {
  const fake = await newCluster('em', 3, { size: '1Gi', storageClassName: 'expandable' }, { replaceUnhealthyAfterSeconds: 2 });
  const m1 = fake.members.get('em-1');
  assert.ok(m1 !== undefined);
  await waitFor('3 healthy members', async () => (await get<RaftCluster>(`${CR}/em`))?.status?.members?.filter((x) => x.healthy).length === 3);
  fake.calls.length = 0;
  // What kubectl delete pvc + pod gives: it answers, names the leader, holds nothing.
  m1.empty = true;
  const c = await waitFor('em-1 unhealthy', async () => {
    const x = await get<RaftCluster>(`${CR}/em`);
    return x?.status?.members?.find((m) => m.name === 'em-1')?.healthy === false ? x : undefined;
  });
  assert.equal(c.status?.members?.find((m) => m.name === 'em-1')?.role, 'follower');
  await waitFor('replaced automatically', async () => fake.calls.includes('promote em-1') && fake.voters().length === 3);
  assert.deepEqual(fake.calls, ['remove em-1', 'add em-1', 'promote em-1']);
});

test('a size increase on a class that cannot expand: the members are replaced one at a time through learners, followers first, the leader last; an unhealthy member and pause hold it', async () => {
  const fake = await newCluster('sr', 3, { size: '1Gi', storageClassName: 'fixed' });
  const pvcs = ['data-sr-0', 'data-sr-1', 'data-sr-2'];
  await bind(pvcs);
  // The volume binder: every PVC the StatefulSet makes gets bound with what it asks for.
  let binding = false;
  const binder = setInterval(() => {
    if (binding) return;
    binding = true;
    void (async () => {
      const list = await get<{ items: (Pvc & { metadata: { name: string; deletionTimestamp?: string } })[] }>(PVCS);
      for (const p of list?.items ?? []) {
        if (p.status?.phase === 'Bound' || p.metadata.deletionTimestamp !== undefined || !p.metadata.name.startsWith('data-sr-')) continue;
        await cp.request('PATCH', `${PVCS}/${p.metadata.name}/status`, { status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: p.spec.resources.requests.storage } } }, 'application/merge-patch+json');
      }
    })().finally(() => { binding = false; });
  }, 200);
  try {
    const uids = await Promise.all(pvcs.map((n) => waitFor(`PVC ${n}`, async () => (await get<{ metadata: { uid: string } }>(`${PVCS}/${n}`))?.metadata.uid)));
    const m1 = fake.members.get('sr-1');
    assert.ok(m1 !== undefined);
    // Once the first follower is back as a voter, sr-1 goes down: nothing more may happen until it is healthy.
    fake.onCall = (call) => {
      if (call === 'promote sr-2') m1.up = false;
    };
    fake.calls.length = 0;
    const t0 = Date.now();
    assert.equal((await cp.request('PATCH', `${CR}/sr`, { spec: { storage: { size: '2Gi' } } }, 'application/merge-patch+json')).status, 200);
    const held = await waitFor('held by the unhealthy sr-1', async () => {
      const c = await get<RaftCluster>(`${CR}/sr`);
      return /waiting for sr-1 to be healthy/.test(cond(c, 'StorageSynced')?.message ?? '') ? c : undefined;
    });
    assert.equal(cond(held, 'StorageSynced')?.reason, 'ReplacingMembers');
    assert.match(cond(held, 'StorageSynced')?.message ?? '', /^1\/3 members on 2Gi of class fixed; /);
    assert.deepEqual(fake.calls, ['remove sr-2', 'add sr-2', 'promote sr-2']);
    const sts = await get<Sts>(`${STS}/sr`);
    assert.equal(sts?.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, '2Gi', 'the template was replaced first');
    assert.equal((await get<Pvc>(`${PVCS}/data-sr-2`))?.spec.resources.requests.storage, '2Gi', 'the replaced member is on a new PVC from it');
    // Paused: sr-1 healthy again, but nothing moves.
    assert.equal((await cp.request('PATCH', `${CR}/sr`, { metadata: { annotations: { 'raftkv.dev/reconcile': 'paused' } } }, 'application/merge-patch+json')).status, 200);
    await waitFor('Paused', async () => cond(await get<RaftCluster>(`${CR}/sr`), 'Paused')?.status === 'True');
    m1.up = true;
    await new Promise((r) => setTimeout(r, 2_000));
    assert.deepEqual(fake.calls, ['remove sr-2', 'add sr-2', 'promote sr-2'], 'no member call while paused');
    assert.equal((await cp.request('PATCH', `${CR}/sr`, { metadata: { annotations: { 'raftkv.dev/reconcile': null } } }, 'application/merge-patch+json')).status, 200);
    const synced = await waitFor('StorageSynced InSync, 3 voters', async () => {
      const c = await get<RaftCluster>(`${CR}/sr`);
      return cond(c, 'StorageSynced')?.reason === 'InSync' && c?.status?.phase === 'Running' && fake.voters().length === 3 ? c : undefined;
    });
    console.log(`# storage 1Gi -> 2Gi through learners (3 fake members, with a 2 s pause): ${Date.now() - t0} ms`);
    assert.deepEqual(fake.calls, ['remove sr-2', 'add sr-2', 'promote sr-2', 'remove sr-1', 'add sr-1', 'promote sr-1', 'transfer sr-0->sr-1', 'remove sr-0', 'add sr-0', 'promote sr-0']);
    assert.equal(synced.metadata.annotations?.['raftkv.dev/replace-member'], undefined);
    for (const [i, n] of pvcs.entries()) {
      const p = await get<Pvc & { metadata: { uid: string } }>(`${PVCS}/${n}`);
      assert.equal(p?.spec.resources.requests.storage, '2Gi', n);
      assert.notEqual(p?.metadata.uid, uids[i], `${n} is a new PVC`);
    }
    const events = await get<{ items: { reason: string; message: string; involvedObject: { name: string }; metadata: { resourceVersion: string } }[] }>('/api/v1/namespaces/default/events');
    const mine = (events?.items.filter((e) => e.involvedObject.name === 'sr') ?? []).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    assert.deepEqual(mine.filter((e) => e.reason === 'StorageReplaceMember').map((e) => /replacing (sr-\d)/.exec(e.message)?.[1]), ['sr-2', 'sr-1', 'sr-0']);
    const reasons = mine.map((e) => e.reason);
    assert.ok(reasons.lastIndexOf('StorageSynced') > reasons.lastIndexOf('MemberReplaced'), `in sync only once the last member is a voter again: ${reasons.join(',')}`);
    assert.notEqual(cond(synced, 'ReconcileError')?.status, 'True');
  } finally {
    clearInterval(binder);
    fake.onCall = undefined;
  }
});
