// Operator day 2 on the real one-node Kubernetes (scripts/test-e2e.sh starts it once for the tier;
// this file runs after e2e.test.ts, which uninstalls its operator, so it installs its own with
// helm). Each step is what an operator of a raftkv cluster meets after day 1, done as users do it
// (kubectl drain / the Eviction API, kubectl delete, kubectl patch / annotate) while a pod of the
// image keeps writing through the client Service, and each is timed:
//   delete a follower's pod; drain the node (leadership moves first, the PDB stops the drain at
//   quorum); evict the leader's pod (refused until leadership moved); a member that lost its PVC
//   replaced automatically; a bad image rolled out and reverted; a storage size increase on the
//   node's local-path class, which cannot expand (the members replaced one at a time through
//   learners onto new PVCs); pause;
//   5→3 with the removed member dead; a quorum-loss recovery from 1 surviving member of 3.
// Dead and frozen members are made from the host on the container's process (SIGSTOP / SIGKILL).
//
// Env: as e2e.test.ts (RAFTKV_E2E_CLUSTER_DIR, RAFTKV_E2E_IMAGE, KUBECTL, HELM, RAFTKV_E2E_KEEP).
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../lib/kube-control-plane.js';
import { StepTimer, kubectl, sequentialSteps, waitUntil } from '../lib/e2e-env.js';
import type { PodHttpRequest, PodHttpResult, RealNode } from '../lib/real-node.js';
import { containerHostPid, podExec, podHttp, realNodeFromEnv, run } from '../lib/real-node.js';
import type { RaftCluster } from '../../operator/src/api/types.js';

const ROOT = repoRoot();
const NS = 'day2';
const OPERATOR_NS = 'raftkv-system';
const IMAGE = process.env['RAFTKV_E2E_IMAGE'] ?? 'raftkv:dev';
/** A tag no registry has (imagePullPolicy Never: the kubelet fails it at once). */
const BAD_IMAGE = 'raftkv:does-not-exist';
const HELM = process.env['HELM'] ?? (existsSync(join(ROOT, '.cache', 'bin', 'helm')) ? join(ROOT, '.cache', 'bin', 'helm') : 'helm');
const KEEP = process.env['RAFTKV_E2E_KEEP'] === '1';
const CLIENT = 'client';
const CLUSTER = 'ops';
const ELECTION_TIMEOUT_MS = 1000;
/** The in-pod writer's per-request timeout (IN_POD_WRITER). */
const WRITE_TIMEOUT_MS = 2000;
/**
 * Longest pause in acknowledged writes that still means "the cluster kept a leader": a write in
 * flight at a leadership hand-off can time out (WRITE_TIMEOUT_MS) before the client retries at
 * the new leader, plus up to an election timeout. Losing quorum would stop writes for good.
 */
const MAX_WRITE_GAP_MS = WRITE_TIMEOUT_MS + ELECTION_TIMEOUT_MS;

let node: RealNode;
let nodeName = '';
/** The node's default StorageClass (local-path: no allowVolumeExpansion, no resizer), named in spec.storage. */
let storageClass = '';
const work = mkdtempSync(join(tmpdir(), 'raftkv-e2e-day2-'));
const timer = new StepTimer();
/** Every key a writer got acknowledged and that must still be there (the recovery step's lost keys excepted). */
const acknowledged = new Set<string>();

const kc = (args: readonly string[], timeoutMs?: number): Promise<string> => kubectl(node.kubeconfig, args, timeoutMs);
const kn = (args: readonly string[], timeoutMs?: number): Promise<string> => kc(['-n', NS, ...args], timeoutMs);
const call = (req: PodHttpRequest): Promise<PodHttpResult> => podHttp(node.kubeconfig, NS, CLIENT, req);
const memberUrl = (member: string): string => `http://${member}.${CLUSTER}-peer.${NS}.svc:2379`;
const members = (n: number): string[] => Array.from({ length: n }, (_, i) => `${CLUSTER}-${i}`);
const log = (line: string): void => {
  process.stdout.write(`# ${line}\n`);
};

async function getCluster(): Promise<RaftCluster> {
  return JSON.parse(await kn(['get', 'raftcluster', CLUSTER, '-o', 'json'])) as RaftCluster;
}

interface PodJson {
  metadata: { name: string; uid: string; creationTimestamp: string; deletionTimestamp?: string };
  spec: { containers: { image: string }[]; nodeName?: string };
  status: { phase?: string; containerStatuses?: { ready: boolean; restartCount: number; containerID?: string; state: { running?: unknown; waiting?: { reason?: string } } }[] };
}

async function pod(name: string): Promise<PodJson | undefined> {
  const out = await kn(['get', 'pod', name, '-o', 'json', '--ignore-not-found']);
  return out.trim() === '' ? undefined : (JSON.parse(out) as PodJson);
}

async function diagnostics(): Promise<string> {
  const c = await getCluster().catch(() => undefined);
  const pods = await kn(['get', 'pods', '-o', 'wide']).catch((e: unknown) => String(e));
  const events = await kn(['get', 'events', '--sort-by=.lastTimestamp']).then((e) => e.split('\n').slice(-25).join('\n')).catch((e: unknown) => String(e));
  const op = await kc(['-n', OPERATOR_NS, 'logs', '-l', 'app.kubernetes.io/name=raftkv-operator', '--tail=15', '--prefix']).catch((e: unknown) => String(e));
  return `status: ${JSON.stringify(c?.status)}\npods:\n${pods}\nevents:\n${events}\noperator log:\n${op}`;
}

const condition = (c: RaftCluster, type: string): { status: string; reason: string; message: string } | undefined => c.status?.conditions?.find((x) => x.type === type);

async function waitCluster(what: string, timeoutMs: number, ok: (c: RaftCluster) => boolean): Promise<RaftCluster> {
  return waitUntil(what, timeoutMs, async () => {
    const c = await getCluster();
    return ok(c) ? c : undefined;
  }, diagnostics, 500);
}

/** n healthy voters, Available, and the StatefulSet's n pods Ready. */
async function waitHealthy(what: string, n: number, timeoutMs: number): Promise<RaftCluster> {
  const c = await waitCluster(what, timeoutMs, (x) => condition(x, 'Available')?.status === 'True' && x.status?.phase === 'Running' && x.status.readyReplicas === n &&
    (x.status.members ?? []).length === n && (x.status.members ?? []).every((m) => m.voter && m.healthy) && (x.status.leader ?? '') !== '');
  await waitUntil(`StatefulSet ${CLUSTER} ${n} ready pods`, 60_000, async () => {
    const sts = JSON.parse(await kn(['get', 'statefulset', CLUSTER, '-o', 'json'])) as { status: { readyReplicas?: number; replicas?: number } };
    return sts.status.readyReplicas === n && sts.status.replicas === n ? true : undefined;
  }, diagnostics);
  return c;
}

async function leaderNow(): Promise<string> {
  return (await getCluster()).status?.leader ?? '';
}

/** Member status from the member itself. */
async function memberStatus(member: string): Promise<{ role: string; term: number; appliedIndex: number; leader: { name: string } | null; members: { name: string; voter: boolean }[] }> {
  const r = await call({ method: 'GET', url: `${memberUrl(member)}/v1/status` });
  assert.equal(r.status, 200, `${member} /v1/status: ${r.status} ${r.text}${r.error ?? ''}`);
  return JSON.parse(r.text) as Awaited<ReturnType<typeof memberStatus>>;
}

async function events(): Promise<string[]> {
  const list = JSON.parse(await kn(['get', 'events', '--field-selector', `involvedObject.kind=RaftCluster,involvedObject.name=${CLUSTER}`, '-o', 'json'])) as
    { items: { reason: string; message: string; metadata: { resourceVersion: string } }[] };
  return list.items.sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion)).map((e) => `${e.reason}: ${e.message}`);
}

/** The host pid of a member's container (for SIGSTOP / SIGKILL from the node). */
async function memberPid(member: string): Promise<number> {
  const p = await pod(member);
  return containerHostPid(node, p?.status.containerStatuses?.[0]?.containerID ?? '');
}

/**
 * Run by `node -e` in the client pod: PUTs `<prefix>/<i>` through the client Service (following
 * the 307 to the leader) one after another until /tmp/stop-<id> exists or `limitMs` passed;
 * prints the acknowledged keys, the failures and the longest time between two acknowledgements.
 */
const IN_POD_WRITER = `
const [id, prefix, limitMs] = JSON.parse(process.argv[1]);
const http = require('node:http'); const fs = require('node:fs');
const put = (url, body) => new Promise((resolve) => {
  const r = http.request(url, { method: 'PUT', timeout: ${WRITE_TIMEOUT_MS}, headers: { 'content-length': Buffer.byteLength(body) } }, (res) => {
    res.resume(); res.on('end', () => resolve(res.statusCode === 307 ? { redirect: new URL(res.headers.location, url).toString() } : { ok: res.statusCode === 200 }));
  });
  r.on('timeout', () => r.destroy(new Error('timeout')));
  r.on('error', () => resolve({ ok: false }));
  r.end(body);
});
(async () => {
  const start = Date.now(); const acked = []; let failures = 0; let lastAck = start; let maxGapMs = 0; let i = 0;
  while (Date.now() - start < limitMs && !fs.existsSync('/tmp/stop-' + id)) {
    const key = prefix + '/' + (i++);
    let url = 'http://${CLUSTER}:2379/v1/kv/' + key; let r;
    for (let hop = 0; hop < 4; hop++) { r = await put(url, 'v'); if (!r.redirect) break; url = r.redirect; }
    const now = Date.now();
    if (r.ok) { acked.push(key); maxGapMs = Math.max(maxGapMs, now - lastAck); lastAck = now; } else { failures++; await new Promise((s) => setTimeout(s, 50)); }
    await new Promise((s) => setTimeout(s, 40));
  }
  maxGapMs = Math.max(maxGapMs, Date.now() - lastAck);
  console.log(JSON.stringify({ acked, failures, maxGapMs, ms: Date.now() - start }));
})();
`;

interface WriterResult {
  readonly acked: string[];
  readonly failures: number;
  readonly maxGapMs: number;
  readonly ms: number;
}

/** A writer in the client pod for the duration of one step; `stop()` ends it and returns what it saw. */
function startWriter(id: string, limitMs = 240_000): { stop: () => Promise<WriterResult> } {
  const running = podExec(node.kubeconfig, NS, CLIENT, ['node', '-e', IN_POD_WRITER, JSON.stringify([id, `w/${id}`, limitMs])], { timeoutMs: limitMs + 10_000 });
  return {
    stop: async () => {
      await podExec(node.kubeconfig, NS, CLIENT, ['touch', `/tmp/stop-${id}`]);
      const r = await running;
      const line = r.stdout.trim().split('\n').pop() ?? '';
      let w: WriterResult;
      try {
        w = JSON.parse(line) as WriterResult;
      } catch {
        throw new Error(`writer ${id} printed no result (exit ${String(r.code)}): ${r.stdout}${r.stderr}`);
      }
      for (const k of w.acked) acknowledged.add(k);
      log(`writer ${id}: ${w.acked.length} writes acknowledged, ${w.failures} failed, longest gap between acknowledgements ${w.maxGapMs} ms over ${w.ms} ms`);
      return w;
    },
  };
}

/** Keys under `prefix` as `member` holds them (its local state, no leader needed). */
async function keysOn(member: string, prefix: string): Promise<Set<string>> {
  const keys = new Set<string>();
  let after = '';
  for (let page = 0; page < 100; page++) {
    const r = await call({ method: 'GET', url: `${memberUrl(member)}/v1/kv?prefix=${encodeURIComponent(prefix)}&consistency=serializable&limit=10000${after === '' ? '' : `&after=${encodeURIComponent(after)}`}` });
    assert.equal(r.status, 200, `${member} list ${prefix}: ${r.status} ${r.text}${r.error ?? ''}`);
    const body = JSON.parse(r.text) as { kvs: { key: string }[]; more: boolean };
    for (const k of body.kvs) keys.add(k.key);
    if (!body.more || body.kvs.length === 0) return keys;
    after = body.kvs[body.kvs.length - 1]?.key ?? '';
  }
  throw new Error(`${member}: more than 100 pages under ${prefix}`);
}

/** Every acknowledged write (but `except`) is on every one of `names` once they caught up. */
async function assertAcknowledgedEverywhere(names: readonly string[], except: ReadonlySet<string> = new Set()): Promise<void> {
  const want = [...acknowledged].filter((k) => !except.has(k));
  await waitUntil(`${want.length} acknowledged writes on ${names.join(', ')}`, 60_000, async () => {
    for (const m of names) {
      const have = await keysOn(m, 'w/');
      const missing = want.filter((k) => !have.has(k));
      if (missing.length > 0) throw new Error(`${m} misses ${missing.length} acknowledged writes, e.g. ${missing.slice(0, 5).join(', ')}`);
    }
    return true;
  }, diagnostics, 1_000);
}

/** A POST of an Eviction for `podName` (what kubectl drain sends): `ok` or the API server's refusal. */
async function evict(podName: string): Promise<{ ok: boolean; message: string }> {
  const file = join(work, `evict-${podName}.json`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: podName, namespace: NS } }));
  const r = await run(process.env['KUBECTL'] ?? 'kubectl', [`--kubeconfig=${node.kubeconfig}`, 'create', '--raw', `/api/v1/namespaces/${NS}/pods/${podName}/eviction`, '-f', file], { timeoutMs: 20_000 });
  return { ok: r.code === 0, message: `${r.stdout}${r.stderr}`.trim() };
}

async function patchSpec(spec: Record<string, unknown>): Promise<void> {
  await kn(['patch', 'raftcluster', CLUSTER, '--type', 'merge', '-p', JSON.stringify({ spec })]);
}

/** The scenario's steps: the later ones build on the cluster the earlier left. */
const sequentialStep = sequentialSteps();

/** A step of the scenario: starts from `voters` healthy voters (0: none yet). */
function step(name: string, timeoutMs: number, fn: () => Promise<void>, voters = 3): void {
  sequentialStep(name, timeoutMs, async () => {
    if (voters > 0) await waitHealthy(`${voters} healthy voters before the step`, voters, 120_000);
    await fn();
  });
}

before(async () => {
  node = realNodeFromEnv();
  await kc(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=60s'], 70_000);
  nodeName = (await kc(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  // The node's own class as it is: local-path cannot expand a volume, so a size increase goes through learners.
  const def = JSON.parse(await kc(['get', 'storageclass', '-o', 'json'])) as { items: { metadata: { name: string; annotations?: Record<string, string> }; allowVolumeExpansion?: boolean }[] };
  const dflt = def.items.find((s) => s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true') ?? def.items[0];
  assert.ok(dflt !== undefined, 'a default StorageClass');
  assert.notEqual(dflt.allowVolumeExpansion, true, `the node's class ${dflt.metadata.name} cannot expand volumes`);
  storageClass = dflt.metadata.name;
  await kc(['create', 'namespace', NS]);
  await waitUntil('default ServiceAccount', 30_000, async () => ((await kn(['get', 'serviceaccount', 'default', '--ignore-not-found', '-o', 'name'])).trim() !== '' ? true : undefined));
  await kn(['run', CLIENT, `--image=${IMAGE}`, '--image-pull-policy=Never', '--restart=Never', '--command', '--', 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done']);
  const [repo, tag] = IMAGE.split(':');
  await timer.step('day2: helm install raftkv-operator --wait', async () => {
    const r = await run(HELM, ['--kubeconfig', node.kubeconfig, 'install', 'raftkv-operator', join(ROOT, 'charts', 'raftkv-operator'), '-n', OPERATOR_NS, '--create-namespace',
      '--set', `image.repository=${repo ?? ''}`, '--set', `image.tag=${tag ?? ''}`, '--wait', '--timeout', '240s'], { timeoutMs: 260_000 });
    assert.equal(r.code, 0, `helm install: ${r.stdout}${r.stderr}`);
  });
  await kn(['wait', '--for=condition=Ready', `pod/${CLIENT}`, '--timeout=120s'], 130_000);
});

after(async () => {
  // Best effort on failure too: the node stays schedulable, nothing of this file is left running.
  await kc(['uncordon', nodeName]).catch(() => undefined);
  await kn(['delete', 'raftcluster', '--all', '--wait=true', '--timeout=120s'], 130_000).catch(() => undefined);
  await run(HELM, ['--kubeconfig', node.kubeconfig, 'uninstall', 'raftkv-operator', '-n', OPERATOR_NS, '--wait', '--timeout', '120s'], { timeoutMs: 130_000 }).catch(() => undefined);
  await kc(['delete', 'namespace', NS, '--wait=true', '--timeout=120s'], 130_000).catch(() => undefined);
  process.stdout.write(`\n# operator day-2 step timings (real node)\n${timer.table().split('\n').map((l) => `# ${l}`).join('\n')}\n`);
  if (!KEEP) rmSync(work, { recursive: true, force: true });
});

step('day 2 setup: a 3-member RaftCluster on the node\'s local-path class is Available', 300_000, async () => {
  const doc: RaftCluster = {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: CLUSTER },
    spec: {
      replicas: 3, image: IMAGE, imagePullPolicy: 'Never', storage: { size: '1Gi', storageClassName: storageClass },
      resources: { requests: { cpu: '50m', memory: '96Mi' }, limits: { memory: '512Mi' } },
      raft: { electionTimeoutMs: ELECTION_TIMEOUT_MS, heartbeatIntervalMs: 100, snapshotEntries: 10000 },
      replaceUnhealthyAfterSeconds: 0,
      // The quorum-loss step cuts one member off its peers (POST /v1/debug/faults).
      enableFaultInjection: true,
    },
  };
  const file = join(work, 'ops.yaml');
  writeFileSync(file, YAML.stringify(doc));
  await kn(['apply', '-f', file]);
  await timer.step('day2: apply → Available, 3 voters', () => waitHealthy('3 healthy voters', 3, 240_000), (c) => `leader ${c.status?.leader ?? ''}`);
  const w = startWriter('setup', 20_000);
  await waitUntil('a few writes', 30_000, async () => ((await keysOn(`${CLUSTER}-0`, 'w/setup/')).size >= 5 ? true : undefined), diagnostics);
  await w.stop();
}, 0);

step('kubectl delete pod of a follower: the pod comes back on its PVC and catches up; the leader never changes', 240_000, async () => {
  const c = await getCluster();
  const leader = c.status?.leader ?? '';
  const termBefore = (await memberStatus(leader)).term;
  const follower = members(3).find((m) => m !== leader) ?? '';
  const before = await pod(follower);
  const w = startWriter('delete-follower');
  const t0 = Date.now();
  await kn(['delete', 'pod', follower, '--wait=true', '--timeout=60s'], 70_000);
  await waitUntil(`${follower} recreated and Ready`, 120_000, async () => {
    const p = await pod(follower);
    return p !== undefined && p.metadata.uid !== before?.metadata.uid && p.status.containerStatuses?.[0]?.ready === true ? true : undefined;
  }, diagnostics);
  await waitHealthy('3 healthy voters after the follower pod deletion', 3, 120_000);
  timer.add('delete follower pod → back, 3 healthy voters', Date.now() - t0, follower);
  const r = await w.stop();
  assert.equal(await leaderNow(), leader, 'the leader stayed the leader');
  assert.equal((await memberStatus(leader)).term, termBefore, 'no election: the term did not change');
  assert.ok(r.maxGapMs < ELECTION_TIMEOUT_MS, `writes never paused longer than an election timeout (${r.maxGapMs} ms)`);
  await assertAcknowledgedEverywhere(members(3));
});

step('kubectl drain of the node holding the leader: leadership moves first, the PDB stops the drain at quorum', 300_000, async () => {
  const leader = await leaderNow();
  const w = startWriter('drain');
  const t0 = Date.now();
  // One node: the evicted member cannot be rescheduled while the node is cordoned, so the drain
  // must stop after one voter (minAvailable 2 of 3) and time out. kubectl evicts the three pods at
  // once: if the leader's request comes while the PDB still allows one, the operator's webhook
  // refuses it until leadership moved; if a follower's went first, the PDB refuses the leader's
  // (and the webhook moves nothing for an eviction the PDB refuses anyway).
  const drain = await run(process.env['KUBECTL'] ?? 'kubectl', [`--kubeconfig=${node.kubeconfig}`, 'drain', nodeName, `--pod-selector=app.kubernetes.io/instance=${CLUSTER}`,
    '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=12s'], { timeoutMs: 40_000 });
  const drainMs = Date.now() - t0;
  const out = `${drain.stdout}${drain.stderr}`;
  log(`kubectl drain (exit ${String(drain.code)}, ${drainMs} ms):\n${out.split('\n').map((l) => `#   ${l}`).join('\n')}`);
  try {
    assert.notEqual(drain.code, 0, 'the drain cannot finish: evicting a second voter would break quorum');
    const ps = await Promise.all(members(3).map(async (m) => pod(m)));
    const gone = ps.filter((p) => p === undefined || p.status.containerStatuses?.[0]?.ready !== true || p.metadata.deletionTimestamp !== undefined || p.status.phase === 'Pending');
    assert.equal(gone.length, 1, `exactly one member pod evicted: ${ps.map((p) => `${p?.metadata.name ?? '?'} ${p?.status.phase ?? 'gone'}`).join(', ')}`);
    const evicted = gone[0]?.metadata.name ?? '';
    // Never a pod evicted while it leads: a pod the webhook refused as the leader's was evicted
    // (on kubectl's retry) only after the operator moved leadership off it; the first leader's pod
    // otherwise stays.
    const refusedLeaders = [...out.matchAll(/pod (\S+) runs the leader of RaftCluster/g)].map((m) => m[1] ?? '');
    const opLog = await kc(['-n', OPERATOR_NS, 'logs', '-l', 'app.kubernetes.io/name=raftkv-operator', '--tail=-1']);
    const moved = opLog.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { pod?: string; msg?: string })
      .filter((e) => e.msg === 'leadership moved away from a pod being evicted').map((e) => e.pod ?? '');
    for (const r of refusedLeaders) assert.ok(moved.includes(`${NS}/${r}`), `the webhook refused ${r} as the leader's pod, so the operator moved leadership off it (moved: ${moved.join(', ')})`);
    if (evicted === leader) assert.ok(refusedLeaders.includes(leader), `the first leader ${leader} was evicted without the webhook refusing it first`);
    const how = refusedLeaders.includes(leader)
      ? `the webhook refused the leader ${leader} and leadership moved`
      : `a follower went first and the PDB refused the leader ${leader}`;
    log(`drain: evicted ${evicted} (${evicted === leader ? 'the first leader, after leadership moved off it' : 'a follower'}); ${how}; leader evictions refused by the webhook: ${refusedLeaders.join(', ') || 'none'}`);
    assert.ok((await getCluster()).status?.leader !== undefined, 'a leader after the drain');
    // With one voter down the PDB allows no more: the Eviction API on a follower (which the
    // webhook lets through) is refused by the PDB itself.
    const pdb = JSON.parse(await kn(['get', 'pdb', CLUSTER, '-o', 'json'])) as { spec: { minAvailable?: number }; status: { disruptionsAllowed?: number; currentHealthy?: number } };
    assert.equal(pdb.status.disruptionsAllowed, 0, `PDB: ${JSON.stringify(pdb)}`);
    const refusal = await waitUntil('the PDB refusing a follower\'s eviction', 20_000, async () => {
      const lead = (await memberStatus(members(3).find((m) => m !== evicted) ?? '')).leader?.name ?? '';
      const follower = members(3).find((m) => m !== evicted && m !== lead) ?? '';
      const e = await evict(follower);
      assert.equal(e.ok, false, `evicting ${follower} with ${evicted} down must be refused`);
      return /disruption budget/.test(e.message) ? e.message : undefined;
    }, diagnostics, 200);
    log(`drain: PDB minAvailable ${String(pdb.spec.minAvailable)}, disruptionsAllowed 0; a follower's eviction: ${refusal}`);
    // The leader's eviction now is the PDB's to refuse: the webhook moves no leadership for it.
    const asked = members(3).find((m) => m !== evicted) ?? '';
    const before = await memberStatus(asked);
    const lead = before.leader?.name ?? '';
    const byPdb = await evict(lead);
    assert.equal(byPdb.ok, false, `evicting the leader ${lead} with ${evicted} down must be refused`);
    assert.match(byPdb.message, /disruption budget/, byPdb.message);
    await new Promise((r) => setTimeout(r, 1000));
    const after = await memberStatus(asked);
    assert.deepEqual([after.leader?.name, after.term], [lead, before.term], 'no leadership move (same leader, same term) for an eviction the PDB refuses');
  } finally {
    await kc(['uncordon', nodeName]);
  }
  await waitHealthy('3 healthy voters after uncordon', 3, 120_000);
  timer.add('kubectl drain (cordon, 1 voter evicted, PDB holds) → uncordon → 3 healthy', Date.now() - t0, `drain ran ${drainMs} ms`);
  const r = await w.stop();
  assert.ok(r.maxGapMs < MAX_WRITE_GAP_MS, `writes kept being acknowledged: longest gap ${r.maxGapMs} ms`);
  await assertAcknowledgedEverywhere(members(3));
});

step('the Eviction API on the leader\'s pod: refused (429) until leadership moved, then accepted; quorum kept', 240_000, async () => {
  const leader = await leaderNow();
  const before = await pod(leader);
  const w = startWriter('evict-leader');
  const t0 = Date.now();
  const first = await evict(leader);
  assert.equal(first.ok, false, 'the first eviction of the leader is refused');
  assert.match(first.message, /TooManyRequests|429/, first.message);
  assert.match(first.message, /runs the leader/, first.message);
  const accepted = await waitUntil('the retried eviction accepted', 30_000, async () => {
    const e = await evict(leader);
    return e.ok ? Date.now() : undefined;
  }, diagnostics, 200);
  // Asked of the members themselves (status.leader is the operator's last pass).
  const newLeader = await waitUntil('the other members name the new leader', 10_000, async () => {
    const named = await Promise.all(members(3).filter((m) => m !== leader).map(async (m) => (await memberStatus(m)).leader?.name ?? ''));
    return named.every((n) => n !== '' && n !== leader && n === named[0]) ? named[0] : undefined;
  }, diagnostics, 200);
  assert.notEqual(newLeader, leader, 'another member leads when the eviction is accepted');
  timer.add('evict leader pod: refused → accepted after the hand-off', accepted - t0, `${leader} → ${newLeader}`);
  await waitUntil(`${leader} recreated and Ready`, 120_000, async () => {
    const p = await pod(leader);
    return p !== undefined && p.metadata.uid !== before?.metadata.uid && p.status.containerStatuses?.[0]?.ready === true ? true : undefined;
  }, diagnostics);
  await waitHealthy('3 healthy voters after the eviction', 3, 120_000);
  timer.add('evicted leader pod → back, 3 healthy voters', Date.now() - t0);
  const r = await w.stop();
  assert.ok(r.maxGapMs < MAX_WRITE_GAP_MS, `writes kept being acknowledged: longest gap ${r.maxGapMs} ms`);
  await assertAcknowledgedEverywhere(members(3));
});

step('a member whose PVC is deleted and pod killed is replaced automatically; the cluster keeps serving', 300_000, async () => {
  await patchSpec({ replaceUnhealthyAfterSeconds: 5 });
  const leader = await leaderNow();
  const victim = members(3).reverse().find((m) => m !== leader) ?? '';
  const pvc = `data-${victim}`;
  const uidBefore = (await kn(['get', 'pvc', pvc, '-o', 'jsonpath={.metadata.uid}'])).trim();
  const w = startWriter('lost-pvc');
  const t0 = Date.now();
  await kn(['delete', 'pvc', pvc, '--wait=false']);
  await kn(['delete', 'pod', victim, '--wait=true', '--timeout=60s'], 70_000);
  const done = await waitUntil(`${victim} replaced (MemberReplaced) and 3 healthy voters`, 180_000, async () => {
    const ev = await events();
    if (!ev.some((e) => e.startsWith('MemberReplaced') && e.includes(victim))) return undefined;
    const c = await getCluster();
    return condition(c, 'Available')?.status === 'True' && (c.status?.members ?? []).filter((m) => m.voter && m.healthy).length === 3 && c.status?.replacement === undefined ? ev : undefined;
  }, diagnostics, 1_000);
  await waitHealthy('3 healthy voters after the replacement', 3, 120_000);
  timer.add('PVC deleted + pod killed → replaced automatically, 3 voters', Date.now() - t0, victim);
  log(`replacement events: ${done.filter((e) => /AutoReplace|WipeMember|RemoveMember|AddLearner|PromoteLearner|MemberReplaced/.test(e)).join(' | ')}`);
  assert.ok(done.some((e) => e.startsWith('AutoReplaceMember') && e.includes(victim)), 'the operator decided the replacement itself');
  const uidAfter = (await kn(['get', 'pvc', pvc, '-o', 'jsonpath={.metadata.uid}'])).trim();
  assert.notEqual(uidAfter, uidBefore, 'the member runs on a new PVC');
  const r = await w.stop();
  assert.ok(r.acked.length > 0 && r.maxGapMs < MAX_WRITE_GAP_MS, `the cluster kept serving: ${r.acked.length} writes, longest gap ${r.maxGapMs} ms`);
  await assertAcknowledgedEverywhere(members(3));
  await patchSpec({ replaceUnhealthyAfterSeconds: 0 });
});

step('a bad image rolled out stops at the first member; reverted, the rollout completes', 300_000, async () => {
  const leader = await leaderNow();
  const w = startWriter('bad-image');
  const t0 = Date.now();
  await patchSpec({ image: BAD_IMAGE });
  const stuck = await waitUntil('one member pod on the bad image, not ready', 120_000, async () => {
    const ps = await Promise.all(members(3).map((m) => pod(m)));
    const bad = ps.filter((p) => p?.spec.containers[0]?.image === BAD_IMAGE);
    return bad.length === 1 && bad[0]?.status.containerStatuses?.[0]?.ready !== true && /ErrImageNeverPull|ErrImagePull|ImagePullBackOff/.test(bad[0]?.status.containerStatuses?.[0]?.state.waiting?.reason ?? '') ? bad[0] : undefined;
  }, diagnostics);
  const stuckName = stuck?.metadata.name ?? '';
  log(`bad image: ${stuckName} waits with ${stuck?.status.containerStatuses?.[0]?.state.waiting?.reason ?? ''}`);
  assert.notEqual(stuckName, leader, 'the leader is not replaced first');
  timer.add(`patch image ${BAD_IMAGE} → first pod stuck`, Date.now() - t0, stuckName);
  // The rollout holds there: the other two keep running the good image and a quorum serves.
  const c = await waitCluster('the rollout reported as stopped', 60_000, (x) => (x.status?.leader ?? '') !== '' && (x.status?.members ?? []).filter((m) => m.healthy).length === 2);
  log(`while stuck: phase ${String(c.status?.phase)}, Progressing ${JSON.stringify(condition(c, 'Progressing'))}`);
  const ps = await Promise.all(members(3).map((m) => pod(m)));
  assert.equal(ps.filter((p) => p?.spec.containers[0]?.image === BAD_IMAGE).length, 1, 'no second member was taken down for the bad image');
  const t1 = Date.now();
  await patchSpec({ image: IMAGE });
  await waitUntil('every member on the good image and Ready', 180_000, async () => {
    const all = await Promise.all(members(3).map((m) => pod(m)));
    return all.every((p) => p?.spec.containers[0]?.image === IMAGE && p.status.containerStatuses?.[0]?.ready === true) ? true : undefined;
  }, diagnostics);
  await waitHealthy('3 healthy voters after the revert', 3, 120_000);
  timer.add('revert image → rollout complete, 3 healthy voters', Date.now() - t1);
  const r = await w.stop();
  assert.ok(r.maxGapMs < MAX_WRITE_GAP_MS, `writes kept being acknowledged: longest gap ${r.maxGapMs} ms`);
  await assertAcknowledgedEverywhere(members(3));
});

interface PvcJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { storageClassName?: string; resources: { requests: { storage: string } } };
  status: { phase?: string; capacity?: { storage: string } };
}

step('spec.storage size increase on local-path (cannot expand): the members are replaced one at a time through learners, followers first, the leader last; quorum and every write kept; StorageSynced InSync', 300_000, async () => {
  const leader = await leaderNow();
  const dataPvcs = async (): Promise<Map<string, PvcJson>> => {
    const list = JSON.parse(await kn(['get', 'pvc', '-o', 'json'])) as { items: PvcJson[] };
    return new Map(list.items.filter((p) => p.metadata.deletionTimestamp === undefined).map((p) => [p.metadata.name, p]));
  };
  const before = await dataPvcs();
  const podsBefore = new Map(await Promise.all(members(3).map(async (m) => [m, (await pod(m))?.metadata.uid ?? ''] as const)));
  const w = startWriter('storage');
  const t0 = Date.now();
  await patchSpec({ storage: { size: '2Gi' } });
  // Watched every 500 ms: which member is being replaced (the replace annotation the operator
  // sets), how many members are out of the healthy voters at once, and StorageSynced's progress.
  const started = new Map<string, number>();
  const leaderWhenStarted = new Map<string, string>();
  const finished = new Map<string, number>();
  let current = '';
  let maxOut = 0;
  let inSyncWhileReplacing = '';
  // Seen while the old leader was named for replacement yet still a voter: another member leading.
  let movedOffBeforeRemoval = '';
  const progress = new Set<string>();
  // The same evidence straight from the members, sampled faster than status is written: once the
  // old leader is named for replacement, a member (not it) that sees another leader while the old
  // one is still a voter.
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      if (current === leader) {
        for (const m of members(3).filter((x) => x !== leader)) {
          const st = await memberStatus(m).catch(() => undefined);
          if (st?.leader != null && st.leader.name !== leader && st.members.some((x) => x.name === leader && x.voter)) movedOffBeforeRemoval ||= st.leader.name;
        }
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  const c = await waitUntil('every member on a new 2Gi PVC, StorageSynced InSync, 3 healthy voters', 240_000, async () => {
    const x = await getCluster();
    const now = Date.now() - t0;
    const replacing = x.metadata.annotations?.['raftkv.dev/replace-member'] ?? '';
    if (replacing !== current) {
      if (current !== '') finished.set(current, now);
      if (replacing !== '' && !started.has(replacing)) {
        started.set(replacing, now);
        leaderWhenStarted.set(replacing, x.status?.leader ?? '');
      }
      current = replacing;
    }
    const healthyVoters = (x.status?.members ?? []).filter((m) => m.voter && m.healthy).map((m) => m.name);
    const stillVoter = (x.status?.members ?? []).some((m) => m.name === leader && m.voter);
    if (replacing === leader && stillVoter && x.status?.leader !== undefined && x.status.leader !== '' && x.status.leader !== leader) movedOffBeforeRemoval = x.status.leader;
    if (x.status?.leader !== undefined && x.status.leader !== '') maxOut = Math.max(maxOut, members(3).filter((m) => !healthyVoters.includes(m)).length);
    const sync = condition(x, 'StorageSynced');
    if (sync?.reason === 'ReplacingMembers') progress.add(sync.message.split(';')[0] ?? '');
    if (sync?.reason === 'InSync' && replacing !== '' && started.size > 0) inSyncWhileReplacing = replacing;
    if (sync?.reason !== 'InSync' || healthyVoters.length !== 3 || replacing !== '') return undefined;
    const pvcs = await dataPvcs();
    return members(3).every((m) => { const p = pvcs.get(`data-${m}`); return p !== undefined && p.metadata.uid !== before.get(`data-${m}`)?.metadata.uid && p.status.phase === 'Bound'; }) ? x : undefined;
  }, diagnostics, 500).finally(() => { sampling = false; });
  await sampler;
  const totalMs = Date.now() - t0;
  await waitHealthy('3 healthy voters after the storage change', 3, 120_000);
  const order = [...started.keys()];
  const perMember = order.map((m) => `${m} ${(((finished.get(m) ?? totalMs) - (started.get(m) ?? 0)) / 1000).toFixed(1)} s`);
  timer.add('storage 1Gi → 2Gi on local-path: 3 members replaced through learners → InSync', totalMs, `order ${order.join(', ')} (leader ${leader}); ${perMember.join(', ')}`);
  log(`storage: StorageSynced ${JSON.stringify(condition(c, 'StorageSynced'))}; progress seen: ${[...progress].join(' | ')}; at most ${maxOut} member(s) out of the healthy voters at once`);
  const ev = await events();
  log(`storage events: ${ev.filter((e) => /StorageReplaceMember|ReplaceStatefulSet|TransferLeadership|MemberReplaced|StorageSynced/.test(e)).map((e) => e.split(':')[0]).join(' ')}`);
  // One at a time, followers first, the leader last.
  assert.deepEqual([...order].sort(), members(3), `each member replaced once (order ${order.join(', ')})`);
  assert.equal(order[2], leader, `the leader (${leader}) went last: ${order.join(', ')}`);
  for (const m of order.slice(0, 2)) assert.notEqual(leaderWhenStarted.get(m), m, `${m} did not lead when its replacement started`);
  // From status, not Events: the per-object Events budget (30 a minute) may drop the
  // TransferLeadership event in a step this busy (it did once, at load ~10).
  const transferEvent = ev.some((e) => e.startsWith('TransferLeadership') && e.includes(`${leader} →`) && e.includes('is being replaced'));
  assert.ok(movedOffBeforeRemoval !== '' || transferEvent, `leadership moved off the leader (${leader}) while it was still a voter, before it was removed (seen in status or by the members: ${movedOffBeforeRemoval || 'no'}; TransferLeadership event: ${transferEvent ? 'yes' : 'no'})`);
  assert.equal(inSyncWhileReplacing, '', 'StorageSynced said InSync only once no member was being replaced');
  assert.ok(maxOut <= 1, `never more than one member out of the healthy voters (${maxOut})`);
  for (let i = 1; i < order.length; i++) {
    assert.ok((finished.get(order[i - 1] ?? '') ?? Infinity) <= (started.get(order[i] ?? '') ?? 0), `${order[i - 1] ?? ''} was done before ${order[i] ?? ''} started`);
  }
  assert.ok([...progress].some((p) => /^[12]\/3 members on 2Gi of class /.test(p)), `StorageSynced reported progress: ${[...progress].join(' | ')}`);
  // Every member on a new PVC of the class, bound at 2Gi (local-path's PVs carry the requested capacity), in a new pod.
  const after = await dataPvcs();
  for (const m of members(3)) {
    const p = after.get(`data-${m}`);
    assert.equal(p?.spec.resources.requests.storage, '2Gi', `data-${m} asks for 2Gi`);
    assert.equal(p.status.capacity?.storage, '2Gi', `data-${m} is bound at 2Gi`);
    assert.equal(p.spec.storageClassName, storageClass);
    assert.notEqual((await pod(m))?.metadata.uid, podsBefore.get(m), `${m} restarted on its new PVC`);
  }
  const sts = JSON.parse(await kn(['get', 'statefulset', CLUSTER, '-o', 'json'])) as { spec: { volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] } };
  assert.equal(sts.spec.volumeClaimTemplates[0]?.spec.resources.requests.storage, '2Gi');
  // Quorum never lost: writes kept being acknowledged (a hand-off may cost one timed-out write), and none was lost.
  const r = await w.stop();
  assert.ok(r.acked.length > 0 && r.maxGapMs < MAX_WRITE_GAP_MS, `writes kept being acknowledged: ${r.acked.length}, longest gap ${r.maxGapMs} ms`);
  await assertAcknowledgedEverywhere(members(3));
});

step('pause: no write by the operator while paused although spec and objects call for action; resumed, it acts', 300_000, async () => {
  await kn(['annotate', 'raftcluster', CLUSTER, 'raftkv.dev/reconcile=paused']);
  await waitCluster('Paused condition True', 30_000, (x) => condition(x, 'Paused')?.status === 'True');
  const snapshot = async (): Promise<string> => {
    const sts = JSON.parse(await kn(['get', 'statefulset', CLUSTER, '-o', 'json'])) as { metadata: { resourceVersion: string }; spec: { replicas: number } };
    const ps = await Promise.all(members(3).map(async (m) => { const p = await pod(m); return `${m}:${p?.metadata.uid ?? '-'}`; }));
    const conf = (await memberStatus(`${CLUSTER}-0`)).members.map((m) => `${m.name}/${m.voter ? 'v' : 'l'}`).sort().join(',');
    const pdb = (await kn(['get', 'pdb', '-o', 'name'])).trim();
    const svc = (await kn(['get', 'service', CLUSTER, '-o', 'jsonpath={.metadata.resourceVersion}'])).trim();
    return JSON.stringify({ sts: `${sts.metadata.resourceVersion}/${sts.spec.replicas}`, ps, conf, pdb, svc });
  };
  // Work the operator would do at once: scale to 5 and put back the PDB deleted by hand.
  await kn(['delete', 'pdb', '--all']);
  const gen = Number((await kn(['get', 'raftcluster', CLUSTER, '-o', 'jsonpath={.metadata.generation}'])).trim());
  const before = await snapshot();
  await kn(['scale', 'raftcluster', CLUSTER, '--replicas=5']);
  const t0 = Date.now();
  // A negative: nothing may change. Watch for longer than the operator takes to act once resumed (below).
  const watchMs = 6_000;
  while (Date.now() - t0 < watchMs) {
    assert.equal(await snapshot(), before, 'nothing changed while paused');
    await new Promise((r) => setTimeout(r, 500));
  }
  const c = await getCluster();
  assert.ok((c.status?.observedGeneration ?? 0) <= gen, `status not updated while paused (observedGeneration ${String(c.status?.observedGeneration)})`);
  assert.equal(c.status?.replicas, 3);
  const t1 = Date.now();
  await kn(['annotate', 'raftcluster', CLUSTER, 'raftkv.dev/reconcile-']);
  await waitUntil('the operator acts once resumed (StatefulSet scaled, PDB back)', 60_000, async () => {
    const r = Number((await kn(['get', 'statefulset', CLUSTER, '-o', 'jsonpath={.spec.replicas}'])).trim());
    return r > 3 && (await kn(['get', 'pdb', '-o', 'name'])).trim() !== '' ? true : undefined;
  }, diagnostics, 200);
  const actMs = Date.now() - t1;
  timer.add('paused: no change with replicas 3→5 and the PDB deleted', watchMs, `resumed → acting in ${actMs} ms`);
  assert.ok(actMs < watchMs / 2, `resumed, the operator acted in ${actMs} ms, well inside the ${watchMs} ms watched while paused`);
  const t2 = Date.now();
  await waitHealthy('5 healthy voters', 5, 240_000);
  timer.add('resumed: scale 3→5 → 5 healthy voters', Date.now() - t2);
});

step('5→3 with the removed member dead (frozen) completes', 300_000, async () => {
  const dead = `${CLUSTER}-4`;
  const pid = await memberPid(dead);
  const t0 = Date.now();
  process.kill(pid, 'SIGSTOP');
  let killed = false;
  try {
    await kn(['scale', 'raftcluster', CLUSTER, '--replicas=3']);
    // The member is dead for good: once its pod is being deleted, its process is killed (a frozen
    // process would otherwise hold the pod for the grace period).
    await waitUntil('3 voters, the dead member removed', 180_000, async () => {
      const p = await pod(dead);
      if (!killed && p?.metadata.deletionTimestamp !== undefined) {
        process.kill(pid, 'SIGKILL');
        killed = true;
      }
      const c = await getCluster();
      return (c.status?.members ?? []).length === 3 && !(c.status?.members ?? []).some((m) => m.name === dead) && p === undefined ? true : undefined;
    }, diagnostics, 500);
  } finally {
    if (!killed) process.kill(pid, 'SIGCONT');
  }
  await waitHealthy('3 healthy voters after 5→3', 3, 120_000);
  timer.add('5→3 with the removed member frozen → 3 healthy voters', Date.now() - t0);
  const ev = await events();
  const removed = ev.filter((e) => e.startsWith('RemoveMember'));
  log(`scale-down events: ${removed.join(' | ')}`);
  assert.ok(removed.some((e) => e.includes(dead)), `${dead} removed from the configuration`);
  const conf = (await memberStatus(await leaderNow())).members.map((m) => m.name).sort();
  assert.deepEqual(conf, members(3));
  await assertAcknowledgedEverywhere(members(3));
}, 5);

step('quorum loss, 1 surviving member of 3: spec.recovery ends with 3 voters serving; status says what was at risk', 360_000, async () => {
  const leader = await leaderNow();
  const survivor = members(3).find((m) => m !== leader) ?? '';
  const lost = members(3).filter((m) => m !== survivor);
  // The survivor falls behind: cut off its peers (a frozen process would still find the leader's
  // appends in its socket buffers when thawed) while the other two commit writes it never gets.
  const faults = async (dropPeerTraffic: boolean): Promise<void> => {
    const r = await call({ method: 'POST', url: `${memberUrl(survivor)}/v1/debug/faults`, body: JSON.stringify(dropPeerTraffic ? { dropPeerTraffic, durationMs: 120_000 } : { dropPeerTraffic }) });
    assert.equal(r.status, 200, `faults on ${survivor}: ${r.status} ${r.text}${r.error ?? ''}`);
  };
  await faults(true);
  const atRisk = new Set<string>();
  try {
    for (let i = 0; i < 10; i++) {
      const r = await call({ method: 'PUT', url: `${memberUrl(leader)}/v1/kv/w/at-risk/${i}`, body: 'x' });
      assert.equal(r.status, 200, `${r.text}${r.error ?? ''}`);
      atRisk.add(`w/at-risk/${i}`);
    }
    const leaderApplied = (await memberStatus(leader)).appliedIndex;
    // The operator must have seen the lost members that far ahead before they go.
    await waitCluster('the operator saw the lost members ahead', 60_000, (x) => lost.every((m) => (x.status?.members?.find((s) => s.name === m)?.appliedIndex ?? 0) >= leaderApplied));
  } catch (err) {
    await faults(false);
    throw err;
  }
  const lostPids = await Promise.all(lost.map((m) => memberPid(m)));
  for (const p of lostPids) process.kill(p, 'SIGSTOP');
  await faults(false);
  const t0 = Date.now();
  const killed = new Set<number>();
  try {
    await waitCluster('quorum lost: no leader', 60_000, (x) => (x.status?.leader ?? '') === '' && x.status?.membersStaleSince !== undefined);
    timer.add('2 of 3 frozen → status shows no leader (members kept, stale)', Date.now() - t0);
    const t1 = Date.now();
    await patchSpec({ recovery: { forceNewCluster: true } });
    // The lost members are dead for good: their processes are killed once the recovery deletes their pods.
    const c = await waitUntil('recovery Succeeded and 3 healthy voters', 240_000, async () => {
      for (const [i, m] of lost.entries()) {
        const pid = lostPids[i] ?? 0;
        if (!killed.has(pid) && (await pod(m))?.metadata.deletionTimestamp !== undefined) {
          process.kill(pid, 'SIGKILL');
          killed.add(pid);
        }
      }
      const x = await getCluster();
      return x.status?.recovery?.phase === 'Succeeded' && (x.status.members ?? []).filter((s) => s.voter && s.healthy).length === 3 ? x : undefined;
    }, diagnostics, 500);
    await waitHealthy('3 healthy voters after the recovery', 3, 120_000);
    timer.add('spec.recovery approved → Succeeded, 3 healthy voters', Date.now() - t1);
    const rec = c.status?.recovery;
    log(`status.recovery: ${JSON.stringify(rec)}`);
    assert.equal(rec?.survivor, survivor, 'the member that still answered was kept');
    assert.deepEqual(rec.lostMembers.map((m) => m.name).sort(), lost);
    assert.ok(rec.entriesAtRisk >= atRisk.size, `status counts the ${atRisk.size} writes only the lost members held (entriesAtRisk ${rec.entriesAtRisk})`);
    assert.match(rec.message, /lost/);
    assert.equal(c.spec.recovery, undefined, 'the approval was used once and cleared');
  } finally {
    for (const p of lostPids) if (!killed.has(p)) process.kill(p, 'SIGCONT');
  }
  // Serving again: every write acknowledged before the loss (on the survivor) is there, the ones only
  // the lost members held are gone as status said, and new writes work.
  await assertAcknowledgedEverywhere(members(3));
  for (const m of members(3)) assert.equal([...(await keysOn(m, 'w/at-risk/'))].length, 0, `${m}: the writes only the lost members held are gone, as status said`);
  const w = startWriter('after-recovery', 20_000);
  await waitUntil('writes after the recovery', 30_000, async () => ((await keysOn(survivor, 'w/after-recovery/')).size >= 5 ? true : undefined), diagnostics);
  await w.stop();
  await assertAcknowledgedEverywhere(members(3));
});
