// raftctl's HTTP(S) requests on node:http/https rather than fetch: fetch cannot be given a CA
// bundle or a client certificate without the undici package, and raftctl needs both for
// clusters running with --cert/--client-ca. One keep-alive agent per scheme and TLS setting.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** TLS settings for https:// endpoints (PEM contents). */
export interface ClientTls {
  /** CA bundle that signed the members' client-port certificates (else the system roots). */
  readonly ca?: Buffer;
  /** Client certificate and key, for members started with --client-ca. */
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** One request. */
export interface NodeRequest {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Buffer | string;
  readonly timeoutMs: number;
}

/** A response with its body still streaming. */
export interface StreamedResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly stream: IncomingMessage;
}

/** Sends requests with the agents of one TLS setting. */
export class HttpRequester {
  private readonly http = new HttpAgent({ keepAlive: true });
  private readonly https: HttpsAgent;

  constructor(tls: ClientTls = {}) {
    this.https = new HttpsAgent({
      keepAlive: true,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
    });
  }

  /** Starts a request; resolves once the status line and headers arrived. */
  stream(url: string, r: NodeRequest): Promise<StreamedResponse> {
    const u = new URL(url);
    const isHttps = u.protocol === 'https:';
    const send = isHttps ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(u, { method: r.method, headers: { ...r.headers }, agent: isHttps ? this.https : this.http }, (res) => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (v === undefined) continue;
          for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
        }
        resolve({ status: res.statusCode ?? 0, headers, stream: res });
      });
      // Bounds the connect and the wait for headers; the body is bounded by the caller.
      req.setTimeout(r.timeoutMs, () => req.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })));
      req.on('error', reject);
      if (r.body !== undefined) req.end(r.body);
      else req.end();
    });
  }

  /** A whole request: status, headers and body; the timeout covers the body too. */
  async fetch(url: string, r: NodeRequest): Promise<{ status: number; headers: Headers; body: Buffer }> {
    const res = await this.stream(url, r);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => res.stream.destroy(Object.assign(new Error('timed out'), { name: 'TimeoutError' })), r.timeoutMs);
    try {
      for await (const c of res.stream) chunks.push(c as Buffer);
    } finally {
      clearTimeout(timer);
    }
    return { status: res.status, headers: res.headers, body: Buffer.concat(chunks) };
  }

  /** Closes idle keep-alive connections so the process can exit. */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}
