// An in-memory stand-in for the KV module behind the API's KvPort: JSON-encoded commands, a
// revisioned map, idempotency table, locks with fencing tokens, watches with compaction. Used
// by the API tests until they run on the real KvStateMachine.
import { ApiError } from '../../../daemon/src/api/errors.js';
import type { KvEntryView, KvPort, KvReadView, KvWatchEvent, KvWatchHandle, TxnCompare, TxnOp, TxnOpResultView, WriteOutcome } from '../../../daemon/src/api/kv-port.js';

type Cmd =
  | { t: 'put'; key: string; value: string; ifMatch?: number; fencing?: { lock: string; token: number }; idem?: string }
  | { t: 'delete'; key: string; ifMatch?: number; fencing?: { lock: string; token: number }; idem?: string }
  | { t: 'txn'; compare: unknown[]; success: unknown[]; failure: unknown[]; idem?: string }
  | { t: 'lock'; name: string; owner: string; ttlMs: number; at: number; idem?: string }
  | { t: 'unlock'; name: string; token: number; idem?: string };

/** What FakeKv.apply returns: an outcome or a refusal (as the real module would). */
export type FakeResult = { ok: WriteOutcome } | { refused: 'PRECONDITION_FAILED' | 'CONFLICT'; message: string };

// The replacer reads the holder's original value: Buffer.toJSON runs before a replacer sees it.
function bytesAsBase64(this: unknown, k: string, x: unknown): unknown {
  const orig = (this as Record<string, unknown>)[k];
  return orig instanceof Uint8Array ? { b64: Buffer.from(orig).toString('base64') } : x;
}
const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v, bytesAsBase64));
const b64 = (x: unknown): Uint8Array => Buffer.from((x as { b64: string }).b64, 'base64');

/** The fake state machine. */
export class FakeKv {
  readonly data = new Map<string, KvEntryView>();
  rev = 0;
  compactedBelow = 0;
  readonly history: KvWatchEvent[] = [];
  readonly idem = new Map<string, FakeResult>();
  readonly locks = new Map<string, { owner: string; token: number; expiresAtMs: number }>();
  readonly lastToken = new Map<string, number>();
  private readonly watchers = new Set<{ prefix: string; fn: (ev: KvWatchEvent) => void }>();
  applied = 0;

  apply(index: number, term: number, data: Uint8Array): FakeResult {
    this.applied++;
    const c = JSON.parse(Buffer.from(data).toString('utf8')) as Cmd;
    if (c.idem !== undefined) {
      const prev = this.idem.get(c.idem);
      if (prev) return prev;
    }
    const r = this.applyOne(index, term, c);
    if (c.idem !== undefined) this.idem.set(c.idem, r);
    return r;
  }

  private fenced(f: { lock: string; token: number } | undefined): string | null {
    if (!f) return null;
    const last = this.lastToken.get(f.lock) ?? 0;
    return f.token < last ? `stale fencing token ${f.token} for ${f.lock} (latest ${last})` : null;
  }

  private applyOne(index: number, term: number, c: Cmd): FakeResult {
    switch (c.t) {
      case 'put':
      case 'delete': {
        const cur = this.data.get(c.key);
        if (c.ifMatch !== undefined && (cur?.modRevision ?? 0) !== c.ifMatch) return { refused: 'PRECONDITION_FAILED', message: 'If-Match mismatch' };
        const f = this.fenced(c.fencing);
        if (f) return { refused: 'CONFLICT', message: f };
        if (c.t === 'put') {
          this.setKey(c.key, b64(c.value));
          return { ok: { kind: 'put', revision: this.rev, term, index } };
        }
        const deleted = this.delKey(c.key);
        return { ok: { kind: 'delete', deleted, revision: this.rev, term, index } };
      }
      case 'txn': {
        const ok = (c.compare as TxnCompare[]).every((cmp) => this.compare(cmp));
        const results: TxnOpResultView[] = [];
        for (const op of (ok ? c.success : c.failure) as TxnOp[]) {
          if ('put' in op) {
            this.setKey(op.put.key, b64(op.put.value));
            results.push({ type: 'put', key: op.put.key, revision: this.rev });
          } else if ('delete' in op) results.push({ type: 'delete', key: op.delete.key, deleted: this.delKey(op.delete.key) });
          else results.push({ type: 'get', key: op.get.key, kv: this.data.get(op.get.key) ?? null });
        }
        return { ok: { kind: 'txn', succeeded: ok, revision: this.rev, results } };
      }
      case 'lock': {
        const held = this.locks.get(c.name);
        if (held && held.owner !== c.owner && held.expiresAtMs > c.at) return { refused: 'CONFLICT', message: `lock ${c.name} is held by ${held.owner}` };
        this.locks.set(c.name, { owner: c.owner, token: index, expiresAtMs: c.at + c.ttlMs });
        this.lastToken.set(c.name, index);
        return { ok: { kind: 'lock', token: index, owner: c.owner } };
      }
      case 'unlock': {
        const held = this.locks.get(c.name);
        if (!held || held.token !== c.token) return { ok: { kind: 'unlock', released: false } };
        this.locks.delete(c.name);
        return { ok: { kind: 'unlock', released: true } };
      }
    }
  }

  private compare(c: TxnCompare): boolean {
    const cur = this.data.get(c.key);
    let a: number;
    let b: number;
    if (c.target === 'exists') return (c.op === '=') === ((cur !== undefined) === c.value);
    if (c.target === 'modRevision') {
      a = cur?.modRevision ?? 0;
      b = c.value;
    } else {
      a = Buffer.compare(Buffer.from(cur?.value ?? new Uint8Array(0)), Buffer.from(b64(c.value)));
      b = 0;
    }
    switch (c.op) {
      case '=': return a === b;
      case '!=': return a !== b;
      case '<': return a < b;
      case '>': return a > b;
    }
  }

  private setKey(key: string, value: Uint8Array): void {
    this.rev++;
    const cur = this.data.get(key);
    this.data.set(key, { key, value, modRevision: this.rev, createRevision: cur?.createRevision ?? this.rev });
    this.emit({ type: 'put', key, value, revision: this.rev });
  }

  private delKey(key: string): boolean {
    if (!this.data.has(key)) return false;
    this.rev++;
    this.data.delete(key);
    this.emit({ type: 'delete', key, value: new Uint8Array(0), revision: this.rev });
    return true;
  }

  private emit(ev: KvWatchEvent): void {
    this.history.push(ev);
    for (const w of this.watchers) if (ev.key.startsWith(w.prefix)) w.fn(ev);
  }

  /** Forgets history before `rev` (watches from earlier get GONE). */
  compact(rev: number): void {
    this.compactedBelow = rev;
  }

  reader(): KvReadView {
    return {
      get: (key) => this.data.get(key) ?? null,
      range: (prefix, limit) => {
        const keys = [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
        return { kvs: keys.slice(0, limit).map((k) => this.data.get(k) as KvEntryView), more: keys.length > limit, revision: this.rev };
      },
      revision: () => this.rev,
      watch: (prefix, fromRevision, onEvent): KvWatchHandle => {
        if (fromRevision < this.compactedBelow) throw Object.assign(new Error(`revision ${fromRevision} compacted`), { code: 'Compacted' });
        for (const ev of this.history) if (ev.revision >= fromRevision && ev.key.startsWith(prefix)) onEvent(ev);
        const w = { prefix, fn: onEvent };
        this.watchers.add(w);
        return { cancel: () => this.watchers.delete(w) };
      },
    };
  }

  get watcherCount(): number {
    return this.watchers.size;
  }
}

/** The KvPort over a FakeKv (JSON commands; refusals become ApiErrors). */
export function fakeKvPort(kv: FakeKv): KvPort {
  return {
    encode: {
      put: (w) => enc({ t: 'put', key: w.key, value: w.value, ifMatch: w.ifMatch, fencing: w.fencing, idem: w.idempotencyKey }),
      delete: (w) => enc({ t: 'delete', key: w.key, ifMatch: w.ifMatch, fencing: w.fencing, idem: w.idempotencyKey }),
      txn: (t) => enc({ t: 'txn', compare: t.compare, success: t.success, failure: t.failure, idem: t.idempotencyKey }),
      lockAcquire: (l) => enc({ t: 'lock', name: l.name, owner: l.owner, ttlMs: l.ttlMs, at: l.proposedAtMs, idem: l.idempotencyKey }),
      lockRelease: (l) => enc({ t: 'unlock', name: l.name, token: l.token, idem: l.idempotencyKey }),
    },
    reader: () => kv.reader(),
    outcome: (result) => {
      const r = result as FakeResult;
      if ('refused' in r) throw new ApiError(r.refused, r.message);
      return r.ok;
    },
  };
}
