// raftctl's HTTP client: sends a request to the endpoints in turn, follows 307 redirects to the
// leader (bounded), and retries with backoff across all endpoints until the command's deadline
// when a member could not serve it (retry.ts says which failures are retried). When it finally
// gives up it names every endpoint and its last answer. Error bodies become one readable line.
// Speaks http:// and https:// (http-request.ts) and sends the bearer token (--token /
// RAFTKV_TOKEN) on every request, redirects included.
import { randomBytes } from 'node:crypto';
import { HttpRequester } from './http-request.js';
import { attemptTimeoutMs, automaticIdempotencyKey, backoffMs, classifyHttpAnswer, classifyNetworkError, shouldRetry } from './retry.js';
import type { FailureKind } from './retry.js';

/** Redirects followed for one call. */
export const MAX_REDIRECTS = 5;
/** No retry is started with less time than this left before the deadline. */
export const MIN_ATTEMPT_MS = 100;

/** A failure to report on stderr (exit 1). */
export class CliError extends Error {
  constructor(message: string, readonly status: number | null = null, readonly code: string | null = null) {
    super(message);
    this.name = 'CliError';
  }
}

/** A finished response. */
export interface CliResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
  /** The URL that answered (after redirects). */
  readonly url: string;
}

/** Request options. */
export interface CliRequest {
  readonly method: string;
  readonly path: string;
  readonly body?: Buffer | string;
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * Safe to send again when its outcome is unknown (a timeout, a dropped connection): reads, and
   * writes carrying an Idempotency-Key. Default: true for GET and HEAD, else false.
   */
  readonly idempotent?: boolean;
}

/** The code (`ECONNREFUSED`) and name (`TimeoutError`) of a network error, wherever node put them. */
export function networkErrorCode(err: unknown): { code: string | null; name: string | null } {
  if (!(err instanceof Error)) return { code: null, name: null };
  const own = (err as { code?: unknown }).code;
  if (typeof own === 'string') return { code: own, name: err.name };
  const cause = (err as { cause?: unknown }).cause;
  const code = cause instanceof Error ? (cause as { code?: unknown }).code : undefined;
  return { code: typeof code === 'string' ? code : null, name: err.name };
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
    const own = (err as { code?: unknown }).code;
    if (typeof own === 'string') return `${own} ${err.message}`;
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error) {
      const code = (cause as { code?: unknown }).code;
      return typeof code === 'string' ? `${code} ${cause.message}` : cause.message;
    }
    return err.message;
  }
  return String(err);
}

/** Reads `{"error","code"}` from a body, or falls back to the raw text. */
export function errorLine(status: number, body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const j = JSON.parse(text) as { error?: unknown; code?: unknown };
    if (typeof j.error === 'string') return `${status}${typeof j.code === 'string' ? ` ${j.code}` : ''}: ${j.error}`;
  } catch {
    // not JSON: show the text
  }
  const short = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return `${status}${short ? `: ${short}` : ''}`;
}

/** The `code` of a JSON error body, or null. */
export function errorCodeOf(body: Buffer): string | null {
  try {
    const j = JSON.parse(body.toString('utf8')) as { code?: unknown };
    return typeof j.code === 'string' ? j.code : null;
  } catch {
    return null;
  }
}

/** What to tell a user whose credentials were refused. */
export function authHint(status: number, hasToken: boolean): string {
  if (status === 401) {
    return hasToken
      ? ' (the member did not accept the token: check --token / --token-file / $RAFTKV_TOKEN)'
      : ' (the cluster requires a token: pass --token T or --token-file F, or set $RAFTKV_TOKEN)';
  }
  if (status === 403) return ' (the token\'s role is too weak for this: read < write < admin)';
  return '';
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** One attempt's failure, remembered per endpoint for the final message. */
interface AttemptFailure {
  readonly kind: FailureKind;
  readonly text: string;
  readonly response: CliResponse | null;
  /** No answer within the attempt's timeout. */
  readonly timedOut?: boolean;
}

/** Credentials and transport of a client. */
export interface ClientOptions {
  /** Bearer token sent as `Authorization: Bearer ...` (never printed). */
  readonly token?: string;
  /** The requester (TLS settings); default: plain agents, system CA roots. */
  readonly requester?: HttpRequester;
}

/** Idempotency-Key header for a write: the given key, an automatic one with --retry, or none. */
export function idempotencyHeader(given: string | null, retry: boolean): Record<string, string> {
  if (given !== null) return { 'idempotency-key': given };
  return retry ? { 'idempotency-key': automaticIdempotencyKey(randomBytes(16).toString('hex')) } : {};
}

/** Talks to a cluster through a list of endpoints. */
export class RaftkvClient {
  readonly requester: HttpRequester;
  private readonly token: string | undefined;

  constructor(
    readonly endpoints: readonly string[],
    private readonly timeoutMs: number,
    options: ClientOptions = {},
  ) {
    this.requester = options.requester ?? new HttpRequester();
    this.token = options.token;
  }

  /** Request headers with the credentials added. */
  headersWith(extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    if (this.token !== undefined) h['authorization'] = `Bearer ${this.token}`;
    return h;
  }

  /** The command's deadline (all attempts together); also the timeout of one streaming connect. */
  get requestTimeoutMs(): number {
    return this.timeoutMs;
  }

  /** True when a bearer token is sent. */
  get hasToken(): boolean {
    return this.token !== undefined;
  }

  /**
   * Sends the request, following redirects and retrying across all endpoints with backoff until
   * the deadline (--timeout). Returns the first answer that is a success or a final refusal
   * (4xx, 500, 507); throws CliError when no member served it in time, naming every endpoint
   * and its last answer, or at once when a write's outcome is unknown and it may not be sent again.
   */
  async request(r: CliRequest): Promise<CliResponse> {
    const idempotent = r.idempotent ?? (r.method === 'GET' || r.method === 'HEAD');
    const startMs = performance.now();
    const deadlineAt = startMs + this.timeoutMs;
    const last = new Map<string, AttemptFailure>();
    let attempts = 0;
    // Set when the deadline cut the last attempt of a write that may not be resent.
    let unknownAtDeadline = false;
    rounds: for (let round = 0; ; round++) {
      for (const endpoint of this.endpoints) {
        const remaining = deadlineAt - performance.now();
        // An attempt cut short by our own deadline would only turn a clear answer into "unknown".
        if (remaining <= 0 || (attempts > 0 && remaining < MIN_ATTEMPT_MS)) break rounds;
        attempts++;
        // A write that may not be resent gets all the time left: giving up on it early would not
        // let another member serve it, only make its outcome unknown.
        const budgetMs = idempotent ? attemptTimeoutMs(remaining, this.timeoutMs, this.endpoints.length) : Math.max(1, remaining);
        const outcome = await this.attempt(endpoint, r, budgetMs);
        if ('status' in outcome) return outcome;
        if (outcome.timedOut === true && budgetMs >= remaining) {
          // Our deadline, not the member, ended this attempt (a member may hold a request while
          // it waits for an election): keep what the endpoint answered before.
          const before = last.get(endpoint);
          last.set(endpoint, { ...outcome, text: before === undefined ? 'no answer before the deadline' : `${before.text}, then no answer before the deadline` });
          unknownAtDeadline = !idempotent;
          break rounds;
        }
        last.set(endpoint, outcome);
        if (outcome.kind === 'final') {
          if (outcome.response !== null) return outcome.response;
          throw new CliError(`${endpoint}: ${outcome.text}`);
        }
        if (!shouldRetry(outcome.kind, idempotent)) {
          const earlier = [...last].filter(([e]) => e !== endpoint).map(([e, f]) => `${e}: ${f.text}`);
          throw new CliError(
            `the outcome is unknown (${endpoint}: ${outcome.text}): the write may have been applied or not; ` +
            `read before writing again, or use --idempotency-key K (or --retry) so a retry is applied once${earlier.length > 0 ? ` (earlier answers: ${earlier.join('; ')})` : ''}`,
            outcome.response?.status ?? null, outcome.response === null ? null : errorCodeOf(outcome.response.body));
        }
      }
      const remaining = deadlineAt - performance.now() - MIN_ATTEMPT_MS;
      if (remaining <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(remaining, backoffMs(round, Math.random()))));
    }
    const answers = this.endpoints.map((e) => `${e}: ${last.get(e)?.text ?? 'not tried'}`);
    const lastResponse = [...last.values()].reverse().find((f) => f.response !== null)?.response ?? null;
    throw new CliError(
      `no member served the request within ${seconds(this.timeoutMs)} (${attempts} attempts over ${this.endpoints.length} endpoint${this.endpoints.length === 1 ? '' : 's'}; ` +
      `raise --timeout to wait longer): ${answers.join('; ')}` +
      (unknownAtDeadline ? '. The last attempt got no answer in time, so whether the write was applied is unknown: read before writing again, or use --idempotency-key K (or --retry)' : ''),
      lastResponse?.status ?? null, lastResponse === null ? null : errorCodeOf(lastResponse.body));
  }

  /** One attempt at one endpoint, following redirects: a response to return, or why it failed. */
  private async attempt(endpoint: string, r: CliRequest, timeoutMs: number): Promise<CliResponse | AttemptFailure> {
    let url = endpoint + r.path;
    const via: string[] = [];
    for (let hop = 0; ; hop++) {
      let res: CliResponse;
      try {
        res = await this.once(url, r, timeoutMs);
      } catch (err) {
        const { code, name } = networkErrorCode(err);
        const timedOut = name === 'TimeoutError' || name === 'AbortError';
        return { kind: classifyNetworkError(code, name), text: `${via.join('')}${describeNetworkError(err)}`, response: null, timedOut };
      }
      if (res.status === 307 || res.status === 308) {
        const loc = res.headers.get('location');
        if (loc === null) return res;
        // A follower pointing back and forth (a leader change under way) is not worth following forever.
        if (hop >= MAX_REDIRECTS) return { kind: 'not-applied', text: `${via.join('')}too many redirects (last to ${loc})`, response: null };
        url = new URL(loc, url).toString();
        via.push(`redirected to the leader at ${new URL(url).origin}: `);
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      const kind = classifyHttpAnswer(res.status, errorCodeOf(res.body));
      return { kind, text: `${via.join('')}${errorLine(res.status, res.body)}`, response: res };
    }
  }

  private async once(url: string, r: CliRequest, timeoutMs = this.timeoutMs): Promise<CliResponse> {
    const res = await this.requester.fetch(url, {
      method: r.method, headers: this.headersWith(r.headers), timeoutMs, ...(r.body !== undefined ? { body: r.body } : {}),
    });
    return { status: res.status, headers: res.headers, body: res.body, url };
  }

  /** `request`, with `what` (e.g. `get k`) in front of any error it throws. */
  async requestFor(r: CliRequest, what: string): Promise<CliResponse> {
    try {
      return await this.request(r);
    } catch (err) {
      if (err instanceof CliError) throw new CliError(`${what}: ${err.message}${err.status === null ? '' : authHint(err.status, this.hasToken)}`, err.status, err.code);
      throw err;
    }
  }

  /** Like `request`, but throws CliError for any non-2xx answer. */
  async ok(r: CliRequest, what: string): Promise<CliResponse> {
    const res = await this.requestFor(r, what);
    if (res.status < 200 || res.status >= 300) {
      throw new CliError(`${what}: ${errorLine(res.status, res.body)}${authHint(res.status, this.hasToken)}`, res.status, errorCodeOf(res.body));
    }
    return res;
  }

  /** `ok` and parse the JSON body. */
  async json<T>(r: CliRequest, what: string): Promise<T> {
    const res = await this.ok(r, what);
    try {
      return JSON.parse(res.body.toString('utf8')) as T;
    } catch {
      throw new CliError(`${what}: the member answered with a body that is not JSON`);
    }
  }

  /** GET `path` on one specific base URL (no failover, no redirects): for per-member status. */
  async getFrom<T>(baseUrl: string, path: string): Promise<T> {
    const res = await this.once(baseUrl.replace(/\/$/, '') + path, { method: 'GET', path });
    if (res.status !== 200) throw new CliError(errorLine(res.status, res.body), res.status);
    return JSON.parse(res.body.toString('utf8')) as T;
  }
}
