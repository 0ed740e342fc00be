// End to end on a local control plane, without Docker: etcd + kube-apiserver +
// kube-controller-manager + kube-scheduler, one Node played by the node agent (test/lib/node-agent.ts)
// running each raftkv pod as a local process on its own 127.0.0.x, and the operator as a process.
// The test applies what users apply (k8s/crds, the RaftCluster sample in k8s/samples) with kubectl
// and follows a cluster through its life: Available → write/read → scale 3→5 → KillLeader and
// PartitionLeader drills → scale 5→3 → Prometheus answers the Grafana overview → delete and cleanup.
// Then day 2: the secured sample (TLS, tokens, scheduled backups) → an on-demand backup Job from its
// CronJob → a new RaftCluster restored from that backup serves the same data at the same revision.
//
// Env: RAFTKV_E2E_SAMPLE names the RaftCluster file to apply instead of searching k8s/samples;
// RAFTKV_E2E_DAEMON / RAFTKV_E2E_OPERATOR override the compiled daemon / operator entry points
// (default: the ones compiled next to this file); KUBECTL the kubectl binary; RAFTKV_E2E_KEEP=1
// keeps the temp dirs (logs, volumes) for debugging.
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import https from 'node:https';
import tls from 'node:tls';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { NodeAgent } from '../lib/node-agent.js';
import { ContainerConfigError, entrypointFor } from '../lib/node-agent-spec.js';
import { parseHosts } from '../lib/node-agent-resolver.js';
import { E2ePrometheus, OperatorProcess, StepTimer, kubectl, waitUntil } from '../lib/e2e-env.js';
import type { RaftChaosDrill, RaftCluster } from '../../operator/src/api/types.js';
import { panelQueries, substitute } from '../unit/observability/dashboards.js';
import { SNAPSHOT_NAME_RE, parseSnapshotName } from '../../daemon/src/cli/snapshot-dir.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const OUT = join(HERE, '..', '..');
const DAEMON = process.env['RAFTKV_E2E_DAEMON'] ?? join(OUT, 'daemon', 'src', 'main.js');
const RAFTCTL = join(dirname(DAEMON), 'cli', 'raftctl.js');
const OPERATOR = process.env['RAFTKV_E2E_OPERATOR'] ?? join(OUT, 'operator', 'src', 'main.js');
const RESOLVER = join(OUT, 'test', 'lib', 'node-agent-resolver.js');
const ROOT = repoRoot();
const NS = 'default';
const KEEP = process.env['RAFTKV_E2E_KEEP'] === '1';

let cp: KubeControlPlane | undefined;
let agent: NodeAgent | undefined;
let operator: OperatorProcess | undefined;
let prom: E2ePrometheus | undefined;
let promTimer: NodeJS.Timeout | undefined;
const work = mkdtempSync(join(tmpdir(), 'raftkv-e2e-'));
const timer = new StepTimer();
/** The RaftCluster the sample creates (read from the sample file). */
let clusterName = '';
let sampleFile = '';
let sampleHasFaults = false;
const drillFigures: string[] = [];

const kc = (args: readonly string[], timeoutMs?: number): Promise<string> => {
  if (cp === undefined) throw new Error('no control plane');
  return kubectl(cp.kubeconfigPath, args, timeoutMs);
};
const CR = (): string => `/apis/raftkv.dev/v1alpha1/namespaces/${NS}/raftclusters/${clusterName}`;

async function getCluster(): Promise<RaftCluster | undefined> {
  const r = await cp?.request('GET', CR());
  return r?.status === 200 ? (r.body as RaftCluster) : undefined;
}

/** What the test prints when a wait times out: cluster status, pods, agent and operator logs. */
async function diagnostics(): Promise<string> {
  const c = await getCluster().catch(() => undefined);
  const pods = await kc(['get', 'pods', '-o', 'wide']).catch((e: unknown) => String(e));
  const events = (agent?.events ?? []).slice(-15).map((e) => `${new Date(e.at).toISOString()} ${e.pod} ${e.what} ${e.detail}`).join('\n');
  return `status: ${JSON.stringify(c?.status)}\npods:\n${pods}\nagent events:\n${events}\nagent sync failures: ${JSON.stringify(agent?.syncFailures())}\noperator log:\n${operator?.logTail(20) ?? ''}`;
}

async function waitCluster(what: string, timeoutMs: number, ok: (c: RaftCluster) => boolean): Promise<RaftCluster> {
  return waitUntil(what, timeoutMs, async () => {
    const c = await getCluster();
    return c !== undefined && ok(c) ? c : undefined;
  }, diagnostics, 250);
}

const condition = (c: RaftCluster, type: string): string | undefined => c.status?.conditions?.find((x) => x.type === type)?.status;

/** podIP from the pod's status, as kubectl shows it. */
async function podIP(pod: string): Promise<string> {
  const ip = (await kc(['get', 'pod', pod, '-o', 'jsonpath={.status.podIP}'])).trim();
  assert.match(ip, /^127\.\d+\.\d+\.\d+$/, `pod ${pod} has podIP ${ip}`);
  return ip;
}

/**
 * One HTTP call to a member at its pod IP, following 307 redirects the way an in-cluster client
 * would: the Location names the leader by its headless-service DNS name, resolved through the
 * agent's hosts file (so this also checks the advertised client URLs).
 */
async function memberCall(ip: string, method: string, path: string, body?: string): Promise<{ status: number; text: string; via: string[] }> {
  let url = `http://${ip}:2379${path}`;
  const via: string[] = [];
  for (let hop = 0; hop < 4; hop++) {
    const r = await fetch(url, { method, redirect: 'manual', signal: AbortSignal.timeout(10_000), ...(body === undefined ? {} : { body }) });
    const text = await r.text();
    const loc = r.headers.get('location');
    if (r.status !== 307 || loc === null) return { status: r.status, text, via };
    const target = new URL(loc);
    via.push(target.hostname);
    const hosts = parseHosts(readFileSync(agent?.hostsFile ?? '', 'utf8'));
    const resolved = hosts.get(target.hostname);
    assert.ok(resolved !== undefined, `redirect to ${loc}: ${target.hostname} is not in the cluster DNS`);
    target.hostname = resolved;
    url = target.toString();
  }
  throw new Error(`too many redirects for ${method} ${path}`);
}

async function memberStatus(ip: string): Promise<{ name: string; role: string; term: number; leader: { name: string } | null; members: { name: string; voter: boolean }[] }> {
  const r = await memberCall(ip, 'GET', '/v1/status');
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text) as Awaited<ReturnType<typeof memberStatus>>;
}

/** Names of the member pods that exist now (kubectl get pods -l ...). */
async function memberPods(): Promise<string[]> {
  const out = await kc(['get', 'pods', '-l', `app.kubernetes.io/instance=${clusterName}`, '-o', 'jsonpath={.items[*].metadata.name}']);
  return out.trim() === '' ? [] : out.trim().split(/\s+/).sort();
}

/** The operator's Events about the cluster, oldest first (ordered by resourceVersion: creation order). */
async function clusterEvents(): Promise<string[]> {
  const list = JSON.parse(await kc(['get', 'events', '--field-selector', `involvedObject.kind=RaftCluster,involvedObject.name=${clusterName}`, '-o', 'json'])) as
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

/** Keeps Prometheus's file_sd in step with the member pods the agent runs. */
function syncPromTargets(): void {
  if (prom === undefined || agent === undefined) return;
  const targets = agent.pods().filter((p) => p.labels['app.kubernetes.io/instance'] === clusterName).map((p) => `${p.ip}:2379`).sort();
  prom.setTargets([{ targets, labels: { cluster: clusterName, namespace: NS } }]);
}

/** The RaftCluster documents of the samples (the packaging engineer's k8s/samples). */
function findSample(): { file: string; cluster: RaftCluster } {
  const override = process.env['RAFTKV_E2E_SAMPLE'];
  const dir = override !== undefined && override !== '' ? dirname(override) : join(ROOT, 'k8s', 'samples');
  assert.ok(existsSync(dir), `${dir} exists`);
  const files = override !== undefined && override !== '' ? [basename(override)] : readdirSync(dir).filter((x) => /\.ya?ml$/.test(x)).sort();
  for (const f of files) {
    const docs = YAML.parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as { kind?: string } | null);
    const rcs = docs.filter((d): d is RaftCluster => d?.kind === 'RaftCluster');
    // A file with exactly one 3-member RaftCluster and nothing else we would have to run.
    if (rcs.length === 1 && docs.every((d) => d === null || d.kind === 'RaftCluster') && rcs[0]?.spec?.replicas === 3) return { file: join(dir, f), cluster: rcs[0] };
  }
  throw new Error(`no k8s/samples file holds a single 3-member RaftCluster (files: ${readdirSync(dir).join(', ')})`);
}

before(async () => {
  for (const f of [DAEMON, OPERATOR, RESOLVER]) assert.ok(existsSync(f), `${f} exists (compile first)`);
  const sample = findSample();
  sampleFile = sample.file;
  clusterName = sample.cluster.metadata.name;
  sampleHasFaults = sample.cluster.spec.enableFaultInjection === true;
  cp = await timer.step('control plane up (etcd, apiserver, controller-manager, scheduler)', () => startKubeControlPlane({ controllerManager: true, scheduler: true, keepDir: KEEP }));
  agent = new NodeAgent({
    request: cp.request, root: join(work, 'node'), resolverModule: RESOLVER,
    entrypoint: (image, command) => {
      // The raftkv image's ENTRYPOINT is `raftkv` (a container without a command runs the daemon); `raftctl` is the client.
      const entry = entrypointFor(command, { raftkv: DAEMON, raftctl: RAFTCTL });
      if (entry === undefined) throw new ContainerConfigError(`image ${image} with command ${(command ?? []).join(' ')} cannot run on this node`);
      return entry;
    },
    log: (l) => process.stdout.write(`# ${new Date().toISOString().slice(11, 23)} ${l}\n`),
  });
  await timer.step('node registered', () => agent?.start() ?? Promise.resolve());
  await timer.step('CRDs applied and Established (kubectl)', async () => {
    await kc(['apply', '-f', join(ROOT, 'k8s', 'crds')]);
    await kc(['wait', '--for=condition=Established', '--timeout=60s', 'crd/raftclusters.raftkv.dev', 'crd/raftchaosdrills.raftkv.dev'], 70_000);
    // Discovery of the new group can lag behind Established for kubectl's cache.
    await waitUntil('raftkv.dev in discovery', 30_000, async () => ((await kc(['api-resources', '--api-group=raftkv.dev'])).includes('raftclusters') ? true : undefined));
  });
  const server = cp;
  operator = await timer.step('operator process healthy', () => OperatorProcess.start({
    operatorMain: OPERATOR, resolverModule: RESOLVER, kubeconfig: server.kubeconfigPath, hostsFile: agent?.hostsFile ?? '', logFile: join(work, 'operator.log'),
  }));
  prom = await E2ePrometheus.start();
  promTimer = setInterval(syncPromTargets, 1_000);
  process.stdout.write(`# pids: etcd ${cp.pids.etcd} apiserver ${cp.pids.apiServer} controller-manager ${String(cp.pids.controllerManager)} scheduler ${String(cp.pids.scheduler)} operator ${String(operator.pid)} prometheus ${String(prom.pid)}\n`);
});

after(async () => {
  if (promTimer !== undefined) clearInterval(promTimer);
  const pids = [...(agent?.pids() ?? []), operator?.pid, prom?.pid].filter((p): p is number => p !== undefined);
  await operator?.stop();
  await agent?.stop();
  await prom?.stop();
  await cp?.stop();
  // Every process this test started is gone.
  for (const pid of pids) {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) process.kill(pid, 'SIGKILL');
  }
  process.stdout.write(`\n# e2e step timings\n${timer.table().split('\n').map((l) => `# ${l}`).join('\n')}\n`);
  if (drillFigures.length > 0) process.stdout.write(`${drillFigures.map((l) => `# ${l}`).join('\n')}\n`);
  if (!KEEP) rmSync(work, { recursive: true, force: true });
  else process.stdout.write(`# kept ${work} and ${cp?.dir ?? ''}\n`);
});

test('kubectl apply of the sample: the RaftCluster becomes Available with 3 ready members and a leader', { timeout: 240_000 }, async () => {
  await kc(['apply', '-f', sampleFile]);
  const c = await timer.step('apply sample → Available, 3 ready', () => waitCluster('RaftCluster Available with 3 ready members', 180_000, (x) =>
    condition(x, 'Available') === 'True' && x.status?.readyReplicas === 3 && (x.status.members ?? []).length === 3 && x.status.leader !== undefined && x.status.leader !== ''), (x) => `leader ${x.status?.leader ?? ''} term ${String(x.status?.term)}`);
  assert.equal(c.status?.phase, 'Running');
  assert.deepEqual((c.status?.members ?? []).map((m) => m.name).sort(), [0, 1, 2].map((i) => `${clusterName}-${i}`));
  assert.ok((c.status?.members ?? []).every((m) => m.voter && m.healthy), JSON.stringify(c.status?.members));
  // The Kubernetes side agrees: the StatefulSet controller counts 3 ready pods (the agent's readiness).
  // Its status follows the pods' Ready conditions a moment after the members report healthy.
  await waitUntil('StatefulSet readyReplicas 3', 30_000, async () => {
    const sts = JSON.parse(await kc(['get', 'statefulset', clusterName, '-o', 'json'])) as { status: { readyReplicas?: number } };
    return sts.status.readyReplicas === 3 ? true : undefined;
  }, diagnostics);
  for (const svc of [clusterName, `${clusterName}-peer`]) await kc(['get', 'service', svc]);
  const pvcs = await kc(['get', 'pvc', '-o', 'jsonpath={.items[*].status.phase}']);
  assert.deepEqual(pvcs.trim().split(/\s+/), ['Bound', 'Bound', 'Bound']);
  // The printer columns work with kubectl, by full name and by the short name `rkv` (it was `rc`,
  // which kubectl resolves to core ReplicationControllers — see the e2e README).
  for (const resource of ['raftcluster', 'rkv']) {
    const printed = await kc(['get', resource, clusterName]);
    assert.match(printed, new RegExp(`${clusterName}\\s+3\\s+3\\s+${c.status?.leader ?? ''}`), `kubectl get ${resource}`);
  }
});

test('a write and a read through a member (follower redirects to the leader by its DNS name)', { timeout: 60_000 }, async () => {
  const c = await getCluster();
  const leader = c?.status?.leader ?? '';
  const follower = [0, 1, 2].map((i) => `${clusterName}-${i}`).find((m) => m !== leader) ?? '';
  const ip = await podIP(follower);
  const put = await memberCall(ip, 'PUT', '/v1/kv/e2e/hello', 'world');
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.via, [`${leader}.${clusterName}-peer.${NS}.svc`], 'the follower redirected to the leader');
  const get = await memberCall(ip, 'GET', '/v1/kv/e2e/hello');
  assert.equal(get.status, 200, get.text);
  assert.equal(get.text, 'world');
  const local = await memberCall(await podIP(leader), 'GET', '/v1/kv/e2e/hello?consistency=serializable');
  assert.equal(local.text, 'world');
});

test('kubectl scale raftcluster --replicas=5: five voters, a correct status, data on the new members', { timeout: 300_000 }, async () => {
  await kc(['scale', 'raftcluster', clusterName, '--replicas=5']);
  const c = await timer.step('scale 3→5 → Available, 5 voters', () => waitCluster('5 healthy voters', 240_000, (x) =>
    condition(x, 'Available') === 'True' && x.status?.phase === 'Running' && x.status.replicas === 5 && x.status.readyReplicas === 5 &&
    (x.status.members ?? []).length === 5 && (x.status.members ?? []).every((m) => m.voter && m.healthy)));
  assert.deepEqual((c.status?.members ?? []).map((m) => m.name).sort(), [0, 1, 2, 3, 4].map((i) => `${clusterName}-${i}`));
  assert.equal(c.status?.observedGeneration, c.metadata.generation);
  const st = await memberStatus(await podIP(`${clusterName}-4`));
  assert.equal(st.members.filter((m) => m.voter).length, 5, 'the raft configuration has 5 voters');
  assert.equal(st.leader?.name, c.status?.leader);
  const get = await memberCall(await podIP(`${clusterName}-4`), 'GET', '/v1/kv/e2e/hello?consistency=serializable');
  assert.equal(get.text, 'world', 'a joined member serves data written before it joined');
  assert.deepEqual(await memberPods(), [0, 1, 2, 3, 4].map((i) => `${clusterName}-${i}`));
  // One member at a time, each a learner until caught up, as the operator's Events tell it.
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
  await kc(['apply', '-f', file]);
  const d = await waitUntil(`drill ${name} finished`, 180_000, async () => {
    const r = await cp?.request('GET', `/apis/raftkv.dev/v1alpha1/namespaces/${NS}/raftchaosdrills/${name}`);
    const drill = r?.body as RaftChaosDrill | undefined;
    return drill?.status?.phase === 'Succeeded' || drill?.status?.phase === 'Failed' ? drill : undefined;
  }, diagnostics, 500);
  const s = d.status ?? {};
  const line = `${action}: phase ${String(s.phase)} unavailableMs ${String(s.unavailableMs)} acknowledged ${String(s.acknowledgedWrites)} lost ${String(s.lostWrites)} leader ${String(s.leaderBefore)}→${String(s.leaderAfter)} term ${String(s.termBefore)}→${String(s.termAfter)}`;
  drillFigures.push(line);
  process.stdout.write(`# drill ${line}\n`);
  timer.add(`drill ${action} (apply → finished)`, Date.now() - t0, `unavailableMs ${String(s.unavailableMs)}, lost ${String(s.lostWrites)}/${String(s.acknowledgedWrites)}`);
  timer.add(`drill ${action} unavailableMs (status)`, s.unavailableMs ?? -1);
  return d;
}

test('a KillLeader drill succeeds with no acknowledged write lost; the pod comes back on its volume', { timeout: 240_000 }, async () => {
  const before = await getCluster();
  const oldLeader = before?.status?.leader ?? '';
  const oldUid = (await kc(['get', 'pod', oldLeader, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const d = await runDrill('kill-leader', 'KillLeader', '5s', 30);
  assert.equal(d.status?.phase, 'Succeeded', `${String(d.status?.message)}\n${await diagnostics()}`);
  assert.equal(d.status?.lostWrites, 0);
  assert.ok((d.status?.acknowledgedWrites ?? 0) > 10, `acknowledged ${String(d.status?.acknowledgedWrites)}`);
  assert.equal(d.status?.leaderBefore, oldLeader);
  assert.ok((d.status?.termAfter ?? 0) > (d.status?.termBefore ?? 0));
  // The StatefulSet controller recreated the deleted pod (new uid) and it rejoined from its PVC.
  await waitCluster('5 healthy voters after KillLeader', 120_000, (x) => x.status?.readyReplicas === 5 && (x.status.members ?? []).every((m) => m.healthy));
  const newUid = (await kc(['get', 'pod', oldLeader, '-o', 'jsonpath={.metadata.uid}'])).trim();
  assert.notEqual(newUid, oldUid, `${oldLeader} was deleted and recreated`);
  assert.ok(agent?.events.some((e) => e.pod === `${NS}/${oldLeader}` && e.what === 'deleted'), 'the agent confirmed the graceful deletion');
  const get = await memberCall(await podIP(oldLeader), 'GET', '/v1/kv/e2e/hello?consistency=serializable');
  assert.equal(get.text, 'world', 'the recreated member kept its data (same PVC)');
});

test('a crashed member process is restarted in place (restartCount 1) and rejoins', { timeout: 120_000 }, async () => {
  const leader = (await getCluster())?.status?.leader ?? '';
  const victim = [0, 1, 2, 3, 4].map((i) => `${clusterName}-${i}`).find((m) => m !== leader) ?? '';
  const uid = (await kc(['get', 'pod', victim, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const pid = agent?.containerPid(NS, victim);
  assert.ok(pid !== undefined, `${victim} runs`);
  const t0 = Date.now();
  process.kill(pid, 'SIGKILL');
  await waitUntil(`${victim} restarted and Ready`, 90_000, async () => {
    const pod = JSON.parse(await kc(['get', 'pod', victim, '-o', 'json'])) as { metadata: { uid: string }; status: { containerStatuses?: { restartCount: number; ready: boolean }[] } };
    const cs = pod.status.containerStatuses?.[0];
    return pod.metadata.uid === uid && cs?.restartCount === 1 && cs.ready ? true : undefined;
  }, diagnostics);
  await waitCluster('5 healthy voters after the crash', 60_000, (x) => x.status?.readyReplicas === 5 && (x.status.members ?? []).every((m) => m.healthy));
  timer.add('member SIGKILL → restarted in place, Ready', Date.now() - t0, victim);
  const get = await memberCall(await podIP(victim), 'GET', '/v1/kv/e2e/hello?consistency=serializable');
  assert.equal(get.text, 'world');
});

test('a PartitionLeader drill succeeds with no acknowledged write lost', { timeout: 420_000 }, async () => {
  if (!sampleHasFaults) {
    // The sample leaves fault injection off (a sane default for users); turning it on is a spec
    // change that rolls every member (followers first, the leader last).
    const t0 = Date.now();
    await kc(['patch', 'raftcluster', clusterName, '--type=merge', '-p', '{"spec":{"enableFaultInjection":true}}']);
    const gen = (await getCluster())?.metadata.generation;
    await waitCluster('rollout with fault injection done', 300_000, (x) => x.status?.observedGeneration === gen && x.status?.phase === 'Running' &&
      condition(x, 'Available') === 'True' && x.status.readyReplicas === 5 && (x.status.members ?? []).every((m) => m.healthy));
    await waitUntil('every pod on the new revision', 120_000, async () => {
      const sts = JSON.parse(await kc(['get', 'statefulset', clusterName, '-o', 'json'])) as { status: { updatedReplicas?: number; readyReplicas?: number } };
      return sts.status.updatedReplicas === 5 && sts.status.readyReplicas === 5 ? true : undefined;
    }, diagnostics);
    timer.add('enableFaultInjection rollout (5 members)', Date.now() - t0);
  }
  const d = await runDrill('partition-leader', 'PartitionLeader', '5s', 30);
  assert.equal(d.status?.phase, 'Succeeded', `${String(d.status?.message)}\n${await diagnostics()}`);
  assert.equal(d.status?.lostWrites, 0);
  assert.ok((d.status?.acknowledgedWrites ?? 0) > 10);
  assert.notEqual(d.status?.leaderAfter, d.status?.leaderBefore, 'the partitioned leader lost its leadership');
});

test('scale back to 3: members removed from raft first, pods and their PVCs go away', { timeout: 300_000 }, async () => {
  await kc(['scale', 'rkv', clusterName, '--replicas=3']);
  const c = await timer.step('scale 5→3 → Available, 3 voters', () => waitCluster('3 healthy voters', 240_000, (x) =>
    condition(x, 'Available') === 'True' && x.status?.phase === 'Running' && x.status.replicas === 3 && x.status.readyReplicas === 3 &&
    (x.status.members ?? []).length === 3 && (x.status.members ?? []).every((m) => m.voter && m.healthy)));
  const st = await memberStatus(await podIP(`${clusterName}-0`));
  assert.deepEqual(st.members.map((m) => m.name).sort(), [0, 1, 2].map((i) => `${clusterName}-${i}`));
  assert.equal(st.leader?.name, c.status?.leader);
  // Each member leaves the raft configuration before the StatefulSet (and so the pod) shrinks.
  const events = await clusterEvents();
  const scaleDownFrom = events.findLastIndex((e) => /^ScaleStatefulSet: .*→ 5/.test(e)) + 1;
  assertInOrder(events, [new RegExp(`^RemoveMember: .*${clusterName}-4`), /^ScaleStatefulSet: .*→ 4/,
    new RegExp(`^RemoveMember: .*${clusterName}-3`), /^ScaleStatefulSet: .*→ 3/], scaleDownFrom);
  await waitUntil('pods 3 and 4 gone', 60_000, async () => ((await memberPods()).length === 3 ? true : undefined), diagnostics);
  // whenScaled: Delete — the scaled-away members' PVCs go (the garbage collector, via the pod owner).
  await waitUntil('PVCs of ordinals 3 and 4 deleted', 90_000, async () => {
    const out = (await kc(['get', 'pvc', '-o', 'jsonpath={.items[*].metadata.name}'])).trim().split(/\s+/).sort();
    return out.length === 3 ? out : undefined;
  }, diagnostics);
  const put = await memberCall(await podIP(`${clusterName}-1`), 'PUT', '/v1/kv/e2e/after-scale-down', 'v3');
  assert.equal(put.status, 200, put.text);
});

test('Prometheus scraping the members answers every Grafana overview query', { timeout: 120_000 }, async () => {
  const p = prom;
  assert.ok(p !== undefined);
  await timer.step('prometheus: 3 targets up', () => waitUntil('3 prometheus targets up', 30_000, async () => {
    const t = await p.targets();
    return t.length === 3 && t.every((x) => x.health === 'up') ? t : undefined;
  }, () => p.log()));
  const leader = (await getCluster())?.status?.leader ?? '';
  const leaderIp = await podIP(leader);
  assert.equal((await memberCall(leaderIp, 'POST', '/v1/snapshot')).status, 200, 'a snapshot for the snapshot panels');
  // A few seconds of writes and reads so every rate window holds samples.
  const until = Date.now() + 6_000;
  for (let i = 0; Date.now() < until && i < 2_000; i++) {
    await memberCall(leaderIp, 'PUT', `/v1/kv/e2e/load-${i % 20}`, `v${i}`);
    if (i % 5 === 0) await memberCall(leaderIp, 'GET', `/v1/kv/e2e/load-${i % 20}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 2_500));
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
  timer.add('prometheus: overview queries checked', 0, `${queries.length} queries, all with data`);
});

test('kubectl delete of the RaftCluster cleans up StatefulSet, pods, Services, ConfigMap and PDB', { timeout: 180_000 }, async () => {
  await timer.step('delete RaftCluster → everything gone', async () => {
    await kc(['delete', '-f', sampleFile, '--wait=true', '--timeout=120s'], 130_000);
    await waitUntil('owned objects gone', 120_000, async () => {
      const left: string[] = [];
      for (const kind of ['statefulset', 'service', 'configmap', 'pdb', 'pod']) {
        const out = (await kc(['get', kind, '-l', `app.kubernetes.io/instance=${clusterName}`, '-o', 'name'])).trim();
        if (out !== '') left.push(out);
      }
      return left.length === 0 ? true : undefined;
    }, diagnostics);
  });
  assert.equal(await getCluster(), undefined, 'the RaftCluster is gone (finalizer released)');
  assert.deepEqual(agent?.pods().filter((p) => p.labels['app.kubernetes.io/instance'] === clusterName), [], 'no member process runs');
  // whenDeleted: Retain — the data outlives the cluster until the user deletes the PVCs.
  const pvcs = (await kc(['get', 'pvc', '-o', 'name'])).trim().split(/\s+/).filter((x) => x !== '');
  assert.equal(pvcs.length, 3, `PVCs retained: ${pvcs.join(' ')}`);
  await kc(['delete', 'pvc', '--all', '--wait=true', '--timeout=60s'], 70_000);
  await waitUntil('provisioned volumes removed', 60_000, async () => ((await agent?.provisionedVolumes())?.length === 0 ? true : undefined), diagnostics);
});

// ---------------------------------------------------------------------------------------------
// Day 2: a secured cluster, a backup from its CronJob, a new cluster restored from it.

const SECURE_SAMPLE = join(ROOT, 'k8s', 'samples', 'secure-raftcluster.yaml');
const day2 = {
  name: '', tokens: { admin: '', write: '', read: '' }, ca: new Map<string, Buffer>(), backupFile: '', savedRevision: 0,
  written: new Map<string, string>(),
};

/** ca.crt of a cluster's generated member Secret (what clients are told to trust). */
async function clusterCa(cluster: string): Promise<Buffer> {
  const b64 = (await kc(['get', 'secret', `${cluster}-tls`, '-o', 'jsonpath={.data.ca\\.crt}'])).trim();
  assert.ok(b64 !== '', `${cluster}-tls has ca.crt`);
  return Buffer.from(b64, 'base64');
}

/**
 * One HTTPS call to a member at its pod IP as an in-cluster client would make it: the server
 * certificate verified against `ca` for the member's DNS name, 307s followed to the leader's DNS
 * name (resolved through the agent's hosts file), the bearer token sent when given.
 */
async function secureCall(ca: Buffer | undefined, ip: string, dnsName: string, method: string, path: string, o: { token?: string; body?: string } = {}): Promise<{ status: number; text: string }> {
  let target = { ip, host: dnsName, path };
  for (let hop = 0; hop < 4; hop++) {
    const r = await new Promise<{ status: number; text: string; location: string | undefined }>((resolve, reject) => {
      const req = https.request({
        host: target.ip, port: 2379, servername: target.host, ...(ca !== undefined ? { ca } : {}), method, path: target.path, timeout: 10_000,
        headers: { ...(o.token !== undefined ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body !== undefined ? { 'content-length': Buffer.byteLength(o.body) } : {}) },
        checkServerIdentity: (_h, cert) => tls.checkServerIdentity(target.host, cert),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), location: res.headers.location }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(o.body);
    });
    if (r.status !== 307 || r.location === undefined) return r;
    const loc = new URL(r.location);
    const resolved = parseHosts(readFileSync(agent?.hostsFile ?? '', 'utf8')).get(loc.hostname);
    assert.ok(resolved !== undefined, `redirect to ${r.location}: ${loc.hostname} is not in the cluster DNS`);
    assert.equal(loc.protocol, 'https:', 'a secured member redirects to an https:// URL');
    target = { ip: resolved, host: loc.hostname, path: `${loc.pathname}${loc.search}` };
  }
  throw new Error(`too many redirects for ${method} ${path}`);
}

/** Pod IP and DNS name of member `ordinal` of `cluster`. */
async function memberAddress(cluster: string, ordinal: number): Promise<{ ip: string; dns: string }> {
  return { ip: await podIP(`${cluster}-${ordinal}`), dns: `${cluster}-${ordinal}.${cluster}-peer.${NS}.svc` };
}

async function waitNamedCluster(name: string, what: string, ok: (c: RaftCluster) => boolean): Promise<RaftCluster> {
  return waitUntil(what, 180_000, async () => {
    const r = await cp?.request('GET', `/apis/raftkv.dev/v1alpha1/namespaces/${NS}/raftclusters/${name}`);
    const c = r?.status === 200 ? (r.body as RaftCluster) : undefined;
    return c !== undefined && ok(c) ? c : undefined;
  }, diagnostics, 250);
}

test('day 2: the secured sample (kubectl): TLS between members, HTTPS with tokens, a backup CronJob', { timeout: 300_000 }, async () => {
  const sample = YAML.parse(readFileSync(SECURE_SAMPLE, 'utf8')) as RaftCluster;
  day2.name = sample.metadata.name;
  const tokenSecret = sample.spec.auth?.tokenSecretName ?? '';
  // Tokens generated here, as the sample's comment tells users to.
  day2.tokens = { admin: randomBytes(24).toString('hex'), write: randomBytes(24).toString('hex'), read: randomBytes(24).toString('hex') };
  const tokenFile = join(work, 'tokens');
  writeFileSync(tokenFile, `${day2.tokens.admin} admin operator\n${day2.tokens.write} write app\n${day2.tokens.read} read dashboards\n`);
  await kc(['create', 'secret', 'generic', tokenSecret, `--from-file=${sample.spec.auth?.tokenSecretKey ?? 'tokens'}=${tokenFile}`]);
  await kc(['apply', '-f', SECURE_SAMPLE]);
  const c = await timer.step('secured sample → Available (generated CA, HTTPS probes)', () => waitNamedCluster(day2.name, 'secured RaftCluster Available with 3 ready members', (x) =>
    condition(x, 'Available') === 'True' && x.status?.readyReplicas === 3 && (x.status.members ?? []).length === 3 && (x.status.leader ?? '') !== ''));
  assert.equal(c.status?.security?.tls, 'OperatorCA');
  assert.equal(c.status?.security?.auth, 'Token');
  const ca = await clusterCa(day2.name);
  day2.ca.set(day2.name, ca);
  const m1 = await memberAddress(day2.name, 1);
  // Writes through any member (a follower redirects to the leader's https:// DNS name).
  await timer.step('secured: writes and reads over HTTPS with tokens', async () => {
    for (let i = 0; i < 10; i++) {
      const key = `day2/k${i}`;
      const value = `v${i}-${randomBytes(4).toString('hex')}`;
      const r = await secureCall(ca, m1.ip, m1.dns, 'PUT', `/v1/kv/${key}`, { token: day2.tokens.write, body: value });
      assert.equal(r.status, 200, r.text);
      day2.written.set(key, value);
    }
    const got = await secureCall(ca, m1.ip, m1.dns, 'GET', '/v1/kv/day2/k3', { token: day2.tokens.read });
    assert.equal(got.status, 200);
    assert.equal(got.text, day2.written.get('day2/k3'));
  });
  assert.equal((await secureCall(ca, m1.ip, m1.dns, 'GET', '/v1/kv/day2/k3')).status, 401, 'no token: 401');
  assert.equal((await secureCall(ca, m1.ip, m1.dns, 'PUT', '/v1/kv/day2/x', { token: day2.tokens.read, body: 'no' })).status, 403, 'a read token cannot write');
  assert.equal((await secureCall(ca, m1.ip, m1.dns, 'POST', '/v1/snapshot', { token: day2.tokens.write })).status, 403, 'snapshots need admin');
  await assert.rejects(fetch(`http://${m1.ip}:2379/v1/status`, { signal: AbortSignal.timeout(5_000) }), 'plain HTTP gets no answer from an HTTPS port');
  // A client that does not trust the cluster CA (only the system's roots) refuses the members' certificate.
  await assert.rejects(secureCall(undefined, m1.ip, m1.dns, 'GET', '/healthz'), /certificate/);
  // Peer traffic is TLS too: the member was started with the peer certificate flags.
  const args = JSON.parse(await kc(['get', 'statefulset', day2.name, '-o', 'jsonpath={.spec.template.spec.containers[0].args}'])) as string[];
  for (const flag of ['--peer-cert=', '--peer-key=', '--peer-ca=', '--cert=', '--key=', '--auth-token-file=']) assert.ok(args.some((a) => a.startsWith(flag)), `member args carry ${flag}`);
  const cj = JSON.parse(await kc(['get', 'cronjob', `${day2.name}-backup`, '-o', 'json'])) as { spec: { schedule: string } };
  assert.equal(cj.spec.schedule, sample.spec.backup?.schedule);
  for (const t of Object.values(day2.tokens)) assert.ok(!(operator?.logTail(2000) ?? '').includes(t), 'no token in the operator log');
});

test('day 2: an on-demand backup Job from the CronJob writes a checksummed snapshot into the backup PVC', { timeout: 240_000 }, async () => {
  assert.ok(day2.name !== '', 'the secured cluster exists');
  const ca = day2.ca.get(day2.name) as Buffer;
  const m0 = await memberAddress(day2.name, 0);
  const last = await secureCall(ca, m0.ip, m0.dns, 'GET', '/v1/kv?prefix=day2/', { token: day2.tokens.read });
  assert.equal(last.status, 200, last.text);
  day2.savedRevision = (JSON.parse(last.text) as { revision: number }).revision;
  const job = `${day2.name}-backup-now`;
  await timer.step('kubectl create job --from=cronjob → Complete', async () => {
    await kc(['create', 'job', job, `--from=cronjob/${day2.name}-backup`]);
    await kc(['wait', '--for=condition=complete', `job/${job}`, '--timeout=120s'], 130_000);
  });
  const volumeName = (await kc(['get', 'pvc', `${day2.name}-backup`, '-o', 'jsonpath={.spec.volumeName}'])).trim();
  const dir = (await kc(['get', 'pv', volumeName, '-o', 'jsonpath={.spec.hostPath.path}'])).trim();
  const files = readdirSync(dir).filter((f) => SNAPSHOT_NAME_RE.test(f));
  assert.equal(files.length, 1, `one backup in the PVC: ${readdirSync(dir).join(', ')}`);
  day2.backupFile = files[0] as string;
  const rev = parseSnapshotName(day2.backupFile)?.revision;
  assert.equal(rev, day2.savedRevision, 'the backup holds the cluster at the revision before it (nothing was written since)');
  timer.add('backup file', 0, `${day2.backupFile}, ${readFileSync(join(dir, day2.backupFile)).length} bytes`);
});

test('day 2: a new RaftCluster created from the backup (spec.restore) serves the same data at the same revision', { timeout: 300_000 }, async () => {
  assert.ok(day2.backupFile !== '', 'a backup was taken');
  const restoredName = 'restored';
  const secure = YAML.parse(readFileSync(SECURE_SAMPLE, 'utf8')) as RaftCluster;
  // The secured sample's spec without its backup schedule, plus where to restore from.
  const { backup: _schedule, ...specWithoutBackup } = secure.spec;
  const doc: RaftCluster = {
    apiVersion: secure.apiVersion, kind: 'RaftCluster', metadata: { name: restoredName },
    spec: { ...specWithoutBackup, restore: { claimName: `${day2.name}-backup`, file: day2.backupFile } },
  };
  const file = join(work, 'restored.yaml');
  writeFileSync(file, YAML.stringify(doc));
  await kc(['apply', '-f', file]);
  const c = await timer.step('restore → a new cluster Available and Restored', () => waitNamedCluster(restoredName, 'restored RaftCluster Available, Restored', (x) =>
    condition(x, 'Available') === 'True' && condition(x, 'Restored') === 'True' && x.status?.readyReplicas === 3));
  assert.match(c.status?.conditions?.find((x) => x.type === 'Restored')?.message ?? '', new RegExp(day2.backupFile.replace(/\./g, '\\.')));
  const ca = await clusterCa(restoredName);
  assert.ok(!ca.equals(day2.ca.get(day2.name) as Buffer), 'the restored cluster has its own CA');
  for (let i = 0; i < 3; i++) {
    const m = await memberAddress(restoredName, i);
    const list = await secureCall(ca, m.ip, m.dns, 'GET', '/v1/kv?prefix=day2/&consistency=serializable', { token: day2.tokens.read });
    assert.equal(list.status, 200, list.text);
    const body = JSON.parse(list.text) as { revision: number; kvs: { key: string; value: string }[] };
    const got = new Map(body.kvs.map((k) => [k.key, Buffer.from(k.value, 'base64').toString('utf8')]));
    assert.deepEqual(got, day2.written, `${restoredName}-${i} holds exactly the saved keys`);
    assert.equal(body.revision, day2.savedRevision, `${restoredName}-${i} is at the saved revision`);
  }
  // The restored cluster takes writes and carries on from the saved revision.
  const m0 = await memberAddress(restoredName, 0);
  const w = await secureCall(ca, m0.ip, m0.dns, 'PUT', '/v1/kv/day2/after-restore', { token: day2.tokens.write, body: 'new' });
  assert.equal(w.status, 200, w.text);
  assert.equal((JSON.parse(w.text) as { revision: number }).revision, day2.savedRevision + 1);
  await timer.step('day 2 clean-up (both clusters, their PVCs, the backup PVC)', async () => {
    await kc(['delete', 'raftcluster', restoredName, day2.name, '--wait=true', '--timeout=120s'], 130_000);
    await kc(['delete', 'pvc', '--all', '--wait=true', '--timeout=60s'], 70_000);
    await waitUntil('no member or backup pod left', 120_000, async () => ((agent?.pods() ?? []).length === 0 ? true : undefined), diagnostics);
  });
});
