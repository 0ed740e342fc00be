// Figures for continuous log shipping on this machine (not a test; docs/backups.md quotes them):
//  1. write-path cost: `raftctl bench --op put --connections 64` against two 3-member clusters
//     that differ only in --backup-ship-to (a real S3 server, versitygw), in alternating rounds
//     in the same run; prints each round and the ratio of the medians;
//  2. RPO: the shipping lag the leader reports, sampled while the bench writes;
//  3. restore time for N keys: N/2 keys written into the shipping cluster, a full snapshot, then
//     N/2 more (only in the shipped log), then `raftkv restore
//     --from s3://... ` (latest) and `--to-revision` (between the snapshot and the end), timed.
//   node dist/test/measure/log-shipping.js [--rounds 3] [--seconds 10] [--keys 100000] [--no-restore]
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, freePort, http, raftkvCommand, waitFor } from '../lib/cluster-harness.js';
import { S3TestServer } from '../lib/s3-server.js';
import { raftctlCommand, run } from '../cluster/security-support.js';
import { put } from '../cluster/client.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i === -1 ? undefined : Number(process.argv[i + 1]);
  return v !== undefined && Number.isSafeInteger(v) && v > 0 ? v : fallback;
}

const rounds = arg('--rounds', 3);
const seconds = arg('--seconds', 10);
const keys = arg('--keys', 100_000);
const PREFIX = 's3://bench/ship/';

interface BenchRow { readonly opsPerSec: number; readonly p50Ms: number; readonly p99Ms: number; readonly errors: number; readonly ok: number; cpuUsPerOp?: number }

/** CPU time (user + system, ms) the members' processes used so far, from /proc (100 ticks/s). */
function cpuMs(c: Cluster): number {
  let ticks = 0;
  for (const m of c.running()) {
    const pid = m.process?.pid;
    if (pid === undefined) continue;
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return ticks * 10;
}

async function bench(c: Cluster, extra: readonly string[], onTick?: () => Promise<void>): Promise<BenchRow> {
  const leader = await c.waitForLeader();
  const endpoint = leader.clientUrl.replace(/^http:\/\//, '');
  const p = run([...raftctlCommand(), 'bench', '--endpoint', endpoint, '--op', 'put', '--connections', '64', '--duration', `${seconds}s`, '--warmup', '2s', '--json', ...extra], {}, (seconds + 60) * 1000);
  const cpu0 = cpuMs(c);
  let done = false;
  const ticker = (async () => {
    while (!done && onTick !== undefined) {
      await onTick();
      await new Promise((r) => setTimeout(r, 500));
    }
  })();
  const r = await p;
  done = true;
  await ticker;
  if (r.code !== 0) throw new Error(`bench: ${r.stderr}`);
  const row = JSON.parse(r.stdout) as BenchRow;
  // The whole run (warm-up included) over the ops of the measured part: the same bias on and off.
  row.cpuUsPerOp = ((cpuMs(c) - cpu0) * 1000) / Math.max(1, row.ok);
  return row;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

const s3 = await S3TestServer.start('measure-ship');
const dir = mkdtempSync(join(tmpdir(), 'raftkv-measure-ship-'));
const rows: string[] = [];
let off: Cluster | null = null;
let on: Cluster | null = null;
try {
  await s3.createBucket('bench');
  const env = s3.env();
  off = await Cluster.start({ members: 3, namePrefix: 'off', faultInjection: false });
  on = await Cluster.start({ members: 3, namePrefix: 'on', faultInjection: false, env, extraArgs: ['--backup-ship-to', PREFIX] });
  const onCluster = on;
  const lags: number[] = [];
  const sampleLag = async (): Promise<void> => {
    const l = await onCluster.leader();
    if (l === null) return;
    const r = await http(`${l.clientUrl}/v1/status`, { timeoutMs: 2000 }).catch(() => null);
    const st = (r?.json as { backupShipping?: { lagSeconds: number } } | undefined)?.backupShipping;
    if (st !== undefined) lags.push(st.lagSeconds);
  };
  const results: { off: BenchRow[]; on: BenchRow[] } = { off: [], on: [] };
  for (let i = 0; i < rounds; i++) {
    results.off.push(await bench(off, []));
    results.on.push(await bench(on, [], sampleLag));
    const o = results.off[i] as BenchRow;
    const n = results.on[i] as BenchRow;
    rows.push(`round ${i + 1}: off ${o.opsPerSec.toFixed(0)} ops/s p50 ${o.p50Ms.toFixed(2)} p99 ${o.p99Ms.toFixed(2)} cpu ${(o.cpuUsPerOp ?? 0).toFixed(0)} us/op | on ${n.opsPerSec.toFixed(0)} ops/s p50 ${n.p50Ms.toFixed(2)} p99 ${n.p99Ms.toFixed(2)} cpu ${(n.cpuUsPerOp ?? 0).toFixed(0)} us/op (errors ${o.errors}/${n.errors})`);
  }
  const offOps = median(results.off.map((r) => r.opsPerSec));
  const onOps = median(results.on.map((r) => r.opsPerSec));
  rows.push(`put c=64 medians: off ${offOps.toFixed(0)} ops/s, on ${onOps.toFixed(0)} ops/s: shipping costs ${((1 - onOps / offOps) * 100).toFixed(1)}% throughput; p99 off ${median(results.off.map((r) => r.p99Ms)).toFixed(2)} ms, on ${median(results.on.map((r) => r.p99Ms)).toFixed(2)} ms`);
  const ratios = results.on.map((n, i) => n.opsPerSec / (results.off[i] as BenchRow).opsPerSec);
  const geo = Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length);
  rows.push(`per-round throughput ratio on/off: ${ratios.map((r) => r.toFixed(2)).join(' ')}, geometric mean ${geo.toFixed(3)}`);
  const cpuOff = median(results.off.map((r) => r.cpuUsPerOp ?? 0));
  const cpuOn = median(results.on.map((r) => r.cpuUsPerOp ?? 0));
  rows.push(`member CPU per put (3 members, user+system): median off ${cpuOff.toFixed(0)} us, on ${cpuOn.toFixed(0)} us: shipping adds ${((cpuOn / cpuOff - 1) * 100).toFixed(1)}%`);
  rows.push(`shipping lag under c=64 load (${lags.length} samples every ~0.5 s): median ${median(lags).toFixed(2)} s, max ${Math.max(...lags).toFixed(2)} s`);
  for (const [label, c] of [['off', off], ['on', on]] as const) {
    const terms = await Promise.all(c.running().map(async (m) => ((await http(`${m.clientUrl}/v1/status`)).json as { term: number }).term));
    rows.push(`${label}: raft term after the rounds ${Math.max(...terms)} (1 = no leader change)`);
  }
  await off.destroy();
  off = null;

  if (!process.argv.includes('--no-restore')) await measureRestore(on, env, rows);
  process.stdout.write(`log shipping figures (${new Date().toISOString()}):\n${rows.map((r) => `  ${r}`).join('\n')}\n`);
} finally {
  await off?.destroy();
  await on?.destroy();
  s3.stop();
  rmSync(dir, { recursive: true, force: true });
}

/** Restore time: `keys` distinct keys, a full snapshot after the first half. */
async function measureRestore(onCluster: Cluster, env: Record<string, string>, rows: string[]): Promise<void> {
  const on = onCluster;
  const half = Math.floor(keys / 2);
  // The test client follows redirects and retries through leader changes (a loaded machine has some).
  const load = async (from: number, to: number): Promise<void> => {
    let next = from;
    const value = 'v'.repeat(100);
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = next++; i < to; i = next++) {
        const r = await put(onCluster, `k/${String(i).padStart(7, '0')}`, value, {}, 60_000);
        if (r.status !== 200) throw new Error(`put ${i}: HTTP ${r.status} ${r.text}`);
      }
    }));
  };
  await load(0, half);
  const endpoints = on.running().map((m) => m.clientUrl).join(',');
  const save = await run([...raftctlCommand(), '--endpoints', endpoints, 'snapshot', 'save', PREFIX], env, 120_000);
  if (save.code !== 0) throw new Error(save.stderr);
  const snapRevision = Number(/revision=(\d+)/.exec(save.stdout)?.[1]);
  await load(half, keys);
  const leader = await on.waitForLeader();
  const st = (await http(`${leader.clientUrl}/v1/status`)).json as { revision: number };
  await waitFor('everything shipped', 120_000, async () => {
    const l = await onCluster.waitForLeader();
    const s = ((await http(`${l.clientUrl}/v1/status`)).json as { backupShipping?: { shippedRevision: number | null } }).backupShipping;
    return s?.shippedRevision === st.revision ? true : null;
  });
  const target = Math.floor((snapRevision + st.revision) / 2);
  for (const [label, extra] of [['latest', []], [`--to-revision ${target}`, ['--to-revision', String(target)]]] as const) {
    const name = `r${label.length}`;
    const r = await run(['/usr/bin/time', '-f', 'maxrss_kb=%M', ...raftkvCommand(), 'restore', '--from', PREFIX, ...extra, '--data-dir', join(dir, name), '--name', name, '--initial-cluster', `${name}=127.0.0.1:${await freePort()}`], env, 600_000);
    if (r.code !== 0) throw new Error(r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n')[0] ?? '{}') as { keys: number; revision: number; totalMs: number; durationMs: number; pointInTime: { segmentsRead: number; entriesReplayed: number; buildMs: number } };
    rows.push(`restore ${label}: ${out.keys} keys at revision ${out.revision} (snapshot at ${snapRevision}, log end ${st.revision}): ${out.pointInTime.segmentsRead} segments, ${out.pointInTime.entriesReplayed} entries replayed, build ${out.pointInTime.buildMs} ms, data dir ${out.durationMs} ms, total ${out.totalMs} ms, wall ${r.ms} ms, peak RSS ${Math.round(Number(/maxrss_kb=(\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024)} MiB`);
  }
}
