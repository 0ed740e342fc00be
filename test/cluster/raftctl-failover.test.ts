// raftctl as a user runs it (the repository's bin/raftctl) through a kill -9 of the leader: a
// `raftctl put` started right after the kill, with the dead leader as its first endpoint,
// succeeds without the user retrying (raftctl retries across the endpoints, following the new
// leader, until its --timeout). Prints how long each put took. When every member is down, it
// fails naming each endpoint and what it answered.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster, repoRoot } from '../lib/cluster-harness.js';
import type { ClusterMember } from '../lib/cluster-harness.js';
import { keepLogsIfFailed, tracked } from './client.js';
import type { FailureFlag } from './client.js';
import { run } from './security-support.js';
import type { RunResult } from './security-support.js';

/** The product defaults (raftkv --help): election timeout 1 s, heartbeat 100 ms. */
const TIMING = { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 } as const;
const TRIALS = 3;

/**
 * bin/raftctl when these tests were compiled into the repository's dist/ (what bin/raftctl
 * runs); otherwise (a private --outDir build) the raftctl of that build.
 */
function raftctlAsUserRunsIt(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = resolve(here, '..', '..', 'daemon', 'src', 'cli', 'raftctl.js');
  const repoBuilt = resolve(repoRoot(), 'dist', 'daemon', 'src', 'cli', 'raftctl.js');
  return built === repoBuilt ? [process.execPath, join(repoRoot(), 'bin', 'raftctl')] : [process.execPath, built];
}

function raftctl(args: readonly string[]): Promise<RunResult> {
  return run([...raftctlAsUserRunsIt(), ...args], { RAFTKV_ENDPOINTS: '', RAFTKV_TOKEN: '' }, 60_000);
}

describe('raftctl through a leader kill', () => {
  const flag: FailureFlag = { failed: false };
  let c: Cluster | undefined;
  after(async () => {
    keepLogsIfFailed(c, flag, 'raftctl-failover');
    await c?.destroy();
  });

  test(`kill -9 of the leader, then raftctl put succeeds without the user retrying (${TRIALS} trials)`, { timeout: 180_000 }, tracked(flag, async () => {
    c = await Cluster.start({ members: 3, ...TIMING });
    const took: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const leader = await c.waitForLeader();
      // The dead leader first: the worst order for a client, and what a user's list often is.
      const endpoints = [leader, ...c.running().filter((m) => m !== leader)].map((m: ClusterMember) => m.clientUrl).join(',');
      const warm = await raftctl(['--endpoints', endpoints, 'put', `warm/${trial}`, 'x']);
      assert.equal(warm.code, 0, warm.stderr);
      await c.kill9(leader);
      const p = await raftctl(['--endpoints', endpoints, 'put', `after-kill/${trial}`, `v${trial}`]);
      assert.equal(p.code, 0, `raftctl put after the leader's kill: ${p.stderr}`);
      assert.match(p.stdout, /^OK revision=\d+ term=\d+ index=\d+\n$/);
      assert.equal(p.stderr, '');
      took.push(p.ms);
      const g = await raftctl(['--endpoints', endpoints, 'get', `after-kill/${trial}`]);
      assert.equal(g.code, 0, g.stderr);
      assert.equal(g.stdout, `v${trial}\n`);
      c.restart(leader);
    }
    process.stdout.write(`# raftctl put right after kill -9 of the leader (dead leader first in --endpoints; election timeout ${TIMING.electionTimeoutMs} ms): ${took.map((ms) => `${ms} ms`).join(', ')} (process start included)\n`);
  }));

  test('every member down: raftctl gives up at --timeout naming each endpoint and its answer', { timeout: 60_000 }, tracked(flag, async () => {
    const cl = c;
    assert.ok(cl);
    const urls = cl.running().map((m) => m.clientUrl);
    for (const m of cl.running()) await cl.kill9(m);
    const p = await raftctl(['--endpoints', urls.join(','), '--timeout', '1500ms', 'put', 'nowhere', 'x']);
    assert.equal(p.code, 1);
    // The first write of a run opens its client session: that is what meets the dead members.
    assert.match(p.stderr, /^raftctl: put nowhere( \(opening its client session\))?: no member served the request within 1\.5s \(\d+ attempts over 3 endpoints/);
    for (const u of urls) assert.ok(p.stderr.includes(`${u}: ECONNREFUSED`), `${u} named: ${p.stderr}`);
    // Measured around the child process: its own clock may start a few ms after ours (1,499 ms seen).
    assert.ok(p.ms >= 1450 && p.ms < 10_000, `gave up after ${p.ms} ms`);
  }));
});
