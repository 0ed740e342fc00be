// Scheduled backups on the command line: `raftctl snapshot save --dir DIR [--keep N]` (naming,
// pruning, flag parsing, and a real save into a directory over the API server) and
// `raftkv restore --skip-if-initialized` (flag parsing and when it must leave a data dir alone).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { UsageError, parseArgs } from '../../../daemon/src/cli/args.js';
import { parseRestoreArgs, restoreSkipReason, runRestore } from '../../../daemon/src/cli/restore.js';
import { runRaftctlCaptured } from './capture.js';
import type { CapturedRun } from './capture.js';
import {
  MAX_KEEP, SNAPSHOT_NAME_RE, STALE_PART_AGE_MS, parseSnapshotName, planPrune, snapshotNames, sortSnapshots, stalePartFiles,
} from '../../../daemon/src/cli/snapshot-dir.js';
import { FlagError } from '../../../daemon/src/config/flags.js';
import { startApi } from '../api/harness.js';
import type { TestApi } from '../api/harness.js';

const T0 = Date.UTC(2026, 11, 2, 8, 15, 0, 456);

describe('backup directory naming and pruning', () => {
  test('names: UTC timestamp to the millisecond, revision, random tag; temp name is a dot file that never matches', () => {
    const n = snapshotNames(T0, 1234, '0a1b2c3d');
    assert.equal(n.final, 'snapshot-20261202T081500.456Z-rev1234-0a1b2c3d.snap');
    assert.equal(n.part, '.snapshot-20261202T081500.456Z-rev1234-0a1b2c3d.snap.part');
    assert.match(n.final, SNAPSHOT_NAME_RE);
    assert.doesNotMatch(n.part, SNAPSHOT_NAME_RE);
    assert.deepEqual(parseSnapshotName(n.final), { name: n.final, stamp: '20261202T081500.456Z', takenAtMs: T0, revision: 1234 });
    assert.throws(() => snapshotNames(T0, -1), RangeError);
    assert.throws(() => snapshotNames(T0, 1, 'XYZ'), RangeError);
  });

  test('two saves at the same millisecond and revision get different names (they once overwrote each other)', () => {
    const names = new Set(Array.from({ length: 200 }, () => snapshotNames(T0, 7).final));
    assert.equal(names.size, 200);
    for (const n of names) assert.equal(parseSnapshotName(n)?.revision, 7);
  });

  test('names of older raftctl versions (to the second, no tag) are still ours: parsed, sorted among new ones, pruned', () => {
    const old = 'snapshot-20261202T081500Z-rev1234.snap';
    assert.deepEqual(parseSnapshotName(old), { name: old, stamp: '20261202T081500Z', takenAtMs: Date.UTC(2026, 11, 2, 8, 15, 0), revision: 1234 });
    const newer = snapshotNames(T0, 1234, '00000000').final;
    assert.deepEqual(sortSnapshots([newer, old]).map((s) => s.name), [old, newer], 'the old name (.000) sorts before the new one (.456) of the same second');
    assert.deepEqual(planPrune([newer, old], 1), [old]);
  });

  test('oldest first by time, then by revision (numerically, not as text)', () => {
    const names = ['snapshot-20261202T081500Z-rev10.snap', 'snapshot-20261201T000000Z-rev99.snap', 'snapshot-20261202T081500Z-rev9.snap', 'snapshot-20270101T000000Z-rev1.snap'];
    assert.deepEqual(sortSnapshots(names).map((s) => s.name), [
      'snapshot-20261201T000000Z-rev99.snap', 'snapshot-20261202T081500Z-rev9.snap', 'snapshot-20261202T081500Z-rev10.snap', 'snapshot-20270101T000000Z-rev1.snap',
    ]);
  });

  test('prune keeps the newest N of its own files and never names anything else', () => {
    const ours = [0, 1, 2, 3, 4].map((i) => snapshotNames(T0 + i * 60_000, 100 + i).final);
    const strangers = ['notes.txt', 'snapshot-latest.snap', 'snapshot-20261202T081500Z-rev1.snap.bak', 'backup.snap', '.snapshot-20261202T081500Z-rev1.snap.part', 'Snapshot-20261202T081500Z-rev1.snap'];
    const doomed = planPrune([...strangers, ...ours].reverse(), 2);
    assert.deepEqual(doomed, ours.slice(0, 3));
    for (const s of strangers) assert.ok(!doomed.includes(s), `${s} is not raftctl's`);
    assert.deepEqual(planPrune(ours, 5), []);
    assert.deepEqual(planPrune(ours, 1000), []);
    assert.deepEqual(planPrune(strangers, 1), []);
    for (const bad of [0, -1, 1.5, MAX_KEEP + 1]) assert.throws(() => planPrune(ours, bad), RangeError);
  });

  test('stale temp files: only ours, only when untouched for long enough', () => {
    const now = T0 + 3_600_000;
    const files = [
      { name: '.snapshot-20261202T081500Z-rev1.snap.part', mtimeMs: now - STALE_PART_AGE_MS },
      { name: '.snapshot-20261202T091500Z-rev2.snap.part', mtimeMs: now - 1_000 },
      { name: '.other.part', mtimeMs: 0 },
      { name: 'snapshot-20261202T081500Z-rev1.snap', mtimeMs: 0 },
    ];
    assert.deepEqual(stalePartFiles(files, now), ['.snapshot-20261202T081500Z-rev1.snap.part']);
  });
});

describe('snapshot save --dir flags', () => {
  test('parsed forms', () => {
    assert.deepEqual(parseArgs(['snapshot', 'save', '--dir', '/b', '--keep', '3'], {}).command, { kind: 'snapshot-save-dir', dir: '/b', keep: 3, serializable: false });
    assert.deepEqual(parseArgs(['snapshot', 'save', '--dir=/b', '--serializable'], {}).command, { kind: 'snapshot-save-dir', dir: '/b', keep: null, serializable: true });
    assert.deepEqual(parseArgs(['snapshot', 'save', 'f.bak'], {}).command, { kind: 'snapshot-save', file: 'f.bak', serializable: false });
  });
  const bad = [
    ['snapshot', 'save', '--dir', '/b', 'extra'],
    ['snapshot', 'save', '--dir'],
    ['snapshot', 'save', '--dir='],
    ['snapshot', 'save', '--dir', '/b', '--keep', '0'],
    ['snapshot', 'save', '--dir', '/b', '--keep', '1001'],
    ['snapshot', 'save', '--dir', '/b', '--keep', 'two'],
    ['snapshot', 'save', '--dir', '/b', '--keep', '-1'],
    ['snapshot', 'save', 'f.bak', '--keep', '2'],
    ['snapshot', 'save', '--dir', '/b', '--prune'],
  ];
  for (const argv of bad) test(`usage error: raftctl ${argv.join(' ')}`, () => assert.throws(() => parseArgs(argv, {}), UsageError));

  test('a bad flag exits 2 with the usage text, which lists --dir/--keep', async () => {
    const { code, err } = await runRaftctlCaptured(['snapshot', 'save', '--dir', '/b', '--keep', '0']);
    assert.equal(code, 2);
    assert.match(err, /--keep must be 1\.\.1000/);
    assert.match(err, /snapshot save --dir DIR \[--keep N\]/);
  });
});

describe('snapshot save --dir against a member', () => {
  let t: TestApi;
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-snapdir-'));
  before(async () => {
    t = await startApi();
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const run = (argv: string[]): Promise<CapturedRun> => runRaftctlCaptured(['--endpoints', t.url, ...argv]);

  test('saves timestamped files, prunes the oldest beyond --keep, leaves strangers alone', async () => {
    writeFileSync(join(dir, 'README'), 'not a backup');
    const old = snapshotNames(Date.UTC(2020, 0, 1), 1).final;
    writeFileSync(join(dir, old), 'an old backup');
    const stalePart = snapshotNames(Date.UTC(2020, 0, 1), 2).part;
    writeFileSync(join(dir, stalePart), 'half');
    utimesSync(join(dir, stalePart), new Date(Date.UTC(2020, 0, 1)), new Date(Date.UTC(2020, 0, 1)));
    const saved: string[] = [];
    for (let i = 0; i < 3; i++) {
      assert.equal((await run(['put', `k${i}`, `v${i}`])).code, 0);
      const r = await run(['snapshot', 'save', '--dir', dir, '--keep', '2']);
      assert.equal(r.code, 0, r.err);
      const m = /^saved (\S+): .* revision=(\d+) /m.exec(r.out);
      assert.ok(m !== null, r.out);
      saved.push(m[1] ?? '');
      assert.match(r.out, /kept \d backup\(s\)/);
    }
    const left = readdirSync(dir).sort();
    // The newest two of ours, plus the stranger; the 2020 backup, the older new one and the stale temp file are gone.
    assert.equal(left.filter((n) => SNAPSHOT_NAME_RE.test(n)).length, 2, left.join(' '));
    assert.ok(left.includes('README'));
    assert.ok(!left.includes(old) && !left.includes(stalePart));
    assert.ok(existsSync(saved[2] ?? '') && existsSync(saved[1] ?? '') && !existsSync(saved[0] ?? ''), left.join(' '));
    assert.ok(!left.some((n) => n.endsWith('.part')), 'no temp file left');
  });

  test('a missing directory fails (exit 1) instead of writing somewhere else; a failed save prunes nothing', async () => {
    const r = await run(['snapshot', 'save', '--dir', join(dir, 'nope'), '--keep', '1']);
    assert.equal(r.code, 1);
    assert.match(r.err, /--dir .*nope/);
    const before = readdirSync(dir).sort();
    const down = await runRaftctlCaptured(['--endpoints', 'http://127.0.0.1:1', '--timeout-ms', '500', 'snapshot', 'save', '--dir', dir, '--keep', '1']);
    assert.equal(down.code, 1);
    assert.deepEqual(readdirSync(dir).sort(), before, 'nothing pruned when no backup was written');
  });
});

describe('raftkv restore --skip-if-initialized', () => {
  const base = ['--from', 'f', '--data-dir', 'd', '--name', 'n1', '--initial-cluster', 'n1=h:1,n2=h:2'];

  test('flags: boolean skip, initial-cluster-state from flag or env, bad values are FlagErrors', () => {
    const r = parseRestoreArgs([...base, '--skip-if-initialized'], { RAFTKV_INITIAL_CLUSTER_STATE: 'existing' });
    assert.equal(r.skipIfInitialized, true);
    assert.equal(r.initialClusterState, 'existing');
    assert.equal(parseRestoreArgs([...base, '--initial-cluster-state=new'], { RAFTKV_INITIAL_CLUSTER_STATE: 'existing' }).initialClusterState, 'new', 'the flag wins');
    assert.equal(parseRestoreArgs(base, {}).skipIfInitialized, false);
    assert.throws(() => parseRestoreArgs([...base, '--skip-if-initialized=yes'], {}), FlagError);
    assert.throws(() => parseRestoreArgs([...base, '--initial-cluster-state', 'maybe'], {}), FlagError);
  });

  test('skips for joining members, non-bootstrap names and initialised dirs; restores into empty or absent dirs', () => {
    const args = parseRestoreArgs([...base, '--skip-if-initialized'], {});
    assert.equal(restoreSkipReason(args, null), null);
    assert.equal(restoreSkipReason(args, 0), null);
    assert.match(restoreSkipReason(args, 3) ?? '', /already initialised/);
    assert.match(restoreSkipReason({ ...args, initialClusterState: 'existing' }, null) ?? '', /joining member/);
    assert.match(restoreSkipReason({ ...args, name: 'n3' }, null) ?? '', /not a bootstrap member/);
  });

  test('exit codes: 2 for bad flags (usage printed), 0 and the dir untouched when initialised, 1 for a damaged file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'raftkv-restore-skip-'));
    try {
      const io = (): { out: PassThrough; err: PassThrough; text: () => string } => {
        const out = new PassThrough();
        const err = new PassThrough();
        let text = '';
        out.on('data', (c: Buffer) => { text += c.toString(); });
        err.on('data', (c: Buffer) => { text += c.toString(); });
        return { out, err, text: () => text };
      };
      const h = io();
      assert.equal(await runRestore(['--help'], {}, h.out, h.err), 0, 'raftkv restore --help is not an error');
      assert.match(h.text(), /^usage: raftkv restore --from FILE[^]*--skip-if-initialized[^]*Exit codes/);
      const a = io();
      assert.equal(await runRestore(['--skip-if-initialized', '--bogus'], {}, a.out, a.err), 2);
      assert.match(a.text(), /--skip-if-initialized/);
      const dataDir = join(root, 'data');
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, 'CURRENT'), 'member state');
      writeFileSync(join(root, 'bad.snap'), 'not a backup');
      const b = io();
      assert.equal(await runRestore(['--from', join(root, 'bad.snap'), '--data-dir', dataDir, '--name', 'n1', '--initial-cluster', 'n1=h:1', '--skip-if-initialized'], {}, b.out, b.err), 0);
      assert.match(b.text(), /"restored":false/);
      assert.deepEqual(readdirSync(dataDir), ['CURRENT']);
      const c = io();
      assert.equal(await runRestore(['--from', join(root, 'bad.snap'), '--data-dir', join(root, 'fresh'), '--name', 'n1', '--initial-cluster', 'n1=h:1', '--skip-if-initialized'], {}, c.out, c.err), 1);
      assert.ok(!existsSync(join(root, 'fresh')), 'a failed restore leaves no data dir behind');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
