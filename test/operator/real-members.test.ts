// The operator driving REAL raftkv members (processes on 127.0.0.1). No kubelet runs, so the test
// plays it: it starts member kv-i for every ordinal below the StatefulSet's replicas (bootstrap
// members with --initial-cluster-state new, later ones with existing and an empty data dir) and
// SIGTERMs members above it. This checks the membership calls against the real cluster API.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { LocalMembers } from '../lib/local-members.js';
import { Operator } from '../../operator/src/operator.js';
import type { RaftCluster } from '../../operator/src/api/types.js';
import { MemberClient } from '../../operator/src/member-client/client.js';

const DAEMON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'daemon', 'src', 'main.js');
const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const MAX_MEMBERS = 5;
let cp: KubeControlPlane;
let op: Operator | undefined;
const dataRoot = mkdtempSync(join(tmpdir(), 'raftkv-op-real-'));
const local = new LocalMembers('http');
const procs = local.procs;
let kubelet: NodeJS.Timeout | undefined;

const clientUrl = (m: string): string => local.clientUrl(m);
const peerAddr = (m: string): string => local.peerAddr(m);

function startMember(i: number, state: 'new' | 'existing'): void {
  const name = `kv-${i}`;
  const initial = [0, 1, 2].map((j) => `kv-${j}=${peerAddr(`kv-${j}`)}`).join(',');
  const child = spawn(process.execPath, [DAEMON, '--name', name, '--data-dir', join(dataRoot, name), '--listen-client', clientUrl(name), '--listen-peer', peerAddr(name),
    '--initial-cluster', initial, '--initial-cluster-state', state, '--election-timeout-ms', '1000', '--heartbeat-interval-ms', '100', '--log-level', 'warn', '--enable-fault-injection'], { stdio: 'ignore' });
  procs.set(name, child);
}

const stopMember = (name: string): Promise<void> => local.stop(name);

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  await local.allocate(Array.from({ length: MAX_MEMBERS }, (_, i) => `kv-${i}`));
});

after(() => local.teardown({ kubelet, op, cp, dir: dataRoot }));

test('scale 3→5→3 with real raftkv members: learners join, get promoted, are removed; data survives', async () => {
  // The "kubelet + StatefulSet controller": pods follow the StatefulSet's replicas.
  let busy = false;
  kubelet = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const r = await cp.request('GET', '/apis/apps/v1/namespaces/default/statefulsets/kv');
      const replicas = r.status === 200 ? ((r.body as { spec: { replicas: number } }).spec.replicas) : 0;
      for (let i = 0; i < MAX_MEMBERS; i++) {
        const name = `kv-${i}`;
        if (i < replicas && !procs.has(name)) {
          // A scaled-away member's PVC is deleted: it comes back with an empty data dir.
          if (i >= 3) rmSync(join(dataRoot, name), { recursive: true, force: true });
          startMember(i, i < 3 ? 'new' : 'existing');
        } else if (i >= replicas && procs.has(name)) await stopMember(name);
      }
    })().finally(() => { busy = false; });
  }, 200);
  op = new Operator(local.operatorOptions(cp.kubeConfig(), 'real-op', { memberClient: { requestTimeoutMs: 3000, maxRedirects: 3 } }));
  await op.start();
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'kv' }, spec: { replicas: 3, image: 'raftkv:test', chaos: { allowDestructive: true } } })).status, 201);
  const waitCluster = async (what: string, ok: (c: RaftCluster) => boolean, timeoutMs = 90_000): Promise<RaftCluster> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = (await cp.request('GET', `${CR}/kv`)).body as RaftCluster;
      if (ok(c)) return c;
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}: ${JSON.stringify(c.status)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const three = await waitCluster('3 members Running', (c) => c.status?.phase === 'Running' && c.status.replicas === 3);
  assert.ok(three.status?.leader?.startsWith('kv-'));
  const any = new MemberClient(clientUrl('kv-1'));
  await any.put('before-scale', 'v1');

  assert.equal((await cp.request('PATCH', `${CR}/kv/scale`, { spec: { replicas: 5 } }, 'application/merge-patch+json')).status, 200);
  const five = await waitCluster('5 voters Running', (c) => c.status?.phase === 'Running' && c.status.replicas === 5 && (c.status.members ?? []).every((m) => m.voter && m.healthy));
  assert.deepEqual(five.status?.members?.map((m) => m.name).sort(), ['kv-0', 'kv-1', 'kv-2', 'kv-3', 'kv-4']);
  const st = await new MemberClient(clientUrl('kv-4')).status();
  assert.equal(st.members.filter((m) => m.voter).length, 5, 'the real cluster has 5 voters');
  assert.equal(await new MemberClient(clientUrl('kv-4')).get('before-scale'), 'v1', 'a joined member serves earlier data');

  assert.equal((await cp.request('PATCH', `${CR}/kv`, { spec: { replicas: 3 } }, 'application/merge-patch+json')).status, 200);
  await waitCluster('3 voters Running again', (c) => c.status?.phase === 'Running' && c.status.replicas === 3);
  const st3 = await new MemberClient(clientUrl('kv-0')).status();
  assert.deepEqual(st3.members.map((m) => m.name).sort(), ['kv-0', 'kv-1', 'kv-2']);
  await any.put('after-scale', 'v2');
  assert.equal(await new MemberClient(clientUrl('kv-2')).get('before-scale'), 'v1');
  // This file plays the kubelet in a loop of its own: it stops a removed member's process once it
  // sees the smaller StatefulSet, which may come a moment after the status above (bounded wait).
  const goneBy = Date.now() + 15_000;
  while ((procs.has('kv-3') || procs.has('kv-4')) && Date.now() < goneBy) await new Promise((r) => setTimeout(r, 100));
  assert.ok(!procs.has('kv-3') && !procs.has('kv-4'), 'pods of removed members are gone');
});

test('PartitionLeader drill on real members: a new leader takes over, no acknowledged write is lost', async () => {
  assert.equal((await cp.request('POST', '/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills', {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name: 'part' },
    spec: { clusterRef: { name: 'kv' }, action: 'PartitionLeader', duration: '4s', probe: { writesPerSecond: 20 }, expect: { maxUnavailableSeconds: 10 } },
  })).status, 201);
  const deadline = Date.now() + 90_000;
  for (;;) {
    const d = (await cp.request('GET', '/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills/part')).body as { status?: Record<string, unknown> };
    const phase = d.status?.['phase'];
    if (phase === 'Succeeded' || phase === 'Failed') {
      console.log(`# drill status: ${JSON.stringify({ ...d.status, conditions: undefined })}`);
      assert.equal(phase, 'Succeeded', String(d.status?.['message']));
      assert.equal(d.status?.['lostWrites'], 0);
      assert.ok(Number(d.status?.['acknowledgedWrites']) > 20);
      assert.notEqual(d.status?.['leaderAfter'], d.status?.['leaderBefore'], 'the partitioned leader lost its leadership');
      assert.ok(Number(d.status?.['termAfter']) > Number(d.status?.['termBefore']));
      return;
    }
    assert.ok(Date.now() < deadline, `drill did not finish: ${JSON.stringify(d.status)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
});
