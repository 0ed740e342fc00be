// GET /v1/watch?prefix=P&fromRevision=R: Server-Sent Events, one `data:` JSON line per change
// (`id:` is the revision, so EventSource's Last-Event-ID resumes exactly). Bounded: at most
// `maxWatchers` streams (beyond: 429), and a stream whose unsent bytes pass
// `maxBufferedBytes` is closed (the client resumes from its last revision) rather than letting
// a slow reader grow the member's memory. One shared timer sends heartbeat comments.
import type { Request, Response, Router } from 'express';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import type { KvWatchEvent, KvWatchHandle } from '../kv-port.js';
import { MAX_WIRE_INTEGER, checkKeyLength, parseIntParam } from '../validate.js';
import { query, route } from './handler.js';

/** Bounds of the watch streams. */
export interface WatchLimits {
  /** Open streams at once (--max-watchers). */
  readonly maxWatchers: number;
  /** Unsent bytes one stream may hold before it is closed as too slow. */
  readonly maxBufferedBytes: number;
  /** Interval of the `: heartbeat` comment keeping proxies and clients from timing out. */
  readonly heartbeatMs: number;
}

interface Watcher {
  readonly res: Response;
  handle: KvWatchHandle | null;
  closed: boolean;
}

/** Owns the open watch streams; `closeAll` ends them (server shutdown). */
export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly ctx: ApiContext, private readonly limits: WatchLimits) {}

  /** Open streams. */
  get size(): number {
    return this.watchers.size;
  }

  /** Registers GET /v1/watch. */
  register(router: Router): void {
    router.get('/v1/watch', route(this.ctx, '/v1/watch', (req, res) => {
      this.open(req, res);
      return Promise.resolve(null);
    }));
  }

  private open(req: Request, res: Response): void {
    const prefix = query(req, 'prefix') ?? '';
    checkKeyLength(prefix, 'prefix');
    const fromText = query(req, 'fromRevision');
    const lastEventId = req.headers['last-event-id'];
    let fromRevision: number;
    if (fromText !== undefined) fromRevision = parseIntParam(fromText, 'fromRevision', 0, MAX_WIRE_INTEGER);
    else if (typeof lastEventId === 'string') fromRevision = parseIntParam(lastEventId, 'Last-Event-ID', 0, MAX_WIRE_INTEGER) + 1;
    else fromRevision = 0; // from now
    if (this.watchers.size >= this.limits.maxWatchers) {
      throw new ApiError('TOO_MANY_REQUESTS', `too many open watches (at most ${this.limits.maxWatchers})`);
    }
    const w: Watcher = { res, handle: null, closed: false };
    // Events the store delivers before the headers are out (a compacted revision must still be
    // able to answer 410) are held until then.
    let early: KvWatchEvent[] | null = [];
    w.handle = this.ctx.reader.watch(prefix, fromRevision, {
      onEvent: (ev) => {
        if (early !== null) {
          early.push(ev);
          return true;
        }
        return this.send(w, ev);
      },
      onClose: (reason, message) => {
        if (w.closed) return;
        // Tell the client why, so it re-watches (from its last revision, or from now after a reset).
        w.res.write(`event: close\ndata: ${JSON.stringify({ reason, message })}\n\n`);
        this.close(w);
        w.res.end();
      },
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-revision': String(this.ctx.reader.revision()),
    });
    res.write(': watching\n\n');
    this.watchers.add(w);
    this.ctx.metrics.watchersActive.set(this.watchers.size);
    this.ensureTimer();
    req.on('close', () => this.close(w));
    res.on('error', () => this.close(w));
    // A full socket pauses delivery (onEvent returned false); 'drain' resumes it.
    res.on('drain', () => w.handle?.resume());
    const held = early;
    early = null;
    for (const ev of held) this.send(w, ev);
  }

  /** Writes one event; false when the socket is full (delivery pauses until 'drain'). */
  private send(w: Watcher, ev: KvWatchEvent): boolean {
    if (w.closed) return false;
    const v = ev.value;
    const data = JSON.stringify({ type: ev.type, key: ev.key, value: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'), revision: ev.revision });
    const more = w.res.write(`id: ${ev.revision}\ndata: ${data}\n\n`);
    if (w.res.writableLength > this.limits.maxBufferedBytes) {
      this.ctx.logger.warn({ buffered: w.res.writableLength }, 'watch stream too slow; closing it (the client resumes from its last revision)');
      this.close(w);
      w.res.end();
      return false;
    }
    return more;
  }

  private close(w: Watcher): void {
    if (w.closed) return;
    w.closed = true;
    w.handle?.cancel();
    this.watchers.delete(w);
    this.ctx.metrics.watchersActive.set(this.watchers.size);
    if (this.watchers.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A member that learned it was removed delivers no more events: tell its watchers to
      // re-watch elsewhere (checked at the heartbeat, so within one heartbeat interval).
      if (this.ctx.service.isRemoved()) {
        for (const w of [...this.watchers]) {
          w.res.write(`event: close\ndata: ${JSON.stringify({ reason: 'removed', message: 'this member was removed from the cluster; watch from your last revision on another member' })}\n\n`);
          this.close(w);
          w.res.end();
        }
        return;
      }
      for (const w of this.watchers) w.res.write(': heartbeat\n\n');
    }, this.limits.heartbeatMs);
    this.timer.unref();
  }

  /** Ends every open stream (server shutdown). */
  closeAll(): void {
    for (const w of [...this.watchers]) {
      this.close(w);
      w.res.end();
    }
  }
}
