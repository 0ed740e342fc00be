// Operator tier, day 2: placement and pod hardening accepted by the API server, status tells the truth
// (reconcile errors, the member view kept during quorum loss)
// and the pause annotation, against a real kube-apiserver + etcd with fake members.
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
const VAP = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
const VAPB = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
const WAIT_MS = 30_000;

let cp: KubeControlPlane;
let op: Operator;
const fakes = new Map<string, FakeRaftCluster>();
const logLines: string[] = [];

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, fn, timeoutMs, logLines, 100);

async function get<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

const cond = (c: RaftCluster | undefined, type: string): { status: string; reason: string; message: string } | undefined => c?.status?.conditions?.find((x) => x.type === type);

async function newCluster(name: string, replicas: number): Promise<FakeRaftCluster> {
  const fake = new FakeRaftCluster([...Array(replicas).keys()].map((i) => `${name}-${i}`));
  await fake.start();
  fakes.set(name, fake);
  const r = await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name }, spec: { replicas, image: 'raftkv:test' } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return fake;
}

async function running(name: string): Promise<RaftCluster> {
  return waitFor(`${name} Running`, async () => {
    const c = await get<RaftCluster>(`${CR}/${name}`);
    return c?.status?.phase === 'Running' ? c : undefined;
  });
}

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  op = operatorOverFakes(cp.kubeConfig(), 'status-op', fakes, logLines, { queue: { baseDelayMs: 50, maxDelayMs: 1000, maxKeys: 100 } });
  await op.start();
});

after(async () => {
  await op?.stop();
  await cp?.stop();
  for (const f of fakes.values()) await f.stop();
});

test('a failing pass reaches status: ReconcileError with the step and the API error, lastError, a Warning; cleared once it passes', async () => {
  // A built-in CEL admission policy refuses the StatefulSet: the apply step fails on every pass.
  const policy = {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: 'no-broken-sts' },
    spec: {
      failurePolicy: 'Fail',
      matchConstraints: { resourceRules: [{ apiGroups: ['apps'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['statefulsets'] }] },
      validations: [{ expression: "object.metadata.name != 'broken'", message: 'blocked by the test admission policy' }],
    },
  };
  assert.equal((await cp.request('POST', VAP, policy)).status, 201);
  const binding = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: 'no-broken-sts' }, spec: { policyName: 'no-broken-sts', validationActions: ['Deny'] } };
  assert.equal((await cp.request('POST', VAPB, binding)).status, 201);
  const probe = { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'broken' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'x' }] } } } };
  await waitFor('policy in force', async () => (await cp.request('POST', `${STS}?dryRun=All`, probe)).status === 422);

  await newCluster('broken', 3);
  const failing = await waitFor('ReconcileError True', async () => {
    const c = await get<RaftCluster>(`${CR}/broken`);
    return cond(c, 'ReconcileError')?.status === 'True' ? c : undefined;
  });
  const rc = cond(failing, 'ReconcileError');
  assert.equal(rc?.reason, 'ApplyFailed');
  assert.match(rc?.message ?? '', /^apply: .*statefulsets.*blocked by the test admission policy/);
  assert.equal(failing.status?.lastError?.step, 'apply');
  assert.ok(Date.parse(failing.status?.lastError?.time ?? '') > Date.now() - 60_000);
  const events = await get<{ items: { reason: string; type: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.ok(events?.items.some((e) => e.involvedObject.name === 'broken' && e.type === 'Warning' && e.reason === 'ReconcileError'));
  // The same error repeating is not rewritten every pass (that would defeat the queue's backoff).
  const rv = failing.metadata.resourceVersion;
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal((await get<RaftCluster>(`${CR}/broken`))?.metadata.resourceVersion, rv);

  assert.equal((await cp.request('DELETE', `${VAPB}/no-broken-sts`)).status, 200);
  const ok = await running('broken');
  assert.deepEqual([cond(ok, 'ReconcileError')?.status, cond(ok, 'ReconcileError')?.reason], ['False', 'Reconciled']);
  assert.equal(ok.status?.lastError?.step, 'apply', 'the last error stays on record');
  await cp.request('DELETE', `${VAP}/no-broken-sts`);
});

test('quorum loss keeps the last member view (stale, with who still answers) and replicas; a leader brings the live view back', async () => {
  const fake = await newCluster('st', 3);
  await running('st');
  for (const m of fake.members.values()) m.up = false;
  const lost = await waitFor('stale view', async () => {
    const c = await get<RaftCluster>(`${CR}/st`);
    return c?.status?.membersStaleSince !== undefined ? c : undefined;
  });
  assert.deepEqual(lost.status?.members?.map((m) => [m.name, m.role, m.voter, m.healthy]), [['st-0', 'unreachable', true, false], ['st-1', 'unreachable', true, false], ['st-2', 'unreachable', true, false]]);
  assert.equal(lost.status?.replicas, 3);
  assert.equal(lost.status?.readyReplicas, 0);
  assert.equal(lost.status?.phase, 'Degraded');
  assert.equal(cond(lost, 'Available')?.status, 'False');
  // One member answers again (it sees no leader: the fake's leader st-0 is still down).
  const m1 = fake.members.get('st-1');
  assert.ok(m1 !== undefined);
  m1.up = true;
  const partial = await waitFor('st-1 answers', async () => {
    const c = await get<RaftCluster>(`${CR}/st`);
    return c?.status?.members?.find((m) => m.name === 'st-1')?.role === 'follower' ? c : undefined;
  });
  assert.equal(partial.status?.phase, 'Degraded', 'still Degraded on later passes, never Bootstrapping');
  assert.equal(partial.status?.membersStaleSince, lost.status?.membersStaleSince);
  for (const m of fake.members.values()) m.up = true;
  const back = await running('st');
  assert.equal(back.status?.membersStaleSince, undefined);
});

test('pause: no write for the cluster (objects, members, status) but the Paused condition; resuming carries out the change', async () => {
  const fake = await newCluster('pz', 3);
  await running('pz');
  assert.equal((await cp.request('PATCH', `${CR}/pz`, { metadata: { annotations: { 'raftkv.dev/reconcile': 'paused' } } }, 'application/merge-patch+json')).status, 200);
  const paused = await waitFor('Paused condition', async () => {
    const c = await get<RaftCluster>(`${CR}/pz`);
    return cond(c, 'Paused')?.status === 'True' ? c : undefined;
  });
  assert.equal(cond(paused, 'Paused')?.reason, 'ReconcilePaused');
  const owned = [`${STS}/pz`, '/api/v1/namespaces/default/configmaps/pz-config', '/api/v1/namespaces/default/services/pz', '/apis/policy/v1/namespaces/default/poddisruptionbudgets/pz'];
  const rvs = await Promise.all(owned.map(async (p) => (await get<{ metadata: { resourceVersion: string } }>(p))?.metadata.resourceVersion));
  fake.calls.length = 0;
  // Spec changes, a member going down: nothing happens, and status keeps saying what it said.
  assert.equal((await cp.request('PATCH', `${CR}/pz`, { spec: { replicas: 5, image: 'raftkv:next' } }, 'application/merge-patch+json')).status, 200);
  const m2 = fake.members.get('pz-2');
  assert.ok(m2 !== undefined);
  m2.up = false;
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(fake.calls, [], 'no member call while paused');
  assert.deepEqual(await Promise.all(owned.map(async (p) => (await get<{ metadata: { resourceVersion: string } }>(p))?.metadata.resourceVersion)), rvs, 'no owned object written');
  const still = await get<RaftCluster>(`${CR}/pz`);
  assert.deepEqual(still?.status, paused.status, 'no status write after the Paused condition');
  const events = await get<{ items: { reason: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.equal(events?.items.filter((e) => e.involvedObject.name === 'pz' && e.reason === 'Paused').length, 1);
  // A drill against a paused cluster is refused.
  const drill = await cp.request('POST', '/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills', {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name: 'pz-drill' },
    spec: { clusterRef: { name: 'pz' }, action: 'KillFollower', duration: '1s', probe: { writesPerSecond: 5 }, expect: { maxUnavailableSeconds: 5 } },
  });
  assert.equal(drill.status, 201, JSON.stringify(drill.body));
  const failed = await waitFor('drill refused', async () => {
    const d = await get<{ status?: { phase?: string; message?: string } }>('/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills/pz-drill');
    return d?.status?.phase === 'Failed' ? d : undefined;
  });
  assert.match(failed.status?.message ?? '', /paused/);

  // Resume: the scale to 5 is carried out (once the member is back), Paused goes False.
  m2.up = true;
  assert.equal((await cp.request('PATCH', `${CR}/pz`, { metadata: { annotations: { 'raftkv.dev/reconcile': null } } }, 'application/merge-patch+json')).status, 200);
  await waitFor('5 voters', async () => fake.voters().length === 5, 60_000);
  const resumed = await get<RaftCluster>(`${CR}/pz`);
  assert.deepEqual([cond(resumed, 'Paused')?.status, cond(resumed, 'Paused')?.reason], ['False', 'Reconciling']);
});

test('placement, pod additions and hardening: the API server accepts the StatefulSet; the CRD refuses overriding the operator', async () => {
  const base = { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', spec: { replicas: 3, image: 'raftkv:test' } };
  const refused: [string, object, RegExp][] = [
    ['pl-bad-label', { pod: { labels: { 'app.kubernetes.io/instance': 'x' } } }, /spec.pod.labels cannot set/],
    ['pl-bad-env', { pod: { env: [{ name: 'POD_NAME', value: 'x' }] } }, /spec.pod.env cannot set POD_NAME/],
    ['pl-bad-arg', { pod: { extraArgs: ['--data-dir=/elsewhere'] } }, /extraArgs cannot repeat a flag/],
    ['pl-bad-arg2', { pod: { extraArgs: ['--cluster-token', 'x'] } }, /extraArgs cannot repeat a flag/],
    ['pl-bad-anti', { memberAntiAffinity: 'Sometimes' }, /Unsupported value/],
  ];
  for (const [name, spec, re] of refused) {
    const r = await cp.request('POST', CR, { ...base, metadata: { name }, spec: { ...base.spec, ...spec } });
    assert.equal(r.status, 422, name);
    assert.match(JSON.stringify(r.body), re, name);
  }
  await newCluster('pl', 3);
  const patch = {
    spec: {
      memberAntiAffinity: 'Required',
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] }] } } },
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' }],
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'raftkv', effect: 'NoSchedule' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      priorityClassName: 'system-cluster-critical',
      pod: { labels: { team: 'storage' }, annotations: { 'example.com/owner': 'db' }, env: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=256' }], extraArgs: ['--log-level=debug'] },
    },
  };
  assert.equal((await cp.request('PATCH', `${CR}/pl`, patch, 'application/merge-patch+json')).status, 200);
  interface PodSpecView { affinity?: { nodeAffinity?: unknown; podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string }[] } }; topologySpreadConstraints?: { labelSelector?: unknown }[]; tolerations?: unknown[]; nodeSelector?: Record<string, string>; priorityClassName?: string; securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } }; containers: { args: string[]; env: { name: string }[]; securityContext?: { readOnlyRootFilesystem?: boolean; capabilities?: { drop?: string[] } } }[] }
  const sts = await waitFor('StatefulSet with placement', async () => {
    const s = await get<{ spec: { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpecView } } }>(`${STS}/pl`);
    return s?.spec.template.spec.priorityClassName === 'system-cluster-critical' ? s : undefined;
  });
  const t = sts.spec.template;
  assert.equal(t.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey, 'kubernetes.io/hostname');
  assert.ok(t.spec.affinity?.nodeAffinity !== undefined);
  assert.deepEqual(t.spec.topologySpreadConstraints?.[0]?.labelSelector, { matchLabels: { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': 'pl' } });
  assert.equal(t.spec.tolerations?.length, 1);
  assert.deepEqual(t.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
  assert.equal(t.metadata.labels['team'], 'storage');
  assert.equal(t.metadata.annotations?.['example.com/owner'], 'db');
  assert.equal(t.spec.securityContext?.runAsNonRoot, true);
  assert.equal(t.spec.securityContext?.seccompProfile?.type, 'RuntimeDefault');
  const ctr = t.spec.containers[0];
  assert.equal(ctr?.securityContext?.readOnlyRootFilesystem, true);
  assert.deepEqual(ctr?.securityContext?.capabilities?.drop, ['ALL']);
  assert.equal(ctr?.args.at(-1), '--log-level=debug');
  assert.ok(ctr?.env.some((e) => e.name === 'NODE_OPTIONS'));
  const c = await get<RaftCluster>(`${CR}/pl`);
  assert.notEqual(cond(c, 'ReconcileError')?.status, 'True');
});

test('scale down 5→3 with the member being removed dead completes; a dead member above spec.replicas goes first', async () => {
  const fake = await newCluster('sd', 5);
  await running('sd');
  const dead = fake.members.get('sd-4');
  assert.ok(dead !== undefined);
  dead.up = false;
  const t0 = Date.now();
  fake.calls.length = 0;
  assert.equal((await cp.request('PATCH', `${CR}/sd`, { spec: { replicas: 3 } }, 'application/merge-patch+json')).status, 200);
  await waitFor('3 voters, StatefulSet 3', async () => {
    const s = await get<{ spec: { replicas: number } }>(`${STS}/sd`);
    return fake.voters().length === 3 && s?.spec.replicas === 3;
  });
  console.log(`# 5→3 with the removed member dead: ${Date.now() - t0} ms`);
  assert.deepEqual(fake.calls, ['remove sd-4', 'remove sd-3']);
  // 5 again, then 3 with sd-3 dead and sd-4 alive: sd-3 is removed first.
  assert.equal((await cp.request('PATCH', `${CR}/sd`, { spec: { replicas: 5 } }, 'application/merge-patch+json')).status, 200);
  await waitFor('5 voters', async () => fake.voters().length === 5);
  const m3 = fake.members.get('sd-3');
  assert.ok(m3 !== undefined);
  m3.up = false;
  fake.calls.length = 0;
  assert.equal((await cp.request('PATCH', `${CR}/sd`, { spec: { replicas: 3 } }, 'application/merge-patch+json')).status, 200);
  await waitFor('3 voters again', async () => {
    const s = await get<{ spec: { replicas: number } }>(`${STS}/sd`);
    return fake.voters().length === 3 && s?.spec.replicas === 3;
  });
  assert.deepEqual(fake.calls, ['remove sd-3', 'remove sd-4']);
  const c = await running('sd');
  assert.equal(c.status?.replicas, 3);
});
