// TLS with real member processes: peer mutual TLS (a member whose certificate a foreign CA
// signed can neither join nor vote), peer certificate rotation to a new CA without restarts,
// and the HTTPS client port with required client certificates, tokens, raftctl and a server
// certificate rotation without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, http, sleep, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { Cluster, ClusterMember } from '../lib/cluster-harness.js';
import { call, kvPath, put } from './client.js';
import { CertDir } from '../unit/security/certs.js';
import type { CertFiles } from '../unit/security/certs.js';
import { HandMember, httpsCall, raftctl, waitReadyHttps } from './security-support.js';

const RELOAD_MS = 200;

function peerArgs(leaf: CertFiles, caFile: string): string[] {
  return ['--peer-cert', leaf.cert, '--peer-key', leaf.key, '--peer-ca', caFile, '--credential-reload-interval-ms', String(RELOAD_MS)];
}

async function noLeaderFor(c: Cluster, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const leaders = (await Promise.all(c.running().map((m) => c.status(m)))).filter((s) => s?.role === 'leader');
    assert.equal(leaders.length, 0, `a leader appeared: ${JSON.stringify(leaders.map((s) => s?.name))}`);
    await sleep(200);
  }
}

describe('TLS between members and on the client port', () => {
  const certs = new CertDir();
  let ca: CertFiles;
  let evilCa: CertFiles;
  before(() => {
    ca = certs.ca('cluster-ca');
    evilCa = certs.ca('evil-ca');
  });
  after(() => certs.cleanup());

  test('peer mTLS: a member with a certificate from a foreign CA cannot join or vote', { timeout: 120_000 }, async () => {
    const member = certs.leaf('member', ca);
    const impostor = certs.leaf('impostor', evilCa);
    await withCluster('security-mtls-foreign', { members: 3, extraArgs: peerArgs(member, ca.cert) }, async (c) => {
      const leader = await c.waitForLeader();
      assert.equal((await put(c, 'before', 'v0')).status, 200);
      const [victim, other] = c.running().filter((m) => m !== leader);
      assert.ok(victim && other);
      // The impostor takes a voter's name and address with a fresh data dir and a certificate
      // from another CA (it trusts the cluster CA, so only its own certificate is wrong).
      await c.kill9(victim);
      const matchOf = async (): Promise<{ match: number; last: number }> => {
        const s = (await c.status(leader)) as unknown as { lastIndex: number; progress?: Record<string, { match: number }> } | null;
        return { match: s?.progress?.[victim.name]?.match ?? -1, last: s?.lastIndex ?? -1 };
      };
      const matchBefore = (await matchOf()).match;
      rmSync(victim.dataDir, { recursive: true, force: true });
      victim.extraArgs = ['--peer-cert', impostor.cert, '--peer-key', impostor.key, '--peer-ca', ca.cert];
      c.restart(victim);
      for (let i = 0; i < 20; i++) assert.equal((await put(c, `k${i}`, `v${i}`)).status, 200);
      await sleep(3000);
      const st = await c.status(victim);
      assert.ok(st, 'the impostor answers on its client port');
      assert.equal(st.leader, null, 'the impostor never learns a leader');
      assert.equal(st.appliedIndex, 0, 'the impostor receives no entries');
      assert.equal((await c.request(victim, 'GET', `${kvPath('k0')}?consistency=serializable`)).status, 404);
      const after = await matchOf();
      assert.equal(after.match, matchBefore, 'the leader replicated nothing to the impostor');
      assert.ok(after.last >= matchBefore + 20, `the log moved on without it (${JSON.stringify(after)})`);
      assert.match(readFileSync(leader.logFile, 'utf8'), /peer TLS handshake failed/);
      // Without the honest follower the leader + impostor are no quorum: the impostor's vote does not count.
      await c.kill9(other);
      await waitFor('the leader to step down (check quorum)', 10_000, async () => ((await c.status(leader))?.role === 'leader' ? null : true));
      await noLeaderFor(c, 4000);
      const w = await c.request(leader, 'PUT', kvPath('during'), { body: 'x', timeoutMs: 3000 });
      assert.equal(w.status, 503, 'no write without a quorum of trusted members');
      c.restart(other);
      const back = await c.waitForLeader(20_000, [victim.name]);
      assert.notEqual(back.name, victim.name);
      const r = await call(c, 'GET', kvPath('k19'));
      assert.equal(r.text, 'v19');
    });
  });

  test('peer certificates rotate to a new CA without restarts; the cluster then re-elects and replicates', { timeout: 120_000 }, async () => {
    const ca2 = certs.ca('cluster-ca-2');
    const live = certs.leaf('member-live', ca);
    const bundle = certs.bundle('peer-bundle.pem', ca.cert);
    await withCluster('security-mtls-rotate', { members: 3, extraArgs: peerArgs(live, bundle) }, async (c) => {
      await c.waitForLeader();
      assert.equal((await put(c, 'a', '1')).status, 200);
      const pids = c.members.map((m) => m.process?.pid);
      // Each step is taken by every member before the next is written (as an operator does it,
      // and so that a member whose polls are delayed cannot take two steps as one).
      const rotated = (m: ClusterMember): number => (readFileSync(m.logFile, 'utf8').match(/peer transport now uses the rotated certificates/g) ?? []).length;
      const everyMemberRotated = (times: number): Promise<true> =>
        waitFor(`every member took rotation step ${times}`, 15_000, () => (c.members.every((m) => rotated(m) >= times) ? true : null));
      // The usual CA rotation: trust both, move the certificates, drop the old CA.
      const both = certs.bundle('both-cas.pem', ca.cert, ca2.cert);
      CertDir.copy(both, bundle);
      await everyMemberRotated(1);
      const next = certs.leaf('member-next', ca2);
      // Key and certificate are one step: a member that sees only one of them refuses the pair and waits.
      CertDir.copy(next.key, live.key);
      CertDir.copy(next.cert, live.cert);
      await everyMemberRotated(2);
      CertDir.copy(ca2.cert, bundle);
      await everyMemberRotated(3);
      assert.deepEqual(c.members.map((m) => m.process?.pid), pids, 'no member restarted');
      assert.deepEqual(c.members.map(rotated), [3, 3, 3], 'one rotation per step, none taken twice');
      // Elections and replication now run on connections made with the CA2 certificates only.
      const leader = await c.waitForLeader();
      await c.kill9(leader);
      const next2 = await c.waitForLeader(20_000);
      assert.notEqual(next2.name, leader.name);
      assert.equal((await put(c, 'b', '2')).status, 200);
      const fp = new X509Certificate(readFileSync(live.cert)).fingerprint256;
      assert.equal(fp, new X509Certificate(readFileSync(next.cert)).fingerprint256);
      for (const m of c.running()) {
        await waitFor(`${m.name} has b`, 10_000, async () => ((await c.request(m, 'GET', `${kvPath('b')}?consistency=serializable`)).text === '2' ? true : null));
      }
    });
  });

  test('HTTPS client port: client certificates required, tokens, raftctl, server certificate rotated without a restart', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-https-'));
    const serverLive = certs.leaf('https-live', ca);
    const client = certs.leaf('https-client', ca, 'raftctl-user');
    const foreignClient = certs.leaf('https-foreign', evilCa);
    const tokens = join(dir, 'tokens');
    const admin = 'admin-token-0123456789';
    const reader = 'read-token-0123456789a';
    writeFileSync(tokens, `${admin} admin ops\n${reader} read dashboards\n`);
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const m = new HandMember('h1', [
      '--name', 'h1', '--data-dir', join(dir, 'h1'), '--listen-client', url, '--listen-peer', `127.0.0.1:${await freePort()}`,
      '--cert', serverLive.cert, '--key', serverLive.key, '--client-ca', ca.cert, '--auth-token-file', tokens,
      '--credential-reload-interval-ms', String(RELOAD_MS), '--election-timeout-ms', '600',
    ], join(dir, 'h1.log'));
    const creds = { ca: ca.cert, cert: client.cert, key: client.key };
    try {
      m.start();
      await waitReadyHttps(url, creds);
      const pid = m.pid;
      await assert.rejects(http(`http://127.0.0.1:${port}/healthz`, { timeoutMs: 2000 }), 'plain HTTP is not served on an HTTPS port');
      await assert.rejects(httpsCall(`${url}/healthz`, { ca: ca.cert }), 'no client certificate: refused in the handshake');
      await assert.rejects(httpsCall(`${url}/healthz`, { ca: ca.cert, cert: foreignClient.cert, key: foreignClient.key }), 'foreign client certificate: refused');
      assert.equal((await httpsCall(`${url}/v1/status`, creds)).status, 401, 'a good certificate is no credential by itself (its CN is not in the token file)');
      const tls = ['--endpoints', url, '--cacert', ca.cert, '--cert', client.cert, '--key', client.key];
      const putOk = await raftctl([...tls, 'put', 'greeting', 'hello'], { RAFTKV_TOKEN: admin });
      assert.equal(putOk.code, 0, putOk.stderr);
      const got = await raftctl([...tls, '--token', reader, 'get', 'greeting']);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(got.stdout, 'hello\n');
      const weak = await raftctl([...tls, '--token', reader, 'put', 'greeting', 'nope']);
      assert.equal(weak.code, 1);
      assert.match(weak.stderr, /403 FORBIDDEN/);
      const none = await raftctl([...tls, 'get', 'greeting']);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /401 UNAUTHORIZED/);
      assert.ok(!none.stderr.includes(admin) && !weak.stderr.includes(reader), 'raftctl never prints a token');
      const noClientCert = await raftctl(['--endpoints', url, '--cacert', ca.cert, '--token', admin, 'get', 'greeting']);
      assert.equal(noClientCert.code, 1);
      // raftctl bench speaks TLS with the same flags and sends the token on every request.
      const bench = await raftctl([...tls, '--token', admin, 'bench', '--connections', '2', '--duration', '500ms', '--warmup', '0', '--keys', '10', '--json']);
      assert.equal(bench.code, 0, bench.stderr);
      const br = JSON.parse(bench.stdout) as { ok: number; errors: number };
      assert.ok(br.ok > 0 && br.errors === 0, bench.stdout);
      const benchReader = await raftctl([...tls, '--token', reader, 'bench', '--connections', '1', '--duration', '300ms', '--warmup', '0', '--json']);
      assert.equal(benchReader.code, 1, 'a read-only token cannot PUT: every request fails');
      // Refused at its first write, or (with client sessions) when it opens its sessions.
      assert.match(`${benchReader.stdout}${benchReader.stderr}`, /"403"|HTTP 403/);
      // Rotation: a new server certificate is served to new connections; same process.
      const before = (await httpsCall(`${url}/healthz`, creds)).fingerprint;
      const next = certs.leaf('https-next', ca);
      CertDir.copy(next.key, serverLive.key);
      CertDir.copy(next.cert, serverLive.cert);
      const want = new X509Certificate(readFileSync(next.cert)).fingerprint256;
      assert.notEqual(before, want);
      await waitFor('the rotated certificate served', 10_000, async () => ((await httpsCall(`${url}/healthz`, creds)).fingerprint === want ? true : null));
      assert.equal(m.pid, pid, 'no restart');
      const again = await raftctl([...tls, '--token', reader, 'get', 'greeting']);
      assert.equal(again.stdout, 'hello\n');
      // Token rotation: the reader token is revoked by editing the file.
      writeFileSync(tokens, `${admin} admin ops\n`);
      await waitFor('the revoked token refused', 10_000, async () => ((await httpsCall(`${url}/v1/status`, creds, { headers: { authorization: `Bearer ${reader}` } })).status === 401 ? true : null));
      const log = m.log();
      assert.ok(!log.includes(admin) && !log.includes(reader), 'no token in the member log');
    } finally {
      await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
