// Operator tier: the real operator against a real kube-apiserver + etcd (no kubelet, so no pods);
// members are fakes served over HTTP on 127.0.0.1 and reached through the operator's memberUrl hook.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { Operator } from '../../operator/src/operator.js';
import type { OperatorOptions } from '../../operator/src/operator.js';
import type { Logger } from '../../operator/src/controllers/raftcluster.js';
import type { RaftCluster } from '../../operator/src/api/types.js';
import { FakeRaftCluster } from './fake-members.js';

const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const STS = '/apis/apps/v1/namespaces/default/statefulsets';
const WAIT_MS = 30_000;

let cp: KubeControlPlane;
const logLines: string[] = [];
const log: Logger = {
  info: (o, msg) => logLines.push(`INFO ${msg ?? ''} ${JSON.stringify(o)}`),
  warn: (o, msg) => logLines.push(`WARN ${msg ?? ''} ${JSON.stringify(o)}`),
  error: (o, msg) => logLines.push(`ERROR ${msg ?? ''} ${JSON.stringify(o)}`),
};
const fakes = new Map<string, FakeRaftCluster>();

function operatorOptions(identity: string, over: Partial<OperatorOptions> = {}): OperatorOptions {
  return {
    kubeConfig: cp.kubeConfig(), namespaces: ['default'], identity, log,
    lease: { name: 'raftkv-operator-test', namespace: 'default', durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
    memberUrl: (c, member) => fakes.get(c.metadata.name)?.urlOf(member) ?? 'http://127.0.0.1:1',
    memberClient: { requestTimeoutMs: 1000, maxRedirects: 3 },
    raftCluster: { pollIntervalMs: 500, stepRequeueMs: 100, learnerMaxLagEntries: 10 },
    ...over,
  };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}\n${logLines.slice(-15).join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function getJson<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

function newCluster(name: string, replicas: number): object {
  return { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name }, spec: { replicas, image: 'raftkv:test' } };
}

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  console.log(`# control plane (etcd + kube-apiserver) ready in ${cp.setupMs} ms`);
});

after(async () => {
  await cp?.stop();
  for (const f of fakes.values()) await f.stop();
});

describe('CRD validation', () => {
  test('rejects even and out-of-range replicas, applies defaults to a valid one', async () => {
    for (const replicas of [2, 4, 0, 11, -1]) {
      const r = await cp.request('POST', CR, newCluster(`bad-${replicas < 0 ? 'neg' : replicas}`, replicas));
      assert.equal(r.status, 422, `replicas=${replicas} should be rejected: ${JSON.stringify(r.body)}`);
    }
    const even = await cp.request('POST', CR, newCluster('even', 4));
    assert.match(JSON.stringify(even.body), /replicas must be odd/);
    const ok = await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'defaults' }, spec: { image: 'raftkv:test' } });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const spec = (ok.body as RaftCluster).spec;
    assert.equal(spec.replicas, 3);
    assert.equal(spec.storage.size, '1Gi');
    assert.deepEqual(spec.raft, { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 10000 });
    const badRaft = await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'badraft' }, spec: { image: 'x', raft: { electionTimeoutMs: 100, heartbeatIntervalMs: 100 } } });
    assert.equal(badRaft.status, 422);
    const drill = await cp.request('POST', '/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills', { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name: 'd' }, spec: { clusterRef: { name: 'x' }, action: 'Nuke' } });
    assert.equal(drill.status, 422);
    // Even replicas through the scale subresource are rejected as well.
    const scale = await cp.request('PATCH', `${CR}/defaults/scale`, { spec: { replicas: 4 } }, 'application/merge-patch+json');
    assert.equal(scale.status, 422, JSON.stringify(scale.body));
    await cp.request('DELETE', `${CR}/defaults`);
  });
});

describe('RaftCluster lifecycle', () => {
  test('objects with owner refs, status, scale 3→5→3 through membership calls, refusal without quorum, finalizer cleanup', async () => {
    const fake = new FakeRaftCluster(['kv-0', 'kv-1', 'kv-2']);
    await fake.start();
    fakes.set('kv', fake);
    // Snapshot the StatefulSet's replicas at each membership call: a pod must exist before its member is added.
    const stsAtCall: string[] = [];
    const op = new Operator(operatorOptions('solo', { metricsPort: 0, metricsHost: '127.0.0.1' }));
    await op.start();
    try {
      const created = await cp.request('POST', CR, newCluster('kv', 3));
      assert.equal(created.status, 201);
      const uid = (created.body as RaftCluster).metadata.uid;
      const owned = ['/api/v1/namespaces/default/services/kv', '/api/v1/namespaces/default/services/kv-peer', '/api/v1/namespaces/default/configmaps/kv-config',
        '/apis/policy/v1/namespaces/default/poddisruptionbudgets/kv', `${STS}/kv`];
      for (const p of owned) {
        const obj = await waitFor(p, () => getJson<{ metadata: { ownerReferences?: { uid: string; controller?: boolean }[]; managedFields?: { manager: string }[] } }>(p));
        assert.equal(obj.metadata.ownerReferences?.[0]?.uid, uid, `${p} owner`);
        assert.equal(obj.metadata.ownerReferences?.[0]?.controller, true);
        assert.ok(obj.metadata.managedFields?.some((f) => f.manager === 'raftkv-operator'), `${p} applied by raftkv-operator`);
      }
      const sts = await getJson<{ spec: { replicas: number } }>(`${STS}/kv`);
      assert.equal(sts?.spec.replicas, 3);
      const running = await waitFor('status Running', async () => {
        const c = await getJson<RaftCluster>(`${CR}/kv`);
        return c?.status?.phase === 'Running' ? c : undefined;
      });
      assert.ok(running.metadata.finalizers?.includes('raftkv.dev/cleanup'));
      assert.equal(running.status?.leader, 'kv-0');
      assert.equal(running.status?.term, 1);
      assert.equal(running.status?.replicas, 3);
      assert.equal(running.status?.readyReplicas, 3);
      assert.equal(running.status?.selector, 'app.kubernetes.io/name=raftkv,app.kubernetes.io/instance=kv');
      assert.equal(running.status?.observedGeneration, 1);
      assert.deepEqual(running.status?.members?.map((m) => [m.name, m.role, m.voter, m.healthy]), [['kv-0', 'leader', true, true], ['kv-1', 'follower', true, true], ['kv-2', 'follower', true, true]]);
      const cond = new Map((running.status?.conditions ?? []).map((c) => [c.type, c]));
      assert.equal(cond.get('Available')?.status, 'True');
      assert.equal(cond.get('Degraded')?.status, 'False');
      assert.equal(cond.get('Progressing')?.reason, 'Settled');
      // Status is written only when it changes: a settled cluster polled several times keeps its resourceVersion.
      const rv = running.metadata.resourceVersion;
      await new Promise((r) => setTimeout(r, 1600));
      assert.equal((await getJson<RaftCluster>(`${CR}/kv`))?.metadata.resourceVersion, rv, 'no status write while nothing changed');
      const cm = await waitFor('ConfigMap says existing', async () => {
        const x = await getJson<{ data: Record<string, string> }>('/api/v1/namespaces/default/configmaps/kv-config');
        return x?.data['initial-cluster-state'] === 'existing' ? x : undefined;
      });
      assert.equal(cm?.data['initial-cluster-state'], 'existing', 'bootstrap done: later members join');
      assert.match(cm?.data['initial-cluster'] ?? '', /^kv-0=kv-0\.kv-peer\.default\.svc:2380,kv-1=.*,kv-2=/);

      // Scale 3 → 5 through the scale subresource.
      fake.onCall = (call) => {
        void getJson<{ spec: { replicas: number } }>(`${STS}/kv`).then((s) => stsAtCall.push(`${call} sts=${s?.spec.replicas ?? '?'}`));
      };
      const scaled = await cp.request('PATCH', `${CR}/kv/scale`, { spec: { replicas: 5 } }, 'application/merge-patch+json');
      assert.equal(scaled.status, 200, JSON.stringify(scaled.body));
      await waitFor('5 voters and Running', async () => {
        const c = await getJson<RaftCluster>(`${CR}/kv`);
        return fake.voters().length === 5 && c?.status?.phase === 'Running' && c.status.replicas === 5;
      });
      assert.deepEqual(fake.calls, ['add kv-3', 'promote kv-3', 'add kv-4', 'promote kv-4']);
      assert.equal((await getJson<{ spec: { replicas: number } }>(`${STS}/kv`))?.spec.replicas, 5);
      await waitFor('sts snapshots', async () => stsAtCall.length === 4);
      assert.ok(stsAtCall.includes('add kv-3 sts=4') && stsAtCall.includes('add kv-4 sts=5'), `pods exist before their members are added: ${stsAtCall.join('; ')}`);

      // Scale 5 → 3 with the leader on the highest ordinal: transfer first, then remove, then shrink.
      fake.leader = 'kv-4';
      fake.term = 2;
      fake.calls.length = 0;
      const down = await cp.request('PATCH', `${CR}/kv`, { spec: { replicas: 3 } }, 'application/merge-patch+json');
      assert.equal(down.status, 200);
      await waitFor('3 voters, 3 pods, Running', async () => {
        const c = await getJson<RaftCluster>(`${CR}/kv`);
        const s = await getJson<{ spec: { replicas: number } }>(`${STS}/kv`);
        return fake.voters().length === 3 && s?.spec.replicas === 3 && c?.status?.phase === 'Running' && c.status.replicas === 3;
      });
      assert.equal(fake.calls[0], 'transfer kv-4->kv-0');
      assert.deepEqual(fake.calls.slice(1), ['remove kv-4', 'remove kv-3']);
      const afterDown = await getJson<RaftCluster>(`${CR}/kv`);
      assert.equal(afterDown?.status?.leader, 'kv-0');
      assert.equal(afterDown?.status?.term, 3);

      // Lose a quorum: status says so, and a scale request is refused with the reason.
      fake.calls.length = 0;
      const m1 = fake.members.get('kv-1');
      const m2 = fake.members.get('kv-2');
      assert.ok(m1 !== undefined && m2 !== undefined);
      m1.up = false;
      m2.up = false;
      await cp.request('PATCH', `${CR}/kv`, { spec: { replicas: 5 } }, 'application/merge-patch+json');
      const degraded = await waitFor('NoQuorum refusal', async () => {
        const c = await getJson<RaftCluster>(`${CR}/kv`);
        const p = c?.status?.conditions?.find((x) => x.type === 'Progressing');
        return p?.reason === 'NoQuorum' ? c : undefined;
      });
      assert.equal(degraded.status?.conditions?.find((x) => x.type === 'Available')?.status, 'False');
      assert.equal(degraded.status?.phase, 'Degraded');
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(fake.calls, [], 'no membership change without a quorum');
      assert.equal((await getJson<{ spec: { replicas: number } }>(`${STS}/kv`))?.spec.replicas, 3);
      const events = await getJson<{ items: { reason: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
      const reasons = new Set(events?.items.filter((e) => e.involvedObject.name === 'kv').map((e) => e.reason));
      for (const r of ['Bootstrap', 'ScaleStatefulSet', 'AddLearner', 'PromoteLearner', 'TransferLeadership', 'RemoveMember', 'NoQuorum']) assert.ok(reasons.has(r), `event ${r} in ${[...reasons].join(',')}`);

      // Metrics on the operator's own registry.
      const metrics = await (await fetch(`http://127.0.0.1:${op.metricsPort ?? 0}/metrics`)).text();
      assert.match(metrics, /raftkv_operator_reconciles_total\{controller="raftcluster",result="requeue"\} [1-9]/);
      assert.match(metrics, /raftkv_operator_is_leader 1/);
      assert.equal((await fetch(`http://127.0.0.1:${op.metricsPort ?? 0}/healthz`)).status, 200);

      // Delete: the finalizer removes owned objects, then lets the RaftCluster go.
      const del = await cp.request('DELETE', `${CR}/kv`);
      assert.equal(del.status, 200);
      await waitFor('RaftCluster gone', async () => (await cp.request('GET', `${CR}/kv`)).status === 404);
      for (const p of owned) assert.equal((await cp.request('GET', p)).status, 404, `${p} deleted`);
    } finally {
      await op.stop();
    }
  });
});

describe('leader election', () => {
  test('two operators: only the lease holder reconciles; the standby takes over when it stops', async () => {
    const fake = new FakeRaftCluster(['le-0']);
    await fake.start();
    fakes.set('le', fake);
    const a = new Operator(operatorOptions('op-a'));
    const b = new Operator(operatorOptions('op-b'));
    await a.start();
    await waitFor('a leads', async () => a.isActive);
    await b.start();
    try {
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(a.isActive, true);
      assert.equal(b.isActive, false, 'standby must not act while the lease is held');
      assert.equal((await cp.request('POST', CR, newCluster('le', 1))).status, 201);
      await waitFor('a reconciles le', async () => (await getJson<RaftCluster>(`${CR}/le`))?.status?.phase === 'Running');
      assert.equal(b.reconciles, 0, 'standby reconciled nothing');
      const lease = await getJson<{ spec: { holderIdentity: string } }>('/apis/coordination.k8s.io/v1/namespaces/default/leases/raftkv-operator-test');
      assert.equal(lease?.spec.holderIdentity, 'op-a');
      await a.stop();
      await waitFor('b takes over', async () => b.isActive, 10_000);
      // b now acts: a scale is carried out by it.
      const before = b.reconciles;
      await cp.request('PATCH', `${CR}/le`, { spec: { replicas: 3 } }, 'application/merge-patch+json');
      await waitFor('b scales le to 3', async () => fake.voters().length === 3);
      assert.ok(b.reconciles > before);
      await cp.request('DELETE', `${CR}/le`);
      await waitFor('le gone', async () => (await cp.request('GET', `${CR}/le`)).status === 404);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
