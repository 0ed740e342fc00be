// spec.tls / spec.auth in the operator without a control plane: the token file (the operator's
// admin token, agreement with the daemon's parser, no token in any error), the StatefulSet and
// Secrets built for tls/auth, the Secret handling of ClusterSecurity against an in-memory API,
// the refusal of a TLS change, and the member client over HTTPS with a bearer token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { V1Secret } from '@kubernetes/client-node';
import type { RaftCluster } from '../../../operator/src/api/types.js';
import { buildCaSecret, buildMemberTlsSecret, buildStatefulSet, memberArgs, tlsSecretInEffect } from '../../../operator/src/build/objects.js';
import { memberCertificateNames, memberClientUrl } from '../../../operator/src/build/names.js';
import { ClusterSecurity, SecurityProblem, readMemberCredentials, secretText, tlsChangeProblem } from '../../../operator/src/controllers/security.js';
import { computeStatus, securityBlockedStatus } from '../../../operator/src/controllers/raftcluster.js';
import type { KubeClient, KubeObject } from '../../../operator/src/kube/rest.js';
import { KubeApiError } from '../../../operator/src/kube/rest.js';
import { MemberClient, MemberClientError } from '../../../operator/src/member-client/client.js';
import { DEFAULT_CERTIFICATE_LIFETIMES, generateCa, issueMemberCertificate } from '../../../operator/src/security/certificates.js';
import { TokenFileProblem, adminTokenFrom } from '../../../operator/src/security/token-file.js';
import { TokenFileError, TokenTable } from '../../../daemon/src/security/tokens.js';

const ADMIN = 'Zq0x8J1m2N3b4V5c6X7zADMIN';
const READER = '3f9c1d0e6a7b4c2d9e8fREAD';

function cluster(spec: Partial<RaftCluster['spec']> = {}): RaftCluster {
  return {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'kv', namespace: 'prod', uid: 'uid-1', generation: 2 },
    spec: { replicas: 3, image: 'raftkv:1', storage: { size: '1Gi' }, raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 100 }, ...spec },
  };
}
const inputs = { statefulSetReplicas: 3, initialCluster: 'x', initialClusterState: 'new' } as const;
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('token file: the first admin token entry is the operator\'s; cn= entries and weaker roles are skipped', () => {
  const text = `# tokens\n${READER} read dashboards\ncn=ops-laptop admin ops\n\n${ADMIN} admin operator\nAAAAAAAAAAAAAAAAAAAAAAAAAAAA admin second\n`;
  const t = adminTokenFrom(text, 'Secret t key tokens');
  assert.equal(t.token, ADMIN);
  assert.equal(t.entryName, 'operator');
  assert.equal(t.line, 5);
  assert.equal(adminTokenFrom(`${ADMIN} admin`, 's').entryName, 'line-1');
});

test('token file: bad files are refused with the line and rule, never the token; the daemon refuses the same files', () => {
  const bad: [string, RegExp][] = [
    [`${READER} read\n${ADMIN.slice(0, 10)} admin`, /line 2: a token must be 16\.\.512/],
    [`${ADMIN} superuser`, /line 1: role must be one of read, write, admin/],
    [`${ADMIN} admin a b`, /line 1: expected/],
    [`${ADMIN} admin\n${ADMIN} read`, /line 2: the same token appears twice/],
    [`${ADMIN} admin na\u00efve`, /line 1: name must be/],
    ['# only comments\n\n', /no entries/],
    ['cn= admin', /empty certificate CN/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => adminTokenFrom(text, 'Secret t key tokens'), (e: unknown) => {
      assert.ok(e instanceof TokenFileProblem);
      assert.match(e.message, re);
      assert.ok(!e.message.includes(ADMIN) && !e.message.includes(ADMIN.slice(0, 10)) && !e.message.includes(READER), `token leaked: ${e.message}`);
      return true;
    });
    assert.throws(() => TokenTable.parse(text), TokenFileError, `the daemon accepts what the operator refuses: ${JSON.stringify(text)}`);
  }
  // Valid for the daemon but useless to the operator: no admin token.
  const noAdmin = `${READER} read\ncn=ops admin`;
  assert.doesNotThrow(() => TokenTable.parse(noAdmin));
  assert.throws(() => adminTokenFrom(noAdmin, 'Secret t key tokens'), (e: unknown) => e instanceof TokenFileProblem && /no 'admin' token entry/.test(e.message) && !e.message.includes(READER));
});

test('StatefulSet with tls and auth: Secrets mounted read-only, TLS flags, https URLs, HTTPS probes, token file flag', () => {
  const c = cluster({ tls: { enabled: true }, auth: { tokenSecretName: 'kv-tokens', tokenSecretKey: 'file' } });
  const args = memberArgs(c);
  for (const a of ['--peer-cert=/etc/raftkv/tls/tls.crt', '--peer-key=/etc/raftkv/tls/tls.key', '--peer-ca=/etc/raftkv/tls/ca.crt', '--cert=/etc/raftkv/tls/tls.crt',
    '--key=/etc/raftkv/tls/tls.key', '--listen-client=https://0.0.0.0:2379', '--advertise-client=https://$(POD_NAME).kv-peer.prod.svc:2379', '--auth-token-file=/etc/raftkv/auth/tokens']) {
    assert.ok(args.includes(a), `missing ${a} in ${args.join(' ')}`);
  }
  const sts = buildStatefulSet(c, inputs);
  const pod = sts.spec?.template.spec;
  const ctr = pod?.containers[0];
  assert.deepEqual(pod?.volumes, [
    { name: 'tls', secret: { secretName: 'kv-tls', defaultMode: 0o440 } },
    { name: 'auth-tokens', secret: { secretName: 'kv-tokens', defaultMode: 0o440, items: [{ key: 'file', path: 'tokens' }] } },
    { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
  ]);
  assert.deepEqual(ctr?.volumeMounts?.slice(1, 3), [{ name: 'tls', mountPath: '/etc/raftkv/tls', readOnly: true }, { name: 'auth-tokens', mountPath: '/etc/raftkv/auth', readOnly: true }]);
  assert.equal(ctr?.readinessProbe?.httpGet?.scheme, 'HTTPS');
  assert.equal(ctr?.livenessProbe?.httpGet?.scheme, 'HTTPS');
  assert.equal(tlsSecretInEffect(sts), 'kv-tls');
  assert.equal(memberClientUrl(c, 'kv-0'), 'https://kv-0.kv-peer.prod.svc:2379');
  // A user Secret and the default key.
  const user = buildStatefulSet(cluster({ tls: { enabled: true, secretName: 'mine' }, auth: { tokenSecretName: 't' } }), inputs);
  assert.equal(tlsSecretInEffect(user), 'mine');
  assert.deepEqual(user.spec?.template.spec?.volumes?.[1]?.secret?.items, [{ key: 'tokens', path: 'tokens' }]);
  // Off: nothing of it (known-bad direction: the plain cluster must not grow flags or volumes).
  const plain = buildStatefulSet(cluster({ tls: { enabled: false } }), inputs);
  assert.deepEqual(plain.spec?.template.spec?.volumes?.map((v) => v.name), ['tmp']);
  assert.equal(plain.spec?.template.spec?.containers[0]?.readinessProbe?.httpGet?.scheme, undefined);
  assert.ok(!memberArgs(cluster()).some((a) => /^--(peer-|cert|key|auth)/.test(a) || a.includes('https://')));
  assert.equal(tlsSecretInEffect(plain), null);
  assert.equal(tlsSecretInEffect(undefined), undefined);
});

test('a TLS change after creation is refused with a clear message; the same setting is not', () => {
  const on = cluster({ tls: { enabled: true } });
  assert.equal(tlsChangeProblem(on, undefined), undefined, 'no StatefulSet yet: anything goes');
  assert.equal(tlsChangeProblem(on, 'kv-tls'), undefined);
  assert.equal(tlsChangeProblem(cluster(), null), undefined);
  const p = tlsChangeProblem(on, null);
  assert.equal(p?.reason, 'TLSChangeRefused');
  assert.match(p?.message ?? '', /members run with TLS off, the spec asks for TLS from Secret kv-tls; nothing was changed/);
  assert.match(tlsChangeProblem(cluster({ tls: { enabled: true, secretName: 'mine' } }), 'kv-tls')?.message ?? '', /Secret kv-tls.*Secret mine/);
  assert.equal(tlsChangeProblem(cluster({ tls: { enabled: false } }), 'kv-tls')?.reason, 'TLSChangeRefused');
});

/** An in-memory Secret store with the three calls ClusterSecurity makes. */
class FakeSecrets {
  readonly objects = new Map<string, V1Secret & KubeObject>();
  writes = 0;
  private rv = 1;
  async get<T>(path: string): Promise<T | undefined> {
    return this.objects.get(path) as T | undefined;
  }
  async create<T extends KubeObject>(collection: string, body: T): Promise<T> {
    const path = `${collection}/${body.metadata?.name ?? ''}`;
    if (this.objects.has(path)) throw new KubeApiError('POST', collection, 409, 'AlreadyExists', 'exists');
    this.writes++;
    const stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(this.rv++) } } as V1Secret & KubeObject;
    this.objects.set(path, stored);
    return stored as T;
  }
  async replace<T extends KubeObject>(path: string, body: T): Promise<T> {
    const cur = this.objects.get(path);
    if (cur?.metadata?.resourceVersion !== body.metadata?.resourceVersion) throw new KubeApiError('PUT', path, 409, 'Conflict', 'conflict');
    this.writes++;
    const stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(this.rv++) } } as V1Secret & KubeObject;
    this.objects.set(path, stored);
    return stored as T;
  }
  put(ns: string, secret: V1Secret): void {
    this.objects.set(`/api/v1/namespaces/${ns}/secrets/${secret.metadata?.name ?? ''}`, secret as V1Secret & KubeObject);
  }
  secret(name: string): V1Secret | undefined {
    return this.objects.get(`/api/v1/namespaces/prod/secrets/${name}`);
  }
}

test('generated TLS: CA and member Secrets created once, owned; a fresh certificate is left alone; renewed in its last third with the same CA', async () => {
  const api = new FakeSecrets();
  let now = Date.parse('2030-01-01T00:00:00Z');
  const sec = new ClusterSecurity(api as unknown as KubeClient, () => now, DEFAULT_CERTIFICATE_LIFETIMES);
  const c = cluster({ tls: { enabled: true } });
  const first = await sec.ensure(c, undefined);
  assert.deepEqual(first.notes.map((n) => n.reason), ['CACreated', 'CertificateIssued']);
  assert.equal(first.status.tls, 'OperatorCA');
  assert.equal(first.status.tlsSecretName, 'kv-tls');
  const ca = api.secret('kv-ca');
  const member = api.secret('kv-tls');
  assert.equal(member?.type, 'kubernetes.io/tls');
  assert.deepEqual(Object.keys(member?.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
  assert.deepEqual(Object.keys(ca?.data ?? {}).sort(), ['ca.crt', 'ca.key']);
  for (const s of [ca, member]) assert.equal(s?.metadata?.ownerReferences?.[0]?.uid, 'uid-1');
  assert.equal(first.credentials.caPem, secretText(ca ?? {}, 'ca.crt'));

  const again = await sec.ensure(c, 'kv-tls');
  assert.deepEqual(again.notes, []);
  assert.equal(api.writes, 2, 'nothing rewritten while the certificate is fresh');

  now += 250 * 86_400_000; // 250 of 365 days: less than a third left
  const renewed = await sec.ensure(c, 'kv-tls');
  assert.deepEqual(renewed.notes.map((n) => n.reason), ['CertificateRenewed']);
  assert.match(renewed.notes[0]?.message ?? '', /expiring/);
  assert.equal(api.writes, 3);
  assert.notEqual(secretText(api.secret('kv-tls') ?? {}, 'tls.crt'), secretText(member ?? {}, 'tls.crt'));
  assert.equal(secretText(api.secret('kv-ca') ?? {}, 'ca.crt'), secretText(ca ?? {}, 'ca.crt'), 'same CA');
  assert.ok(Date.parse(renewed.status.certificateNotAfter ?? '') > now + 300 * 86_400_000);
});

test('Secrets the operator did not create are never overwritten; malformed ones are a clear problem', async () => {
  const c = cluster({ tls: { enabled: true } });
  const foreign = new FakeSecrets();
  foreign.put('prod', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kv-ca', namespace: 'prod' }, data: { 'ca.crt': b64('mine') } });
  const sec = new ClusterSecurity(foreign as unknown as KubeClient, () => Date.now(), DEFAULT_CERTIFICATE_LIFETIMES);
  await assert.rejects(sec.ensure(c, undefined), (e: unknown) => e instanceof SecurityProblem && e.reason === 'TLSSecretConflict' && /kv-ca exists but was not created by the operator/.test(e.message));
  assert.equal(foreign.writes, 0);
  assert.equal(secretText(foreign.secret('kv-ca') ?? {}, 'ca.crt'), 'mine');

  // Ours but broken: reported, not replaced.
  const api = new FakeSecrets();
  const ours = new ClusterSecurity(api as unknown as KubeClient, () => Date.now(), DEFAULT_CERTIFICATE_LIFETIMES);
  await ours.ensure(c, undefined);
  const caSecret = api.secret('kv-ca');
  assert.ok(caSecret?.data !== undefined);
  caSecret.data['ca.key'] = b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  const writes = api.writes;
  await assert.rejects(ours.ensure(c, 'kv-tls'), (e: unknown) => e instanceof SecurityProblem && e.reason === 'TLSSecretInvalid' && /kv-ca/.test(e.message) && !e.message.includes('AAAA'));
  assert.equal(api.writes, writes);
});

test('user TLS Secret: used as is; missing keys and a missing Secret are named', async () => {
  const api = new FakeSecrets();
  const sec = new ClusterSecurity(api as unknown as KubeClient, () => Date.now(), DEFAULT_CERTIFICATE_LIFETIMES);
  const c = cluster({ tls: { enabled: true, secretName: 'mine' } });
  await assert.rejects(sec.ensure(c, undefined), (e: unknown) => e instanceof SecurityProblem && e.reason === 'TLSSecretNotFound' && /Secret mine not found/.test(e.message));
  const ca = await generateCa('u', Date.now(), 86_400_000);
  const leaf = await issueMemberCertificate(ca, 'm', memberCertificateNames(c), Date.now(), 86_400_000);
  api.put('prod', { metadata: { name: 'mine' }, data: { 'ca.crt': b64(ca.certPem), 'tls.crt': b64(leaf.certPem) } });
  await assert.rejects(sec.ensure(c, undefined), (e: unknown) => e instanceof SecurityProblem && e.reason === 'TLSSecretInvalid' && /lacks key\(s\) tls\.key/.test(e.message));
  api.put('prod', { metadata: { name: 'mine' }, data: { 'ca.crt': b64(ca.certPem), 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem) } });
  const ok = await sec.ensure(c, 'mine');
  assert.equal(ok.status.tls, 'UserSecret');
  assert.equal(ok.credentials.caPem, ca.certPem);
  assert.equal(api.writes, 0, 'a user Secret is never written');
  assert.deepEqual(await readMemberCredentials(api as unknown as KubeClient, c), { caPem: ca.certPem });
});

test('auth: the admin token becomes the credential, the entry name the status; problems never carry the token', async () => {
  const api = new FakeSecrets();
  const sec = new ClusterSecurity(api as unknown as KubeClient, () => Date.now(), DEFAULT_CERTIFICATE_LIFETIMES);
  const c = cluster({ auth: { tokenSecretName: 'toks' } });
  await assert.rejects(sec.ensure(c, undefined), (e: unknown) => e instanceof SecurityProblem && e.reason === 'AuthSecretNotFound');
  api.put('prod', { metadata: { name: 'toks' }, data: { other: b64(`${ADMIN} admin`) } });
  await assert.rejects(sec.ensure(c, undefined), (e: unknown) => e instanceof SecurityProblem && e.reason === 'AuthTokenInvalid' && /no key "tokens"/.test(e.message));
  api.put('prod', { metadata: { name: 'toks' }, data: { tokens: b64(`${READER} read dash\n`) } });
  await assert.rejects(sec.ensure(c, undefined), (e: unknown) => e instanceof SecurityProblem && e.reason === 'AuthTokenInvalid' && /no 'admin' token entry/.test(e.message) && !e.message.includes(READER));
  api.put('prod', { metadata: { name: 'toks' }, data: { tokens: b64(`${READER} read dash\n${ADMIN} admin op\n`) } });
  const ok = await sec.ensure(c, undefined);
  assert.deepEqual(ok.credentials, { token: ADMIN });
  assert.deepEqual(ok.status, { tls: 'Disabled', auth: 'Token', authTokenEntry: 'op' });
  assert.ok(!JSON.stringify(ok.status).includes(ADMIN));
});

test('status: security in effect is reported; a blocking problem is Degraded + phase Degraded, keeping observed members', () => {
  const c = cluster({ tls: { enabled: true } });
  c.status = { leader: 'kv-0', term: 3, members: [{ name: 'kv-0', role: 'leader', voter: true, healthy: true, appliedIndex: 5 }] };
  const blocked = securityBlockedStatus(c, new SecurityProblem('TLSSecretInvalid', 'Secret kv-tls lacks tls.key'), '2030-01-01T00:00:00Z');
  assert.equal(blocked.phase, 'Degraded');
  const deg = blocked.conditions?.find((x) => x.type === 'Degraded');
  assert.deepEqual([deg?.status, deg?.reason, deg?.message], ['True', 'TLSSecretInvalid', 'Secret kv-tls lacks tls.key']);
  assert.equal(blocked.conditions?.find((x) => x.type === 'Progressing')?.status, 'False');
  assert.equal(blocked.members, undefined, 'a merge patch leaves the observed members alone');
  const security = { tls: 'OperatorCA', tlsSecretName: 'kv-tls', auth: 'Disabled' } as const;
  const st = computeStatus(c, { leader: 'kv-0', term: 3, commitIndex: 5, members: [{ name: 'kv-0', ordinal: 0, voter: true, healthy: true, role: 'leader', appliedIndex: 5 }] },
    { kind: 'none' }, 1, '2030-01-01T00:00:00Z', security);
  assert.deepEqual(st.security, security);
});

test('Secret builders: types, keys, owner and managed-by labels', async () => {
  const c = cluster({ tls: { enabled: true } });
  const ca = await generateCa('x', Date.now(), 86_400_000);
  const s = buildCaSecret(c, ca);
  assert.equal(s.metadata?.name, 'kv-ca');
  assert.equal(s.metadata?.labels?.['app.kubernetes.io/managed-by'], 'raftkv-operator');
  const m = buildMemberTlsSecret(c, ca.certPem, ca);
  assert.equal(m.type, 'kubernetes.io/tls');
  assert.equal(m.metadata?.ownerReferences?.[0]?.controller, true);
});

test('member client over HTTPS: trusts only the given CA, sends the token (also after a redirect), never puts it in errors', async () => {
  const now = Date.now();
  const ca = await generateCa('t', now, 86_400_000);
  const leaf = await issueMemberCertificate(ca, 'm', ['localhost', '127.0.0.1'], now, 86_400_000);
  const seen: (string | undefined)[] = [];
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    seen.push(req.headers.authorization);
    if (req.url === '/v1/members') {
      res.writeHead(307, { location: '/v1/members/kv-1/promote' }).end();
      return;
    }
    if (req.headers.authorization !== `Bearer ${ADMIN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'authentication required', code: 'UNAUTHORIZED' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'kv-0', role: 'leader', term: 1, leader: null, commitIndex: 1, appliedIndex: 1, lastIndex: 1, snapshotIndex: 0, members: [] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const opts = { requestTimeoutMs: 2000, maxRedirects: 2 };
  try {
    assert.equal((await new MemberClient(url, opts, { caPem: ca.certPem, token: ADMIN }).status()).name, 'kv-0');
    assert.equal(seen.at(-1), `Bearer ${ADMIN}`);
    await new MemberClient(url, opts, { caPem: ca.certPem, token: ADMIN }).addLearner({ name: 'kv-1', peerUrl: 'p', clientUrl: 'c' });
    assert.deepEqual(seen.slice(-2), [`Bearer ${ADMIN}`, `Bearer ${ADMIN}`], 'the redirect hop carries the token too');
    const wrong = 'WRONG-token-1234567890';
    await assert.rejects(new MemberClient(url, opts, { caPem: ca.certPem, token: wrong }).status(), (e: unknown) =>
      e instanceof MemberClientError && e.status === 401 && e.code === 'UNAUTHORIZED' && !e.message.includes(wrong) && !e.stack?.includes(wrong));
    const otherCa = await generateCa('other', now, 86_400_000);
    await assert.rejects(new MemberClient(url, opts, { caPem: otherCa.certPem, token: ADMIN }).status(), (e: unknown) =>
      e instanceof MemberClientError && e.status === 0 && !e.message.includes(ADMIN));
    await assert.rejects(new MemberClient(url, opts, { token: ADMIN }).status(), (e: unknown) => e instanceof MemberClientError && e.status === 0, 'system roots do not trust the cluster CA');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
