// A minimal HTTP/1.1 keep-alive client connection for load generation. It writes prebuilt
// request bytes and parses only what it needs from responses (status code, Content-Length or
// chunked framing), so the load generator costs far less CPU per request than the servers it
// measures. One request in flight per connection, as wrk does.
import net from 'node:net';
import tls from 'node:tls';

/** Largest response header block accepted before the connection is failed. */
const MAX_HEADER_BYTES = 64 * 1024;
/** Largest response body accepted before the connection is failed. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface HttpResponseHead {
  readonly status: number;
  readonly bodyBytes: number;
  /** A redirect's Location header (parsed only for 3xx answers). */
  readonly location?: string;
}

type Pending = { resolve: (r: HttpResponseHead) => void; reject: (e: Error) => void };

/**
 * One keep-alive connection. `request(bytes)` resolves with the status and body size of the
 * response. Calls must not overlap (the caller awaits each). `close()` destroys the socket.
 */
export class BenchHttpConnection {
  private readonly socket: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  private closedError: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
  }

  /**
   * Opens a connection to host:port (TLS when `secure` is given: its CA and client certificate,
   * the host name checked as https clients do); rejects after `timeoutMs`.
   */
  static connect(host: string, port: number, timeoutMs: number, secure: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer } | null = null): Promise<BenchHttpConnection> {
    return new Promise((resolve, reject) => {
      const socket = secure
        ? tls.connect({ host, port, ...secure, ...(net.isIP(host) === 0 ? { servername: host } : {}) })
        : net.connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect ${host}:${port} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(new BenchHttpConnection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** Sends one complete request and resolves with its response head. */
  request(bytes: Buffer): Promise<HttpResponseHead> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.pending) return Promise.reject(new Error('request already in flight'));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(bytes);
    });
  }

  close(): void {
    this.closedError ??= new Error('closed');
    this.socket.destroy();
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const parsed = parseResponse(this.buffer);
    if (parsed === 'incomplete') {
      if (this.buffer.length > MAX_HEADER_BYTES + MAX_BODY_BYTES) this.failAndClose(new Error('response too large'));
      return;
    }
    if (parsed instanceof Error) {
      this.failAndClose(parsed);
      return;
    }
    this.buffer = parsed.consumed === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(parsed.consumed);
    const p = this.pending;
    this.pending = null;
    p?.resolve(parsed.location === undefined ? { status: parsed.status, bodyBytes: parsed.bodyBytes } : { status: parsed.status, bodyBytes: parsed.bodyBytes, location: parsed.location });
  }

  private failAndClose(err: Error): void {
    this.fail(err);
    this.socket.destroy();
  }
}

interface Parsed {
  readonly status: number;
  readonly bodyBytes: number;
  readonly consumed: number;
  readonly location?: string;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Parses one response at the start of `buf`: 'incomplete', an Error, or the response framing. */
export function parseResponse(buf: Buffer): Parsed | 'incomplete' | Error {
  const headEnd = buf.indexOf(CRLFCRLF);
  if (headEnd < 0) return buf.length > MAX_HEADER_BYTES ? new Error('response header too large') : 'incomplete';
  const head = buf.toString('latin1', 0, headEnd);
  // "HTTP/1.1 200 OK"
  const status = Number(head.slice(9, 12));
  if (!head.startsWith('HTTP/1.') || !Number.isInteger(status)) return new Error('malformed status line');
  const lower = head.toLowerCase();
  const bodyStart = headEnd + 4;
  const location = status >= 300 && status < 400 ? headerValue(head, lower, 'location') : undefined;
  const framed = framing(buf, lower, status, bodyStart);
  return framed instanceof Error || framed === 'incomplete' || location === undefined ? framed : { ...framed, location };
}

function headerValue(head: string, lower: string, name: string): string | undefined {
  const at = lower.indexOf(`\r\n${name}:`);
  if (at < 0) return undefined;
  const lineEnd = head.indexOf('\r\n', at + 2);
  return head.slice(at + name.length + 3, lineEnd < 0 ? undefined : lineEnd).trim();
}

function framing(buf: Buffer, lower: string, status: number, bodyStart: number): Parsed | 'incomplete' | Error {
  const clIdx = lower.indexOf('\r\ncontent-length:');
  if (clIdx >= 0) {
    const lineEnd = lower.indexOf('\r\n', clIdx + 2);
    const len = Number(lower.slice(clIdx + 17, lineEnd < 0 ? undefined : lineEnd).trim());
    if (!Number.isInteger(len) || len < 0 || len > MAX_BODY_BYTES) return new Error('bad content-length');
    if (buf.length < bodyStart + len) return 'incomplete';
    return { status, bodyBytes: len, consumed: bodyStart + len };
  }
  if (lower.includes('\r\ntransfer-encoding: chunked')) {
    let pos = bodyStart;
    let total = 0;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos, 'latin1');
      if (lineEnd < 0) return 'incomplete';
      const size = parseInt(buf.toString('latin1', pos, lineEnd), 16);
      if (!Number.isInteger(size) || size < 0 || size > MAX_BODY_BYTES) return new Error('bad chunk size');
      const next = lineEnd + 2 + size + 2;
      if (buf.length < next) return 'incomplete';
      total += size;
      pos = next;
      if (size === 0) return { status, bodyBytes: total, consumed: pos };
    }
  }
  // No body framing: 204/304 or a body-less response.
  return { status, bodyBytes: 0, consumed: bodyStart };
}
