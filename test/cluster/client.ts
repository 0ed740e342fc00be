// A small retrying client for cluster tests: follows 307 redirects to the leader and retries
// 503s and connection errors until a deadline, like a careful real client would.
import assert from 'node:assert/strict';
import type { Cluster, ClusterMember, HttpResult } from '../lib/cluster-harness.js';
import { join } from 'node:path';
import { http, repoRoot, sleep } from '../lib/cluster-harness.js';

/** Bound on redirects followed for one call. */
const MAX_REDIRECTS = 5;
const RETRY_PAUSE_MS = 100;

export interface CallOptions {
  readonly body?: string | Uint8Array;
  readonly headers?: Record<string, string>;
  /** Give up after this long (default 10 s). */
  readonly deadlineMs?: number;
  /** Retry on 503 / connection errors (default true). */
  readonly retry?: boolean;
}

/** `/v1/kv/<key>` with the key percent-encoded. */
export function kvPath(key: string): string {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

/**
 * Calls `path` on the cluster: starts at any running member (the leader if known), follows
 * redirects, retries 503 and network errors. Returns the last response; throws if none came
 * back before the deadline.
 */
export async function call(c: Cluster, method: string, path: string, o: CallOptions = {}): Promise<HttpResult> {
  const until = Date.now() + (o.deadlineMs ?? 10_000);
  let last: HttpResult | null = null;
  let lastErr: unknown = null;
  let attempt = 0;
  while (Date.now() < until) {
    const running = c.running();
    const start = running[attempt++ % Math.max(1, running.length)];
    if (!start) {
      await sleep(RETRY_PAUSE_MS);
      continue;
    }
    let url = `${start.clientUrl}${path}`;
    try {
      for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
        const init: { method: string; headers: Record<string, string>; timeoutMs: number; body?: string | Uint8Array } = {
          method, headers: o.headers ?? {}, timeoutMs: Math.max(500, Math.min(8000, until - Date.now())),
        };
        if (o.body !== undefined) init.body = o.body;
        last = await http(url, init);
        if (last.status !== 307) break;
        const loc = last.headers.get('location');
        if (!loc) break;
        url = new URL(loc, url).toString();
      }
    } catch (err) {
      lastErr = err;
      last = null;
    }
    if (last && !(o.retry !== false && (last.status === 503 || last.status === 307))) return last;
    if (last && o.retry === false) return last;
    await sleep(RETRY_PAUSE_MS);
  }
  if (last) return last;
  throw new Error(`${method} ${path}: no response before the deadline (${String(lastErr)})`);
}

/** PUT a value; returns the response (200 = acknowledged). */
export function put(c: Cluster, key: string, value: string, headers: Record<string, string> = {}, deadlineMs = 10_000): Promise<HttpResult> {
  return call(c, 'PUT', kvPath(key), { body: value, headers, deadlineMs });
}

/** Linearizable GET. */
export function get(c: Cluster, key: string, deadlineMs = 10_000): Promise<HttpResult> {
  return call(c, 'GET', kvPath(key), { deadlineMs });
}

/** Tracks whether any test in a file failed, so its `after` hook keeps the member logs. */
/** POST /v1/debug/faults on one member (it runs with --enable-fault-injection); asserts 200. */
export async function injectFaults(c: Cluster, m: ClusterMember, body: { dropPeerTraffic: boolean; dropPeers?: string[]; durationMs?: number }): Promise<void> {
  const r = await c.request(m, 'POST', '/v1/debug/faults', { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 200, `faults on ${m.name}: ${r.status} ${r.text}`);
}

export interface FailureFlag {
  failed: boolean;
}

/** Wraps a test body so a throw marks `flag` before the runner sees it. */
export function tracked(flag: FailureFlag, body: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await body();
    } catch (err) {
      flag.failed = true;
      throw err;
    }
  };
}

/** Saves the cluster's logs under <repo>/test-output/cluster-logs/<label>-<time> when a test failed. */
export function keepLogsIfFailed(c: Cluster | undefined, flag: FailureFlag, label: string): void {
  if (!c || !flag.failed) return;
  const dir = join(repoRoot(), 'test-output', 'cluster-logs', `${label}-${Date.now()}`);
  c.saveLogs(dir);
  process.stderr.write(`member logs saved in ${dir}\n`);
}
