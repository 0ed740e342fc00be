// `npm run chaos -- --members 5 --duration 60s --nemesis partition,kill,pause,disk`:
// real bin/raftkv processes under seeded faults, with concurrent clients, then checks that the
// history is linearizable, every acknowledged write survived, idempotent requests applied once
// and all members converged. Exit 0 when every check passes, 1 otherwise, 2 on bad usage.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosRng } from './rng.js';
import { LoopbackNetwork, NamespaceNetwork, MAX_CHAOS_MEMBERS } from './network.js';
import type { ChaosNetwork } from './network.js';
import { MemberSet } from './members.js';
import { ChaosClients } from './clients.js';
import { ALL_NEMESES, absentFromConfiguration, checkDiskFull, checkNoCrash, fetchStatus, findLeader, rejoin, runSchedule, wipeAndRejoin } from './nemesis.js';
import type { NemesisContext, NemesisName } from './nemesis.js';
import { checkConvergence, checkDurability, checkIdempotency } from './checks.js';
import type { CheckResult } from './checks.js';
import { checkChaosLinearizable } from './linearizable.js';
import { KeyedWriters } from './keyed-writers.js';
import { checkEndOfRunRetries } from './retries.js';
import { DEFAULT_KV_LIMITS } from '../../daemon/src/kv/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Bound on waiting for the cluster to converge after faults heal. */
const CONVERGE_TIMEOUT_MS = 60_000;
/** The longest run accepted (a guard against typos like 60m meant as 60s). */
const MAX_DURATION_MS = 60 * 60_000;

interface ChaosSettings {
  readonly members: number;
  readonly durationMs: number;
  readonly nemeses: readonly NemesisName[];
  readonly seed: number;
  readonly workers: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly snapshotEntries: number;
  readonly loopback: boolean;
  /** Expect the run to FAIL (used with a planted bug to prove the harness catches it). */
  readonly expectFailure: boolean;
  readonly plantedBug: string | null;
  readonly keepData: boolean;
  /** Full-rate writers with an Idempotency-Key per write / with a client session each. */
  readonly keyedWriters: number;
  readonly sessionWriters: number;
}

const USAGE = 'usage: chaos [--members N] [--duration 60s] [--nemesis partition,kill,pause,disk,membership,transfer|none] [--seed N] [--workers N] [--loopback] [--keyed-writers N] [--session-writers N] [--snapshot-entries N] [--planted-bug NAME --expect-failure] [--keep-data]';

function usage(msg: string): never {
  process.stderr.write(`chaos: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(text);
  if (!m) usage(`bad duration ${text}`);
  const n = Number(m[1]);
  return m[2] === 'm' ? n * 60_000 : m[2] === 'ms' ? n : n * 1000;
}

function parseArgs(argv: readonly string[]): ChaosSettings {
  let s: ChaosSettings = {
    members: 5, durationMs: 60_000, nemeses: ALL_NEMESES, seed: Date.now() % 1_000_000, workers: 6,
    electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 500, loopback: false,
    expectFailure: false, plantedBug: null, keepData: false, keyedWriters: 0, sessionWriters: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${flag} needs a value`);
      return v;
    };
    const int = (): number => {
      const n = Number(next());
      if (!Number.isInteger(n) || n < 0) usage(`${flag} needs a non-negative integer`);
      return n;
    };
    switch (flag) {
      case '--members': s = { ...s, members: int() }; break;
      case '--duration': s = { ...s, durationMs: parseDuration(next()) }; break;
      case '--nemesis': {
        const v = next();
        const list = v === 'none' ? [] : v.split(',').map((x) => x.trim());
        for (const n of list) if (!ALL_NEMESES.includes(n as NemesisName)) usage(`unknown nemesis ${n}`);
        s = { ...s, nemeses: list as NemesisName[] };
        break;
      }
      case '--seed': s = { ...s, seed: int() }; break;
      case '--workers': s = { ...s, workers: int() }; break;
      case '--election-timeout-ms': s = { ...s, electionTimeoutMs: int() }; break;
      case '--snapshot-entries': s = { ...s, snapshotEntries: int() }; break;
      case '--loopback': s = { ...s, loopback: true }; break;
      case '--expect-failure': s = { ...s, expectFailure: true }; break;
      case '--planted-bug': s = { ...s, plantedBug: next() }; break;
      case '--keep-data': s = { ...s, keepData: true }; break;
      case '--keyed-writers': s = { ...s, keyedWriters: int() }; break;
      case '--session-writers': s = { ...s, sessionWriters: int() }; break;
      default: usage(`unknown flag ${flag ?? ''}`);
    }
  }
  if (s.members < 3 || s.members > MAX_CHAOS_MEMBERS || s.members % 2 === 0) usage(`--members must be odd, 3..${MAX_CHAOS_MEMBERS}`);
  if (s.durationMs < 1000 || s.durationMs > MAX_DURATION_MS) usage('--duration must be 1s..60m');
  if (s.workers < 1 || s.workers > 64) usage('--workers must be 1..64');
  if (s.keyedWriters > 64 || s.sessionWriters > 64) usage('--keyed-writers and --session-writers must be 0..64');
  if (s.snapshotEntries < 1) usage('--snapshot-entries must be at least 1');
  return s;
}

async function waitConverged(set: MemberSet, voters: readonly number[]): Promise<boolean> {
  const until = Date.now() + CONVERGE_TIMEOUT_MS;
  while (Date.now() < until) {
    const st = await Promise.all(voters.map((i) => fetchStatus(set.clientUrl(i))));
    const leaders = st.filter((s) => s?.role === 'leader');
    const commits = new Set(st.map((s) => s?.commitIndex ?? -1));
    const applied = new Set(st.map((s) => s?.appliedIndex ?? -1));
    if (leaders.length === 1 && commits.size === 1 && applied.size === 1 && [...applied][0] === [...commits][0]) return true;
    await sleep(250);
  }
  return false;
}

async function main(): Promise<number> {
  const s = parseArgs(process.argv.slice(2));
  // A planted bug runs the test-only entry point; the production binary cannot plant one.
  const raftkvBin = s.plantedBug ? join(repoRoot, 'dist', 'test', 'chaos', 'planted-raftkv.js') : join(repoRoot, 'bin', 'raftkv');
  const raftkvArgs = s.plantedBug ? ['--planted-bug', s.plantedBug] : [];
  if (!existsSync(join(repoRoot, 'dist', 'daemon', 'src', 'main.js'))) usage('run `make build` first');
  const rng = new ChaosRng(s.seed);
  const baseDir = mkdtempSync(join(tmpdir(), `raftkv-chaos-${s.seed}-`));
  const outDir = join(repoRoot, 'test-output');
  mkdirSync(outDir, { recursive: true });
  const logLines: string[] = [];
  const t0 = Date.now();
  const log = (line: string): void => {
    const l = `[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${line}`;
    logLines.push(l);
    process.stdout.write(`${l}\n`);
  };
  const useNetns = !s.loopback && NamespaceNetwork.available();
  let set: MemberSet | null = null;
  const network: ChaosNetwork = useNetns
    ? new NamespaceNetwork(s.members, s.seed)
    : new LoopbackNetwork(async (cuts) => {
        // Tell each member which peers to drop (its own transport discards their traffic).
        if (!set) return;
        await Promise.all(set.members.map(async (m) => {
          const from = [...(cuts.get(m.index) ?? [])].map((i) => `n${i}`);
          await fetch(`${set?.clientUrl(m.index)}/v1/debug/faults`, {
            method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ dropPeerTraffic: false, dropPeers: from }), signal: AbortSignal.timeout(2000),
          }).catch(() => undefined);
        }));
      });
  const tmpfsMember = s.nemeses.includes('disk') && useNetns ? s.members - 1 : -1;
  const cleanup = async (): Promise<void> => {
    await set?.destroy();
    network.destroy();
    if (!s.keepData) rmSync(baseDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  process.once('SIGTERM', () => void cleanup().then(() => process.exit(143)));
  try {
    if (network instanceof NamespaceNetwork) network.setup();
    set = new MemberSet({
      count: s.members, baseDir, raftkvBin, raftkvArgs, network, electionTimeoutMs: s.electionTimeoutMs,
      heartbeatIntervalMs: s.heartbeatIntervalMs, snapshotEntries: s.snapshotEntries, tmpfsMember, extraEnv: {},
    });
    const members = set;
    log(`seed=${s.seed} members=${s.members} duration=${s.durationMs / 1000}s nemeses=${s.nemeses.join(',') || 'none'}${s.plantedBug ? ` planted-bug=${s.plantedBug}` : ''}`);
    log(`network: ${network.describe()}`);
    if (!useNetns) log('NOTE: network namespaces unavailable (need root + iproute2 + iptables) or --loopback given: loopback fallback, and the disk nemesis needs tmpfs so it is skipped');
    for (const m of members.members) members.start(m);
    const until = Date.now() + 30_000;
    while (!(await findLeader(members)) && Date.now() < until) await sleep(200);
    if (!(await findLeader(members))) throw new Error('no leader elected at start');
    log('cluster up');

    // Leader/term observer: records every (term, leader) pair any member reports.
    const seen = new Set<string>();
    let observing = true;
    const observer = (async () => {
      while (observing) {
        const st = await Promise.all(members.running().map((m) => fetchStatus(members.clientUrl(m.index))));
        for (const x of st) if (x?.role === 'leader') seen.add(`${x.term}:${x.name}`);
        await sleep(200);
      }
    })();

    const clients = new ChaosClients({
      workers: s.workers, registerKeys: 5, requestTimeoutMs: 2000, thinkMs: 20,
      endpoints: () => members.members.map((m) => members.clientUrl(m.index)),
    }, new ChaosRng(s.seed ^ 0x5bd1e995));
    const writers = new KeyedWriters({
      idempotencyKeyWorkers: s.keyedWriters, sessionWorkers: s.sessionWriters, requestTimeoutMs: 2000,
      endpoints: () => members.members.map((m) => members.clientUrl(m.index)),
    }, new ChaosRng(s.seed ^ 0x27d4eb2f));
    const loadStart = clients.now();
    const loadStartWallMs = Date.now();
    clients.start();
    writers.start();
    const ctx: NemesisContext = { set: members, network, rng, electionTimeoutMs: s.electionTimeoutMs, log, counts: new Map(), removed: new Set(), diskEpisodes: [] };
    const nemeses = tmpfsMember < 0 ? s.nemeses.filter((n) => n !== 'disk') : s.nemeses;
    await runSchedule(ctx, nemeses, Date.now() + s.durationMs);

    log('healing: network, paused and stopped members, disks, membership');
    await network.heal();
    for (const m of members.members) {
      members.resume(m);
      if (!m.process) members.start(m);
    }
    for (const name of [...ctx.removed]) {
      const m = members.members.find((x) => x.name === name);
      if (m) await rejoin(ctx, m, 30_000);
    }
    for (const m of await absentFromConfiguration(ctx)) {
      log(`membership: ${m.name} is not in the leader's configuration (a remove that timed out took effect later): wiping and re-adding it`);
      await wipeAndRejoin(ctx, m, 30_000);
    }
    await sleep(s.electionTimeoutMs * 2);
    await Promise.all([clients.stop(), writers.stop()]);
    const loadEnd = clients.now();
    log(`clients stopped after ${clients.history.length} register ops${writers.records.length > 0 ? ` and ${writers.records.length} keyed/sessioned writes in ${((Date.now() - loadStartWallMs) / 1000).toFixed(0)} s` : ''}`);

    log('restarting every member (kill -9 all, start all)');
    await Promise.all(members.members.map((m) => members.kill9(m)));
    for (const m of members.members) members.start(m);
    const voters = members.members.filter((m) => !ctx.removed.has(m.name)).map((m) => m.index);
    const converged = await waitConverged(members, voters);
    log(converged ? 'converged' : `NOT converged within ${CONVERGE_TIMEOUT_MS} ms`);
    observing = false;
    await observer;

    const leader = await findLeader(members);
    const checks: CheckResult[] = [];
    checks.push({ name: 'cluster recovers (leader, all applied)', ok: converged && leader !== null, detail: converged ? 'one leader, commit == applied on every voter' : 'timed out' });
    checks.push(checkChaosLinearizable(clients.history));
    // A member that does not answer makes its check fail with the reason, never the harness crash.
    const guarded = async (name: string, run: () => Promise<CheckResult>): Promise<CheckResult> => {
      try {
        return await run();
      } catch (err) {
        return { name, ok: false, detail: `could not check: ${err instanceof Error ? err.message : String(err)}` };
      }
    };
    if (leader) {
      checks.push(await guarded('acknowledged writes durable', () => checkDurability(members, clients, voters)));
      checks.push(await guarded('idempotency keys applied at most once', () => checkIdempotency(members, clients, leader.index)));
      if (writers.records.length > 0) {
        // The promise users read: a retry within the TTL (the shorter of the two windows) is applied at most once.
        const ttlMs = Math.min(DEFAULT_KV_LIMITS.idempotencyTtlMs, DEFAULT_KV_LIMITS.sessionTtlMs);
        log(`end-of-run retries: ${((Date.now() - loadStartWallMs) / 1000).toFixed(0)} s after the load began (TTL ${ttlMs / 1000} s)`);
        checks.push(await guarded('retries within the TTL return their first answer', () => checkEndOfRunRetries(members.clientUrl(leader.index), writers, ttlMs)));
      }
      checks.push(await guarded('members converge', () => checkConvergence(members, voters)));
    } else {
      checks.push({ name: 'acknowledged writes durable', ok: false, detail: 'not checked: no leader after the restart' });
    }
    checks.push(checkDiskFull(ctx.diskEpisodes));
    checks.push(checkNoCrash(members.unexpectedExits()));
    // Judged by the leader's configuration, not by what the nemesis believes it did.
    const config = leader ? (await fetchStatus(members.clientUrl(leader.index)))?.members ?? [] : [];
    const notVoters = members.members.filter((m) => !config.some((x) => x.name === m.name && x.voter)).map((m) => m.name);
    checks.push({ name: 'membership restored', ok: leader !== null && notVoters.length === 0, detail: notVoters.length === 0 && leader ? `all ${members.members.length} members voters in ${leader.name}'s configuration` : `not voters in the leader's configuration: ${notVoters.join(',') || '(no leader)'}` });

    const h = clients.history;
    const okOps = h.filter((o) => o.outcome === 'ok').length;
    const failOps = h.filter((o) => o.outcome === 'fail').length;
    const infoOps = h.filter((o) => o.outcome === 'info').length;
    const passed = checks.every((c) => c.ok);
    const faults = [...ctx.counts.entries()].map(([k, v]) => `${k}×${v}`).join(' ') || 'none';
    const summary = [
      '',
      '| chaos summary | |',
      '|---|---|',
      `| seed | ${s.seed} |`,
      `| network | ${network.kind} |`,
      `| members / duration | ${s.members} / ${s.durationMs / 1000}s |`,
      `| register ops | ${h.length} (ok ${okOps}, fail ${failOps}, indeterminate ${infoOps}) |`,
      `| unique writes acknowledged | ${clients.acknowledged.size} |`,
      `| faults injected | ${faults} |`,
      `| leader changes seen | ${Math.max(0, seen.size - 1)} |`,
      `| longest unavailability | ${clients.longestUnavailableMs(loadStart, loadEnd).toFixed(0)} ms |`,
      ...checks.map((c) => `| ${c.ok ? 'PASS' : 'FAIL'} ${c.name} | ${c.detail} |`),
      `| result | ${passed ? 'PASS' : 'FAIL'} |`,
      '',
    ].join('\n');
    process.stdout.write(`${summary}\n`);
    writeFileSync(join(outDir, 'chaos-latest-summary.md'), `${summary}\n`);
    if (!passed) {
      const file = join(outDir, `chaos-${s.seed}-history.json`);
      writeFileSync(file, JSON.stringify({ settings: s, checks, history: h, log: logLines, exits: members.exits() }, null, 1));
      process.stdout.write(`chaos: FAILED seed=${s.seed}; history in ${file}; rerun with --seed ${s.seed}\n`);
    }
    if (s.expectFailure) {
      process.stdout.write(passed ? `chaos: planted bug ${s.plantedBug ?? ''} was NOT caught\n` : `chaos: planted bug ${s.plantedBug ?? ''} caught as expected\n`);
      process.stdout.write(passed ? '0 passed, 1 failed\n' : '1 passed, 0 failed\n');
      return passed ? 1 : 0;
    }
    process.stdout.write(passed ? '1 passed, 0 failed\n' : '0 passed, 1 failed\n');
    return passed ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`chaos: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
