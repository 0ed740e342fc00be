// Backup and restore figures on this machine: a 3-member cluster holding N keys is saved to a
// real S3 server (versitygw, POSIX backend) and to a directory, then restored from S3 into a new
// 3-member cluster. Prints bytes, wall times and raftctl's / raftkv restore's peak RSS (GNU
// time), the figures docs/security.md quotes. Not a test: it asserts only that the restored
// cluster holds the backup's revision and key count.
//   node dist/bench/backup-s3.js [--keys 100000] [--value-bytes 100]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, http, raftkvCommand, waitFor, withCluster } from '../test/lib/cluster-harness.js';
import { S3TestServer } from '../test/lib/s3-server.js';
import { put } from '../test/cluster/client.js';
import { HandMember, raftctlCommand, run } from '../test/cluster/security-support.js';
import type { RunResult } from '../test/cluster/security-support.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i === -1 ? undefined : Number(process.argv[i + 1]);
  return v !== undefined && Number.isSafeInteger(v) && v > 0 ? v : fallback;
}

/** Runs `cmd` under GNU time; returns the result and the peak RSS in MiB. */
async function timed(cmd: readonly string[], env: Record<string, string>): Promise<{ r: RunResult; rssMiB: number }> {
  const r = await run(['/usr/bin/time', '-f', 'maxrss_kb=%M', ...cmd], env, 600_000);
  const m = /maxrss_kb=(\d+)/.exec(r.stderr);
  return { r, rssMiB: m ? Math.round(Number(m[1]) / 1024) : -1 };
}

const keys = arg('--keys', 100_000);
const valueBytes = arg('--value-bytes', 100);
const s3 = await S3TestServer.start('bench-backup');
const dir = mkdtempSync(join(tmpdir(), 'raftkv-bench-backup-'));
const members: HandMember[] = [];
const rows: string[] = [];
try {
  await s3.createBucket('bench');
  const env = s3.env();
  let revision = 0;
  await withCluster('bench-backup', { members: 3 }, async (c) => {
    const t0 = performance.now();
    await c.waitForLeader();
    // The test client follows redirects and retries through leader changes (a loaded machine has some).
    let next = 0;
    const value = 'v'.repeat(valueBytes);
    await Promise.all(Array.from({ length: 32 }, async () => {
      for (let i = next++; i < keys; i = next++) {
        const r = await put(c, `k/${String(i).padStart(7, '0')}`, value);
        if (r.status !== 200) throw new Error(`put ${i}: HTTP ${r.status} ${r.text}`);
      }
    }));
    rows.push(`load: ${keys} keys of ${valueBytes} bytes in ${Math.round(performance.now() - t0)} ms`);
    const endpoints = c.running().map((m) => m.clientUrl).join(',');
    const saveS3 = await timed([...raftctlCommand(), '--endpoints', endpoints, '--timeout-ms', '120000', 'snapshot', 'save', 's3://bench/raftkv/'], env);
    if (saveS3.r.code !== 0) throw new Error(saveS3.r.stderr);
    rows.push(`save to S3: ${saveS3.r.stdout.trim().split('\n')[0]}; raftctl wall ${saveS3.r.ms} ms, peak RSS ${saveS3.rssMiB} MiB`);
    revision = Number(/revision=(\d+)/.exec(saveS3.r.stdout)?.[1]);
    mkdirSync(join(dir, 'files'));
    const saveFile = await timed([...raftctlCommand(), '--endpoints', endpoints, '--timeout-ms', '120000', 'snapshot', 'save', `file://${join(dir, 'files')}/`], env);
    if (saveFile.r.code !== 0) throw new Error(saveFile.r.stderr);
    rows.push(`save to a directory: raftctl wall ${saveFile.r.ms} ms, peak RSS ${saveFile.rssMiB} MiB`);
  });
  const names = ['b1', 'b2', 'b3'];
  const ports = await Promise.all(names.map(async () => ({ client: await freePort(), peer: await freePort() })));
  const initial = names.map((n, i) => `${n}=127.0.0.1:${ports[i]?.peer}`).join(',');
  for (const [i, n] of names.entries()) {
    const r = await timed([...raftkvCommand(), 'restore', '--from', 's3://bench/raftkv/', '--data-dir', join(dir, n), '--name', n, '--initial-cluster', initial], env);
    if (r.r.code !== 0) throw new Error(r.r.stderr);
    const out = JSON.parse(r.r.stdout) as { revision: number; keys: number; downloadMs: number; durationMs: number; totalMs: number; bytes: number };
    if (out.revision !== revision || out.keys < keys) throw new Error(`restored revision ${out.revision} keys ${out.keys}, expected ${revision} / >= ${keys}`);
    rows.push(`restore ${n} from S3: ${out.bytes} bytes, download+verify ${out.downloadMs} ms, data dir ${out.durationMs} ms, in-process ${out.totalMs} ms, wall ${r.r.ms} ms, peak RSS ${r.rssMiB} MiB`);
    const p = ports[i];
    if (p === undefined) throw new Error('no ports');
    members.push(new HandMember(n, ['--name', n, '--data-dir', join(dir, n), '--listen-client', `http://127.0.0.1:${p.client}`, '--listen-peer', `127.0.0.1:${p.peer}`, '--initial-cluster', initial], join(dir, `${n}.log`)));
  }
  const t1 = performance.now();
  for (const m of members) m.start();
  const urls = ports.map((p) => `http://127.0.0.1:${p.client}`);
  await waitFor('restored members ready', 120_000, async () => {
    const rs = await Promise.all(urls.map((u) => http(`${u}/readyz`, { timeoutMs: 1000 }).catch(() => null)));
    return rs.every((r) => r?.status === 200) ? true : null;
  });
  rows.push(`restored 3-member cluster: start -> all ready ${Math.round(performance.now() - t1)} ms`);
  const st = (await http(`${urls[0]}/v1/status`)).json as { revision?: number };
  rows.push(`restored cluster's revision: ${st.revision ?? '?'} (backup: ${revision})`);
  process.stdout.write(`backup-s3 bench (${new Date().toISOString()}):\n${rows.map((r) => `  ${r}`).join('\n')}\n`);
} finally {
  for (const m of members) await m.stop();
  s3.stop();
  rmSync(dir, { recursive: true, force: true });
}
