// TLS on both ports, in process: material validation, HTTPS with and without required client
// certificates, certificate and CA rotation without a restart (the HTTPS secure context and
// the peer transport), and client-certificate identities for auth.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { connect as tcpConnect } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import { createApiServer } from '../../../daemon/src/api/server.js';
import type { ApiServer } from '../../../daemon/src/api/server.js';
import { createMetrics } from '../../../daemon/src/observability/metrics.js';
import { ReloadableTls, loadMaterial } from '../../../daemon/src/security/tls-material.js';
import type { TlsFiles } from '../../../daemon/src/security/tls-material.js';
import { followPeerTlsRotation, transportTlsOf } from '../../../daemon/src/security/peer-transport.js';
import type { PeerTlsRotation } from '../../../daemon/src/security/peer-transport.js';
import { TcpTransport } from '../../../daemon/src/transport/tcp-transport.js';
import { TokenTable } from '../../../daemon/src/security/tokens.js';
import { MessageType, type Message } from '../../../daemon/src/raft/types.js';
import { FakeMember } from '../api/fake-member.js';
import { CertDir } from './certs.js';
import type { CertFiles } from './certs.js';

const quiet = { info: () => {}, warn: () => {} };

interface Got {
  readonly status: number;
  readonly fingerprint: string;
  readonly body: string;
}

/** One HTTPS GET on a fresh connection (no agent reuse, so each call sees the current certificate). */
function get(url: string, ca: string, client?: CertFiles, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      agent: false, ca: readFileSync(ca), headers,
      ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
    }, (res) => {
      const cert = (res.socket as unknown as { getPeerCertificate(): PeerCertificate }).getPeerCertificate();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, fingerprint: cert.fingerprint256, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function fingerprintOf(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

async function httpsApi(tls: ReloadableTls, requireClientCert: boolean, tokens?: TokenTable): Promise<ApiServer> {
  const api = createApiServer(new FakeMember(), {
    metrics: createMetrics('n1'), logger: pino({ level: 'silent' }), maxRequestBytes: 4096, maxWatchers: 2, enableFaultInjection: false,
    tls: { get current() { return tls.current; }, onChange: (l) => tls.onChange(l), requireClientCert },
    ...(tokens ? { access: { tokens: { current: tokens }, openPaths: new Set(['/healthz']) } } : {}),
  });
  await api.listen('https://127.0.0.1:0');
  return api;
}

describe('TLS (needs the openssl CLI)', () => {
  const certs = new CertDir();
  let ca1: CertFiles;
  let ca2: CertFiles;
  let evil: CertFiles;
  before(() => {
    ca1 = certs.ca('ca1');
    ca2 = certs.ca('ca2');
    evil = certs.ca('evil');
  });
  after(() => certs.cleanup());

  test('material: a key that does not belong to the certificate is refused, naming the files', () => {
    const a = certs.leaf('a', ca1);
    const b = certs.leaf('b', ca1);
    assert.doesNotThrow(() => loadMaterial({ certFile: a.cert, keyFile: a.key, caFile: ca1.cert }));
    assert.throws(() => loadMaterial({ certFile: a.cert, keyFile: b.key }), new RegExp(`${a.cert.replace(/[.]/g, '\\.')}`));
    assert.throws(() => loadMaterial({ certFile: a.cert, keyFile: '/nonexistent/key.pem' }), /cannot read \/nonexistent\/key\.pem/);
  });

  test('HTTPS: served with the configured certificate; rotated without a restart; a half-written rotation is not taken', async () => {
    const s1 = certs.leaf('srv1', ca1);
    const s2 = certs.leaf('srv2', ca1);
    const live = certs.leaf('srv-live', ca1);
    const files: TlsFiles = { certFile: live.cert, keyFile: live.key };
    const tls = new ReloadableTls('client TLS', files, quiet);
    const api = await httpsApi(tls, false);
    try {
      const first = await get(`${api.url()}/healthz`, ca1.cert);
      assert.equal(first.status, 200);
      assert.equal(first.fingerprint, fingerprintOf(live.cert));
      await assert.rejects(get(`${api.url()}/healthz`, evil.cert), /self[- ]signed|unable to verify|certificate/i, 'a client trusting another CA refuses the server');
      // Half a rotation: the new certificate without its key. Not taken; the old pair keeps serving.
      CertDir.copy(s1.cert, live.cert);
      assert.equal(tls.poll(), false);
      assert.equal((await get(`${api.url()}/healthz`, ca1.cert)).fingerprint, first.fingerprint);
      CertDir.copy(s1.key, live.key);
      assert.equal(tls.poll(), true);
      assert.equal((await get(`${api.url()}/healthz`, ca1.cert)).fingerprint, fingerprintOf(s1.cert));
      CertDir.copy(s2.cert, live.cert);
      CertDir.copy(s2.key, live.key);
      assert.equal(tls.poll(), true);
      assert.equal((await get(`${api.url()}/healthz`, ca1.cert)).fingerprint, fingerprintOf(s2.cert));
    } finally {
      tls.stop();
      await api.close();
    }
  });

  test('--client-ca: no or foreign client certificate refused in the handshake; CA rotation without a restart', async () => {
    const srv = certs.leaf('srv-mtls', ca1);
    const clientCa = certs.bundle('client-ca.pem', ca1.cert);
    const good = certs.leaf('client-good', ca1);
    const foreign = certs.leaf('client-foreign', evil);
    const fromCa2 = certs.leaf('client-ca2', ca2);
    const tls = new ReloadableTls('client TLS', { certFile: srv.cert, keyFile: srv.key, caFile: clientCa }, quiet);
    const api = await httpsApi(tls, true);
    try {
      assert.equal((await get(`${api.url()}/healthz`, ca1.cert, good)).status, 200);
      await assert.rejects(get(`${api.url()}/healthz`, ca1.cert), 'no client certificate');
      await assert.rejects(get(`${api.url()}/healthz`, ca1.cert, foreign), 'a certificate from another CA');
      await assert.rejects(get(`${api.url()}/healthz`, ca1.cert, fromCa2), 'CA2 not trusted yet');
      CertDir.copy(ca2.cert, clientCa);
      assert.equal(tls.poll(), true);
      assert.equal((await get(`${api.url()}/healthz`, ca1.cert, fromCa2)).status, 200, 'CA2 trusted after the rotation');
      await assert.rejects(get(`${api.url()}/healthz`, ca1.cert, good), 'CA1 no longer trusted');
    } finally {
      tls.stop();
      await api.close();
    }
  });

  test('a verified client certificate whose CN the token file lists authenticates with its role; others get 401', async () => {
    const srv = certs.leaf('srv-cn', ca1);
    const ops = certs.leaf('client-ops', ca1, 'ops-laptop');
    const other = certs.leaf('client-other', ca1, 'someone-else');
    const tls = new ReloadableTls('client TLS', { certFile: srv.cert, keyFile: srv.key, caFile: ca1.cert }, quiet);
    const api = await httpsApi(tls, true, TokenTable.parse('cn=ops-laptop admin ops\nabcdefghijklmnopq read r\n'));
    try {
      assert.equal((await get(`${api.url()}/v1/status`, ca1.cert, ops)).status, 200);
      assert.equal((await get(`${api.url()}/v1/status`, ca1.cert, other)).status, 401);
      assert.equal((await get(`${api.url()}/v1/status`, ca1.cert, other, { authorization: 'Bearer abcdefghijklmnopq' })).status, 200);
      assert.equal((await get(`${api.url()}/v1/status`, ca1.cert, ops, { authorization: 'Bearer wrong-token-wrong-token' })).status, 401, 'a wrong token is refused even with a good certificate');
    } finally {
      tls.stop();
      await api.close();
    }
  });

  test('peer transport: mutual TLS; rotation to certificates of a new CA in place (same listener, peers kept, old connections cut); an unrotated member is refused', async () => {
    const heartbeat = (from: string, to: string): Message => ({
      type: MessageType.Heartbeat, from, to, term: 2, logTerm: 0, index: 0, entries: [], commit: 1, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0,
    });
    const bundle = { a: certs.bundle('a-ca.pem', ca1.cert), b: certs.bundle('b-ca.pem', ca1.cert), c: certs.bundle('c-ca.pem', ca1.cert) };
    const live = { a: certs.leaf('peer-a', ca1), b: certs.leaf('peer-b', ca1), c: certs.leaf('peer-c', ca1) };
    const tlsOf = (n: 'a' | 'b' | 'c'): ReloadableTls => new ReloadableTls(`peer ${n}`, { certFile: live[n].cert, keyFile: live[n].key, caFile: bundle[n] }, quiet);
    const tls = { a: tlsOf('a'), b: tlsOf('b'), c: tlsOf('c') };
    const base = { clusterId: 'c1', listenHost: '127.0.0.1', listenPort: 0, pingIntervalMs: 0, reconnectBaseMs: 20, reconnectMaxMs: 200 };
    const got: Record<string, Message[]> = { a: [], b: [], c: [] };
    const transportOf = (n: 'a' | 'b' | 'c'): TcpTransport => new TcpTransport({ ...base, id: n, tls: transportTlsOf(tls[n].current) });
    const t = { a: transportOf('a'), b: transportOf('b'), c: transportOf('c') };
    const rotation: Record<'a' | 'b', PeerTlsRotation> = { a: followPeerTlsRotation(t.a, tls.a, quiet), b: followPeerTlsRotation(t.b, tls.b, quiet) };
    const waitGot = async (n: string, count: number): Promise<boolean> => {
      const until = Date.now() + 5000;
      while (Date.now() < until && (got[n]?.length ?? 0) < count) await new Promise((r) => setTimeout(r, 20));
      return (got[n]?.length ?? 0) >= count;
    };
    try {
      for (const n of ['a', 'b', 'c'] as const) await t[n].start((m) => got[n]?.push(m));
      t.a.setPeer('b', `127.0.0.1:${t.b.port}`);
      t.b.setPeer('a', `127.0.0.1:${t.a.port}`);
      t.c.setPeer('b', `127.0.0.1:${t.b.port}`);
      t.a.send(heartbeat('a', 'b'));
      t.c.send(heartbeat('c', 'b'));
      assert.ok(await waitGot('b', 2), 'all on CA1: a and c reach b');
      // a and b move to CA2 (bundle first, then their own certificates); c stays on CA1.
      const portB = t.b.port;
      for (const n of ['a', 'b'] as const) {
        CertDir.copy(ca2.cert, bundle[n]);
        const fresh = certs.leaf(`peer-${n}-2`, ca2);
        CertDir.copy(fresh.cert, live[n].cert);
        CertDir.copy(fresh.key, live[n].key);
        assert.equal(tls[n].poll(), true);
        assert.equal(rotation[n].rotations, 1);
      }
      assert.equal(t.b.port, portB, 'the listener kept its port');
      const before = got['b']?.length ?? 0;
      t.a.send(heartbeat('a', 'b'));
      assert.ok(await waitGot('b', before + 1), 'a reaches b with the rotated certificates (peers kept across the restart)');
      for (let i = 0; i < 5; i++) t.c.send(heartbeat('c', 'b'));
      await new Promise((r) => setTimeout(r, 500));
      // c's connection to b was made under CA1 before the rotation: it was cut, and c cannot make a new one.
      assert.equal(got['b']?.filter((m) => m.from === 'c').length, 1, 'c (still CA1) delivers nothing after b moved to CA2');
    } finally {
      for (const n of ['a', 'b', 'c'] as const) {
        tls[n].stop();
        await t[n].close();
      }
    }
  });

  test('peer transport: close() and a rotation do not wait for a connection stuck in its TLS handshake', { timeout: 10_000 }, async () => {
    const leaf = certs.leaf('peer-stuck', ca1);
    const files = { certFile: leaf.cert, keyFile: leaf.key, caFile: ca1.cert };
    const t = new TcpTransport({ id: 'a', clusterId: 'c1', listenHost: '127.0.0.1', listenPort: 0, pingIntervalMs: 0, tls: transportTlsOf(loadMaterial(files)) });
    await t.start(() => {});
    // A TCP connection that never sends a ClientHello: node's TLS server would hold it for its
    // 120 s handshake timeout, and server.close() waits for every open connection.
    const stuck = tcpConnect(t.port, '127.0.0.1');
    const stuckClosed = new Promise<void>((resolve) => stuck.once('close', () => resolve()));
    stuck.on('error', () => {});
    await new Promise<void>((resolve) => stuck.once('connect', () => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    t.setTls(transportTlsOf(loadMaterial(files)));
    await stuckClosed;
    const again = tcpConnect(t.port, '127.0.0.1');
    again.on('error', () => {});
    await new Promise<void>((resolve) => again.once('connect', () => resolve()));
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await t.close();
    assert.ok(Date.now() - started < 2000, `close() took ${Date.now() - started} ms`);
    again.destroy();
  });

  test('peer transport: setTls on a transport without TLS is refused', () => {
    const t = new TcpTransport({ id: 'a', clusterId: 'c1', listenHost: '127.0.0.1', listenPort: 0 });
    const leaf = certs.leaf('peer-plain', ca1);
    assert.throws(() => t.setTls(transportTlsOf(loadMaterial({ certFile: leaf.cert, keyFile: leaf.key }))), /without TLS/);
  });
});
