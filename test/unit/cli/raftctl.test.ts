// raftctl: argument parsing (usage errors exit 2), the status table, and a few commands end
// to end against the real API server over a fake member (redirects, failover, errors).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, get as httpGet } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_ENDPOINT, UsageError, parseArgs } from '../../../daemon/src/cli/args.js';
import { renderStatusTable, statusJson } from '../../../daemon/src/cli/status-table.js';
import type { MemberRow } from '../../../daemon/src/cli/status-table.js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMAND_NAMES } from '../../../daemon/src/cli/help.js';
import { TokenTable } from '../../../daemon/src/security/tokens.js';
import { RAFTKV_VERSION } from '../../../daemon/src/version.js';
import { runRaftctlCaptured } from './capture.js';
import type { CapturedRun } from './capture.js';
import { startApi } from '../api/harness.js';
import type { TestApi } from '../api/harness.js';

describe('parseArgs', () => {
  test('commands and their arguments', () => {
    const env = {};
    const plainWrite = { ifMatch: null, fencingToken: null, idempotencyKey: null, retry: false };
    assert.deepEqual(parseArgs(['put', 'k', 'v'], env).command, { kind: 'put', key: 'k', value: 'v', ...plainWrite });
    assert.deepEqual(parseArgs(['put', 'k', 'v', '--if-match', '7', '--fencing-token=job:3', '--idempotency-key', 'req-1', '--retry'], env).command,
      { kind: 'put', key: 'k', value: 'v', ifMatch: 7, fencingToken: 'job:3', idempotencyKey: 'req-1', retry: true });
    assert.deepEqual(parseArgs(['del', 'k', '--if-match', '0'], env).command, { kind: 'del', key: 'k', ...plainWrite, ifMatch: 0 });
    assert.deepEqual(parseArgs(['watch', '--all'], env).command, { kind: 'watch', prefix: '', fromRevision: null });
    assert.deepEqual(parseArgs(['txn', '-', '--retry'], env).command, { kind: 'txn', file: '-', idempotencyKey: null, retry: true });
    assert.deepEqual(parseArgs(['lock', 'release', 'job', '4', '--idempotency-key', 'r'], env).command, { kind: 'lock-release', name: 'job', token: 4, idempotencyKey: 'r', retry: false });
    assert.deepEqual(parseArgs(['completion', 'zsh'], env).command, { kind: 'completion', shell: 'zsh' });
    assert.deepEqual(parseArgs(['version'], env).command, { kind: 'version' });
    assert.deepEqual(parseArgs(['--version'], env).command, { kind: 'version' });
    assert.deepEqual(parseArgs(['get', 'k', '--serializable'], env).command, { kind: 'get', key: 'k', serializable: true });
    assert.deepEqual(parseArgs(['list', 'a/', '--limit', '5'], env).command, { kind: 'list', prefix: 'a/', limit: 5 });
    assert.deepEqual(parseArgs(['watch', 'a/', '--from-revision=7'], env).command, { kind: 'watch', prefix: 'a/', fromRevision: 7 });
    assert.deepEqual(parseArgs(['members', 'add', 'n4', '10.0.0.4:2380', 'http://10.0.0.4:2379'], env).command, { kind: 'members-add', name: 'n4', peerUrl: '10.0.0.4:2380', clientUrl: 'http://10.0.0.4:2379' });
    assert.deepEqual(parseArgs(['leader', 'transfer'], env).command, { kind: 'leader-transfer', to: null });
    assert.deepEqual(parseArgs(['lock', 'acquire', 'job', 'me', '5000'], env).command, { kind: 'lock-acquire', name: 'job', owner: 'me', ttlMs: 5000, idempotencyKey: null, retry: false });
    assert.deepEqual(parseArgs(['bench', '--op', 'put'], env).command, { kind: 'bench', argv: ['--op', 'put'] });
  });

  test('endpoints: flag, then RAFTKV_ENDPOINTS, then the default', () => {
    assert.deepEqual(parseArgs(['--endpoints', 'http://a:1,b:2', 'status'], {}).options.endpoints, ['http://a:1', 'http://b:2']);
    assert.deepEqual(parseArgs(['status'], { RAFTKV_ENDPOINTS: 'http://c:3' }).options.endpoints, ['http://c:3']);
    const d = parseArgs(['status'], {}).options;
    assert.deepEqual(d.endpoints, [DEFAULT_ENDPOINT]);
    assert.equal(d.endpointsGiven, false);
    assert.equal(parseArgs(['--timeout-ms=250', 'status'], {}).options.timeoutMs, 250);
    assert.equal(parseArgs(['--timeout', '1.5s', 'status'], {}).options.timeoutMs, 1500);
    assert.equal(parseArgs(['--timeout=2m', 'status'], {}).options.timeoutMs, 120_000);
  });

  test('-w anywhere, --help on every command', () => {
    assert.equal(parseArgs(['status', '-w', 'json'], {}).options.output, 'json');
    assert.equal(parseArgs(['-w', 'table', 'list', 'a/'], {}).options.output, 'table');
    assert.equal(parseArgs(['--write-out=json', 'get', 'k'], {}).options.output, 'json');
    assert.equal(parseArgs(['get', 'k'], {}).options.output, 'simple');
    // Every global flag may also follow the command, as etcdctl's.
    const after = parseArgs(['put', 'k', 'v', '--endpoints', 'http://a:1', '--timeout=3s', '--token', 'tok', '--if-match', '2'], {});
    assert.deepEqual(after.options.endpoints, ['http://a:1']);
    assert.equal(after.options.timeoutMs, 3000);
    assert.equal(after.options.token, 'tok');
    assert.deepEqual(after.command, { kind: 'put', key: 'k', value: 'v', ifMatch: 2, fencingToken: null, idempotencyKey: null, retry: false });
    assert.deepEqual(parseArgs(['put', 'k', '--', '-w'], {}).command, { kind: 'put', key: 'k', value: '-w', ifMatch: null, fencingToken: null, idempotencyKey: null, retry: false });
    for (const c of ['put', 'get', 'del', 'list', 'watch', 'status', 'members', 'leader', 'snapshot', 'lock', 'txn', 'completion', 'version']) {
      assert.deepEqual(parseArgs([c, '--help'], {}).command, { kind: 'help', topic: c }, c);
      assert.deepEqual(parseArgs(['help', c], {}).command, { kind: 'help', topic: c }, c);
    }
    assert.deepEqual(parseArgs(['bench', '--help'], {}).command, { kind: 'bench', argv: ['--help'] });
    assert.deepEqual(parseArgs(['--help'], {}).command, { kind: 'help', topic: null });
  });

  const bad: string[][] = [
    [],
    ['frobnicate'],
    ['put', 'k'],
    ['put', 'k', 'v', 'extra'],
    ['get'],
    ['get', 'k', '--linear'],
    ['list', 'p', '--limit', 'many'],
    ['watch', 'p', '--from-revision'],
    ['members', 'explode'],
    ['members', 'promote'],
    ['leader', 'elect'],
    ['lock', 'acquire', 'job', 'me', 'soon'],
    ['lock', 'release', 'job'],
    ['txn'],
    ['--endpoints', 'ftp://x', 'status'],
    ['--timeout-ms', '0', 'status'],
    ['--verbose', 'status'],
    ['status', 'now'],
    ['watch'],
    ['watch', ''],
    ['watch', 'p', '--all'],
    ['put', 'k', 'v', '--if-match', 'x'],
    ['put', 'k', 'v', '--if-match', '-1'],
    ['put', 'k', 'v', '--fencing-token', 'nocolon'],
    ['put', 'k', 'v', '--fencing-token', 'job:x'],
    ['put', 'k', 'v', '--idempotency-key', ''],
    ['put', 'k', 'v', '--idempotency-key', 'has space'],
    ['put', 'k', 'v', '--retry=yes'],
    ['get', 'k', '--if-match', '3'],
    ['-w', 'yaml', 'status'],
    ['status', '-w'],
    ['completion', 'fish'],
    ['completion'],
    ['version', 'now'],
    ['help', 'frobnicate'],
    ['--timeout', '10', 'status'],
    ['--timeout', 'soon', 'status'],
    ['--timeout', '0s', 'status'],
    ['list', '--limit', '0'],
  ];
  for (const argv of bad) {
    test(`usage error: raftctl ${argv.join(' ')}`, () => {
      assert.throws(() => parseArgs(argv, {}), UsageError);
    });
  }
});

describe('status table', () => {
  const m = (name: string, role: string, term: number, commit: number, applied: number): MemberRow => ({
    name,
    clientUrl: `http://${name}:2379`,
    voter: true,
    status: { name, role, term, leader: null, commitIndex: commit, appliedIndex: applied, lastIndex: commit + 1 },
    error: null,
  });

  test('one row per member with lag against the leader commit', () => {
    const out = renderStatusTable([m('n2', 'follower', 4, 95, 90), m('n1', 'leader', 4, 100, 100), { name: 'n3', clientUrl: 'http://n3:2379', voter: true, status: null, error: 'ECONNREFUSED' }]);
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAST-INDEX\s+LAG\s+CLIENT-URL$/);
    assert.match(lines[1] ?? '', /^n1\s+leader\s+4\s+100\s+100\s+101\s+0\s+http:\/\/n1:2379$/);
    assert.match(lines[2] ?? '', /^n2\s+follower\s+4\s+95\s+90\s+96\s+10\s+http:\/\/n2:2379$/);
    assert.match(lines[3] ?? '', /^n3\s+unreachable\s+-.*ECONNREFUSED/);
    assert.equal(lines[4], 'leader n1, term 4, commit 100');
    // Columns line up: every row's TERM starts at the header's TERM column.
    const col = (lines[0] ?? '').indexOf('TERM');
    assert.equal((lines[1] ?? '').slice(col, col + 1), '4');
  });

  test('a stale leader of an older term is not the reference; no leader gives "-"', () => {
    const out = renderStatusTable([m('a', 'leader', 3, 50, 50), m('b', 'leader', 5, 80, 80)]);
    assert.match(out, /leader b, term 5/);
    assert.match(out, /^a\s+leader\s+3\s+50\s+50\s+51\s+30\s/m);
    const none = renderStatusTable([m('a', 'follower', 3, 50, 50)]);
    assert.match(none, /^a\s+follower\s+3\s+50\s+50\s+51\s+-\s/m);
    assert.match(none, /no leader answered/);
  });

  test('a member that applied its own removal shows as removed', () => {
    const gone: MemberRow = { name: 'n3', clientUrl: 'http://n3:2379', voter: true, status: { name: 'n3', role: 'follower', term: 4, leader: null, commitIndex: 90, appliedIndex: 90, removed: true }, error: null };
    const out = renderStatusTable([m('n1', 'leader', 4, 100, 100), gone]);
    assert.match(out, /^n3\s+removed\s+4\s+90\s+90\s+-\s+10\s/m);
  });

  test('status JSON: every member with lastIndex and lag, the leader, errors', () => {
    const j = statusJson([m('n2', 'follower', 4, 95, 90), m('n1', 'leader', 4, 100, 100), { name: 'n3', clientUrl: 'http://n3:2379', voter: false, status: null, error: 'ECONNREFUSED' }]);
    assert.deepEqual(j.leader, { name: 'n1', term: 4, commitIndex: 100 });
    assert.deepEqual(j.members.map((x) => [x.name, x.role, x.lastIndex, x.lag, x.error]), [['n1', 'leader', 101, 0, null], ['n2', 'follower', 96, 10, null], ['n3', null, null, null, 'ECONNREFUSED']]);
  });
});

/** A scripted member that offers no client sessions (an older member): 404 to POST /v1/sessions. True when it answered. */
function withoutSessions(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url !== '/v1/sessions') return false;
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: 'not found', code: 'NOT_FOUND' }));
  return true;
}

/** A URL nothing listens on (connections are refused, as at a killed member's port). */
async function closedPortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await new Promise((r) => s.close(r));
  return url;
}

describe('commands against a member', () => {
  let t: TestApi;
  let dead: Server;
  let deadUrl: string;
  let closedUrl: string;
  before(async () => {
    t = await startApi();
    // An endpoint that accepts requests and drops the connection: whether it applied them is unknown.
    dead = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    closedUrl = await closedPortUrl();
  });
  after(async () => {
    await t.close();
    await new Promise((r) => dead.close(r));
  });

  const run = (argv: string[], stdin = ''): Promise<CapturedRun> =>
    runRaftctlCaptured(['--endpoints', `${closedUrl},${t.url}`, '--timeout-ms', '2000', ...argv], stdin);

  test('put, get, list, del through a dead first endpoint', async () => {
    const p = await run(['put', 'greet', 'hello']);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /^OK revision=\d+ term=3 index=\d+\n$/);
    const g = await run(['get', 'greet']);
    assert.equal(g.out, 'hello\n', 'a newline after the value, as etcdctl');
    const s = await run(['put', 'fromstdin', '-'], 'piped');
    assert.equal(s.code, 0, s.err);
    assert.equal((await run(['get', 'fromstdin', '--serializable'])).out, 'piped\n');
    const l = await run(['list', '']);
    assert.match(l.out, /^fromstdin\tpiped\ngreet\thello\n$/);
    assert.equal((await run(['del', 'greet'])).code, 0);
    const missing = await run(['get', 'greet']);
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'raftctl: get greet: key not found\n');
  });

  test('no leader until the deadline: one line naming every endpoint and its answer, exit 1', async () => {
    t.member.leaderIs = null;
    try {
      const r = await runRaftctlCaptured(['--endpoints', `${closedUrl},${t.url}`, '--timeout', '600ms', 'put', 'k', 'v']);
      assert.equal(r.code, 1);
      // The first write of a run opens the client session: that is what meets the leaderless member.
      assert.match(r.err, /^raftctl: put k( \(opening its client session\))?: no member served the request within 0\.6s \(\d+ attempts over 2 endpoints; raise --timeout to wait longer\): /);
      assert.ok(r.err.includes(`${closedUrl}: ECONNREFUSED`), r.err);
      // A member answers 503 NO_LEADER at once, or holds the write while it waits for an election.
      assert.ok([`${t.url}: 503 NO_LEADER: `, `${t.url}: no answer before the deadline`, `${t.url}: timed out`].some((x) => r.err.includes(x)), r.err);
      assert.ok(Number(/\((\d+) attempts/.exec(r.err)?.[1]) >= 2, `past the dead endpoint: ${r.err}`);
      assert.equal(r.err.split('\n').length, 2);
    } finally {
      t.member.leaderIs = 'self';
    }
  });

  test('a member that holds the write past the deadline: its earlier answer is kept and the outcome called unknown', async () => {
    let seen = 0;
    // Answers 503 NO_LEADER once, then holds requests without answering (waiting for an election).
    const holding = createServer((req, res) => {
      if (withoutSessions(req, res)) return;
      if (seen++ === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'no leader known', code: 'NO_LEADER' }));
      }
    });
    await new Promise<void>((r) => holding.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(holding.address() as AddressInfo).port}`;
    try {
      const r = await runRaftctlCaptured(['--endpoints', url, '--timeout', '700ms', 'put', 'k', 'v']);
      assert.equal(r.code, 1);
      assert.ok(r.err.includes(`${url}: 503 NO_LEADER: no leader known, then no answer before the deadline`), r.err);
      assert.match(r.err, /whether the write was applied is unknown/);
      const read = await runRaftctlCaptured(['--endpoints', url, '--timeout', '500ms', 'get', 'k']);
      assert.equal(read.code, 1);
      assert.match(read.err, /^raftctl: get k: no member served the request within 0\.5s .*no answer before the deadline\n$/);
    } finally {
      holding.closeAllConnections();
      await new Promise((r) => holding.close(r));
    }
  });

  test('a leader elected while raftctl retries: the write succeeds without the user retrying', async () => {
    t.member.leaderIs = null;
    const elected = setTimeout(() => { t.member.leaderIs = 'self'; }, 400);
    try {
      const r = await runRaftctlCaptured(['--endpoints', `${closedUrl},${t.url}`, '--timeout', '5s', 'put', 'during-election', 'v']);
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /^OK revision=/);
    } finally {
      clearTimeout(elected);
      t.member.leaderIs = 'self';
    }
  });

  test('bad usage prints the command\'s short usage (not the whole help) and exits 2', async () => {
    const r = await run(['put']);
    assert.equal(r.code, 2);
    assert.equal(r.out, '');
    assert.match(r.err, /^raftctl: missing arguments\nusage: raftctl put KEY VALUE\|- .*\n\(raftctl put --help for more\)\n$/);
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.ok(unknown.err.split('\n').length <= 3, unknown.err);
    const watchAll = await run(['watch']);
    assert.equal(watchAll.code, 2);
    assert.match(watchAll.err, /--all/);
  });

  test('status: a row per member, an unreachable member makes it exit 1', async () => {
    const saved = [...t.member.members];
    t.member.members.splice(0, t.member.members.length,
      { name: 'n1', peerUrl: 'p1', clientUrl: t.url, voter: true },
      { name: 'n2', peerUrl: 'p2', clientUrl: deadUrl, voter: true },
      { name: 'n3', peerUrl: 'p3', clientUrl: '', voter: false });
    try {
      const r = await run(['status']);
      assert.equal(r.code, 1, r.err);
      assert.match(r.out, /^NAME\s+ROLE/);
      assert.match(r.out, new RegExp(`^n1\\s+leader\\s+3\\s+\\d+\\s+\\d+\\s+\\d+\\s+0\\s+${t.url}$`, 'm'));
      assert.match(r.out, /^n2\s+unreachable\s/m);
      assert.match(r.out, /^n3\s+unreachable.*client URL unknown/m);
    } finally {
      t.member.members.splice(0, t.member.members.length, ...saved);
    }
  });

  test('lock acquire prints the fencing token; snapshot; members list', async () => {
    const l = await run(['lock', 'acquire', 'job', 'me', '5000']);
    assert.match(l.out, /^token=\d+ owner=me fencing-token=job:\d+\n$/);
    assert.match((await run(['snapshot'])).out, /^snapshot at index \d+\n$/);
    const m = await run(['members', 'list']);
    assert.match(m.out, /^NAME\s+VOTER\s+PEER\s+CLIENT-URL\nn1\s+voter/);
  });

  test('past a member that drops the connection: reads go on, and so do writes (numbered in the client session, or keyed)', async () => {
    await run(['put', 'r', 'x']);
    const viaDrop = ['--endpoints', `${deadUrl},${t.url}`, '--timeout', '2s'];
    const g = await runRaftctlCaptured([...viaDrop, 'get', 'r']);
    assert.equal(g.code, 0, g.err);
    assert.equal(g.out, 'x\n');
    const before = JSON.parse((await run(['-w', 'json', 'get', 'r'])).out) as { modRevision: number };
    const p = await runRaftctlCaptured([...viaDrop, '-w', 'json', 'put', 'r', 'y']);
    assert.equal(p.code, 0, p.err);
    assert.equal((JSON.parse(p.out) as { revision: number }).revision, before.modRevision + 1, 'applied once');
    assert.equal((await run(['get', 'r'])).out, 'y\n');
    const keyed = await runRaftctlCaptured([...viaDrop, 'put', 'r', 'z', '--retry']);
    assert.equal(keyed.code, 0, keyed.err);
    assert.equal((await run(['get', 'r'])).out, 'z\n');
  });

  test('--retry sends one automatic Idempotency-Key on every attempt; a given key is sent as is', async () => {
    const keys: (string | undefined)[] = [];
    // Drops the first two requests after reading them, then answers as a member would.
    const flaky = createServer((req, res) => {
      if (withoutSessions(req, res)) return;
      keys.push(req.headers['idempotency-key'] as string | undefined);
      if (keys.length <= 2) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ revision: 9, term: 2, index: 40 }));
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
    try {
      const r = await runRaftctlCaptured(['--endpoints', url, '--timeout', '5s', 'put', 'k', 'v', '--retry']);
      assert.equal(r.code, 0, r.err);
      assert.equal(keys.length, 3);
      assert.match(keys[0] ?? '', /^raftctl-[0-9a-f]{32}$/);
      assert.ok(keys.every((k) => k === keys[0]), `one key for all attempts: ${keys.join(', ')}`);
      keys.length = 0;
      const given = await runRaftctlCaptured(['--endpoints', url, '--timeout', '5s', 'lock', 'release', 'job', '3', '--idempotency-key', 'release-3']);
      assert.equal(given.code, 0, given.err);
      assert.deepEqual(keys, ['release-3', 'release-3', 'release-3']);
      keys.length = 0;
      const none = await runRaftctlCaptured(['--endpoints', url, '--timeout', '5s', 'put', 'k', 'v']);
      assert.equal(none.code, 1);
      assert.deepEqual(keys, [undefined], 'without a key the write is sent once');
    } finally {
      await new Promise((r) => flaky.close(r));
    }
  });

  test('a follower redirecting to a dead leader: retried until a new leader answers; the failure names the redirect', async () => {
    const follower = await startApi();
    try {
      follower.member.leaderIs = { name: 'gone', clientUrl: closedUrl };
      const failed = await runRaftctlCaptured(['--endpoints', follower.url, '--timeout', '500ms', 'put', 'k', 'v']);
      assert.equal(failed.code, 1);
      assert.ok(failed.err.includes(`${follower.url}: redirected to the leader at ${closedUrl}: ECONNREFUSED`), failed.err);
      const newLeader = setTimeout(() => { follower.member.leaderIs = { name: 'n1', clientUrl: t.url }; }, 300);
      try {
        const ok = await runRaftctlCaptured(['--endpoints', `${closedUrl},${follower.url}`, '--timeout', '5s', 'put', 'failover', 'v']);
        assert.equal(ok.code, 0, ok.err);
        assert.equal((await run(['get', 'failover'])).out, 'v\n');
      } finally {
        clearTimeout(newLeader);
      }
    } finally {
      await follower.close();
    }
  });

  test('compare-and-swap, fencing tokens and idempotency keys as the API has them', async () => {
    const first = await run(['-w', 'json', 'put', 'cas', 'one', '--if-match', '0']);
    assert.equal(first.code, 0, first.err);
    const rev = (JSON.parse(first.out) as { revision: number }).revision;
    const again = await run(['put', 'cas', 'two', '--if-match', '0']);
    assert.equal(again.code, 1);
    assert.match(again.err, /^raftctl: put cas: 412 PRECONDITION_FAILED/);
    const stale = await run(['put', 'cas', 'two', '--if-match', String(rev + 100)]);
    assert.equal(stale.code, 1);
    assert.equal((await run(['put', 'cas', 'two', '--if-match', String(rev)])).code, 0);
    assert.equal((await run(['get', 'cas'])).out, 'two\n');
    const delStale = await run(['del', 'cas', '--if-match', String(rev)]);
    assert.equal(delStale.code, 1);
    assert.match(delStale.err, /412/);

    const lock = await run(['-w', 'json', 'lock', 'acquire', 'fence', 'me', '60000']);
    const { fencingToken, token } = JSON.parse(lock.out) as { fencingToken: string; token: number };
    assert.equal((await run(['put', 'guarded', 'a', '--fencing-token', fencingToken])).code, 0);
    assert.equal((await run(['lock', 'release', 'fence', String(token)])).code, 0);
    assert.equal((await run(['lock', 'acquire', 'fence', 'other', '60000'])).code, 0);
    const fenced = await run(['put', 'guarded', 'b', '--fencing-token', fencingToken]);
    assert.equal(fenced.code, 1);
    assert.match(fenced.err, /409 CONFLICT/);
    assert.equal((await run(['get', 'guarded'])).out, 'a\n');

    const k1 = await run(['-w', 'json', 'put', 'idem', 'v1', '--idempotency-key', 'once']);
    const k2 = await run(['-w', 'json', 'put', 'idem', 'v2', '--idempotency-key', 'once']);
    assert.equal(k1.code, 0, k1.err);
    assert.equal((JSON.parse(k2.out) as { revision: number }).revision, (JSON.parse(k1.out) as { revision: number }).revision, 'a replay answers as the first');
    assert.equal((await run(['get', 'idem'])).out, 'v1\n', 'applied once');
  });

  test('-w json and -w table', async () => {
    await run(['put', 'fmt/a', 'text']);
    const bin = Buffer.from([0, 1, 2, 255]).toString('latin1');
    await run(['put', 'fmt/b', '-'], bin);
    const g = JSON.parse((await run(['get', 'fmt/a', '-w', 'json'])).out) as Record<string, unknown>;
    assert.equal(g.key, 'fmt/a');
    assert.equal(g.value, 'text');
    assert.equal(typeof g.modRevision, 'number');
    const l = JSON.parse((await run(['list', 'fmt/', '-w', 'json'])).out) as { kvs: Record<string, unknown>[]; more: boolean };
    assert.deepEqual(l.kvs.map((kv) => kv.key), ['fmt/a', 'fmt/b']);
    assert.equal(l.kvs[0]?.value, 'text');
    assert.equal(typeof l.kvs[1]?.valueBase64, 'string');
    assert.equal(l.more, false);
    const table = await run(['list', 'fmt/', '-w', 'table']);
    assert.match(table.out, /^KEY\s+MOD-REVISION\s+VALUE\nfmt\/a\s+\d+\s+text\nfmt\/b\s+\d+\s+base64:/);
    const st = JSON.parse((await run(['status', '-w', 'json'])).out) as { members: { name: string; lastIndex: number | null }[] };
    assert.equal(st.members[0]?.name, 'n1');
    assert.equal(typeof st.members[0]?.lastIndex, 'number');
    const m = JSON.parse((await run(['members', 'list', '-w', 'json'])).out) as { members: { name: string }[] };
    assert.equal(m.members[0]?.name, 'n1');
    const d = JSON.parse((await run(['-w', 'json', 'del', 'fmt/a'])).out) as { deleted: boolean };
    assert.equal(d.deleted, true);
    assert.match((await run(['-w', 'table', 'snapshot'])).out, /^INDEX\n\d+\n$/);
  });

  test('txn: the branch taken and each operation, or the member\'s JSON with -w json; --retry keys it', async () => {
    await run(['put', 'tx/a', 'alpha']);
    await run(['put', 'tx/b', 'beta']);
    const body = JSON.stringify({ compare: [{ key: 'tx/a', target: 'exists', op: '=', value: true }], success: [{ get: { key: 'tx/a' } }, { delete: { key: 'tx/b' } }, { get: { key: 'tx/none' } }], failure: [] });
    const r = await run(['txn', '-', '--retry'], body);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^SUCCEEDED revision=\d+\nget tx\/a alpha\ndelete tx\/b deleted=true\nget tx\/none \(not found\)\n$/);
    const failed = await run(['txn', '-', '-w', 'json'], JSON.stringify({ compare: [{ key: 'tx/b', target: 'exists', op: '=', value: true }], success: [], failure: [{ get: { key: 'tx/a' } }] }));
    const j = JSON.parse(failed.out) as { succeeded: boolean; results: unknown[] };
    assert.equal(j.succeeded, false);
    assert.equal(j.results.length, 1);
    const bad = await run(['txn', '-'], '{"compare": 5}');
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^raftctl: txn: 400 BAD_REQUEST: /);
  });

  test('snapshot save retries a member without a leader until it serves the backup', async () => {
    let refused = 0;
    // Answers 503 NO_LEADER twice (an election), then passes requests to the member.
    const electing = createServer((req, res) => {
      if (refused < 2) {
        refused++;
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: 'no leader known', code: 'NO_LEADER' }));
        return;
      }
      const up = httpGet(`${t.url}${req.url ?? '/'}`, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
    });
    await new Promise<void>((r) => electing.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(electing.address() as AddressInfo).port}`;
    const dir = mkdtempSync(join(tmpdir(), 'raftctl-save-'));
    try {
      const r = await runRaftctlCaptured(['--endpoints', url, '--timeout', '5s', '-w', 'json', 'snapshot', 'save', join(dir, 'b.snap')]);
      assert.equal(r.code, 0, r.err);
      assert.equal(refused, 2);
      const saved = JSON.parse(r.out) as { file: string; bytes: number; sha256: string };
      assert.equal(saved.file, join(dir, 'b.snap'));
      assert.ok(existsSync(saved.file) && saved.bytes > 0);
      refused = -1000;
      const gaveUp = await runRaftctlCaptured(['--endpoints', url, '--timeout', '300ms', 'snapshot', 'save', join(dir, 'c.snap')]);
      assert.equal(gaveUp.code, 1);
      assert.match(gaveUp.err, /^raftctl: snapshot save: no member served the backup \(http:\/\/127\.0\.0\.1:\d+: 503 NO_LEADER: no leader known\)\n$/);
      assert.ok(!existsSync(join(dir, 'c.snap')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await new Promise((r) => electing.close(r));
    }
  });

  test('with auth on: no token hints --token; a refused token says so', async () => {
    const secured = await startApi({ access: { tokens: { current: TokenTable.parse('s3cret-admin-token-0123 admin ops\n') }, openPaths: new Set() } });
    try {
      const none = await runRaftctlCaptured(['--endpoints', secured.url, 'put', 'k', 'v']);
      assert.equal(none.code, 1);
      assert.match(none.err, /401 UNAUTHORIZED.*pass --token T or --token-file F, or set \$RAFTKV_TOKEN/);
      const wrong = await runRaftctlCaptured(['--endpoints', secured.url, '--token', 'not-the-token-at-all', 'get', 'k']);
      assert.match(wrong.err, /401 UNAUTHORIZED.*did not accept the token/);
      const st = await runRaftctlCaptured(['--endpoints', secured.url, 'status']);
      assert.match(st.err, /--token T/);
      const ok = await runRaftctlCaptured(['--endpoints', secured.url, '--token', 's3cret-admin-token-0123', 'put', 'k', 'v']);
      assert.equal(ok.code, 0, ok.err);
    } finally {
      await secured.close();
    }
  });
});

describe('help, version, completion', () => {
  test('--help on every command; the global help lists them all and cites no missing file', async () => {
    const top = await runRaftctlCaptured(['--help']);
    assert.equal(top.code, 0);
    for (const c of COMMAND_NAMES) assert.match(top.out, new RegExp(`^  ${c}\\s`, 'm'), c);
    assert.match(top.out, /--timeout DURATION/);
    assert.ok(!top.out.includes('API.md'));
    for (const c of COMMAND_NAMES.filter((n) => n !== 'bench' && n !== 'help')) {
      const r = await runRaftctlCaptured([c, '--help']);
      assert.equal(r.code, 0, `${c}: ${r.err}`);
      assert.match(r.out, new RegExp(`^usage: raftctl ${c}`), c);
      assert.ok(!r.out.includes('API.md'), c);
    }
    const txn = await runRaftctlCaptured(['txn', '--help']);
    assert.match(txn.out, /docs\/api\.md/);
  });

  test('version: the package version, in every format', async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
    assert.equal(RAFTKV_VERSION, pkg.version);
    assert.match((await runRaftctlCaptured(['--version'])).out, new RegExp(`^raftctl version ${pkg.version.replace(/\./g, '\\.')} `));
    assert.equal((JSON.parse((await runRaftctlCaptured(['version', '-w', 'json'])).out) as { raftctl: string }).raftctl, pkg.version);
  });

  /** Runs the bash completion function on a command line; returns the candidates. */
  function complete(script: string, line: string): string[] {
    const words = line.split(' ');
    const program = `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _raftctl; printf '%s\\n' "\${COMPREPLY[@]}"`;
    return execFileSync('bash', ['-c', program], { encoding: 'utf8' }).split('\n').filter((x) => x !== '');
  }

  test('bash completion: commands, subcommands, flags, -w values', async () => {
    const r = await runRaftctlCaptured(['completion', 'bash']);
    assert.equal(r.code, 0);
    assert.deepEqual(complete(r.out, 'raftctl st'), ['status']);
    assert.deepEqual(complete(r.out, 'raftctl --endpoints http://x:1 me'), ['members']);
    assert.deepEqual(complete(r.out, 'raftctl members p').sort(), ['promote']);
    assert.deepEqual(complete(r.out, 'raftctl put k v --if').sort(), ['--if-match']);
    assert.ok(complete(r.out, 'raftctl put k v --').includes('--fencing-token'));
    assert.deepEqual(complete(r.out, 'raftctl status -w j'), ['json']);
    assert.deepEqual(complete(r.out, 'raftctl watch --a'), ['--all']);
  });

  test('zsh completion: a script zsh accepts', { skip: hasZsh() ? false : 'zsh not installed' }, async () => {
    const r = await runRaftctlCaptured(['completion', 'zsh']);
    assert.equal(r.code, 0);
    assert.match(r.out, /^#compdef raftctl\n/);
    const dir = mkdtempSync(join(tmpdir(), 'raftctl-zsh-'));
    try {
      const file = join(dir, '_raftctl');
      writeFileSync(file, r.out);
      execFileSync('zsh', ['-n', file]);
      // Loaded for real: compinit, then the script registers _raftctl for raftctl.
      const registered = execFileSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D && source ${file} && print -r -- $_comps[raftctl]`], { encoding: 'utf8' });
      assert.equal(registered.trim(), '_raftctl');
      // Its logic, with zsh's completion builtins replaced by printers.
      const candidates = (line: string): string[] => {
        const words = line.split(' ');
        const program = `compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }; _describe() { print -rl -- \${(P)2%%:*}; }; _files() { :; }
source ${file}; words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _raftctl`;
        return execFileSync('zsh', ['-f', '-c', program], { encoding: 'utf8' }).split('\n').filter((x) => x !== '');
      };
      assert.ok(candidates('raftctl ').includes('status'));
      assert.ok(candidates('raftctl put k v --if').includes('--if-match'));
      assert.deepEqual(candidates('raftctl lock '), ['acquire', 'release']);
      assert.deepEqual(candidates('raftctl -w '), ['simple', 'json', 'table']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The folder holding package.json (the tests run from dist/). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

function hasZsh(): boolean {
  try {
    execFileSync('zsh', ['-c', 'true']);
    return true;
  } catch {
    return false;
  }
}
