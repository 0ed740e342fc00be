// Backups to a real S3 server (Versity S3 Gateway, POSIX backend, test/lib/s3-server.ts) with
// real processes: `raftctl snapshot save s3://bucket/prefix/` from a running 3-member cluster with
// nothing but the standard AWS environment (AWS_ENDPOINT_URL_S3 and keys), a backup above the
// multipart part size, two saves at the same revision that do not collide, `snapshot list`,
// --keep and --keep-within, the SHA-256 recorded on each object; `raftkv restore --from` the
// newest under the prefix into a NEW 3-member cluster and a named object into a 1-member one,
// both serving exactly the data of their backup. Every error case gives one line and exit 1: a
// wrong bucket, a bad secret, no credentials, an unreachable endpoint, a missing object, a
// damaged object. Sizes and timings are printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, http, raftkvCommand, sleep, waitFor, withCluster } from '../lib/cluster-harness.js';
import type { Cluster } from '../lib/cluster-harness.js';
import { S3TestServer } from '../lib/s3-server.js';
import { CertDir } from '../unit/security/certs.js';
import { Readable } from 'node:stream';
import { ObjectStore } from '../../daemon/src/backup/object-store.js';
import { s3OptionsFrom } from '../../daemon/src/backup/s3-options.js';
import { S3BackupStore } from '../../daemon/src/backup/s3-backup-store.js';
import { saveToStore } from '../../daemon/src/backup/transfer.js';
import { BackupFormatError, encodeBackup } from '../../daemon/src/server/backup-file.js';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { put } from './client.js';
import { HandMember, raftctl, run } from './security-support.js';
import type { RunResult } from './security-support.js';

const BUCKET = 'raftkv-backups';
const PREFIX = `s3://${BUCKET}/prod/`;
const SMALL_KEYS = 1500;
/** 100 values of 100 KiB: the backup is above the 8 MiB part size, so it goes up in parts. */
const BIG_VALUES = 100;
const BIG_VALUE_BYTES = 100 * 1024;

interface Listing {
  readonly kvs: readonly { key: string; value: string; modRevision: number; createRevision: number }[];
  readonly more: boolean;
  readonly revision: number;
}

async function writeMany(c: Cluster, prefix: string, count: number, valueOf: (i: number) => string, workers = 8): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let i = next++; i < count; i = next++) {
      const r = await put(c, `${prefix}/${String(i).padStart(5, '0')}`, valueOf(i));
      assert.equal(r.status, 200, r.text);
    }
  }));
}

async function listAll(base: string): Promise<Listing> {
  const r = await http(`${base}/v1/kv?prefix=&limit=10000`, { timeoutMs: 30_000 });
  assert.equal(r.status, 200, r.text);
  const l = r.json as Listing;
  assert.equal(l.more, false);
  return l;
}

interface Saved {
  readonly url: string;
  readonly name: string;
  readonly revision: number;
  readonly bytes: number;
  readonly sha256: string;
  readonly ms: number;
  readonly wallMs: number;
}

function parseSaved(r: RunResult): Saved {
  assert.equal(r.code, 0, r.stderr);
  const m = /^saved (s3:\/\/\S+\/(snapshot-\S+\.snap)): member=\S+ index=\d+ revision=(\d+) bytes=(\d+) sha256=([0-9a-f]{64}) ms=(\d+)$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  return { url: m[1] ?? '', name: m[2] ?? '', revision: Number(m[3]), bytes: Number(m[4]), sha256: m[5] ?? '', ms: Number(m[6]), wallMs: r.ms };
}

/** One line on stderr, exit 1, no stack trace. */
function assertOneLineFailure(r: RunResult, re: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit code (stdout ${r.stdout}, stderr ${r.stderr})`);
  assert.match(r.stderr, re, what);
  assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack`);
}

test('snapshot save/list/retention on a real S3 server; restore the newest and a named backup into new clusters', { timeout: 420_000 }, async () => {
  const s3 = await S3TestServer.start('s3-backup');
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-s3-restore-'));
  const members: HandMember[] = [];
  const sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } });
  try {
    await s3.createBucket(BUCKET);
    const env = s3.env();
    const figures: string[] = [];
    let listingB: Listing | undefined;
    let listingD: Listing | undefined;
    let savedD: Saved | undefined;
    let restoredB: { file: string; index: number } | undefined;
    const initialB = `r0=127.0.0.1:${await freePort()}`;
    await withCluster('backup-s3', { members: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      await writeMany(c, 'small', SMALL_KEYS, (i) => `value-${i}-${'x'.repeat(i % 50)}`);
      await writeMany(c, 'big', BIG_VALUES, (i) => String(i % 10).repeat(BIG_VALUE_BYTES), 4);
      listingB = await listAll(leader.clientUrl);
      const endpoints = c.running().map((m) => m.clientUrl).join(',');

      // Errors first: each is one line and exit 1, and nothing is written.
      assertOneLineFailure(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', `s3://no-such-bucket/prod/`], env), /bucket 'no-such-bucket' does not exist/, 'wrong bucket');
      assertOneLineFailure(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-secret' }), /access denied .*SignatureDoesNotMatch|access denied/, 'bad secret');
      assertOneLineFailure(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], { ...env, AWS_ACCESS_KEY_ID: 'nobody' }), /access denied/, 'unknown access key');
      assertOneLineFailure(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], { ...env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }), /no AWS credentials found/, 'no credentials');
      const deadPort = await freePort();
      const unreachable = await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], { ...env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${deadPort}` });
      assertOneLineFailure(unreachable, new RegExp(`cannot reach the S3 endpoint http://127\\.0\\.0\\.1:${deadPort}: ECONNREFUSED`), 'unreachable endpoint');
      figures.push(`unreachable endpoint fails after ${unreachable.ms} ms (SDK retries with backoff)`);
      const badUsage = await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], { ...env, AWS_ENDPOINT_URL_S3: 'ftp://x' });
      assert.equal(badUsage.code, 2, badUsage.stderr);

      // Two saves at the same revision, straight after each other: two objects.
      const a = parseSaved(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], env, 120_000));
      const b = parseSaved(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX], env, 120_000));
      assert.equal(a.revision, listingB.revision);
      assert.equal(b.revision, a.revision);
      assert.notEqual(a.name, b.name, 'same revision, same second: different names');
      assert.ok(b.bytes > 8 * 1024 * 1024, `a multipart-sized backup (${b.bytes} bytes)`);
      figures.push(`save of ${listingB.kvs.length} keys (${SMALL_KEYS} small, ${BIG_VALUES} of ${BIG_VALUE_BYTES / 1024} KiB): ${b.bytes} bytes in ${b.ms} ms streaming, ${b.wallMs} ms raftctl wall`);

      // The object records the member's SHA-256, and holds exactly the verified bytes.
      const head = await sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `prod/${b.name}` }));
      assert.equal(head.Metadata?.['raftkv-sha256'], b.sha256);
      assert.equal(head.ContentLength, b.bytes);
      assert.equal(head.Metadata?.['raftkv-revision'], String(b.revision));

      const listed = await raftctl(['snapshot', 'list', PREFIX], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, new RegExp(`${a.name}\\s+\\S+\\s+${a.revision}\\s+${a.bytes}\\n${b.name}\\s`));
      assert.match(listed.stdout, /2 backup\(s\) in s3:\/\/raftkv-backups\/prod\//);

      // Restore B by its object URL into a data dir now (B is pruned below); started later.
      const rb = await run([...raftkvCommand(), 'restore', '--from', b.url, '--data-dir', join(dir, 'r0'), '--name', 'r0', '--initial-cluster', initialB, '--cluster-token', 'from-b'], env, 120_000);
      assert.equal(rb.code, 0, rb.stderr);
      const rbOut = JSON.parse(rb.stdout) as { revision: number; index: number; source: string; metadataChecksumVerified: boolean };
      assert.equal(rbOut.revision, b.revision);
      assert.equal(rbOut.source, b.url);
      assert.equal(rbOut.metadataChecksumVerified, true);
      restoredB = { file: b.url, index: rbOut.index };

      // Retention: C with --keep 2 deletes A (the oldest); nothing else.
      await writeMany(c, 'later', 200, (i) => `later-${i}`);
      const cSaved = parseSaved(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX, '--keep', '2'], env, 120_000));
      assert.ok(cSaved.revision > b.revision);
      const afterKeep = await raftctl(['snapshot', 'list', PREFIX], env);
      assert.ok(!afterKeep.stdout.includes(a.name) && afterKeep.stdout.includes(b.name) && afterKeep.stdout.includes(cSaved.name), afterKeep.stdout);
      // --keep-within 1s, 1.2 s later: only the new one is within 1 s of the newest.
      await sleep(1200);
      await writeMany(c, 'last', 50, (i) => `last-${i}`);
      listingD = await listAll(leader.clientUrl);
      savedD = parseSaved(await raftctl(['--endpoints', endpoints, 'snapshot', 'save', PREFIX, '--keep-within', '1s'], env, 120_000));
      assert.equal(savedD.revision, listingD.revision);
      const afterWithin = await raftctl(['snapshot', 'list', PREFIX], env);
      assert.match(afterWithin.stdout, /1 backup\(s\) in /, afterWithin.stdout);
      assert.ok(afterWithin.stdout.includes(savedD.name));

      // Written after the last save: must not be in the restored cluster.
      await writeMany(c, 'after', 20, (i) => `after-${i}`);
    });
    assert.ok(listingB && listingD && savedD && restoredB);

    // Restore errors: a missing object, a damaged object (the stored bytes flipped, metadata kept).
    const base = ['--data-dir', join(dir, 'bad'), '--name', 'x1', '--initial-cluster', 'x1=127.0.0.1:1'];
    const missing = await run([...raftkvCommand(), 'restore', '--from', `${PREFIX}snapshot-20200101T000000.000Z-rev1-00000000.snap`, ...base], s3.env());
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no backup named snapshot-20200101T000000\.000Z-rev1-00000000\.snap under s3:\/\//);
    const emptyPrefix = await run([...raftkvCommand(), 'restore', '--from', `s3://${BUCKET}/nothing-here/`, ...base], s3.env());
    assert.equal(emptyPrefix.code, 1);
    assert.match(emptyPrefix.stderr, /no backups under s3:\/\/raftkv-backups\/nothing-here\//);
    const wrongBucket = await run([...raftkvCommand(), 'restore', '--from', 's3://no-such-bucket/prod/', ...base], s3.env());
    assert.equal(wrongBucket.code, 1);
    assert.match(wrongBucket.stderr, /bucket 'no-such-bucket' does not exist/);
    const original = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: `prod/${savedD.name}` }));
    const bytes = Buffer.from(await original.Body?.transformToByteArray() ?? new Uint8Array());
    const damaged = Buffer.from(bytes);
    damaged[Math.floor(damaged.length / 2)] = (damaged[Math.floor(damaged.length / 2)] ?? 0) ^ 0xff;
    const damagedName = savedD.name.replace(/-([0-9a-f]{8})\.snap$/, '-deadbeef.snap');
    await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: `prod/${damagedName}`, Body: damaged, Metadata: original.Metadata ?? {} }));
    const bad = await run([...raftkvCommand(), 'restore', '--from', `${PREFIX}${damagedName}`, ...base], s3.env());
    assert.equal(bad.code, 1, bad.stdout);
    assert.match(bad.stderr, /checksum mismatch|differs from the recorded/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    const { existsSync } = await import('node:fs');
    assert.ok(!existsSync(join(dir, 'bad')) && !existsSync(join(dir, 'bad.backup-download')), 'a refused restore leaves nothing behind');
    // The damaged copy must not shadow the real newest for `--from PREFIX` below.
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    await sdk.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `prod/${damagedName}` }));

    // The newest (D) into a NEW 3-member cluster, with nothing but the AWS environment.
    const names = ['r1', 'r2', 'r3'];
    const ports = await Promise.all(names.map(async () => ({ client: await freePort(), peer: await freePort() })));
    const initial = names.map((n, i) => `${n}=127.0.0.1:${ports[i]?.peer}`).join(',');
    for (const [i, n] of names.entries()) {
      const r = await run([...raftkvCommand(), 'restore', '--from', PREFIX, '--data-dir', join(dir, n), '--name', n, '--initial-cluster', initial, '--cluster-token', 'from-s3'], s3.env(), 120_000);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { revision: number; source: string; downloadMs: number; durationMs: number; totalMs: number };
      assert.equal(out.source, savedD.url, 'the newest backup under the prefix');
      assert.equal(out.revision, savedD.revision);
      figures.push(`${n}: restore from S3 ${out.totalMs} ms (download+verify ${out.downloadMs} ms, data dir ${out.durationMs} ms), ${r.ms} ms wall`);
      const p = ports[i];
      assert.ok(p);
      members.push(new HandMember(n, [
        '--name', n, '--data-dir', join(dir, n), '--listen-client', `http://127.0.0.1:${p.client}`, '--listen-peer', `127.0.0.1:${p.peer}`,
        '--initial-cluster', initial, '--cluster-token', 'from-s3', '--election-timeout-ms', '1000',
      ], join(dir, `${n}.log`)));
    }
    const bClient = await freePort();
    const bPeer = initialB.split(':')[1] ?? '';
    members.push(new HandMember('r0', [
      '--name', 'r0', '--data-dir', join(dir, 'r0'), '--listen-client', `http://127.0.0.1:${bClient}`, '--listen-peer', `127.0.0.1:${bPeer}`,
      '--initial-cluster', initialB, '--cluster-token', 'from-b', '--election-timeout-ms', '1000',
    ], join(dir, 'r0.log')));
    const t0 = Date.now();
    for (const m of members) m.start();
    const urls = ports.map((p) => `http://127.0.0.1:${p.client}`);
    const bUrl = `http://127.0.0.1:${bClient}`;
    await waitFor('every restored member ready', 60_000, async () => {
      const rs = await Promise.all([...urls, bUrl].map((u) => http(`${u}/readyz`, { timeoutMs: 1000 }).catch(() => null)));
      return rs.every((r) => r?.status === 200) ? true : null;
    });
    figures.push(`start -> 4 restored members ready: ${Date.now() - t0} ms`);
    for (const u of urls) {
      const l = await listAll(u);
      assert.equal(l.revision, listingD.revision, `${u}: revision`);
      assert.deepEqual(l.kvs, listingD.kvs, `${u}: the data of the newest backup, nothing written after it`);
    }
    const lb = await listAll(bUrl);
    assert.equal(lb.revision, listingB.revision);
    assert.deepEqual(lb.kvs, listingB.kvs, 'the named backup B: its own data');
    process.stdout.write(`# s3 backup figures: ${figures.join('; ')}\n`);
  } finally {
    for (const m of members) await m.stop();
    sdk.destroy();
    s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an https:// S3 endpoint with a private CA: refused without the CA, saved, listed and restored with --s3-ca-file or AWS_CA_BUNDLE', { timeout: 180_000 }, async () => {
  const certs = new CertDir();
  const ca = certs.ca('s3-ca');
  const leaf = certs.leaf('s3-server', ca);
  const s3 = await S3TestServer.start('s3-tls', { certFile: leaf.cert, keyFile: leaf.key, caFile: ca.cert });
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-s3-tls-'));
  try {
    await s3.createBucket(BUCKET);
    const env = s3.env();
    assert.match(env['AWS_ENDPOINT_URL_S3'] ?? '', /^https:\/\//);
    await withCluster('backup-s3-tls', { members: 1 }, async (c) => {
      await c.waitForLeader();
      assert.equal((await put(c, 'k', 'v')).status, 200);
      const endpoint = c.running()[0]?.clientUrl ?? '';
      assertOneLineFailure(await raftctl(['--endpoints', endpoint, 'snapshot', 'save', PREFIX], env), /TLS to https:\/\/127\.0\.0\.1:\d+ failed \(\w+\): give the store's CA with --s3-ca-file/, 'unknown CA');
      const saved = parseSaved(await raftctl(['--endpoints', endpoint, 'snapshot', 'save', PREFIX, '--s3-ca-file', ca.cert], env));
      const listed = await raftctl(['snapshot', 'list', PREFIX], { ...env, AWS_CA_BUNDLE: ca.cert });
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok(listed.stdout.includes(saved.name), listed.stdout);
      const r = await run([...raftkvCommand(), 'restore', '--from', PREFIX, '--data-dir', join(dir, 'm1'), '--name', 'm1', '--initial-cluster', 'm1=127.0.0.1:1'], { ...env, AWS_CA_BUNDLE: ca.cert }, 60_000);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { revision: number }).revision, saved.revision);
    });
  } finally {
    s3.stop();
    certs.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged or cut backup stream never becomes an object: the multipart upload is aborted', { timeout: 120_000 }, async () => {
  const s3 = await S3TestServer.start('s3-abort');
  const sdk = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey } });
  try {
    await s3.createBucket(BUCKET);
    const image = Buffer.alloc(20 * 1024 * 1024, 3);
    const good = encodeBackup({ v: 1, member: 'n1', index: 9, term: 2, revision: 8, keys: 1, createdAtMs: 0, imageBytes: image.length, consistency: 'linearizable' }, image);
    const sha = good.subarray(good.length - 32).toString('hex');
    const headers = new Headers({ 'x-raftkv-backup-sha256': sha, 'x-raftkv-backup-revision': '8', 'x-raftkv-backup-index': '9' });
    const chunks = (b: Buffer): Buffer[] => Array.from({ length: Math.ceil(b.length / 65536) }, (_, i) => b.subarray(i * 65536, (i + 1) * 65536));
    const env = s3.env();
    // In process: the SDK's credential chain reads this process's environment.
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const store = new S3BackupStore(ObjectStore.open(BUCKET, s3OptionsFrom(new Map(), env)), 'prod/');
    try {
      const damaged = Buffer.from(good);
      damaged[damaged.length - 100] = (damaged[damaged.length - 100] ?? 0) ^ 1;
      await assert.rejects(saveToStore({ endpoint: 'test', headers, stream: Readable.from(chunks(damaged)) }, store, Date.now()), BackupFormatError);
      const cut = Readable.from((async function* () {
        for (const c of chunks(good.subarray(0, 12 * 1024 * 1024))) yield c;
        throw new Error('member connection reset');
      })());
      await assert.rejects(saveToStore({ endpoint: 'test', headers, stream: cut }, store, Date.now()), /member connection reset/);
      assert.deepEqual(await store.list(), [], 'no object from a damaged or cut stream');
      const uploads = await sdk.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
      assert.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload left open');
      const ok = await saveToStore({ endpoint: 'test', headers, stream: Readable.from(chunks(good)) }, store, Date.now());
      assert.equal(ok.bytes, good.length);
      assert.equal(ok.sha256, sha);
      assert.equal((await store.list()).length, 1);
    } finally {
      store.close();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  } finally {
    sdk.destroy();
    s3.stop();
  }
});
