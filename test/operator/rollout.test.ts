// Image rollout with OnDelete: the operator deletes outdated pods one at a time, followers first,
// waits for each replacement to be ready, and moves leadership off the leader before its pod goes.
// No kubelet or StatefulSet controller runs here, so the test plays both: it recreates deleted
// pods on the new revision and marks them Ready, and sets the StatefulSet's updateRevision.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { Operator } from '../../operator/src/operator.js';
import type { RaftCluster } from '../../operator/src/api/types.js';
import { FakeRaftCluster } from './fake-members.js';

const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const PODS = '/api/v1/namespaces/default/pods';
let cp: KubeControlPlane;
let fake: FakeRaftCluster;
let op: Operator;

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  fake = new FakeRaftCluster(['ro-0', 'ro-1', 'ro-2']);
  await fake.start();
  op = new Operator({
    kubeConfig: cp.kubeConfig(), namespaces: ['default'], identity: 'rollout-op', log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    lease: { name: 'rollout-op', namespace: 'default', durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
    memberUrl: (_c, m) => fake.urlOf(m), memberClient: { requestTimeoutMs: 1000, maxRedirects: 3 },
    raftCluster: { pollIntervalMs: 300, stepRequeueMs: 100, learnerMaxLagEntries: 10 },
  });
});

after(async () => {
  await op?.stop();
  await cp?.stop();
  await fake?.stop();
});

async function putPod(name: string, revision: string): Promise<void> {
  const labels = { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'ro', 'controller-revision-hash': revision };
  const r = await cp.request('POST', PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: { containers: [{ name: 'raftkv', image: 'raftkv:test' }] } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const s = await cp.request('PATCH', `${PODS}/${name}/status`, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
  assert.equal(s.status, 200, JSON.stringify(s.body));
}

test('outdated pods roll followers first, one at a time, leader last after a transfer', async () => {
  for (const n of ['ro-0', 'ro-1', 'ro-2']) await putPod(n, 'rev-1');
  await op.start();
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'ro' }, spec: { replicas: 3, image: 'raftkv:test' } })).status, 201);
  const deadline = Date.now() + 40_000;
  const waitRunning = async (): Promise<void> => {
    for (;;) {
      const c = (await cp.request('GET', `${CR}/ro`)).body as RaftCluster;
      if (c.status?.phase === 'Running') return;
      assert.ok(Date.now() < deadline, 'cluster not Running');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await waitRunning();
  // The "StatefulSet controller" now has a new revision (as after an image change).
  const st = await cp.request('PATCH', '/apis/apps/v1/namespaces/default/statefulsets/ro/status', { status: { updateRevision: 'rev-2', currentRevision: 'rev-1', replicas: 3 } }, 'application/merge-patch+json');
  assert.equal(st.status, 200, JSON.stringify(st.body));
  const order: string[] = [];
  for (;;) {
    const pods = (await cp.request('GET', `${PODS}?labelSelector=app.kubernetes.io/instance%3Dro`)).body as { items: { metadata: { name: string; labels: Record<string, string> } }[] };
    const present = new Set(pods.items.map((p) => p.metadata.name));
    for (const n of ['ro-0', 'ro-1', 'ro-2']) {
      if (!present.has(n)) {
        order.push(`${n}@leader=${fake.leader}`);
        // Let the operator look at the gap once before the replacement appears.
        await new Promise((r) => setTimeout(r, 400));
        await putPod(n, 'rev-2');
      }
    }
    if (pods.items.length === 3 && pods.items.every((p) => p.metadata.labels['controller-revision-hash'] === 'rev-2')) break;
    assert.ok(Date.now() < deadline, `rollout did not finish: ${order.join(', ')} calls=${fake.calls.join(', ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(order, ['ro-2@leader=ro-0', 'ro-1@leader=ro-0', 'ro-0@leader=ro-1'], 'followers first (highest ordinal first), leader last after a transfer to an updated voter');
  assert.deepEqual(fake.calls, ['transfer ro-0->ro-1']);
});

test('a bad image rolled out and then reverted: the pod crash-looping on the bad revision is replaced first', async () => {
  const deadline = Date.now() + 40_000;
  const setRevision = async (rev: string): Promise<void> => {
    const st = await cp.request('PATCH', '/apis/apps/v1/namespaces/default/statefulsets/ro/status', { status: { updateRevision: rev, currentRevision: 'rev-2', replicas: 3 } }, 'application/merge-patch+json');
    assert.equal(st.status, 200, JSON.stringify(st.body));
  };
  const listPods = async (): Promise<{ metadata: { name: string; labels: Record<string, string> } }[]> =>
    ((await cp.request('GET', `${PODS}?labelSelector=app.kubernetes.io/instance%3Dro`)).body as { items: { metadata: { name: string; labels: Record<string, string> } }[] }).items;
  // "Plays kubelet" for one missing pod: recreated on `rev`, Ready only when `ready`.
  const recreateMissing = async (rev: string, ready: boolean): Promise<string | undefined> => {
    const present = new Set((await listPods()).map((p) => p.metadata.name));
    const gone = ['ro-0', 'ro-1', 'ro-2'].find((n) => !present.has(n));
    if (gone === undefined) return undefined;
    const labels = { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'ro', 'controller-revision-hash': rev };
    assert.equal((await cp.request('POST', PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: gone, labels }, spec: { containers: [{ name: 'raftkv', image: 'raftkv:test' }] } })).status, 201);
    if (ready) await cp.request('PATCH', `${PODS}/${gone}/status`, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
    const member = fake.members.get(gone);
    if (member !== undefined) member.up = ready;
    return gone;
  };
  // Roll out a bad image: the first follower replaced comes back crash-looping (never ready, member down).
  await setRevision('rev-3');
  let bad: string | undefined;
  while (bad === undefined) {
    assert.ok(Date.now() < deadline, 'no pod replaced for the bad revision');
    await new Promise((r) => setTimeout(r, 50));
    bad = await recreateMissing('rev-3', false);
  }
  // The rollout stops there: nothing else is deleted while the new revision is not ready.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await listPods()).length, 3, 'no second pod deleted');
  const stuck = (await cp.request('GET', `${CR}/ro`)).body as RaftCluster;
  assert.match(stuck.status?.conditions?.find((c) => c.type === 'Progressing')?.reason ?? '', /MemberUnhealthy|RolloutWaitingForHealth/);
  // Revert: the crash-looping pod is now the outdated one and is replaced although it is not ready.
  await setRevision('rev-2');
  let replaced: string | undefined;
  while (replaced === undefined) {
    assert.ok(Date.now() < deadline, `the bad pod ${bad} was not replaced after the revert`);
    await new Promise((r) => setTimeout(r, 50));
    replaced = await recreateMissing('rev-2', true);
  }
  assert.equal(replaced, bad);
  for (;;) {
    const c = (await cp.request('GET', `${CR}/ro`)).body as RaftCluster;
    if (c.status?.phase === 'Running') break;
    assert.ok(Date.now() < deadline, `not Running after the revert: ${JSON.stringify(c.status?.conditions)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok((await listPods()).every((p) => p.metadata.labels['controller-revision-hash'] === 'rev-2'));
});
