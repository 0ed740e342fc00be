// The operator's certificate generation and renewal decision, checked with node:crypto (the
// parser the daemons' TLS stack uses) and a real TLS handshake on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { RaftCluster } from '../../../operator/src/api/types.js';
import { memberCertificateNames } from '../../../operator/src/build/names.js';
import type { PemPair } from '../../../operator/src/security/certificates.js';
import {
  CertificateMaterialError, certificateFacts, chainsTo, checkPair, generateCa, issueMemberCertificate, renewalReason,
} from '../../../operator/src/security/certificates.js';

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;
const NOW = Date.parse('2030-01-01T00:00:00Z');
const cluster: RaftCluster = {
  apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster', metadata: { name: 'kv', namespace: 'prod', uid: 'u1' },
  spec: { replicas: 3, image: 'raftkv:1', storage: { size: '1Gi' }, raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 100 }, tls: { enabled: true } },
};

async function material(nowMs = NOW): Promise<{ ca: PemPair; member: PemPair }> {
  const ca = await generateCa('kv.prod raftkv CA', nowMs, 10 * YEAR_MS);
  const member = await issueMemberCertificate(ca, 'kv.prod raftkv member', memberCertificateNames(cluster), nowMs, YEAR_MS);
  return { ca, member };
}

test('CA: self-signed, a CA, ECDSA P-256, key matches', async () => {
  const { ca } = await material();
  const cert = new X509Certificate(ca.certPem);
  assert.equal(cert.ca, true);
  assert.equal(cert.checkIssued(cert), true, 'self-issued');
  assert.equal(cert.verify(cert.publicKey), true, 'self-signed');
  assert.equal(cert.publicKey.asymmetricKeyType, 'ec');
  assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.equal(checkPair(ca, 'ca').serialNumber, cert.serialNumber);
  assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
});

test('member certificate: every name members and clients use, chains to the CA (and not to another), server+client use', async () => {
  const { ca, member } = await material();
  const caCert = new X509Certificate(ca.certPem);
  const leaf = new X509Certificate(member.certPem);
  const facts = certificateFacts(leaf);
  for (const n of ['*.kv-peer.prod.svc', '*.kv-peer.prod.svc.cluster.local', 'kv', 'kv.prod', 'kv.prod.svc', 'kv.prod.svc.cluster.local', 'localhost', '127.0.0.1']) {
    assert.ok(facts.names.includes(n), `SAN ${n} missing: ${facts.names.join(', ')}`);
  }
  assert.match(leaf.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.equal(leaf.ca, false);
  assert.equal(leaf.checkIssued(caCert), true);
  assert.equal(leaf.verify(caCert.publicKey), true);
  assert.equal(chainsTo(leaf, caCert), true);
  assert.deepEqual([...(leaf.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(facts.notAfterMs - NOW, YEAR_MS);
  assert.ok(facts.notBeforeMs < NOW && facts.notBeforeMs > NOW - 3_600_000, 'notBefore a little in the past (clock skew)');
  const other = await generateCa('other CA', NOW, YEAR_MS);
  const otherCert = new X509Certificate(other.certPem);
  assert.equal(leaf.verify(otherCert.publicKey), false);
  assert.equal(chainsTo(leaf, otherCert), false, 'known-bad: another CA');
  checkPair(member, 'member');
});

test('a real TLS handshake: a client trusting only the CA accepts the member for its per-pod DNS name and refuses an uncovered one', async () => {
  // Validity anchored at the real clock: the handshake checks dates.
  const { ca, member } = await material(Date.now());
  const server = tls.createServer({ cert: member.certPem, key: member.keyPem }, (s) => s.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const connect = (servername: string | undefined, trust: string | undefined): Promise<string> => new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...(servername === undefined ? {} : { servername, checkServerIdentity: (_h: string, cert: tls.PeerCertificate) => tls.checkServerIdentity(servername, cert) }), ...(trust === undefined ? {} : { ca: trust }) });
    s.once('secureConnect', () => { s.destroy(); resolve('ok'); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  try {
    assert.equal(await connect('kv-2.kv-peer.prod.svc', ca.certPem), 'ok');
    assert.equal(await connect('kv.prod.svc.cluster.local', ca.certPem), 'ok');
    assert.equal(await connect(undefined, ca.certPem), 'ok', '127.0.0.1 is in the SAN');
    assert.equal(await connect('kv-2.other-peer.prod.svc', ca.certPem), 'ERR_TLS_CERT_ALTNAME_INVALID');
    assert.notEqual(await connect('kv-2.kv-peer.prod.svc', undefined), 'ok', 'not trusted without the cluster CA');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('renewal decision: a third of the lifetime left is the line; another CA, missing names and future certificates are re-issued', async () => {
  const { ca, member } = await material();
  const caCert = new X509Certificate(ca.certPem);
  const leaf = new X509Certificate(member.certPem);
  const names = memberCertificateNames(cluster);
  const f = certificateFacts(leaf);
  const lifetime = f.notAfterMs - f.notBeforeMs;
  const renewAt = f.notAfterMs - lifetime / 3;
  assert.equal(renewalReason(leaf, caCert, names, NOW), undefined);
  assert.equal(renewalReason(leaf, caCert, names, renewAt - 60_000), undefined, 'just before the last third');
  assert.equal(renewalReason(leaf, caCert, names, renewAt + 60_000), 'expiring', 'inside the last third (~4 months of a year)');
  assert.ok(f.notAfterMs - renewAt > 120 * DAY_MS && f.notAfterMs - renewAt < 123 * DAY_MS);
  assert.equal(renewalReason(leaf, caCert, names, f.notAfterMs + 1), 'expiring', 'expired');
  assert.equal(renewalReason(leaf, caCert, names, f.notBeforeMs - 1), 'not-yet-valid');
  assert.equal(renewalReason(leaf, caCert, [...names, 'kv.new-name.svc'], NOW), 'names-changed');
  const other = new X509Certificate((await generateCa('other', NOW, YEAR_MS)).certPem);
  assert.equal(renewalReason(leaf, other, names, NOW), 'other-ca');
});

test('checkPair refuses a key of another certificate and garbage, without echoing key material', async () => {
  const a = await material();
  const b = await material();
  assert.throws(() => checkPair({ certPem: a.member.certPem, keyPem: b.member.keyPem }, 'Secret x'), (e: unknown) =>
    e instanceof CertificateMaterialError && /does not belong/.test(e.message) && !e.message.includes('PRIVATE KEY'));
  const garbageKey = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n';
  assert.throws(() => checkPair({ certPem: a.member.certPem, keyPem: garbageKey }, 'Secret x'), (e: unknown) =>
    e instanceof CertificateMaterialError && !e.message.includes('c2VjcmV0'));
  assert.throws(() => checkPair({ certPem: 'not a cert', keyPem: a.member.keyPem }, 'Secret x'), CertificateMaterialError);
  await assert.rejects(issueMemberCertificate({ certPem: a.ca.certPem, keyPem: 'nope' }, 'm', ['localhost'], NOW, YEAR_MS), CertificateMaterialError);
});
