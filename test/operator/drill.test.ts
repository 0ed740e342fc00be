// RaftChaosDrill against a real kube-apiserver with fake members: the probe, the fault call, the
// read-back and the verdict, including a planted data-loss bug the drill must catch.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { Operator } from '../../operator/src/operator.js';
import type { RaftChaosDrill, RaftCluster } from '../../operator/src/api/types.js';
import { FakeRaftCluster } from './fake-members.js';

const NS = '/apis/raftkv.dev/v1alpha1/namespaces/default';
let cp: KubeControlPlane;
let op: Operator;
const fakes = new Map<string, FakeRaftCluster>();
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startCluster(cluster: string, fake: FakeRaftCluster, allowDestructive = true): Promise<void> {
  fakes.set(cluster, fake);
  await fake.start();
  assert.equal((await cp.request('POST', `${NS}/raftclusters`, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: cluster }, spec: { replicas: 3, image: 'raftkv:test', enableFaultInjection: true, ...(allowDestructive ? { chaos: { allowDestructive: true } } : {}) } })).status, 201);
  await waitFor('cluster Running', async () => {
    const r = await cp.request('GET', `${NS}/raftclusters/${cluster}`);
    return (r.body as RaftCluster).status?.phase === 'Running' ? true : undefined;
  });
}

async function createDrill(cluster: string, name: string, action: string, duration = '2s'): Promise<void> {
  const created = await cp.request('POST', `${NS}/raftchaosdrills`, {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name },
    spec: { clusterRef: { name: cluster }, action, duration, probe: { writesPerSecond: 20 }, expect: { maxUnavailableSeconds: 5 } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

async function drillDone(name: string): Promise<RaftChaosDrill> {
  return waitFor('drill finished', async () => {
    const d = (await cp.request('GET', `${NS}/raftchaosdrills/${name}`)).body as RaftChaosDrill;
    return d.status?.phase === 'Succeeded' || d.status?.phase === 'Failed' || d.status?.phase === 'Aborted' ? d : undefined;
  });
}

async function runDrill(cluster: string, name: string, action: string, fake: FakeRaftCluster): Promise<RaftChaosDrill> {
  await startCluster(cluster, fake);
  await createDrill(cluster, name, action);
  return drillDone(name);
}

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  console.log(`# control plane ready in ${cp.setupMs} ms`);
  op = new Operator({
    kubeConfig: cp.kubeConfig(), namespaces: ['default'], identity: 'drill-op', log: quiet,
    lease: { name: 'drill-op', namespace: 'default', durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
    memberUrl: (c, m) => fakes.get(c.metadata.name)?.urlOf(m) ?? 'http://127.0.0.1:1',
    memberClient: { requestTimeoutMs: 1000, maxRedirects: 3 },
    raftCluster: { pollIntervalMs: 500, stepRequeueMs: 100, learnerMaxLagEntries: 10 },
    drill: { maxDurationMs: 60_000, maxProbeWrites: 10_000, recoveryTimeoutMs: 10_000, keyPrefix: 'drill' },
  });
  await op.start();
});

after(async () => {
  await op?.stop();
  await cp?.stop();
  for (const f of fakes.values()) await f.stop();
});

test('PartitionLeader: fault sent to the leader, leadership moves, every acknowledged write read back', async () => {
  const fake = new FakeRaftCluster(['pa-0', 'pa-1', 'pa-2']);
  const d = await runDrill('pa', 'partition', 'PartitionLeader', fake);
  assert.equal(d.status?.phase, 'Succeeded', d.status?.message);
  assert.equal(d.status?.leaderBefore, 'pa-0');
  assert.equal(d.status?.termBefore, 1);
  assert.equal(d.status?.leaderAfter, 'pa-1');
  assert.equal(d.status?.termAfter, 2);
  assert.ok((d.status?.acknowledgedWrites ?? 0) >= 10, `acknowledged ${d.status?.acknowledgedWrites}`);
  assert.equal(d.status?.lostWrites, 0);
  assert.ok((d.status?.unavailableMs ?? -1) >= 0 && (d.status?.unavailableMs ?? 99999) < 5000);
  assert.ok(d.status?.startedAt !== undefined && d.status.finishedAt !== undefined);
  assert.equal(d.status?.conditions?.find((c) => c.type === 'Complete')?.reason, 'Recovered');
  assert.ok(fake.calls.includes('faults pa-0 drop=true'), fake.calls.join(', '));
  assert.ok(fake.calls.includes('faults pa-0 drop=false'), 'fault lifted after the duration');
  assert.deepEqual([...fake.kv.keys()].filter((k) => k.startsWith('drill/')), [], 'probe keys deleted after the read-back');
});

test('a drill fails when acknowledged writes are lost (planted bug in the fake)', async () => {
  const fake = new FakeRaftCluster(['lo-0', 'lo-1', 'lo-2']);
  fake.loseEveryNthWrite = 7;
  const d = await runDrill('lo', 'lossy', 'IsolateFollower', fake);
  assert.equal(d.status?.phase, 'Failed');
  assert.ok((d.status?.lostWrites ?? 0) > 0);
  assert.equal(d.status?.conditions?.find((c) => c.type === 'Complete')?.reason, 'WritesLost');
  assert.ok(fake.calls.includes('faults lo-1 drop=true'), fake.calls.join(', '));
});

test('a drill that injects a failure needs spec.chaos.allowDestructive: without it, Failed at once and nothing injected', async () => {
  const fake = new FakeRaftCluster(['nd-0', 'nd-1', 'nd-2']);
  await startCluster('nd', fake, false);
  for (const action of ['PartitionLeader', 'KillFollower']) {
    const name = `nd-${action.toLowerCase()}`;
    await createDrill('nd', name, action);
    const d = await drillDone(name);
    assert.equal(d.status?.phase, 'Failed');
    assert.equal(d.status?.conditions?.find((c) => c.type === 'Complete')?.reason, 'DestructiveNotAllowed');
    assert.match(d.status?.message ?? '', new RegExp(`${action} injects a failure and RaftCluster nd does not allow that: set spec.chaos.allowDestructive: true`));
    assert.equal(d.status?.acknowledgedWrites, undefined, 'no probe ran');
  }
  assert.deepEqual(fake.calls, [], 'no fault, no membership call');
  assert.equal(fake.kv.size, 0, 'no probe key written');
  // Opting in lets the same drill run.
  assert.equal((await cp.request('PATCH', `${NS}/raftclusters/nd`, { spec: { chaos: { allowDestructive: true } } }, 'application/merge-patch+json')).status, 200);
  await createDrill('nd', 'nd-allowed', 'PartitionLeader');
  const ok = await drillDone('nd-allowed');
  assert.equal(ok.status?.phase, 'Succeeded', ok.status?.message);
});

test('steady-state check: a drill on a cluster with a voter down is Aborted and injects nothing', async () => {
  const fake = new FakeRaftCluster(['ss-0', 'ss-1', 'ss-2']);
  await startCluster('ss', fake);
  const m2 = fake.members.get('ss-2');
  assert.ok(m2 !== undefined);
  m2.up = false;
  await createDrill('ss', 'unsteady', 'KillFollower');
  const d = await drillDone('unsteady');
  assert.equal(d.status?.phase, 'Aborted');
  assert.match(d.status?.message ?? '', /not started: .*(ss-2|not Running)/);
  assert.equal(d.status?.conditions?.find((c) => c.type === 'Complete')?.reason, 'SteadyStateNotMet');
  assert.equal(d.status?.acknowledgedWrites, undefined, 'no probe ran');
  assert.ok(!fake.calls.some((c) => c.startsWith('faults')), fake.calls.join(', '));
  m2.up = true;
});

test('one drill per cluster, and no cluster change while it runs; deleting a drill aborts it and lifts its fault', async () => {
  const fake = new FakeRaftCluster(['lk-0', 'lk-1', 'lk-2']);
  await startCluster('lk', fake);
  await createDrill('lk', 'first', 'IsolateFollower', '30s');
  await waitFor('first Running', async () => ((await cp.request('GET', `${NS}/raftchaosdrills/first`)).body as RaftChaosDrill).status?.phase === 'Running' ? true : undefined);
  await createDrill('lk', 'second', 'IsolateFollower', '1s');
  const waiting = await waitFor('second waits', async () => {
    const d = (await cp.request('GET', `${NS}/raftchaosdrills/second`)).body as RaftChaosDrill;
    return /waiting for drill default\/first/.test(d.status?.message ?? '') ? d : undefined;
  });
  assert.equal(waiting.status?.phase, 'Pending');
  // A scale request meanwhile is refused with the reason; no membership call is made.
  fake.calls.length = 0;
  await cp.request('PATCH', `${NS}/raftclusters/lk`, { spec: { replicas: 5 } }, 'application/merge-patch+json');
  await waitFor('DrillInProgress', async () => {
    const c = (await cp.request('GET', `${NS}/raftclusters/lk`)).body as RaftCluster;
    return c.status?.conditions?.find((x) => x.type === 'Progressing')?.reason === 'DrillInProgress' ? true : undefined;
  });
  assert.ok(!fake.calls.some((c) => c.startsWith('add')), fake.calls.join(', '));
  // Back to 3 so the cluster is steady (Running) again for the second drill.
  await cp.request('PATCH', `${NS}/raftclusters/lk`, { spec: { replicas: 3 } }, 'application/merge-patch+json');
  await waitFor('Running at 3', async () => (((await cp.request('GET', `${NS}/raftclusters/lk`)).body as RaftCluster).status?.phase === 'Running' ? true : undefined));
  // Delete the running drill: its fault is lifted at once (not after 30 s), its probe keys removed.
  const t0 = Date.now();
  assert.equal((await cp.request('DELETE', `${NS}/raftchaosdrills/first`)).status, 200);
  await waitFor('fault lifted', async () => (fake.calls.includes('faults lk-1 drop=false') ? true : undefined), 10_000);
  assert.ok(Date.now() - t0 < 10_000);
  await waitFor('probe keys of the aborted drill removed', async () => ([...fake.kv.keys()].some((k) => k.startsWith('drill/first/')) ? undefined : true), 10_000);
  // The lock is free: the second drill runs; after it the cluster changes again.
  const second = await drillDone('second');
  assert.equal(second.status?.phase, 'Succeeded', second.status?.message);
  await cp.request('PATCH', `${NS}/raftclusters/lk`, { spec: { replicas: 5 } }, 'application/merge-patch+json');
  await waitFor('scaled to 5 after the drills', async () => (fake.voters().length === 5 ? true : undefined));
});

test('an SLO breach aborts the drill early: the fault is lifted at once, the verdict is RecoveryTooSlow', async () => {
  const fake = new FakeRaftCluster(['sl-0', 'sl-1', 'sl-2']);
  await startCluster('sl', fake);
  const t0 = Date.now();
  const created = await cp.request('POST', `${NS}/raftchaosdrills`, {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name: 'slo' },
    spec: { clusterRef: { name: 'sl' }, action: 'IsolateFollower', duration: '60s', probe: { writesPerSecond: 20 }, expect: { maxUnavailableSeconds: 2 } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitFor('fault injected', async () => (fake.calls.includes('faults sl-1 drop=true') ? true : undefined));
  // The whole cluster stops answering for longer than the SLO, then comes back.
  for (const m of fake.members.values()) m.up = false;
  await new Promise((r) => setTimeout(r, 3500));
  for (const m of fake.members.values()) m.up = true;
  const d = await drillDone('slo');
  assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms: not aborted early (duration 60 s)`);
  assert.equal(d.status?.phase, 'Failed');
  assert.equal(d.status?.conditions?.find((c) => c.type === 'Complete')?.reason, 'RecoveryTooSlow');
  assert.match(d.status?.message ?? '', /aborted early/);
  assert.ok(fake.calls.includes('faults sl-1 drop=false'), fake.calls.join(', '));
});
