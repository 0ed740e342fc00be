// The process contract of `raftkv`: bad flags exit 2 with the usage line, --help exits 0,
// a data dir of another member exits 1 with a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Cluster, raftkvCommand } from '../lib/cluster-harness.js';

function runRaftkv(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const [cmd, ...pre] = raftkvCommand();
  assert.ok(cmd);
  const r = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('bad flags exit 2 with the usage line on stderr', () => {
  for (const args of [['--bogus'], ['--name', 'a', '--election-timeout-ms', 'soon'], ['--name', 'a', '--initial-cluster-state', 'maybe'], ['--name', 'a', '--election-timeout-ms', '200', '--heartbeat-interval-ms', '100']]) {
    const r = runRaftkv(args);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${String(r.status)} ${r.stderr}`);
    assert.match(r.stderr, /usage: raftkv/, args.join(' '));
  }
  const env = runRaftkv(['--name', 'a'], { RAFTKV_SNAPSHOT_ENTRIES: 'many' });
  assert.equal(env.status, 2, env.stderr);
});

test('--help prints every flag and exits 0', () => {
  const r = runRaftkv(['--help']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /--initial-cluster-state/);
  assert.match(r.stdout, /RAFTKV_DATA_DIR/);
});

test('a data dir that belongs to another member is refused with exit 1', async () => {
  const c = await Cluster.start({ members: 1 });
  try {
    const m = c.members[0];
    assert.ok(m);
    await c.waitForLeader();
    const info = await c.terminate(m);
    assert.equal(info.code, 0);
    const r = runRaftkv(['--name', 'someone-else', '--data-dir', m.dataDir, '--listen-client', 'http://127.0.0.1:0', '--listen-peer', '127.0.0.1:1', '--initial-cluster', 'someone-else=127.0.0.1:1']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /belongs to member/);
  } finally {
    await c.destroy();
  }
});
