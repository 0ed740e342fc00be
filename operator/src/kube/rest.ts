// A small typed REST client over the Kubernetes API. @kubernetes/client-node supplies the config
// and the credentials (KubeConfig); requests go through node:http(s) so the operator controls
// content types (server-side apply, merge patches on /status), timeouts and error mapping.
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../api/types.js';

/** The API server answered with a non-2xx status, or could not be reached (`status` 0). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly method: string,
    readonly path: string,
    /** HTTP status, 0 when the request failed before an answer. */
    readonly status: number,
    /** metav1.Status reason (`NotFound`, `Conflict`, `AlreadyExists`, `Invalid`, ...). */
    readonly reason: string | undefined,
    message: string,
  ) {
    super(`${method} ${path}: ${status} ${message}`);
  }
}

/** True for a 404 from the API server. */
export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}

/** True for a 409 (optimistic-concurrency conflict or already exists). */
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}

/** The object shape every call returns: metadata is all the client itself looks at. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** A list response. */
export interface KubeList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

const PLURALS: Record<string, string> = {
  Service: 'services', ConfigMap: 'configmaps', Secret: 'secrets', Pod: 'pods', PersistentVolumeClaim: 'persistentvolumeclaims', Event: 'events',
  StatefulSet: 'statefulsets', PodDisruptionBudget: 'poddisruptionbudgets', Lease: 'leases',
  CronJob: 'cronjobs', Job: 'jobs',
  RaftCluster: 'raftclusters', RaftChaosDrill: 'raftchaosdrills', RaftBackup: 'raftbackups', CustomResourceDefinition: 'customresourcedefinitions', Namespace: 'namespaces',
};

/**
 * REST path of a collection or object. `apiVersion` `v1` is the core group (`/api/v1`), any
 * other is `/apis/<group>/<version>`. Only kinds in the table above are known.
 */
export function resourcePath(apiVersion: string, kind: string, namespace: string | undefined, name?: string, subresource?: string): string {
  const plural = PLURALS[kind];
  if (plural === undefined) throw new Error(`resourcePath: unknown kind ${kind}`);
  let p = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
  if (namespace !== undefined) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource !== undefined) p += `/${subresource}`;
  return p;
}

/** Bounds of every API call. */
export interface KubeClientOptions {
  /** One request, start to last byte. */
  readonly requestTimeoutMs: number;
  /** Largest response body accepted (a runaway list must not exhaust memory). */
  readonly maxResponseBytes: number;
}

/** Defaults for the operator. */
export const DEFAULT_KUBE_CLIENT_OPTIONS: KubeClientOptions = { requestTimeoutMs: 15_000, maxResponseBytes: 64 * 1024 * 1024 };

/** Typed calls the operator needs; every method rejects with KubeApiError. */
export class KubeClient {
  constructor(readonly kubeConfig: KubeConfig, private readonly options: KubeClientOptions = DEFAULT_KUBE_CLIENT_OPTIONS) {}

  /** GET an object; undefined when it does not exist. */
  async get<T extends KubeObject>(path: string): Promise<T | undefined> {
    try {
      return (await this.request('GET', path)) as T;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** GET a collection (one page; `limit` bounds it). */
  async list<T extends KubeObject>(path: string, query: Record<string, string> = {}): Promise<KubeList<T>> {
    return (await this.request('GET', path, undefined, undefined, query)) as KubeList<T>;
  }

  /** POST a new object into a collection. */
  async create<T extends KubeObject>(collectionPath: string, body: T): Promise<T> {
    return (await this.request('POST', collectionPath, JSON.stringify(body), 'application/json', { fieldManager: FIELD_MANAGER })) as T;
  }

  /** PUT a whole object (its resourceVersion makes it a compare-and-swap). */
  async replace<T extends KubeObject>(path: string, body: T): Promise<T> {
    return (await this.request('PUT', path, JSON.stringify(body), 'application/json', { fieldManager: FIELD_MANAGER })) as T;
  }

  /** Server-side apply of `body` at its own path, as field manager `raftkv-operator`, forcing ownership of its fields. */
  async apply<T extends KubeObject>(body: T): Promise<T> {
    const meta = body.metadata;
    if (body.apiVersion === undefined || body.kind === undefined || meta?.name === undefined) throw new Error('apply: object needs apiVersion, kind and metadata.name');
    const path = resourcePath(body.apiVersion, body.kind, meta.namespace, meta.name);
    return (await this.request('PATCH', path, JSON.stringify(body), 'application/apply-patch+yaml', { fieldManager: FIELD_MANAGER, force: 'true' })) as T;
  }

  /** JSON merge patch (RFC 7386) at `path` (use `.../status` for the status subresource). */
  async mergePatch<T extends KubeObject>(path: string, patch: unknown): Promise<T> {
    return (await this.request('PATCH', path, JSON.stringify(patch), 'application/merge-patch+json', { fieldManager: FIELD_MANAGER })) as T;
  }

  /** JSON patch (RFC 6902); a `test` op makes it conditional. */
  async jsonPatch<T extends KubeObject>(path: string, ops: unknown[]): Promise<T> {
    return (await this.request('PATCH', path, JSON.stringify(ops), 'application/json-patch+json', { fieldManager: FIELD_MANAGER })) as T;
  }

  /** DELETE; resolves false when it was already gone. */
  async delete(path: string, query: Record<string, string> = {}): Promise<boolean> {
    try {
      await this.request('DELETE', path, undefined, undefined, query);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** One raw request; the body is parsed as JSON. */
  async request(method: string, path: string, body?: string, contentType?: string, query: Record<string, string> = {}): Promise<unknown> {
    const cluster = this.kubeConfig.getCurrentCluster();
    if (cluster === null) throw new KubeApiError(method, path, 0, undefined, 'kubeconfig has no current cluster');
    const qs = new URLSearchParams(query).toString();
    const url = new URL(`${cluster.server.replace(/\/+$/, '')}${path}${qs.length > 0 ? `?${qs}` : ''}`);
    const opts: https.RequestOptions = { method, headers: { accept: 'application/json' }, timeout: this.options.requestTimeoutMs };
    await this.kubeConfig.applyToHTTPSOptions(opts);
    const headers = (opts.headers ?? {}) as Record<string, string>;
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    opts.headers = headers;
    const lib = url.protocol === 'https:' ? https : http;
    const maxBytes = this.options.maxResponseBytes;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = lib.request(url, opts, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) req.destroy(new Error(`response larger than ${maxBytes} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.options.requestTimeoutMs} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    }).catch((err: unknown) => {
      throw new KubeApiError(method, path, 0, undefined, err instanceof Error ? err.message : String(err));
    });
    let parsed: unknown = undefined;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : {};
    } catch {
      parsed = { message: text.slice(0, 500) };
    }
    if (status < 200 || status >= 300) {
      const st = parsed as { reason?: unknown; message?: unknown };
      throw new KubeApiError(method, path, status, typeof st.reason === 'string' ? st.reason : undefined, typeof st.message === 'string' ? st.message : text.slice(0, 500));
    }
    return parsed;
  }
}
