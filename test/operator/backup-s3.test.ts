// spec.backup.s3 (scheduled snapshots + continuous log shipping), RaftBackup, BackupFresh and
// spec.restore.s3 against a real kube-apiserver, REAL raftkv members on 127.0.0.1 and a real S3
// server (versitygw, test/lib/s3-server.ts). No kubelet runs, so the test plays it: members run with
// the --backup-ship-to and AWS environment the operator put into the StatefulSet (secretKeyRefs
// resolved from the Secret the test created), the CronJob's container args run as the Job, and the
// restore init container's args run before the restored members start (also for the scratch
// cluster of a RestoreBackup drill). Only what a pod would see
// differently is mapped: the client Service → the members' loopback URLs, in-cluster peer names → loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1ConfigMap, V1Container, V1CronJob, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { LocalMembers } from '../lib/local-members.js';
import { localProcessSpec } from '../lib/container-args.js';
import { S3TestServer } from '../lib/s3-server.js';
import { Operator } from '../../operator/src/operator.js';
import type { RaftBackup, RaftChaosDrill, RaftCluster } from '../../operator/src/api/types.js';
import { DATA_MOUNT_PATH } from '../../operator/src/build/names.js';
import { MemberClient } from '../../operator/src/member-client/client.js';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DAEMON = join(OUT, 'daemon', 'src', 'main.js');
const RAFTCTL = join(OUT, 'daemon', 'src', 'cli', 'raftctl.js');
const API = '/apis/raftkv.dev/v1alpha1/namespaces/default';
const NS = `${API}/raftclusters`;
const BACKUPS = `${API}/raftbackups`;
const DRILLS = `${API}/raftchaosdrills`;
const WAIT_MS = 60_000;
const BUCKET = 'raftkv-op';

let cp: KubeControlPlane;
let op: Operator | undefined;
let s3: S3TestServer;
const root = mkdtempSync(join(tmpdir(), 'raftkv-op-s3-'));
const local = new LocalMembers('http');
const procs = local.procs;
const clientUrl = (m: string): string => local.clientUrl(m);
const peerAddr = (m: string): string => local.peerAddr(m);
const members = (cluster: string, n = 3): string[] => Array.from({ length: n }, (_, i) => `${cluster}-${i}`);
const loopbackInitialCluster = (cluster: string, n = 3): string => members(cluster, n).map((m) => `${m}=${peerAddr(m)}`).join(',');
const dataDirOf = (m: string): string => join(root, `data-${m}`);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const v = await fn().catch((err: unknown) => { last = err; return undefined; });
    if (v !== undefined && v !== false) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}${last !== undefined ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function getJson<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

/** The container's env as a pod would see it: plain values, secretKeyRefs from the test's Secret. */
function resolveEnv(c: V1Container | undefined, secret: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of c?.env ?? []) {
    if (e.value !== undefined) out[e.name] = e.value;
    const ref = e.valueFrom?.secretKeyRef;
    if (ref !== undefined) {
      assert.equal(ref.name, 's3-creds', `${e.name} comes from the credentials Secret`);
      const v = secret[ref.key];
      assert.ok(v !== undefined, `the Secret has ${ref.key}`);
      out[e.name] = v;
    }
  }
  return out;
}

/** Runs a short-lived command (a Job's or an init container's process) to completion. */
async function runToCompletion(script: string, args: readonly string[], env: Record<string, string>, timeoutMs = 60_000): Promise<{ code: number; out: string; err: string }> {
  // Only the pod's env plus what node needs: no AWS_* of the test's own environment leaks in.
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', ...env } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const t = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), timeoutMs);
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 137)));
  clearTimeout(t);
  return { code, out, err };
}

/** A member as the StatefulSet's raftkv container runs it: loopback addresses, plus its --backup-ship-to and env. */
function startMember(name: string, sts: V1StatefulSet, secret: Record<string, string>): void {
  const cluster = name.slice(0, name.lastIndexOf('-'));
  const ctr = sts.spec?.template.spec?.containers.find((c) => c.name === 'raftkv');
  const args = ctr?.args ?? [];
  const token = args.find((a) => a.startsWith('--cluster-token='));
  assert.ok(token !== undefined);
  const ship = args.filter((a) => a.startsWith('--backup-ship-to='));
  const child = spawn(process.execPath, [DAEMON, '--name', name, '--data-dir', join(dataDirOf(name), 'data'), '--listen-client', clientUrl(name), '--listen-peer', peerAddr(name),
    '--initial-cluster', loopbackInitialCluster(cluster, sts.spec?.replicas ?? 3), '--initial-cluster-state', 'new', token, ...ship, '--backup-ship-interval-ms', '500',
    '--election-timeout-ms', '1000', '--heartbeat-interval-ms', '100', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '', ...resolveEnv(ctr, secret) } });
  // The member's last words, for a failure message (bounded).
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  child.once('exit', (code, signal) => {
    memberExits.set(name, `exit ${code ?? signal ?? '?'}: ${stderr.slice(-1500)}`);
  });
  procs.set(name, child);
}

interface KvList { kvs: { key: string; value: string; modRevision: number; createRevision: number }[]; revision: number }
async function listAll(member: string): Promise<KvList> {
  const r = await fetch(`${clientUrl(member)}/v1/kv?prefix=&limit=10000`, { redirect: 'follow', signal: AbortSignal.timeout(5_000) });
  assert.equal(r.status, 200);
  return (await r.json()) as KvList;
}

/** How each member this file started ended, if it did (a failed drill's message names it). */
const memberExits = new Map<string, string>();

/** The restore init container of `member`, run as the kubelet would: its args with the pod's env. */
async function runRestoreInit(sts: V1StatefulSet, cluster: string, member: string, secret: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  const init = sts.spec?.template.spec?.initContainers?.[0];
  assert.ok(init !== undefined, 'the StatefulSet has the restore init container');
  const cm = await getJson<V1ConfigMap>(`/api/v1/namespaces/default/configmaps/${cluster}-config`);
  const state = cm?.data?.['initial-cluster-state'];
  assert.equal(state, 'new');
  const vars = new Map([['POD_NAME', member], ['RAFTKV_INITIAL_CLUSTER', loopbackInitialCluster(cluster, sts.spec?.replicas ?? 3)], ['RAFTKV_INITIAL_CLUSTER_STATE', state]]);
  mkdirSync(dataDirOf(member), { recursive: true });
  return runToCompletion(DAEMON, localProcessSpec(init.args ?? [], vars, [{ mountPath: DATA_MOUNT_PATH, hostPath: dataDirOf(member) }], '127.0.0.1').args, resolveEnv(init, secret));
}

/**
 * Waits for drill `name` to finish, playing the kubelet for its scratch cluster meanwhile: the
 * restore init container of `<name>-scratch-0`, then the member; the member is stopped at the end.
 */
async function waitDrill(name: string): Promise<RaftChaosDrill> {
  const scratch = `${name}-scratch`;
  await local.allocate([`${scratch}-0`]);
  let started = false;
  // The drill's own bounds are longer (10 min to run, 2 min to delete its scratch cluster); 4 min
  // here leaves room for a loaded machine and reports what stalled.
  const deadline = Date.now() + 240_000;
  for (;;) {
    const d = await getJson<RaftChaosDrill>(`${DRILLS}/${name}`);
    if (d?.status?.phase === 'Succeeded' || d?.status?.phase === 'Failed') {
      await local.stop(`${scratch}-0`);
      return d;
    }
    if (Date.now() >= deadline) {
      const sc = await getJson<RaftCluster>(`${NS}/${scratch}`);
      assert.fail(`drill ${name} did not finish: ${JSON.stringify(d?.status)}; scratch cluster ${sc === undefined ? 'gone' : JSON.stringify(sc.status)}; ` +
        `its member ${started ? (memberExits.get(`${scratch}-0`) ?? 'still running') : 'never started (no StatefulSet seen)'}`);
    }
    const sts = await getJson<V1StatefulSet>(`/apis/apps/v1/namespaces/default/statefulsets/${scratch}`);
    if (sts !== undefined && !started) {
      started = true;
      const r = await runRestoreInit(sts, scratch, `${scratch}-0`, secretData);
      assert.equal(r.code, 0, r.err);
      startMember(`${scratch}-0`, sts, secretData);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

let secretData: Record<string, string> = {};
const s3Conn = (): Record<string, unknown> => ({ endpoint: s3.endpoint, forcePathStyle: true, credentialsSecret: { name: 's3-creds', accessKeyIdKey: 'id', secretAccessKeyKey: 'secret' } });
const rc = (name: string, spec: Record<string, unknown>): object => ({ apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name }, spec: { replicas: 3, image: 'raftkv:test', ...spec } });

before(async () => {
  s3 = await S3TestServer.start('op-s3');
  await s3.createBucket(BUCKET);
  secretData = { id: s3.accessKey, secret: s3.secretKey };
  cp = await startKubeControlPlane();
  const r = repoRoot();
  await cp.installCrds(['raftclusters', 'raftchaosdrills', 'raftbackups'].map((n) => join(r, `k8s/crds/${n}.raftkv.dev.yaml`)));
  await cp.request('POST', '/api/v1/namespaces/default/secrets', {
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 's3-creds' },
    data: Object.fromEntries(Object.entries(secretData).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  });
  await local.allocate([...members('src'), ...members('pit'), ...members('last')]);
  op = new Operator(local.operatorOptions(cp.kubeConfig(), 's3-op'));
  await op.start();
});

after(async () => {
  await op?.stop();
  await local.stopAll();
  await cp?.stop();
  s3?.stop();
  rmSync(root, { recursive: true, force: true });
});

test('CRD: backup.s3 / continuous / keepWithin and restore.s3 / toRevision / toTime validation', async () => {
  const s3spec = { bucket: 'b', endpoint: 'http://s3:9000' };
  const bad: [string, Record<string, unknown>][] = [
    ['s3-and-pvc', { backup: { schedule: '@daily', s3: s3spec, storage: { size: '1Gi' } } }],
    ['within-no-s3', { backup: { schedule: '@daily', keepWithin: '7d' } }],
    ['continuous-no-s3', { backup: { schedule: '@daily', continuous: true } }],
    ['bad-endpoint', { backup: { schedule: '@daily', s3: { bucket: 'b', endpoint: 'ftp://x' } } }],
    ['bad-prefix', { backup: { schedule: '@daily', s3: { bucket: 'b', prefix: '/abs/' } } }],
    ['ship-twice', { backup: { schedule: '@daily', s3: s3spec, continuous: true }, pod: { extraArgs: ['--backup-ship-to=s3://x/y/'] } }],
    ['two-sources', { restore: { claimName: 'c', file: 'f', s3: { url: 's3://b/p/' } } }],
    ['pit-object', { restore: { s3: { url: 's3://b/p/snapshot-x.snap' }, toRevision: 5 } }],
    ['pit-both', { restore: { s3: { url: 's3://b/p/' }, toRevision: 5, toTime: '2026-12-05T01:00:00Z' } }],
    ['pit-pvc', { restore: { claimName: 'c', file: 'f', toRevision: 5 } }],
    ['bad-url', { restore: { s3: { url: 'https://b/p/' } } }],
  ];
  for (const [name, spec] of bad) {
    const r = await cp.request('POST', NS, rc(`v-${name}`, spec));
    assert.equal(r.status, 422, `${name} should be refused: ${JSON.stringify(r.body)}`);
  }
  const ok = await cp.request('POST', NS, rc('v-ok', { backup: { schedule: '@hourly', keepWithin: '7d', s3: s3spec, continuous: true }, restore: { s3: { url: 's3://b/p/' }, toTime: '2026-12-05T01:00:00Z' } }));
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal((ok.body as RaftCluster).spec.backup?.keep, 5);
  await cp.request('DELETE', `${NS}/v-ok`);
  const noCluster = await cp.request('POST', BACKUPS, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftBackup', metadata: { name: 'orphan' }, spec: { clusterRef: { name: 'missing' } } });
  assert.equal(noCluster.status, 201);
  const failed = await waitFor('RaftBackup of a missing cluster Failed', async () => {
    const b = await getJson<RaftBackup>(`${BACKUPS}/orphan`);
    return b?.status?.phase === 'Failed' ? b : undefined;
  });
  assert.match(failed.status?.message ?? '', /RaftCluster default\/missing not found/);
});

/** The state at each revision the test pins, read from the members. */
let pitState: KvList | undefined;
let finalState: KvList | undefined;

test('spec.backup.s3 + continuous: members ship, the CronJob saves to S3, a RaftBackup succeeds, BackupFresh follows the store going away and coming back', async () => {
  const t0 = Date.now();
  const created = await cp.request('POST', NS, rc('src', { backup: { schedule: '*/30 * * * *', keep: 5, keepWithin: '7d', s3: { bucket: BUCKET, ...s3Conn() }, continuous: true } }));
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const sts = await waitFor('StatefulSet src', () => getJson<V1StatefulSet>('/apis/apps/v1/namespaces/default/statefulsets/src'));
  const ctr = sts.spec?.template.spec?.containers.find((c) => c.name === 'raftkv');
  assert.ok(ctr?.args?.includes(`--backup-ship-to=s3://${BUCKET}/default/src/`), JSON.stringify(ctr?.args));
  assert.deepEqual(ctr?.env?.find((e) => e.name === 'AWS_SECRET_ACCESS_KEY')?.valueFrom, { secretKeyRef: { name: 's3-creds', key: 'secret' } });
  for (const m of members('src')) startMember(m, sts, secretData);
  const fresh = await waitFor('src Running, shipping healthy, BackupFresh True', async () => {
    const c = await getJson<RaftCluster>(`${NS}/src`);
    const cond = c?.status?.conditions?.find((x) => x.type === 'BackupFresh');
    return c?.status?.phase === 'Running' && c.status.backup?.shipping?.healthy === true && cond?.status === 'True' ? c : undefined;
  });
  assert.equal(fresh.status?.backup?.target, `s3://${BUCKET}/default/src/`);
  assert.equal(fresh.status?.conditions?.find((x) => x.type === 'BackupFresh')?.reason, 'NoBackupDueYet');

  const client = new MemberClient(clientUrl('src-0'), { requestTimeoutMs: 5000, maxRedirects: 3 });
  for (let i = 0; i < 30; i++) await client.put(`k/${i % 12}`, `a${i}`);
  // The Job: the CronJob's container exactly, with the pod's env and the Service → the members.
  const cj = await waitFor('CronJob src-backup', () => getJson<V1CronJob>('/apis/batch/v1/namespaces/default/cronjobs/src-backup'));
  const jobCtr = cj.spec?.jobTemplate.spec?.template.spec?.containers[0];
  assert.deepEqual(cj.spec?.jobTemplate.spec?.template.spec?.volumes ?? [], [], 'no backup PVC with s3');
  const jobArgs = [...(jobCtr?.args ?? [])];
  assert.deepEqual(jobArgs.slice(2), ['snapshot', 'save', `s3://${BUCKET}/default/src/`, '--keep', '5', '--keep-within', '7d']);
  jobArgs[1] = members('src').map(clientUrl).join(',');
  const saved = await runToCompletion(RAFTCTL, jobArgs, resolveEnv(jobCtr, secretData));
  assert.equal(saved.code, 0, saved.err);
  assert.match(saved.out, new RegExp(`^saved s3://${BUCKET}/default/src/snapshot-\\S+\\.snap: `, 'm'));

  // Between the scheduled snapshot and the on-demand one: the point-in-time target.
  for (let i = 0; i < 25; i++) await client.put(`k/${i % 9}`, `b${i}`);
  await client.delete('k/3');
  pitState = await listAll('src-0');
  for (let i = 0; i < 25; i++) await client.put(`k/${i % 15}`, `c${i}`);

  assert.equal((await cp.request('POST', BACKUPS, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftBackup', metadata: { name: 'now' }, spec: { clusterRef: { name: 'src' } } })).status, 201);
  const done = await waitFor('RaftBackup now Succeeded', async () => {
    const b = await getJson<RaftBackup>(`${BACKUPS}/now`);
    assert.notEqual(b?.status?.phase, 'Failed', b?.status?.message);
    return b?.status?.phase === 'Succeeded' ? b : undefined;
  });
  const st = done.status ?? {};
  assert.match(st.url ?? '', new RegExp(`^s3://${BUCKET}/default/src/snapshot-.*-rev${st.revision ?? -1}-[0-9a-f]+\\.snap$`));
  assert.ok((st.revision ?? 0) > (pitState.revision), `the on-demand backup holds the later writes (${st.revision} > ${pitState.revision})`);
  assert.ok((st.sizeBytes ?? 0) > 0 && /^[0-9a-f]{64}$/.test(st.sha256 ?? '') && (st.durationMs ?? -1) >= 0 && st.attempts === 1, JSON.stringify(st));
  await waitFor('lastGoodBackupTime from the RaftBackup', async () => (await getJson<RaftCluster>(`${NS}/src`))?.status?.backup?.lastGoodBackupTime === st.finishedAt);

  // The restore drill: the newest backup (the RaftBackup's) restored into a scratch cluster and checked.
  const drillOf = async (name: string): Promise<RaftChaosDrill> => {
    await local.allocate([`${name}-scratch-0`]); // before the operator can start it (see the scheduled drill below)
    assert.equal((await cp.request('POST', DRILLS, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name }, spec: { clusterRef: { name: 'src' }, action: 'RestoreBackup' } })).status, 201);
    return waitDrill(name);
  };
  const atBackup = await listAll('src-0');
  assert.equal(atBackup.revision, st.revision, 'nothing was written after the RaftBackup');
  const drill = await drillOf('verify');
  assert.equal(drill.status?.phase, 'Succeeded', drill.status?.message);
  assert.deepEqual({ url: drill.status?.verifiedBackup?.url, revision: drill.status?.verifiedBackup?.revision, keys: drill.status?.verifiedBackup?.keys, sha256: drill.status?.verifiedBackup?.sha256 },
    { url: st.url, revision: st.revision, keys: atBackup.kvs.length, sha256: st.sha256 });
  await waitFor('scratch cluster deleted', async () => (await cp.request('GET', `${NS}/verify-scratch`)).status === 404);
  await waitFor('status.backup.lastVerifiedBackup', async () => (await getJson<RaftCluster>(`${NS}/src`))?.status?.backup?.lastVerifiedBackup?.url === st.url);
  // A damaged backup fails the drill (the checker catches a known-bad case); the byte is put back.
  const objectFile = join(s3.root, 'data', BUCKET, (st.url ?? '').slice(`s3://${BUCKET}/`.length));
  const bytes = readFileSync(objectFile);
  const at = Math.floor(bytes.length / 2);
  const damaged = Buffer.from(bytes);
  damaged[at] = (damaged[at] ?? 0) ^ 0xff;
  writeFileSync(objectFile, damaged);
  const bad = await drillOf('damaged');
  writeFileSync(objectFile, bytes);
  assert.equal(bad.status?.phase, 'Failed');
  assert.match(bad.status?.message ?? '', /checksum/);
  assert.equal((await cp.request('GET', `${NS}/damaged-scratch`)).status, 404, 'no scratch cluster for a backup that fails its checksum');

  // The store goes away while writes continue: shipping stalls, BackupFresh False, the gauge 0.
  await s3.kill();
  const outageAt = Date.now();
  for (let i = 0; i < 10; i++) await client.put(`outage/${i}`, `o${i}`);
  const stale = await waitFor('BackupFresh False (ShippingStalled)', async () => {
    const c = await getJson<RaftCluster>(`${NS}/src`);
    const cond = c?.status?.conditions?.find((x) => x.type === 'BackupFresh');
    return cond?.status === 'False' ? cond : undefined;
  }, 45_000);
  const staleAfterMs = Date.now() - outageAt;
  assert.equal(stale.reason, 'ShippingStalled');
  assert.match(stale.message, /behind/);
  const metrics = await op?.metrics.registry.getSingleMetricAsString('raftkv_operator_backup_fresh');
  assert.match(metrics ?? '', /raftkv_operator_backup_fresh\{namespace="default",cluster="src"\} 0/);
  const events = await getJson<{ items: { reason: string; type: string; involvedObject: { name: string } }[] }>('/api/v1/namespaces/default/events');
  assert.ok(events?.items.some((e) => e.reason === 'ShippingStalled' && e.type === 'Warning' && e.involvedObject.name === 'src'), 'a Warning Event');

  await s3.restart();
  const backAt = Date.now();
  finalState = await listAll('src-0');
  const caughtUp = await waitFor('shipping caught up, BackupFresh True', async () => {
    const c = await getJson<RaftCluster>(`${NS}/src`);
    const cond = c?.status?.conditions?.find((x) => x.type === 'BackupFresh');
    return cond?.status === 'True' && (c?.status?.backup?.shipping?.shippedRevision ?? 0) >= (finalState?.revision ?? Infinity) ? c : undefined;
  }, 45_000);
  assert.match(await op?.metrics.registry.getSingleMetricAsString('raftkv_operator_backup_fresh') ?? '', /cluster="src"\} 1/);
  console.log(`# BackupFresh False ${staleAfterMs} ms after the store went away; caught up (revision ${caughtUp.status?.backup?.shipping?.shippedRevision}) ${Date.now() - backAt} ms after it returned; part ${Date.now() - t0} ms`);

  // spec.backup.restoreDrill: a drill is created at the next scheduled time (the next minute here,
  // once a day, so no second drill starts while the test looks), verifies the newest backup, and
  // BackupFresh then counts only verified backups.
  const next = new Date(Date.now() + 60_000);
  const schedule = `${next.getUTCMinutes()} ${next.getUTCHours()} * * *`;
  // The operator names the drill after its fire time and starts it at once, before this test sees
  // it: the scratch member's ports must exist by then, or the drill's member client is pointed at
  // no port (a flake seen twice: the drill waited its 10 minutes on port 1).
  const fireSeconds = Math.floor(next.getTime() / 60_000) * 60;
  await local.allocate([`src-restore-${fireSeconds}-scratch-0`]);
  assert.equal((await cp.request('PATCH', `${NS}/src`, { spec: { backup: { restoreDrill: { schedule } } } }, 'application/merge-patch+json')).status, 200);
  const scheduled = await waitFor('a scheduled restore drill', async () => {
    const list = await getJson<{ items: RaftChaosDrill[] }>(DRILLS);
    return list?.items.find((d) => d.metadata.labels?.['raftkv.dev/scheduled-restore-drill'] === 'src');
  }, 130_000);
  assert.equal(scheduled.metadata.name, `src-restore-${fireSeconds}`);
  const ran = await waitDrill(scheduled.metadata.name);
  assert.equal(ran.status?.phase, 'Succeeded', ran.status?.message);
  const verifiedNow = await waitFor('lastVerifiedBackup from the scheduled drill', async () => {
    const c = await getJson<RaftCluster>(`${NS}/src`);
    return c?.status?.backup?.lastVerifiedBackup?.drill === scheduled.metadata.name ? c : undefined;
  });
  assert.equal(verifiedNow.status?.backup?.lastGoodBackupTime, ran.status?.verifiedBackup?.takenAt.replace(/\.\d{3}Z$/, 'Z'), 'with restore drills the last good backup is the verified one');
  assert.equal((await cp.request('PATCH', `${NS}/src`, { spec: { backup: { restoreDrill: null } } }, 'application/merge-patch+json')).status, 200);

  // Nothing more is written: the latest shipped state is finalState.
  await Promise.all(members('src').map((m) => local.stop(m)));
});

test('spec.restore.s3: a new cluster at a revision between the two snapshots, and one at the latest shipped state, serve exactly that data', async () => {
  const t0 = Date.now();
  assert.ok(pitState !== undefined && finalState !== undefined, 'the shipping test ran first');
  const cases: [string, Record<string, unknown>, KvList][] = [
    ['pit', { url: `s3://${BUCKET}/default/src/`, ...s3Conn() }, pitState],
    ['last', { url: `s3://${BUCKET}/default/src/`, ...s3Conn() }, finalState],
  ];
  for (const [name, source, want] of cases) {
    const restore = name === 'pit' ? { s3: source, toRevision: want.revision } : { s3: source };
    assert.equal((await cp.request('POST', NS, rc(name, { restore })).then((r) => r.status)), 201);
    const sts = await waitFor(`StatefulSet ${name}`, () => getJson<V1StatefulSet>(`/apis/apps/v1/namespaces/default/statefulsets/${name}`));
    for (const m of members(name)) {
      const r = await runRestoreInit(sts, name, m, secretData);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /"restored":true/);
    }
    for (const m of members(name)) startMember(m, sts, secretData);
    const restored = await waitFor(`${name} Running, Restored=True`, async () => {
      const c = await getJson<RaftCluster>(`${NS}/${name}`);
      return c?.status?.phase === 'Running' && c.status.conditions?.some((x) => x.type === 'Restored' && x.status === 'True') ? c : undefined;
    });
    assert.match(restored.status?.conditions?.find((x) => x.type === 'Restored')?.message ?? '', /s3:\/\//);
    for (const m of members(name)) {
      const got = await listAll(m);
      assert.deepEqual(got.kvs, want.kvs, `${m} serves exactly the state at revision ${want.revision}`);
      assert.equal(got.revision, want.revision);
    }
    await Promise.all(members(name).map((m) => local.stop(m)));
  }
  console.log(`# restore part: ${Date.now() - t0} ms`);
});
