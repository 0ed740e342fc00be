// `node dist/bench/trace-put.js [--puts N] [--gap-ms N] [--keep-logs] [--raftkv-bin PATH]`: where a single client's
// PUT spends its time. Starts a 3-member raftkv cluster on loopback (fsync on) with trace logs,
// sends N PUTs one at a time (spaced apart, so each runs alone), and merges the members' `stage`
// lines (wall-clock µs, comparable across processes of one host) into one timeline per PUT: the
// client's send, the leader's propose / Ready / Append send / own fsync, each follower's receive /
// fsync / ack, the leader's ack receive / apply, the client's answer. Prints one full timeline
// and the median of each step over all PUTs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchHttpConnection } from '../daemon/src/cli/bench/http-connection.js';
import { RaftkvBenchCluster } from './clusters.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TYPE_NAMES: Record<number, string> = { 5: 'Append', 6: 'AppendResp', 11: 'ReadIndex', 12: 'ReadIndexResp' };

interface StageLine {
  readonly member: string;
  readonly stage: string;
  readonly tUs: number;
  readonly [k: string]: unknown;
}

function wallUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function parseArgs(argv: readonly string[]): { puts: number; gapMs: number; keepLogs: boolean; bin: string; extra: string[] } {
  let puts = 20;
  let bin = join(repoRoot, 'bin', 'raftkv');
  let gapMs = 50;
  let keepLogs = false;
  const extra: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--puts') puts = Number(argv[++i]);
    else if (a === '--gap-ms') gapMs = Number(argv[++i]);
    else if (a === '--keep-logs') keepLogs = true;
    else if (a === '--raftkv-bin') bin = argv[++i] ?? bin;
    else if (a === '--') {
      extra.push(...argv.slice(i + 1));
      break;
    } else {
      process.stderr.write(`trace-put: unknown flag ${a ?? ''}\nusage: node dist/bench/trace-put.js [--puts N] [--gap-ms N] [--keep-logs] [--raftkv-bin PATH] [-- raftkv flags...]\n`);
      process.exit(2);
    }
  }
  if (!(Number.isInteger(puts) && puts > 0 && puts <= 10_000) || !(gapMs >= 0)) {
    process.stderr.write('trace-put: --puts must be 1..10000 and --gap-ms >= 0\n');
    process.exit(2);
  }
  return { puts, gapMs, keepLogs, bin, extra };
}

function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] ?? Number.NaN);
}

function readStages(dir: string, members: readonly string[]): StageLine[] {
  const out: StageLine[] = [];
  for (const m of members) {
    for (const line of readFileSync(join(dir, `${m}.log`), 'utf8').split('\n')) {
      if (!line.includes('"stage"')) continue;
      try {
        const o = JSON.parse(line) as Record<string, unknown>;
        if (typeof o['stage'] === 'string' && typeof o['tUs'] === 'number') out.push({ ...o, member: m, stage: o['stage'], tUs: o['tUs'] });
      } catch {
        // not a JSON line
      }
    }
  }
  return out.sort((a, b) => a.tUs - b.tUs);
}

/** The steps of one PUT, µs from the client's send; NaN where a step was not seen. */
interface Breakdown {
  readonly [step: string]: number;
}

function breakdown(events: readonly StageLine[], sendUs: number, recvUs: number, leader: string): Breakdown {
  const at = (pred: (e: StageLine) => boolean): number => {
    const e = events.find(pred);
    return e ? e.tUs - sendUs : Number.NaN;
  };
  const propose = at((e) => e.member === leader && e.stage === 'propose');
  const ready = at((e) => e.member === leader && e.stage === 'ready' && e['first'] !== undefined);
  const appendSent = at((e) => e.member === leader && e.stage === 'send' && e['type'] === 5);
  const leaderFsyncStart = at((e) => e.member === leader && e.stage === 'persist-start');
  const leaderFsyncEnd = at((e) => e.member === leader && e.stage === 'persist-end');
  // The follower whose ack arrived first is the one that completed the quorum.
  const firstAck = events.find((e) => e.member === leader && e.stage === 'recv' && e['type'] === 6);
  const f = typeof firstAck?.['from'] === 'string' ? firstAck['from'] : '';
  const fRecv = at((e) => e.member === f && e.stage === 'recv' && e['type'] === 5);
  const fReady = at((e) => e.member === f && e.stage === 'ready' && e['first'] !== undefined);
  const fFsyncStart = at((e) => e.member === f && e.stage === 'persist-start');
  const fFsyncEnd = at((e) => e.member === f && e.stage === 'persist-end');
  const fAckSent = at((e) => e.member === f && e.stage === 'send' && e['type'] === 6);
  const ackRecv = firstAck ? firstAck.tUs - sendUs : Number.NaN;
  const apply = at((e) => e.member === leader && e.stage === 'apply');
  const total = recvUs - sendUs;
  return {
    'client send → leader propose (HTTP in, parse, session check)': propose,
    'propose → leader Ready': ready - propose,
    'Ready → Append queued': appendSent - ready,
    'leader fsync (in parallel with the follower path)': leaderFsyncEnd - leaderFsyncStart,
    'leader: Ready → fsync start': leaderFsyncStart - ready,
    'hop 1: Append queued → follower receive': fRecv - appendSent,
    'follower receive → follower Ready': fReady - fRecv,
    'follower Ready → fsync start': fFsyncStart - fReady,
    'follower fsync': fFsyncEnd - fFsyncStart,
    'follower fsync end → ack queued': fAckSent - fFsyncEnd,
    'hop 2: ack queued → leader receive': ackRecv - fAckSent,
    'leader: ack receive → apply': apply - ackRecv,
    'leader: own fsync end → apply (when it ends last)': apply - leaderFsyncEnd,
    'apply → client receives the answer': total - apply,
    'total (client)': total,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'raftkv-trace-put-'));
  const cluster = new RaftkvBenchCluster(work, 26300, { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 10_000 }, args.bin, ['--log-level', 'trace', ...args.extra]);
  try {
    await cluster.start();
    const leader = await cluster.leader();
    const conn = await BenchHttpConnection.connect('127.0.0.1', leader.clientPort, 5000, null);
    const body = Buffer.alloc(256, 'v');
    const put = (i: number): Buffer => Buffer.concat([Buffer.from(`PUT /v1/kv/trace/${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
    for (let i = 0; i < 20; i++) await conn.request(put(i)); // warm: connections, JIT
    const windows: { sendUs: number; recvUs: number }[] = [];
    for (let i = 0; i < args.puts; i++) {
      await sleep(args.gapMs);
      const req = put(1000 + i);
      const sendUs = wallUs();
      const res = await conn.request(req);
      const recvUs = wallUs();
      if (res.status !== 200) throw new Error(`PUT answered ${res.status}`);
      windows.push({ sendUs, recvUs });
    }
    conn.close();
    await sleep(300);
    await cluster.stopAll();
    const stages = readStages(work, cluster.members.map((m) => m.name));
    const rows = windows.map((w) => breakdown(stages.filter((e) => e.tUs >= w.sendUs && e.tUs <= w.recvUs + 2000), w.sendUs, w.recvUs, leader.name));
    const example = windows[Math.floor(windows.length / 2)];
    if (example) {
      process.stdout.write(`one PUT (leader ${leader.name}), µs from the client's send:\n`);
      process.stdout.write(`  ${'0'.padStart(6)}  client   send\n`);
      for (const e of stages.filter((x) => x.tUs >= example.sendUs && x.tUs <= example.recvUs + 2000)) {
        const detail = ['type', 'to', 'from', 'index', 'n', 'first', 'last', 'committedFirst', 'committedLast', 'ms', 'commit']
          .filter((k) => e[k] !== undefined)
          .map((k) => `${k}=${k === 'type' ? (TYPE_NAMES[e[k] as number] ?? String(e[k])) : String(e[k])}`)
          .join(' ');
        process.stdout.write(`  ${String(e.tUs - example.sendUs).padStart(6)}  ${e.member.padEnd(8)} ${e.stage.padEnd(15)} ${detail}\n`);
      }
      process.stdout.write(`  ${String(example.recvUs - example.sendUs).padStart(6)}  client   answer received\n\n`);
    }
    process.stdout.write(`median over ${rows.length} PUTs, µs:\n`);
    const keys = Object.keys(rows[0] ?? {});
    for (const k of keys) process.stdout.write(`  ${median(rows.map((r) => r[k] ?? Number.NaN)).toFixed(0).padStart(6)}  ${k}\n`);
  } finally {
    await cluster.stopAll();
    if (args.keepLogs) process.stdout.write(`logs kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`trace-put: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
