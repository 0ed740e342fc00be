// Full-rate exactly-once load for the chaos tier: workers that write unique keys as fast as the
// cluster answers, each write carrying an Idempotency-Key or a client session number (Session-Id /
// Session-Seq). Every write is recorded with its first answer, so the end-of-run retries
// (retries.ts) can prove that a retry within the TTL returns that answer and applies nothing.
import type { ChaosRng } from './rng.js';

/** One keyed or sessioned write and what its client saw. */
export interface KeyedWriteRecord {
  readonly key: string;
  readonly value: string;
  /** The Idempotency-Key (null for a sessioned write). */
  readonly idemKey: string | null;
  /** Session id and sequence number (null for an Idempotency-Key write). */
  readonly session: { readonly id: string; readonly seq: number } | null;
  /** Wall-clock ms of the first attempt (the TTL runs from about here). */
  readonly firstAtMs: number;
  /** ok: a 200 was seen; fail: a status that proves nothing was applied; info: never learned. */
  outcome: 'ok' | 'fail' | 'info';
  /** The revision of the first 200 answer. */
  revision: number | null;
  /** The last definite status seen (or null), and its error code (410 is a removed member or an unknown session). */
  status: number | null;
  code: string | null;
  /** Revisions answered by replays during the run (a retry answered from memory). */
  readonly replayRevisions: number[];
  attempts: number;
}

export interface KeyedWriterOptions {
  readonly idempotencyKeyWorkers: number;
  readonly sessionWorkers: number;
  readonly requestTimeoutMs: number;
  readonly endpoints: () => readonly string[];
}

/** Bound on recorded writes (the workers stop issuing when reached). */
export const MAX_KEYED_RECORDS = 600_000;
/** In-run retries of one sessioned write before it is left for the end of the run. */
const SESSION_RETRIES = 8;
const RETRY_PAUSE_MS = 150;
/** Statuses that prove nothing was applied (429: a full window or too many sessions refuse before applying). */
const DEFINITE_FAILURE = new Set([400, 404, 409, 410, 412, 413, 429]);

export interface WriteAnswer {
  readonly status: number;
  readonly revision: number | null;
  readonly replayed: boolean;
  readonly code: string | null;
}

/** Sends one write through a member (following redirects to the leader); throws when the outcome is unknown. */
export async function sendKeyedWrite(base: string, rec: KeyedWriteRecord, timeoutMs: number): Promise<WriteAnswer> {
  const headers: Record<string, string> = {};
  if (rec.idemKey !== null) headers['Idempotency-Key'] = rec.idemKey;
  if (rec.session !== null) {
    headers['Session-Id'] = rec.session.id;
    headers['Session-Seq'] = String(rec.session.seq);
  }
  const res = await fetch(`${base}/v1/kv/${encodeURIComponent(rec.key)}`, {
    method: 'PUT', headers, body: rec.value, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let revision: number | null = null;
  let code: string | null = null;
  try {
    const body = JSON.parse(text) as { revision?: unknown; code?: unknown };
    if (typeof body.revision === 'number') revision = body.revision;
    if (typeof body.code === 'string') code = body.code;
  } catch {
    // not JSON (a proxy or a dying member): the status alone decides
  }
  return { status: res.status, revision, replayed: res.headers.get('idempotency-replayed') === 'true', code };
}

export class KeyedWriters {
  readonly records: KeyedWriteRecord[] = [];
  /** Session id → the highest sequence number sent in it (only that one may be retried later). */
  readonly lastSeqBySession = new Map<string, number>();
  sessionsOpened = 0;
  private stopping = false;
  private running: Promise<void>[] = [];

  constructor(private readonly o: KeyedWriterOptions, private readonly rng: ChaosRng) {}

  start(): void {
    for (let w = 0; w < this.o.idempotencyKeyWorkers; w++) this.running.push(this.idempotencyKeyWorker(w));
    for (let w = 0; w < this.o.sessionWorkers; w++) this.running.push(this.sessionWorker(w));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
  }

  private endpoint(): string {
    const eps = this.o.endpoints();
    return eps[this.rng.below(eps.length)] ?? eps[0] ?? '';
  }

  private full(): boolean {
    return this.stopping || this.records.length >= MAX_KEYED_RECORDS;
  }

  private newRecord(key: string, idemKey: string | null, session: KeyedWriteRecord['session']): KeyedWriteRecord {
    const rec: KeyedWriteRecord = { key, value: `v${this.records.length}`, idemKey, session, firstAtMs: Date.now(), outcome: 'info', revision: null, status: null, code: null, replayRevisions: [], attempts: 0 };
    this.records.push(rec);
    return rec;
  }

  /** One attempt, then on to the next key: an unknown outcome is left for the end-of-run retry. */
  private async idempotencyKeyWorker(w: number): Promise<void> {
    for (let seq = 1; !this.full(); seq++) {
      const rec = this.newRecord(`kw/${w}/${seq}`, `kw-${w}-${seq}-${this.rng.below(1e9)}`, null);
      await this.attempt(rec);
      if (rec.outcome !== 'ok') await pause(RETRY_PAUSE_MS);
    }
  }

  /** Dissertation §6.3: numbers in order; an unknown outcome is retried with the same number before the next. */
  private async sessionWorker(w: number): Promise<void> {
    let id: string | null = null;
    let seq = 0;
    for (let n = 1; !this.full(); n++) {
      if (id === null) {
        id = await this.openSession();
        seq = 0;
        if (id === null) continue;
      }
      seq++;
      this.lastSeqBySession.set(id, seq);
      const rec = this.newRecord(`sw/${w}/${n}`, null, { id, seq });
      for (let a = 0; a < SESSION_RETRIES && !this.stopping; a++) {
        await this.attempt(rec);
        if (rec.outcome !== 'info') break;
        await pause(RETRY_PAUSE_MS);
      }
      // Still unknown: its number stays the session's last, retried at the end; go on in a new session.
      if (rec.outcome === 'info') id = null;
      else if (rec.outcome === 'fail') await pause(RETRY_PAUSE_MS);
    }
  }

  private async openSession(): Promise<string | null> {
    try {
      const res = await fetch(`${this.endpoint()}/v1/sessions`, { method: 'POST', redirect: 'follow', signal: AbortSignal.timeout(this.o.requestTimeoutMs) });
      const body = (await res.json()) as { id?: unknown };
      if ((res.status === 200 || res.status === 201) && typeof body.id === 'string') {
        this.sessionsOpened++;
        return body.id;
      }
    } catch {
      // an unknown outcome opens at most an unused session, which expires
    }
    await pause(RETRY_PAUSE_MS);
    return null;
  }

  private async attempt(rec: KeyedWriteRecord): Promise<void> {
    rec.attempts++;
    let a: WriteAnswer;
    try {
      a = await sendKeyedWrite(this.endpoint(), rec, this.o.requestTimeoutMs);
    } catch {
      return;
    }
    if (a.status === 200) {
      if (rec.outcome === 'ok' || a.replayed) {
        if (a.revision !== null) rec.replayRevisions.push(a.revision);
      }
      if (rec.outcome !== 'ok') {
        rec.outcome = 'ok';
        rec.revision = a.revision;
        rec.status = 200;
      }
    } else if (DEFINITE_FAILURE.has(a.status) && rec.outcome === 'info') {
      rec.outcome = 'fail';
      rec.status = a.status;
      rec.code = a.code;
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
