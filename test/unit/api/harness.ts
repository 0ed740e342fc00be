// Starts the real API server on 127.0.0.1 (ephemeral port) over a FakeMember (real KV module), and offers a raw
// HTTP helper for requests fetch would normalise (bad percent-encoding, odd headers).
import { request } from 'node:http';
import { pino } from 'pino';
import { createApiServer } from '../../../daemon/src/api/server.js';
import type { ApiServer, ApiServerOptions } from '../../../daemon/src/api/server.js';
import type { KvStateMachineOptions } from '../../../daemon/src/kv/index.js';
import { createMetrics } from '../../../daemon/src/observability/metrics.js';
import type { RaftkvMetrics } from '../../../daemon/src/observability/metrics.js';
import { FakeMember } from './fake-member.js';

/** A running API server over a fake member. */
export interface TestApi {
  readonly url: string;
  readonly member: FakeMember;
  readonly api: ApiServer;
  readonly metrics: RaftkvMetrics;
  close(): Promise<void>;
}

/** Starts an API server; close it in `after`/`finally`. */
export async function startApi(overrides: Partial<ApiServerOptions> = {}, kvOptions: KvStateMachineOptions = {}): Promise<TestApi> {
  const member = new FakeMember(kvOptions);
  const metrics = createMetrics('n1');
  const api = createApiServer(member, {
    metrics,
    logger: pino({ level: 'silent' }),
    maxRequestBytes: 4096,
    maxWatchers: 2,
    enableFaultInjection: false,
    ...overrides,
  });
  await api.listen('http://127.0.0.1:0');
  return { url: api.url(), member, api, metrics, close: () => api.close() };
}

/** A response read fully. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
}

/** Sends one request with the path exactly as given (no URL normalisation). */
export function raw(base: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { connection: 'close', ...headers }, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Parses an error body and returns its code (throws if the body is not the error shape). */
export function errorCode(text: string): string {
  const j = JSON.parse(text) as { error?: unknown; code?: unknown };
  if (typeof j.error !== 'string' || typeof j.code !== 'string') throw new Error(`not an error body: ${text}`);
  return j.code;
}
