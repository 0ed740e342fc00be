// spec.backup and spec.restore against a real kube-apiserver, with REAL raftkv members on 127.0.0.1.
// No kubelet runs, so the test plays it and the Job controller: it starts the members of a
// StatefulSet, runs the backup CronJob's container args (taken from the CronJob the operator made)
// and the restore init container's args (from the StatefulSet) as local processes, mapping only
// what a pod would see differently: the volume mount paths (to temp dirs, test/lib/container-args.ts),
// `--endpoints` (the client Service → the members' loopback URLs) and the bootstrap peer
// addresses (in-cluster DNS names → loopback; the ConfigMap's initial-cluster-state is used as is).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1ConfigMap, V1CronJob, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { LocalMembers } from '../lib/local-members.js';
import { localProcessSpec } from '../lib/container-args.js';
import { Operator } from '../../operator/src/operator.js';
import type { RaftCluster } from '../../operator/src/api/types.js';
import { BACKUP_MOUNT_PATH, RESTORE_MOUNT_PATH } from '../../operator/src/build/backup.js';
import { DATA_MOUNT_PATH } from '../../operator/src/build/names.js';
import { MemberClient } from '../../operator/src/member-client/client.js';
import { SNAPSHOT_NAME_RE, sortSnapshots } from '../../daemon/src/cli/snapshot-dir.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DAEMON = join(OUT, 'daemon', 'src', 'main.js');
const RAFTCTL = join(OUT, 'daemon', 'src', 'cli', 'raftctl.js');
const NS = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const CRONJOB = '/apis/batch/v1/namespaces/default/cronjobs';
const PVC = '/api/v1/namespaces/default/persistentvolumeclaims';
const STS = '/apis/apps/v1/namespaces/default/statefulsets';
const WAIT_MS = 60_000;

let cp: KubeControlPlane;
let op: Operator | undefined;
const root = mkdtempSync(join(tmpdir(), 'raftkv-op-backup-'));
const backupDir = join(root, 'pvc-src-backup');
const local = new LocalMembers('http');
const procs = local.procs;

const clientUrl = (m: string): string => local.clientUrl(m);
const peerAddr = (m: string): string => local.peerAddr(m);
const members = (cluster: string): string[] => [0, 1, 2].map((i) => `${cluster}-${i}`);
const loopbackInitialCluster = (cluster: string): string => members(cluster).map((m) => `${m}=${peerAddr(m)}`).join(',');
const dataDirOf = (m: string): string => join(root, `data-${m}`);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function getJson<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

/** Runs a short-lived command (a Job's or an init container's process) to completion. */
async function runToCompletion(script: string, args: readonly string[], timeoutMs = 30_000): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const t = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), timeoutMs);
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 137)));
  clearTimeout(t);
  return { code, out, err };
}

/** A member as the StatefulSet's main container would run it (loopback addresses, its data volume, its cluster token). */
function startMember(name: string, clusterToken: string): void {
  const cluster = name.slice(0, name.lastIndexOf('-'));
  const child = spawn(process.execPath, [DAEMON, '--name', name, '--data-dir', join(dataDirOf(name), 'data'), '--listen-client', clientUrl(name), '--listen-peer', peerAddr(name),
    '--initial-cluster', loopbackInitialCluster(cluster), '--initial-cluster-state', 'new', '--cluster-token', clusterToken,
    '--election-timeout-ms', '1000', '--heartbeat-interval-ms', '100', '--log-level', 'warn'], { stdio: 'ignore' });
  procs.set(name, child);
}

const stopMember = (name: string): Promise<void> => local.stop(name);

interface KvList { kvs: { key: string; value: string; modRevision: number; createRevision: number }[]; revision: number }
async function listAll(member: string): Promise<KvList> {
  const r = await fetch(`${clientUrl(member)}/v1/kv?prefix=&limit=10000`, { redirect: 'follow', signal: AbortSignal.timeout(5_000) });
  assert.equal(r.status, 200);
  return (await r.json()) as KvList;
}

function tokenFromStatefulSet(sts: V1StatefulSet): string {
  const arg = (sts.spec?.template.spec?.containers[0]?.args ?? []).find((a) => a.startsWith('--cluster-token='));
  assert.ok(arg !== undefined, 'member args carry --cluster-token');
  return arg.slice('--cluster-token='.length);
}

/** The restore init container of `member`, run as the kubelet would: its args with the pod's env, mounts mapped. */
async function runRestoreInit(sts: V1StatefulSet, member: string, stateOverride?: 'new' | 'existing'): Promise<{ code: number; out: string; err: string }> {
  const init = sts.spec?.template.spec?.initContainers?.[0];
  assert.ok(init !== undefined, 'the StatefulSet has the restore init container');
  assert.deepEqual(init.command, ['raftkv']);
  const cm = await getJson<V1ConfigMap>('/api/v1/namespaces/default/configmaps/dst-config');
  const state = stateOverride ?? cm?.data?.['initial-cluster-state'];
  assert.ok(state === 'new' || state === 'existing');
  const vars = new Map([['POD_NAME', member], ['RAFTKV_INITIAL_CLUSTER', loopbackInitialCluster('dst')], ['RAFTKV_INITIAL_CLUSTER_STATE', state]]);
  const mounts = [{ mountPath: DATA_MOUNT_PATH, hostPath: dataDirOf(member) }, { mountPath: RESTORE_MOUNT_PATH, hostPath: backupDir }];
  mkdirSync(dataDirOf(member), { recursive: true });
  return runToCompletion(DAEMON, localProcessSpec(init.args ?? [], vars, mounts, '127.0.0.1').args);
}

before(async () => {
  cp = await startKubeControlPlane();
  const r = repoRoot();
  await cp.installCrds([join(r, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(r, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  await local.allocate([...members('src'), ...members('dst'), 'dst-3']);
  mkdirSync(backupDir);
  op = new Operator(local.operatorOptions(cp.kubeConfig(), 'backup-op'));
  await op.start();
});

after(() => local.teardown({ op, cp, dir: root }));

const rc = (name: string, spec: Record<string, unknown>): object => ({ apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name }, spec: { replicas: 3, image: 'raftkv:test', ...spec } });

test('CRD: backup defaults and validation; restore only at creation and immutable', async () => {
  const bad: [string, Record<string, unknown>][] = [
    ['no-schedule', { backup: { keep: 3 } }],
    ['keep-zero', { backup: { schedule: '@daily', keep: 0 } }],
    ['keep-big', { backup: { schedule: '@daily', keep: 1001 } }],
    ['bad-cron', { backup: { schedule: 'every hour' } }],
    ['both-storage', { backup: { schedule: '@daily', claimName: 'x', storage: { size: '1Gi' } } }],
    ['escape', { restore: { claimName: 'b', file: '../etc/passwd' } }],
    ['no-file', { restore: { claimName: 'b' } }],
  ];
  for (const [name, spec] of bad) {
    const r = await cp.request('POST', NS, rc(`v-${name}`, spec));
    assert.equal(r.status, 422, `${name} should be refused: ${JSON.stringify(r.body)}`);
  }
  const ok = await cp.request('POST', NS, rc('v-ok', { backup: { schedule: '0 3 * * *' }, restore: { claimName: 'b', file: 'daily/x.snap' } }));
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const spec = (ok.body as RaftCluster).spec;
  assert.equal(spec.backup?.keep, 5);
  assert.equal(spec.backup?.suspend, false);
  const changed = await cp.request('PATCH', `${NS}/v-ok`, { spec: { restore: { file: 'other.snap' } } }, 'application/merge-patch+json');
  assert.equal(changed.status, 422, 'spec.restore cannot change');
  assert.match(JSON.stringify(changed.body), /immutable/);
  const plain = await cp.request('POST', NS, rc('v-plain', {}));
  assert.equal(plain.status, 201);
  const added = await cp.request('PATCH', `${NS}/v-plain`, { spec: { restore: { claimName: 'b', file: 'x.snap' } } }, 'application/merge-patch+json');
  assert.equal(added.status, 422, 'spec.restore cannot be added later');
  assert.match(JSON.stringify(added.body), /only be set when the RaftCluster is created/);
  // Scaling a restored cluster still works (the transition rules do not block other changes).
  assert.equal((await cp.request('PATCH', `${NS}/v-ok`, { spec: { replicas: 5 } }, 'application/merge-patch+json')).status, 200);
  for (const n of ['v-ok', 'v-plain']) await cp.request('DELETE', `${NS}/${n}`);
});

let savedRevision = 0;
let savedKvs: KvList['kvs'] = [];
let restoreFile = '';

test('spec.backup: PVC + CronJob; its command against real members saves and prunes; removal deletes the CronJob, keeps the PVC', async () => {
  const t0 = Date.now();
  assert.equal((await cp.request('POST', NS, rc('src', { backup: { schedule: '*/30 * * * *', keep: 2 } }))).status, 201);
  const sts = await waitFor('StatefulSet src', () => getJson<V1StatefulSet>(`${STS}/src`));
  for (const m of members('src')) startMember(m, tokenFromStatefulSet(sts));
  const cj = await waitFor('CronJob src-backup', () => getJson<V1CronJob & { metadata: { ownerReferences?: { name: string }[] } }>(`${CRONJOB}/src-backup`));
  assert.equal(cj.metadata.ownerReferences?.[0]?.name, 'src');
  assert.equal(cj.spec?.concurrencyPolicy, 'Forbid');
  const container = cj.spec?.jobTemplate.spec?.template.spec?.containers[0];
  assert.deepEqual(container?.command, ['raftctl']);
  const args = container?.args ?? [];
  assert.deepEqual(args, ['--endpoints', 'http://src.default.svc:2379', 'snapshot', 'save', '--dir', BACKUP_MOUNT_PATH, '--keep', '2']);
  const pvc = await waitFor('PVC src-backup', () => getJson<{ metadata: { ownerReferences?: unknown[] }; spec: { resources: { requests: { storage: string } } } }>(`${PVC}/src-backup`));
  assert.equal(pvc.spec.resources.requests.storage, '1Gi');
  assert.equal(pvc.metadata.ownerReferences, undefined, 'the backup PVC is not owned: deleting the cluster keeps it');
  const running = await waitFor('src Running with status.backup', async () => {
    const c = await getJson<RaftCluster>(`${NS}/src`);
    return c?.status?.phase === 'Running' && c.status.backup !== undefined ? c : undefined;
  });
  assert.deepEqual({ cronJob: running.status?.backup?.cronJob, claimName: running.status?.backup?.claimName }, { cronJob: 'src-backup', claimName: 'src-backup' });

  // The Job: exactly the CronJob's args, the client Service URL → the members, the mount → the PVC's directory.
  const jobArgs = (): string[] => {
    const mapped = localProcessSpec(args, new Map(), [{ mountPath: BACKUP_MOUNT_PATH, hostPath: backupDir }], '127.0.0.1').args;
    const i = mapped.indexOf('--endpoints');
    mapped[i + 1] = members('src').map(clientUrl).join(',');
    return mapped;
  };
  const client = new MemberClient(clientUrl('src-0'));
  for (let i = 0; i < 20; i++) await client.put(`k/${i}`, `v${i}`);
  const saved: string[] = [];
  for (let run = 0; run < 3; run++) {
    if (run === 1) {
      // The state backup #2 must hold, read just before it (nothing is written in between).
      const before = await listAll('src-0');
      savedKvs = before.kvs;
      savedRevision = before.revision;
    }
    const r = await runToCompletion(RAFTCTL, jobArgs());
    assert.equal(r.code, 0, r.err);
    const m = /^saved (\S+):/m.exec(r.out);
    assert.ok(m !== null, r.out);
    saved.push(m[1] ?? '');
    await client.put(`after/${run}`, `x${run}`);
  }
  const files = readdirSync(backupDir);
  assert.deepEqual(sortSnapshots(files).map((s) => join(backupDir, s.name)), saved.slice(1), `--keep 2 keeps the newest two: ${files.join(' ')}`);
  assert.ok(files.every((f) => SNAPSHOT_NAME_RE.test(f)), files.join(' '));
  restoreFile = saved[1]?.slice(backupDir.length + 1) ?? '';
  assert.equal(sortSnapshots([restoreFile])[0]?.revision, savedRevision, 'the file name carries the saved revision');

  assert.equal((await cp.request('PATCH', `${NS}/src`, { spec: { backup: null } }, 'application/merge-patch+json')).status, 200);
  await waitFor('CronJob deleted and status.backup gone', async () => (await cp.request('GET', `${CRONJOB}/src-backup`)).status === 404
    && (await getJson<RaftCluster>(`${NS}/src`))?.status?.backup === undefined);
  assert.ok(await getJson(`${PVC}/src-backup`) !== undefined, 'the backup PVC is kept');
  console.log(`# backup part: ${Date.now() - t0} ms`);
});

test('spec.restore: the init container restores the bootstrap members; the new cluster serves exactly the saved data; restarts and scale-up members never restore', async () => {
  const t0 = Date.now();
  assert.ok(restoreFile !== '', 'the backup test ran first');
  assert.equal((await cp.request('POST', NS, rc('dst', { restore: { claimName: 'src-backup', file: restoreFile } }))).status, 201);
  const sts = await waitFor('StatefulSet dst', () => getJson<V1StatefulSet>(`${STS}/dst`));
  assert.deepEqual(sts.spec?.template.spec?.volumes?.find((v) => v.name === 'restore-source')?.persistentVolumeClaim, { claimName: 'src-backup', readOnly: true });
  const token = tokenFromStatefulSet(sts);
  for (const m of members('dst')) {
    const r = await runRestoreInit(sts, m);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"restored":true/);
  }
  for (const m of members('dst')) startMember(m, token);
  const restored = await waitFor('dst Running, Restored=True', async () => {
    const c = await getJson<RaftCluster>(`${NS}/dst`);
    return c?.status?.phase === 'Running' && c.status.conditions?.some((x) => x.type === 'Restored' && x.status === 'True') ? c : undefined;
  });
  assert.match(restored.status?.conditions?.find((x) => x.type === 'Restored')?.message ?? '', new RegExp(restoreFile.replace(/\./g, '\\.')));
  const events = await getJson<{ items: { reason: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.ok(events?.items.some((e) => e.reason === 'Restored' && e.involvedObject.name === 'dst'), 'a Restored Event');

  for (const m of members('dst')) {
    const got = await listAll(m);
    assert.deepEqual(got.kvs, savedKvs, `${m} serves exactly the saved data`);
    assert.equal(got.revision, savedRevision, `${m} is at the saved revision`);
  }
  assert.ok(!savedKvs.some((kv) => kv.key.startsWith('after/1')), 'the later write is not in the backup');

  // A scale-up member (not in the bootstrap list, state existing) never restores.
  const joiner = await runRestoreInit(sts, 'dst-3');
  assert.equal(joiner.code, 0, joiner.err);
  assert.match(joiner.out, /"restored":false/);
  assert.deepEqual(readdirSync(dataDirOf('dst-3')), [], 'the joining member\'s data dir is left empty');

  // Data written after the restore survives every member's restart, init container included
  // (even with the ConfigMap's state still `new`, the initialised data dir stops it).
  const put = await new MemberClient(clientUrl('dst-0')).put('post-restore', 'kept');
  assert.ok(put.revision === savedRevision + 1, `the next write gets revision + 1 (${JSON.stringify(put)})`);
  await Promise.all(members('dst').map((m) => stopMember(m)));
  for (const m of members('dst')) {
    const before = readdirSync(join(dataDirOf(m), 'data')).sort();
    for (const state of ['existing', 'new'] as const) {
      const r = await runRestoreInit(sts, m, state);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /"restored":false/, `${m} (${state}) must not restore again`);
    }
    assert.deepEqual(readdirSync(join(dataDirOf(m), 'data')).sort(), before);
    assert.ok(!existsSync(join(dataDirOf(m), 'data.restoring')));
  }
  for (const m of members('dst')) startMember(m, token);
  await waitFor('dst serves post-restore after a full restart', async () => (await new MemberClient(clientUrl('dst-2')).get('post-restore')) === 'kept');
  console.log(`# restore part: ${Date.now() - t0} ms`);
});
