// The KV module (daemon/src/kv) seen through the API's KvPort: its binary command encoder, its
// state machine's reads and watch, and its apply results turned into outcomes or typed errors.
import { ApiError, KV_CODES } from './errors.js';
import type { KvPort, KvReadView, WriteOutcome } from './kv-port.js';
import { KvStateMachine, kvCommandEncoder } from '../kv/index.js';
import type { ApplyResult } from '../kv/index.js';


/**
 * Finds the KvStateMachine behind MemberService.stateMachine: the machine itself, or a driver
 * adapter that holds it as `kv`, `stateMachine` or `inner`. Throws at server construction when
 * there is none, so a wiring mistake fails at startup rather than on the first request.
 */
export function resolveKvStateMachine(stateMachine: unknown): KvStateMachine {
  if (stateMachine instanceof KvStateMachine) return stateMachine;
  if (typeof stateMachine === 'object' && stateMachine !== null) {
    const o = stateMachine as Record<string, unknown>;
    for (const field of ['kv', 'stateMachine', 'inner']) {
      if (o[field] instanceof KvStateMachine) return o[field];
    }
  }
  throw new Error('MemberService.stateMachine is not a KvStateMachine (nor an adapter with a `kv` field holding one)');
}

function readerOf(sm: KvStateMachine): KvReadView {
  return {
    get: (key) => sm.get(key),
    range: (prefix, limit, after) => sm.range(prefix, limit, after),
    revision: () => sm.revision,
    watch: (prefix, fromRevision, subscriber) => sm.watch(prefix, fromRevision, subscriber),
  };
}

function isApplyResult(v: unknown): v is ApplyResult {
  return typeof v === 'object' && v !== null && typeof (v as { ok?: unknown }).ok === 'boolean';
}

/**
 * Turns an apply result into what the client sees. Refusals throw ApiError with the mapped
 * code; anything that is not an ApplyResult (a driver error object, undefined) throws as is or
 * as an internal error.
 */
export function kvOutcome(result: unknown): WriteOutcome {
  if (result instanceof Error) throw result;
  if (!isApplyResult(result)) throw new Error(`the state machine returned no KV result (${typeof result})`);
  if (!result.ok) {
    const code = KV_CODES[result.code];
    if (code === 'INTERNAL') throw new Error(`KV refused with ${result.code}: ${result.message}`);
    const retry = result.retryAfterMs !== undefined ? Math.max(1, Math.ceil(result.retryAfterMs / 1000)) : null;
    throw new ApiError(code, result.message, null, retry, result.replayed);
  }
  const replayed = result.replayed;
  switch (result.kind) {
    case 'put':
      return { kind: 'put', revision: result.revision, term: result.term, index: result.index, replayed };
    case 'delete':
      return { kind: 'delete', deleted: result.deleted, revision: result.revision, term: result.term, index: result.index, replayed };
    case 'txn':
      return { kind: 'txn', succeeded: result.succeeded, revision: result.revision, results: result.results, replayed };
    case 'lock':
      return { kind: 'lock', token: result.token, owner: result.owner, replayed };
    case 'unlock':
      return { kind: 'unlock', released: result.released, replayed };
    case 'session':
      return { kind: 'session', id: result.id, ttlMs: result.ttlMs, replayed };
    case 'sessionClosed':
      return { kind: 'sessionClosed', closed: result.closed, replayed };
  }
}

/** The real KV module as a KvPort; createApiServer's default. */
export const kvBinding: KvPort = {
  encode: kvCommandEncoder,
  reader: (stateMachine) => readerOf(resolveKvStateMachine(stateMachine)),
  outcome: kvOutcome,
};
