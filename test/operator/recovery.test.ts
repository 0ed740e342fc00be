// Operator tier: declarative quorum-loss recovery (spec.recovery) from 1 surviving member of 3, on a
// real kube-apiserver with kube-controller-manager (its StatefulSet controller recreates deleted
// pods and their PVCs, its PVC-protection and garbage collectors finish deletions) and REAL raftkv
// members on 127.0.0.1. No kubelet runs, so the test plays it for the member pods: a pod that
// exists runs one raftkv process whose data dir belongs to the pod's PVC (a new PVC is an empty
// volume), with the env a configMapKeyRef would give it from the cluster's ConfigMap (peer DNS
// names mapped to loopback ports), and marks the pod Running and Ready; a deleted or recreated pod
// restarts the process. The second test evicts the leader's pod through the real Eviction API with
// the operator's eviction webhook registered: refused (429) until the real leader has handed over.
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
import { pollUntil, registerEvictionWebhook } from './fake-members.js';

const DAEMON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'daemon', 'src', 'main.js');
const NS = '/api/v1/namespaces/default';
const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const NAMES = ['kv-0', 'kv-1', 'kv-2'];
const WAIT_MS = 120_000;

let cp: KubeControlPlane;
let op: Operator | undefined;
const dataRoot = mkdtempSync(join(tmpdir(), 'raftkv-op-recovery-'));
const local = new LocalMembers('http');
const logLines: string[] = [];
let kubelet: NodeJS.Timeout | undefined;
/** What runs for each pod: the pod and PVC it runs for. */
const running = new Map<string, { podUid: string; pvcUid: string }>();
/** Pods whose node is "lost": their process stays down until the pod object is replaced. */
const lostPods = new Set<string>();

interface Obj { metadata: { name: string; uid: string; deletionTimestamp?: string }; data?: Record<string, string>; status?: { phase?: string } }

async function get<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, fn, timeoutMs, logLines, 250);

/** One kubelet pass over the member pods. */
async function kubeletPass(): Promise<void> {
  const cm = await get<Obj>(`${NS}/configmaps/kv-config`);
  for (const name of NAMES) {
    const pod = await get<Obj>(`${NS}/pods/${name}`);
    const pvc = await get<Obj>(`${NS}/persistentvolumeclaims/data-${name}`);
    const cur = running.get(name);
    const want = pod !== undefined && pod.metadata.deletionTimestamp === undefined && pvc !== undefined && pvc.metadata.deletionTimestamp === undefined
      && !lostPods.has(pod.metadata.uid) && cm?.data !== undefined;
    if (cur !== undefined && (!want || cur.podUid !== pod?.metadata.uid || cur.pvcUid !== pvc?.metadata.uid)) {
      await local.stop(name);
      running.delete(name);
    }
    if (!want || running.has(name) || pod === undefined || pvc === undefined || cm?.data === undefined) continue;
    // The ConfigMap names peers by their headless-Service DNS names; here each maps to its loopback port.
    const initial = (cm.data['initial-cluster'] ?? '').split(',').map((p) => p.split('=')[0] ?? '').map((n) => `${n}=${local.peerAddr(n)}`).join(',');
    const env: Record<string, string> = { ...process.env as Record<string, string>, RAFTKV_INITIAL_CLUSTER: initial, RAFTKV_INITIAL_CLUSTER_STATE: cm.data['initial-cluster-state'] ?? 'new' };
    const forceId = cm.data['force-new-cluster-id'];
    const forceMember = cm.data['force-new-cluster-member'];
    if (forceId !== undefined) env['RAFTKV_FORCE_NEW_CLUSTER_ID'] = forceId;
    if (forceMember !== undefined) env['RAFTKV_FORCE_NEW_CLUSTER_MEMBER'] = forceMember;
    const child = spawn(process.execPath, [DAEMON, '--name', name, '--data-dir', join(dataRoot, pvc.metadata.uid), '--listen-client', local.clientUrl(name), '--listen-peer', local.peerAddr(name),
      '--cluster-token', 'kv.default', '--election-timeout-ms', '1000', '--heartbeat-interval-ms', '100', '--log-level', 'warn', '--enable-fault-injection'], { env, stdio: 'ignore' });
    local.procs.set(name, child);
    running.set(name, { podUid: pod.metadata.uid, pvcUid: pvc.metadata.uid });
    // Ready as soon as it runs (the PDB counts Ready pods; the operator's own health comes from /v1/status).
    await cp.request('PATCH', `${NS}/pods/${name}/status`, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
  }
}

before(async () => {
  cp = await startKubeControlPlane({ controllerManager: true });
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  await local.allocate(NAMES);
  const webhook = await registerEvictionWebhook(cp, 'recovery-eviction');
  let busy = false;
  kubelet = setInterval(() => {
    if (busy) return;
    busy = true;
    void kubeletPass().catch(() => undefined).finally(() => { busy = false; });
  }, 200);
  const line = (level: string) => (o: object, m?: string): void => { logLines.push(`${level} ${m ?? ''} ${JSON.stringify(o)}`); };
  op = new Operator(local.operatorOptions(cp.kubeConfig(), 'recovery-op', {
    log: { info: line('INFO'), warn: line('WARN'), error: line('ERROR') }, evictionWebhook: webhook,
  }));
  await op.start();
});

after(() => local.teardown({ kubelet, op, cp, dir: dataRoot }));

/** PUT through any live member, retried while an election runs; the revision index it committed at. */
async function put(key: string, value: string, via: readonly string[]): Promise<number> {
  return waitFor(`put ${key}`, async () => {
    for (const m of via) {
      try {
        return (await new MemberClient(local.clientUrl(m), { requestTimeoutMs: 2000, maxRedirects: 3 }).put(key, value)).index;
      } catch { /* election under way or member down: next */ }
    }
    return undefined;
  }, 30_000);
}

test('spec.recovery: 1 survivor of 3 (its peers lost with their disks) becomes 3 voters serving; status says what was at risk', { timeout: 600_000 }, async () => {
  assert.equal((await cp.request('POST', CR, {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'kv' },
    spec: { replicas: 3, image: 'raftkv:test', enableFaultInjection: true, replaceUnhealthyAfterSeconds: 0 },
  })).status, 201);
  const cluster = (): Promise<RaftCluster | undefined> => get<RaftCluster>(`${CR}/kv`);
  await waitFor('3 voters Running', async () => {
    const c = await cluster();
    return c?.status?.phase === 'Running' && c.status.members?.length === 3 && c.status.members.every((m) => m.voter && m.healthy);
  });
  for (let i = 0; i < 20; i++) await put(`before/${i}`, `v${i}`, NAMES);

  // kv-0 is cut off; the other two keep committing writes it never gets. The operator sees their
  // applied index go past kv-0's before they are lost.
  await new MemberClient(local.clientUrl('kv-0')).setFaults({ dropPeerTraffic: true });
  let lastAcked = 0;
  for (let i = 0; i < 10; i++) lastAcked = await put(`only-on-lost/${i}`, `x${i}`, ['kv-1', 'kv-2']);
  const seen = await waitFor('the operator saw kv-1 and kv-2 at the last write', async () => {
    const c = await cluster();
    const ms = c?.status?.members ?? [];
    return ['kv-1', 'kv-2'].every((n) => (ms.find((m) => m.name === n)?.appliedIndex ?? 0) >= lastAcked) ? c : undefined;
  });
  const kv0Applied = (await new MemberClient(local.clientUrl('kv-0')).status()).lastIndex;
  assert.ok(kv0Applied < lastAcked, `kv-0 (last index ${kv0Applied}) lacks the writes up to ${lastAcked}`);
  assert.ok(seen.status?.members?.some((m) => m.name === 'kv-0'));

  // The nodes of kv-1 and kv-2 are lost with their disks: processes killed, data dirs gone, pods stuck.
  for (const n of ['kv-1', 'kv-2']) {
    const r = running.get(n);
    assert.ok(r !== undefined);
    const pod = await get<Obj>(`${NS}/pods/${n}`);
    lostPods.add(pod?.metadata.uid ?? '');
    const proc = local.procs.get(n);
    if (proc?.pid !== undefined) process.kill(proc.pid, 'SIGKILL');
    await local.stop(n);
    running.delete(n);
    rmSync(join(dataRoot, r.pvcUid), { recursive: true, force: true });
  }
  await new MemberClient(local.clientUrl('kv-0')).setFaults({ dropPeerTraffic: false });
  const lost = await waitFor('quorum loss in status (stale member view)', async () => {
    const c = await cluster();
    return c?.status?.membersStaleSince !== undefined && c.status.conditions?.some((x) => x.type === 'Available' && x.status === 'False') ? c : undefined;
  });
  assert.equal(lost.status?.recovery, undefined, 'nothing happens without the approval');
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal((await cluster())?.status?.recovery, undefined, 'still nothing after 2 s');

  const t0 = Date.now();
  assert.equal((await cp.request('PATCH', `${CR}/kv`, { spec: { recovery: { forceNewCluster: true } } }, 'application/merge-patch+json')).status, 200);
  const done = await waitFor('3 voters Running after the recovery', async () => {
    const c = await cluster();
    const ok = c?.status?.recovery?.phase === 'Succeeded' && c.status.phase === 'Running' && c.status.members?.length === 3
      && c.status.members.every((m) => m.voter && m.healthy) && c.spec.recovery === undefined;
    return ok ? c : undefined;
  }, 180_000);
  const tookMs = Date.now() - t0;
  const rec = done.status?.recovery;
  console.log(`# recovery took ${tookMs} ms: ${JSON.stringify(rec)}`);
  assert.ok(rec !== undefined);
  assert.equal(rec.survivor, 'kv-0');
  assert.deepEqual(rec.wiped.sort(), ['kv-1', 'kv-2']);
  assert.deepEqual(rec.lostMembers.map((m) => m.name).sort(), ['kv-1', 'kv-2']);
  for (const m of rec.lostMembers) assert.ok((m.lastKnownAppliedIndex ?? 0) >= lastAcked, `${m.name} last seen at ${m.lastKnownAppliedIndex ?? '?'}`);
  assert.ok(rec.survivorLastIndex < lastAcked);
  assert.ok(rec.entriesAtRisk >= 10, `at least the 10 writes only the lost members held: ${rec.entriesAtRisk}`);

  // The three members form one cluster led from the survivor's data; the new members hold it too.
  const st = await new MemberClient(local.clientUrl('kv-2')).status();
  assert.deepEqual(st.members.filter((m) => m.voter).map((m) => m.name).sort(), NAMES);
  for (const m of NAMES) assert.equal(await new MemberClient(local.clientUrl(m)).get('before/19'), 'v19', `${m} serves the survivor's data`);
  assert.equal(await new MemberClient(local.clientUrl('kv-1')).get('only-on-lost/9'), undefined, 'what only the lost members held is gone, as status said');
  await put('after/1', 'ok', NAMES);
  assert.equal(await new MemberClient(local.clientUrl('kv-0')).get('after/1'), 'ok');

  const events = await get<{ items: { reason: string; type: string; message: string; involvedObject: { name: string } }[] }>(`${NS}/events`);
  const reasons = (events?.items ?? []).filter((e) => e.involvedObject.name === 'kv').map((e) => e.reason);
  for (const r of ['RecoveryStarted', 'ForceNewCluster', 'RecoverySucceeded']) assert.ok(reasons.includes(r), `Event ${r} (got ${reasons.join(', ')})`);

  const cm = await get<Obj>(`${NS}/configmaps/kv-config`);
  assert.equal(cm?.data?.['force-new-cluster-id'], undefined, 'the recovery keys are removed when done');
  // The survivor's pod restarting later is an ordinary restart: it stays one voter of three.
  assert.equal((await cp.request('DELETE', `${NS}/pods/kv-0`)).status, 200);
  await waitFor('kv-0 restarted, 3 voters healthy', async () => {
    const r = running.get('kv-0');
    const pod = await get<Obj>(`${NS}/pods/kv-0`);
    if (r === undefined || pod === undefined || r.podUid !== pod.metadata.uid) return false;
    const s0 = await new MemberClient(local.clientUrl('kv-0')).status().catch(() => undefined);
    return s0 !== undefined && s0.leader !== null && s0.members.filter((m) => m.voter).length === 3;
  });
  assert.equal(await new MemberClient(local.clientUrl('kv-0')).get('after/1'), 'ok');
});

test('evicting the pod of the real leader: 429 while the operator moves leadership, accepted after; the cluster keeps serving', { timeout: 300_000 }, async () => {
  const cluster = (): Promise<RaftCluster | undefined> => get<RaftCluster>(`${CR}/kv`);
  const settled = await waitFor('3 healthy voters', async () => {
    const c = await cluster();
    return c?.status?.phase === 'Running' && c.status.members?.length === 3 && c.status.members.every((m) => m.voter && m.healthy) ? c : undefined;
  });
  await waitFor('PDB allows one voter eviction', async () => {
    const p = await get<{ metadata: { generation: number }; status?: { observedGeneration?: number; disruptionsAllowed?: number } }>('/apis/policy/v1/namespaces/default/poddisruptionbudgets/kv');
    return p?.status?.observedGeneration === p?.metadata.generation && p?.status?.disruptionsAllowed === 1;
  });
  const leader = settled.status?.leader ?? '';
  assert.ok(NAMES.includes(leader), `leader ${leader}`);
  const evict = async (): Promise<{ status: number; message: string }> => {
    const r = await cp.request('POST', `${NS}/pods/${leader}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: leader, namespace: 'default' } });
    return { status: r.status, message: String((r.body as { message?: string }).message ?? '') };
  };
  const t0 = Date.now();
  const refused = await evict();
  assert.equal(refused.status, 429, refused.message);
  assert.match(refused.message, new RegExp(`pod ${leader} runs the leader of RaftCluster default/kv: the raftkv operator is moving leadership`));
  const accepted = await waitFor('the retried eviction accepted', async () => {
    const r = await evict();
    if (r.status === 201) return r;
    assert.equal(r.status, 429, r.message);
    await new Promise((res) => setTimeout(res, 300));
    return undefined;
  }, 30_000);
  const tookMs = Date.now() - t0;
  assert.equal(accepted.status, 201);
  const others = NAMES.filter((n) => n !== leader);
  const after = await new MemberClient(local.clientUrl(others[0] ?? '')).status();
  assert.ok(after.leader !== null && after.leader.name !== leader, `leadership moved before the eviction (now ${after.leader?.name ?? 'none'})`);
  console.log(`# real leader ${leader}: eviction refused, accepted ${tookMs} ms later; new leader ${after.leader?.name ?? '?'} (term ${after.term})`);
  const oldUid = running.get(leader)?.podUid;
  await put('after-eviction', 'ok', others);
  await waitFor('the evicted pod recreated and its member running again on its PVC', async () => {
    const pod = await get<Obj>(`${NS}/pods/${leader}`);
    const r = running.get(leader);
    return pod !== undefined && pod.metadata.uid !== oldUid && r?.podUid === pod.metadata.uid;
  });
  await waitFor('3 healthy voters again', async () => {
    const st = await new MemberClient(local.clientUrl(leader)).status().catch(() => undefined);
    const c = await cluster();
    return st !== undefined && st.leader !== null && st.members.filter((m) => m.voter).length === 3
      && c?.status?.phase === 'Running' && (c.status.members ?? []).every((m) => m.voter && m.healthy);
  });
  assert.equal(await new MemberClient(local.clientUrl(leader)).get('after-eviction'), 'ok');
});
