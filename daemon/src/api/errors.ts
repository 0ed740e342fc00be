// The one registry of operating errors the HTTP API answers with, and the one function that
// turns anything thrown below the API (RaftError, the driver's MemberError, the KV module's
// typed errors, storage errors, our own ApiError) into a response. Routes never build error
// responses by hand: they throw, and `errorResponse` decides status, headers and body.
import type { Logger } from '../observability/logger.js';
import { RaftError } from '../raft/errors.js';
import { StorageError } from '../storage/errors.js';
import { KvError } from '../kv/index.js';
import type { KvErrorCode } from '../kv/index.js';

/** One registry entry: the JSON `code`, the HTTP status, and (503/429) the default Retry-After. */
export interface ApiErrorSpec {
  readonly status: number;
  /** Seconds a client should wait before retrying; sent as `Retry-After`. */
  readonly retryAfterSeconds?: number;
}

/**
 * Every error the API answers with. The key is the `code` in the JSON body
 * (`{"error": "<message>", "code": "<CODE>"}`); clients may switch on it.
 */
export const API_ERRORS = {
  /** Malformed input of any kind: bad JSON, bad key encoding, empty or oversized key, bad header. */
  BAD_REQUEST: { status: 400 },
  /** Auth on (--auth-token-file): no, malformed or unknown credentials. Sent with `WWW-Authenticate: Bearer`. */
  UNAUTHORIZED: { status: 401 },
  /** Auth on: the credentials' role is too weak for the route (read < write < admin). */
  FORBIDDEN: { status: 403 },
  /** The key, member or route does not exist (also the faults endpoint when fault injection is off). */
  NOT_FOUND: { status: 404 },
  /** The method is not allowed on this path. */
  METHOD_NOT_ALLOWED: { status: 405 },
  /** Lock held by another owner, stale fencing token, concurrent membership change, learner not caught up. */
  CONFLICT: { status: 409 },
  /** A watch asked to resume from a revision the store has compacted away; re-read and watch from now. */
  GONE: { status: 410 },
  /**
   * This member was removed from the cluster (it applied its own removal): it serves no client
   * requests; use a current member (GET /v1/members on any of them). Like etcd's removed member.
   */
  MEMBER_REMOVED: { status: 410 },
  /** `If-Match` did not match the key's mod revision (`0`: the key exists). */
  PRECONDITION_FAILED: { status: 412 },
  /**
   * The Idempotency-Key was first used for a different kind of request (a txn, then a PUT): the
   * stored answer belongs to that one, so the request conflicts with the key's record. Use a
   * fresh key per distinct request.
   */
  IDEMPOTENCY_KEY_REUSED: { status: 409 },
  /** The request body is larger than --max-request-bytes. */
  PAYLOAD_TOO_LARGE: { status: 413 },
  /** Backpressure: too many pending proposals, reads, bytes or watchers. Retry after the delay. */
  TOO_MANY_REQUESTS: { status: 429, retryAfterSeconds: 1 },
  /**
   * The idempotency window is full: accepting this keyed write would break an older promise
   * (a retry within the TTL is applied at most once), so nothing was applied. Retry-After says
   * when the oldest entry expires; or use a session (POST /v1/sessions), which costs no window room.
   */
  IDEMPOTENCY_WINDOW_FULL: { status: 429, retryAfterSeconds: 1 },
  /**
   * Session-Id names no open session: it expired (unused for the session TTL), was closed, or
   * never was. Nothing was applied. If an earlier try of this write may have been applied, its
   * outcome is unknown; otherwise open a new session and send it again.
   */
  SESSION_UNKNOWN: { status: 410 },
  /** Session-Seq is older than the last one the session applied (a late duplicate); nothing was applied. */
  SESSION_SEQ_STALE: { status: 409 },
  /** The cluster holds --max-sessions open sessions; idle ones expire after the session TTL. */
  TOO_MANY_SESSIONS: { status: 429, retryAfterSeconds: 10 },
  /** Not the leader: writes are redirected with 307 to the leader (Location, X-Raft-Leader). */
  NOT_LEADER: { status: 307 },
  /** No leader is known (election under way, quorum lost, transfer in progress). */
  NO_LEADER: { status: 503, retryAfterSeconds: 1 },
  /**
   * The write or linearizable read did not finish within the request timeout. 503 rather than
   * 504: this member is the server, not a gateway, and clients already retry 503 with
   * Retry-After. The outcome of a write is unknown: retry with the same Idempotency-Key.
   */
  TIMEOUT: { status: 503, retryAfterSeconds: 1 },
  /** The entry was lost to a leader change or snapshot; its outcome is unknown (retry with Idempotency-Key). */
  PROPOSAL_DROPPED: { status: 503, retryAfterSeconds: 1 },
  /** The member cannot persist (disk full or failing); writes refused until storage recovers. */
  NO_SPACE: { status: 507 },
  /** The member is stopping; try another member. */
  SHUTTING_DOWN: { status: 503, retryAfterSeconds: 1 },
  /** A bug or an unexpected failure; details are in the member's log, never in the response. */
  INTERNAL: { status: 500 },
} as const satisfies Record<string, ApiErrorSpec>;

/** A code of the registry. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/** The leader a NOT_LEADER error redirects to. */
export interface LeaderRef {
  readonly name: string;
  readonly clientUrl: string;
}

/** An operating error raised by the API layer (or translated into one); safe to show to clients. */
export class ApiError extends Error {
  readonly status: number;
  /** METHOD_NOT_ALLOWED only: the methods the path does serve (the `Allow` header). */
  allow: readonly string[] = [];
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    /** NOT_LEADER only: where to redirect. */
    readonly leader: LeaderRef | null = null,
    /** Overrides the registry's Retry-After (seconds). */
    readonly retryAfterSeconds: number | null = null,
    /** The refusal is the remembered first answer to this request (sent as Idempotency-Replayed: true). */
    readonly replayed: boolean = false,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = API_ERRORS[code].status;
  }
}

/**
 * The error for an apply outcome of another kind than the request's. With an Idempotency-Key,
 * that is the key's first use answering (a client reused it for a different request): 409. Without
 * one it cannot happen unless something below the API is broken: a plain Error (500, logged).
 */
export function outcomeMismatch(got: string, wanted: string, idempotencyKey: string | undefined): Error {
  if (idempotencyKey !== undefined) {
    return new ApiError('IDEMPOTENCY_KEY_REUSED', `Idempotency-Key '${idempotencyKey}' was already used for a different request (a ${got}, not a ${wanted}); use a new key for each distinct request`);
  }
  return new Error(`unexpected apply outcome '${got}' for ${wanted}`);
}

/** 405 for a path the API serves with other methods; `Allow` lists them (RFC 9110 §15.5.6). */
export function methodNotAllowed(method: string, path: string, allow: readonly string[]): ApiError {
  const e = new ApiError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}; allowed: ${allow.join(', ')} (see GET /v1/openapi.json or docs/api.md)`);
  e.allow = allow;
  return e;
}

/** A response ready to send: status, headers, and the JSON body (serialized). */
export interface ErrorResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly code: ApiErrorCode;
}

/** KV refusal codes (apply failures and KvError from reads/watch) → registry codes, as kv/limits.ts documents. */
export const KV_CODES: Readonly<Record<KvErrorCode, ApiErrorCode>> = {
  InvalidCommand: 'BAD_REQUEST',
  PreconditionFailed: 'PRECONDITION_FAILED',
  StaleFencingToken: 'CONFLICT',
  LockHeld: 'CONFLICT',
  LockNotHeld: 'CONFLICT',
  BadToken: 'CONFLICT',
  TooManyLocks: 'TOO_MANY_REQUESTS',
  Compacted: 'GONE',
  // The driver re-fed an applied index: a bug below the API, not the client's doing.
  AlreadyApplied: 'INTERNAL',
  IdempotencyWindowFull: 'IDEMPOTENCY_WINDOW_FULL',
  UnknownSession: 'SESSION_UNKNOWN',
  StaleSessionSeq: 'SESSION_SEQ_STALE',
  TooManySessions: 'TOO_MANY_SESSIONS',
};

/** Driver error codes (server/errors.ts MemberError) → registry codes. */
const MEMBER_CODES: Readonly<Record<string, ApiErrorCode>> = {
  NotLeader: 'NOT_LEADER',
  NoLeader: 'NO_LEADER',
  Backpressure: 'TOO_MANY_REQUESTS',
  Timeout: 'TIMEOUT',
  NoSpace: 'NO_SPACE',
  ShuttingDown: 'SHUTTING_DOWN',
  ProposalDropped: 'PROPOSAL_DROPPED',
  Conflict: 'CONFLICT',
  UnknownMember: 'NOT_FOUND',
  InvalidRequest: 'BAD_REQUEST',
  TooLarge: 'PAYLOAD_TOO_LARGE',
  FaultInjectionDisabled: 'NOT_FOUND',
  Removed: 'MEMBER_REMOVED',
};

/** Core refusals (raft/errors.ts) → registry codes, for a RaftError that reaches the API untranslated. */
const RAFT_CODES: Readonly<Record<RaftError['code'], ApiErrorCode>> = {
  NotLeader: 'NOT_LEADER',
  TransferInProgress: 'NO_LEADER',
  ConfChangeInProgress: 'CONFLICT',
  Backpressure: 'TOO_MANY_REQUESTS',
  LearnerNotCaughtUp: 'CONFLICT',
  UnknownMember: 'NOT_FOUND',
  AlreadyMember: 'CONFLICT',
  // Names are validated before the core sees them: what is left (promote a voter, remove the
  // last voter) conflicts with the current configuration.
  InvalidConfChange: 'CONFLICT',
  ProposalTooLarge: 'PAYLOAD_TOO_LARGE',
};

/**
 * Codes other modules use for the same situations (the KV module's and storage's typed errors,
 * written in their own casing). Matched after normalising to UPPER_SNAKE.
 */
const FOREIGN_CODES: Readonly<Record<string, ApiErrorCode>> = {
  NOT_FOUND: 'NOT_FOUND',
  KEY_NOT_FOUND: 'NOT_FOUND',
  BAD_REQUEST: 'BAD_REQUEST',
  INVALID: 'BAD_REQUEST',
  INVALID_ARGUMENT: 'BAD_REQUEST',
  INVALID_COMMAND: 'BAD_REQUEST',
  INVALID_REQUEST: 'BAD_REQUEST',
  CONFLICT: 'CONFLICT',
  LOCK_HELD: 'CONFLICT',
  LOCKED: 'CONFLICT',
  STALE_FENCING_TOKEN: 'CONFLICT',
  STALE_TOKEN: 'CONFLICT',
  FENCING: 'CONFLICT',
  FENCED: 'CONFLICT',
  TOKEN_MISMATCH: 'CONFLICT',
  NOT_HOLDER: 'CONFLICT',
  COMPACTED: 'GONE',
  REVISION_COMPACTED: 'GONE',
  GONE: 'GONE',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  REVISION_MISMATCH: 'PRECONDITION_FAILED',
  IF_MATCH: 'PRECONDITION_FAILED',
  CAS_FAILED: 'PRECONDITION_FAILED',
  COMPARE_FAILED: 'PRECONDITION_FAILED',
  TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  NO_SPACE: 'NO_SPACE',
  ENOSPC: 'NO_SPACE',
  DISK_FULL: 'NO_SPACE',
  TOO_MANY_WATCHERS: 'TOO_MANY_REQUESTS',
};

function upperSnake(code: string): string {
  return code.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[-\s]/g, '_').toUpperCase();
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/** Translates any thrown value to an ApiError, or null when it is not a known operating error. */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  if (err instanceof RaftError) {
    const code = RAFT_CODES[err.code];
    // A raw RaftError carries only the leader's name; without its URL we cannot redirect.
    return new ApiError(code === 'NOT_LEADER' ? 'NO_LEADER' : code, err.message);
  }
  if (err instanceof KvError) {
    const code = KV_CODES[err.code];
    return code === 'INTERNAL' ? null : new ApiError(code, err.message);
  }
  if (err instanceof StorageError) {
    // A corrupt store is a bug or a broken disk, not a client matter: 500 and a log line.
    if (err.code === 'Corrupt') return null;
    // NoSpace and IO both mean this member cannot make the write durable now.
    return new ApiError('NO_SPACE', err.code === 'NoSpace' ? 'the member cannot persist: no space left on its data volume' : 'the member cannot persist: storage is failing');
  }
  if (!isRecord(err) || typeof err.code !== 'string') return null;
  const message = typeof err.message === 'string' ? err.message : err.code;
  const memberCode = err.name === 'MemberError' ? MEMBER_CODES[err.code] : undefined;
  const code = memberCode ?? MEMBER_CODES[err.code] ?? FOREIGN_CODES[upperSnake(err.code)];
  if (code === undefined) return null;
  const retry = typeof err.retryAfterSeconds === 'number' && err.retryAfterSeconds > 0 ? err.retryAfterSeconds : null;
  if (code === 'NOT_LEADER') {
    const l = err.leader;
    if (isRecord(l) && typeof l.name === 'string' && typeof l.clientUrl === 'string' && l.clientUrl !== '') {
      return new ApiError('NOT_LEADER', message, { name: l.name, clientUrl: l.clientUrl }, retry);
    }
    return new ApiError('NO_LEADER', message, null, retry);
  }
  return new ApiError(code, message, null, retry);
}

/** The Location of a redirect: `pathAndQuery` on the leader's client URL. */
export function leaderLocation(leader: LeaderRef, pathAndQuery: string): string {
  const base = leader.clientUrl.endsWith('/') ? leader.clientUrl.slice(0, -1) : leader.clientUrl;
  return base + pathAndQuery;
}

/** Serializes `{"error","code"}` for a registry code. */
export function errorBody(code: ApiErrorCode, message: string): string {
  return JSON.stringify({ error: message, code });
}

/**
 * Maps ANY thrown value to a response. Known operating errors keep their message; anything else
 * becomes 500 INTERNAL with a generic message, and the error (with its stack) goes to the log,
 * never to the client. `pathAndQuery` is the request target, used for NOT_LEADER redirects.
 */
export function errorResponse(err: unknown, pathAndQuery: string, logger: Logger | null): ErrorResponse {
  const api = toApiError(err);
  if (api === null) {
    logger?.error({ err }, 'unexpected error while serving a request');
    return { status: 500, headers: {}, body: errorBody('INTERNAL', 'internal error'), code: 'INTERNAL' };
  }
  const headers: Record<string, string> = {};
  if (api.code === 'NOT_LEADER' && api.leader) {
    headers['location'] = leaderLocation(api.leader, pathAndQuery);
    headers['x-raft-leader'] = api.leader.name;
  }
  if (api.code === 'UNAUTHORIZED') headers['www-authenticate'] = 'Bearer realm="raftkv"';
  if (api.replayed) headers['idempotency-replayed'] = 'true';
  if (api.code === 'METHOD_NOT_ALLOWED' && api.allow.length > 0) headers['allow'] = api.allow.join(', ');
  const spec: ApiErrorSpec = API_ERRORS[api.code];
  const retryAfter = api.retryAfterSeconds ?? spec.retryAfterSeconds;
  if (retryAfter !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfter)));
  return { status: api.status, headers, body: errorBody(api.code, api.message), code: api.code };
}
