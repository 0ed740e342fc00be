// The load generator behind `raftctl bench` and `make bench`: N keep-alive connections, each
// with one request in flight, prebuilt request bytes, latencies kept in a preallocated buffer.
// It speaks raftkv's API and etcd's v3 JSON gateway so both systems get the same load.
import { performance } from 'node:perf_hooks';
import { BenchHttpConnection } from './http-connection.js';
import { HttpRequester } from '../http-request.js';

/** Samples kept for percentiles; beyond this, later samples overwrite at random (reservoir). */
export const MAX_LATENCY_SAMPLES = 2_000_000;
/** Connections the generator will open at most. */
export const MAX_CONNECTIONS = 1024;

export type BenchTarget = 'raftkv' | 'etcd';
export type BenchOp = 'put' | 'get' | 'mix';
export type BenchReadConsistency = 'linearizable' | 'serializable';

/** TLS material for an https:// endpoint (raftctl's --cacert/--cert/--key). */
export interface BenchTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

export interface BenchOptions {
  readonly target: BenchTarget;
  /** host:port (or http(s)://host:port) of the member to load (the leader for writes); https:// means TLS. */
  readonly endpoint: string;
  /**
   * Spread the connections over these members, round-robin (empty: all at `endpoint`). A raftkv
   * follower answers a write with 307 to the leader: the generator follows it, as a client would,
   * and the operation's latency includes the extra hop.
   */
  readonly endpoints: readonly string[];
  readonly op: BenchOp;
  readonly connections: number;
  readonly durationMs: number;
  /** Measurement starts after this warm-up (latencies and throughput exclude it). */
  readonly warmupMs: number;
  readonly valueBytes: number;
  readonly keyCount: number;
  /** For 'mix': the fraction of reads. */
  readonly readRatio: number;
  /** Reads: linearizable (the default) or serializable (answered from the member's own state). */
  readonly readConsistency: BenchReadConsistency;
  readonly keyPrefix: string;
  readonly connectTimeoutMs: number;
  /** Bearer token sent with every request (members with --auth-token-file), or null. */
  readonly token: string | null;
  /** CA / client certificate for an https:// endpoint; null: the system CAs, no client certificate. */
  readonly tls: BenchTls | null;
  /**
   * raftkv writes: one client session per connection (Session-Id / Session-Seq on every put),
   * as raftctl writes; false sends plain puts (the A/B of what exactly-once costs).
   */
  readonly sessions: boolean;
}

export const DEFAULT_BENCH_OPTIONS: BenchOptions = {
  target: 'raftkv',
  endpoint: '127.0.0.1:2379',
  endpoints: [],
  op: 'put',
  connections: 64,
  durationMs: 10_000,
  warmupMs: 1_000,
  valueBytes: 256,
  keyCount: 1000,
  readRatio: 0.9,
  readConsistency: 'linearizable',
  keyPrefix: 'bench/',
  connectTimeoutMs: 5_000,
  token: null,
  tls: null,
  sessions: true,
};

export interface BenchResult {
  readonly target: BenchTarget;
  readonly op: BenchOp;
  readonly connections: number;
  readonly measuredSeconds: number;
  /** Wall clock (epoch ms) of the measured window's start and end, so a harness can charge server CPU to exactly it. */
  readonly measuredFromEpochMs: number;
  readonly measuredToEpochMs: number;
  readonly ok: number;
  readonly errors: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Latency at each percentile 0..100 in steps of 1 plus 99.9, for CDF plots. */
  readonly cdf: readonly { readonly percentile: number; readonly ms: number }[];
  /** HTTP status codes of failed requests, counted. */
  readonly errorStatuses: Readonly<Record<string, number>>;
  /** CPU (user + system) this process spent on the whole run, warm-up and connection set-up included. */
  readonly clientCpuMs: number;
}

/** Client sessions opened at once before a run (each open is one raft entry). */
const SESSION_OPEN_PARALLEL = 16;

/** Room for a Session-Seq value (at most 16 digits) and its CRLF. */
const SEQ_LINE_BYTES = 18;

/**
 * Writes `n` (a non-negative safe integer) in decimal followed by CRLF into `buf` at `at`, without
 * making a string (a template string and Buffer.write per put were the client's share of what a
 * session costs); returns the bytes written.
 */
export function writeDecimalLine(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  let x = n;
  for (let i = at + digits - 1; i >= at; i--) {
    buf[i] = 48 + (x % 10);
    x = Math.floor(x / 10);
  }
  buf[at + digits] = 13;
  buf[at + digits + 1] = 10;
  return digits + 2;
}

/** Builds the request bytes each key needs, once, before the run. */
export class RequestBook {
  readonly puts: Buffer[] = [];
  readonly gets: Buffer[] = [];
  /** raftkv puts split where the session headers go: request line and Host / the rest with the body. */
  readonly putHeads: Buffer[] = [];
  readonly putTails: Buffer[] = [];
  /** The longest put (head + tail), for a per-connection request buffer. */
  maxPutBytes = 0;

  constructor(target: BenchTarget, host: string, keyPrefix: string, keyCount: number, valueBytes: number, token: string | null = null, readConsistency: BenchReadConsistency = 'linearizable') {
    const serializable = readConsistency === 'serializable';
    if (token !== null && !/^[\x21-\x7e]+$/.test(token)) throw new Error('the token must be visible ASCII characters');
    const auth = token === null ? '' : `Authorization: Bearer ${token}\r\n`;
    const value = Buffer.alloc(valueBytes, 'x');
    for (let i = 0; i < valueBytes; i++) value[i] = 97 + (i % 26);
    for (let k = 0; k < keyCount; k++) {
      const key = `${keyPrefix}${k.toString().padStart(8, '0')}`;
      if (target === 'raftkv') {
        const path = `/v1/kv/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
        const head = Buffer.from(`PUT ${path} HTTP/1.1\r\nHost: ${host}\r\n${auth}`);
        const tail = Buffer.concat([Buffer.from(`Content-Type: application/octet-stream\r\nContent-Length: ${value.length}\r\n\r\n`), value]);
        this.putHeads.push(head);
        this.putTails.push(tail);
        this.maxPutBytes = Math.max(this.maxPutBytes, head.length + tail.length);
        this.puts.push(Buffer.concat([head, tail]));
        this.gets.push(Buffer.from(`GET ${path}${serializable ? '?consistency=serializable' : ''} HTTP/1.1\r\nHost: ${host}\r\n${auth}\r\n`));
      } else {
        const k64 = Buffer.from(key).toString('base64');
        const putBody = JSON.stringify({ key: k64, value: value.toString('base64') });
        const getBody = JSON.stringify(serializable ? { key: k64, serializable: true } : { key: k64 });
        this.puts.push(Buffer.from(`POST /v3/kv/put HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(putBody)}\r\n\r\n${putBody}`));
        this.gets.push(Buffer.from(`POST /v3/kv/range HTTP/1.1\r\nHost: ${host}\r\n${auth}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(getBody)}\r\n\r\n${getBody}`));
      }
    }
  }
}

/** xorshift32: cheap, deterministic choice of keys and ops per connection. */
function makeRng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

/** Keeps latency samples in one preallocated array; reservoir sampling beyond the bound. */
class LatencyRecorder {
  private readonly samples: Float64Array;
  private count = 0;
  private readonly rng = makeRng(12345);

  constructor(capacity: number) {
    this.samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    if (this.count < this.samples.length) {
      this.samples[this.count] = ms;
    } else {
      const slot = Math.floor(this.rng() * (this.count + 1));
      if (slot < this.samples.length) this.samples[slot] = ms;
    }
    this.count++;
  }

  sorted(): Float64Array {
    return this.samples.slice(0, Math.min(this.count, this.samples.length)).sort();
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx] ?? 0;
}

/** Parses "host:port" or "http://host:port[/...]" into host and port. */
export function parseEndpoint(endpoint: string): { host: string; port: number; secure: boolean } {
  const secure = /^https:\/\//i.test(endpoint);
  const stripped = endpoint.replace(/^https?:\/\//i, '').replace(/\/.*$/, '');
  const colon = stripped.lastIndexOf(':');
  const host = colon > 0 ? stripped.slice(0, colon) : stripped;
  const port = colon > 0 ? Number(stripped.slice(colon + 1)) : secure ? 443 : 80;
  if (!host || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad endpoint: ${endpoint}`);
  return { host, port, secure };
}

/** One client session per connection: POST /v1/sessions on the endpoint (the leader). */
async function openSessions(options: BenchOptions, n: number): Promise<{ ids: string[]; close: () => Promise<void> }> {
  const { host, port, secure } = parseEndpoint(options.endpoint);
  const requester = new HttpRequester(secure ? (options.tls ?? {}) : {});
  const base = `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = options.token !== null ? { authorization: `Bearer ${options.token}` } : {};
  const ids: string[] = [];
  const openOne = async (): Promise<string> => {
    const res = await requester.fetch(`${base}/v1/sessions`, { method: 'POST', headers, timeoutMs: options.connectTimeoutMs });
    if (res.status !== 201) throw new Error(`open a client session: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 200)} (the endpoint must be the leader; --sessions false writes without)`);
    return String((JSON.parse(res.body.toString('utf8')) as { id: unknown }).id);
  };
  try {
    // SESSION_OPEN_PARALLEL at a time: 256 opened one by one took seconds and more server CPU than the run's puts needed.
    for (let i = 0; i < n; i += SESSION_OPEN_PARALLEL) {
      ids.push(...(await Promise.all(Array.from({ length: Math.min(SESSION_OPEN_PARALLEL, n - i) }, openOne))));
    }
  } catch (err) {
    requester.close();
    throw err;
  }
  const close = async (): Promise<void> => {
    try {
      await Promise.all(ids.map((id) => requester.fetch(`${base}/v1/sessions/${id}`, { method: 'DELETE', headers, timeoutMs: options.connectTimeoutMs }).catch(() => undefined)));
    } finally {
      requester.close();
    }
  };
  return { ids, close };
}

/** Runs one load round and returns its measurements. Never leaves sockets open. */
export async function runLoad(options: BenchOptions): Promise<BenchResult> {
  if (options.connections < 1 || options.connections > MAX_CONNECTIONS) throw new Error(`connections must be 1..${MAX_CONNECTIONS}`);
  if (options.keyCount < 1) throw new Error('keyCount must be >= 1');
  const cpuAtStart = process.cpuUsage();
  const { host, port, secure } = parseEndpoint(options.endpoint);
  const book = new RequestBook(options.target, `${host}:${port}`, options.keyPrefix, options.keyCount, options.valueBytes, options.token, options.readConsistency);
  const targets = (options.endpoints.length > 0 ? options.endpoints : [options.endpoint]).map(parseEndpoint);
  const connections = await Promise.all(
    Array.from({ length: options.connections }, (_, i) => {
      const t = targets[i % targets.length] ?? { host, port, secure };
      return BenchHttpConnection.connect(t.host, t.port, options.connectTimeoutMs, t.secure ? (options.tls ?? {}) : null);
    }),
  );
  // Where each worker follows a follower's 307 (one connection a worker, to the member last named).
  const redirects: ({ target: string; conn: BenchHttpConnection } | null)[] = connections.map(() => null);
  const follow = async (worker: number, location: string, req: Buffer): Promise<number> => {
    const t = parseEndpoint(location);
    const target = `${t.secure ? 's' : ''}${t.host}:${t.port}`;
    let r = redirects[worker] ?? null;
    if (r === null || r.target !== target) {
      r?.conn.close();
      r = { target, conn: await BenchHttpConnection.connect(t.host, t.port, options.connectTimeoutMs, t.secure ? (options.tls ?? {}) : null) };
      redirects[worker] = r;
    }
    return (await r.conn.request(req)).status;
  };
  const useSessions = options.sessions && options.target === 'raftkv' && options.op !== 'get';
  let sessions: { ids: string[]; close: () => Promise<void> } | null = null;
  try {
    if (useSessions) sessions = await openSessions(options, connections.length);
  } catch (err) {
    for (const c of connections) c.close();
    throw err;
  }
  const recorder = new LatencyRecorder(MAX_LATENCY_SAMPLES);
  const errorStatuses: Record<string, number> = {};
  let ok = 0;
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const worker = async (conn: BenchHttpConnection, seed: number): Promise<void> => {
    const rng = makeRng(seed);
    const sessionId = sessions?.ids[seed - 1];
    let seq = 0;
    // One request buffer per connection, rewritten in place for each sessioned put: only the
    // sequence number changes, and a request is rebuilt only after the previous one was answered
    // (so its bytes have left the socket). Allocating two buffers a put cost the client ~6 µs per put.
    const sessionLine = sessionId === undefined ? null : Buffer.from(`Session-Id: ${sessionId}\r\nSession-Seq: `, 'latin1');
    const scratch = sessionLine === null ? null : Buffer.allocUnsafe(book.maxPutBytes + sessionLine.length + SEQ_LINE_BYTES);
    for (;;) {
      const now = performance.now();
      if (now >= end) return;
      const k = Math.floor(rng() * options.keyCount);
      const read = options.op === 'get' || (options.op === 'mix' && rng() < options.readRatio);
      let req = read ? book.gets[k] : book.puts[k];
      if (!read && scratch !== null && sessionLine !== null) {
        const head = book.putHeads[k] as Buffer;
        const tail = book.putTails[k] as Buffer;
        let n = head.copy(scratch, 0);
        n += sessionLine.copy(scratch, n);
        n += writeDecimalLine(scratch, n, ++seq);
        n += tail.copy(scratch, n);
        req = scratch.subarray(0, n);
      }
      if (!req) return;
      let status: number;
      try {
        const res = await conn.request(req);
        status = res.status;
        // At most one hop: a member that redirects again is counted as the error it answered.
        if (status === 307 && res.location !== undefined && options.target === 'raftkv') status = await follow(seed - 1, res.location, req);
      } catch {
        // A broken connection ends this worker; the others go on.
        errors++;
        errorStatuses['connection'] = (errorStatuses['connection'] ?? 0) + 1;
        return;
      }
      const done = performance.now();
      if (now < measureFrom) continue;
      const success = status === 200 || (read && status === 404);
      if (success) {
        ok++;
        recorder.record(done - now);
      } else {
        errors++;
        errorStatuses[String(status)] = (errorStatuses[String(status)] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(connections.map((c, i) => worker(c, i + 1)));
  } finally {
    for (const c of connections) c.close();
    for (const r of redirects) r?.conn.close();
    await sessions?.close();
  }
  const cpu = process.cpuUsage(cpuAtStart);
  const measuredSeconds = Math.max(0.001, (Math.min(performance.now(), end) - measureFrom) / 1000);
  const sorted = recorder.sorted();
  const cdf: { percentile: number; ms: number }[] = [];
  for (let p = 0; p <= 100; p++) cdf.push({ percentile: p, ms: percentile(sorted, Math.max(p, 0.0001)) });
  cdf.push({ percentile: 99.9, ms: percentile(sorted, 99.9) });
  cdf.sort((a, b) => a.percentile - b.percentile);
  return {
    target: options.target,
    op: options.op,
    connections: options.connections,
    measuredSeconds,
    measuredFromEpochMs: performance.timeOrigin + measureFrom,
    measuredToEpochMs: performance.timeOrigin + measureFrom + measuredSeconds * 1000,
    ok,
    errors,
    opsPerSec: ok / measuredSeconds,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    p999Ms: percentile(sorted, 99.9),
    maxMs: sorted.length ? (sorted[sorted.length - 1] ?? 0) : 0,
    cdf,
    errorStatuses,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/** Writes every key once so reads find values (and etcd/raftkv hold the same data). */
export async function preload(options: BenchOptions): Promise<void> {
  const { host, port, secure } = parseEndpoint(options.endpoint);
  const book = new RequestBook(options.target, `${host}:${port}`, options.keyPrefix, options.keyCount, options.valueBytes, options.token);
  const parallel = Math.min(16, options.keyCount);
  const tls = secure ? (options.tls ?? {}) : null;
  const conns = await Promise.all(Array.from({ length: parallel }, () => BenchHttpConnection.connect(host, port, options.connectTimeoutMs, tls)));
  try {
    await Promise.all(conns.map(async (c, i) => {
      for (let k = i; k < options.keyCount; k += parallel) {
        const req = book.puts[k];
        if (!req) continue;
        const res = await c.request(req);
        if (res.status !== 200) throw new Error(`preload of key ${k} got HTTP ${res.status}`);
      }
    }));
  } finally {
    for (const c of conns) c.close();
  }
}
