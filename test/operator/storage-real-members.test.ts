// Operator tier: a storage change carried out through learners with REAL raftkv members (processes
// on 127.0.0.1). kube-controller-manager's StatefulSet controller makes the pods and PVCs; no
// kubelet or volume binder runs, so this file plays both: a PVC is marked Bound with what it asks
// for, each member pod gets a member process whose data directory belongs to its PVC (a new PVC
// is an empty directory), a pod deleted or recreated stops or restarts its process. A writer
// keeps writing through the whole change; every acknowledged write must be on every member after.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync } from 'node:fs';
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
const PVCS = '/api/v1/namespaces/default/persistentvolumeclaims';
const PODS = '/api/v1/namespaces/default/pods';
const NAMES = ['kv-0', 'kv-1', 'kv-2'];
let cp: KubeControlPlane;
let op: Operator | undefined;
const dataRoot = mkdtempSync(join(tmpdir(), 'raftkv-op-storage-real-'));
const logDir = join(dataRoot, 'logs');
mkdirSync(logDir);
const local = new LocalMembers('http');
/** Pod uid each running member process was started for. */
const runningFor = new Map<string, string>();
let kubelet: NodeJS.Timeout | undefined;

interface Obj { metadata: { name: string; uid: string; deletionTimestamp?: string } }
interface Pvc extends Obj { spec: { resources: { requests: { storage: string } }; storageClassName?: string }; status?: { phase?: string; capacity?: { storage: string } } }

async function list<T>(path: string): Promise<T[]> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as { items: T[] }).items : [];
}

/** One pass of the "kubelet + volume binder". */
async function playNode(): Promise<void> {
  const pvcs = await list<Pvc>(PVCS);
  for (const p of pvcs) {
    if (p.status?.phase === 'Bound' || p.metadata.deletionTimestamp !== undefined) continue;
    await cp.request('PATCH', `${PVCS}/${p.metadata.name}/status`, { status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: p.spec.resources.requests.storage } } }, 'application/merge-patch+json');
  }
  const pods = new Map((await list<Obj>(PODS)).filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => [p.metadata.name, p]));
  const cm = await cp.request('GET', '/api/v1/namespaces/default/configmaps/kv-config');
  const state = cm.status === 200 ? ((cm.body as { data?: Record<string, string> }).data?.['initial-cluster-state'] ?? 'new') : 'new';
  for (const name of NAMES) {
    const pod = pods.get(name);
    const uid = runningFor.get(name);
    if (uid !== undefined && uid !== pod?.metadata.uid) {
      await local.stop(name);
      runningFor.delete(name);
    }
    const pvc = pvcs.find((x) => x.metadata.name === `data-${name}` && x.metadata.deletionTimestamp === undefined);
    if (pod === undefined || runningFor.has(name) || pvc === undefined) continue;
    const initial = NAMES.map((n) => `${n}=${local.peerAddr(n)}`).join(',');
    // Each process logs to its own file, printed when the test fails (a learner that never caught up).
    const logFile = join(logDir, `${name}-${pvc.metadata.uid}.log`);
    const logFd = openSync(logFile, 'a');
    const child = spawn(process.execPath, [DAEMON, '--name', name, '--data-dir', join(dataRoot, pvc.metadata.uid), '--listen-client', local.clientUrl(name), '--listen-peer', local.peerAddr(name),
      '--initial-cluster', initial, '--initial-cluster-state', state, '--election-timeout-ms', '1000', '--heartbeat-interval-ms', '100', '--log-level', 'info'], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd); // the child has its own copy
    child.once('exit', (code, signal) => appendFileSync(logFile, `# ${new Date().toISOString()} exited: code ${code}, signal ${signal}\n`));
    local.procs.set(name, child);
    runningFor.set(name, pod.metadata.uid);
  }
}

before(async () => {
  cp = await startKubeControlPlane({ controllerManager: true, controllerManagerArgs: ['--controllers=-persistentvolume-binder-controller,-persistentvolume-expander-controller'] });
  await cp.installCrds([join(repoRoot(), 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(repoRoot(), 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  const sc = await cp.request('POST', '/apis/storage.k8s.io/v1/storageclasses', { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'fixed' }, provisioner: 'example.com/none', allowVolumeExpansion: false });
  assert.equal(sc.status, 201, JSON.stringify(sc.body));
  await local.allocate(NAMES);
  let busy = false;
  kubelet = setInterval(() => {
    if (busy) return;
    busy = true;
    void playNode().catch(() => undefined).finally(() => { busy = false; });
  }, 200);
  op = new Operator(local.operatorOptions(cp.kubeConfig(), 'storage-real-op', { log: operatorLog }));
  await op.start();
});

/** The operator's last log lines, printed with the members' logs when the test fails. */
const operatorLines: string[] = [];
const keepLine = (level: string) => (fields: object, msg: string): void => {
  operatorLines.push(`${new Date().toISOString()} ${level} ${msg} ${JSON.stringify(fields)}`);
  if (operatorLines.length > 200) operatorLines.shift();
};
const operatorLog = { info: keepLine('info'), warn: keepLine('warn'), error: keepLine('error') };

function printLogs(): void {
  for (const f of readdirSync(logDir).sort()) {
    const lines = readFileSync(join(logDir, f), 'utf8').trimEnd().split('\n');
    console.log(`# --- ${f} (last 80 of ${lines.length} lines)\n${lines.slice(-80).join('\n')}`);
  }
  console.log(`# --- operator (last ${operatorLines.length} lines)\n${operatorLines.join('\n')}`);
}

after(() => local.teardown({ kubelet, op, cp, dir: dataRoot }));

const condition = (c: RaftCluster, type: string): { reason: string; message: string } | undefined => c.status?.conditions?.find((x) => x.type === type);

async function waitCluster(what: string, ok: (c: RaftCluster) => boolean, timeoutMs = 120_000): Promise<RaftCluster> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = (await cp.request('GET', `${CR}/kv`)).body as RaftCluster;
    if (ok(c)) return c;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}: ${JSON.stringify(c.status)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Keys under `prefix` that `member` holds itself (a serializable read, no leader needed). */
async function keysOn(member: string, prefix: string): Promise<Set<string>> {
  const r = await fetch(`${local.clientUrl(member)}/v1/kv?prefix=${encodeURIComponent(prefix)}&consistency=serializable&limit=10000`);
  assert.equal(r.status, 200, `${member}: ${r.status}`);
  return new Set(((await r.json()) as { kvs: { key: string }[] }).kvs.map((k) => k.key));
}

test('1Gi → 2Gi on a class that cannot expand, real members: replaced one at a time onto new PVCs, leader last; every acknowledged write kept', async () => {
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'kv' }, spec: { replicas: 3, image: 'raftkv:test', storage: { size: '1Gi', storageClassName: 'fixed' } } })).status, 201);
  const healthy3 = (c: RaftCluster): boolean => c.status?.phase === 'Running' && (c.status.members ?? []).filter((m) => m.voter && m.healthy).length === 3;
  const start = await waitCluster('3 healthy voters', healthy3);
  const leader = start.status?.leader ?? '';
  const pvcUids = new Map((await list<Pvc>(PVCS)).map((p) => [p.metadata.name, p.metadata.uid]));
  // The writer: one write after another through a member (the client follows the redirect to the
  // leader), moving on to the next member when one fails (it may be the one being replaced).
  const clients = NAMES.map((m) => new MemberClient(local.clientUrl(m), { requestTimeoutMs: 2000, maxRedirects: 3 }));
  const acked: string[] = [];
  let failures = 0;
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing && i < 100_000; i++) {
      try {
        await clients[failures % clients.length]?.put(`w/${i}`, 'v');
        acked.push(`w/${i}`);
      } catch {
        failures++;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const t0 = Date.now();
  const order: string[] = [];
  let maxOut = 0;
  try {
    assert.equal((await cp.request('PATCH', `${CR}/kv`, { spec: { storage: { size: '2Gi' } } }, 'application/merge-patch+json')).status, 200);
    await waitCluster('every member on a new 2Gi PVC, StorageSynced InSync', (c) => {
      const replacing = c.metadata.annotations?.['raftkv.dev/replace-member'];
      if (replacing !== undefined && order[order.length - 1] !== replacing) order.push(replacing);
      if (c.status?.leader !== undefined) maxOut = Math.max(maxOut, 3 - (c.status.members ?? []).filter((m) => m.voter && m.healthy).length);
      return condition(c, 'StorageSynced')?.reason === 'InSync' && replacing === undefined && healthy3(c) && order.length === 3;
    }, 180_000);
  } catch (e) {
    printLogs();
    throw e;
  } finally {
    writing = false;
    await writer;
  }
  console.log(`# storage 1Gi -> 2Gi through learners, 3 real members: ${Date.now() - t0} ms, order ${order.join(', ')} (leader ${leader}); ${acked.length} writes acknowledged, ${failures} failed`);
  assert.deepEqual([...order].sort(), NAMES, `each member replaced once: ${order.join(', ')}`);
  assert.equal(order[2], leader, 'the leader last');
  assert.ok(maxOut <= 1, `never more than one member out of the healthy voters (${maxOut})`);
  for (const p of await list<Pvc>(PVCS)) {
    assert.equal(p.spec.resources.requests.storage, '2Gi', p.metadata.name);
    assert.notEqual(p.metadata.uid, pvcUids.get(p.metadata.name), `${p.metadata.name} is a new PVC`);
  }
  assert.ok(acked.length > 0);
  for (const m of NAMES) {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const have = await keysOn(m, 'w/');
      const missing = acked.filter((k) => !have.has(k));
      if (missing.length === 0) break;
      assert.ok(Date.now() < deadline, `${m} misses ${missing.length} acknowledged writes, e.g. ${missing.slice(0, 5).join(', ')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const st = await new MemberClient(local.clientUrl(leader)).status();
  assert.deepEqual(st.members.filter((m) => m.voter).map((m) => m.name).sort(), NAMES);
});
