// Chaos clients: concurrent workers doing register reads, writes and compare-and-set on a few
// keys through any member (following redirects), recording invoke/complete times and
// outcomes. A timeout or a lost connection after sending is recorded as indeterminate ('info'),
// because the write may or may not have happened. Workers also write unique, never-overwritten
// keys (durability check) and idempotent retries (idempotency check).
import { performance } from 'node:perf_hooks';
import { longestUnavailableMs } from '../../operator/src/controllers/drill-verdict.js';
import type { ChaosRng } from './rng.js';

/** One client operation in the history (register model, per key). */
export interface ChaosOp {
  readonly process: number;
  readonly key: string;
  readonly f: 'read' | 'write' | 'cas';
  /** write/cas: the new value; read: the value read (null = absent). */
  value: string | null;
  /** cas: the value expected. */
  readonly expected?: string | null;
  readonly invokeMs: number;
  completeMs: number;
  outcome: 'ok' | 'fail' | 'info';
  /** Which member answered (after redirects) or the error seen. */
  note: string;
}

export interface ClientOptions {
  readonly workers: number;
  readonly registerKeys: number;
  readonly requestTimeoutMs: number;
  /** Pause between a worker's operations. */
  readonly thinkMs: number;
  readonly endpoints: () => readonly string[];
}

/** Statuses that prove a write did not happen (410: a removed member refuses before doing anything). */
const DEFINITE_FAILURE = new Set([400, 404, 409, 410, 412, 413, 429, 503]);
/** Upper bound on recorded operations (the run stops issuing when reached). */
export const MAX_HISTORY_OPS = 200_000;

export class ChaosClients {
  readonly history: ChaosOp[] = [];
  /** Unique keys whose write was acknowledged: key → value. */
  readonly acknowledged = new Map<string, string>();
  /** Idempotent writes: key → value written by every attempt with one Idempotency-Key. */
  readonly idempotentWrites = new Map<string, { readonly idemKey: string; readonly value: string; attempts: number; acked: boolean }>();
  private stopping = false;
  private readonly origin = performance.now();
  private running: Promise<void>[] = [];
  successTimesMs: number[] = [];

  constructor(private readonly o: ClientOptions, private readonly rng: ChaosRng) {}

  now(): number {
    return performance.now() - this.origin;
  }

  start(): void {
    for (let w = 0; w < this.o.workers; w++) this.running.push(this.worker(w));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private pickEndpoint(): string {
    const eps = this.o.endpoints();
    return eps[this.rng.below(eps.length)] ?? eps[0] ?? '';
  }

  private async request(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; url: string }> {
    const url = `${this.pickEndpoint()}${path}`;
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(this.o.requestTimeoutMs), redirect: 'follow' };
    if (body !== undefined) init.body = body;
    const res = await fetch(url, init);
    return { status: res.status, text: await res.text(), url: res.url };
  }

  private async worker(w: number): Promise<void> {
    let seq = 0;
    while (!this.stopping && this.history.length < MAX_HISTORY_OPS) {
      seq++;
      const dice = this.rng.below(100);
      if (dice < 10) await this.uniqueWrite(w, seq);
      else if (dice < 14) await this.idempotentWrite(w, seq);
      else await this.registerOp(w, seq);
      if (this.o.thinkMs > 0) await new Promise((r) => setTimeout(r, this.rng.below(this.o.thinkMs + 1)));
    }
  }

  private async registerOp(w: number, seq: number): Promise<void> {
    const key = `reg/${this.rng.below(this.o.registerKeys)}`;
    const dice = this.rng.below(100);
    const f: ChaosOp['f'] = dice < 50 ? 'read' : dice < 80 ? 'write' : 'cas';
    const value = f === 'read' ? null : `w${w}-${seq}`;
    const expected = f === 'cas' ? this.lastKnown(key) : undefined;
    const op: ChaosOp = { process: w, key, f, value, invokeMs: this.now(), completeMs: 0, outcome: 'info', note: '', ...(f === 'cas' ? { expected: expected ?? null } : {}) };
    this.history.push(op);
    try {
      if (f === 'read') {
        const r = await this.request('GET', `/v1/kv/${encodeURIComponent(key)}`);
        if (r.status === 200) this.complete(op, 'ok', r.text, r.url);
        else if (r.status === 404) this.complete(op, 'ok', null, r.url);
        else this.complete(op, 'fail', null, `HTTP ${r.status}`);
      } else if (f === 'write') {
        const r = await this.request('PUT', `/v1/kv/${encodeURIComponent(key)}`, value ?? '');
        this.completeWrite(op, r.status, r.url);
      } else {
        // Compare-and-set on the value through a txn (the register model compares values).
        const txn = {
          compare: expected === null || expected === undefined
            ? [{ key, target: 'exists', op: '=', value: false }]
            : [{ key, target: 'value', op: '=', value: expected }],
          success: [{ put: { key, value: value ?? '' } }],
          failure: [],
        };
        const r = await this.request('POST', '/v1/txn', JSON.stringify(txn), { 'Content-Type': 'application/json' });
        if (r.status === 200) {
          const body = JSON.parse(r.text) as { succeeded?: boolean };
          this.complete(op, body.succeeded ? 'ok' : 'fail', value, r.url);
        } else {
          this.completeWrite(op, r.status, r.url);
        }
      }
    } catch (err) {
      this.complete(op, 'info', op.value, errText(err));
    }
  }

  private lastKnown(key: string): string | null {
    for (let i = this.history.length - 1; i >= 0 && i > this.history.length - 200; i--) {
      const h = this.history[i];
      if (h && h.key === key && h.outcome === 'ok' && h.value !== null) return h.value;
    }
    return null;
  }

  private completeWrite(op: ChaosOp, status: number, where: string): void {
    if (status === 200) this.complete(op, 'ok', op.value, where);
    else if (DEFINITE_FAILURE.has(status)) this.complete(op, 'fail', op.value, `HTTP ${status}`);
    else this.complete(op, 'info', op.value, `HTTP ${status}`);
  }

  private complete(op: ChaosOp, outcome: ChaosOp['outcome'], value: string | null, note: string): void {
    op.completeMs = this.now();
    op.outcome = outcome;
    op.value = value;
    op.note = note;
    if (outcome === 'ok') this.successTimesMs.push(op.completeMs);
  }

  private async uniqueWrite(w: number, seq: number): Promise<void> {
    const key = `ack/${w}/${seq}`;
    const value = `u${w}-${seq}`;
    try {
      const r = await this.request('PUT', `/v1/kv/${encodeURIComponent(key)}`, value);
      if (r.status === 200) {
        this.acknowledged.set(key, value);
        this.successTimesMs.push(this.now());
      }
    } catch {
      // unknown outcome: not counted as acknowledged
    }
  }

  /** Retries with the same Idempotency-Key until acknowledged (bounded); each attempt may apply at most once in total. */
  private async idempotentWrite(w: number, seq: number): Promise<void> {
    const key = `idem/${w}/${seq}`;
    const rec = { idemKey: `chaos-${w}-${seq}-${this.rng.below(1e9)}`, value: `i${w}-${seq}`, attempts: 0, acked: false };
    this.idempotentWrites.set(key, rec);
    for (let attempt = 0; attempt < 5 && !this.stopping; attempt++) {
      rec.attempts++;
      try {
        const r = await this.request('PUT', `/v1/kv/${encodeURIComponent(key)}`, rec.value, { 'Idempotency-Key': rec.idemKey });
        if (r.status === 200) {
          rec.acked = true;
          this.acknowledged.set(key, rec.value);
          return;
        }
      } catch {
        // retry with the same key
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Longest window (ms) in [fromMs, toMs] without any successful operation (the drills' measure). */
  longestUnavailableMs(fromMs: number, toMs: number): number {
    return longestUnavailableMs(this.successTimesMs, fromMs, toMs);
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.name}: ${cause.message}` : `${err.name}: ${err.message}`;
  }
  return String(err);
}
