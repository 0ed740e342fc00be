// Backups to S3 on the real one-node Kubernetes (scripts/test-e2e.sh starts it once for the tier;
// this file runs after operator-day2.test.ts, which uninstalls its operator, so it installs its
// own with helm). The store is versitygw (the real S3 server of the other tiers) run by this test
// as a process in the node's network namespace, listening where pods route (the node's bridge
// address) and given a cluster DNS name by a Service without selector plus an EndpointSlice that
// points at it: members, the backup Job, the restore init containers and the operator pod reach it
// as `http://s3.<ns>.svc:9000`, as they would reach any S3-compatible store. The test kills it
// (SIGKILL) for the outage and starts it again on the same port and data; its data lives under
// the node's state directory (cluster.sh down removes it and kills any process naming it).
//
// The scenario (issue "Backups that survive losing the cluster", its "Done when"), each step timed:
//   a. a 3-member RaftCluster with spec.backup.s3 + continuous + a short cron ships to S3; the
//      CronJob's pod saves a snapshot; a RaftBackup succeeds; writes (puts, overwrites, deletes)
//      from a pod through the client Service; revision R1 and the data at R1 recorded between two
//      RaftBackups; the leader's shipped revision catches up (its /v1/status backupShipping);
//   c. a RestoreBackup drill verifies the newest stored backup (run on the source cluster, since
//      a drill names the cluster whose backups it verifies; it overlaps step a's later writes);
//   d. the store killed while writes go on: BackupFresh False (ShippingStalled) within its bound,
//      and the shipped alert rule RaftkvBackupNotFresh fires on a real Prometheus (Debian's, in the
//      node's network namespace) scraping the operator pods' /metrics (the rule's expression as
//      shipped, its `for: 1m` set to 0s so the test is bounded); the store back: shipping catches
//      up, BackupFresh True, the alert resolves;
//   b. the RaftCluster and its PVCs deleted; two new one-member RaftClusters restored with
//      spec.restore.s3: the latest shipped state (it holds the writes made during the outage, so
//      nothing shipped late is missing) and toRevision R1 (exactly the data at R1, no later key).
// d runs before b because the outage needs a shipping cluster and b deletes it; the restore of
// the latest state is then also the check that the outage lost nothing.
// spec.backup.restoreDrill is not used: its drill starts only at a scheduled minute; the drill
// it creates is the same RestoreBackup drill as step c's (the operator tier runs the schedule).
//
// Env: as e2e.test.ts (RAFTKV_E2E_CLUSTER_DIR, RAFTKV_E2E_IMAGE, KUBECTL, HELM, RAFTKV_E2E_KEEP).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../lib/kube-control-plane.js';
import { E2ePrometheus, StepTimer, kubectl, sequentialSteps, waitUntil } from '../lib/e2e-env.js';
import type { PodHttpRequest, PodHttpResult, RealNode } from '../lib/real-node.js';
import { podExec, podHttp, realNodeFromEnv, run } from '../lib/real-node.js';
import { S3TestServer } from '../lib/s3-server.js';
import type { RaftBackup, RaftChaosDrill, RaftCluster } from '../../operator/src/api/types.js';

const ROOT = repoRoot();
const NS = 's3-backup';
const OPERATOR_NS = 'raftkv-system';
const IMAGE = process.env['RAFTKV_E2E_IMAGE'] ?? 'raftkv:dev';
const HELM = process.env['HELM'] ?? (existsSync(join(ROOT, '.cache', 'bin', 'helm')) ? join(ROOT, '.cache', 'bin', 'helm') : 'helm');
const KEEP = process.env['RAFTKV_E2E_KEEP'] === '1';
const CLIENT = 'client';
const SRC = 'src';
const BUCKET = 'raftkv-e2e';
/** The store's Service: name and port (the EndpointSlice maps it to versitygw's port on the node). */
const S3_SERVICE = 's3';
const S3_SERVICE_PORT = 9000;
const S3_ENDPOINT = `http://${S3_SERVICE}.${NS}.svc:${S3_SERVICE_PORT}`;
const PREFIX = `s3://${BUCKET}/${NS}/${SRC}/`;
/**
 * BackupFresh's bound after the store goes away: the leader calls shipping unhealthy once the
 * oldest unshipped change is max(3 × the 1 s ship interval, 10 s) old, and the operator reads the
 * leader's status at least every 10 s (its poll interval); 10 s more for a loaded machine.
 */
const STALE_BOUND_MS = 10_000 + 10_000 + 10_000;
/** The operator's metrics port (charts/raftkv-operator values.yaml metricsPort). */
const OPERATOR_METRICS_PORT = 8080;

let node: RealNode;
let s3: S3TestServer | undefined;
let prom: E2ePrometheus | undefined;
const work = mkdtempSync(join(tmpdir(), 'raftkv-e2e-s3-'));
const timer = new StepTimer();
const figures: string[] = [];

const kc = (args: readonly string[], timeoutMs?: number): Promise<string> => kubectl(node.kubeconfig, args, timeoutMs);
const kn = (args: readonly string[], timeoutMs?: number): Promise<string> => kc(['-n', NS, ...args], timeoutMs);
const call = (req: PodHttpRequest): Promise<PodHttpResult> => podHttp(node.kubeconfig, NS, CLIENT, req);
const memberUrl = (cluster: string, member: string): string => `http://${member}.${cluster}-peer.${NS}.svc:2379`;
const members = (cluster: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${cluster}-${i}`);
const log = (line: string): void => {
  process.stdout.write(`# ${line}\n`);
};

async function apply(name: string, doc: object): Promise<void> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, YAML.stringify(doc));
  await kn(['apply', '-f', file]);
}

async function getJson<T>(kind: string, name: string): Promise<T | undefined> {
  const out = await kn(['get', kind, name, '-o', 'json', '--ignore-not-found']);
  return out.trim() === '' ? undefined : (JSON.parse(out) as T);
}

const getCluster = (name: string): Promise<RaftCluster | undefined> => getJson<RaftCluster>('raftcluster', name);
const condition = (c: RaftCluster | undefined, type: string): { status: string; reason: string; message: string } | undefined => c?.status?.conditions?.find((x) => x.type === type);

async function diagnostics(): Promise<string> {
  const cs = await kn(['get', 'raftclusters', '-o', 'json']).then((o) => (JSON.parse(o) as { items: RaftCluster[] }).items.map((c) => `${c.metadata.name}: ${JSON.stringify(c.status)}`).join('\n')).catch((e: unknown) => String(e));
  const pods = await kn(['get', 'pods', '-o', 'wide']).catch((e: unknown) => String(e));
  const events = await kn(['get', 'events', '--sort-by=.lastTimestamp']).then((e) => e.split('\n').slice(-25).join('\n')).catch((e: unknown) => String(e));
  const op = await kc(['-n', OPERATOR_NS, 'logs', '-l', 'app.kubernetes.io/name=raftkv-operator', '--tail=15', '--prefix']).catch((e: unknown) => String(e));
  return `clusters:\n${cs}\npods:\n${pods}\nevents:\n${events}\noperator log:\n${op}\nversitygw log:\n${s3?.log().slice(-1500) ?? '(none)'}`;
}

async function waitCluster(name: string, what: string, timeoutMs: number, ok: (c: RaftCluster) => boolean): Promise<RaftCluster> {
  return waitUntil(`${name}: ${what}`, timeoutMs, async () => {
    const c = await getCluster(name);
    return c !== undefined && ok(c) ? c : undefined;
  }, diagnostics, 500);
}

/** One write: a put of `value`, or a delete when `value` is null. */
type Op = readonly [key: string, value: string | null];

/**
 * Run by `node -e` in the client pod: the writes in order, each through the client Service, as a
 * client does it: a 307 names the leader, which gets the following writes until it fails (then the
 * Service again); each write retried (bounded) until acknowledged. Prints the revision each one was
 * acknowledged at, or the first write that never was.
 */
const IN_POD_OPS = `
const [cluster, ops] = JSON.parse(process.argv[1]);
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const send = (method, url, body) => new Promise((resolve) => {
  const r = http.request(url, { method, agent, timeout: 5000, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
    let b = ''; res.on('data', (c) => b += c);
    res.on('end', () => resolve(res.statusCode === 307 ? { redirect: new URL(res.headers.location, url).origin } : { status: res.statusCode, body: b }));
  });
  r.on('timeout', () => r.destroy(new Error('timeout')));
  r.on('error', (e) => resolve({ status: 0, body: e.message }));
  r.end(body);
});
(async () => {
  const service = 'http://' + cluster + ':2379';
  let base = service;
  const revisions = [];
  for (const [key, value] of ops) {
    let last;
    for (let attempt = 0; attempt < 20; attempt++) {
      for (let hop = 0; hop < 4; hop++) { last = await send(value === null ? 'DELETE' : 'PUT', base + '/v1/kv/' + key, value ?? ''); if (!last.redirect) break; base = last.redirect; }
      if (last.status === 200) break;
      base = service;
      await new Promise((s) => setTimeout(s, 250));
    }
    if (last.status !== 200) { console.log(JSON.stringify({ revisions, failed: key, last })); return; }
    revisions.push(JSON.parse(last.body).revision);
  }
  console.log(JSON.stringify({ revisions }));
  agent.destroy();
})();
`;

/** The value of every key after each acknowledged write, in order (the model the restores are checked against). */
const model = new Map<string, string>();

/** Writes `ops` from the client pod; every one must be acknowledged. Returns the last revision. */
async function write(cluster: string, ops: readonly Op[]): Promise<number> {
  const r = await podExec(node.kubeconfig, NS, CLIENT, ['node', '-e', IN_POD_OPS, JSON.stringify([cluster, ops])], { timeoutMs: 120_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let out: { revisions: number[]; failed?: string; last?: unknown };
  try {
    out = JSON.parse(line) as typeof out;
  } catch {
    throw new Error(`in-pod writer printed no result (exit ${String(r.code)}): ${r.stdout}${r.stderr}`);
  }
  for (const [i, [key, value]] of ops.entries()) {
    if (i >= out.revisions.length) break;
    if (value === null) model.delete(key);
    else model.set(key, value);
  }
  assert.equal(out.failed, undefined, `write ${String(out.failed)} was never acknowledged: ${JSON.stringify(out.last)}`);
  return out.revisions[out.revisions.length - 1] ?? 0;
}

interface KvList { kvs: { key: string; value: string; modRevision: number; createRevision: number }[]; revision: number }

/** Every key of `member` (its local state: `serializable`), with the revision it is at. */
async function listAll(cluster: string, member: string, consistency: 'serializable' | 'linearizable' = 'serializable'): Promise<KvList> {
  const r = await call({ method: 'GET', url: `${memberUrl(cluster, member)}/v1/kv?prefix=&limit=10000&consistency=${consistency}` });
  assert.equal(r.status, 200, `${member} list: ${r.status} ${r.text}${r.error ?? ''}`);
  const body = JSON.parse(r.text) as KvList & { more: boolean };
  assert.equal(body.more, false, 'one page holds every key');
  return { kvs: body.kvs, revision: body.revision };
}

/** Key → value (decoded) of a listing. */
const valuesOf = (l: KvList): Map<string, string> => new Map(l.kvs.map((kv) => [kv.key, Buffer.from(kv.value, 'base64').toString('utf8')]));

interface MemberStatusJson {
  role: string;
  leader: { name: string } | null;
  backupShipping?: { shipping: boolean; shippedRevision: number; lagSeconds: number; healthy: boolean; lastError: string | null; segmentsShipped: number; baseSnapshots: number };
}

async function memberStatus(cluster: string, member: string): Promise<MemberStatusJson> {
  const r = await call({ method: 'GET', url: `${memberUrl(cluster, member)}/v1/status` });
  assert.equal(r.status, 200, `${member} /v1/status: ${r.status} ${r.text}${r.error ?? ''}`);
  return JSON.parse(r.text) as MemberStatusJson;
}

/** The shipping leader's view, once its shipped revision reached `revision` and it is healthy. */
async function waitShipped(revision: number, timeoutMs: number): Promise<NonNullable<MemberStatusJson['backupShipping']>> {
  return waitUntil(`the leader shipped revision ${revision}`, timeoutMs, async () => {
    const leader = (await getCluster(SRC))?.status?.leader ?? '';
    if (leader === '') return undefined;
    const sh = (await memberStatus(SRC, leader)).backupShipping;
    return sh !== undefined && sh.shipping && sh.healthy && sh.shippedRevision >= revision ? sh : undefined;
  }, diagnostics, 250);
}

async function runBackup(name: string): Promise<RaftBackup> {
  await apply(`backup-${name}`, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftBackup', metadata: { name }, spec: { clusterRef: { name: SRC } } });
  return waitUntil(`RaftBackup ${name} Succeeded`, 60_000, async () => {
    const b = await getJson<RaftBackup>('raftbackup', name);
    assert.notEqual(b?.status?.phase, 'Failed', `RaftBackup ${name} failed: ${b?.status?.message ?? ''}`);
    return b?.status?.phase === 'Succeeded' ? b : undefined;
  }, diagnostics, 300);
}

/** RaftkvBackupNotFresh firing for the source cluster on the test's Prometheus. */
async function alertFiring(): Promise<boolean> {
  const list = await (prom as E2ePrometheus).alerts();
  return list.some((a) => a.labels['alertname'] === 'RaftkvBackupNotFresh' && a.state === 'firing' && a.labels['namespace'] === NS && a.labels['cluster'] === SRC);
}

/** The operator pods' metrics endpoints, as Prometheus scrape targets. */
async function operatorTargets(): Promise<string[]> {
  const pods = JSON.parse(await kc(['-n', OPERATOR_NS, 'get', 'pods', '-l', 'app.kubernetes.io/name=raftkv-operator', '-o', 'json'])) as { items: { status: { podIP?: string; phase?: string } }[] };
  return pods.items.filter((p) => p.status.phase === 'Running' && (p.status.podIP ?? '') !== '').map((p) => `${p.status.podIP ?? ''}:${OPERATOR_METRICS_PORT}`);
}

/** The scenario's steps: the later ones build on what the earlier left. */
const step = sequentialSteps();

before(async () => {
  node = realNodeFromEnv();
  assert.notEqual(node.nodeIp, '', 'node.env names the node\'s bridge address (NODE_IP): the store listens there for the pods');
  const t0 = Date.now();
  const [repo, tag] = IMAGE.split(':');
  const nsenter = ['nsenter', `--net=/run/netns/${node.netns}`, '--'];
  // Independent set-up in parallel: the store, the namespace with its objects, the operator, Prometheus.
  const store = (async () => {
    // 0.0.0.0 in the node's namespace: the pods reach it at the bridge address, the test at the host link's node end.
    const s = await S3TestServer.start('e2e-s3', null, { wrap: nsenter, listenHost: '0.0.0.0', reachHost: node.linkNode, parentDir: node.dir });
    s3 = s;
    await s.createBucket(BUCKET);
  })();
  const operator = timer.step('helm install raftkv-operator --wait', async () => {
    const r = await run(HELM, ['--kubeconfig', node.kubeconfig, 'install', 'raftkv-operator', join(ROOT, 'charts', 'raftkv-operator'), '-n', OPERATOR_NS, '--create-namespace',
      '--set', `image.repository=${repo ?? ''}`, '--set', `image.tag=${tag ?? ''}`, '--wait', '--timeout', '240s'], { timeoutMs: 260_000 });
    assert.equal(r.code, 0, `helm install: ${r.stdout}${r.stderr}`);
  });
  const rules = (async () => {
    // The shipped rule file, only the hold times set to 0s (the expressions unchanged).
    const doc = YAML.parse(readFileSync(join(ROOT, 'k8s', 'grafana', 'raftkv-alerts.yml'), 'utf8')) as { groups: { name: string; rules: { alert: string; expr: string; for?: string }[] }[] };
    const group = doc.groups.find((g) => g.name === 'raftkv-backups');
    assert.ok(group !== undefined && group.rules.some((r) => r.alert === 'RaftkvBackupNotFresh'), 'the shipped rules hold RaftkvBackupNotFresh');
    for (const r of group.rules) r.for = '0s';
    const file = join(work, 'backup-rules.yml');
    writeFileSync(file, YAML.stringify({ groups: [group] }));
    prom = await E2ePrometheus.start({ wrap: nsenter, listenHost: node.linkNode, ruleFiles: [file] });
  })();
  // Awaited below; a failure meanwhile must not count as unhandled.
  for (const p of [store, operator, rules]) p.catch(() => undefined);
  await kc(['create', 'namespace', NS]);
  // The source cluster as soon as helm has installed the CRDs: the operator takes it up once it runs.
  const source = (async () => {
    await waitUntil('the RaftCluster CRD', 60_000, async () => ((await kc(['get', 'crd', 'raftclusters.raftkv.dev', '--ignore-not-found', '-o', 'name'])).trim() !== '' ? true : undefined), diagnostics, 300);
    await kc(['wait', '--for=condition=Established', 'crd/raftclusters.raftkv.dev', '--timeout=30s'], 40_000);
    srcCreatedAt = Date.now();
    await apply(SRC, {
      apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: SRC },
      spec: {
        replicas: 3, image: IMAGE, imagePullPolicy: 'Never', storage: { size: '1Gi' },
        resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
        raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 },
        // keep 10: the scheduled runs must not prune the snapshot the point-in-time restore starts from.
        backup: { schedule: '* * * * *', keep: 10, s3: { bucket: BUCKET, endpoint: S3_ENDPOINT, forcePathStyle: true, credentialsSecret: { name: 's3-creds' } }, continuous: true },
      },
    });
  })();
  source.catch(() => undefined);
  await waitUntil('default ServiceAccount', 30_000, async () => ((await kn(['get', 'serviceaccount', 'default', '--ignore-not-found', '-o', 'name'])).trim() !== '' ? true : undefined));
  await kn(['run', CLIENT, `--image=${IMAGE}`, '--image-pull-policy=Never', '--restart=Never', '--command', '--', 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']);
  await store;
  const s = s3 as S3TestServer;
  // The credentials as users give them: a Secret with the standard AWS key names.
  await kn(['create', 'secret', 'generic', 's3-creds', `--from-literal=AWS_ACCESS_KEY_ID=${s.accessKey}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${s.secretKey}`]);
  // A DNS name for a store outside the cluster: a Service without selector and its EndpointSlice.
  await apply('s3-service', { apiVersion: 'v1', kind: 'Service', metadata: { name: S3_SERVICE }, spec: { ports: [{ name: 's3', port: S3_SERVICE_PORT, protocol: 'TCP' }] } });
  await apply('s3-endpoints', {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${S3_SERVICE}-node`, labels: { 'kubernetes.io/service-name': S3_SERVICE } },
    addressType: 'IPv4', ports: [{ name: 's3', port: s.port, protocol: 'TCP' }], endpoints: [{ addresses: [node.nodeIp], conditions: { ready: true } }],
  });
  await kn(['wait', '--for=condition=Ready', `pod/${CLIENT}`, '--timeout=120s'], 130_000);
  await waitUntil('the store answers from a pod through its Service', 30_000, async () => {
    const r = await call({ method: 'GET', url: `${S3_ENDPOINT}/` });
    return r.status === 403 || r.status === 200 ? true : undefined;
  }, diagnostics);
  await Promise.all([operator, rules, source]);
  (prom as E2ePrometheus).setTargets([{ targets: await operatorTargets(), labels: { job: 'raftkv-operator' } }]);
  timer.add('set-up: store, Service, Secret, client pod, operator, Prometheus, src applied', Date.now() - t0);
});

after(async () => {
  // Best effort on failure too: nothing of this file is left running.
  const t0 = Date.now();
  // The operator first removes what it made for the clusters; then it and the namespace go together.
  await kn(['delete', 'raftclusters,raftbackups,raftchaosdrills', '--all', '--wait=true', '--timeout=120s'], 130_000).catch(() => undefined);
  await Promise.all([
    run(HELM, ['--kubeconfig', node.kubeconfig, 'uninstall', 'raftkv-operator', '-n', OPERATOR_NS, '--wait', '--timeout', '120s'], { timeoutMs: 130_000 }).catch(() => undefined),
    kc(['delete', 'namespace', NS, '--wait=true', '--timeout=120s'], 130_000).catch(() => undefined),
    prom?.stop(),
  ]);
  s3?.stop();
  timer.add('clean-up: clusters, operator, namespace, Prometheus, the store', Date.now() - t0);
  process.stdout.write(`\n# S3 backup step timings (real node)\n${timer.table().split('\n').map((l) => `# ${l}`).join('\n')}\n`);
  if (figures.length > 0) process.stdout.write(`# figures\n${figures.map((l) => `#   ${l}`).join('\n')}\n`);
  if (!KEEP) rmSync(work, { recursive: true, force: true });
});

/** Between the two RaftBackups: the revision the point-in-time restore targets, and the data there. */
let atR1: KvList | undefined;
/** The last state written (after the outage). */
let atEnd: KvList | undefined;
/** The drill of step c, started in step a. */
let drill: Promise<RaftChaosDrill> | undefined;
let firstBackup: RaftBackup | undefined;
let srcCreatedAt = 0;

step('a. spec.backup.s3 + continuous + schedule: the members ship, the CronJob\'s pod and a RaftBackup save to S3, the shipped log catches up', 240_000, async () => {
  const ready = await timer.step('src: (applied in set-up) → Available, 3 voters, the leader shipping', () => waitCluster(SRC, 'Available, 3 voters, shipping healthy, BackupFresh True', 240_000, (c) =>
    condition(c, 'Available')?.status === 'True' && (c.status?.members ?? []).filter((m) => m.voter && m.healthy).length === 3 &&
    c.status?.backup?.shipping?.healthy === true && condition(c, 'BackupFresh')?.status === 'True'));
  assert.equal(ready.status?.backup?.target, PREFIX);
  const t0 = Date.now();
  // The CronJob's pod template, run now (what the schedule runs: raftctl snapshot save s3://... from
  // a pod), while the first writes go on.
  const job = timer.step('kubectl create job --from=cronjob/src-backup → Complete', async () => {
    await kn(['create', 'job', '--from=cronjob/src-backup', 'src-backup-now']);
    await kn(['wait', '--for=condition=Complete', 'job/src-backup-now', '--timeout=90s'], 100_000);
    return kn(['logs', 'job/src-backup-now']);
  });
  job.catch(() => undefined); // awaited below; a failure must not count as unhandled meanwhile
  await write(SRC, Array.from({ length: 40 }, (_, i): Op => [`k/${i}`, `a-${i}`]));
  const jobLog = await job;
  assert.match(jobLog, new RegExp(`saved ${PREFIX.replace(/[/.]/g, '\\$&')}snapshot-\\S+\\.snap`), jobLog);
  firstBackup = await timer.step('RaftBackup 1 → Succeeded', () => runBackup('first'), (b) => `revision ${b.status?.revision ?? '?'}, ${b.status?.sizeBytes ?? '?'} bytes`);
  const b1 = firstBackup.status ?? {};
  assert.match(b1.url ?? '', new RegExp(`^${PREFIX.replace(/[/.]/g, '\\$&')}snapshot-.*-rev${b1.revision ?? -1}-[0-9a-f]+\\.snap$`));
  // Step c's drill verifies the stored backups while the writes below go on (they touch only src).
  const drillName = 'verify';
  const drillStart = Date.now();
  await apply(`drill-${drillName}`, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name: drillName }, spec: { clusterRef: { name: SRC }, action: 'RestoreBackup' } });
  drill = waitUntil('the RestoreBackup drill finished', 180_000, async () => {
    const d = await getJson<RaftChaosDrill>('raftchaosdrill', drillName);
    return d?.status?.phase === 'Succeeded' || d?.status?.phase === 'Failed' ? d : undefined;
  }, diagnostics, 500).then((d) => {
    timer.add('c. RestoreBackup drill → finished (scratch cluster restored, checked, deleted)', Date.now() - drillStart, `${d.status?.phase ?? '?'}`);
    return d;
  });
  drill.catch(() => undefined);

  // Overwrites, new keys and deletes; then R1; then more of each.
  await write(SRC, [...Array.from({ length: 20 }, (_, i): Op => [`k/${i * 2}`, `b-${i}`]), ...Array.from({ length: 8 }, (_, i): Op => [`k/${i * 3 + 1}`, null]), ...Array.from({ length: 15 }, (_, i): Op => [`m/${i}`, `b-${i}`])]);
  atR1 = await listAll(SRC, `${SRC}-0`, 'linearizable');
  assert.deepEqual(valuesOf(atR1), model, 'the cluster holds exactly the acknowledged writes at R1');
  await write(SRC, [...Array.from({ length: 20 }, (_, i): Op => [`k/${i}`, `c-${i}`]), ...Array.from({ length: 5 }, (_, i): Op => [`m/${i}`, null]), ...Array.from({ length: 15 }, (_, i): Op => [`n/${i}`, `c-${i}`])]);
  const b2 = (await timer.step('RaftBackup 2 → Succeeded', () => runBackup('second'), (b) => `revision ${b.status?.revision ?? '?'}`)).status ?? {};
  assert.ok((b1.revision ?? Infinity) < atR1.revision && atR1.revision < (b2.revision ?? 0), `R1 ${atR1.revision} lies between the two backups (${b1.revision ?? '?'}, ${b2.revision ?? '?'})`);
  const sh = await waitShipped(b2.revision ?? Infinity, 30_000);
  timer.add('writes (143 ops), the Job, 2 RaftBackups → the leader shipped the last revision', Date.now() - t0, `R1 ${atR1.revision}; shipped revision ${sh.shippedRevision}, ${sh.segmentsShipped} segments, ${sh.baseSnapshots} base snapshot(s)`);
});

step('c. the RestoreBackup drill verified a stored backup (checksum, revision, key count in its status)', 200_000, async () => {
  assert.ok(drill !== undefined && firstBackup !== undefined);
  const d = await drill;
  assert.equal(d.status?.phase, 'Succeeded', `drill: ${d.status?.message ?? ''}`);
  const v = d.status?.verifiedBackup;
  assert.ok(v !== undefined, 'status.verifiedBackup');
  log(`drill verified ${v.url}: revision ${v.revision}, ${v.keys} keys, ${v.bytes} bytes`);
  assert.ok(v.url.startsWith(`${PREFIX}snapshot-`), v.url);
  // The newest backup when the drill started: the first RaftBackup, or a scheduled run after it.
  assert.ok(v.revision >= (firstBackup.status?.revision ?? Infinity), `the drill took the newest backup (revision ${v.revision})`);
  if (v.url === firstBackup.status?.url) {
    assert.equal(v.sha256, firstBackup.status.sha256);
    assert.equal(v.keys, 40, 'the first backup holds the 40 keys written before it');
  }
  await waitUntil('the scratch cluster deleted', 60_000, async () => ((await getCluster('verify-scratch')) === undefined ? true : undefined), diagnostics);
  const c = await waitCluster(SRC, 'status.backup.lastVerifiedBackup from the drill', 30_000, (x) => x.status?.backup?.lastVerifiedBackup?.drill === 'verify');
  assert.equal(c.status?.backup?.lastVerifiedBackup?.url, v.url);
});

step('d. the store killed: BackupFresh False and RaftkvBackupNotFresh fires; back: shipping catches up, BackupFresh True', 180_000, async () => {
  const store = s3 as S3TestServer;
  const p = prom as E2ePrometheus;
  // The rule is loaded and evaluated, and does not fire while backups are fresh (the negative case).
  await waitUntil('Prometheus scrapes the operator and reads raftkv_operator_backup_fresh 1', 30_000, async () => {
    const q = await p.query(`raftkv_operator_backup_fresh{namespace="${NS}",cluster="${SRC}"}`);
    return q.some((s) => s.value[1] === '1') ? true : undefined;
  }, () => p.log());
  // (the alert's state trails the scraped gauge by up to one evaluation; a gauge of 0 during the
  // bootstrap, before the leader reported shipping, may have fired it then)
  await waitUntil('RaftkvBackupNotFresh not firing while BackupFresh is True', 10_000, async () => ((await alertFiring()) ? undefined : true), () => p.log(), 500);
  await store.kill();
  const down = Date.now();
  const during = await write(SRC, Array.from({ length: 20 }, (_, i): Op => [`o/${i}`, `outage-${i}`]));
  log(`20 writes acknowledged while the store is down (up to revision ${during})`);
  const stale = await waitCluster(SRC, 'BackupFresh False', STALE_BOUND_MS + 10_000, (c) => condition(c, 'BackupFresh')?.status === 'False');
  const staleMs = Date.now() - down;
  const cond = condition(stale, 'BackupFresh');
  timer.add('store killed → BackupFresh False', staleMs, `${cond?.reason ?? ''}: ${(cond?.message ?? '').slice(0, 90)}`);
  assert.equal(cond?.reason, 'ShippingStalled');
  assert.ok(staleMs <= STALE_BOUND_MS, `BackupFresh turned False within its bound (${staleMs} ms <= ${STALE_BOUND_MS} ms)`);
  await waitUntil('RaftkvBackupNotFresh firing', 30_000, async () => ((await alertFiring()) ? true : undefined), () => p.log(), 500);
  timer.add('store killed → RaftkvBackupNotFresh firing (for: 0s)', Date.now() - down);
  const warned = await kn(['get', 'events', '--field-selector', `involvedObject.kind=RaftCluster,involvedObject.name=${SRC},reason=ShippingStalled`, '-o', 'name']);
  assert.notEqual(warned.trim(), '', 'a ShippingStalled Event');

  await store.restart();
  const back = Date.now();
  atEnd = await listAll(SRC, `${SRC}-0`, 'linearizable');
  assert.equal(atEnd.revision, during, 'nothing but the test wrote');
  assert.deepEqual(valuesOf(atEnd), model, 'the cluster holds exactly the acknowledged writes');
  const sh = await waitShipped(atEnd.revision, 60_000);
  timer.add('store back → the leader shipped every change of the outage', Date.now() - back, `shipped revision ${sh.shippedRevision}`);
  await waitCluster(SRC, 'BackupFresh True', 40_000, (c) => condition(c, 'BackupFresh')?.status === 'True' && (c.status?.backup?.shipping?.shippedRevision ?? 0) >= (atEnd?.revision ?? Infinity));
  timer.add('store back → BackupFresh True', Date.now() - back);
  await waitUntil('RaftkvBackupNotFresh resolved', 30_000, async () => ((await alertFiring()) ? undefined : true), () => p.log(), 500);
  // The short cron: the CronJob fired by itself once a scheduled minute passed with the cluster up.
  const cj = JSON.parse(await kn(['get', 'cronjob', `${SRC}-backup`, '-o', 'json'])) as { status?: { lastScheduleTime?: string; lastSuccessfulTime?: string } };
  figures.push(`CronJob '* * * * *': last scheduled ${cj.status?.lastScheduleTime ?? 'never'}, last success ${cj.status?.lastSuccessfulTime ?? 'none'} (src up since ${new Date(srcCreatedAt).toISOString()})`);
  if (Date.now() - srcCreatedAt > 75_000) assert.ok(cj.status?.lastScheduleTime !== undefined, 'the CronJob fired on its schedule');
});

step('b. the cluster and its PVCs deleted; new RaftClusters restored from S3 serve exactly the latest state and the state at R1', 300_000, async () => {
  assert.ok(atR1 !== undefined && atEnd !== undefined);
  await timer.step('delete RaftCluster src and its PVCs → gone', async () => {
    await kn(['delete', 'raftcluster', SRC, '--wait=true', '--timeout=120s'], 130_000);
    await kn(['delete', 'pvc', ...members(SRC, 3).map((m) => `data-${m}`), '--wait=true', '--timeout=120s'], 130_000);
    await waitUntil('no pod or PVC of src left', 120_000, async () => {
      const left = (await kn(['get', 'pods,pvc', '-o', 'name'])).split('\n').filter((l) => /\/(data-)?src-\d/.test(l));
      return left.length === 0 ? true : undefined;
    }, diagnostics);
  });
  const source = { url: PREFIX, endpoint: S3_ENDPOINT, forcePathStyle: true, credentialsSecret: { name: 's3-creds' } };
  const restored = async (name: string, restore: Record<string, unknown>, want: KvList): Promise<void> => {
    const t0 = Date.now();
    await apply(name, {
      apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name },
      spec: { replicas: 1, image: IMAGE, imagePullPolicy: 'Never', storage: { size: '1Gi' }, resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } }, restore },
    });
    const c = await waitCluster(name, 'Running, Restored True', 180_000, (x) => x.status?.phase === 'Running' && condition(x, 'Restored')?.status === 'True' && (x.status.leader ?? '') !== '');
    const got = await listAll(name, `${name}-0`);
    assert.deepEqual(got.kvs, want.kvs, `${name} serves exactly the state at revision ${want.revision}`);
    assert.equal(got.revision, want.revision);
    timer.add(`restore ${name}: apply → Running, serving revision ${want.revision}`, Date.now() - t0, (condition(c, 'Restored')?.message ?? '').slice(0, 90));
  };
  const r1 = atR1;
  const end = atEnd;
  await Promise.all([
    restored('latest', { s3: source }, end),
    restored('pit', { s3: source, toRevision: r1.revision }, r1),
  ]);
  // Every acknowledged write, including the outage's; at R1 none of the later keys.
  assert.deepEqual(valuesOf(end), model);
  assert.ok(![...valuesOf(r1).keys()].some((k) => k.startsWith('n/') || k.startsWith('o/')), 'no key written after R1');
  // The restored cluster is a cluster: its next write gets the next revision.
  const put = await call({ method: 'PUT', url: `${memberUrl('latest', 'latest-0')}/v1/kv/after-restore`, body: 'x' });
  assert.equal(put.status, 200, `${put.text}${put.error ?? ''}`);
  assert.equal((JSON.parse(put.text) as { revision: number }).revision, end.revision + 1);
});
