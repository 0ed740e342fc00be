// The API tier: schemathesis (from PyPI; scripts/ensure-schemathesis.sh) fuzzes a live 3-member
// cluster with the OpenAPI document the members serve, every check on, all four phases
// (examples, coverage, fuzzing, stateful), bounded by --max-time. Passes only with no failure
// (no 5xx, no response that breaks the document, nothing the document forbids accepted) and every
// member still running and healthy at the end. Prints the figures (operations, cases, checks).
//
// The members run with --auth-token-file and schemathesis holds a `write` token: every route is
// fuzzed, the admin ones (membership, leader transfer, snapshots) answer 403 as documented. With
// admin rights the fuzzer dismantles the cluster it is measuring: its stateful phase follows
// GET /v1/members to DELETE /v1/members/{name} and removed two of the three members (seed 7).
// The admin routes' inputs are covered by test/unit/api/routes.test.ts.
//   node dist/test/api/main.js [--max-time 150] [--seed N] [--keep-data]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Cluster, http, repoRoot } from '../lib/cluster-harness.js';

interface Args {
  readonly maxTimeS: number;
  readonly seed: number;
  readonly keepData: boolean;
}

function parseArgs(argv: readonly string[]): Args {
  let maxTimeS = 150;
  let seed = Math.floor(Math.random() * 1_000_000);
  let keepData = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--max-time' && v !== undefined && /^[0-9]+$/.test(v)) { maxTimeS = Number(v); i++; }
    else if (a === '--seed' && v !== undefined && /^[0-9]+$/.test(v)) { seed = Number(v); i++; }
    else if (a === '--keep-data') keepData = true;
    else {
      process.stderr.write(`usage: node dist/test/api/main.js [--max-time SECONDS] [--seed N] [--keep-data]\n`);
      process.exit(2);
    }
  }
  return { maxTimeS, seed, keepData };
}

function log(msg: string): void {
  process.stdout.write(`[api-fuzz] ${msg}\n`);
}

/** Runs a command, streaming its output; resolves with the exit code. */
function run(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], env, ...(cwd !== undefined ? { cwd } : {}) });
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

function ensureSchemathesis(): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', [join(repoRoot(), 'scripts/ensure-schemathesis.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n').pop() ?? '') : reject(new Error(`ensure-schemathesis.sh exited ${code}`))));
  });
}

interface NdjsonFigures {
  operations: number;
  cases: number;
  checks: number;
  failures: number;
}

/** Counts from schemathesis's ndjson event stream (one JSON event per line). */
function figuresOf(ndjsonPath: string): NdjsonFigures {
  const f: NdjsonFigures = { operations: 0, cases: 0, checks: 0, failures: 0 };
  const ops = new Set<string>();
  for (const line of readFileSync(ndjsonPath, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const ev = JSON.parse(line) as Record<string, unknown>;
    const scenario = (ev['ScenarioFinished'] ?? null) as { label?: string; recorder?: { label?: string; cases?: Record<string, unknown>; checks?: Record<string, { status?: string }[]> } } | null;
    if (scenario?.recorder) {
      const r = scenario.recorder;
      if (typeof r.label === 'string' && !r.label.startsWith('Stateful')) ops.add(r.label);
      f.cases += Object.keys(r.cases ?? {}).length;
      for (const list of Object.values(r.checks ?? {})) {
        f.checks += list.length;
        f.failures += list.filter((c) => c.status === 'FAILURE' || c.status === 'failure').length;
      }
    }
  }
  f.operations = ops.size;
  return f;
}

/** True inside a network namespace of our own: loopback is the only interface. */
function isolated(): boolean {
  return Object.keys(networkInterfaces()).every((n) => n === 'lo');
}

/**
 * Re-runs this process in a new network namespace with only loopback up. The fuzzer adds members
 * with peer URLs it invents (POST /v1/members), and the leader dials them: inside the namespace
 * those dials fail at once instead of reaching hosts on a real network.
 */
function reexecIsolated(): Promise<number> {
  return run('unshare', ['--net', 'bash', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, ...process.argv.slice(1)], process.env);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const st = await ensureSchemathesis();
  if (!isolated()) {
    if (process.getuid?.() !== 0) {
      process.stderr.write('[api-fuzz] needs root (unshare --net): the fuzzer makes the leader dial peer URLs it invents, which must not leave this machine\n');
      process.exit(2);
    }
    process.exit(await reexecIsolated());
  }
  const outDir = mkdtempSync(join(tmpdir(), 'raftkv-api-fuzz-'));
  log(`schemathesis: ${st}; seed ${args.seed}; max time ${args.maxTimeS} s; reports in ${outDir}`);
  // Data kept through destroy(): the logs of a failed run are the evidence.
  // Without fault injection: POST /v1/debug/faults is then a documented 404 (a fuzzer that could
  // cut the members apart would measure the partition, not the API).
  const adminToken = `fuzz-admin-${randomBytes(12).toString('hex')}`;
  const writeToken = `fuzz-write-${randomBytes(12).toString('hex')}`;
  const tokenFile = join(outDir, 'tokens');
  writeFileSync(tokenFile, `${adminToken} admin harness\n${writeToken} write schemathesis\n`, { mode: 0o600 });
  const cluster = await Cluster.start({
    members: 3, keepData: true, logLevel: 'warn', faultInjection: false, statusToken: adminToken, extraArgs: ['--auth-token-file', tokenFile],
  });
  let failed = false;
  try {
    const leader = await cluster.waitForLeader(30_000);
    log(`cluster up: ${cluster.members.map((m) => `${m.name}=${m.clientUrl}`).join(' ')}; leader ${leader.name}`);
    const ndjson = join(outDir, 'events.ndjson');
    const code = await run(st, [
      '--config-file', join(repoRoot(), 'test/api/schemathesis.toml'),
      'run', `${leader.clientUrl}/v1/openapi.json`, '--url', leader.clientUrl,
      '--checks', 'all', '--phases', 'examples,coverage,fuzzing,stateful',
      // One worker: with two, hypothesis's lambda-source cache raced ("AST constructor recursion
      // depth mismatch", a schemathesis internal error, not a finding).
      '--max-time', String(args.maxTimeS), '--seed', String(args.seed), '--workers', '1',
      '--request-timeout', '15', '--max-redirects', '5', '--header', `Authorization: Bearer ${writeToken}`,
      '--exclude-path', '/v1/watch',
      '--report', 'ndjson,junit', '--report-dir', outDir, '--report-ndjson-path', ndjson,
      '--no-color', '--output-sanitize', 'false',
      // In the run's own folder: schemathesis keeps a cache (.schemathesis/) in its working
      // directory and replays earlier failures from it; each run starts clean.
    ], { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' }, outDir);
    const crashed = cluster.members.filter((m) => m.process === null || m.process.exitCode !== null || m.process.signalCode !== null);
    const unhealthy: string[] = [];
    for (const m of cluster.members) {
      const h = await http(`${m.clientUrl}/healthz`).catch(() => null);
      if (h?.status !== 200) unhealthy.push(m.name);
    }
    let figures: NdjsonFigures | null = null;
    try { figures = figuresOf(ndjson); } catch (err) { log(`could not read ${ndjson}: ${String(err)}`); }
    if (figures) log(`figures: ${figures.operations} operations, ${figures.cases} cases generated, ${figures.checks} checks run, ${figures.failures} failed`);
    writeFileSync(join(outDir, 'figures.json'), JSON.stringify({ seed: args.seed, maxTimeS: args.maxTimeS, exitCode: code, crashed: crashed.map((m) => m.name), unhealthy, ...figures }, null, 2));
    if (code !== 0) { failed = true; log(`schemathesis exited ${code}: see the report above and ${outDir}`); }
    if (crashed.length > 0) { failed = true; log(`members crashed: ${crashed.map((m) => `${m.name} (log ${m.logFile})`).join(', ')}`); }
    if (unhealthy.length > 0) { failed = true; log(`members not healthy after the run: ${unhealthy.join(', ')}`); }
  } finally {
    if (failed) log(`member logs kept in ${cluster.baseDir}`);
    await cluster.destroy();
    if (!failed) rmSync(outDir, { recursive: true, force: true });
    if (!failed && !args.keepData) rmSync(cluster.baseDir, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  log('passed: no 5xx, no spec violation, no crashed member');
}

main().catch((err: unknown) => {
  process.stderr.write(`[api-fuzz] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
