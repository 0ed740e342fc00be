// A secured RaftCluster (spec.tls.enabled with the operator's own CA, spec.auth) driven by the
// operator against REAL raftkv members on 127.0.0.1. The test plays kubelet: it starts a member for
// each ordinal below the StatefulSet's replicas with the security flags of the operator's pod
// template, the template's Secret volumes materialised as files (re-written when a Secret changes,
// as the kubelet refreshes Secret volumes). It checks the operator reaches the members only over
// HTTPS with its token (status, scale 3→5 through the secured membership API), that a renewal is a
// Secret update the members pick up, that bad Secrets are a clear Degraded condition, that the CRD
// refuses a TLS change, and that no token ever appears in logs, Events or status.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Secret, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import { LocalMembers } from '../lib/local-members.js';
import { mapMountedPath } from '../lib/container-args.js';
import { Operator } from '../../operator/src/operator.js';
import type { RaftCluster } from '../../operator/src/api/types.js';
import { MemberClient } from '../../operator/src/member-client/client.js';
import { issueMemberCertificate } from '../../operator/src/security/certificates.js';

const DAEMON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'daemon', 'src', 'main.js');
const NS = '/api/v1/namespaces/default';
const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const MAX_MEMBERS = 5;
/** Flags the test takes from the operator's pod template (paths mapped to the materialised volumes). */
const SECURITY_FLAGS = ['--peer-cert', '--peer-key', '--peer-ca', '--cert', '--key', '--auth-token-file'];
const ADMIN_TOKEN = `adm-${randomBytes(16).toString('hex')}`;
const READ_TOKEN = `rd-${randomBytes(16).toString('hex')}`;
const BAD_TOKEN = `nope-${randomBytes(16).toString('hex')}`;

let cp: KubeControlPlane;
let op: Operator | undefined;
const logLines: string[] = [];
const dataRoot = mkdtempSync(join(tmpdir(), 'raftkv-op-secured-'));
const local = new LocalMembers('https');
const procs = local.procs;
let kubelet: NodeJS.Timeout | undefined;

const clientUrl = (m: string): string => local.clientUrl(m);
const peerAddr = (m: string): string => local.peerAddr(m);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function getJson<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

/** Writes a Secret volume's files (items projected like the kubelet); only changed files are replaced, atomically. */
async function materialiseSecretVolume(dir: string, secretName: string, items: { key: string; path: string }[] | undefined): Promise<boolean> {
  const s = await getJson<V1Secret>(`${NS}/secrets/${secretName}`);
  if (s === undefined) return false;
  mkdirSync(dir, { recursive: true });
  const data = s.data ?? {};
  const files = items === undefined ? Object.keys(data).map((k) => ({ key: k, path: k })) : items;
  for (const f of files) {
    const v = data[f.key];
    if (v === undefined) return false;
    const bytes = Buffer.from(v, 'base64');
    const target = join(dir, f.path);
    if (existsSync(target) && readFileSync(target).equals(bytes)) continue;
    writeFileSync(`${target}.tmp`, bytes, { mode: 0o600 });
    renameSync(`${target}.tmp`, target);
  }
  return true;
}

/** The kubelet's share for one pod: its Secret volumes as files, and the template's security flags pointing at them. */
async function podSecurity(sts: V1StatefulSet, pod: string): Promise<string[] | undefined> {
  const spec = sts.spec?.template.spec;
  const ctr = spec?.containers[0];
  const mounts: { mountPath: string; hostPath: string }[] = [];
  for (const vm of ctr?.volumeMounts ?? []) {
    const vol = (spec?.volumes ?? []).find((v) => v.name === vm.name);
    if (vol?.secret?.secretName === undefined) continue;
    const dir = join(dataRoot, 'pods', pod, vm.name);
    if (!(await materialiseSecretVolume(dir, vol.secret.secretName, vol.secret.items))) return undefined;
    mounts.push({ mountPath: vm.mountPath, hostPath: dir });
  }
  return (ctr?.args ?? []).filter((a) => SECURITY_FLAGS.includes(a.split('=')[0] ?? '')).map((a) => {
    const [flag, value = ''] = a.split('=');
    return `${flag ?? ''}=${mapMountedPath(value, mounts)}`;
  });
}

function startMember(i: number, state: 'new' | 'existing', security: readonly string[]): void {
  const name = `sk-${i}`;
  const initial = [0, 1, 2].map((j) => `sk-${j}=${peerAddr(`sk-${j}`)}`).join(',');
  const child = spawn(process.execPath, [DAEMON, '--name', name, '--data-dir', join(dataRoot, 'data', name), '--listen-client', clientUrl(name), '--listen-peer', peerAddr(name),
    '--initial-cluster', initial, '--initial-cluster-state', state, '--election-timeout-ms', '1000', '--heartbeat-interval-ms', '100', '--log-level', 'warn',
    '--credential-reload-interval-ms', '300', '--enable-fault-injection', ...security], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (b: Buffer) => logLines.push(`member ${name}: ${b.toString()}`));
  procs.set(name, child);
}

const stopMember = (name: string): Promise<void> => local.stop(name);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(200);
  }
}

async function waitCluster(name: string, what: string, ok: (c: RaftCluster) => boolean, timeoutMs = 60_000): Promise<RaftCluster> {
  let last: RaftCluster | undefined;
  try {
    return await waitFor(what, async () => {
      last = await getJson<RaftCluster>(`${CR}/${name}`);
      return last !== undefined && ok(last) ? last : undefined;
    }, timeoutMs);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}: ${JSON.stringify(last?.status)}`);
  }
}

/** One raw HTTPS request to a member; resolves with the status or the error code. */
function rawStatus(url: string, opts: { ca?: string; token?: string }): Promise<number | string> {
  return new Promise((resolve) => {
    const req = https.request(`${url}/v1/status`, { ...(opts.ca === undefined ? {} : { ca: opts.ca }), headers: opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** The certificate a member serves on its client port. */
function servedCertificate(url: string): Promise<X509Certificate> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: u.hostname, port: Number(u.port), rejectUnauthorized: false }, () => {
      const c = s.getPeerX509Certificate();
      s.destroy();
      if (c === undefined) reject(new Error('no certificate'));
      else resolve(c);
    });
    s.on('error', reject);
  });
}

const secretData = async (name: string): Promise<Record<string, string>> => {
  const s = await getJson<V1Secret>(`${NS}/secrets/${name}`);
  return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
};

before(async () => {
  cp = await startKubeControlPlane();
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  await local.allocate(Array.from({ length: MAX_MEMBERS }, (_, i) => `sk-${i}`));
  const log = (level: string) => (obj: object, msg?: string): void => { logLines.push(`${level} ${JSON.stringify(obj)} ${msg ?? ''}`); };
  op = new Operator(local.operatorOptions(cp.kubeConfig(), 'secured-op', {
    log: { info: log('info'), warn: log('warn'), error: log('error') }, memberClient: { requestTimeoutMs: 3000, maxRedirects: 3 },
  }));
  await op.start();
});

after(() => local.teardown({ kubelet, op, cp, dir: dataRoot }));

test('tls.enabled + auth: the operator generates the Secrets, reaches real members over HTTPS with its token, scales 3→5 through the secured API', async () => {
  assert.equal((await cp.request('POST', `${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'sk-tokens' },
    stringData: { tokens: `# reader first: the operator must pick the admin entry\n${READ_TOKEN} read reader\n${ADMIN_TOKEN} admin operator\n` } })).status, 201);
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'sk' },
    spec: { replicas: 3, image: 'raftkv:test', enableFaultInjection: true, chaos: { allowDestructive: true }, tls: { enabled: true }, auth: { tokenSecretName: 'sk-tokens' } } })).status, 201);

  // The kubelet: pods follow the StatefulSet; Secret volumes are kept current.
  let busy = false;
  kubelet = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const sts = await getJson<V1StatefulSet>('/apis/apps/v1/namespaces/default/statefulsets/sk');
      const replicas = sts?.spec?.replicas ?? 0;
      for (let i = 0; i < MAX_MEMBERS; i++) {
        const name = `sk-${i}`;
        if (i < replicas && sts !== undefined) {
          const security = await podSecurity(sts, name);
          if (security === undefined || procs.has(name)) continue;
          if (i >= 3) rmSync(join(dataRoot, 'data', name), { recursive: true, force: true });
          startMember(i, i < 3 ? 'new' : 'existing', security);
        } else if (i >= replicas && procs.has(name)) await stopMember(name);
      }
    })().catch((err: unknown) => logLines.push(`kubelet: ${String(err)}`)).finally(() => { busy = false; });
  }, 200);

  const ca = await waitFor('the generated CA Secret', async () => getJson<V1Secret>(`${NS}/secrets/sk-ca`));
  const tlsSecret = await waitFor('the generated member Secret', async () => getJson<V1Secret>(`${NS}/secrets/sk-tls`));
  const cr = await getJson<RaftCluster>(`${CR}/sk`);
  for (const s of [ca, tlsSecret]) {
    assert.deepEqual(s.metadata?.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]), [['RaftCluster', 'sk', cr?.metadata.uid, true]]);
    assert.equal(s.metadata?.labels?.['app.kubernetes.io/managed-by'], 'raftkv-operator');
  }
  assert.equal(tlsSecret.type, 'kubernetes.io/tls');
  const material = await secretData('sk-tls');
  assert.equal(material['ca.crt'], (await secretData('sk-ca'))['ca.crt']);
  const leaf = new X509Certificate(material['tls.crt'] ?? '');
  const caCert = new X509Certificate(material['ca.crt'] ?? '');
  assert.ok(leaf.verify(caCert.publicKey));
  assert.match(leaf.subjectAltName ?? '', /DNS:\*\.sk-peer\.default\.svc\b/);

  const sts = await waitFor('the StatefulSet', async () => getJson<V1StatefulSet>('/apis/apps/v1/namespaces/default/statefulsets/sk'));
  const ctr = sts.spec?.template.spec?.containers[0];
  assert.ok(ctr?.args?.includes('--listen-client=https://0.0.0.0:2379'));
  assert.equal(ctr?.readinessProbe?.httpGet?.scheme, 'HTTPS');

  const three = await waitCluster('sk', '3 secured members Running', (c) => c.status?.phase === 'Running' && c.status.replicas === 3);
  assert.deepEqual({ ...three.status?.security, certificateNotAfter: undefined }, { tls: 'OperatorCA', tlsSecretName: 'sk-tls', auth: 'Token', authTokenEntry: 'operator', certificateNotAfter: undefined });
  assert.equal(three.status?.security?.certificateNotAfter, new Date(leaf.validTo).toISOString().replace(/\.\d{3}Z$/, 'Z'));

  // The members' own gate: no token → 401, a read token reads, plain HTTP and an untrusted CA get nothing.
  const caPem = material['ca.crt'] ?? '';
  const url = clientUrl('sk-1');
  assert.equal(await rawStatus(url, { ca: caPem }), 401);
  assert.equal(await rawStatus(url, { ca: caPem, token: BAD_TOKEN }), 401);
  assert.equal(await rawStatus(url, { ca: caPem, token: READ_TOKEN }), 200);
  assert.notEqual(await rawStatus(url, { token: ADMIN_TOKEN }), 200, 'not trusted without the cluster CA');
  await assert.rejects(fetch(`${url.replace('https:', 'http:')}/v1/status`, { signal: AbortSignal.timeout(3000) }), 'plain HTTP to the client port fails');
  await new MemberClient(url, undefined, { caPem, token: ADMIN_TOKEN }).put('before-scale', 'v1');

  const t0 = Date.now();
  assert.equal((await cp.request('PATCH', `${CR}/sk/scale`, { spec: { replicas: 5 } }, 'application/merge-patch+json')).status, 200);
  const five = await waitCluster('sk', '5 secured voters Running', (c) => c.status?.phase === 'Running' && c.status.replicas === 5 && (c.status.members ?? []).every((m) => m.voter && m.healthy), 90_000);
  console.log(`# secured scale 3→5: ${Date.now() - t0} ms`);
  assert.deepEqual(five.status?.members?.map((m) => m.name).sort(), ['sk-0', 'sk-1', 'sk-2', 'sk-3', 'sk-4']);
  const joined = new MemberClient(clientUrl('sk-4'), undefined, { caPem, token: READ_TOKEN });
  assert.equal((await joined.status()).members.filter((m) => m.voter).length, 5);
  assert.equal(await joined.get('before-scale'), 'v1', 'the joined member serves earlier data over mTLS-replicated raft');
});

test('renewal: a member certificate in its last third is re-signed by the same CA; members pick the Secret update up without a restart', async () => {
  const before = await secretData('sk-tls');
  const ca = await secretData('sk-ca');
  const pids = [...procs.values()].map((p) => p.pid);
  // An ageing certificate from the same CA: issued 300 days ago for a year.
  const names = (new X509Certificate(before['tls.crt'] ?? '').subjectAltName ?? '').split(', ').map((n) => n.replace(/^(DNS|IP Address):/, ''));
  const old = await issueMemberCertificate({ certPem: ca['ca.crt'] ?? '', keyPem: ca['ca.key'] ?? '' }, 'old', names, Date.now() - 300 * 86_400_000, 365 * 86_400_000);
  const s = await getJson<V1Secret>(`${NS}/secrets/sk-tls`);
  assert.ok(s?.data !== undefined);
  s.data['tls.crt'] = Buffer.from(old.certPem).toString('base64');
  s.data['tls.key'] = Buffer.from(old.keyPem).toString('base64');
  assert.equal((await cp.request('PUT', `${NS}/secrets/sk-tls`, s)).status, 200);
  const oldSerial = new X509Certificate(old.certPem).serialNumber;
  const renewed = await waitFor('the operator re-issues the member certificate', async () => {
    const d = await secretData('sk-tls');
    const c = new X509Certificate(d['tls.crt'] ?? '');
    return c.serialNumber !== oldSerial && Date.parse(c.validTo) > Date.now() + 300 * 86_400_000 ? c : undefined;
  }, 30_000);
  assert.ok(renewed.verify(new X509Certificate(ca['ca.crt'] ?? '').publicKey), 're-signed by the same CA');
  // Every member serves the renewed certificate (reloaded from its files), same processes.
  await waitFor('every member serves the renewed certificate', async () => {
    const served = await Promise.all([...procs.keys()].map((m) => servedCertificate(clientUrl(m)).catch(() => undefined)));
    return served.every((c) => c?.serialNumber === renewed.serialNumber) ? true : undefined;
  }, 30_000);
  assert.deepEqual([...procs.values()].map((p) => p.pid), pids, 'no member restarted');
  const events = (await getJson<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>(`${NS}/events`))?.items ?? [];
  assert.ok(events.some((e) => e.involvedObject.name === 'sk' && e.reason === 'CertificateRenewed'), 'a CertificateRenewed Event');
  // The operator still reaches the members (status keeps being written from fresh observations).
  await waitCluster('sk', 'Running after the renewal', (c) => c.status?.phase === 'Running' && (c.status.members ?? []).every((m) => m.healthy));
});

test('a PartitionLeader drill on the secured cluster: faults, probe writes and read-back go over HTTPS with the admin token', async () => {
  assert.equal((await cp.request('POST', '/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills', {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftChaosDrill', metadata: { name: 'sk-part' },
    spec: { clusterRef: { name: 'sk' }, action: 'PartitionLeader', duration: '2s', probe: { writesPerSecond: 20 }, expect: { maxUnavailableSeconds: 10 } },
  })).status, 201);
  const d = await waitFor('the drill finishes', async () => {
    const x = await getJson<{ status?: Record<string, unknown> }>('/apis/raftkv.dev/v1alpha1/namespaces/default/raftchaosdrills/sk-part');
    const phase = x?.status?.['phase'];
    return phase === 'Succeeded' || phase === 'Failed' ? x : undefined;
  }, 60_000);
  console.log(`# secured drill: ${JSON.stringify({ ...d.status, conditions: undefined })}`);
  assert.equal(d.status?.['phase'], 'Succeeded', String(d.status?.['message']));
  assert.equal(d.status?.['lostWrites'], 0);
  // Writes stall for the ~2 s partition; a handful before and after it is what a 2 s drill gives.
  assert.ok(Number(d.status?.['acknowledgedWrites']) > 3, 'probe writes were acknowledged through the secured API');
  assert.notEqual(d.status?.['leaderAfter'], d.status?.['leaderBefore'], 'the partition (an admin call) took effect');
});

test('bad Secrets are a clear Degraded condition and an Event; nothing is created or overwritten', async () => {
  const mk = async (body: object): Promise<void> => assert.equal((await cp.request('POST', `${NS}/secrets`, body)).status, 201);
  await mk({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'half-tls' }, stringData: { 'ca.crt': 'x', 'tls.crt': 'y' } });
  await mk({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'readers-only' }, stringData: { tokens: `${READ_TOKEN} read r\n` } });
  await mk({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'taken-ca' }, stringData: { 'ca.crt': 'someone else\'s' } });
  const rc = async (name: string, spec: object): Promise<void> => assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name }, spec: { replicas: 1, image: 'raftkv:test', ...spec } })).status, 201);
  await rc('half', { tls: { enabled: true, secretName: 'half-tls' } });
  await rc('readers', { auth: { tokenSecretName: 'readers-only' } });
  await rc('taken', { tls: { enabled: true } });
  // 'taken-ca' is named for cluster 'taken' by rename: the operator finds a Secret it did not create.
  const foreign = await getJson<V1Secret>(`${NS}/secrets/taken-ca`);
  const cases: [string, string, RegExp][] = [
    ['half', 'TLSSecretInvalid', /Secret half-tls lacks key\(s\) tls\.key/],
    ['readers', 'AuthTokenInvalid', /no 'admin' token entry/],
    ['taken', 'TLSSecretConflict', /Secret taken-ca exists but was not created by the operator/],
  ];
  for (const [name, reason, re] of cases) {
    const c = await waitCluster(name, `${name} Degraded ${reason}`, (x) => x.status?.conditions?.some((k) => k.type === 'Degraded' && k.reason === reason) === true, 30_000);
    const deg = c.status?.conditions?.find((k) => k.type === 'Degraded');
    assert.match(deg?.message ?? '', re);
    assert.equal(c.status?.phase, 'Degraded');
    assert.equal(await getJson(`/apis/apps/v1/namespaces/default/statefulsets/${name}`), undefined, `${name}: no StatefulSet while blocked`);
  }
  assert.equal((await getJson<V1Secret>(`${NS}/secrets/taken-ca`))?.metadata?.resourceVersion, foreign?.metadata?.resourceVersion, 'the foreign Secret is untouched');
  assert.equal(await getJson(`${NS}/secrets/taken-tls`), undefined, 'no member Secret without a usable CA');
  const events = (await getJson<{ items: { reason: string; involvedObject: { name: string } }[] }>(`${NS}/events`))?.items ?? [];
  for (const [name, reason] of cases) assert.ok(events.some((e) => e.involvedObject.name === name && e.reason === reason), `an Event ${reason} on ${name}`);
  assert.ok(events.filter((e) => e.involvedObject.name === 'half' && e.reason === 'TLSSecretInvalid').length <= 2, 'the Event is not repeated every pass');
});

test('the CRD refuses secretName without enabled and any change of spec.tls after creation', async () => {
  const bad = await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'nope' }, spec: { image: 'x', tls: { secretName: 's' } } });
  assert.equal(bad.status, 422);
  assert.match(JSON.stringify(bad.body), /secretName needs spec\.tls\.enabled/);
  const change = await cp.request('PATCH', `${CR}/sk`, { spec: { tls: { enabled: false } } }, 'application/merge-patch+json');
  assert.equal(change.status, 422);
  assert.match(JSON.stringify(change.body), /spec\.tls cannot be changed after creation/);
  const same = await cp.request('PATCH', `${CR}/sk`, { spec: { tls: { enabled: true } } }, 'application/merge-patch+json');
  assert.equal(same.status, 200, 'the same value is not a change');
});

test('no token appears in the operator log, Events, RaftCluster status or Secrets it wrote', async () => {
  const events = JSON.stringify((await cp.request('GET', `${NS}/events`)).body);
  const clusters = JSON.stringify((await cp.request('GET', CR)).body);
  const generated = JSON.stringify([await secretData('sk-ca'), await secretData('sk-tls')]);
  assert.ok(logLines.length > 0);
  for (const token of [ADMIN_TOKEN, READ_TOKEN, BAD_TOKEN]) {
    for (const [what, text] of [['operator log', logLines.join('\n')], ['Events', events], ['RaftClusters', clusters], ['generated Secrets', generated]] as const) {
      assert.ok(!text.includes(token), `a token appears in the ${what}`);
    }
  }
});
