// Operator tier: the eviction webhook on a real kube-apiserver (with kube-controller-manager: the
// StatefulSet controller makes the member pods, the disruption controller the PDB's allowance). The
// API server calls the operator's HTTPS webhook with the caBundle the operator wrote into the
// ValidatingWebhookConfiguration; the Eviction API is the real one. Members are fakes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { repoRoot, startKubeControlPlane } from '../lib/kube-control-plane.js';
import type { Operator } from '../../operator/src/operator.js';
import { EvictionWebhook } from '../../operator/src/webhook/eviction-webhook.js';
import type { EvictionWebhookOptions } from '../../operator/src/webhook/eviction-webhook.js';
import { FakeRaftCluster, operatorOverFakes, pollUntil, registerEvictionWebhook } from './fake-members.js';

const CR = '/apis/raftkv.dev/v1alpha1/namespaces/default/raftclusters';
const PODS = '/api/v1/namespaces/default/pods';
const WEBHOOKS = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
const CONFIG = 'raftkv-operator-eviction';
const WAIT_MS = 60_000;

let cp: KubeControlPlane;
let op: Operator;
let webhook: EvictionWebhookOptions;
const fakes = new Map<string, FakeRaftCluster>();
const logLines: string[] = [];

interface Pod { metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string }; status?: { phase?: string; conditions?: { type: string; status: string }[] } }

const waitFor = <T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = WAIT_MS): Promise<T> => pollUntil(what, fn, timeoutMs, logLines);

async function get<T>(path: string): Promise<T | undefined> {
  const r = await cp.request('GET', path);
  return r.status === 200 ? (r.body as T) : undefined;
}

async function markReady(names: readonly string[]): Promise<void> {
  for (const name of names) {
    await waitFor(`pod ${name}`, () => get<Pod>(`${PODS}/${name}`));
    const r = await cp.request('PATCH', `${PODS}/${name}/status`, { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }, 'application/merge-patch+json');
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
}

async function evict(name: string): Promise<{ status: number; message: string }> {
  const r = await cp.request('POST', `${PODS}/${name}/eviction`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: 'default' } });
  return { status: r.status, message: String((r.body as { message?: string }).message ?? '') };
}

before(async () => {
  cp = await startKubeControlPlane({ controllerManager: true });
  const root = repoRoot();
  await cp.installCrds([join(root, 'k8s/crds/raftclusters.raftkv.dev.yaml'), join(root, 'k8s/crds/raftchaosdrills.raftkv.dev.yaml')]);
  // As the chart installs it (there through the operator's Service), without a caBundle: the operator writes it.
  webhook = await registerEvictionWebhook(cp, CONFIG);
  op = operatorOverFakes(cp.kubeConfig(), 'evict-op', fakes, logLines, { evictionWebhook: webhook });
  await op.start();
});

after(async () => {
  await op?.stop();
  await cp?.stop();
  for (const f of fakes.values()) await f.stop();
});

test('the operator writes its CA into the webhook configuration; a pod that is not a member is evicted as usual', async () => {
  const cfg = await get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(`${WEBHOOKS}/${CONFIG}`);
  const ca = Buffer.from(cfg?.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
  assert.match(ca, /BEGIN CERTIFICATE/);
  const secret = await get<{ data: Record<string, string> }>('/api/v1/namespaces/default/secrets/raftkv-operator-webhook-tls');
  assert.equal(Buffer.from(secret?.data['ca.crt'] ?? '', 'base64').toString('utf8'), ca, 'the Secret holds the same CA');
  assert.equal((await cp.request('POST', PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'plain', labels: { app: 'other' } }, spec: { containers: [{ name: 'c', image: 'x' }] } })).status, 201);
  const r = await evict('plain');
  assert.equal(r.status, 201, r.message);
});

test('evicting the leader pod is refused with 429 while leadership moves away, and goes through after', async () => {
  const names = ['ev-0', 'ev-1', 'ev-2'];
  const fake = new FakeRaftCluster(names);
  await fake.start();
  fakes.set('ev', fake);
  assert.equal((await cp.request('POST', CR, { apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'ev' }, spec: { replicas: 3, image: 'raftkv:test' } })).status, 201);
  await markReady(names);
  await waitFor('PDB allows one voter eviction', async () => {
    const p = await get<{ metadata: { generation: number }; status?: { observedGeneration?: number; disruptionsAllowed?: number } }>('/apis/policy/v1/namespaces/default/poddisruptionbudgets/ev');
    return p?.status?.observedGeneration === p?.metadata.generation && p?.status?.disruptionsAllowed === 1;
  });
  assert.equal(fake.leader, 'ev-0');

  // A dry run is answered the same way but moves nothing (sideEffects: NoneOnDryRun).
  const dry = await cp.request('POST', `${PODS}/ev-0/eviction?dryRun=All`, { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'ev-0', namespace: 'default' }, deleteOptions: { dryRun: ['All'] } });
  assert.equal(dry.status, 429, JSON.stringify(dry.body));
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(!fake.calls.some((c) => c.startsWith('transfer')), `no transfer for a dry run: ${fake.calls.join(', ')}`);

  const t0 = Date.now();
  const refused = await evict('ev-0');
  assert.equal(refused.status, 429, refused.message);
  assert.match(refused.message, /pod ev-0 runs the leader of RaftCluster default\/ev: the raftkv operator is moving leadership/);
  assert.equal((await get<Pod>(`${PODS}/ev-0`))?.metadata.deletionTimestamp, undefined, 'the leader pod is still there');
  await waitFor('leadership moved off ev-0', async () => fake.calls.some((c) => c.startsWith('transfer ev-0->')));
  assert.notEqual(fake.leader, 'ev-0');

  // The retry (kubectl drain's, here by hand) now finds a follower and the PDB allows one.
  const allowed = await waitFor('eviction of ev-0 accepted', async () => {
    const r = await evict('ev-0');
    return r.status === 201 ? r : undefined;
  });
  console.log(`# leader eviction: refused with 429, accepted ${Date.now() - t0} ms later after transfer (${fake.calls.filter((c) => c.startsWith('transfer')).join(', ')})`);
  assert.equal(allowed.status, 201);
  assert.equal(fake.calls.filter((c) => c.startsWith('transfer')).length, 1, 'one transfer');

  // ev-0's pod comes back not Ready (no kubelet): the PDB allows no more. Evicting the new leader
  // is then refused by the PDB alone, and leadership stays (a blocked drain retries every 5 s: a
  // move per retry would be an election per retry for nothing).
  await waitFor('PDB allows no eviction', async () => {
    const p = await get<{ status?: { disruptionsAllowed?: number } }>('/apis/policy/v1/namespaces/default/poddisruptionbudgets/ev');
    return p?.status?.disruptionsAllowed === 0;
  });
  const lead = fake.leader;
  for (let i = 0; i < 3; i++) {
    const r = await evict(lead);
    assert.equal(r.status, 429, r.message);
    assert.match(r.message, /disruption budget/, r.message);
  }
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(fake.leader, lead, 'leadership stayed');
  assert.equal(fake.calls.filter((c) => c.startsWith('transfer')).length, 1, `no transfer for evictions the PDB refuses: ${fake.calls.join(', ')}`);
});

test('a second replica serves the certificate the first one stored (one CA in the caBundle for all replicas)', async () => {
  const before = await get<{ metadata: { resourceVersion: string }; data: Record<string, string> }>('/api/v1/namespaces/default/secrets/raftkv-operator-webhook-tls');
  const second = new EvictionWebhook({ client: op.client, log: { info: () => undefined, warn: () => undefined, error: () => undefined }, memberUrl: () => 'http://127.0.0.1:1', memberClientOptions: { requestTimeoutMs: 1000, maxRedirects: 3 }, now: () => Date.now() },
    { ...webhook, port: 0 });
  await second.start();
  try {
    const afterStart = await get<{ metadata: { resourceVersion: string }; data: Record<string, string> }>('/api/v1/namespaces/default/secrets/raftkv-operator-webhook-tls');
    assert.equal(afterStart?.metadata.resourceVersion, before?.metadata.resourceVersion, 'the Secret was not rewritten');
    const cfg = await get<{ webhooks: { clientConfig: { caBundle?: string } }[] }>(`${WEBHOOKS}/${CONFIG}`);
    assert.equal(cfg?.webhooks[0]?.clientConfig.caBundle, before?.data['ca.crt'], 'the caBundle is still the one CA');
    // It answers a review over TLS with that certificate.
    const https = await import('node:https');
    const ca = Buffer.from(before?.data['ca.crt'] ?? '', 'base64').toString('utf8');
    const answer = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: second.port, path: '/validate-eviction', method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u1', name: 'nope', namespace: 'default', subResource: 'eviction', operation: 'CREATE' } }));
    });
    assert.deepEqual(JSON.parse(answer), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u1', allowed: true } });
  } finally {
    await second.stop();
  }
});
