// Backups to a location URL, the pure parts and the directory store: parsing s3:// and file://
// locations, retention (--keep and --keep-within), S3 options from flags and the standard AWS
// environment, S3 errors turned into one line a user acts on, the metadata round trip, the
// verifying stream (a damaged backup never completes), and `raftctl snapshot save/list file://`
// plus `raftkv restore --from file://` against an API server. The S3 store itself is tested
// against a real S3 server in the cluster tier (test/cluster/backup-s3.test.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { LocationError, formatLocation, parseBackupLocation } from '../../../daemon/src/backup/location.js';
import { ObjectStoreError, S3OptionsError, describeS3Error, s3OptionsFrom } from '../../../daemon/src/backup/s3-options.js';
import { DirBackupStore, metaFromS3, metaToS3 } from '../../../daemon/src/backup/stores.js';
import { VerifyingStream, saveToStore } from '../../../daemon/src/backup/transfer.js';
import { UsageError, parseArgs } from '../../../daemon/src/cli/args.js';
import { runRestore } from '../../../daemon/src/cli/restore.js';
import { MAX_KEEP_WITHIN_MS, SNAPSHOT_NAME_RE, parseDurationMs, planRetention, snapshotNames } from '../../../daemon/src/cli/snapshot-dir.js';
import { BackupFormatError, encodeBackup } from '../../../daemon/src/server/backup-file.js';
import type { BackupHeader } from '../../../daemon/src/server/backup-file.js';
import { runRaftctlCaptured } from '../cli/capture.js';
import { startApi } from '../api/harness.js';
import type { TestApi } from '../api/harness.js';

describe('backup locations', () => {
  test('s3:// prefixes and objects', () => {
    assert.deepEqual(parseBackupLocation('s3://bkt/raftkv/prod/', 'prefix'), { kind: 's3', bucket: 'bkt', prefix: 'raftkv/prod/', object: null });
    assert.deepEqual(parseBackupLocation('s3://bkt/raftkv/prod', 'prefix'), { kind: 's3', bucket: 'bkt', prefix: 'raftkv/prod/', object: null }, 'save/list: always a prefix');
    assert.deepEqual(parseBackupLocation('s3://bkt', 'prefix'), { kind: 's3', bucket: 'bkt', prefix: '', object: null });
    assert.deepEqual(parseBackupLocation('s3://bkt/', 'prefix-or-object'), { kind: 's3', bucket: 'bkt', prefix: '', object: null });
    assert.deepEqual(parseBackupLocation('s3://bkt/p/x.snap', 'prefix-or-object'), { kind: 's3', bucket: 'bkt', prefix: 'p/', object: 'x.snap' });
    assert.deepEqual(parseBackupLocation('s3://bkt/x.snap', 'prefix-or-object'), { kind: 's3', bucket: 'bkt', prefix: '', object: 'x.snap' });
    assert.deepEqual(parseBackupLocation('S3://bkt/p/', 'prefix'), { kind: 's3', bucket: 'bkt', prefix: 'p/', object: null });
    assert.equal(formatLocation(parseBackupLocation('s3://bkt/p/x.snap', 'prefix-or-object')), 's3://bkt/p/x.snap');
  });

  test('file:// directories and files', () => {
    assert.deepEqual(parseBackupLocation('file:///var/backups/', 'prefix'), { kind: 'file', dir: '/var/backups', object: null });
    assert.deepEqual(parseBackupLocation('file://./b', 'prefix'), { kind: 'file', dir: './b', object: null });
    assert.deepEqual(parseBackupLocation('file:///var/b/x.snap', 'prefix-or-object'), { kind: 'file', dir: '/var/b', object: 'x.snap' });
    assert.deepEqual(parseBackupLocation('file:///x.snap', 'prefix-or-object'), { kind: 'file', dir: '/', object: 'x.snap' });
    assert.equal(formatLocation(parseBackupLocation('file:///var/b/', 'prefix')), 'file:///var/b/');
  });

  for (const bad of ['http://x/y', 's3://', 's3://a b/p/', 's3://bkt//p/', 's3://bkt/p//q/', `s3://bkt/${'k'.repeat(1000)}/`, 'file://', 's3://bkt/p\n/', '/plain/path']) {
    test(`refused: ${JSON.stringify(bad.slice(0, 40))}`, () => assert.throws(() => parseBackupLocation(bad, 'prefix'), LocationError));
  }
});

describe('retention', () => {
  const H = 3_600_000;
  const T = Date.UTC(2026, 11, 1);
  const at = (hoursAfterT: number, rev: number): string => snapshotNames(T + hoursAfterT * H, rev, '0000000a').final;

  test('--keep-within keeps what was taken within D of the newest (not of now), and always the newest', () => {
    const names = [at(0, 1), at(24, 2), at(100, 3), at(160, 4), at(170, 5)];
    assert.deepEqual(planRetention(names, { keep: null, keepWithinMs: 7 * 24 * H }), [at(0, 1)], '170 h - 0 h > 168 h; 170 - 24 = 146 h < 168 h');
    assert.deepEqual(planRetention(names, { keep: null, keepWithinMs: 1 }), names.slice(0, 4), 'a tiny window keeps only the newest');
    assert.deepEqual(planRetention([at(0, 1)], { keep: null, keepWithinMs: 1 }), []);
  });

  test('--keep and --keep-within together: a backup either rule keeps survives', () => {
    const names = [at(0, 1), at(1, 2), at(2, 3), at(300, 4), at(301, 5)];
    assert.deepEqual(planRetention(names, { keep: 3, keepWithinMs: 2 * H }), [at(0, 1), at(1, 2)]);
    assert.deepEqual(planRetention(names, { keep: 1, keepWithinMs: 400 * H }), []);
    assert.deepEqual(planRetention(names, { keep: 2, keepWithinMs: null }), names.slice(0, 3));
    assert.deepEqual(planRetention(['other.snap', ...names], { keep: 1, keepWithinMs: null }), names.slice(0, 4), 'strangers are never planned for deletion');
  });

  test('bad policies throw', () => {
    assert.throws(() => planRetention([], { keep: null, keepWithinMs: null }), RangeError);
    assert.throws(() => planRetention([], { keep: 0, keepWithinMs: null }), RangeError);
    assert.throws(() => planRetention([], { keep: null, keepWithinMs: 0 }), RangeError);
  });

  test('durations', () => {
    assert.equal(parseDurationMs('7d'), 7 * 24 * H);
    assert.equal(parseDurationMs('36h'), 36 * H);
    assert.equal(parseDurationMs('1d12h'), 36 * H);
    assert.equal(parseDurationMs('90m'), 1.5 * H);
    assert.equal(parseDurationMs('2w'), 14 * 24 * H);
    assert.equal(parseDurationMs('45s'), 45_000);
    for (const bad of ['', '7', 'd', '7days', '-1d', '0d', '1.5d', '7 d', '999999w']) assert.throws(() => parseDurationMs(bad), RangeError, bad);
    assert.ok(parseDurationMs('520w') <= MAX_KEEP_WITHIN_MS);
  });
});

describe('raftctl parses URL backup commands', () => {
  test('save and list forms', () => {
    assert.deepEqual(parseArgs(['snapshot', 'save', 's3://b/p/', '--keep', '3', '--keep-within', '7d', '--s3-region', 'eu-west-1'], {}).command, {
      kind: 'snapshot-url', action: { op: 'save', location: { kind: 's3', bucket: 'b', prefix: 'p/', object: null }, retention: { keep: 3, keepWithinMs: 7 * 86_400_000 }, serializable: false, s3Flags: { '--s3-region': 'eu-west-1' } },
    });
    assert.deepEqual(parseArgs(['snapshot', 'save', '--serializable', 'file:///b/'], {}).command, {
      kind: 'snapshot-url', action: { op: 'save', location: { kind: 'file', dir: '/b', object: null }, retention: null, serializable: true, s3Flags: {} },
    });
    assert.deepEqual(parseArgs(['snapshot', 'list', 's3://b'], {}).command, { kind: 'snapshot-url', action: { op: 'list', location: { kind: 's3', bucket: 'b', prefix: '', object: null }, s3Flags: {} } });
    assert.deepEqual(parseArgs(['snapshot', 'save', 'plain.snap'], {}).command, { kind: 'snapshot-save', file: 'plain.snap', serializable: false }, 'a plain path is still a file');
  });
  const bad = [
    ['snapshot', 'save', 's3://b/p/', '--keep', '0'],
    ['snapshot', 'save', 's3://b/p/', '--keep', '1001'],
    ['snapshot', 'save', 's3://b/p/', '--keep-within', '7'],
    ['snapshot', 'save', 's3://b/p/', '--keep-within'],
    ['snapshot', 'save', 's3://b/p/', 's3://b/q/'],
    ['snapshot', 'save', 's3://a b/'],
    ['snapshot', 'save', 'file:///b/', '--s3-region', 'x'],
    ['snapshot', 'save', 's3://b/p/', '--bogus'],
    ['snapshot', 'list'],
    ['snapshot', 'list', 's3://b/', '--keep', '2'],
  ];
  for (const argv of bad) test(`usage error: raftctl ${argv.join(' ')}`, () => assert.throws(() => parseArgs(argv, {}), UsageError));
});

describe('S3 options and errors', () => {
  test('flags win over the standard AWS environment; path style defaults on with a custom endpoint', () => {
    const env = { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000', AWS_ENDPOINT_URL: 'http://other:1', AWS_REGION: 'eu-west-1', AWS_CA_BUNDLE: '/ca.pem' };
    assert.deepEqual(s3OptionsFrom(new Map(), env), { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-1', pathStyle: null, caFile: '/ca.pem' });
    assert.deepEqual(s3OptionsFrom(new Map(), { AWS_ENDPOINT_URL: 'https://s3.example', AWS_DEFAULT_REGION: 'x-1' }), { endpoint: 'https://s3.example', region: 'x-1', pathStyle: null, caFile: null });
    assert.deepEqual(s3OptionsFrom(new Map([['--s3-endpoint', 'https://e'], ['--s3-path-style', 'false'], ['--s3-region', 'r'], ['--s3-ca-file', '/f']]), env), { endpoint: 'https://e', region: 'r', pathStyle: false, caFile: '/f' });
    assert.equal(s3OptionsFrom(new Map(), { RAFTKV_S3_PATH_STYLE: 'true' }).pathStyle, true);
    assert.deepEqual(s3OptionsFrom(new Map(), {}), { endpoint: null, region: null, pathStyle: null, caFile: null });
    assert.throws(() => s3OptionsFrom(new Map([['--s3-endpoint', 'ftp://x']]), {}), S3OptionsError);
    assert.throws(() => s3OptionsFrom(new Map(), { AWS_ENDPOINT_URL_S3: 'not a url' }), S3OptionsError);
    assert.throws(() => s3OptionsFrom(new Map([['--s3-path-style', 'maybe']]), {}), S3OptionsError);
  });

  test('SDK and network errors become one actionable line', () => {
    const where = { bucket: 'bkt', endpoint: 'http://127.0.0.1:9' };
    const cases: [unknown, string, RegExp][] = [
      [Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }), 'no-bucket', /bucket 'bkt' does not exist/],
      [Object.assign(new Error('UnknownError'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } }), 'no-bucket', /does not exist/],
      [Object.assign(new Error('x'), { name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }), 'access-denied', /access denied .*access key is unknown \(InvalidAccessKeyId\)/],
      [Object.assign(new Error('No user exists'), { name: 'XAdminUserNotFound', $metadata: { httpStatusCode: 404 } }), 'access-denied', /AWS_ACCESS_KEY_ID/],
      [Object.assign(new Error('x'), { name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }), 'access-denied', /secret key/],
      [Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), 'no-credentials', /AWS_ACCESS_KEY_ID/],
      [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'unreachable', /cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:9: ECONNREFUSED/],
      [new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })], 'all failed'), 'unreachable', /ECONNREFUSED/],
      [Object.assign(new Error('self-signed'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'unreachable', /--s3-ca-file/],
      [Object.assign(new Error('Region is missing'), { name: 'Error' }), 'bad-config', /AWS_REGION/],
    ];
    for (const [err, failure, re] of cases) {
      const e = describeS3Error(err, where);
      assert.equal(e.failure, failure, e.message);
      assert.match(e.message, re);
      assert.doesNotMatch(e.message, /\n/);
    }
    const missing = describeS3Error(Object.assign(new Error('x'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }), { ...where, key: 'p/o.snap' });
    assert.equal(missing.failure, 'no-object');
    assert.match(missing.message, /s3:\/\/bkt\/p\/o\.snap/);
    assert.ok(describeS3Error(new ObjectStoreError('other', 'kept'), where).message === 'kept');
  });

  test('metadata round trip; malformed metadata is null', () => {
    const m = { sha256: 'a'.repeat(64), revision: 42, index: 77, member: 'http://n1:2379/é' };
    assert.deepEqual(metaFromS3(metaToS3(m)), m);
    for (const v of Object.values(metaToS3(m))) assert.match(v, /^[\x20-\x7e]*$/, 'S3 metadata values are ASCII');
    assert.equal(metaFromS3({}), null);
    assert.equal(metaFromS3({ ...metaToS3(m), 'raftkv-sha256': 'zz' }), null);
  });
});

function backupBytes(): Buffer {
  const h: BackupHeader = { v: 1, member: 'n1', index: 5, term: 2, revision: 4, keys: 1, createdAtMs: 0, imageBytes: 3000, consistency: 'linearizable' };
  return encodeBackup(h, Buffer.alloc(3000, 7));
}

describe('VerifyingStream', () => {
  const drain = async (bytes: Buffer, expected: string | null): Promise<VerifyingStream> => {
    const v = new VerifyingStream(expected);
    const sink = new PassThrough();
    sink.resume();
    await pipeline(Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]), v, sink);
    return v;
  };

  test('passes a good backup and reports its digest', async () => {
    const b = backupBytes();
    const v = await drain(b, b.subarray(b.length - 32).toString('hex'));
    assert.equal(v.digest(), b.subarray(b.length - 32).toString('hex'));
    assert.equal(v.bytes, b.length);
  });

  test('fails a damaged or truncated backup, or one whose recorded checksum differs', async () => {
    const b = backupBytes();
    const flipped = Buffer.from(b);
    flipped[500] = (flipped[500] ?? 0) ^ 1;
    await assert.rejects(drain(flipped, null), BackupFormatError);
    await assert.rejects(drain(b.subarray(0, b.length - 10), null), BackupFormatError);
    await assert.rejects(drain(b, 'b'.repeat(64)), /differs from the recorded/);
  });
});

describe('saving into a directory store', () => {
  test('a damaged, cut or unannounced stream leaves no file (final or temp); a good one lands under a unique name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-dirstore-'));
    try {
      const store = new DirBackupStore(dir);
      const good = backupBytes();
      const sha = good.subarray(good.length - 32).toString('hex');
      const headers = new Headers({ 'x-raftkv-backup-sha256': sha, 'x-raftkv-backup-revision': '4', 'x-raftkv-backup-index': '5' });
      const damaged = Buffer.from(good);
      damaged[100] = (damaged[100] ?? 0) ^ 1;
      await assert.rejects(saveToStore({ endpoint: 't', headers, stream: Readable.from([damaged]) }, store, Date.now()), BackupFormatError);
      const cut = Readable.from((async function* () {
        yield good.subarray(0, 1000);
        throw new Error('reset');
      })());
      await assert.rejects(saveToStore({ endpoint: 't', headers, stream: cut }, store, Date.now()), /reset/);
      await assert.rejects(saveToStore({ endpoint: 't', headers: new Headers(), stream: Readable.from([good]) }, store, Date.now()), /X-Raftkv-Backup-Sha256/);
      assert.deepEqual(readdirSync(dir), []);
      const a = await saveToStore({ endpoint: 't', headers, stream: Readable.from([good]) }, store, 1_000);
      const b = await saveToStore({ endpoint: 't', headers, stream: Readable.from([good]) }, store, 1_000);
      assert.notEqual(a.name, b.name, 'same time, same revision, two names');
      assert.deepEqual(readdirSync(dir).sort(), [a.name, b.name].sort());
      assert.deepEqual(readFileSync(join(dir, a.name)), good);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('snapshot save/list file:// and restore --from file:// against a member', () => {
  let t: TestApi;
  const root = mkdtempSync(join(tmpdir(), 'raftkv-fileurl-'));
  const dir = join(root, 'backups');
  before(async () => {
    t = await startApi();
    writeFileSync(join(root, 'placeholder'), '');
  });
  after(async () => {
    await t.close();
    rmSync(root, { recursive: true, force: true });
  });
  const run = (argv: string[]): ReturnType<typeof runRaftctlCaptured> => runRaftctlCaptured(['--endpoints', t.url, ...argv]);

  test('a missing directory fails with one line, exit 1', async () => {
    const r = await run(['snapshot', 'save', `file://${dir}/`]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^raftctl: snapshot save: file:\/\/.*backups\/: ENOENT/);
    assert.equal(r.err.trim().split('\n').length, 1);
  });

  test('saves at the same revision in the same second never collide; --keep keeps the newest; list shows them', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'not ours');
    assert.equal((await run(['put', 'k', 'v'])).code, 0);
    const saved: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await run(['snapshot', 'save', `file://${dir}/`]);
      assert.equal(r.code, 0, r.err);
      const m = /^saved file:\/\/\S+\/(snapshot-\S+\.snap): member=\S+ index=\d+ revision=(\d+) bytes=(\d+) sha256=[0-9a-f]{64} ms=\d+$/m.exec(r.out);
      assert.ok(m, r.out);
      saved.push(m[1] ?? '');
    }
    assert.equal(new Set(saved).size, 4, 'four names');
    assert.equal(readdirSync(dir).filter((n) => SNAPSHOT_NAME_RE.test(n)).length, 4, 'four files: none overwrote another');
    const pruned = await run(['snapshot', 'save', `file://${dir}`, '--keep', '2']);
    assert.equal(pruned.code, 0, pruned.err);
    assert.match(pruned.out, /kept 2 backup\(s\) in file:\/\/.*; deleted 3 /);
    const left = readdirSync(dir).sort();
    assert.equal(left.filter((n) => SNAPSHOT_NAME_RE.test(n)).length, 2);
    assert.ok(left.includes('notes.txt'));
    const l = await run(['snapshot', 'list', `file://${dir}/`]);
    assert.equal(l.code, 0, l.err);
    const lines = l.out.trim().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+TAKEN\s+REVISION\s+BYTES$/);
    assert.equal(lines.length, 4);
    assert.match(lines[3] ?? '', /^2 backup\(s\) in file:\/\//);
  });

  test('restore --from file://DIR/ takes the newest; a damaged newest is refused and leaves no data dir', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => { text += c.toString(); });
    err.on('data', (c: Buffer) => { text += c.toString(); });
    const dataDir = join(root, 'restored');
    const code = await runRestore(['--from', `file://${dir}/`, '--data-dir', dataDir, '--name', 'n1', '--initial-cluster', 'n1=127.0.0.1:1'], {}, out, err);
    assert.equal(code, 0, text);
    const r = JSON.parse(text) as { restored: boolean; revision: number; source: string; metadataChecksumVerified: boolean };
    assert.equal(r.restored, true);
    const newest = readdirSync(dir).filter((n) => SNAPSHOT_NAME_RE.test(n)).sort().pop() ?? '';
    assert.equal(r.source, `file://${dir}/${newest}`);
    assert.ok(!existsSync(`${dataDir}.backup-download`), 'the downloaded copy is removed');
    // Damage the newest: the restore must refuse it.
    const f = join(dir, newest);
    const bytes = readFileSync(f);
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] ?? 0) ^ 0xff;
    writeFileSync(f, bytes);
    const err2 = new PassThrough();
    let text2 = '';
    err2.on('data', (c: Buffer) => { text2 += c.toString(); });
    const bad = await runRestore(['--from', `file://${dir}/`, '--data-dir', join(root, 'bad'), '--name', 'n1', '--initial-cluster', 'n1=127.0.0.1:1'], {}, new PassThrough(), err2);
    assert.equal(bad, 1);
    assert.match(text2, /checksum mismatch/);
    assert.ok(!existsSync(join(root, 'bad')) && !existsSync(join(root, 'bad.backup-download')));
    const usage = await runRestore(['--from', 's3://a b/', '--data-dir', join(root, 'u'), '--name', 'n1', '--initial-cluster', 'n1=127.0.0.1:1'], {}, new PassThrough(), new PassThrough());
    assert.equal(usage, 2);
  });
});
