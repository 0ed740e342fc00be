// Pieces of the test environments (test harness): kubectl with a test kubeconfig, a Prometheus
// whose targets come from a file_sd file the test rewrites as pods come and go, and the
// step-timing table.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from './free-port.js';

const STOP_TIMEOUT_MS = 8_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (never one handed out before in this process). */
export const freeLoopbackPort = freePort;

/** SIGTERM a child by pid, SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChild(child: ChildProcess | undefined, graceMs = STOP_TIMEOUT_MS): Promise<void> {
  if (child === undefined || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  process.kill(pid, 'SIGTERM');
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(t);
}

/** Polls `check` until it returns a value other than undefined; throws with `describe()` on timeout. */
export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, describe: () => Promise<string> | string = () => '', intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr === '' ? '' : ` (last error: ${lastErr})`}\n${await describe()}`);
    await sleep(intervalMs);
  }
}

/** Runs kubectl with the test kubeconfig; resolves with stdout, rejects with stderr on a non-zero exit. */
export function kubectl(kubeconfig: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn(process.env['KUBECTL'] ?? 'kubectl', [`--kubeconfig=${kubeconfig}`, `--request-timeout=${Math.ceil(timeoutMs / 1000)}s`, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 5_000);
    child.on('error', (e) => {
      clearTimeout(t);
      rej(e);
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code === 0) res(out);
      else rej(new Error(`kubectl ${args.join(' ')} exited ${String(code)}: ${err.trim()}`));
    });
  });
}

/** One Prometheus sample of an instant query. */
export interface E2ePromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

/** Debian's Prometheus scraping targets listed in a file_sd file (re-read on change). */
export class E2ePrometheus {
  private constructor(readonly url: string, private readonly dir: string, private readonly child: ChildProcess) {}

  /**
   * `wrap` runs it under another command (the e2e tier: `nsenter --net=<node netns> --`, where the
   * pod IPs route); `listenHost` is the address its API listens on (default 127.0.0.1); `ruleFiles`
   * are loaded as alerting/recording rules (evaluated every second).
   */
  static async start(opts: { bin?: string; wrap?: readonly string[]; listenHost?: string; ruleFiles?: readonly string[] } = {}): Promise<E2ePrometheus> {
    const bin = opts.bin ?? '/usr/bin/prometheus';
    const host = opts.listenHost ?? '127.0.0.1';
    if (!existsSync(bin)) throw new Error(`${bin} is not installed`);
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-e2e-prom-'));
    const port = await freeLoopbackPort();
    writeFileSync(join(dir, 'targets.json'), '[]');
    // YAML is a superset of JSON.
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      ...(opts.ruleFiles === undefined ? {} : { rule_files: opts.ruleFiles }),
      scrape_configs: [{ job_name: 'raftkv', metrics_path: '/metrics', file_sd_configs: [{ files: [join(dir, 'targets.json')], refresh_interval: '1s' }] }],
    }));
    const fd = openSync(join(dir, 'prometheus.log'), 'a');
    const argv = [bin, `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=${host}:${port}`, '--storage.tsdb.retention.time=1h', '--log.level=warn'];
    const [cmd = bin, ...args] = [...(opts.wrap ?? []), ...argv];
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const p = new E2ePrometheus(`http://${host}:${port}`, dir, child);
    try {
      await waitUntil('prometheus ready', 30_000, async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited: ${p.log()}`);
        const r = await fetch(`${p.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        return r.ok ? true : undefined;
      }, () => p.log(), 300);
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Replaces the target list (`host:port` with labels), atomically so Prometheus never reads half a file. */
  setTargets(groups: readonly { targets: readonly string[]; labels: Readonly<Record<string, string>> }[]): void {
    const f = join(this.dir, 'targets.json');
    writeFileSync(`${f}.tmp`, JSON.stringify(groups));
    renameSync(`${f}.tmp`, f);
  }

  /** Active targets and their health. */
  async targets(): Promise<{ url: string; health: string }[]> {
    const r = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { data?: { activeTargets?: { scrapeUrl: string; health: string }[] } };
    return (body.data?.activeTargets ?? []).map((t) => ({ url: t.scrapeUrl, health: t.health }));
  }

  /** Alerts as Prometheus evaluates them now (pending and firing). */
  async alerts(): Promise<{ labels: Record<string, string>; state: string; value: string }[]> {
    const r = await fetch(`${this.url}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { data?: { alerts?: { labels: Record<string, string>; state: string; value: string }[] } };
    return body.data?.alerts ?? [];
  }

  async query(expr: string): Promise<E2ePromSample[]> {
    const r = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }).toString(), signal: AbortSignal.timeout(5000),
    });
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`prometheus: ${body.error ?? `HTTP ${r.status}`} (query: ${expr})`);
    if (body.data.resultType === 'vector') return body.data.result as E2ePromSample[];
    if (body.data.resultType === 'scalar') return [{ metric: {}, value: body.data.result as [number, string] }];
    throw new Error(`unexpected result type ${body.data.resultType} (query: ${expr})`);
  }

  log(): string {
    const f = join(this.dir, 'prometheus.log');
    return existsSync(f) ? readFileSync(f, 'utf8').slice(-3000) : '(no log)';
  }

  async stop(): Promise<void> {
    await stopChild(this.child, 5_000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Step timings, printed as a table at the end of the run. */
export class StepTimer {
  private readonly rows: { step: string; ms: number; note: string }[] = [];
  private readonly t0 = Date.now();

  /** Runs `fn`, records its wall time under `step`. */
  async step<T>(step: string, fn: () => Promise<T>, note: (v: T) => string = () => ''): Promise<T> {
    const t = Date.now();
    const v = await fn();
    this.rows.push({ step, ms: Date.now() - t, note: note(v) });
    return v;
  }

  /** Records a figure measured elsewhere (e.g. a drill's unavailableMs). */
  add(step: string, ms: number, note = ''): void {
    this.rows.push({ step, ms, note });
  }

  table(): string {
    const w = Math.max(4, ...this.rows.map((r) => r.step.length));
    const lines = [`${'step'.padEnd(w)}  ${'ms'.padStart(8)}  note`, `${'-'.repeat(w)}  ${'-'.repeat(8)}  ----`];
    for (const r of this.rows) lines.push(`${r.step.padEnd(w)}  ${String(r.ms).padStart(8)}  ${r.note}`);
    lines.push(`${'total wall time'.padEnd(w)}  ${String(Date.now() - this.t0).padStart(8)}`);
    return lines.join('\n');
  }
}

/**
 * Steps of one scenario, run in order: once a step fails, the later ones (which build on what it
 * left) are skipped with its name instead of failing on their own.
 */
export function sequentialSteps(): (name: string, timeoutMs: number, fn: () => Promise<void>) => void {
  let failedStep = '';
  return (name, timeoutMs, fn) => {
    test(name, { timeout: timeoutMs }, async (t) => {
      if (failedStep !== '') {
        t.skip(`an earlier step failed: ${failedStep}`);
        return;
      }
      try {
        await fn();
      } catch (err) {
        failedStep = name;
        throw err;
      }
    });
  };
}
