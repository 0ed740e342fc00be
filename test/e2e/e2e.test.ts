// End to end on a real one-node Kubernetes (scripts/cluster.sh: kube-apiserver, controller-manager,
// scheduler, kubelet, containerd + runc, kube-proxy, CoreDNS, the local-path provisioner), which
// scripts/test-e2e.sh starts once for the whole tier with the image built from the Dockerfile
// (raftkv:dev, and a second build raftkv:e2e-b for the rolling update) and takes down at the end.
// Everything is done as users do it: `helm install` of charts/raftkv-operator, `kubectl apply` of
// the samples with spec.image set to the local build, `kubectl scale`, `kubectl delete pod`,
// `kubectl patch`; clients are pods of the image talking to Services and pod DNS names through
// CoreDNS and kube-proxy. Faults the kubelet must answer (a crashed or frozen container) are made
// from the host on the container's process, found through containerd.
//
// Env (set by scripts/test-e2e.sh): RAFTKV_E2E_CLUSTER_DIR (the node's state directory: kubeconfig,
// node.env); RAFTKV_E2E_IMAGE / RAFTKV_E2E_IMAGE_B (default raftkv:dev / raftkv:e2e-b); KUBECTL,
// HELM (binaries); RAFTKV_E2E_KEEP=1 keeps the temp dir.
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../lib/kube-control-plane.js';
import { E2ePrometheus, StepTimer, kubectl, waitUntil } from '../lib/e2e-env.js';
import type { PodHttpRequest, PodHttpResult, RealNode } from '../lib/real-node.js';
import { containerHostPid, hostPathOf, podExec, podHttp, realNodeFromEnv, run, watchLeaderChange } from '../lib/real-node.js';
import type { RaftChaosDrill, RaftCluster } from '../../operator/src/api/types.js';
import { panelQueries, substitute } from '../unit/observability/dashboards.js';
import { SNAPSHOT_NAME_RE, parseSnapshotName } from '../../daemon/src/cli/snapshot-dir.js';

const ROOT = repoRoot();
const NS = 'e2e';
const OPERATOR_NS = 'raftkv-system';
const IMAGE = process.env['RAFTKV_E2E_IMAGE'] ?? 'raftkv:dev';
const IMAGE_B = process.env['RAFTKV_E2E_IMAGE_B'] ?? 'raftkv:e2e-b';
const HELM = process.env['HELM'] ?? (existsSync(join(ROOT, '.cache', 'bin', 'helm')) ? join(ROOT, '.cache', 'bin', 'helm') : 'helm');
const KEEP = process.env['RAFTKV_E2E_KEEP'] === '1';
/** The in-cluster client: a pod of the image that only sleeps; requests are made from it. */
const CLIENT = 'client';

let node: RealNode;
let prom: E2ePrometheus | undefined;
const work = mkdtempSync(join(tmpdir(), 'raftkv-e2e-'));
const timer = new StepTimer();
const figures: string[] = [];
let clusterName = '';
let sampleFile = '';
let electionTimeoutMs = 0;

const kc = (args: readonly string[], timeoutMs?: number): Promise<string> => kubectl(node.kubeconfig, args, timeoutMs);
const kn = (args: readonly string[], timeoutMs?: number): Promise<string> => kc(['-n', NS, ...args], timeoutMs);
const call = (req: PodHttpRequest): Promise<PodHttpResult> => podHttp(node.kubeconfig, NS, CLIENT, req);
const memberUrl = (cluster: string, member: string, scheme = 'http'): string => `${scheme}://${member}.${cluster}-peer.${NS}.svc:2379`;
const figure = (line: string): void => {
  figures.push(line);
  process.stdout.write(`# ${line}\n`);
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function getCluster(name = clusterName): Promise<RaftCluster | undefined> {
  const out = await kn(['get', 'raftcluster', name, '-o', 'json', '--ignore-not-found']);
  return out.trim() === '' ? undefined : (JSON.parse(out) as RaftCluster);
}

interface PodJson {
  metadata: { name: string; uid: string; creationTimestamp: string; labels?: Record<string, string> };
  spec: { containers: { image: string }[]; terminationGracePeriodSeconds?: number };
  status: {
    phase?: string; podIP?: string;
    conditions?: { type: string; status: string; lastTransitionTime: string }[];
    containerStatuses?: { ready: boolean; restartCount: number; containerID?: string; imageID: string; image: string; state: { running?: { startedAt: string } } }[];
  };
}

async function pod(name: string): Promise<PodJson> {
  return JSON.parse(await kn(['get', 'pod', name, '-o', 'json'])) as PodJson;
}

/** What the test prints when a wait times out: cluster status, pods, the operator's log. */
async function diagnostics(): Promise<string> {
  const c = await getCluster().catch(() => undefined);
  const pods = await kc(['get', 'pods', '-A', '-o', 'wide']).catch((e: unknown) => String(e));
  const events = await kn(['get', 'events', '--sort-by=.lastTimestamp']).then((e) => e.split('\n').slice(-20).join('\n')).catch((e: unknown) => String(e));
  const op = await kc(['-n', OPERATOR_NS, 'logs', '-l', 'app.kubernetes.io/name=raftkv-operator', '--tail=15', '--prefix']).catch((e: unknown) => String(e));
  return `status: ${JSON.stringify(c?.status)}\npods:\n${pods}\nevents:\n${events}\noperator log:\n${op}`;
}

async function waitCluster(what: string, timeoutMs: number, ok: (c: RaftCluster) => boolean, name = clusterName): Promise<RaftCluster> {
  return waitUntil(what, timeoutMs, async () => {
    const c = await getCluster(name);
    return c !== undefined && ok(c) ? c : undefined;
  }, diagnostics, 500);
}

const condition = (c: RaftCluster, type: string): string | undefined => c.status?.conditions?.find((x) => x.type === type)?.status;
const members = (n: number, cluster = clusterName): string[] => Array.from({ length: n }, (_, i) => `${cluster}-${i}`);

/** Healthy voters, Available, and the StatefulSet's pods Ready (the kubelet's readiness). */
async function waitHealthy(what: string, n: number, timeoutMs: number, name = clusterName): Promise<RaftCluster> {
  const c = await waitCluster(what, timeoutMs, (x) => condition(x, 'Available') === 'True' && x.status?.phase === 'Running' && x.status.readyReplicas === n &&
    (x.status.members ?? []).length === n && (x.status.members ?? []).every((m) => m.voter && m.healthy) && (x.status.leader ?? '') !== '', name);
  await waitUntil(`StatefulSet ${name} readyReplicas ${n}`, 60_000, async () => {
    const sts = JSON.parse(await kn(['get', 'statefulset', name, '-o', 'json'])) as { status: { readyReplicas?: number; replicas?: number } };
    return sts.status.readyReplicas === n && sts.status.replicas === n ? true : undefined;
  }, diagnostics);
  return c;
}

async function memberStatus(cluster: string, member: string): Promise<{ name: string; role: string; leader: { name: string } | null; members: { name: string; voter: boolean }[] }> {
  const r = await call({ method: 'GET', url: `${memberUrl(cluster, member)}/v1/status` });
  assert.equal(r.status, 200, `${member} /v1/status: ${r.status} ${r.text}${r.error ?? ''}`);
  return JSON.parse(r.text) as Awaited<ReturnType<typeof memberStatus>>;
}

/** The operator's Events about the cluster, oldest first. */
async function clusterEvents(): Promise<string[]> {
  const list = JSON.parse(await kn(['get', 'events', '--field-selector', `involvedObject.kind=RaftCluster,involvedObject.name=${clusterName}`, '-o', 'json'])) as
    { items: { reason: string; message: string; metadata: { resourceVersion: string } }[] };
  return list.items.sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion)).map((e) => `${e.reason}: ${e.message}`);
}

/** Asserts that events matching `patterns` occur in this order (each after the previous match). */
function assertInOrder(events: readonly string[], patterns: readonly RegExp[], from = 0): void {
  let at = from;
  for (const p of patterns) {
    const i = events.findIndex((e, j) => j >= at && p.test(e));
    assert.ok(i >= 0, `no event matching ${String(p)} after #${at} in:\n${events.map((e, j) => `${j} ${e}`).join('\n')}`);
    at = i + 1;
  }
}

/** Seconds between two RFC 3339 timestamps (the API's are whole seconds). */
const secondsBetween = (from: string, to: string): number => (Date.parse(to) - Date.parse(from)) / 1000;

before(async () => {
  node = realNodeFromEnv();
  const sample = YAML.parse(readFileSync(join(ROOT, 'k8s', 'samples', 'raftcluster.yaml'), 'utf8')) as RaftCluster;
  clusterName = sample.metadata.name;
  electionTimeoutMs = sample.spec.raft?.electionTimeoutMs ?? 1000;
  // The sample names the published image; here it is the one built from this tree, as the README says.
  sampleFile = join(work, 'raftcluster.yaml');
  writeFileSync(sampleFile, YAML.stringify({ ...sample, spec: { ...sample.spec, image: IMAGE } }));
  await kc(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=60s'], 70_000);
  await kc(['create', 'namespace', NS]);
  await waitUntil('default ServiceAccount in the test namespace', 30_000, async () => ((await kn(['get', 'serviceaccount', 'default', '--ignore-not-found', '-o', 'name'])).trim() !== '' ? true : undefined));
  await timer.step('client pod (the image, sleeping) Ready', async () => {
    await kn(['run', CLIENT, `--image=${IMAGE}`, '--image-pull-policy=Never', '--restart=Never', '--command', '--', 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']);
    await kn(['wait', '--for=condition=Ready', `pod/${CLIENT}`, '--timeout=120s'], 130_000);
  });
});

after(async () => {
  await prom?.stop();
  process.stdout.write(`\n# e2e step timings (real node)\n${timer.table().split('\n').map((l) => `# ${l}`).join('\n')}\n`);
  if (figures.length > 0) process.stdout.write(`# figures\n${figures.map((l) => `#   ${l}`).join('\n')}\n`);
  if (!KEEP) rmSync(work, { recursive: true, force: true });
  else process.stdout.write(`# kept ${work}\n`);
});

test('the node: pods resolve names through CoreDNS and reach the API server through its Service (kube-proxy)', { timeout: 120_000 }, async () => {
  const dns = await podExec(node.kubeconfig, NS, CLIENT, ['getent', 'hosts', 'kubernetes.default.svc.cluster.local']);
  assert.match(dns.stdout, /^10\.96\.0\.1\s/, `getent: ${dns.stdout}${dns.stderr}`);
  const api = await podExec(node.kubeconfig, NS, CLIENT, ['node', '-e', `
    const https = require('node:https'); const fs = require('node:fs');
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount/';
    https.get({ host: 'kubernetes.default.svc', path: '/version', ca: fs.readFileSync(sa + 'ca.crt'), headers: { authorization: 'Bearer ' + fs.readFileSync(sa + 'token', 'utf8') } },
      (r) => { let b = ''; r.on('data', (c) => b += c); r.on('end', () => console.log(r.statusCode, JSON.parse(b).gitVersion)); })
      .on('error', (e) => { console.log('error', e.message); process.exit(1); });`]);
  assert.match(api.stdout, /^200 v1\.37\.0/, `API through the kubernetes Service: ${api.stdout}${api.stderr}`);
});

test('helm install of the operator chart: two operator pods from the image, one holds the Lease', { timeout: 300_000 }, async () => {
  const [repo, tag] = IMAGE.split(':');
  await timer.step('helm install raftkv-operator --wait', async () => {
    const r = await run(HELM, ['--kubeconfig', node.kubeconfig, 'install', 'raftkv-operator', join(ROOT, 'charts', 'raftkv-operator'), '-n', OPERATOR_NS, '--create-namespace',
      '--set', `image.repository=${repo ?? ''}`, '--set', `image.tag=${tag ?? ''}`, '--wait', '--timeout', '240s'], { timeoutMs: 260_000 });
    assert.equal(r.code, 0, `helm install: ${r.stdout}${r.stderr}`);
  });
  const deploy = JSON.parse(await kc(['-n', OPERATOR_NS, 'get', 'deployment', 'raftkv-operator', '-o', 'json'])) as { status: { readyReplicas?: number } };
  assert.equal(deploy.status.readyReplicas, 2);
  const holder = await waitUntil('operator Lease held', 60_000, async () => {
    const h = (await kc(['-n', OPERATOR_NS, 'get', 'lease', 'raftkv-operator', '-o', 'jsonpath={.spec.holderIdentity}', '--ignore-not-found'])).trim();
    return h !== '' ? h : undefined;
  }, diagnostics);
  const pods = (await kc(['-n', OPERATOR_NS, 'get', 'pods', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(/\s+/);
  assert.ok(pods.some((p) => holder.startsWith(p)), `Lease holder ${holder} is one of the operator pods ${pods.join(' ')}`);
  // The CRDs came with the chart (crds/): kubectl knows the short names.
  await kc(['get', 'rkv', '-A']);
});

test('kubectl apply of the sample: Available with 3 ready members on PVCs, probes and the securityContext honoured', { timeout: 300_000 }, async () => {
  await kn(['apply', '-f', sampleFile]);
  const c = await timer.step('apply sample → Available, 3 ready', () => waitHealthy('RaftCluster Available with 3 ready members', 3, 240_000), (x) => `leader ${x.status?.leader ?? ''}`);
  assert.deepEqual((c.status?.members ?? []).map((m) => m.name).sort(), members(3));
  // The README's wait, as typed there.
  await kn(['wait', `rkv/${clusterName}`, '--for=condition=Available', '--timeout=60s'], 70_000);
  for (const svc of [clusterName, `${clusterName}-peer`]) await kn(['get', 'service', svc]);
  const pvcs = (await kn(['get', 'pvc', '-o', 'jsonpath={range .items[*]}{.status.phase}/{.spec.storageClassName}{" "}{end}'])).trim().split(/\s+/);
  assert.deepEqual(pvcs, ['Bound/standard', 'Bound/standard', 'Bound/standard'], 'PVCs from the default StorageClass (local-path)');
  for (const resource of ['raftcluster', 'rkv']) assert.match(await kn(['get', resource, clusterName]), new RegExp(`${clusterName}\\s+3\\s+3\\s+${c.status?.leader ?? ''}`), `kubectl get ${resource}`);
  // Readiness as the kubelet saw it: container start → Ready (the /readyz probe, every 2 s).
  const readiness: string[] = [];
  for (const m of members(3)) {
    const p = await pod(m);
    const started = p.status.containerStatuses?.[0]?.state.running?.startedAt ?? '';
    const ready = p.status.conditions?.find((x) => x.type === 'Ready')?.lastTransitionTime ?? '';
    readiness.push(`${m} created→started ${secondsBetween(p.metadata.creationTimestamp, started)} s, started→Ready ${secondsBetween(started, ready)} s`);
  }
  figure(`readiness (kubelet, whole seconds): ${readiness.join('; ')}`);
  // The member runs as the chart's hardening says: uid 1000, read-only root, no capabilities,
  // the WAL on the PVC mounted at /var/lib/raftkv.
  const who = await podExec(node.kubeconfig, NS, `${clusterName}-0`, ['sh', '-c',
    'id -u; id -g; grep ^CapEff /proc/1/status; touch /app/x 2>&1 || echo root-ro; awk \'$2 == "/var/lib/raftkv" { print "mount", $2 }\' /proc/mounts; ls /var/lib/raftkv']);
  const lines = who.stdout.split('\n');
  assert.equal(lines[0], '1000', `uid: ${who.stdout}${who.stderr}`);
  assert.equal(lines[1], '1000', 'gid');
  assert.match(who.stdout, /CapEff:\s+0000000000000000/, 'no effective capabilities');
  assert.match(who.stdout, /Read-only file system/, 'the root file system is read-only');
  assert.match(who.stdout, /^mount \/var\/lib\/raftkv$/m, 'the PVC is mounted at /var/lib/raftkv');
  // The PVC's directory on the node holds the member's data.
  const pv = (await kn(['get', 'pvc', `data-${clusterName}-0`, '-o', 'jsonpath={.spec.volumeName}'])).trim();
  const pvPath = hostPathOf(node, (await kc(['get', 'pv', pv, '-o', 'jsonpath={.spec.hostPath.path}{.spec.local.path}'])).trim());
  assert.ok(pvPath.startsWith(node.volumesDir) && readdirSync(pvPath).length > 0, `${pvPath} (the PV of data-${clusterName}-0) holds the member's files`);
});

test('a write through the client Service and reads by pod DNS name (a follower redirects to the leader\'s name)', { timeout: 120_000 }, async () => {
  const leader = (await getCluster())?.status?.leader ?? '';
  const follower = members(3).find((m) => m !== leader) ?? '';
  const put = await podExec(node.kubeconfig, NS, CLIENT, ['raftctl', '--endpoints', `http://${clusterName}:2379`, 'put', 'e2e/hello', 'world']);
  assert.match(put.stdout, /^OK/, `raftctl put through the Service: ${put.stdout}${put.stderr}`);
  const get = await podExec(node.kubeconfig, NS, CLIENT, ['raftctl', '--endpoints', `http://${clusterName}.${NS}.svc.cluster.local:2379`, 'get', 'e2e/hello']);
  assert.equal(get.stdout.trim(), 'world', get.stderr);
  const r = await call({ method: 'PUT', url: `${memberUrl(clusterName, follower)}/v1/kv/e2e/via-follower`, body: 'v' });
  assert.equal(r.status, 200, `${r.text}${r.error ?? ''}`);
  assert.deepEqual(r.via, [`${leader}.${clusterName}-peer.${NS}.svc`], 'the follower redirected to the leader by its DNS name');
  const local = await call({ method: 'GET', url: `${memberUrl(clusterName, leader)}/v1/kv/e2e/hello?consistency=serializable` });
  assert.equal(local.text, 'world');
});

test('kubectl scale --replicas=5: one learner at a time, then five voters; the new members hold the data', { timeout: 300_000 }, async () => {
  await kn(['scale', 'raftcluster', clusterName, '--replicas=5']);
  const c = await timer.step('scale 3→5 → Available, 5 voters', () => waitHealthy('5 healthy voters', 5, 240_000));
  assert.deepEqual((c.status?.members ?? []).map((m) => m.name).sort(), members(5));
  const st = await memberStatus(clusterName, `${clusterName}-4`);
  assert.equal(st.members.filter((m) => m.voter).length, 5, 'the raft configuration has 5 voters');
  const get = await call({ method: 'GET', url: `${memberUrl(clusterName, `${clusterName}-4`)}/v1/kv/e2e/hello?consistency=serializable` });
  assert.equal(get.text, 'world', 'a joined member serves data written before it joined');
  const m = (i: number): string => `${clusterName}-${i}`;
  assertInOrder(await clusterEvents(), [/^ScaleStatefulSet: .*→ 4/, new RegExp(`^AddLearner: .*${m(3)}`), new RegExp(`^PromoteLearner: .*${m(3)}`),
    /^ScaleStatefulSet: .*→ 5/, new RegExp(`^AddLearner: .*${m(4)}`), new RegExp(`^PromoteLearner: .*${m(4)}`)]);
});

async function runDrill(name: string, action: string, duration: string, maxUnavailableSeconds: number): Promise<RaftChaosDrill> {
  const file = join(work, `${name}.yaml`);
  writeFileSync(file, YAML.stringify({
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name, namespace: NS },
    spec: { clusterRef: { name: clusterName }, action, duration, probe: { writesPerSecond: 20 }, expect: { maxUnavailableSeconds } },
  }));
  const t0 = Date.now();
  await kn(['apply', '-f', file]);
  const d = await waitUntil(`drill ${name} finished`, 180_000, async () => {
    const drill = JSON.parse(await kn(['get', 'raftchaosdrill', name, '-o', 'json'])) as RaftChaosDrill;
    return drill.status?.phase === 'Succeeded' || drill.status?.phase === 'Failed' ? drill : undefined;
  }, diagnostics, 1_000);
  const s = d.status ?? {};
  figure(`drill ${action}: phase ${String(s.phase)} unavailableMs ${String(s.unavailableMs)} acknowledged ${String(s.acknowledgedWrites)} lost ${String(s.lostWrites)} leader ${String(s.leaderBefore)}→${String(s.leaderAfter)} term ${String(s.termBefore)}→${String(s.termAfter)}`);
  timer.add(`drill ${action} (apply → finished)`, Date.now() - t0, `unavailableMs ${String(s.unavailableMs)}, lost ${String(s.lostWrites)}/${String(s.acknowledgedWrites)}`);
  return d;
}

test('kubectl delete pod of the leader: the kubelet\'s SIGTERM hands leadership off; the pod comes back on its PVC', { timeout: 300_000 }, async () => {
  const leader = (await getCluster())?.status?.leader ?? '';
  const p = await pod(leader);
  const grace = p.spec.terminationGracePeriodSeconds ?? 30;
  const others = members(5).filter((m) => m !== leader).map((m) => memberUrl(clusterName, m));
  // The watcher runs in the client pod from before the delete until a new leader is named.
  const watching = watchLeaderChange(node.kubeconfig, NS, CLIENT, [memberUrl(clusterName, leader), ...others], leader, 30_000);
  await sleep(1_500);
  const t0 = Date.now();
  await kn(['delete', 'pod', leader, '--wait=true', '--timeout=60s'], 70_000);
  const deleteMs = Date.now() - t0;
  const w = await watching;
  assert.ok(w.newLeader !== null && w.newLeaderAt !== null, `a new leader was named within 30 s: ${JSON.stringify(w)}`);
  const handoffMs = w.newLeaderAt - t0;
  const downMs = (w.down[memberUrl(clusterName, leader)] ?? Number.NaN) - t0;
  figure(`kubectl delete pod ${leader} (leader, grace ${grace} s): delete returned in ${deleteMs} ms; old leader stopped answering after ${downMs} ms; ${w.newLeader} named leader after ${handoffMs} ms`);
  timer.add('delete leader pod → kubectl returns', deleteMs, `grace ${grace} s`);
  timer.add('delete leader pod → new leader named', handoffMs, `${leader} → ${w.newLeader}`);
  assert.ok(deleteMs < (grace * 1000) / 2, `the member exited on SIGTERM (${deleteMs} ms), not at the grace period's SIGKILL (${grace} s)`);
  // A member that just died would leave the others waiting an election timeout (electionTimeoutMs
  // to twice that) before anyone campaigns; the SIGTERM hand-off names the new leader at once.
  assert.ok(Number.isFinite(downMs), `the old leader stopped answering: ${JSON.stringify(w)}`);
  assert.ok(handoffMs - downMs < electionTimeoutMs, `a new leader ${handoffMs - downMs} ms after the old one went (election timeout ${electionTimeoutMs} ms): a hand-off, not an election after a crash`);
  const t1 = Date.now();
  await waitUntil(`${leader} recreated and Ready`, 180_000, async () => {
    const q = await pod(leader).catch(() => undefined);
    return q !== undefined && q.metadata.uid !== p.metadata.uid && q.status.containerStatuses?.[0]?.ready === true ? q : undefined;
  }, diagnostics);
  timer.add('deleted leader pod → recreated and Ready', Date.now() - t1);
  const get = await call({ method: 'GET', url: `${memberUrl(clusterName, leader)}/v1/kv/e2e/via-follower?consistency=serializable` });
  assert.equal(get.text, 'v', 'back on its PVC with the data');
  await waitHealthy('5 healthy voters after the leader pod deletion', 5, 120_000);
});

test('a crashed member container (SIGKILL from the host) is restarted in place by the kubelet and rejoins', { timeout: 180_000 }, async () => {
  const leader = (await getCluster())?.status?.leader ?? '';
  const victim = members(5).find((m) => m !== leader) ?? '';
  const before = await pod(victim);
  const restarts = before.status.containerStatuses?.[0]?.restartCount ?? 0;
  const pid = await containerHostPid(node, before.status.containerStatuses?.[0]?.containerID ?? '');
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitUntil(`${victim} restarted in place and Ready`, 120_000, async () => {
    const q = await pod(victim);
    const cs = q.status.containerStatuses?.[0];
    return q.metadata.uid === before.metadata.uid && cs?.restartCount === restarts + 1 && cs.ready ? true : undefined;
  }, diagnostics);
  timer.add('member SIGKILL → restarted in place, Ready', Date.now() - t0, victim);
  const get = await call({ method: 'GET', url: `${memberUrl(clusterName, victim)}/v1/kv/e2e/hello?consistency=serializable` });
  assert.equal(get.text, 'world');
});

test('the readiness probe: a frozen member (SIGSTOP) turns NotReady and leaves the Service; thawed, it is Ready again', { timeout: 180_000 }, async () => {
  const leader = (await getCluster())?.status?.leader ?? '';
  const victim = members(5).reverse().find((m) => m !== leader) ?? '';
  const p = await pod(victim);
  const ip = p.status.podIP ?? '';
  const pid = await containerHostPid(node, p.status.containerStatuses?.[0]?.containerID ?? '');
  const readyEndpoints = async (): Promise<string[]> => {
    const out = await kn(['get', 'endpointslices', '-l', `kubernetes.io/service-name=${clusterName}`, '-o', 'json']);
    const list = JSON.parse(out) as { items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[] };
    return list.items.flatMap((s) => (s.endpoints ?? []).filter((e) => e.conditions?.ready === true).flatMap((e) => e.addresses));
  };
  assert.ok((await readyEndpoints()).includes(ip), `${victim} (${ip}) is a ready endpoint of the client Service`);
  const t0 = Date.now();
  process.kill(pid, 'SIGSTOP');
  let notReadyMs = 0;
  try {
    await waitUntil(`${victim} NotReady and out of the Service`, 60_000, async () => {
      const q = await pod(victim);
      return q.status.containerStatuses?.[0]?.ready === false && !(await readyEndpoints()).includes(ip) ? true : undefined;
    }, diagnostics);
    notReadyMs = Date.now() - t0;
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const t1 = Date.now();
  await waitUntil(`${victim} Ready again`, 60_000, async () => ((await pod(victim)).status.containerStatuses?.[0]?.ready === true && (await readyEndpoints()).includes(ip) ? true : undefined), diagnostics);
  const readyAgainMs = Date.now() - t1;
  figure(`readiness probe (period 2 s, failureThreshold 3): frozen ${victim} NotReady and out of the Service after ${notReadyMs} ms; Ready again ${readyAgainMs} ms after SIGCONT`);
  timer.add('SIGSTOP member → NotReady, out of the Service', notReadyMs);
  timer.add('SIGCONT → Ready, back in the Service', readyAgainMs);
  assert.equal((await pod(victim)).status.containerStatuses?.[0]?.restartCount, p.status.containerStatuses?.[0]?.restartCount, 'readiness alone restarts nothing');
});

test('a PartitionLeader drill succeeds with no acknowledged write lost', { timeout: 300_000 }, async () => {
  await waitHealthy('5 healthy voters before the partition drill', 5, 120_000);
  const d = await runDrill('partition-leader', 'PartitionLeader', '5s', 30);
  assert.equal(d.status?.phase, 'Succeeded', `${String(d.status?.message)}\n${await diagnostics()}`);
  assert.equal(d.status?.lostWrites, 0);
  assert.ok((d.status?.acknowledgedWrites ?? 0) > 10);
  assert.notEqual(d.status?.leaderAfter, d.status?.leaderBefore, 'the partitioned leader lost its leadership');
});

test('kubectl scale rkv --replicas=3: members leave raft before their pods go; the scaled-away PVCs are deleted', { timeout: 300_000 }, async () => {
  await waitHealthy('5 healthy voters before the scale-down', 5, 120_000);
  await kn(['scale', 'rkv', clusterName, '--replicas=3']);
  const c = await timer.step('scale 5→3 → Available, 3 voters', () => waitHealthy('3 healthy voters', 3, 240_000));
  const st = await memberStatus(clusterName, `${clusterName}-0`);
  assert.deepEqual(st.members.map((m) => m.name).sort(), members(3));
  assert.equal(st.leader?.name, c.status?.leader);
  const events = await clusterEvents();
  const from = events.findLastIndex((e) => /^ScaleStatefulSet: .*→ 5/.test(e)) + 1;
  assertInOrder(events, [new RegExp(`^RemoveMember: .*${clusterName}-4`), /^ScaleStatefulSet: .*→ 4/,
    new RegExp(`^RemoveMember: .*${clusterName}-3`), /^ScaleStatefulSet: .*→ 3/], from);
  await waitUntil('PVCs of ordinals 3 and 4 deleted', 90_000, async () => {
    const out = (await kn(['get', 'pvc', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(/\s+/).sort();
    return out.length === 3 ? out : undefined;
  }, diagnostics);
});

test('a rolling update from one image build to another (raftkv:dev → raftkv:e2e-b): followers first, the leader last, nothing lost', { timeout: 360_000 }, async () => {
  const before = await Promise.all(members(3).map((m) => pod(m)));
  const oldIds = new Set(before.map((p) => p.status.containerStatuses?.[0]?.imageID));
  assert.equal(oldIds.size, 1);
  const oldLeader = (await getCluster())?.status?.leader ?? '';
  const t0 = Date.now();
  await kn(['patch', 'rkv', clusterName, '--type=merge', '-p', JSON.stringify({ spec: { image: IMAGE_B } })]);
  const after = await waitUntil('every member on the second build, Ready', 300_000, async () => {
    const ps = await Promise.all(members(3).map((m) => pod(m).catch(() => undefined)));
    return ps.every((p) => p?.spec.containers[0]?.image === IMAGE_B && p.status.containerStatuses?.[0]?.ready === true) ? ps as PodJson[] : undefined;
  }, diagnostics, 1_000);
  await waitHealthy('3 healthy voters after the rollout', 3, 120_000);
  timer.add(`rolling update ${IMAGE} → ${IMAGE_B} (3 members)`, Date.now() - t0);
  for (const p of after) assert.ok(!oldIds.has(p.status.containerStatuses?.[0]?.imageID), `${p.metadata.name} runs another image id (${String(p.status.containerStatuses?.[0]?.imageID)})`);
  const order = [...after].sort((a, b) => Date.parse(a.metadata.creationTimestamp) - Date.parse(b.metadata.creationTimestamp)).map((p) => p.metadata.name);
  assert.equal(order[order.length - 1], oldLeader, `the leader (${oldLeader}) was replaced last: ${order.join(' → ')}`);
  for (const m of members(3)) {
    const get = await call({ method: 'GET', url: `${memberUrl(clusterName, m)}/v1/kv/e2e/hello?consistency=serializable` });
    assert.equal(get.text, 'world', `${m} kept its data across the image change`);
  }
});

test('Prometheus scraping the member pods answers every Grafana overview query', { timeout: 180_000 }, async () => {
  // Debian's Prometheus inside the node's network namespace (where pod IPs route), its API on the
  // node's end of the host link so the test can query it.
  const p = await E2ePrometheus.start({ wrap: ['nsenter', `--net=/run/netns/${node.netns}`, '--'], listenHost: node.linkNode });
  prom = p;
  const ips = await Promise.all(members(3).map(async (m) => `${(await pod(m)).status.podIP ?? ''}:2379`));
  p.setTargets([{ targets: ips, labels: { cluster: clusterName, namespace: NS } }]);
  await waitUntil('3 prometheus targets up', 30_000, async () => {
    const t = await p.targets();
    return t.length === 3 && t.every((x) => x.health === 'up') ? t : undefined;
  }, () => p.log());
  const leader = (await getCluster())?.status?.leader ?? '';
  assert.equal((await call({ method: 'POST', url: `${memberUrl(clusterName, leader)}/v1/snapshot` })).status, 200, 'a snapshot for the snapshot panels');
  // Load from a pod, so every rate window holds samples (bench writes to the leader: its sessions start there).
  const bench = await podExec(node.kubeconfig, NS, CLIENT, ['raftctl', 'bench', '--endpoint', `${leader}.${clusterName}-peer:2379`, '--op', 'mix', '--connections', '4', '--duration', '6s', '--warmup', '0s', '--keys', '20'], { timeoutMs: 60_000 });
  assert.equal(bench.code, 0, `raftctl bench: ${bench.stdout}${bench.stderr}`);
  await sleep(2_500);
  const queries = panelQueries(ROOT).filter((q) => q.dashboard.endsWith('raftkv-overview.json'));
  assert.ok(queries.length > 10, `overview queries: ${queries.length}`);
  const empty: string[] = [];
  for (const q of queries) {
    const expr = substitute(q.expr, { cluster: clusterName, member: '.*', rateInterval: '30s', range: '10m' });
    if ((await p.query(expr)).length === 0) empty.push(`${q.panel} [${q.refId}]: ${expr}`);
  }
  assert.deepEqual(empty, [], `overview queries without data:\n${empty.join('\n')}`);
  const shown = await p.query(substitute('max by (member) (raftkv_server_is_leader{cluster="$cluster"}) == 1', { cluster: clusterName, member: '.*', rateInterval: '30s', range: '10m' }));
  assert.deepEqual(shown.map((s) => s.metric['member']), [leader], 'the dashboard shows the current leader');
  await p.stop();
  prom = undefined;
});

test('kubectl delete of the RaftCluster removes what the operator made; the PVCs stay until deleted', { timeout: 240_000 }, async () => {
  await timer.step('delete RaftCluster → everything gone', async () => {
    await kn(['delete', 'raftcluster', clusterName, '--wait=true', '--timeout=120s'], 130_000);
    await waitUntil('owned objects gone', 120_000, async () => {
      const left: string[] = [];
      for (const kind of ['statefulset', 'service', 'configmap', 'pdb', 'pod']) {
        const out = (await kn(['get', kind, '-l', `app.kubernetes.io/instance=${clusterName}`, '-o', 'name'])).trim();
        if (out !== '') left.push(out);
      }
      return left.length === 0 ? true : undefined;
    }, diagnostics);
  });
  // Only demo's PVCs: the day-2 tests below make their own.
  const pvcs = (await kn(['get', 'pvc', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(/\s+/).filter((x) => x.startsWith(`data-${clusterName}-`)).sort();
  assert.deepEqual(pvcs, members(3).map((m) => `data-${m}`), 'PVCs retained (whenDeleted: Retain)');
  const dirs = await Promise.all(pvcs.map(async (c) => {
    const pv = (await kn(['get', 'pvc', c, '-o', 'jsonpath={.spec.volumeName}'])).trim();
    return hostPathOf(node, (await kc(['get', 'pv', pv, '-o', 'jsonpath={.spec.hostPath.path}{.spec.local.path}'])).trim());
  }));
  for (const d of dirs) assert.ok(d.startsWith(node.volumesDir) && existsSync(d), `${d} on the node`);
  await kn(['delete', 'pvc', ...pvcs, '--wait=true', '--timeout=60s'], 70_000);
  // The provisioner's helper pod removes each directory (reclaimPolicy Delete).
  await waitUntil('volume directories removed by the provisioner', 120_000, async () => (dirs.every((d) => !existsSync(d)) ? true : undefined), diagnostics);
});

// ---------------------------------------------------------------------------------------------
// Day 2: a secured cluster, a backup Job from its CronJob, a new cluster restored from it.

const SECURE_SAMPLE = join(ROOT, 'k8s', 'samples', 'secure-raftcluster.yaml');
const day2 = {
  name: '', tokens: { admin: '', write: '', read: '' }, ca: '', backupFile: '', savedRevision: 0, written: new Map<string, string>(),
};

/** Tokens generated as the sample's comment tells users, their Secret, then the sample (kubectl). */
async function applySecuredSample(): Promise<RaftCluster> {
  const sample = YAML.parse(readFileSync(SECURE_SAMPLE, 'utf8')) as RaftCluster;
  day2.name = sample.metadata.name;
  day2.tokens = { admin: randomBytes(24).toString('hex'), write: randomBytes(24).toString('hex'), read: randomBytes(24).toString('hex') };
  const tokenFile = join(work, 'tokens');
  writeFileSync(tokenFile, `${day2.tokens.admin} admin operator\n${day2.tokens.write} write app\n${day2.tokens.read} read dashboards\n`);
  await kn(['create', 'secret', 'generic', sample.spec.auth?.tokenSecretName ?? '', `--from-file=${sample.spec.auth?.tokenSecretKey ?? 'tokens'}=${tokenFile}`]);
  const file = join(work, 'secure.yaml');
  writeFileSync(file, YAML.stringify({ ...sample, spec: { ...sample.spec, image: IMAGE } }));
  await kn(['apply', '-f', file]);
  return sample;
}

async function clusterCa(cluster: string): Promise<string> {
  const b64 = (await kn(['get', 'secret', `${cluster}-tls`, '-o', 'jsonpath={.data.ca\\.crt}'])).trim();
  assert.ok(b64 !== '', `${cluster}-tls has ca.crt`);
  return Buffer.from(b64, 'base64').toString('utf8');
}

test('day 2: the secured sample: TLS between members, HTTPS with tokens checked by name, a backup CronJob', { timeout: 360_000 }, async () => {
  const sample = await applySecuredSample();
  const c = await timer.step('secured sample → Available (generated CA, HTTPS probes)', () => waitHealthy('secured RaftCluster Available', 3, 240_000, day2.name));
  assert.equal(c.status?.security?.tls, 'OperatorCA');
  assert.equal(c.status?.security?.auth, 'Token');
  day2.ca = await clusterCa(day2.name);
  const m1 = memberUrl(day2.name, `${day2.name}-1`, 'https');
  for (let i = 0; i < 10; i++) {
    const key = `day2/k${i}`;
    const value = `v${i}-${randomBytes(4).toString('hex')}`;
    const r = await call({ method: 'PUT', url: `${m1}/v1/kv/${key}`, body: value, token: day2.tokens.write, ca: day2.ca });
    assert.equal(r.status, 200, `${r.text}${r.error ?? ''}`);
    if (i === 0 && r.via.length > 0) assert.match(r.via[0] ?? '', new RegExp(`^${day2.name}-\\d\\.${day2.name}-peer\\.${NS}\\.svc$`), 'redirected by DNS name over HTTPS');
    day2.written.set(key, value);
  }
  const got = await call({ method: 'GET', url: `${m1}/v1/kv/day2/k3`, token: day2.tokens.read, ca: day2.ca });
  assert.equal(got.text, day2.written.get('day2/k3'));
  assert.equal((await call({ method: 'GET', url: `${m1}/v1/kv/day2/k3`, ca: day2.ca })).status, 401, 'no token: 401');
  assert.equal((await call({ method: 'PUT', url: `${m1}/v1/kv/day2/x`, body: 'no', token: day2.tokens.read, ca: day2.ca })).status, 403, 'a read token cannot write');
  const plain = await call({ method: 'GET', url: `${memberUrl(day2.name, `${day2.name}-1`)}/v1/status` });
  assert.ok(plain.status !== 200, `plain HTTP gets no answer from an HTTPS port: ${JSON.stringify(plain)}`);
  const untrusted = await call({ method: 'GET', url: `${m1}/healthz` });
  assert.match(untrusted.error ?? '', /certificate|self.signed|UNABLE_TO|SELF_SIGNED/i, 'a client without the cluster CA refuses the certificate');
  // The Service name is in the member certificate too: raftctl with the CA, through the Service.
  const ctl = await podExec(node.kubeconfig, NS, CLIENT, ['sh', '-c', `cat > /tmp/ca.crt && raftctl --endpoints https://${day2.name}:2379 --cacert /tmp/ca.crt --token ${day2.tokens.read} get day2/k5`], { input: day2.ca });
  assert.equal(ctl.stdout.trim(), day2.written.get('day2/k5'), `raftctl over HTTPS through the Service: ${ctl.stderr}`);
  const cj = JSON.parse(await kn(['get', 'cronjob', `${day2.name}-backup`, '-o', 'json'])) as { spec: { schedule: string } };
  assert.equal(cj.spec.schedule, sample.spec.backup?.schedule);
  const opLog = await kc(['-n', OPERATOR_NS, 'logs', '-l', 'app.kubernetes.io/name=raftkv-operator', '--tail=-1']);
  for (const t of Object.values(day2.tokens)) assert.ok(!opLog.includes(t), 'no token in the operator log');
});

test('day 2: an on-demand backup Job from the CronJob writes a checksummed snapshot into the backup PVC', { timeout: 240_000 }, async () => {
  assert.ok(day2.name !== '', 'the secured cluster exists');
  const last = await call({ method: 'GET', url: `${memberUrl(day2.name, `${day2.name}-0`, 'https')}/v1/kv?prefix=day2/`, token: day2.tokens.read, ca: day2.ca });
  assert.equal(last.status, 200, last.text);
  day2.savedRevision = (JSON.parse(last.text) as { revision: number }).revision;
  const job = `${day2.name}-backup-now`;
  await timer.step('kubectl create job --from=cronjob → Complete', async () => {
    await kn(['create', 'job', job, `--from=cronjob/${day2.name}-backup`]);
    await kn(['wait', '--for=condition=complete', `job/${job}`, '--timeout=150s'], 160_000);
  });
  const volumeName = (await kn(['get', 'pvc', `${day2.name}-backup`, '-o', 'jsonpath={.spec.volumeName}'])).trim();
  const dir = hostPathOf(node, (await kc(['get', 'pv', volumeName, '-o', 'jsonpath={.spec.hostPath.path}{.spec.local.path}'])).trim());
  const files = readdirSync(dir).filter((f) => SNAPSHOT_NAME_RE.test(f));
  assert.equal(files.length, 1, `one backup in the PVC: ${readdirSync(dir).join(', ')}`);
  day2.backupFile = files[0] as string;
  assert.equal(parseSnapshotName(day2.backupFile)?.revision, day2.savedRevision, 'the backup holds the cluster at the revision before it');
  timer.add('backup file', 0, `${day2.backupFile}, ${readFileSync(join(dir, day2.backupFile)).length} bytes`);
});

test('day 2: a new RaftCluster restored from the backup (spec.restore) serves the same data at the same revision', { timeout: 360_000 }, async () => {
  assert.ok(day2.backupFile !== '', 'a backup was taken');
  const restoredName = 'restored';
  const secure = YAML.parse(readFileSync(SECURE_SAMPLE, 'utf8')) as RaftCluster;
  const { backup: _schedule, ...specWithoutBackup } = secure.spec;
  const doc: RaftCluster = {
    apiVersion: secure.apiVersion, kind: 'RaftCluster', metadata: { name: restoredName },
    spec: { ...specWithoutBackup, image: IMAGE, restore: { claimName: `${day2.name}-backup`, file: day2.backupFile } },
  };
  const file = join(work, 'restored.yaml');
  writeFileSync(file, YAML.stringify(doc));
  await kn(['apply', '-f', file]);
  const c = await timer.step('restore → a new cluster Available and Restored', () => waitCluster('restored RaftCluster Available, Restored', 240_000, (x) =>
    condition(x, 'Available') === 'True' && condition(x, 'Restored') === 'True' && x.status?.readyReplicas === 3, restoredName));
  assert.match(c.status?.conditions?.find((x) => x.type === 'Restored')?.message ?? '', new RegExp(day2.backupFile.replace(/\./g, '\\.')));
  const ca = await clusterCa(restoredName);
  assert.notEqual(ca, day2.ca, 'the restored cluster has its own CA');
  for (const m of members(3, restoredName)) {
    const list = await call({ method: 'GET', url: `${memberUrl(restoredName, m, 'https')}/v1/kv?prefix=day2/&consistency=serializable`, token: day2.tokens.read, ca });
    assert.equal(list.status, 200, `${list.text}${list.error ?? ''}`);
    const body = JSON.parse(list.text) as { revision: number; kvs: { key: string; value: string }[] };
    assert.deepEqual(new Map(body.kvs.map((k) => [k.key, Buffer.from(k.value, 'base64').toString('utf8')])), day2.written, `${m} holds exactly the saved keys`);
    assert.equal(body.revision, day2.savedRevision, `${m} is at the saved revision`);
  }
  const w = await call({ method: 'PUT', url: `${memberUrl(restoredName, `${restoredName}-0`, 'https')}/v1/kv/day2/after-restore`, body: 'new', token: day2.tokens.write, ca });
  assert.equal(w.status, 200, w.text);
  assert.equal((JSON.parse(w.text) as { revision: number }).revision, day2.savedRevision + 1);
});

test('helm uninstall after the clusters are deleted leaves no raftkv pod or volume behind', { timeout: 240_000 }, async () => {
  await timer.step('uninstall: delete both clusters and the PVCs', async () => {
    await kn(['delete', 'raftcluster', '--all', '--wait=true', '--timeout=120s'], 130_000);
    await kn(['delete', 'pvc', '--all', '--wait=true', '--timeout=60s'], 70_000);
  });
  await timer.step('uninstall: helm uninstall --wait', async () => {
    const r = await run(HELM, ['--kubeconfig', node.kubeconfig, 'uninstall', 'raftkv-operator', '-n', OPERATOR_NS, '--wait', '--timeout', '120s'], { timeoutMs: 130_000 });
    assert.equal(r.code, 0, `helm uninstall: ${r.stdout}${r.stderr}`);
  });
  // The test's own client pod is all that stays (the namespaces go with the node); the operator's
  // pods and the provisioner's clean-up pods finish on their own.
  await waitUntil('only the client pod left', 90_000, async () => {
    const left = (await kc(['get', 'pods', '-A', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}'])).trim()
      .split(/\s+/).filter((p) => !node.systemNamespaces.includes(p.split('/')[0] ?? '')).join(' ');
    return left === `${NS}/${CLIENT}` ? true : undefined;
  }, diagnostics);
  assert.ok((await kc(['get', 'crd', '-o', 'name'])).includes('raftclusters.raftkv.dev'), 'helm keeps the CRDs (it never deletes what crds/ installed)');
  await waitUntil('volume directories removed', 60_000, async () => (readdirSync(node.volumesDir).length === 0 ? true : undefined), diagnostics);
});
