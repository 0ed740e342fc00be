// The end-of-run retries: after the whole run (faults, heal, kill -9 of every member), every write
// whose outcome its client never learned, and a sample of acknowledged ones, is sent again with
// the same Idempotency-Key or Session-Id/Session-Seq. Within the TTL each must return its first
// answer (200, Idempotency-Replayed, the revision it was applied at) when it was applied, apply
// now when it never was, or be refused loudly (429): never be applied a second time.
import type { CheckResult } from './checks.js';
import { sendKeyedWrite } from './keyed-writers.js';
import type { KeyedWriteRecord, KeyedWriters, WriteAnswer } from './keyed-writers.js';

/** Acknowledged writes retried: the oldest (closest to expiry) and an even spread of the rest. */
const OLDEST_ACKED_RETRIED = 1_000;
const SPREAD_ACKED_RETRIED = 2_000;
const RETRY_CONCURRENCY = 16;
const RETRY_ATTEMPTS = 6;
const RETRY_TIMEOUT_MS = 5_000;
/** A retry this close to the TTL is not judged (its entry may expire while it travels). */
const TTL_MARGIN_MS = 30_000;
const LIST_PAGE = 10_000;
const MAX_LIST_PAGES = 200;

interface Stored { readonly value: string; readonly modRevision: number; readonly createRevision: number }

interface ListBody { readonly kvs: readonly (Stored & { readonly key: string })[]; readonly more: boolean }

/** Every key under `prefix` on one member (linearizable, paged, bounded). */
export async function listPrefix(base: string, prefix: string): Promise<Map<string, Stored>> {
  const out = new Map<string, Stored>();
  let after: string | null = null;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const q = `prefix=${encodeURIComponent(prefix)}&limit=${LIST_PAGE}${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
    const res = await fetch(`${base}/v1/kv?${q}`, { signal: AbortSignal.timeout(30_000) });
    if (res.status !== 200) throw new Error(`listing ${prefix}: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as ListBody;
    for (const kv of body.kvs) out.set(kv.key, { value: kv.value, modRevision: kv.modRevision, createRevision: kv.createRevision });
    const last = body.kvs[body.kvs.length - 1];
    if (!body.more || !last) return out;
    after = last.key;
  }
  throw new Error(`more than ${MAX_LIST_PAGES * LIST_PAGE} keys under ${prefix}`);
}

/** Which records are retried, and what each retry must answer. */
export function pickRetries(writers: KeyedWriters, nowMs: number, ttlMs: number): { readonly picked: KeyedWriteRecord[]; readonly tooOld: number } {
  const judged = (r: KeyedWriteRecord): boolean => nowMs - r.firstAtMs < ttlMs - TTL_MARGIN_MS;
  const retryable = writers.records.filter((r) => r.session === null || writers.lastSeqBySession.get(r.session.id) === r.session.seq || r.outcome === 'ok');
  const unknown = retryable.filter((r) => r.outcome === 'info');
  const acked = retryable.filter((r) => r.outcome === 'ok');
  const step = Math.max(1, Math.floor(acked.length / SPREAD_ACKED_RETRIED));
  const sample = new Set<KeyedWriteRecord>([...acked.slice(0, OLDEST_ACKED_RETRIED), ...acked.filter((_, i) => i % step === 0)]);
  const all = [...unknown, ...sample];
  const picked = all.filter(judged);
  return { picked, tooOld: all.length - picked.length };
}

/** Judges one retry's answer against what the member held before the retries began. */
export function judgeRetry(rec: KeyedWriteRecord, before: Stored | undefined, a: WriteAnswer, lastSeq: number | undefined): string | null {
  const where = `${rec.key} (${rec.idemKey !== null ? `key ${rec.idemKey}` : `session ${rec.session?.id} seq ${rec.session?.seq}`}, first answer ${rec.outcome}${rec.revision !== null ? ` rev ${rec.revision}` : ''})`;
  // An older number of a session: refused, nothing applied (§6.3), whatever happened to it.
  if (rec.session !== null && lastSeq !== undefined && rec.session.seq < lastSeq) {
    return a.status === 409 ? null : `${where}: older session number answered ${a.status}, want 409`;
  }
  if (before !== undefined) {
    if (a.status !== 200 || !a.replayed) return `${where}: applied at rev ${before.modRevision} but its retry answered ${a.status}${a.code ? ` ${a.code}` : ''}${a.replayed ? '' : ' not replayed'}`;
    if (a.revision !== before.modRevision) return `${where}: retry answered rev ${a.revision ?? '?'}, applied at ${before.modRevision}`;
    if (rec.revision !== null && rec.revision !== before.modRevision) return `${where}: first answer rev ${rec.revision}, stored at ${before.modRevision}`;
    return null;
  }
  if (rec.outcome === 'ok') return `${where}: acknowledged but absent before its retry`;
  if (a.status === 200 && !a.replayed) return null; // the first attempt never applied: this is the first application
  if (a.status === 429) return null; // refused loudly (a full window): nothing applied
  return `${where}: never applied, its retry answered ${a.status}${a.code ? ` ${a.code}` : ''}${a.replayed ? ' replayed' : ''}`;
}

/** The end-of-run check; `base` is the leader's client URL. */
export async function checkEndOfRunRetries(base: string, writers: KeyedWriters, ttlMs: number): Promise<CheckResult> {
  const name = 'retries within the TTL return their first answer';
  const before = new Map([...await listPrefix(base, 'kw/'), ...await listPrefix(base, 'sw/')]);
  const now = Date.now();
  const { picked, tooOld } = pickRetries(writers, now, ttlMs);
  const oldestAgeMs = picked.reduce((m, r) => Math.max(m, now - r.firstAtMs), 0);
  const problems: string[] = [];
  let replayed = 0;
  let unknownWereApplied = 0;
  let appliedNow = 0;
  let refused = 0;
  let staleRefused = 0;
  let unknownAfterRetries = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < picked.length; i = next++) {
      const rec = picked[i];
      if (rec === undefined) continue;
      let answer: WriteAnswer | null = null;
      for (let a = 0; a < RETRY_ATTEMPTS && answer === null; a++) {
        try {
          const got = await sendKeyedWrite(base, rec, RETRY_TIMEOUT_MS);
          if (got.status !== 503) answer = got;
        } catch {
          // unknown again: send again (the point of the promise)
        }
        if (answer === null) await new Promise((r) => setTimeout(r, 200));
      }
      if (answer === null) {
        unknownAfterRetries++;
        continue;
      }
      const lastSeq = rec.session !== null ? writers.lastSeqBySession.get(rec.session.id) : undefined;
      const problem = judgeRetry(rec, before.get(rec.key), answer, lastSeq);
      if (problem !== null) problems.push(problem);
      else if (answer.status === 409) staleRefused++;
      else if (answer.status === 429) refused++;
      else if (answer.replayed) {
        replayed++;
        if (rec.outcome === 'info') unknownWereApplied++;
      }
      else appliedNow++;
    }
  };
  await Promise.all(Array.from({ length: RETRY_CONCURRENCY }, worker));
  // Nothing applied twice: a unique key written once keeps createRevision == modRevision, and
  // a key stored before the retries keeps its revision.
  const after = new Map([...await listPrefix(base, 'kw/'), ...await listPrefix(base, 'sw/')]);
  for (const [key, s] of after) {
    if (s.createRevision !== s.modRevision) problems.push(`${key}: applied twice (create ${s.createRevision}, mod ${s.modRevision})`);
    const b = before.get(key);
    if (b !== undefined && b.modRevision !== s.modRevision) problems.push(`${key}: rev ${b.modRevision} before the retries, ${s.modRevision} after`);
  }
  // Replays seen during the run answered the revision the write is stored at.
  for (const rec of writers.records) {
    const s = after.get(rec.key);
    for (const rev of rec.replayRevisions) if (s === undefined || s.modRevision !== rev) problems.push(`${rec.key}: replayed in the run with rev ${rev}, stored at ${s?.modRevision ?? 'absent'}`);
    if (rec.session !== null && rec.code === 'SESSION_UNKNOWN') problems.push(`${rec.key}: session ${rec.session.id} was unknown (410 SESSION_UNKNOWN) during the run`);
  }
  const counts = countOutcomes(writers.records);
  const detail = `${writers.records.length} writes (${counts.ok} acknowledged, ${counts.fail} refused, ${counts.info} unknown; ${writers.sessionsOpened} sessions); ` +
    `${picked.length} retried up to ${(oldestAgeMs / 1000).toFixed(0)} s after their first attempt: ${replayed} replayed their first answer (${unknownWereApplied} of them unknown to their client), ` +
    `${appliedNow} applied for the first time, ${staleRefused} older session numbers refused (409), ${refused} refused (429), ${unknownAfterRetries} still unknown, ${tooOld} not judged (within ${TTL_MARGIN_MS / 1000} s of the TTL)`;
  return {
    name,
    ok: problems.length === 0 && unknownAfterRetries === 0 && picked.length > 0,
    detail: problems.length === 0 ? detail : `${problems.length} broken: ${problems.slice(0, 5).join('; ')} — ${detail}`,
  };
}

function countOutcomes(records: readonly KeyedWriteRecord[]): { ok: number; fail: number; info: number } {
  const c = { ok: 0, fail: 0, info: 0 };
  for (const r of records) c[r.outcome]++;
  return c;
}
