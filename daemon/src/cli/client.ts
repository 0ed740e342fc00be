// raftctl's HTTP client: tries the endpoints in order, moves to the next on a connection error
// (or a 503 from a member without a leader), follows 307 redirects to the leader (bounded), and
// turns error bodies into one readable line. Speaks http:// and https:// (http-request.ts) and
// sends the bearer token (--token / RAFTKV_TOKEN) on every request, redirects included.
import { HttpRequester } from './http-request.js';

/** Redirects followed for one call. */
export const MAX_REDIRECTS = 5;

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

/** Credentials and transport of a client. */
export interface ClientOptions {
  /** Bearer token sent as `Authorization: Bearer ...` (never printed). */
  readonly token?: string;
  /** The requester (TLS settings); default: plain agents, system CA roots. */
  readonly requester?: HttpRequester;
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

  /** The per-request timeout. */
  get requestTimeoutMs(): number {
    return this.timeoutMs;
  }

  /**
   * Sends the request, following redirects and failing over between endpoints. Returns the
   * first response that is not a redirect or a leaderless 503; throws CliError when no endpoint
   * answered.
   */
  async request(r: CliRequest): Promise<CliResponse> {
    const failures: string[] = [];
    let last: CliResponse | null = null;
    for (const endpoint of this.endpoints) {
      let url = endpoint + r.path;
      try {
        for (let hop = 0; ; hop++) {
          const res = await this.once(url, r);
          if (res.status === 307 || res.status === 308) {
            const loc = res.headers.get('location');
            if (loc === null) return res;
            if (hop >= MAX_REDIRECTS) throw new CliError(`too many redirects (last to ${loc})`);
            url = new URL(loc, url).toString();
            continue;
          }
          if (res.status === 503 && this.endpoints.length > 1) {
            last = res;
            failures.push(`${endpoint}: ${errorLine(res.status, res.body)}`);
            break;
          }
          return res;
        }
      } catch (err) {
        if (err instanceof CliError) throw err;
        failures.push(`${new URL(url).origin}: ${describeNetworkError(err)}`);
      }
    }
    if (last) return last;
    throw new CliError(`no endpoint answered (${failures.join('; ')})`);
  }

  private async once(url: string, r: CliRequest): Promise<CliResponse> {
    const res = await this.requester.fetch(url, {
      method: r.method, headers: this.headersWith(r.headers), timeoutMs: this.timeoutMs, ...(r.body !== undefined ? { body: r.body } : {}),
    });
    return { status: res.status, headers: res.headers, body: res.body, url };
  }

  /** Like `request`, but throws CliError for any non-2xx answer. */
  async ok(r: CliRequest, what: string): Promise<CliResponse> {
    const res = await this.request(r);
    if (res.status < 200 || res.status >= 300) {
      let code: string | null = null;
      try {
        const j = JSON.parse(res.body.toString('utf8')) as { code?: unknown };
        if (typeof j.code === 'string') code = j.code;
      } catch {
        // no code
      }
      throw new CliError(`${what}: ${errorLine(res.status, res.body)}`, res.status, code);
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
