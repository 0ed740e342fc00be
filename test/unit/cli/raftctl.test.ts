// raftctl: argument parsing (usage errors exit 2), the status table, and a few commands end
// to end against the real API server over a fake member (redirects, failover, errors).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_ENDPOINT, UsageError, parseArgs } from '../../../daemon/src/cli/args.js';
import { renderStatusTable } from '../../../daemon/src/cli/status-table.js';
import type { MemberRow } from '../../../daemon/src/cli/status-table.js';
import { runRaftctlCaptured } from './capture.js';
import type { CapturedRun } from './capture.js';
import { startApi } from '../api/harness.js';
import type { TestApi } from '../api/harness.js';

describe('parseArgs', () => {
  test('commands and their arguments', () => {
    const env = {};
    assert.deepEqual(parseArgs(['put', 'k', 'v'], env).command, { kind: 'put', key: 'k', value: 'v' });
    assert.deepEqual(parseArgs(['get', 'k', '--serializable'], env).command, { kind: 'get', key: 'k', serializable: true });
    assert.deepEqual(parseArgs(['list', 'a/', '--limit', '5'], env).command, { kind: 'list', prefix: 'a/', limit: 5 });
    assert.deepEqual(parseArgs(['watch', 'a/', '--from-revision=7'], env).command, { kind: 'watch', prefix: 'a/', fromRevision: 7 });
    assert.deepEqual(parseArgs(['members', 'add', 'n4', '10.0.0.4:2380', 'http://10.0.0.4:2379'], env).command, { kind: 'members-add', name: 'n4', peerUrl: '10.0.0.4:2380', clientUrl: 'http://10.0.0.4:2379' });
    assert.deepEqual(parseArgs(['leader', 'transfer'], env).command, { kind: 'leader-transfer', to: null });
    assert.deepEqual(parseArgs(['lock', 'acquire', 'job', 'me', '5000'], env).command, { kind: 'lock-acquire', name: 'job', owner: 'me', ttlMs: 5000 });
    assert.deepEqual(parseArgs(['bench', '--op', 'put'], env).command, { kind: 'bench', argv: ['--op', 'put'] });
  });

  test('endpoints: flag, then RAFTKV_ENDPOINTS, then the default', () => {
    assert.deepEqual(parseArgs(['--endpoints', 'http://a:1,b:2', 'status'], {}).options.endpoints, ['http://a:1', 'http://b:2']);
    assert.deepEqual(parseArgs(['status'], { RAFTKV_ENDPOINTS: 'http://c:3' }).options.endpoints, ['http://c:3']);
    const d = parseArgs(['status'], {}).options;
    assert.deepEqual(d.endpoints, [DEFAULT_ENDPOINT]);
    assert.equal(d.endpointsGiven, false);
    assert.equal(parseArgs(['--timeout-ms=250', 'status'], {}).options.timeoutMs, 250);
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
    status: { name, role, term, leader: null, commitIndex: commit, appliedIndex: applied },
    error: null,
  });

  test('one row per member with lag against the leader commit', () => {
    const out = renderStatusTable([m('n2', 'follower', 4, 95, 90), m('n1', 'leader', 4, 100, 100), { name: 'n3', clientUrl: 'http://n3:2379', voter: true, status: null, error: 'ECONNREFUSED' }]);
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+CLIENT-URL$/);
    assert.match(lines[1] ?? '', /^n1\s+leader\s+4\s+100\s+100\s+0\s+http:\/\/n1:2379$/);
    assert.match(lines[2] ?? '', /^n2\s+follower\s+4\s+95\s+90\s+10\s+http:\/\/n2:2379$/);
    assert.match(lines[3] ?? '', /^n3\s+unreachable\s+-.*ECONNREFUSED/);
    assert.equal(lines[4], 'leader n1, term 4, commit 100');
    // Columns line up: every row's TERM starts at the header's TERM column.
    const col = (lines[0] ?? '').indexOf('TERM');
    assert.equal((lines[1] ?? '').slice(col, col + 1), '4');
  });

  test('a stale leader of an older term is not the reference; no leader gives "-"', () => {
    const out = renderStatusTable([m('a', 'leader', 3, 50, 50), m('b', 'leader', 5, 80, 80)]);
    assert.match(out, /leader b, term 5/);
    assert.match(out, /^a\s+leader\s+3\s+50\s+50\s+30\s/m);
    const none = renderStatusTable([m('a', 'follower', 3, 50, 50)]);
    assert.match(none, /^a\s+follower\s+3\s+50\s+50\s+-\s/m);
    assert.match(none, /no leader answered/);
  });

  test('a member that applied its own removal shows as removed', () => {
    const gone: MemberRow = { name: 'n3', clientUrl: 'http://n3:2379', voter: true, status: { name: 'n3', role: 'follower', term: 4, leader: null, commitIndex: 90, appliedIndex: 90, removed: true }, error: null };
    const out = renderStatusTable([m('n1', 'leader', 4, 100, 100), gone]);
    assert.match(out, /^n3\s+removed\s+4\s+90\s+90\s+10\s/m);
  });
});

describe('commands against a member', () => {
  let t: TestApi;
  let dead: Server;
  let deadUrl: string;
  before(async () => {
    t = await startApi();
    // An endpoint that accepts and immediately drops connections.
    dead = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
  });
  after(async () => {
    await t.close();
    await new Promise((r) => dead.close(r));
  });

  const run = (argv: string[], stdin = ''): Promise<CapturedRun> =>
    runRaftctlCaptured(['--endpoints', `${deadUrl},${t.url}`, '--timeout-ms', '2000', ...argv], stdin);

  test('put, get, list, del through a dead first endpoint', async () => {
    const p = await run(['put', 'greet', 'hello']);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /^OK revision=\d+ term=3 index=\d+\n$/);
    const g = await run(['get', 'greet']);
    assert.equal(g.out, 'hello');
    const s = await run(['put', 'fromstdin', '-'], 'piped');
    assert.equal(s.code, 0, s.err);
    assert.equal((await run(['get', 'fromstdin', '--serializable'])).out, 'piped');
    const l = await run(['list', '']);
    assert.match(l.out, /^fromstdin\tpiped\ngreet\thello\n$/);
    assert.equal((await run(['del', 'greet'])).code, 0);
    const missing = await run(['get', 'greet']);
    assert.equal(missing.code, 1);
    assert.equal(missing.err, 'raftctl: get greet: key not found\n');
  });

  test('a refused write is one clear line and exit 1', async () => {
    t.member.leaderIs = null;
    try {
      const r = await run(['put', 'k', 'v']);
      assert.equal(r.code, 1);
      assert.match(r.err, /^raftctl: put k: 503 NO_LEADER: no leader known/);
      assert.equal(r.err.split('\n').length, 2);
    } finally {
      t.member.leaderIs = 'self';
    }
  });

  test('bad usage prints usage and exits 2', async () => {
    const r = await run(['put']);
    assert.equal(r.code, 2);
    assert.match(r.err, /usage: raftctl/);
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
      assert.match(r.out, new RegExp(`^n1\\s+leader\\s+3\\s+\\d+\\s+\\d+\\s+0\\s+${t.url}$`, 'm'));
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
});
