// Day-2 pieces without a cluster: the new daemon and raftctl flags, the backup file format and
// its streaming verifier, restore argument parsing, and the slow-fsync warning.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Histogram, Registry } from 'prom-client';
import { FlagError, parseFlags } from '../../../daemon/src/config/flags.js';
import type { DaemonConfig } from '../../../daemon/src/config/flags.js';
import { UsageError, parseArgs } from '../../../daemon/src/cli/args.js';
import { parseRestoreArgs } from '../../../daemon/src/cli/restore.js';
import { BackupFormatError, BackupStreamVerifier, decodeBackup, encodeBackup } from '../../../daemon/src/server/backup-file.js';
import type { BackupHeader } from '../../../daemon/src/server/backup-file.js';
import { MIN_SAMPLES, SlowFsyncMonitor, windowQuantile } from '../../../daemon/src/server/slow-fsync.js';
import { KvStateMachine, kvCommandEncoder } from '../../../daemon/src/kv/index.js';
import { registerDiskMetrics } from '../../../daemon/src/server/disk-metrics.js';
import { tmpdir } from 'node:os';

function flags(argv: string[]): DaemonConfig {
  const r = parseFlags(['--name', 'a', ...argv], {});
  if (r.kind !== 'run') throw new Error('help');
  return r.config;
}

describe('daemon security flags', () => {
  test('peer TLS needs all three files; client TLS needs cert and key; https:// follows --cert', () => {
    assert.equal(flags([]).peerTls, null);
    assert.deepEqual(flags(['--peer-cert', 'c', '--peer-key', 'k', '--peer-ca', 'ca']).peerTls, { certFile: 'c', keyFile: 'k', caFile: 'ca' });
    assert.throws(() => flags(['--peer-cert', 'c', '--peer-key', 'k']), /go together/);
    const c = flags(['--cert', 'c', '--key', 'k', '--listen-client', 'https://127.0.0.1:2379']);
    assert.deepEqual(c.clientTls, { certFile: 'c', keyFile: 'k', requireClientCert: false });
    assert.equal(c.advertiseClientUrl, 'https://127.0.0.1:2379');
    assert.equal(flags(['--cert', 'c', '--key', 'k']).listenClientUrl, 'https://127.0.0.1:2379', 'the default listen URL follows the scheme');
    assert.equal(flags(['--cert', 'c', '--key', 'k', '--client-ca', 'x', '--listen-client', 'https://h:1']).clientTls?.requireClientCert, true);
    assert.throws(() => flags(['--cert', 'c', '--key', 'k', '--listen-client', 'http://h:1']), /use an https:\/\/ URL/);
    assert.throws(() => flags(['--listen-client', 'https://h:1']), /needs --cert and --key/);
    assert.throws(() => flags(['--client-ca', 'x']), /needs --cert and --key/);
    assert.throws(() => flags(['--cert', 'c']), /go together/);
  });

  test('auth, reload, recovery and slow-fsync flags', () => {
    const d = flags([]);
    assert.equal(d.authTokenFile, null);
    assert.deepEqual(d.authOpenPaths, ['/healthz', '/readyz', '/metrics']);
    assert.equal(d.credentialReloadIntervalMs, 5000);
    assert.equal(d.forceNewCluster, false);
    assert.equal(d.slowFsyncThresholdMs, 1000);
    const c = flags(['--auth-token-file', '/t', '--auth-open-paths', 'none', '--force-new-cluster', '--slow-fsync-threshold-ms', '50', '--credential-reload-interval-ms', '0']);
    assert.equal(c.authTokenFile, '/t');
    assert.deepEqual(c.authOpenPaths, []);
    assert.equal(c.forceNewCluster, true);
    assert.equal(c.slowFsyncThresholdMs, 50);
    assert.equal(c.credentialReloadIntervalMs, 0);
    assert.deepEqual(flags(['--auth-open-paths', '/healthz']).authOpenPaths, ['/healthz']);
    assert.throws(() => flags(['--auth-open-paths', '/v1/status']), FlagError);
    assert.throws(() => flags(['--slow-fsync-window-ms', '10']), /at least 1000/);
    const env = parseFlags(['--name', 'a'], { RAFTKV_AUTH_TOKEN_FILE: '/e', RAFTKV_PEER_CERT: 'c', RAFTKV_PEER_KEY: 'k', RAFTKV_PEER_CA: 'ca' });
    assert.ok(env.kind === 'run' && env.config.authTokenFile === '/e' && env.config.peerTls !== null);
  });
});

describe('raftctl credentials and snapshot save', () => {
  test('--token / RAFTKV_TOKEN, --cacert/--cert/--key, https endpoints, snapshot save', () => {
    const p = parseArgs(['--endpoints', 'https://a:1', '--token', 'tok', '--cacert', 'ca.pem', '--cert', 'c.pem', '--key', 'k.pem', 'snapshot', 'save', 'out.bak'], {});
    assert.deepEqual(p.options.endpoints, ['https://a:1']);
    assert.equal(p.options.token, 'tok');
    assert.deepEqual(p.options.tls, { caFile: 'ca.pem', certFile: 'c.pem', keyFile: 'k.pem' });
    assert.deepEqual(p.command, { kind: 'snapshot-save', file: 'out.bak', serializable: false });
    const e = parseArgs(['snapshot', 'save', 'x', '--serializable'], { RAFTKV_TOKEN: 'from-env', RAFTKV_CACERT: 'env-ca' });
    assert.equal(e.options.token, 'from-env');
    assert.equal(e.options.tls.caFile, 'env-ca');
    assert.deepEqual(e.command, { kind: 'snapshot-save', file: 'x', serializable: true });
    assert.equal(parseArgs(['--token', 'flag', 'status'], { RAFTKV_TOKEN: 'env' }).options.token, 'flag', 'the flag wins');
    assert.deepEqual(parseArgs(['snapshot'], {}).command, { kind: 'snapshot' });
    assert.throws(() => parseArgs(['--cert', 'c', 'status'], {}), /--cert and --key go together/);
    assert.throws(() => parseArgs(['snapshot', 'save'], {}), UsageError);
    assert.throws(() => parseArgs(['--endpoints', 'ftp://x:1', 'status'], {}), UsageError);
  });

  test('restore arguments', () => {
    const r = parseRestoreArgs(['--from', 'f', '--data-dir', 'd', '--name', 'n1', '--initial-cluster', 'n1=h:1,n2=h:2'], {});
    assert.deepEqual(r, { from: 'f', dataDir: 'd', name: 'n1', initialCluster: [{ name: 'n1', peerAddress: 'h:1' }, { name: 'n2', peerAddress: 'h:2' }], clusterToken: 'raftkv', skipIfInitialized: false, initialClusterState: 'new', s3Flags: new Map(), target: null });
    const s3 = parseRestoreArgs(['--from', 's3://b/p/', '--data-dir', 'd', '--name', 'n1', '--initial-cluster', 'n1=h:1', '--s3-region', 'eu-west-1'], { RAFTKV_S3_ENDPOINT: 'http://127.0.0.1:9000', RAFTKV_S3_PATH_STYLE: '' });
    assert.deepEqual(s3.s3Flags, new Map([['--s3-endpoint', 'http://127.0.0.1:9000'], ['--s3-region', 'eu-west-1']]), 'flags, RAFTKV_S3_* (empty = unset)');
    assert.equal(parseRestoreArgs(['--from=f', '--data-dir=d', '--name=n1', '--initial-cluster=n1=h:1', '--cluster-token=t2'], {}).clusterToken, 't2');
    assert.throws(() => parseRestoreArgs(['--from', 'f'], {}), /--data-dir is required/);
    assert.throws(() => parseRestoreArgs(['--bogus', 'x'], {}), /unknown flag/);
  });
});

describe('backup file', () => {
  const kv = new KvStateMachine();
  kv.apply(1, 1, kvCommandEncoder.put({ key: 'a', value: new TextEncoder().encode('1'), proposedAtMs: 1 }));
  kv.apply(2, 1, kvCommandEncoder.put({ key: 'b', value: new TextEncoder().encode('2'), proposedAtMs: 2 }));
  const image = kv.snapshot();
  const header: BackupHeader = { v: 1, member: 'n1', index: 2, term: 1, revision: kv.revision, keys: 2, createdAtMs: 5, imageBytes: image.length, consistency: 'linearizable' };

  test('round trip; any damaged byte or truncation is refused', () => {
    const file = encodeBackup(header, image);
    const d = decodeBackup(file);
    assert.deepEqual(d.header, header);
    assert.deepEqual(Buffer.from(d.image), Buffer.from(image));
    for (const at of [0, 9, 20, file.length - 40, file.length - 1]) {
      const bad = Buffer.from(file);
      bad.writeUInt8(bad.readUInt8(at) ^ 0x01, at);
      assert.throws(() => decodeBackup(bad), BackupFormatError, `flip at ${at}`);
    }
    assert.throws(() => decodeBackup(file.subarray(0, file.length - 1)), BackupFormatError);
    assert.throws(() => decodeBackup(Buffer.from('hello')), /not a raftkv backup/);
  });

  test('the streaming verifier accepts the file in any chunking and refuses a damaged stream', () => {
    const file = encodeBackup(header, image);
    for (const size of [1, 7, 32, 33, file.length]) {
      const v = new BackupStreamVerifier();
      for (let off = 0; off < file.length; off += size) v.push(file.subarray(off, off + size));
      assert.equal(v.finish(), decodeBackup(file).sha256);
    }
    const cut = new BackupStreamVerifier();
    cut.push(file.subarray(0, file.length - 10));
    assert.throws(() => cut.finish(), BackupFormatError);
  });
});

describe('slow fsync warning', () => {
  function histogram(): Histogram {
    return new Histogram({ name: 'raftkv_disk_wal_fsync_duration_seconds', help: 'h', buckets: [0.001, 0.01, 0.1, 1], registers: [new Registry()] });
  }

  test('windowQuantile interpolates inside the bucket and needs enough samples', () => {
    const before = new Map([[0.01, 0], [0.1, 0], [Infinity, 0]]);
    const after = new Map([[0.01, 50], [0.1, 100], [Infinity, 100]]);
    const q = windowQuantile(before, after, 0.99);
    assert.ok(q && Math.abs(q.value - (0.01 + 0.09 * (49 / 50))) < 1e-9, JSON.stringify(q));
    assert.equal(windowQuantile(before, new Map([[0.01, MIN_SAMPLES - 1], [0.1, MIN_SAMPLES - 1], [Infinity, MIN_SAMPLES - 1]]), 0.99), null);
  });

  test('warns once per window when p99 passes the threshold, not for a fast disk or an earlier slow window', async () => {
    const h = histogram();
    const warnings: Record<string, unknown>[] = [];
    const m = new SlowFsyncMonitor(h, 50, 60_000, { warn: (o) => warnings.push(o) });
    await m.start();
    for (let i = 0; i < 200; i++) h.observe(0.0005);
    assert.equal(await m.check(), false, 'fast disk: no warning');
    for (let i = 0; i < 100; i++) h.observe(i < 95 ? 0.0005 : 0.5);
    assert.equal(await m.check(), true, 'slow tail in this window');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.['event'], 'slow_fsync');
    assert.ok(Number(warnings[0]?.['p99Ms']) > 50);
    for (let i = 0; i < 200; i++) h.observe(0.0005);
    assert.equal(await m.check(), false, 'the next window is fast again: the old slow samples do not count');
    m.stop();
  });
});

test('data dir free/total bytes are exported at scrape time; a vanished dir keeps the last values', async () => {
  const r = new Registry();
  registerDiskMetrics(r, tmpdir());
  const value = async (name: string): Promise<number> => (await r.getSingleMetric(name)?.get())?.values[0]?.value ?? -1;
  const free = await value('raftkv_disk_data_dir_free_bytes');
  const total = await value('raftkv_disk_data_dir_total_bytes');
  assert.ok(free > 0 && total >= free, `free ${free} total ${total}`);
  const gone = new Registry();
  registerDiskMetrics(gone, '/nonexistent/raftkv-data');
  assert.match(await gone.metrics(), /raftkv_disk_data_dir_free_bytes\{?[^\n]*\}? 0/);
});
