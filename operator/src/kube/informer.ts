// An informer: list, then watch from the list's resourceVersion, keeping a local cache and calling
// a handler for every change. A watch that ends is resumed from the last resourceVersion seen, with
// backoff; `410 Gone` (the version was compacted) forces a fresh list.
import { Watch } from '@kubernetes/client-node';
import type { KubeClient, KubeObject } from './rest.js';

/** Change types delivered to the handler. */
export type InformerEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

/** Bounds of the reconnect loop. */
export interface InformerOptions {
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Server-side timeout of one watch request; the informer then resumes (keeps connections fresh). */
  readonly watchTimeoutSeconds: number;
  /** Most objects one list may return (one page). */
  readonly listLimit: number;
}

/** Defaults for the operator. */
export const DEFAULT_INFORMER_OPTIONS: InformerOptions = { minBackoffMs: 200, maxBackoffMs: 10_000, watchTimeoutSeconds: 300, listLimit: 5000 };

/** `namespace/name` of an object, the key of caches and work queues. */
export function objectKey(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

interface WatchEventObject extends KubeObject {
  code?: number;
}

/** Caches one collection path and reports changes; start() resolves after the first list. */
export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion: string | undefined;
  private abort: AbortController | undefined;
  private stopped = false;
  private backoffMs: number;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Lists made (1 + relists after 410 or errors); for tests and metrics. */
  lists = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly path: string,
    private readonly onEvent: (type: InformerEvent, obj: T) => void,
    private readonly onError: (err: unknown) => void,
    private readonly options: InformerOptions = DEFAULT_INFORMER_OPTIONS,
  ) {
    this.backoffMs = options.minBackoffMs;
  }

  /** Lists and starts watching; rejects if the first list fails. */
  async start(): Promise<void> {
    await this.relist();
    this.watch();
  }

  /** Stops the watch; no handler calls after it returns. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.abort?.abort();
  }

  /** Cached object by `namespace/name`. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.cache.values()];
  }

  private async relist(): Promise<void> {
    this.lists++;
    const res = await this.client.list<T>(this.path, { limit: String(this.options.listLimit) });
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const item of res.items) {
      const key = objectKey(item);
      seen.add(key);
      const had = this.cache.get(key);
      this.cache.set(key, item);
      if (had === undefined) this.onEvent('ADDED', item);
      else if (had.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.onEvent('MODIFIED', item);
    }
    for (const [key, obj] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.onEvent('DELETED', obj);
      }
    }
    this.resourceVersion = res.metadata.resourceVersion;
  }

  private scheduleRetry(relist: boolean): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.options.maxBackoffMs, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.stopped) return;
      const next = relist ? this.relist() : Promise.resolve();
      next.then(() => this.watch(), (err: unknown) => {
        this.onError(err);
        this.scheduleRetry(true);
      });
    }, delay);
  }

  private watch(): void {
    if (this.stopped) return;
    let gone = false;
    const startedAtMs = Date.now();
    const query: Record<string, string | number | boolean> = { allowWatchBookmarks: true, timeoutSeconds: this.options.watchTimeoutSeconds };
    if (this.resourceVersion !== undefined) query['resourceVersion'] = this.resourceVersion;
    const watcher = new Watch(this.client.kubeConfig);
    watcher.watch(this.path, query, (phase: string, apiObj: unknown) => {
      if (this.stopped) return;
      const obj = apiObj as WatchEventObject;
      if (phase === 'ERROR') {
        if (obj.code === 410) gone = true;
        return;
      }
      const rv = obj.metadata?.resourceVersion;
      if (rv !== undefined) this.resourceVersion = rv;
      if (phase === 'BOOKMARK') return;
      this.backoffMs = this.options.minBackoffMs;
      const key = objectKey(obj);
      if (phase === 'DELETED') {
        this.cache.delete(key);
        this.onEvent('DELETED', obj as T);
      } else if (phase === 'ADDED' || phase === 'MODIFIED') {
        this.cache.set(key, obj as T);
        this.onEvent(phase, obj as T);
      }
    }, (err: unknown) => {
      if (this.stopped) return;
      const status = (err as { statusCode?: unknown; code?: unknown } | null)?.statusCode ?? (err as { code?: unknown } | null)?.code;
      if (status === 410) gone = true;
      if (err !== null && err !== undefined && !gone) this.onError(err);
      if (gone) this.resourceVersion = undefined;
      // A clean server-side timeout resumes at once; errors, 410 and watches that end at once back off.
      if (!gone && (err === null || err === undefined) && Date.now() - startedAtMs > 1000) this.watch();
      else this.scheduleRetry(gone);
    }).then((ac) => {
      if (this.stopped) ac.abort();
      else this.abort = ac;
    }, (err: unknown) => {
      this.onError(err);
      this.scheduleRetry(true);
    });
  }
}
