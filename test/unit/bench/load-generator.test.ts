import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parseResponse } from '../../../daemon/src/cli/bench/http-connection.js';
import { parseBenchArgs, parseDurationMs } from '../../../daemon/src/cli/bench/index.js';
import { DEFAULT_BENCH_OPTIONS, RequestBook, parseEndpoint, runLoad, writeDecimalLine } from '../../../daemon/src/cli/bench/load-generator.js';
import { CertDir } from '../security/certs.js';

test('parseResponse frames content-length, chunked and body-less responses', () => {
  const cl = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 404');
  const r = parseResponse(cl);
  assert.ok(r !== 'incomplete' && !(r instanceof Error));
  assert.equal(r.status, 200);
  assert.equal(r.bodyBytes, 3);
  assert.equal(r.consumed, cl.indexOf('HTTP/1.1 404'));
  assert.equal(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab')), 'incomplete');
  const ch = parseResponse(Buffer.from('HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n'));
  assert.ok(ch !== 'incomplete' && !(ch instanceof Error));
  assert.equal(ch.bodyBytes, 5);
  assert.ok(parseResponse(Buffer.from('garbage that is not http\r\n\r\n')) instanceof Error);
  assert.ok(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n')) instanceof Error);
});

test('writeDecimalLine writes the number and CRLF in place, as String(n) would', () => {
  const buf = Buffer.alloc(32, 0x2e);
  for (const n of [0, 1, 9, 10, 99, 100, 12_345, 999_999_999, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
    buf.fill(0x2e);
    const written = writeDecimalLine(buf, 3, n);
    assert.equal(buf.toString('latin1', 3, 3 + written), `${n}\r\n`);
    assert.equal(buf.toString('latin1', 0, 3), '...', 'nothing before the offset');
    assert.equal(buf[3 + written], 0x2e, 'nothing after the line');
  }
});

test('bench flags: durations, bounds and usage errors', () => {
  assert.equal(parseDurationMs('10s'), 10_000);
  assert.equal(parseDurationMs('250ms'), 250);
  assert.equal(parseDurationMs('2m'), 120_000);
  assert.throws(() => parseDurationMs('ten'));
  const p = parseBenchArgs(['--target', 'etcd', '--op', 'mix', '--connections', '16', '--read-ratio', '0.5', '--json']);
  assert.equal(p.options.target, 'etcd');
  assert.equal(p.options.connections, 16);
  assert.equal(p.json, true);
  assert.throws(() => parseBenchArgs(['--connections', '0']));
  assert.throws(() => parseBenchArgs(['--op', 'scan']));
  assert.throws(() => parseBenchArgs(['--bogus']));
  assert.equal(parseBenchArgs([]).options.readConsistency, 'linearizable');
  assert.equal(parseBenchArgs(['--consistency', 'serializable']).options.readConsistency, 'serializable');
  assert.throws(() => parseBenchArgs(['--consistency', 'stale']));
});

test('runLoad counts successes and failures against a real HTTP server', async () => {
  let served = 0;
  const server = http.createServer((req, res) => {
    served++;
    req.resume();
    // Every third request fails, so both counters must move.
    if (served % 3 === 0) {
      res.writeHead(503, { 'Content-Length': '2' }).end('no');
    } else {
      res.writeHead(200, { 'Content-Length': '2' }).end('ok');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await runLoad({ ...DEFAULT_BENCH_OPTIONS, endpoint: `127.0.0.1:${port}`, connections: 4, durationMs: 300, warmupMs: 0, keyCount: 10, sessions: false });
    assert.ok(r.ok > 0, 'some requests succeed');
    assert.ok(r.errors > 0, 'failures are counted');
    assert.equal(r.errorStatuses['503'], r.errors);
    assert.ok(r.p50Ms <= r.p99Ms && r.p99Ms <= r.maxMs);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('raftkv puts go through one session per connection, numbered 1, 2, 3 ... and closed at the end', async () => {
  const seqs = new Map<string, number[]>();
  let opened = 0;
  const closed: string[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.method === 'POST' && req.url === '/v1/sessions') {
      const body = JSON.stringify({ id: String(100 + ++opened), ttlMs: 600_000 });
      res.writeHead(201, { 'Content-Length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (req.method === 'DELETE' && req.url?.startsWith('/v1/sessions/') === true) {
      closed.push(req.url.slice('/v1/sessions/'.length));
      res.writeHead(200, { 'Content-Length': '2' }).end('{}');
      return;
    }
    const id = String(req.headers['session-id']);
    const list = seqs.get(id) ?? [];
    list.push(Number(req.headers['session-seq']));
    seqs.set(id, list);
    res.writeHead(200, { 'Content-Length': '2' }).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  try {
    const r = await runLoad({ ...DEFAULT_BENCH_OPTIONS, endpoint: `127.0.0.1:${port}`, connections: 3, durationMs: 200, warmupMs: 0, keyCount: 10 });
    assert.ok(r.ok > 0 && r.errors === 0);
    assert.equal(opened, 3);
    assert.deepEqual([...seqs.keys()].sort(), ['101', '102', '103']);
    for (const list of seqs.values()) assert.deepEqual(list, list.map((_, i) => i + 1), 'each session numbers its puts 1, 2, 3 ...');
    assert.deepEqual(closed.sort(), ['101', '102', '103']);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('bench over https:// with a bearer token: TLS verified against --cacert, the token on every request', async () => {
  assert.deepEqual(parseEndpoint('https://127.0.0.1'), { host: '127.0.0.1', port: 443, secure: true });
  assert.deepEqual(parseEndpoint('http://h:80/x'), { host: 'h', port: 80, secure: false });
  assert.throws(() => new RequestBook('raftkv', 'h:1', 'k/', 1, 4, 'bad token\r\nX: y'), /visible ASCII/);
  const certs = new CertDir();
  const ca = certs.ca('bench-ca');
  const leaf = certs.leaf('bench-server', ca);
  const other = certs.ca('other-ca');
  let authorized = 0;
  let refused = 0;
  const server = https.createServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (req, res) => {
    req.resume();
    if (req.headers.authorization === 'Bearer s3cr3t-token-0123456789') {
      authorized++;
      res.writeHead(200, { 'Content-Length': '2' }).end('ok');
    } else {
      refused++;
      res.writeHead(401, { 'Content-Length': '2' }).end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const base = { ...DEFAULT_BENCH_OPTIONS, endpoint: `https://127.0.0.1:${port}`, connections: 2, durationMs: 200, warmupMs: 0, keyCount: 5, sessions: false };
  try {
    const ok = await runLoad({ ...base, token: 's3cr3t-token-0123456789', tls: { ca: readFileSync(ca.cert) } });
    assert.ok(ok.ok > 0 && ok.errors === 0, `all authorized: ${JSON.stringify(ok.errorStatuses)}`);
    const noToken = await runLoad({ ...base, tls: { ca: readFileSync(ca.cert) } });
    assert.equal(noToken.ok, 0);
    assert.ok((noToken.errorStatuses['401'] ?? 0) > 0);
    // A server certificate from another CA fails the handshake: no request is sent at all.
    await assert.rejects(runLoad({ ...base, token: 's3cr3t-token-0123456789', tls: { ca: readFileSync(other.cert) } }), /certificate/);
    assert.ok(authorized > 0 && refused > 0);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    certs.cleanup();
  }
});

test('--endpoints spreads connections over members; a follower\'s 307 is followed to the leader once, and counted as one operation', async () => {
  assert.deepEqual(parseBenchArgs(['--endpoints', 'a:1, b:2,c:3']).options.endpoints, ['a:1', 'b:2', 'c:3']);
  assert.equal(parseBenchArgs(['--endpoints', 'a:1,b:2']).options.endpoint, 'a:1');
  assert.throws(() => parseBenchArgs(['--endpoints', ',']), /--endpoints/);
  const r3xx = parseResponse(Buffer.from('HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:9/v1/kv/k\r\nContent-Length: 0\r\n\r\n'));
  assert.ok(r3xx !== 'incomplete' && !(r3xx instanceof Error));
  assert.equal(r3xx.location, 'http://127.0.0.1:9/v1/kv/k');
  const atLeader = { puts: 0, gets: 0 };
  const atFollower = { puts: 0, gets: 0 };
  const leader = http.createServer((req, res) => {
    req.resume();
    if (req.method === 'PUT') atLeader.puts++;
    else atLeader.gets++;
    res.writeHead(200, { 'Content-Length': '2' }).end('ok');
  });
  await new Promise<void>((r) => leader.listen(0, '127.0.0.1', r));
  const leaderPort = (leader.address() as AddressInfo).port;
  // The follower serves reads itself and redirects writes, as a raftkv follower does.
  const follower = http.createServer((req, res) => {
    req.resume();
    if (req.method !== 'PUT') {
      atFollower.gets++;
      res.writeHead(200, { 'Content-Length': '2' }).end('ok');
      return;
    }
    atFollower.puts++;
    res.writeHead(307, { Location: `http://127.0.0.1:${leaderPort}${req.url ?? '/'}`, 'Content-Length': '0' }).end();
  });
  await new Promise<void>((r) => follower.listen(0, '127.0.0.1', r));
  const followerPort = (follower.address() as AddressInfo).port;
  try {
    const endpoints = [`127.0.0.1:${leaderPort}`, `127.0.0.1:${followerPort}`];
    const w = await runLoad({ ...DEFAULT_BENCH_OPTIONS, endpoint: endpoints[0] ?? '', endpoints, op: 'put', connections: 4, durationMs: 300, warmupMs: 0, keyCount: 10, sessions: false });
    assert.equal(w.errors, 0);
    assert.ok(atFollower.puts > 0, 'half the connections went to the follower');
    assert.equal(w.ok, atLeader.puts, 'every put was applied at the leader exactly once, directly or after the redirect');
    const r = await runLoad({ ...DEFAULT_BENCH_OPTIONS, endpoint: endpoints[0] ?? '', endpoints, op: 'get', connections: 4, durationMs: 300, warmupMs: 0, keyCount: 10 });
    assert.equal(r.ok, atLeader.gets + atFollower.gets);
    assert.ok(atFollower.gets > 0 && atLeader.gets > 0, 'reads served at both members');
  } finally {
    for (const s of [leader, follower]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }
});
