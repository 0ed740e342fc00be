// Crashes and hand-offs with real processes: kill -9 of the leader under load, idempotent
// retries across the leader change, kill -9 of every member, SIGTERM hand-off.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, sleep } from '../lib/cluster-harness.js';
import type { ClusterMember } from '../lib/cluster-harness.js';
import { get, keepLogsIfFailed, put, tracked } from './client.js';
import type { FailureFlag } from './client.js';

const TIMING = { electionTimeoutMs: 600, heartbeatIntervalMs: 100 } as const;

/** Writes distinct keys from `workers` concurrent clients until `stopAtMs`; returns the acknowledged ones. */
async function writeUntil(c: Cluster, prefix: string, workers: number, stopAtMs: number): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let j = 0; Date.now() < stopAtMs && j < 100_000; j++) {
      const key = `${prefix}/${w}/${j}`;
      const value = `v-${w}-${j}`;
      try {
        const r = await put(c, key, value, {}, Math.max(1000, stopAtMs - Date.now()));
        if (r.status === 200) acked.set(key, value);
      } catch {
        // not acknowledged: may or may not be applied
      }
    }
  }));
  return acked;
}

async function assertAllPresent(c: Cluster, acked: ReadonlyMap<string, string>): Promise<void> {
  const missing: string[] = [];
  const entries = [...acked];
  for (let i = 0; i < entries.length; i += 16) {
    await Promise.all(entries.slice(i, i + 16).map(async ([k, v]) => {
      const r = await get(c, k);
      if (r.status !== 200 || r.text !== v) missing.push(`${k} (${r.status} ${r.text.slice(0, 40)})`);
    }));
  }
  assert.deepEqual(missing, [], `acknowledged writes lost: ${missing.slice(0, 10).join(', ')}`);
}

describe('leader crash', () => {
  const flag: FailureFlag = { failed: false };
  let c: Cluster | undefined;
  let leader: ClusterMember;
  let idemFirst: { status: number; json: unknown } | null = null;
  after(async () => {
    keepLogsIfFailed(c, flag, 'failover-leader-crash');
    await c?.destroy();
  });

  test('a 3-member cluster elects a leader', tracked(flag, async () => {
    c = await Cluster.start({ members: 3, ...TIMING });
    leader = await c.waitForLeader();
    const r = await put(c, 'idem-key', 'once', { 'Idempotency-Key': 'retry-me' });
    assert.equal(r.status, 200, r.text);
    idemFirst = { status: r.status, json: r.json };
  }));

  test('kill -9 of the leader under load loses no acknowledged write', tracked(flag, async () => {
    assert.ok(c);
    const cl = c;
    const stopAt = Date.now() + 3500;
    const writes = writeUntil(cl, 'crash', 8, stopAt);
    await sleep(800);
    const killedAt = Date.now();
    await cl.kill9(leader);
    const newLeader = await cl.waitForLeader(10_000);
    const electedMs = Date.now() - killedAt;
    assert.notEqual(newLeader.name, leader.name);
    const acked = await writes;
    assert.ok(acked.size > 20, `only ${acked.size} writes acknowledged`);
    await assertAllPresent(cl, acked);
    process.stdout.write(`# new leader ${newLeader.name} after ${electedMs} ms; ${acked.size} acknowledged writes all present\n`);
    // The old leader comes back as a follower and catches up.
    cl.restart(leader);
    const last = [...acked][acked.size - 1];
    assert.ok(last);
    const back = leader;
    const lastKey = last[0];
    const lastValue = last[1];
    const until = Date.now() + 10_000;
    let seen = '';
    while (Date.now() < until) {
      try {
        const r = await cl.request(back, 'GET', `/v1/kv/${encodeURIComponent(lastKey)}?consistency=serializable`);
        seen = r.text;
        if (r.status === 200 && r.text === lastValue) break;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    assert.equal(seen, lastValue, 'restarted old leader caught up');
    leader = newLeader;
  }));

  test('a retry with the same Idempotency-Key after the leader change returns the first response', tracked(flag, async () => {
    assert.ok(c && idemFirst);
    const again = await put(c, 'idem-key', 'once', { 'Idempotency-Key': 'retry-me' });
    assert.equal(again.status, 200, again.text);
    assert.deepEqual(again.json, idemFirst.json);
    const g = await get(c, 'idem-key');
    assert.equal(g.headers.get('x-revision'), String((idemFirst.json as { revision: number }).revision), 'applied once');
  }));
});

describe('whole-cluster crash and SIGTERM hand-off', () => {
  const flag: FailureFlag = { failed: false };
  let c: Cluster | undefined;
  after(async () => {
    keepLogsIfFailed(c, flag, 'failover-all-crash');
    await c?.destroy();
  });

  test('kill -9 of every member, then restart: nothing acknowledged is lost', tracked(flag, async () => {
    c = await Cluster.start({ members: 3, ...TIMING });
    await c.waitForLeader();
    const acked = await writeUntil(c, 'all', 8, Date.now() + 1500);
    assert.ok(acked.size > 20, `only ${acked.size} writes acknowledged`);
    await Promise.all(c.members.map((m) => c?.kill9(m)));
    for (const m of c.members) c.restart(m);
    await c.waitForLeader(15_000);
    await assertAllPresent(c, acked);
  }));

  test('SIGTERM on the leader: a new leader at once, exit 0 within 10 s', tracked(flag, async () => {
    assert.ok(c);
    const leader = await c.waitForLeader();
    const r = await put(c, 'before-term', 'x');
    assert.equal(r.status, 200, r.text);
    const t0 = Date.now();
    const exit = c.terminate(leader);
    const next = await c.waitForLeader(5000, [leader.name]);
    const handOffMs = Date.now() - t0;
    const info = await exit;
    assert.equal(info.code, 0, `exit code ${String(info.code)} signal ${String(info.signal)}`);
    assert.ok(info.elapsedMs < 10_000, `exit took ${info.elapsedMs} ms`);
    assert.notEqual(next.name, leader.name);
    // A hand-off is faster than an election timeout plus the randomized wait.
    assert.ok(handOffMs < 3000, `new leader after ${handOffMs} ms`);
    const g = await get(c, 'before-term');
    assert.equal(g.text, 'x');
    process.stdout.write(`# SIGTERM: new leader ${next.name} after ${handOffMs} ms, old leader exited in ${info.elapsedMs} ms\n`);
  }));
});

describe('a paused leader (SIGSTOP/SIGCONT)', () => {
  const flag: FailureFlag = { failed: false };
  let c: Cluster | undefined;
  after(async () => {
    keepLogsIfFailed(c, flag, 'failover-pause');
    await c?.destroy();
  });

  test('is replaced while stopped, steps down when resumed, and no acknowledged write is lost', tracked(flag, async () => {
    c = await Cluster.start({ members: 3, ...TIMING });
    const cl = c;
    const old = await cl.waitForLeader();
    const writes = writeUntil(cl, 'pause', 4, Date.now() + 3000);
    await sleep(500);
    cl.pause(old);
    const next = await cl.waitForLeader(10_000, [old.name]);
    assert.notEqual(next.name, old.name);
    const acked = await writes;
    cl.resume(old);
    // The old leader hears the higher term, steps down and follows the new leader.
    await cl.waitForLeader(10_000);
    const s = await cl.status(old);
    assert.ok(s && s.role !== 'leader', `resumed member is ${s?.role ?? 'unreachable'}`);
    await assertAllPresent(cl, acked);
  }));
});
