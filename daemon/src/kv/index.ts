// Public surface of the KV module. See README.md in this folder for the contract.

export { DEFAULT_KV_LIMITS, IDEMPOTENCY_ENTRY_BASE_BYTES, KV_ERROR_HTTP_STATUS, KvError, SESSION_BYTES, type KvErrorCode, type KvLimits } from './limits.js';
export {
  decodeCommand,
  encodeCommand,
  validateCommand,
  CommandEncodeError,
  type CommandMeta,
  type CompareOp,
  type DecodeResult,
  type DeleteCommand,
  type Fencing,
  type KvCommand,
  type LockAcquireCommand,
  type LockReleaseCommand,
  type PutCommand,
  type SessionCloseCommand,
  type SessionOpenCommand,
  type SessionRef,
  type TxnCommand,
  type TxnCompare,
  type TxnOp,
} from './command-codec.js';
export type { ApplyFailure, ApplyResult, DeleteResult, KvEntry, LockResult, PutResult, SessionClosedResult, SessionResult, TxnOpResult, TxnResult, UnlockResult } from './results.js';
export { KvSnapshotError, KvStateMachine, type ExactlyOnceStats, type KvRange, type KvStateMachineOptions } from './state-machine.js';
export { idempotencyEntryBytes } from './idempotency.js';
export type { LockState } from './locks.js';
export { WatchHub, type WatchCloseReason, type WatchEvent, type WatchSubscriber, type WatchSubscription } from './watch.js';

import { encodeCommand, type Fencing, type SessionRef, type TxnCompare, type TxnOp } from './command-codec.js';

/** Write options as the API's KvCommandEncoder passes them (daemon/src/api/kv-port.ts). */
interface Meta {
  readonly proposedAtMs: number;
  readonly idempotencyKey?: string;
  readonly idempotencyBudgetBytes?: number;
  readonly session?: SessionRef;
}
interface KeyMeta extends Meta {
  readonly key: string;
  readonly ifMatch?: number;
  readonly fencing?: Fencing;
}

/**
 * Ready-made encoder with the shape of the API's KvCommandEncoder port: each method returns the
 * bytes to propose. Throws CommandEncodeError only for a non-finite proposedAtMs.
 */
export const kvCommandEncoder = {
  put: (w: KeyMeta & { readonly value: Uint8Array }): Uint8Array => encodeCommand({ op: 'put', ...w }),
  delete: (w: KeyMeta): Uint8Array => encodeCommand({ op: 'delete', ...w }),
  txn: (t: Meta & { readonly compare: readonly TxnCompare[]; readonly success: readonly TxnOp[]; readonly failure: readonly TxnOp[]; readonly fencing?: Fencing }): Uint8Array =>
    encodeCommand({ op: 'txn', ...t }),
  lockAcquire: (l: Meta & { readonly name: string; readonly owner: string; readonly ttlMs: number }): Uint8Array => encodeCommand({ op: 'lockAcquire', ...l }),
  lockRelease: (l: Meta & { readonly name: string; readonly token: number }): Uint8Array => encodeCommand({ op: 'lockRelease', ...l }),
  sessionOpen: (o: { readonly proposedAtMs: number; readonly maxSessions: number }): Uint8Array => encodeCommand({ op: 'sessionOpen', ...o }),
  sessionClose: (o: { readonly proposedAtMs: number; readonly id: number }): Uint8Array => encodeCommand({ op: 'sessionClose', ...o }),
};
