// What the HTTP API needs from the KV module (daemon/src/kv): a command encoder for writes, a
// read view of the local state machine, watch subscriptions, and a reading of apply results.
// The API is written against this port so the routes stay the same while the KV module's
// internals move; `kv-binding.ts` adapts the real module to it in one place.

/** One stored key as the API shows it. */
export interface KvEntryView {
  readonly key: string;
  readonly value: Uint8Array;
  readonly modRevision: number;
  readonly createRevision: number;
}

/** A page of a prefix listing, sorted by key. */
export interface KvRangeView {
  readonly kvs: readonly KvEntryView[];
  readonly more: boolean;
  /** The store revision the page was read at. */
  readonly revision: number;
}

/** One change delivered to a watcher. */
export interface KvWatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** Empty for deletes. */
  readonly value: Uint8Array;
  readonly revision: number;
}

/** A live watch subscription; `cancel` is idempotent. */
export interface KvWatchHandle {
  cancel(): void;
  /** Continue delivery after `onEvent` returned false. */
  resume(): void;
}

/** The consumer side of a watch. */
export interface KvWatchSubscriber {
  /** One change; return false to pause delivery until `resume()` (the socket is full). */
  onEvent(ev: KvWatchEvent): boolean | void;
  /** The store ended the subscription (too slow, state replaced by a snapshot). */
  onClose?(reason: string, message: string): void;
}

/** `Fencing-Token: <lock>:<token>`. */
export interface FencingToken {
  readonly lock: string;
  readonly token: number;
}

/** A compare of a txn (docs/api.md). `value` is bytes for target value, a number for modRevision, a boolean for exists. */
export type TxnCompare =
  | { readonly key: string; readonly target: 'value'; readonly op: '=' | '!=' | '<' | '>'; readonly value: Uint8Array }
  | { readonly key: string; readonly target: 'modRevision'; readonly op: '=' | '!=' | '<' | '>'; readonly value: number }
  | { readonly key: string; readonly target: 'exists'; readonly op: '=' | '!='; readonly value: boolean };

/** One operation of a txn branch. */
export type TxnOp =
  | { readonly put: { readonly key: string; readonly value: Uint8Array } }
  | { readonly delete: { readonly key: string } }
  | { readonly get: { readonly key: string } };

/** A validated txn request. */
export interface TxnRequest {
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

/** `Session-Id` / `Session-Seq` of a write. */
export interface SessionHeaders {
  readonly id: number;
  readonly seq: number;
}

/** Options common to every write: stamped by the API at propose time. */
export interface WriteMeta {
  /** The client's Idempotency-Key, if any. */
  readonly idempotencyKey?: string;
  /** With idempotencyKey: this member's --idempotency-budget-bytes, stamped into the command. */
  readonly idempotencyBudgetBytes?: number;
  /** The client's session and sequence number, if any (never with idempotencyKey). */
  readonly session?: SessionHeaders;
  /** Wall clock at propose time; the state machine uses it (not its own clock) for TTLs and expiry. */
  readonly proposedAtMs: number;
}

/** A put or delete of one key with its preconditions. */
export interface KeyWrite extends WriteMeta {
  readonly key: string;
  /** `If-Match`: required mod revision (0 = must not exist). */
  readonly ifMatch?: number;
  readonly fencing?: FencingToken;
}

/** The command encoder: each returns the bytes to propose through MemberService.proposeCommand. */
export interface KvCommandEncoder {
  put(w: KeyWrite & { readonly value: Uint8Array }): Uint8Array;
  delete(w: KeyWrite): Uint8Array;
  txn(t: TxnRequest & WriteMeta): Uint8Array;
  lockAcquire(l: WriteMeta & { readonly name: string; readonly owner: string; readonly ttlMs: number }): Uint8Array;
  lockRelease(l: WriteMeta & { readonly name: string; readonly token: number }): Uint8Array;
  /** Opens a client session; `maxSessions` is this member's --max-sessions, stamped. */
  sessionOpen(o: { readonly proposedAtMs: number; readonly maxSessions: number }): Uint8Array;
  sessionClose(o: { readonly proposedAtMs: number; readonly id: number }): Uint8Array;
}

/** One result of a txn branch, as sent to the client. */
export type TxnOpResultView =
  | { readonly type: 'put'; readonly key: string; readonly revision: number }
  | { readonly type: 'delete'; readonly key: string; readonly deleted: boolean }
  | { readonly type: 'get'; readonly key: string; readonly kv: KvEntryView | null; readonly forgotten?: true };

/**
 * What a committed command did, read from the state machine's apply result. Refusals (412,
 * 409 ...) are not outcomes: `outcome` throws them as typed errors. `replayed`: the answer is
 * the remembered first one (an Idempotency-Key or session retry); sent as `Idempotency-Replayed: true`.
 */
export type WriteOutcome = (
  | { readonly kind: 'put'; readonly revision: number; readonly term: number; readonly index: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number; readonly term: number; readonly index: number }
  | { readonly kind: 'txn'; readonly succeeded: boolean; readonly revision: number; readonly results: readonly TxnOpResultView[] }
  | { readonly kind: 'lock'; readonly token: number; readonly owner: string }
  | { readonly kind: 'unlock'; readonly released: boolean }
  | { readonly kind: 'session'; readonly id: number; readonly ttlMs: number }
  | { readonly kind: 'sessionClosed'; readonly closed: boolean }
) & { readonly replayed: boolean };

/** A refusal (thrown by `outcome`) may also be a replay of the first answer. */
export const REPLAYED_HEADER = 'idempotency-replayed';

/** Read access to the local state machine. Reads are synchronous: the store is in memory. */
export interface KvReadView {
  get(key: string): KvEntryView | null;
  /** At most `limit` keys starting with `prefix`, sorted; only keys after `after` if given (paging). */
  range(prefix: string, limit: number, after?: string): KvRangeView;
  revision(): number;
  /**
   * Subscribes to changes of keys starting with `prefix` from `fromRevision` on (inclusive,
   * <= 0: from now), replaying retained history first (possibly asynchronously). Throws a typed error with code COMPACTED (→ 410) when history
   * before `fromRevision` is gone.
   */
  watch(prefix: string, fromRevision: number, subscriber: KvWatchSubscriber): KvWatchHandle;
}

/** The KV module as the API sees it. */
export interface KvPort {
  readonly encode: KvCommandEncoder;
  /** A read view of MemberService.stateMachine. */
  reader(stateMachine: unknown): KvReadView;
  /** Reads an apply result; throws typed errors for refusals (precondition, fencing, lock held). */
  outcome(result: unknown): WriteOutcome;
}
