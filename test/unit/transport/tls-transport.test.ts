// Mutual TLS: members with certificates from the cluster CA talk; a member with a certificate
// from another CA cannot deliver anything. Certificates are made with the openssl CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageType, type Message } from '../../../daemon/src/raft/types.js';
import { TcpTransport, type TransportTlsOptions } from '../../../daemon/src/transport/tcp-transport.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function makeCa(dir: string, name: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`)], { stdio: 'ignore' });
}
function makeLeaf(dir: string, ca: string, name: string): TransportTlsOptions {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const crt = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name}`, '-keyout', key, '-out', csr], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', join(dir, `${ca}.crt`), '-CAkey', join(dir, `${ca}.key`), '-CAcreateserial', '-days', '1', '-out', crt], { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(crt), ca: readFileSync(join(dir, `${ca}.crt`)) };
}

const m = (from: string, to: string): Message => ({
  type: MessageType.Heartbeat, from, to, term: 2, logTerm: 0, index: 0, entries: [], commit: 1,
  reject: false, rejectHint: 0, rejectHintTerm: 0, context: 7,
});

test('mutual TLS: same-CA members exchange messages; a foreign-CA member is refused', { skip: !hasOpenssl() }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'io-tls-'));
  const ts: TcpTransport[] = [];
  try {
    makeCa(dir, 'ca');
    makeCa(dir, 'evilca');
    const base = { clusterId: 'c1', listenHost: '127.0.0.1', listenPort: 0, pingIntervalMs: 0, reconnectBaseMs: 20 };
    const gotB: Message[] = [];
    const gotA: Message[] = [];
    const a = new TcpTransport({ ...base, id: 'a', tls: makeLeaf(dir, 'ca', 'a') });
    const b = new TcpTransport({ ...base, id: 'b', tls: makeLeaf(dir, 'ca', 'b') });
    const evil = new TcpTransport({ ...base, id: 'e', tls: makeLeaf(dir, 'evilca', 'e') });
    ts.push(a, b, evil);
    await a.start((x) => gotA.push(x));
    await b.start((x) => gotB.push(x));
    await evil.start(() => {});
    a.setPeer('b', `127.0.0.1:${b.port}`);
    b.setPeer('a', `127.0.0.1:${a.port}`);
    evil.setPeer('b', `127.0.0.1:${b.port}`);
    a.send(m('a', 'b'));
    b.send(m('b', 'a'));
    evil.send(m('e', 'b'));
    const end = Date.now() + 5000;
    while ((gotB.length < 1 || gotA.length < 1) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(gotB, [m('a', 'b')]);
    assert.deepEqual(gotA, [m('b', 'a')]);
  } finally {
    await Promise.all(ts.map((t) => t.close()));
    rmSync(dir, { recursive: true, force: true });
  }
});
