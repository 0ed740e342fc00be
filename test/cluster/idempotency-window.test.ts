// The idempotency window is a promise at load: 250,000 keyed writes (one Idempotency-Key each)
// through a 3-member cluster, then the leader is killed (-9) and the first 1,000 writes are
// retried with their keys (and another value) on the new leader within the TTL: every retry is
// answered from the window (Idempotency-Replayed: true, the first revision) and none is applied
// again. A write the window refused (429) applied nothing. The members snapshot every 25,000
// entries, so the window also crosses snapshots and a restart from one. On a machine so loaded
// that the writes take longer than the TTL allows, the first keys have legitimately expired:
// the retries then start at the first key still well within the TTL (printed).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, sleep } from '../lib/cluster-harness.js';
import type { ClusterMember } from '../lib/cluster-harness.js';
import { BenchHttpConnection } from '../../daemon/src/cli/bench/http-connection.js';
import { DEFAULT_KV_LIMITS } from '../../daemon/src/kv/index.js';
import { call, get, keepLogsIfFailed, kvPath, tracked } from './client.js';
import type { FailureFlag } from './client.js';

const WRITES = 250_000;
const RETRIED = 1_000;
const CONNECTIONS = 64;
/** Sends of one write before the test gives up on it (each after a 100 ms pause and a leader lookup). */
const MAX_ATTEMPTS = 600;
/** Retries start this long before the TTL would end, so they finish inside it. */
const RETRY_MARGIN_MS = 3 * 60_000;

const keyOf = (i: number): string => `w/${i}`;
const idemOf = (i: number): string => `ik-${i}`;
const valueOf = (i: number): string => `v${i}`;

function putBytes(host: string, i: number): Buffer {
  const body = valueOf(i);
  return Buffer.from(`PUT ${kvPath(keyOf(i))} HTTP/1.1\r\nHost: ${host}\r\nIdempotency-Key: ${idemOf(i)}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'latin1');
}

/** Reads one gauge of a member's /metrics. */
async function gauge(c: Cluster, m: ClusterMember, name: string): Promise<number> {
  const r = await c.request(m, 'GET', '/metrics');
  const line = r.text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line === undefined ? NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('idempotency window under load', () => {
  const flag: FailureFlag = { failed: false };
  let c: Cluster | undefined;
  const statusOf = new Uint16Array(WRITES);
  /** Wall clock when each write was answered (the leader stamps its proposal with its own clock just before). */
  const answeredAtMs = new Float64Array(WRITES);
  after(async () => {
    keepLogsIfFailed(c, flag, 'idempotency-window');
    await c?.destroy();
  });

  test(`${WRITES} keyed writes through the leader`, tracked(flag, async () => {
    c = await Cluster.start({ members: 3, electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 25_000, logLevel: 'warn' });
    const cluster = c;
    let leader = await c.waitForLeader();
    const t0 = Date.now();
    let next = 0;
    let retried = 0;
    /** The leader a worker should write to: refreshed when a member answers with anything but 200/429. */
    const currentLeader = async (): Promise<ClusterMember> => {
      leader = (await cluster.leader()) ?? (await cluster.waitForLeader(30_000));
      return leader;
    };
    const connectTo = async (m: ClusterMember): Promise<BenchHttpConnection> => {
      const u = new URL(m.clientUrl);
      return BenchHttpConnection.connect(u.hostname, Number(u.port), 5000);
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
      let target = leader;
      let conn: BenchHttpConnection | null = null;
      try {
        for (let i = next++; i < WRITES; i = next++) {
          // A leader change (307), no leader (503) or a dropped connection: find the leader and send the same write again, with its key.
          for (let attempt = 0; ; attempt++) {
            assert.ok(attempt < MAX_ATTEMPTS, `write ${i} was not answered after ${MAX_ATTEMPTS} attempts`);
            let status = 0;
            try {
              conn ??= await connectTo(target);
              status = (await conn.request(putBytes(new URL(target.clientUrl).host, i))).status;
            } catch {
              conn?.close();
              conn = null;
            }
            if (status === 200 || status === 429) {
              statusOf[i] = status;
              answeredAtMs[i] = Date.now();
              break;
            }
            retried++;
            conn?.close();
            conn = null;
            await sleep(100);
            target = await currentLeader();
          }
        }
      } finally {
        conn?.close();
      }
    }));
    const seconds = (Date.now() - t0) / 1000;
    const refused = statusOf.filter((s) => s === 429).length;
    const other = statusOf.filter((s) => s !== 200 && s !== 429).length;
    process.stdout.write(`# ${WRITES} keyed writes in ${seconds.toFixed(1)} s (${(WRITES / seconds).toFixed(0)}/s), ${refused} refused (429), ${retried} sends repeated after a leader change or a dropped connection\n`);
    assert.equal(other, 0, 'every write was answered 200 or 429');
    leader = await currentLeader();
    const entries = await gauge(c, leader, 'raftkv_idempotency_entries');
    // Only expiry removes an entry: all are there unless the run outlasted the TTL (a very loaded machine).
    if (Date.now() - t0 < DEFAULT_KV_LIMITS.idempotencyTtlMs) assert.equal(entries, WRITES - refused, 'the window holds one entry per accepted keyed write');
    else assert.ok(entries <= WRITES - refused);
    assert.ok(await gauge(c, leader, 'raftkv_idempotency_bytes') <= 64 * 1024 * 1024);
  }));

  test(`after kill -9 of the leader, the first ${RETRIED} keys retried within the TTL are answered from the window, none applied again`, tracked(flag, async () => {
    if (!c) throw new Error('no cluster');
    const old = await c.waitForLeader();
    await c.kill9(old);
    await c.waitForLeader(20_000, [old.name]);
    c.restart(old);
    // Proposals are stamped before they are answered, so an entry expires at most TTL after its answer.
    const oldestSafe = Date.now() - (DEFAULT_KV_LIMITS.idempotencyTtlMs - RETRY_MARGIN_MS);
    let from = 0;
    while (from < WRITES - RETRIED && (answeredAtMs[from] as number) < oldestSafe) from++;
    if (from > 0) process.stdout.write(`# the writes took longer than the TTL allows here: keys 0..${from - 1} expired as promised; retrying ${from}..${from + RETRIED - 1}\n`);
    const applied: string[] = [];
    const broken: string[] = [];
    for (let i = from; i < from + RETRIED; i += 20) {
      await Promise.all(Array.from({ length: 20 }, async (_, j) => {
        const k = i + j;
        const retry = await call(c as Cluster, 'PUT', kvPath(keyOf(k)), { body: 'retried', headers: { 'Idempotency-Key': idemOf(k) }, deadlineMs: 30_000 });
        const now = await get(c as Cluster, keyOf(k), 30_000);
        if (statusOf[k] === 429) {
          // Refused the first time: nothing was promised; the retry may apply now.
          return;
        }
        if (retry.status !== 200 || retry.headers.get('idempotency-replayed') !== 'true') applied.push(`${keyOf(k)}: ${retry.status} replayed=${retry.headers.get('idempotency-replayed')}`);
        if (now.text !== valueOf(k)) broken.push(`${keyOf(k)} = ${now.text}`);
        const first = (retry.json as { revision?: number } | null)?.revision;
        if (first !== Number(now.headers.get('x-revision'))) broken.push(`${keyOf(k)}: replayed revision ${first}, key at ${now.headers.get('x-revision')}`);
      }));
    }
    assert.deepEqual(applied, [], `retries not answered from the window: ${applied.slice(0, 5).join('; ')}`);
    assert.deepEqual(broken, [], `retries applied again: ${broken.slice(0, 5).join('; ')}`);
  }));
});
