import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, envNameOf, helpText, parseFlags, parseInitialCluster } from '../../../daemon/src/config/flags.js';
import type { DaemonConfig } from '../../../daemon/src/config/flags.js';
import { RAFTKV_VERSION } from '../../../daemon/src/version.js';
import { LIMITS, LimitError, assertLimits, electionTicksOf } from '../../../daemon/src/config/limits.js';

function run(argv: string[], env: Record<string, string> = {}): DaemonConfig {
  const r = parseFlags(argv, env);
  assert.equal(r.kind, 'run');
  if (r.kind !== 'run') throw new Error('unreachable');
  return r.config;
}

test('defaults are the documented ones (raftkv --help)', () => {
  const c = run([], { HOSTNAME: 'pod-0' });
  assert.equal(c.name, 'pod-0');
  assert.equal(c.dataDir, './data/pod-0');
  assert.equal(c.listenClientUrl, 'http://127.0.0.1:2379');
  assert.equal(c.advertiseClientUrl, 'http://127.0.0.1:2379');
  assert.equal(c.listenPeer, '127.0.0.1:2380');
  assert.equal(c.advertisePeer, '127.0.0.1:2380');
  assert.deepEqual(c.initialCluster, [{ name: 'pod-0', peerAddress: '127.0.0.1:2380' }]);
  assert.equal(c.initialClusterState, 'new');
  assert.equal(c.electionTimeoutMs, 1000);
  assert.equal(c.heartbeatIntervalMs, 100);
  assert.equal(c.snapshotEntries, 10000);
  assert.equal(c.maxRequestBytes, 1572864);
  assert.equal(c.enableFaultInjection, false);
  assert.equal(c.leaseRead, true);
});

test('flags win over environment variables, which win over defaults', () => {
  const env = { RAFTKV_NAME: 'from-env', RAFTKV_SNAPSHOT_ENTRIES: '77', RAFTKV_ENABLE_FAULT_INJECTION: 'true' };
  const c = run(['--name', 'from-flag'], env);
  assert.equal(c.name, 'from-flag');
  assert.equal(c.snapshotEntries, 77);
  assert.equal(c.enableFaultInjection, true);
  assert.equal(run(['--snapshot-entries=5'], env).snapshotEntries, 5);
  assert.equal(envNameOf('election-timeout-ms'), 'RAFTKV_ELECTION_TIMEOUT_MS');
});

test('advertise addresses default to the listen ones', () => {
  const c = run(['--name', 'a', '--listen-client', 'http://127.0.0.2:9000', '--listen-peer', '127.0.0.2:9001']);
  assert.equal(c.advertiseClientUrl, 'http://127.0.0.2:9000');
  assert.equal(c.advertisePeer, '127.0.0.2:9001');
});

test('bool flags: bare, =false, and a following true/false', () => {
  assert.equal(run(['--name', 'a', '--enable-fault-injection']).enableFaultInjection, true);
  assert.equal(run(['--name', 'a', '--lease-read=false']).leaseRead, false);
  assert.equal(run(['--name', 'a', '--lease-read', 'false']).leaseRead, false);
});

test('--initial-cluster parses and must name this member for a new cluster', () => {
  assert.deepEqual(parseInitialCluster('n1=127.0.0.1:1,n2=http://h:2'), [
    { name: 'n1', peerAddress: '127.0.0.1:1' },
    { name: 'n2', peerAddress: 'h:2' },
  ]);
  assert.throws(() => run(['--name', 'n3', '--initial-cluster', 'n1=h:1,n2=h:2']), FlagError);
  // A joining member need not be in the initial list.
  assert.equal(run(['--name', 'n3', '--initial-cluster', 'n1=h:1', '--initial-cluster-state', 'existing']).initialClusterState, 'existing');
  assert.throws(() => parseInitialCluster('n1=h:1,n1=h:2'), /twice/);
  assert.throws(() => parseInitialCluster('n1'), FlagError);
  assert.throws(() => parseInitialCluster('n1=nohost'), FlagError);
});

test('bad flags are FlagErrors', () => {
  const bad: string[][] = [
    ['--bogus'],
    ['--name'],
    ['--name', 'a', '--election-timeout-ms', 'ten'],
    ['--name', 'a', '--election-timeout-ms', '-5'],
    ['--name', 'a', '--initial-cluster-state', 'maybe'],
    ['--name', 'a', '--listen-client', 'https://x:1'],
    ['--name', 'a', '--listen-client', 'http://x'],
    ['--name', 'a', '--listen-peer', 'x:99999'],
    ['--name', 'a', '--log-level', 'loud'],
    ['--name', 'bad name'],
    ['positional'],
    ['--name', 'a', '--lease-read=perhaps'],
  ];
  for (const argv of bad) assert.throws(() => parseFlags(argv, {}), FlagError, argv.join(' '));
});

test('bounds that do not fit together are refused at startup', () => {
  // Election timeout under 5 heartbeats.
  assert.throws(() => run(['--name', 'a', '--election-timeout-ms', '300', '--heartbeat-interval-ms', '100']), /at least 5/);
  // Request timeout shorter than an election.
  assert.throws(() => run(['--name', 'a', '--request-timeout-ms', '500']), /request-timeout/);
  assert.throws(() => run(['--name', 'a', '--max-request-bytes', String(LIMITS.maxUncommittedBytes)]), /max-request-bytes/);
  assert.throws(() => assertLimits({ electionTimeoutMs: 1000, heartbeatIntervalMs: 0, snapshotEntries: 1, maxRequestBytes: 4096, requestTimeoutMs: 2000, maxPendingProposals: 1, idempotencyBudgetBytes: 1 << 20, maxSessions: 10 }), LimitError);
  assert.doesNotThrow(() => assertLimits({ electionTimeoutMs: 500, heartbeatIntervalMs: 100, snapshotEntries: 1, maxRequestBytes: 4096, requestTimeoutMs: 500, maxPendingProposals: 1, idempotencyBudgetBytes: 1 << 20, maxSessions: 10 }));
});

test('election ticks: one tick per heartbeat interval', () => {
  assert.equal(electionTicksOf({ electionTimeoutMs: 1000, heartbeatIntervalMs: 100 }), 10);
  assert.equal(electionTicksOf({ electionTimeoutMs: 500, heartbeatIntervalMs: 100 }), 5);
});

test('--help returns the help text listing every flag with its env variable', () => {
  const r = parseFlags(['--name', 'a', '--help'], {});
  assert.equal(r.kind, 'help');
  const text = helpText();
  for (const f of ['--name', '--data-dir', '--initial-cluster-state', '--snapshot-entries', '--enable-fault-injection', '--request-timeout-ms', '--max-pending-proposals', '--log-level', '--cluster-token', '--lease-read']) {
    assert.ok(text.includes(f), f);
  }
  assert.ok(text.includes('RAFTKV_MAX_REQUEST_BYTES'));
  assert.match(text, /raftkv restore --from FILE/, 'the restore command is named');
  assert.match(text, /--version/);
});

test('--version prints the version and exits 0', () => {
  const r = parseFlags(['--version'], {});
  assert.equal(r.kind, 'help');
  if (r.kind === 'help') assert.match(r.text, new RegExp(`^raftkv version ${RAFTKV_VERSION.replace(/\./g, '\\.')} `));
});
