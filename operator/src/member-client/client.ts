// HTTP(S) client for one raftkv member's API (docs/api.md), as the operator and drills use it.
// Follows 307 redirects to the leader itself (bounded), so a call may be sent to any member.
// node:http(s) rather than fetch: fetch cannot be given a CA bundle without a dependency on undici,
// and a member of a TLS cluster is trusted through the cluster's own `ca.crt` only.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

/** GET /v1/status body. */
export interface MemberStatusResponse {
  name: string;
  role: 'leader' | 'follower' | 'candidate' | 'learner';
  term: number;
  leader: { name: string; clientUrl: string } | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  members: { name: string; peerUrl: string; clientUrl: string; voter: boolean }[];
  /** Present on members started with --backup-ship-to (docs/backups.md). */
  backupShipping?: BackupShippingStatus;
}

/** GET /v1/status backupShipping: the fields the operator reads. */
export interface BackupShippingStatus {
  target: string;
  shipping: boolean;
  shippedRevision: number;
  lagSeconds: number;
  healthy: boolean;
  lastError: string | null;
}

/** PUT /v1/kv body. */
export interface PutResponse {
  revision: number;
  term: number;
  index: number;
}

/** A member answered with a non-2xx status, or could not be reached (`status` 0). */
export class MemberClientError extends Error {
  override readonly name = 'MemberClientError';
  constructor(
    readonly url: string,
    /** HTTP status; 0 when the request never got an answer (connect error, timeout). */
    readonly status: number,
    /** The member's error code (docs/api.md) when it sent one. */
    readonly code: string | undefined,
    message: string,
  ) {
    super(`${url}: ${message}`);
  }
}

/** Limits of the member client; every request is bounded in time and redirect hops. */
export interface MemberClientOptions {
  /** Per-request timeout (each redirect hop gets its own). */
  readonly requestTimeoutMs: number;
  /** Redirects followed before giving up (a leader change mid-request can bounce once or twice). */
  readonly maxRedirects: number;
}

/** Defaults used by the operator. */
export const DEFAULT_MEMBER_CLIENT_OPTIONS: MemberClientOptions = { requestTimeoutMs: 3000, maxRedirects: 3 };

/** Largest member response body read (a status or a drill probe read; far below this). */
export const MEMBER_RESPONSE_BYTES_MAX = 8 * 1024 * 1024;

/**
 * How the operator proves itself to, and checks, the members of one cluster (spec.tls, spec.auth).
 * Both are secrets in the wider sense: the token never goes into an error message or a log line.
 */
export interface MemberCredentials {
  /** PEM CA bundle an `https://` member must chain to (the cluster's `ca.crt`); the system roots are not used. */
  readonly caPem?: string;
  /** Bearer token sent as `Authorization: Bearer ...` on every request, redirects included. */
  readonly token?: string;
}

/** No TLS trust beyond http, no token: a cluster without spec.tls / spec.auth. */
export const NO_CREDENTIALS: MemberCredentials = {};

interface RawResponse {
  readonly status: number;
  readonly location: string | undefined;
  readonly body: Buffer;
}

/** Talks to the member at `baseUrl` (its client URL, no trailing slash needed). */
export class MemberClient {
  private readonly baseUrl: string;

  constructor(baseUrl: string, private readonly options: MemberClientOptions = DEFAULT_MEMBER_CLIENT_OPTIONS, private readonly credentials: MemberCredentials = NO_CREDENTIALS) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** GET /v1/status of this member (never redirected). */
  async status(): Promise<MemberStatusResponse> {
    return (await this.json('GET', '/v1/status')) as MemberStatusResponse;
  }

  /** POST /v1/members: adds `name` as a learner; resolves once committed. */
  async addLearner(member: { name: string; peerUrl: string; clientUrl: string }): Promise<void> {
    await this.json('POST', '/v1/members', member);
  }

  /** POST /v1/members/{name}/promote; rejects with status 409 while the learner lags. */
  async promote(name: string): Promise<void> {
    await this.json('POST', `/v1/members/${encodeURIComponent(name)}/promote`);
  }

  /** DELETE /v1/members/{name}. */
  async removeMember(name: string): Promise<void> {
    await this.json('DELETE', `/v1/members/${encodeURIComponent(name)}`);
  }

  /** POST /v1/leader/transfer; resolves once `to` (or any member when omitted) leads. */
  async transferLeadership(to?: string): Promise<void> {
    await this.json('POST', '/v1/leader/transfer', to === undefined ? {} : { to });
  }

  /** POST /v1/debug/faults (members started with --enable-fault-injection only). */
  async setFaults(faults: { dropPeerTraffic: boolean; durationMs?: number }): Promise<void> {
    await this.json('POST', '/v1/debug/faults', faults);
  }

  /** PUT /v1/kv/{key}; resolves with the commit position once acknowledged. */
  async put(key: string, value: string, idempotencyKey?: string): Promise<PutResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey;
    const res = await this.send('PUT', `/v1/kv/${encodeURIComponent(key)}`, value, headers);
    return JSON.parse(res.body.toString('utf8')) as PutResponse;
  }

  /** GET /v1/kv/{key} (linearizable); undefined when absent. */
  async get(key: string): Promise<string | undefined> {
    try {
      const res = await this.send('GET', `/v1/kv/${encodeURIComponent(key)}`);
      return res.body.toString('utf8');
    } catch (err) {
      if (err instanceof MemberClientError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** GET /v1/kv?prefix=&limit=N[&after=K] (linearizable): one page of the keys, in order, and the revision it was read at. */
  async listPage(limit: number, after?: string): Promise<{ keys: string[]; more: boolean; revision: number }> {
    const q = `prefix=&limit=${limit}${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`;
    const body = (await this.json('GET', `/v1/kv?${q}`)) as { kvs?: { key: string }[]; more?: boolean; revision?: number };
    return { keys: (body.kvs ?? []).map((k) => k.key), more: body.more === true, revision: body.revision ?? 0 };
  }

  /** DELETE /v1/kv/{key} (through the leader); resolves also when the key was absent. */
  async delete(key: string): Promise<void> {
    try {
      await this.send('DELETE', `/v1/kv/${encodeURIComponent(key)}`);
    } catch (err) {
      if (err instanceof MemberClientError && err.status === 404) return;
      throw err;
    }
  }

  /**
   * GET /v1/snapshot: the member's backup stream (headers read, body still streaming; the caller
   * must consume or destroy it). The timeout bounds the wait for the headers and any pause in the
   * body, never the whole transfer, so a large backup streams at the store's pace.
   */
  openSnapshot(): Promise<{ readonly url: string; readonly headers: Headers; readonly stream: Readable }> {
    const url = new URL(`${this.baseUrl}/v1/snapshot`);
    const h: Record<string, string> = {};
    if (this.credentials.token !== undefined) h['authorization'] = `Bearer ${this.credentials.token}`;
    const secure = url.protocol === 'https:';
    const timeoutMs = this.options.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const opts: https.RequestOptions = { method: 'GET', headers: h, timeout: timeoutMs };
      if (secure && this.credentials.caPem !== undefined) opts.ca = this.credentials.caPem;
      const onResponse = (res: http.IncomingMessage): void => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size <= 4096) chunks.push(c);
          });
          res.on('end', () => reject(new MemberClientError(url.toString(), res.statusCode ?? 0, undefined, `HTTP ${res.statusCode ?? 0} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`)));
          res.on('error', reject);
          return;
        }
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
        }
        resolve({ url: url.toString(), headers, stream: res });
      };
      const req = secure ? https.request(url, opts, onResponse) : http.request(url, opts, onResponse);
      req.on('timeout', () => req.destroy(new Error(`no data for ${timeoutMs} ms`)));
      req.on('error', (err) => reject(new MemberClientError(url.toString(), 0, undefined, `unreachable: ${err.message}`)));
      req.end();
    });
  }

  private async json(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'content-type': 'application/json' });
    const text = res.body.toString('utf8');
    return text.length === 0 ? {} : (JSON.parse(text) as unknown);
  }

  /** One request, no redirects followed; rejects with a message that never contains the token. */
  private request(method: string, url: URL, body: string | undefined, headers: Record<string, string>): Promise<RawResponse> {
    const h: Record<string, string> = { ...headers };
    if (this.credentials.token !== undefined) h['authorization'] = `Bearer ${this.credentials.token}`;
    if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') return Promise.reject(new Error(`unsupported scheme ${url.protocol}`));
    const timeoutMs = this.options.requestTimeoutMs;
    return new Promise<RawResponse>((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage): void => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MEMBER_RESPONSE_BYTES_MAX) req.destroy(new Error(`response larger than ${MEMBER_RESPONSE_BYTES_MAX} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      };
      const opts: https.RequestOptions = { method, headers: h, timeout: timeoutMs };
      // With TLS the members are trusted through the cluster CA alone (host names checked against the SANs).
      if (secure && this.credentials.caPem !== undefined) opts.ca = this.credentials.caPem;
      const req = secure ? https.request(url, opts, onResponse) : http.request(url, opts, onResponse);
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  private async send(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<RawResponse> {
    let url = `${this.baseUrl}${path}`;
    for (let hop = 0; ; hop++) {
      let res: RawResponse;
      try {
        res = await this.request(method, new URL(url), body, headers);
      } catch (err) {
        throw new MemberClientError(url, 0, undefined, `unreachable: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (res.status === 307 || res.status === 308) {
        const location = res.location;
        if (location === undefined) throw new MemberClientError(url, res.status, undefined, 'redirect without Location');
        if (hop >= this.options.maxRedirects) throw new MemberClientError(url, res.status, undefined, `more than ${this.options.maxRedirects} redirects`);
        url = new URL(location, url).toString();
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      const text = res.body.toString('utf8');
      let code: string | undefined;
      let message = `HTTP ${res.status}`;
      try {
        const parsed = JSON.parse(text) as { error?: unknown; code?: unknown };
        if (typeof parsed.code === 'string') code = parsed.code;
        if (typeof parsed.error === 'string') message = `HTTP ${res.status} ${parsed.error}`;
      } catch {
        if (text.length > 0) message = `HTTP ${res.status} ${text.slice(0, 200)}`;
      }
      throw new MemberClientError(url, res.status, code, message);
    }
  }
}
