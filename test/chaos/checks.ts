// End-of-run checks on the real cluster: every acknowledged write is present on every member,
// no idempotent request was applied twice, and all members hold identical data at the same
// applied index.
import { createHash } from 'node:crypto';
import type { MemberSet } from './members.js';
import type { ChaosClients } from './clients.js';
import { fetchStatus } from './nemesis.js';

/** Keys per page when listing a member for the convergence hash (the API's page bound)... */
const MAX_LISTED_KEYS = 10_000;
/** ...and pages per member: a run that wrote more keys fails the check visibly. */
const MAX_CONVERGENCE_PAGES = 100;
const CHECK_REQUEST_TIMEOUT_MS = 10_000;

export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

async function getKey(base: string, key: string, serializable: boolean): Promise<{ status: number; value: string; rev: string | null; createRev: string | null }> {
  const res = await fetch(`${base}/v1/kv/${encodeURIComponent(key)}${serializable ? '?consistency=serializable' : ''}`, {
    signal: AbortSignal.timeout(CHECK_REQUEST_TIMEOUT_MS),
  });
  return { status: res.status, value: await res.text(), rev: res.headers.get('x-revision'), createRev: res.headers.get('x-create-revision') };
}

/** Every acknowledged unique write must be readable, with its value, on every voter. */
export async function checkDurability(set: MemberSet, clients: ChaosClients, voters: readonly number[]): Promise<CheckResult> {
  const missing: string[] = [];
  for (const i of voters) {
    const base = set.clientUrl(i);
    const entries = [...clients.acknowledged.entries()];
    for (let k = 0; k < entries.length; k += 32) {
      const batch = entries.slice(k, k + 32);
      const got = await Promise.all(batch.map(async ([key, value]) => ({ key, value, r: await getKey(base, key, true) })));
      for (const g of got) if (g.r.status !== 200 || g.r.value !== g.value) missing.push(`n${i}:${g.key} (HTTP ${g.r.status})`);
    }
  }
  return {
    name: 'acknowledged writes durable',
    ok: missing.length === 0,
    detail: missing.length === 0 ? `${clients.acknowledged.size} acknowledged keys present on ${voters.length} members` : `${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`,
  };
}

/** An idempotent write applied once has createRevision == modRevision (a second apply would bump modRevision). */
export async function checkIdempotency(set: MemberSet, clients: ChaosClients, leaderIndex: number): Promise<CheckResult> {
  const base = set.clientUrl(leaderIndex);
  const twice: string[] = [];
  let retried = 0;
  for (const [key, rec] of clients.idempotentWrites) {
    if (rec.attempts > 1) retried++;
    const r = await getKey(base, key, false);
    if (r.status === 200 && r.rev !== r.createRev) twice.push(`${key} (create ${r.createRev}, mod ${r.rev}, attempts ${rec.attempts})`);
  }
  return {
    name: 'idempotency keys applied at most once',
    ok: twice.length === 0,
    detail: twice.length === 0 ? `${clients.idempotentWrites.size} idempotent writes (${retried} retried), none applied twice` : `applied twice: ${twice.slice(0, 5).join(', ')}`,
  };
}

interface ListBody {
  readonly kvs: readonly { readonly key: string; readonly value: string; readonly modRevision: number; readonly createRevision: number }[];
  readonly more: boolean;
  readonly revision: number;
}

/** All voters report the same applied index, and identical data (hashed) at that index. */
export async function checkConvergence(set: MemberSet, voters: readonly number[]): Promise<CheckResult> {
  const before = await Promise.all(voters.map((i) => fetchStatus(set.clientUrl(i))));
  const applied = new Set(before.map((s) => s?.appliedIndex ?? -1));
  const hashes: string[] = [];
  for (const i of voters) {
    const h = createHash('sha256');
    let after: string | null = null;
    let failed: string | null = null;
    let revision = -1;
    // Page through every key (bounded: MAX_CONVERGENCE_PAGES pages of MAX_LISTED_KEYS).
    for (let pageNo = 0; pageNo < MAX_CONVERGENCE_PAGES; pageNo++) {
      const q = `prefix=&limit=${MAX_LISTED_KEYS}&consistency=serializable${after === null ? '' : `&after=${encodeURIComponent(after)}`}`;
      const res = await fetch(`${set.clientUrl(i)}/v1/kv?${q}`, { signal: AbortSignal.timeout(CHECK_REQUEST_TIMEOUT_MS) });
      if (res.status !== 200) {
        failed = `HTTP ${res.status}`;
        break;
      }
      const body = (await res.json()) as ListBody;
      // Every page must come from the same revision, or the member changed while being read.
      if (revision !== -1 && body.revision !== revision) {
        failed = `revision moved ${revision}→${body.revision}`;
        break;
      }
      revision = body.revision;
      for (const kv of body.kvs) h.update(`\0${kv.key}\0${kv.value}\0${kv.modRevision}\0${kv.createRevision}`);
      const last = body.kvs[body.kvs.length - 1];
      if (!body.more || !last) break;
      after = last.key;
      if (pageNo === MAX_CONVERGENCE_PAGES - 1) failed = `more than ${MAX_CONVERGENCE_PAGES * MAX_LISTED_KEYS} keys`;
    }
    h.update(`\0rev${revision}`);
    hashes.push(failed === null ? h.digest('hex').slice(0, 16) : failed);
  }
  const after = await Promise.all(voters.map((i) => fetchStatus(set.clientUrl(i))));
  const appliedAfter = new Set(after.map((s) => s?.appliedIndex ?? -1));
  const sameIndex = applied.size === 1 && appliedAfter.size === 1 && [...applied][0] === [...appliedAfter][0];
  const sameHash = new Set(hashes).size === 1 && /^[0-9a-f]{16}$/.test(hashes[0] ?? '');
  return {
    name: 'members converge',
    ok: sameIndex && sameHash,
    detail: `applied index ${[...applied].join('/')} → ${[...appliedAfter].join('/')}, hashes ${voters.map((i, k) => `n${i}=${hashes[k]}`).join(' ')}`,
  };
}
