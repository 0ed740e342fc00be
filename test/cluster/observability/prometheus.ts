// A real Prometheus (Debian's /usr/bin/prometheus) for tests: a temp config scraping the given
// targets every second with a `cluster` label, a temp TSDB, a free loopback port, and a small
// client for the HTTP API. Always `stop()` it (kills the process by pid, removes the temp dir).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../../lib/cluster-harness.js';

/** The Prometheus binary the tests use. */
export const PROMETHEUS_BIN = '/usr/bin/prometheus';
/** Bound on one API call. */
const API_TIMEOUT_MS = 5_000;
/** Bound on waiting for Prometheus to exit after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;

/** One series of an instant-query vector result. */
export interface PromSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

/** The result of /api/v1/query: vector samples, or a scalar turned into one sample without labels. */
export interface PromQueryResult {
  readonly resultType: string;
  readonly samples: readonly PromSample[];
}

/** Thrown when Prometheus rejects a query (bad PromQL) or answers with an error. */
export class PrometheusQueryError extends Error {
  constructor(readonly expr: string, message: string) {
    super(`${message} (query: ${expr})`);
    this.name = 'PrometheusQueryError';
  }
}

/** A running Prometheus. */
export class TestPrometheus {
  private constructor(
    readonly url: string,
    private readonly dir: string,
    private proc: ChildProcess | null,
  ) {}

  /** Starts Prometheus scraping `targets` (`host:port`) every second with `labels` attached, evaluating `ruleFiles`. */
  static async start(targets: readonly string[], labels: Readonly<Record<string, string>>, ruleFiles: readonly string[] = []): Promise<TestPrometheus> {
    if (!existsSync(PROMETHEUS_BIN)) throw new Error(`${PROMETHEUS_BIN} is not installed`);
    const dir = mkdtempSync(join(tmpdir(), 'raftkv-prom-'));
    const port = await freePort();
    // YAML is a superset of JSON, so the config is written as JSON.
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' },
      rule_files: [...ruleFiles],
      scrape_configs: [{ job_name: 'raftkv', metrics_path: '/metrics', static_configs: [{ targets: [...targets], labels: { ...labels } }] }],
    };
    const configFile = join(dir, 'prometheus.yml');
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    const logFile = join(dir, 'prometheus.log');
    const fd = openSync(logFile, 'a');
    const proc = spawn(PROMETHEUS_BIN, [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const p = new TestPrometheus(`http://127.0.0.1:${port}`, dir, proc);
    proc.once('exit', () => {
      p.proc = null;
    });
    try {
      await waitFor('prometheus ready', 20_000, async () => {
        if (p.proc === null) throw new Error(`prometheus exited: ${p.log()}`);
        const r = await fetch(`${p.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        return r.ok ? true : null;
      });
    } catch (err) {
      await p.stop();
      throw err;
    }
    return p;
  }

  /** The process id (for the record; `stop` kills it). */
  pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Prometheus's own log (for failure messages). */
  log(): string {
    const f = join(this.dir, 'prometheus.log');
    return existsSync(f) ? readFileSync(f, 'utf8').slice(-4000) : '(no log)';
  }

  /** Waits until every configured target has been scraped successfully. */
  async waitForTargetsUp(count: number, timeoutMs: number): Promise<void> {
    await waitFor(`${count} prometheus targets up`, timeoutMs, async () => {
      const r = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(API_TIMEOUT_MS) });
      const body = (await r.json()) as { data?: { activeTargets?: { health: string }[] } };
      const t = body.data?.activeTargets ?? [];
      return t.length === count && t.every((x) => x.health === 'up') ? true : null;
    });
  }

  /** An instant query; throws PrometheusQueryError on a PromQL or server error. */
  async query(expr: string): Promise<PromQueryResult> {
    const r = await fetch(`${this.url}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }).toString(),
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success' || body.data === undefined) throw new PrometheusQueryError(expr, `prometheus: ${body.error ?? `HTTP ${r.status}`}`);
    const { resultType, result } = body.data;
    if (resultType === 'vector') return { resultType, samples: result as PromSample[] };
    if (resultType === 'scalar') return { resultType, samples: [{ metric: {}, value: result as [number, string] }] };
    throw new PrometheusQueryError(expr, `unexpected result type ${resultType}`);
  }

  /** Every loaded rule with its evaluation health (`ok`, `err`, `unknown`) and last error. */
  async rules(): Promise<{ name: string; health: string; lastError: string }[]> {
    const r = await fetch(`${this.url}/api/v1/rules`, { signal: AbortSignal.timeout(API_TIMEOUT_MS) });
    const body = (await r.json()) as { data?: { groups?: { rules: { name: string; health: string; lastError?: string }[] }[] } };
    return (body.data?.groups ?? []).flatMap((g) => g.rules.map((x) => ({ name: x.name, health: x.health, lastError: x.lastError ?? '' })));
  }

  /** SIGTERM, then SIGKILL after a bound; removes the temp dir. Idempotent. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p !== null && p.exitCode === null && p.signalCode === null) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => p.kill('SIGKILL'), STOP_TIMEOUT_MS);
        p.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        p.kill('SIGTERM');
      });
    }
    this.proc = null;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
