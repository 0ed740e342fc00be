// Operator tier: the PodDisruptionBudget from the live configuration, against a real kube-apiserver
// with kube-controller-manager (its StatefulSet controller makes the member pods, its disruption
// controller computes what the PDB allows) and the real Eviction API. No kubelet: the test marks
// pods Running and Ready itself. Members are fakes reached through the memberUrl hook.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import type { Operator } from '../../operator/src/operator.js';
import { FakeRaftCluster, operatorOverFakes, pollUntil } from './fake-members.js';

const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const PODS = '/api/v1/namespaces/default/pods';
const PDBS = '/apis/policy/v1/namespaces/default/poddisruptionbudgets';
const WAIT_MS = 60_000;

let cp: KubeControlPlane;
let op: Operator;
const fakes = new Map<string, FakeRaftCluster>();
const logLines: string[] = [];

interface Pod { metadata: { name: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string }; status?: { phase?: string; conditions?: { type: string; status: string }[] } }
interface Pdb { metadata: { generation: number }; spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } }; status?: { observedGeneration?: number; disruptionsAllowed?: number; expectedPods?: number; currentHealthy?: number } }

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, fn, timeoutMs, logLines);

async function get<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

/** Plays kubelet: every listed pod of `instance` that is not Running+Ready becomes so. */
async function markReady(instance: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const pod = await waitFor(`pod ${name}`, () => get<Pod>(`${PODS}/${name}`));
    if (pod.status?.phase === 'Running' && pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    const r = await cp.request('PATCH', `${PODS}/${name}/status`, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
    assert.equal(r.status, 200, `${instance}: ${JSON.stringify(r.body)}`);
  }
}

async function roles(names: readonly string[]): Promise<(string | undefined)[]> {
  return Promise.all(names.map(async (n) => (await get<Pod>(`${PODS}/${n}`))?.metadata.labels?.['raftkv.dev/role']));
}

async function evict(name: string): Promise<number> {
  const r = await cp.request('POST', `${PODS}/${name}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' } });
  return r.status;
}

/** The PDB once the disruption controller has processed its current generation. */
async function settledPdb(name: string, want: (p: Pdb) => boolean): Promise<Pdb> {
  let last: Pdb | undefined;
  return waitFor(`PDB ${name} settled`, async () => {
    const p = await get<Pdb>(`${PDBS}/${name}`);
    last = p;
    return p !== undefined && p.status?.observedGeneration === p.metadata.generation && want(p) ? p : undefined;
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}\nlast PDB: ${JSON.stringify({ generation: last?.metadata.generation, spec: last?.spec, status: last?.status })}`);
  });
}

before(async () => {
  cp = await startKubeControlPlane({ controllerManager: true });
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  op = operatorOverFakes(cp.kubeConfig(), 'pdb-op', fakes, logLines);
  await op.start();
});

after(async () => {
  await op?.stop();
  await cp?.stop();
  for (const f of fakes.values()) await f.stop();
});

test('PDB covers voters only: a stuck learner does not widen it, evictions stop at a quorum of voters, promote raises it first', async () => {
  const names = ['pdb-0', 'pdb-1', 'pdb-2', 'pdb-3', 'pdb-4'];
  const fake = new FakeRaftCluster(names);
  await fake.start();
  fakes.set('pdb', fake);
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'pdb' }, spec: { replicas: 5, image: 'raftkv:test' } })).status, 201);
  await markReady('pdb', names);
  await waitFor('all five labelled voter', async () => (await roles(names)).every((r) => r === 'voter'));
  let pdb = await settledPdb('pdb', (p) => p.status?.expectedPods === 5 && p.status.currentHealthy === 5);
  assert.equal(pdb.spec.minAvailable, 3);
  assert.equal(pdb.spec.selector.matchLabels['raftkv.dev/role'], 'voter');
  assert.equal(pdb.status?.disruptionsAllowed, 2);

  // A learner stuck behind (spec still 5): 4 voters + 1 learner. The old PDB (minAvailable 3 over
  // all 5 pods) allowed 2 evictions, i.e. 2 of 4 voters left. Now the learner is outside it.
  const m4 = fake.members.get('pdb-4');
  assert.ok(m4 !== undefined);
  m4.voter = false;
  m4.appliedIndex = 0;
  await waitFor('pdb-4 labelled learner', async () => (await roles(['pdb-4']))[0] === 'learner');
  pdb = await settledPdb('pdb', (p) => p.status?.expectedPods === 4);
  assert.equal(pdb.spec.minAvailable, 3);
  assert.equal(pdb.status?.disruptionsAllowed, 1);
  assert.equal(await evict('pdb-4'), 201, 'the learner is not covered');
  assert.equal(await evict('pdb-1'), 201, 'one voter of four may go');
  await settledPdb('pdb', (p) => p.status?.disruptionsAllowed === 0);
  assert.equal(await evict('pdb-2'), 429, 'a second voter would leave 2 of 4');
  assert.equal(await evict('pdb-0'), 429);

  // The StatefulSet recreates the evicted pods; the operator labels them from the configuration.
  await waitFor('recreated pods labelled', async () => {
    const r = await roles(['pdb-1', 'pdb-4']);
    return r[0] === 'voter' && r[1] === 'learner';
  });
  await markReady('pdb', ['pdb-1', 'pdb-4']);
  await settledPdb('pdb', (p) => p.status?.currentHealthy === 4 && p.status.disruptionsAllowed === 1);

  // The learner catches up and is promoted: at the moment of the promote call the PDB already
  // counts it as a voter with the stricter bound of both configurations (q(4)+1 = 4).
  const atPromote: string[] = [];
  fake.onCall = (call) => {
    if (!call.startsWith('promote')) return;
    void Promise.all([get<Pdb>(`${PDBS}/pdb`), roles(['pdb-4'])]).then(([p, r]) => atPromote.push(`min=${p?.spec.minAvailable ?? '?'} role=${r[0] ?? '-'}`));
  };
  m4.appliedIndex = fake.commitIndex;
  await waitFor('promoted and PDB back to 3 of 5', async () => {
    const p = await get<Pdb>(`${PDBS}/pdb`);
    return fake.voters().length === 5 && p?.spec.minAvailable === 3;
  });
  await waitFor('snapshot at promote', async () => atPromote.length === 1);
  assert.deepEqual(atPromote, ['min=4 role=voter']);
  pdb = await settledPdb('pdb', (p) => p.status?.expectedPods === 5 && p.status.currentHealthy === 5);
  assert.equal(pdb.status?.disruptionsAllowed, 2);
});

test('a one-member cluster gets minAvailable 0 and a Warning, so a drain can evict it', async () => {
  const fake = new FakeRaftCluster(['solo-0']);
  await fake.start();
  fakes.set('solo', fake);
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'solo' }, spec: { replicas: 1, image: 'raftkv:test' } })).status, 201);
  await markReady('solo', ['solo-0']);
  await waitFor('solo-0 labelled voter', async () => (await roles(['solo-0']))[0] === 'voter');
  const pdb = await settledPdb('solo', (p) => p.status?.currentHealthy === 1);
  assert.equal(pdb.spec.minAvailable, 0);
  assert.equal(pdb.status?.disruptionsAllowed, 1);
  const events = await get<{ items: { reason: string; type: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.ok(events?.items.some((e) => e.involvedObject.name === 'solo' && e.type === 'Warning' && e.reason === 'SingleVoterDisruptable'), 'Warning event');
  assert.equal(await evict('solo-0'), 201);
});
