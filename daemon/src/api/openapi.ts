// The OpenAPI 3.1 description of the client API: every route, parameter, header, body, response
// and error code. Built in code (not a hand-kept JSON file) so its limits, patterns and error codes
// come from the same constants the validators and the error registry use and cannot drift from
// them. Served by every member at GET /v1/openapi.json; docs/openapi.json and docs/api.md are
// generated from it (scripts/gen-api-docs.mjs) and a unit test checks them and the routes.
import { OPENABLE_PATHS, ROUTE_ACCESS } from './access.js';
import { API_ERRORS } from './errors.js';
import type { ApiErrorCode } from './errors.js';
import {
  BASE64_PATTERN, CLIENT_URL_PATTERN, FENCING_TOKEN_MAX_CHARS, FENCING_TOKEN_PATTERN, INPUT_LIMITS, MAX_WIRE_INTEGER, MEMBER_NAME_PATTERN, PEER_URL_PATTERN,
} from './validate.js';

/** A JSON value (the document is plain data). */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [k: string]: Json };
type Obj = { readonly [k: string]: Json };

/** The API version the document describes (the package version). */
export const API_VERSION = '0.1.0';

const ref = (name: string): Obj => ({ $ref: `#/components/schemas/${name}` });
const resp = (name: string): Obj => ({ $ref: `#/components/responses/${name}` });
const param = (name: string): Obj => ({ $ref: `#/components/parameters/${name}` });
const header = (name: string): Obj => ({ $ref: `#/components/headers/${name}` });

const wireInt = (description: string): Obj => ({ type: 'integer', minimum: 0, maximum: MAX_WIRE_INTEGER, description });

const KEY_DESCRIPTION = `1..${INPUT_LIMITS.maxKeyChars} characters of UTF-8 text.`;

/** Error responses by HTTP status, each naming the codes it can carry. */
const ERROR_RESPONSES: Readonly<Record<string, { readonly name: string; readonly codes: readonly ApiErrorCode[]; readonly text: string; readonly retryAfter?: boolean }>> = {
  400: { name: 'BadRequest', codes: ['BAD_REQUEST'], text: 'Malformed input: the message names the field and what is wrong with it.' },
  401: { name: 'Unauthorized', codes: ['UNAUTHORIZED'], text: 'Auth is on (--auth-token-file) and the request has no, a malformed or an unknown credential.' },
  403: { name: 'Forbidden', codes: ['FORBIDDEN'], text: "Auth is on and the credential's role is too weak for the route (read < write < admin)." },
  404: { name: 'NotFound', codes: ['NOT_FOUND'], text: 'The key, lock, member or route does not exist.' },
  405: { name: 'MethodNotAllowed', codes: ['METHOD_NOT_ALLOWED'], text: 'The path exists but not with this method; Allow lists the methods it serves.' },
  409: { name: 'Conflict', codes: ['CONFLICT', 'IDEMPOTENCY_KEY_REUSED', 'SESSION_SEQ_STALE'], text: 'A lock held by another owner or not held, a stale fencing token, a concurrent membership change, a learner not caught up; IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was first used for a different kind of request (use a new key per distinct request); SESSION_SEQ_STALE: Session-Seq is older than the last one the session applied (a late duplicate; nothing applied).' },
  410: { name: 'Gone', codes: ['GONE', 'MEMBER_REMOVED', 'SESSION_UNKNOWN'], text: 'GONE: a watch asked for a compacted revision. MEMBER_REMOVED: this member was removed from the cluster; use another one. SESSION_UNKNOWN: Session-Id names no open session (expired after its TTL unused, closed, or never opened); nothing applied.' },
  412: { name: 'PreconditionFailed', codes: ['PRECONDITION_FAILED'], text: "If-Match did not match the key's mod revision (0: the key exists)." },
  413: { name: 'PayloadTooLarge', codes: ['PAYLOAD_TOO_LARGE'], text: 'The body is larger than --max-request-bytes (or the entry larger than the log accepts).' },
  429: { name: 'TooManyRequests', codes: ['TOO_MANY_REQUESTS', 'IDEMPOTENCY_WINDOW_FULL', 'TOO_MANY_SESSIONS'], text: 'Backpressure (pending proposals, bytes, watchers, locks): retry after Retry-After seconds. IDEMPOTENCY_WINDOW_FULL: the idempotency window is at its byte budget (--idempotency-budget-bytes) and no promise is ever dropped to make room; nothing applied. TOO_MANY_SESSIONS: --max-sessions sessions are open.', retryAfter: true },
  408: { name: 'RequestTimeout', codes: ['BAD_REQUEST'], text: 'The request (headers and body) did not arrive within 60 s; the connection is closed.' },
  431: { name: 'HeadersTooLarge', codes: ['BAD_REQUEST'], text: 'The request line and headers are larger than 128 KiB; the connection is closed.' },
  500: { name: 'Internal', codes: ['INTERNAL'], text: 'A bug; the detail is in the member log, never in the response.' },
  503: { name: 'Unavailable', codes: ['NO_LEADER', 'TIMEOUT', 'PROPOSAL_DROPPED', 'SHUTTING_DOWN'], text: 'No leader, a timeout, a proposal lost to a leader change, or the member is stopping: retry after Retry-After seconds (a write with the same Idempotency-Key).', retryAfter: true },
  507: { name: 'NoSpace', codes: ['NO_SPACE'], text: 'The member cannot persist (disk full or failing).' },
};

function errorResponse(status: string): Obj {
  const e = ERROR_RESPONSES[status];
  if (e === undefined) throw new Error(`no error response for ${status}`);
  const headers: Record<string, Json> = {};
  if (e.retryAfter === true) headers['Retry-After'] = header('RetryAfter');
  if (status === '401') headers['WWW-Authenticate'] = header('WwwAuthenticate');
  if (status === '405') headers['Allow'] = { ...header('Allow'), required: true };
  const code = e.codes[0] as ApiErrorCode;
  return {
    description: `${e.text} Codes: ${e.codes.join(', ')}.`,
    headers,
    content: {
      'application/json': {
        schema: { allOf: [ref('Error'), { type: 'object', properties: { code: { enum: [...e.codes] } } }] },
        example: { error: EXAMPLE_MESSAGES[code], code },
      },
    },
  };
}

const EXAMPLE_MESSAGES: Readonly<Record<ApiErrorCode, string>> = {
  BAD_REQUEST: 'success[0].put: value (UTF-8 text) or valueBase64 (binary, base64) is required',
  UNAUTHORIZED: 'authentication required: send Authorization: Bearer <token>',
  FORBIDDEN: "role 'read' may not PUT /v1/kv/a (needs 'write')",
  NOT_FOUND: 'key not found',
  METHOD_NOT_ALLOWED: 'GET is not allowed on /v1/txn; allowed: POST',
  CONFLICT: 'lock held by another owner',
  GONE: 'revision 3 has been compacted',
  IDEMPOTENCY_KEY_REUSED: "Idempotency-Key 'k1' was already used for a different request (a txn, not a put); use a new key for each distinct request",
  MEMBER_REMOVED: 'this member was removed from the cluster and serves no client requests; use another member',
  PRECONDITION_FAILED: 'If-Match 4 does not match mod revision 7',
  PAYLOAD_TOO_LARGE: 'request body is larger than 1572864 bytes (--max-request-bytes)',
  TOO_MANY_REQUESTS: 'too many pending proposals; retry later',
  NOT_LEADER: 'not the leader; the leader is n2',
  NO_LEADER: 'no leader known; retry shortly',
  TIMEOUT: 'the request did not finish within the request timeout',
  PROPOSAL_DROPPED: 'the proposal was dropped by a leader change; retry with the same Idempotency-Key',
  NO_SPACE: 'the member cannot persist: no space left on its data volume',
  SHUTTING_DOWN: 'the member is shutting down',
  INTERNAL: 'internal error',
  IDEMPOTENCY_WINDOW_FULL: 'the idempotency window is full (--idempotency-budget-bytes); retry after Retry-After seconds, or use a session',
  SESSION_UNKNOWN: 'session 118 is not open (expired, closed or never opened); nothing was applied',
  SESSION_SEQ_STALE: 'Session-Seq 4 is older than 7, the last this session applied; nothing was applied',
  TOO_MANY_SESSIONS: 'the cluster holds --max-sessions open sessions; retry later',
};

/** Responses every route can give (auth, a removed member, a bug). */
const COMMON_ERRORS: Obj = { 401: resp('Unauthorized'), 403: resp('Forbidden'), 408: resp('RequestTimeout'), 431: resp('HeadersTooLarge'), 500: resp('Internal') };
/** ...plus what any write can give on the way to the log. */
const WRITE_ERRORS: Obj = {
  ...COMMON_ERRORS, 307: resp('NotLeader'), 400: resp('BadRequest'), 410: resp('Gone'), 413: resp('PayloadTooLarge'),
  409: resp('Conflict'), 429: resp('TooManyRequests'), 503: resp('Unavailable'), 507: resp('NoSpace'),
};
/** ...and a linearizable read (ReadIndex through the leader). */
const READ_ERRORS: Obj = { ...COMMON_ERRORS, 400: resp('BadRequest'), 410: resp('Gone'), 429: resp('TooManyRequests'), 503: resp('Unavailable') };

const json = (schema: Obj, example: Json): Obj => ({ 'application/json': { schema, example } });
const ok = (description: string, schema: Obj, example: Json, headers?: Obj): Obj => ({ description, ...(headers ? { headers } : {}), content: json(schema, example) });
const jsonBody = (schema: Obj, example: Json, required = true): Obj => ({ required, content: json(schema, example) });

const keyString: Obj = { type: 'string', minLength: 1, maxLength: INPUT_LIMITS.maxKeyChars, description: KEY_DESCRIPTION, example: 'config/db/url' };
const memberName: Obj = { type: 'string', pattern: MEMBER_NAME_PATTERN, example: 'n2' };

const schemas: Obj = {
  Error: {
    type: 'object', required: ['error', 'code'], additionalProperties: false,
    description: 'Every error: a message a person can act on, and a stable code clients switch on.',
    properties: { error: { type: 'string' }, code: { type: 'string', enum: Object.keys(API_ERRORS) } },
  },
  WriteResult: {
    type: 'object', required: ['revision', 'term', 'index'], additionalProperties: false,
    properties: { revision: wireInt('The store revision of this write.'), term: wireInt('Raft term of the entry.'), index: wireInt('Raft log index of the entry.') },
  },
  DeleteResult: {
    type: 'object', required: ['deleted', 'revision', 'term', 'index'], additionalProperties: false,
    properties: { deleted: { type: 'boolean', description: 'false: the key did not exist.' }, revision: wireInt('Store revision after the delete.'), term: wireInt('Raft term.'), index: wireInt('Raft log index.') },
  },
  KeyValue: {
    type: 'object', required: ['key', 'value', 'modRevision', 'createRevision'], additionalProperties: false,
    properties: {
      key: { type: 'string' },
      value: { type: 'string', contentEncoding: 'base64', description: 'The stored bytes, base64 (responses always carry values as base64).' },
      modRevision: wireInt('Revision of the last write of this key.'),
      createRevision: wireInt('Revision that created this key.'),
    },
  },
  ListResult: {
    type: 'object', required: ['kvs', 'more', 'revision'], additionalProperties: false,
    properties: { kvs: { type: 'array', items: ref('KeyValue') }, more: { type: 'boolean', description: 'true: keys were left out; ask again with after=<last key>.' }, revision: wireInt('Store revision the page was read at.') },
  },
  TextValue: {
    type: 'object', required: ['key', 'value'], additionalProperties: false,
    properties: { key: keyString, value: { type: 'string', description: 'UTF-8 text, stored as its UTF-8 bytes.' } },
  },
  BinaryValue: {
    type: 'object', required: ['key', 'valueBase64'], additionalProperties: false,
    properties: { key: keyString, valueBase64: { type: 'string', pattern: BASE64_PATTERN, contentEncoding: 'base64', description: 'Any bytes, standard base64 with padding.' } },
  },
  Compare: {
    description: 'One condition of a txn. target value: compare the stored bytes (given as value text or valueBase64); modRevision: the key\'s mod revision (0: absent); exists: whether the key exists (= or != only).',
    oneOf: [
      { type: 'object', required: ['key', 'target', 'op', 'value'], additionalProperties: false, properties: { key: keyString, target: { const: 'value' }, op: ref('CompareOp'), value: { type: 'string', description: 'UTF-8 text.' } } },
      { type: 'object', required: ['key', 'target', 'op', 'valueBase64'], additionalProperties: false, properties: { key: keyString, target: { const: 'value' }, op: ref('CompareOp'), valueBase64: { type: 'string', pattern: BASE64_PATTERN, contentEncoding: 'base64' } } },
      { type: 'object', required: ['key', 'target', 'op', 'value'], additionalProperties: false, properties: { key: keyString, target: { const: 'modRevision' }, op: ref('CompareOp'), value: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } } },
      { type: 'object', required: ['key', 'target', 'op', 'value'], additionalProperties: false, properties: { key: keyString, target: { const: 'exists' }, op: { enum: ['=', '!='] }, value: { type: 'boolean' } } },
    ],
  },
  CompareOp: { enum: ['=', '!=', '<', '>'] },
  TxnOp: {
    description: 'Exactly one of put, delete, get.',
    oneOf: [
      { type: 'object', required: ['put'], additionalProperties: false, properties: { put: { oneOf: [ref('TextValue'), ref('BinaryValue')] } } },
      { type: 'object', required: ['delete'], additionalProperties: false, properties: { delete: { type: 'object', required: ['key'], additionalProperties: false, properties: { key: keyString } } } },
      { type: 'object', required: ['get'], additionalProperties: false, properties: { get: { type: 'object', required: ['key'], additionalProperties: false, properties: { key: keyString } } } },
    ],
  },
  TxnRequest: {
    type: 'object', additionalProperties: false,
    description: 'If every compare holds, the success ops run, else the failure ops; atomically, as one revision.',
    properties: {
      compare: { type: 'array', maxItems: INPUT_LIMITS.maxTxnCompares, items: ref('Compare') },
      success: { type: 'array', maxItems: INPUT_LIMITS.maxTxnOps, items: ref('TxnOp') },
      failure: { type: 'array', maxItems: INPUT_LIMITS.maxTxnOps, items: ref('TxnOp') },
    },
  },
  TxnResult: {
    type: 'object', required: ['succeeded', 'revision', 'results'], additionalProperties: false,
    properties: {
      succeeded: { type: 'boolean', description: 'Whether the compares held (success ran) or not (failure ran).' },
      revision: wireInt('Store revision after the txn.'),
      results: {
        type: 'array',
        items: {
          oneOf: [
            { type: 'object', required: ['type', 'key', 'revision'], additionalProperties: false, properties: { type: { const: 'put' }, key: { type: 'string' }, revision: wireInt('Revision of the put.') } },
            { type: 'object', required: ['type', 'key', 'deleted'], additionalProperties: false, properties: { type: { const: 'delete' }, key: { type: 'string' }, deleted: { type: 'boolean' } } },
            { type: 'object', required: ['type', 'key', 'kv'], additionalProperties: false, properties: { type: { const: 'get' }, key: { type: 'string' }, kv: { oneOf: [ref('KeyValue'), { type: 'null' }] } } },
            // A replayed txn (Idempotency-Replayed: true): the window keeps outcomes, not the values its gets saw.
            { type: 'object', required: ['type', 'key', 'forgotten'], additionalProperties: false, properties: { type: { const: 'get' }, key: { type: 'string' }, forgotten: { const: true } } },
          ],
        },
      },
    },
  },
  LockRequest: {
    type: 'object', required: ['owner', 'ttlMs'], additionalProperties: false,
    properties: {
      owner: { type: 'string', minLength: 1, maxLength: INPUT_LIMITS.maxLockOwnerChars, description: 'Who holds the lock (free text).' },
      ttlMs: { type: 'integer', minimum: INPUT_LIMITS.minLockTtlMs, maximum: INPUT_LIMITS.maxLockTtlMs, description: 'The lock expires this long after the acquire unless released.' },
    },
  },
  LockResult: {
    type: 'object', required: ['token', 'owner'], additionalProperties: false,
    properties: { token: wireInt('Fencing token: grows with every acquire of this lock; send it as Fencing-Token: <lock>:<token>.'), owner: { type: 'string' } },
  },
  ReleaseResult: { type: 'object', required: ['released'], additionalProperties: false, properties: { released: { const: true } } },
  Member: {
    type: 'object', required: ['name', 'peerUrl', 'clientUrl', 'voter'], additionalProperties: false,
    properties: { name: { type: 'string' }, peerUrl: { type: 'string' }, clientUrl: { type: 'string', description: 'Empty until the member published it.' }, voter: { type: 'boolean', description: 'false: a learner.' } },
  },
  Members: { type: 'object', required: ['members'], additionalProperties: false, properties: { members: { type: 'array', items: ref('Member') } } },
  MemberAdd: {
    type: 'object', required: ['name', 'peerUrl'], additionalProperties: false,
    properties: {
      name: memberName,
      peerUrl: { type: 'string', pattern: PEER_URL_PATTERN, example: 'http://10.0.0.4:2380' },
      clientUrl: { type: 'string', pattern: `${CLIENT_URL_PATTERN}|^$`, example: 'http://10.0.0.4:2379' },
    },
  },
  Status: {
    type: 'object', additionalProperties: false,
    required: ['name', 'role', 'term', 'leader', 'commitIndex', 'appliedIndex', 'lastIndex', 'snapshotIndex', 'members', 'revision', 'removed'],
    properties: {
      name: { type: 'string' },
      role: { enum: ['leader', 'follower', 'candidate', 'learner'] },
      term: wireInt('Current raft term.'),
      leader: { oneOf: [{ type: 'null' }, { type: 'object', required: ['name', 'clientUrl'], additionalProperties: false, properties: { name: { type: 'string' }, clientUrl: { type: 'string' } } }] },
      commitIndex: wireInt('Highest log index known committed.'),
      appliedIndex: wireInt('Highest log index applied.'),
      lastIndex: wireInt('Last index in the local log (disaster recovery: restore from the member with the highest).'),
      snapshotIndex: wireInt('Index of the latest snapshot.'),
      members: { type: 'array', items: ref('Member') },
      revision: wireInt('KV revision applied locally.'),
      removed: { type: 'boolean', description: 'This member applied its own removal from the cluster.' },
      progress: {
        type: 'object', description: 'Leader only: replication progress per member.',
        additionalProperties: { type: 'object', required: ['match', 'state'], additionalProperties: false, properties: { match: wireInt('Highest index known replicated.'), state: { type: 'string' } } },
      },
      leaderHistory: {
        type: 'array', description: 'Recent leader changes seen by this member, newest last (bounded).',
        items: { type: 'object', required: ['term', 'leader', 'atMs'], additionalProperties: false, properties: { term: wireInt('Term.'), leader: { type: 'string' }, atMs: wireInt('Wall clock, ms since the epoch.') } },
      },
      backupShipping: {
        type: 'object', description: 'Continuous backup shipping (members started with --backup-ship-to; docs/backups.md).', additionalProperties: false,
        required: ['target', 'shipping', 'shippedIndex', 'shippedRevision', 'lastShippedAtMs', 'lagSeconds', 'healthy', 'pendingEntries', 'bufferedBytes', 'segmentsShipped', 'baseSnapshots', 'failures', 'lastError'],
        properties: {
          target: { type: 'string', description: 'The backup prefix shipped to.' },
          shipping: { type: 'boolean', description: 'This member ships (it is the leader).' },
          shippedIndex: { type: ['integer', 'null'], minimum: 0, description: 'Highest log index known shipped.' },
          shippedRevision: { type: ['integer', 'null'], minimum: 0, description: 'Highest KV revision known shipped.' },
          lastShippedAtMs: { type: ['integer', 'null'], minimum: 0, description: 'Wall clock of the last successful upload.' },
          lagSeconds: { type: 'number', minimum: 0, description: 'Age of the oldest applied change not shipped yet.' },
          healthy: { type: 'boolean', description: 'False when this member ships and the lag passed max(3 x --backup-ship-interval-ms, 10 s).' },
          pendingEntries: wireInt('Applied entries not shipped yet.'),
          bufferedBytes: wireInt('Bytes held for shipping.'),
          segmentsShipped: wireInt('Segments this member uploaded.'),
          baseSnapshots: wireInt('Full snapshots uploaded because the shipped log could not be continued.'),
          failures: wireInt('Failed uploads (retried with backoff).'),
          lastError: { type: ['string', 'null'], description: 'The last failure, until an upload succeeds again.' },
        },
      },
    },
  },
  Transfer: { type: 'object', additionalProperties: false, properties: { to: { ...memberName, description: 'The voter to hand leadership to; absent: the most caught-up one.' } } },
  TransferResult: {
    type: 'object', required: ['leader', 'clientUrl'], additionalProperties: false,
    properties: { leader: { type: 'string' }, clientUrl: { type: ['string', 'null'] } },
  },
  SnapshotResult: { type: 'object', required: ['index'], additionalProperties: false, properties: { index: wireInt('Log index the snapshot covers.') } },
  Faults: {
    type: 'object', additionalProperties: false,
    properties: {
      dropPeerTraffic: { type: 'boolean', description: 'Drop all peer traffic (isolates this member).' },
      dropPeers: { type: 'array', maxItems: 64, items: { type: 'string' }, description: 'Drop traffic to and from these members only.' },
      durationMs: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Lift the faults after this long.' },
    },
  },
  FaultsResult: { type: 'object', required: ['ok', 'faults'], additionalProperties: false, properties: { ok: { const: true }, faults: ref('Faults') } },
};

const parameters: Obj = {
  Key: {
    name: 'key', in: 'path', required: true,
    description: `The key, percent-encoded (a / inside a key may be sent raw or as %2F). ${KEY_DESCRIPTION}`,
    schema: keyString,
  },
  LockName: {
    name: 'name', in: 'path', required: true, description: 'The lock name, percent-encoded.',
    schema: { type: 'string', minLength: 1, maxLength: INPUT_LIMITS.maxLockNameChars, example: 'backup-job' },
  },
  MemberName: { name: 'name', in: 'path', required: true, schema: memberName },
  Consistency: {
    name: 'consistency', in: 'query', required: false,
    description: 'linearizable (default): the read reflects every write acknowledged before it (ReadIndex through the leader). serializable: local state, no round trip, possibly stale.',
    schema: { enum: ['linearizable', 'serializable'] },
  },
  IfMatch: {
    name: 'If-Match', in: 'header', required: false,
    description: 'Compare-and-swap: the write applies only if the key\'s mod revision equals this (0: only if the key does not exist); else 412. A quoted "5" is accepted.',
    schema: { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$|^"(0|[1-9][0-9]{0,14})"$', example: '7' },
  },
  FencingToken: {
    name: 'Fencing-Token', in: 'header', required: false,
    description: 'Fenced write: `<lock>:<token>` from POST /v1/locks/{name}; refused with 409 if the lock has since been acquired with a higher token.',
    schema: { type: 'string', pattern: FENCING_TOKEN_PATTERN, maxLength: FENCING_TOKEN_MAX_CHARS, example: 'backup-job:12' },
  },
  SessionId: {
    name: 'Session-Id', in: 'header', required: false,
    description: 'Exactly-once writes through a client session (POST /v1/sessions): the session id, always together with Session-Seq (one without the other is a 400). Accepted on every write (PUT/DELETE /v1/kv/{key}, POST /v1/txn, POST/DELETE /v1/locks/{name}); the operations do not list the pair because OpenAPI cannot say that two headers go together. With both a session and an Idempotency-Key the session decides retries and the key is not recorded.',
    schema: { type: 'string', pattern: '^[1-9][0-9]{0,14}$', example: '118' },
  },
  SessionSeq: {
    name: 'Session-Seq', in: 'header', required: false,
    description: "The write's number in its session, increasing: a retry of the last number is answered from the session (Idempotency-Replayed: true), an older one is 409 SESSION_SEQ_STALE.",
    schema: { type: 'string', pattern: '^[1-9][0-9]{0,14}$', example: '7' },
  },
  IdempotencyKey: {
    name: 'Idempotency-Key', in: 'header', required: false,
    description: 'Retry-safe writes: a write repeated with the same key (within the idempotency window) is applied once and answered with the first answer.',
    schema: { type: 'string', pattern: `^[!-~]{1,${INPUT_LIMITS.maxIdempotencyKeyBytes}}$`, example: '0b6f4c1e-3c0e-4a8e-9d55-0f1f3c4a7d21' },
  },
};

const headers: Obj = {
  RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'string', pattern: '^[0-9]+$' } },
  WwwAuthenticate: { description: 'The auth scheme: Bearer.', schema: { type: 'string' } },
  Location: { description: 'The same path and query on the leader\'s client URL.', schema: { type: 'string', format: 'uri' } },
  RaftLeader: { description: 'The leader\'s member name.', schema: { type: 'string' } },
  Revision: { description: 'Mod revision of the key.', schema: { type: 'string', pattern: '^[0-9]+$' } },
  CreateRevision: { description: 'Revision that created the key.', schema: { type: 'string', pattern: '^[0-9]+$' } },
  RaftTerm: { description: 'Current raft term of the member that answered.', schema: { type: 'string', pattern: '^[0-9]+$' } },
  Allow: { description: 'The methods the path serves.', schema: { type: 'string' } },
  IdempotencyReplayed: { description: "true: this is the first answer to the write, replayed from the idempotency window or the client's session (nothing was applied again).", schema: { type: 'string', enum: ['true'] } },
};

const responses: Obj = {
  ...Object.fromEntries(Object.keys(ERROR_RESPONSES).map((status) => [(ERROR_RESPONSES[status] as { name: string }).name, errorResponse(status)])),
  NotLeader: {
    description: 'This member is a follower: repeat the same request (method and body) at Location, the leader. Codes: NOT_LEADER.',
    headers: { Location: { ...header('Location'), required: true }, 'X-Raft-Leader': { ...header('RaftLeader'), required: true } },
    content: json(ref('Error'), { error: EXAMPLE_MESSAGES.NOT_LEADER, code: 'NOT_LEADER' }),
  },
};

const kvWrite = (summary: string, description: string): Obj => ({
  summary, description,
  parameters: [param('IfMatch'), param('FencingToken'), param('IdempotencyKey')],
  responses: { ...WRITE_ERRORS, 409: resp('Conflict'), 412: resp('PreconditionFailed') },
});

const TXN_EXAMPLE: Json = {
  compare: [{ key: 'config/version', target: 'modRevision', op: '=', value: 7 }],
  success: [{ put: { key: 'config/version', value: 'v2' } }, { put: { key: 'config/blob', valueBase64: 'AAEC/w==' } }, { get: { key: 'config/db/url' } }],
  failure: [{ get: { key: 'config/version' } }],
};

/** The status page of one member reads the status of the others across origins. */
const CORS_PREFLIGHT: Obj = {
  tags: ['cluster'], summary: 'CORS preflight', security: [],
  responses: {
    204: {
      description: 'Cross-origin GET allowed.',
      headers: {
        'Access-Control-Allow-Origin': { schema: { const: '*' }, required: true },
        'Access-Control-Allow-Methods': { schema: { type: 'string' }, required: true },
        'Access-Control-Allow-Headers': { schema: { type: 'string' } },
        'Access-Control-Max-Age': { schema: { type: 'string' } },
      },
    },
  },
};

const paths: Obj = {
  '/v1/kv/{key}': {
    parameters: [param('Key')],
    get: {
      operationId: 'getKey', tags: ['kv'], summary: 'Read a key',
      description: 'The value, as stored bytes. Served by any member (linearizable by default; no redirect).',
      parameters: [param('Consistency')],
      responses: {
        200: {
          description: 'The value.',
          headers: { 'X-Revision': { ...header('Revision'), required: true }, 'X-Create-Revision': { ...header('CreateRevision'), required: true }, 'X-Raft-Term': { ...header('RaftTerm'), required: true } },
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' }, example: 'postgres://db:5432/app' } },
        },
        404: resp('NotFound'), ...READ_ERRORS,
      },
    },
    head: {
      operationId: 'headKey', tags: ['kv'], summary: 'Key metadata', description: 'The headers of GET without the body.',
      parameters: [param('Consistency')],
      responses: {
        200: { description: 'The key exists.', headers: { 'X-Revision': { ...header('Revision'), required: true }, 'X-Create-Revision': { ...header('CreateRevision'), required: true }, 'X-Raft-Term': { ...header('RaftTerm'), required: true } } },
        404: { description: 'The key does not exist.' }, 400: { description: 'Malformed request.' }, 401: { description: 'No or bad credentials.' },
        403: { description: 'Role too weak.' }, 410: { description: 'A removed member.' }, 429: { description: 'Backpressure.' }, 500: { description: 'A bug.' }, 503: { description: 'No leader or timeout.' },
      },
    },
    put: {
      operationId: 'putKey', tags: ['kv'], ...kvWrite('Write a key', 'The request body is the value, any bytes up to --max-request-bytes. Followers redirect (307) to the leader.'),
      requestBody: { required: false, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' }, example: 'postgres://db:5432/app' } } },
      responses: { 200: ok('Written.', ref('WriteResult'), { revision: 42, term: 3, index: 118 }), ...WRITE_ERRORS, 409: resp('Conflict'), 412: resp('PreconditionFailed') },
    },
    delete: {
      operationId: 'deleteKey', tags: ['kv'], ...kvWrite('Delete a key', 'Followers redirect (307) to the leader. Deleting a missing key succeeds with deleted: false.'),
      responses: { 200: ok('Deleted (or absent).', ref('DeleteResult'), { deleted: true, revision: 43, term: 3, index: 119 }), ...WRITE_ERRORS, 409: resp('Conflict'), 412: resp('PreconditionFailed') },
    },
  },
  '/v1/kv': {
    get: {
      operationId: 'listKeys', tags: ['kv'], summary: 'List keys by prefix',
      description: `Keys in order, at most limit (default ${INPUT_LIMITS.defaultListLimit}, at most ${INPUT_LIMITS.maxListLimit}); page on with after=<last key>.`,
      parameters: [
        { name: 'prefix', in: 'query', required: false, description: 'Only keys starting with this (default: all).', schema: { type: 'string', maxLength: INPUT_LIMITS.maxKeyChars }, example: 'config/' },
        { name: 'after', in: 'query', required: false, description: 'Only keys after this one (paging).', schema: { type: 'string', maxLength: INPUT_LIMITS.maxKeyChars } },
        { name: 'limit', in: 'query', required: false, description: `Page size; 0: the default (${INPUT_LIMITS.defaultListLimit}).`, schema: { type: 'integer', minimum: 0, maximum: INPUT_LIMITS.maxListLimit } },
        param('Consistency'),
      ],
      responses: {
        200: ok('A page of keys.', ref('ListResult'), { kvs: [{ key: 'config/db/url', value: 'cG9zdGdyZXM6Ly9kYjo1NDMyL2FwcA==', modRevision: 42, createRevision: 40 }], more: false, revision: 43 }, { 'X-Raft-Term': { ...header('RaftTerm'), required: true } }),
        ...READ_ERRORS,
      },
    },
    head: {
      operationId: 'headList', tags: ['kv'], summary: 'List headers', description: 'The headers of the listing without the body.',
      parameters: [
        { name: 'prefix', in: 'query', required: false, schema: { type: 'string', maxLength: INPUT_LIMITS.maxKeyChars } },
        { name: 'after', in: 'query', required: false, schema: { type: 'string', maxLength: INPUT_LIMITS.maxKeyChars } },
        { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: INPUT_LIMITS.maxListLimit } },
        param('Consistency'),
      ],
      responses: {
        200: { description: 'The listing would succeed.' }, 400: { description: 'Malformed request.' }, 401: { description: 'No or bad credentials.' },
        403: { description: 'Role too weak.' }, 410: { description: 'A removed member.' }, 429: { description: 'Backpressure.' }, 500: { description: 'A bug.' }, 503: { description: 'No leader or timeout.' },
      },
    },
  },
  '/v1/txn': {
    post: {
      operationId: 'txn', tags: ['kv'], summary: 'Transaction',
      description: 'Compare-and-swap over several keys. Values are given as value (UTF-8 text) or valueBase64 (any bytes), exactly one of the two; responses carry values as base64. Followers redirect (307) to the leader.',
      parameters: [param('IdempotencyKey')],
      requestBody: jsonBody(ref('TxnRequest'), TXN_EXAMPLE),
      responses: {
        200: ok('The txn ran (succeeded says which branch).', ref('TxnResult'), {
          succeeded: true, revision: 44,
          results: [{ type: 'put', key: 'config/version', revision: 44 }, { type: 'put', key: 'config/blob', revision: 44 }, { type: 'get', key: 'config/db/url', kv: { key: 'config/db/url', value: 'cG9zdGdyZXM6Ly9kYjo1NDMyL2FwcA==', modRevision: 42, createRevision: 40 } }],
        }),
        ...WRITE_ERRORS,
      },
    },
  },
  '/v1/locks/{name}': {
    parameters: [param('LockName')],
    post: {
      operationId: 'acquireLock', tags: ['locks'], summary: 'Acquire a lock',
      description: 'Acquires the lock for owner (409 while another owner holds it; the same owner re-acquiring renews it). The token fences writes (Fencing-Token header).',
      parameters: [param('IdempotencyKey')],
      requestBody: jsonBody(ref('LockRequest'), { owner: 'backup-7f9c', ttlMs: 60000 }),
      responses: { 200: ok('Held.', ref('LockResult'), { token: 12, owner: 'backup-7f9c' }), ...WRITE_ERRORS, 409: resp('Conflict') },
    },
    delete: {
      operationId: 'releaseLock', tags: ['locks'], summary: 'Release a lock',
      description: '409 when the lock is not held or token is not its current token.',
      parameters: [{ name: 'token', in: 'query', required: true, description: 'The token the acquire answered.', schema: { type: 'integer', minimum: 0, maximum: MAX_WIRE_INTEGER }, example: 12 }, param('IdempotencyKey')],
      responses: { 200: ok('Released.', ref('ReleaseResult'), { released: true }), ...WRITE_ERRORS, 409: resp('Conflict') },
    },
  },
  '/v1/sessions': {
    post: {
      operationId: 'openSession', tags: ['sessions'], summary: 'Open a client session',
      description: 'A session makes writes exactly-once at the cost of memory per client, not per request (Raft dissertation 6.3): send the headers Session-Id and an increasing Session-Seq (components/parameters SessionId, SessionSeq; both or neither) with each write. Idle sessions expire after ttlMs. The body, if any, is ignored. Followers redirect (307) to the leader.',
      responses: {
        201: ok('Opened.', { type: 'object', required: ['id', 'ttlMs'], additionalProperties: false, properties: { id: { type: 'string', pattern: '^[1-9][0-9]{0,14}$' }, ttlMs: { type: 'integer', minimum: 1 } } }, { id: '118', ttlMs: 600000 }),
        ...WRITE_ERRORS,
      },
    },
  },
  '/v1/sessions/{id}': {
    parameters: [{ name: 'id', in: 'path', required: true, description: 'The session id POST /v1/sessions answered.', schema: { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$' }, example: '118' }],
    delete: {
      operationId: 'closeSession', tags: ['sessions'], summary: 'Close a client session',
      description: 'Frees the session at once (closed: false if it was not open). Followers redirect (307) to the leader.',
      responses: {
        200: ok('Closed.', { type: 'object', required: ['closed'], additionalProperties: false, properties: { closed: { type: 'boolean' } } }, { closed: true }),
        ...WRITE_ERRORS,
      },
    },
  },
  '/v1/watch': {
    get: {
      operationId: 'watch', tags: ['kv'], summary: 'Watch changes (Server-Sent Events)',
      description: [
        'A stream that does not end: one event per change under prefix, `id: <revision>` and `data: {"type":"put"|"delete","key","value"(base64),"revision"}`;',
        '`: heartbeat` comments every 15 s. Resume with fromRevision (or the Last-Event-ID header, which resumes after that revision);',
        'without either, the watch starts after the current revision. A stream the member ends early gets `event: close` with',
        '`data: {"reason","message"}` (too slow, reset by a snapshot, removed): re-watch from the last revision (after a reset: re-read first).',
      ].join(' '),
      parameters: [
        { name: 'prefix', in: 'query', required: false, description: 'Keys starting with this (default: all).', schema: { type: 'string', maxLength: INPUT_LIMITS.maxKeyChars } },
        { name: 'fromRevision', in: 'query', required: false, description: 'Replay history from this revision (410 if compacted).', schema: { type: 'integer', minimum: 0, maximum: MAX_WIRE_INTEGER } },
        { name: 'Last-Event-ID', in: 'header', required: false, description: 'EventSource resume: the last revision seen.', schema: { type: 'string', pattern: '^(0|[1-9][0-9]{0,14})$' } },
      ],
      responses: {
        200: {
          description: 'The event stream.',
          headers: { 'X-Revision': { ...header('Revision'), description: 'Store revision when the watch started.' } },
          content: { 'text/event-stream': { schema: { type: 'string' }, example: 'id: 45\ndata: {"type":"put","key":"config/version","value":"djI=","revision":45}\n\n' } },
        },
        ...READ_ERRORS,
      },
    },
  },
  '/v1/status': {
    options: CORS_PREFLIGHT,
    get: {
      operationId: 'status', tags: ['cluster'], summary: "This member's view of the cluster",
      description: 'Served by the member asked (never redirected), also by a removed member.',
      responses: {
        200: ok('Status.', ref('Status'), {
          name: 'n1', role: 'leader', term: 3, leader: { name: 'n1', clientUrl: 'http://10.0.0.1:2379' }, commitIndex: 120, appliedIndex: 120, lastIndex: 120, snapshotIndex: 100,
          members: [{ name: 'n1', peerUrl: '10.0.0.1:2380', clientUrl: 'http://10.0.0.1:2379', voter: true }], revision: 44, removed: false,
        }),
        ...COMMON_ERRORS,
      },
    },
  },
  '/v1/members': {
    options: CORS_PREFLIGHT,
    get: {
      operationId: 'listMembers', tags: ['cluster'], summary: 'The members',
      responses: { 200: ok('Members.', ref('Members'), { members: [{ name: 'n1', peerUrl: '10.0.0.1:2380', clientUrl: 'http://10.0.0.1:2379', voter: true }] }), ...COMMON_ERRORS },
    },
    post: {
      operationId: 'addMember', tags: ['cluster'], summary: 'Add a learner',
      description: 'Adds a non-voting member; start it with --initial-cluster-state existing, then promote it once caught up. Answers after the change is committed.',
      requestBody: jsonBody(ref('MemberAdd'), { name: 'n4', peerUrl: 'http://10.0.0.4:2380', clientUrl: 'http://10.0.0.4:2379' }),
      responses: { 200: ok('Added.', ref('Members'), { members: [{ name: 'n4', peerUrl: '10.0.0.4:2380', clientUrl: 'http://10.0.0.4:2379', voter: false }] }), ...WRITE_ERRORS, 409: resp('Conflict') },
    },
  },
  '/v1/members/{name}/promote': {
    parameters: [param('MemberName')],
    post: {
      operationId: 'promoteMember', tags: ['cluster'], summary: 'Promote a learner to voter',
      description: '409 while the learner has not caught up.',
      responses: { 200: ok('Promoted.', ref('Members'), { members: [{ name: 'n4', peerUrl: '10.0.0.4:2380', clientUrl: 'http://10.0.0.4:2379', voter: true }] }), ...WRITE_ERRORS, 404: resp('NotFound'), 409: resp('Conflict') },
    },
  },
  '/v1/members/{name}': {
    parameters: [param('MemberName')],
    delete: {
      operationId: 'removeMember', tags: ['cluster'], summary: 'Remove a member',
      description: 'A leader removing itself hands leadership off first and answers 307 to the new leader.',
      responses: { 200: ok('Removed.', ref('Members'), { members: [{ name: 'n1', peerUrl: '10.0.0.1:2380', clientUrl: 'http://10.0.0.1:2379', voter: true }] }), ...WRITE_ERRORS, 404: resp('NotFound'), 409: resp('Conflict') },
    },
  },
  '/v1/leader/transfer': {
    post: {
      operationId: 'transferLeader', tags: ['cluster'], summary: 'Hand leadership to another voter',
      description: 'Answers once the new leader is elected (503 TIMEOUT if it is not within the bound).',
      requestBody: jsonBody(ref('Transfer'), { to: 'n2' }, false),
      responses: { 200: ok('Moved.', ref('TransferResult'), { leader: 'n2', clientUrl: 'http://10.0.0.2:2379' }), ...WRITE_ERRORS, 404: resp('NotFound'), 409: resp('Conflict') },
    },
  },
  '/v1/snapshot': {
    post: {
      operationId: 'snapshotNow', tags: ['cluster'], summary: 'Take a raft snapshot now (compacts the log)',
      responses: { 200: ok('Taken.', ref('SnapshotResult'), { index: 120 }), ...WRITE_ERRORS },
    },
    get: {
      operationId: 'backup', tags: ['cluster'], summary: 'Download a backup',
      description: 'The file `raftctl snapshot save` writes and `raftkv restore` reads. Linearizable by default (holds every write acknowledged before the request); serializable: what this member holds now, without a quorum.',
      parameters: [param('Consistency')],
      responses: {
        200: {
          description: 'The backup file.',
          headers: {
            'X-Raftkv-Backup-Sha256': { description: 'SHA-256 of the file without its last 32 bytes (which hold it).', schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
            'X-Raftkv-Backup-Index': { description: 'Raft index the backup holds.', schema: { type: 'string', pattern: '^[0-9]+$' } },
            'X-Raftkv-Backup-Revision': { description: 'KV revision the backup holds.', schema: { type: 'string', pattern: '^[0-9]+$' } },
          },
          content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
        },
        ...READ_ERRORS,
      },
    },
  },
  '/v1/debug/faults': {
    post: {
      operationId: 'injectFaults', tags: ['debug'], summary: 'Drop peer traffic (drills only)',
      description: '404 unless the member runs with --enable-fault-injection.',
      requestBody: jsonBody(ref('Faults'), { dropPeerTraffic: false, dropPeers: ['n2'], durationMs: 5000 }),
      responses: { 200: ok('Applied.', ref('FaultsResult'), { ok: true, faults: { dropPeerTraffic: false, dropPeers: ['n2'], durationMs: 5000 } }), 400: resp('BadRequest'), 404: resp('NotFound'), 413: resp('PayloadTooLarge'), ...COMMON_ERRORS },
    },
  },
  '/v1/openapi.json': {
    get: {
      operationId: 'openapi', tags: ['meta'], summary: 'This document', security: [],
      responses: { 200: { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } }, 500: resp('Internal') },
    },
  },
  '/healthz': {
    get: {
      operationId: 'healthz', tags: ['probes'], summary: 'Liveness', description: 'Open unless left out of --auth-open-paths.',
      responses: { 200: ok('The process serves HTTP.', { type: 'object', required: ['ok'], additionalProperties: false, properties: { ok: { const: true } } }, { ok: true }), ...COMMON_ERRORS },
    },
  },
  '/readyz': {
    get: {
      operationId: 'readyz', tags: ['probes'], summary: 'Readiness',
      responses: {
        200: ok('Knows a leader and has applied up to the commit index.', { type: 'object', required: ['ready'], additionalProperties: false, properties: { ready: { const: true } } }, { ready: true }),
        503: ok('Not ready.', { type: 'object', required: ['ready', 'reason'], additionalProperties: false, properties: { ready: { const: false }, reason: { type: 'string' } } }, { ready: false, reason: 'no leader known' }, { 'Retry-After': header('RetryAfter') }),
        ...COMMON_ERRORS,
      },
    },
  },
  '/metrics': {
    get: {
      operationId: 'metrics', tags: ['probes'], summary: 'Prometheus metrics',
      responses: { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...COMMON_ERRORS },
    },
  },
};

/** `paths` with each operation's access (access.ts) stated in its description, from the one table. */
function withAccess(p: Obj, auth: DocumentAuth | null): Obj {
  const out: Record<string, Json> = {};
  for (const [path, item] of Object.entries(p)) {
    const template = path.replace(/\{([^}]+)\}/g, ':$1');
    const ops: Record<string, Json> = {};
    for (const [method, op] of Object.entries(item as Obj)) {
      const entry = ROUTE_ACCESS.find((r) => r.method === method.toUpperCase() && r.path === template);
      if (entry === undefined || typeof op !== 'object' || op === null || Array.isArray(op)) {
        ops[method] = op;
        continue;
      }
      const o = op as Obj;
      const who = OPENABLE_PATHS.includes(template)
        ? 'Access with --auth-token-file: open by default (--auth-open-paths), else role `read`.'
        : entry.access === 'open' ? 'Access with --auth-token-file: open.' : `Access with --auth-token-file: role \`${entry.access}\` or higher.`;
      const described: Record<string, Json> = { ...o, description: typeof o['description'] === 'string' ? `${o['description']} ${who}` : who };
      // A member with auth on states exactly what it enforces, so clients (and schemathesis's
      // ignored_auth check) can rely on it.
      if (auth !== null) {
        const open = OPENABLE_PATHS.includes(template) ? auth.openPaths.has(template) : entry.access === 'open';
        described['security'] = open ? [] : [{ bearer: [] }];
      }
      ops[method] = described;
    }
    out[path] = ops;
  }
  return out;
}

/** A member's access control, as the document describes it. */
export interface DocumentAuth {
  /** --auth-open-paths: the probes served without credentials. */
  readonly openPaths: ReadonlySet<string>;
}

/**
 * The OpenAPI 3.1 document of the client API. `auth` null (the default, and docs/openapi.json):
 * credentials optional, each operation names the role it needs when auth is on. A member with
 * --auth-token-file serves it with `auth`: every operation states whether it requires a bearer token.
 */
export function openApiDocument(auth: DocumentAuth | null = null): Obj {
  return {
    openapi: '3.1.0',
    info: {
      title: 'raftkv client API',
      version: API_VERSION,
      summary: 'A Raft-replicated key-value store: keys, transactions, locks, watches and cluster administration.',
      description: [
        'Every member serves this API on its client port. Writes go to the leader: a follower answers them with 307 and Location',
        '(repeat the same method and body there). Reads are served by any member, linearizable by default.',
        'Errors are `{"error": "<message>", "code": "<CODE>"}`; 503 and 429 carry Retry-After.',
        'With --auth-token-file, requests need `Authorization: Bearer <token>` (or a client certificate whose CN the token file lists);',
        'roles read < write < admin. Without it, the security requirements below do not apply.',
      ].join(' '),
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: 'http://127.0.0.1:2379', description: 'A member (--listen-client-urls)' }],
    tags: [
      { name: 'kv', description: 'Keys, listings, transactions, watches.' },
      { name: 'locks', description: 'Leased locks with fencing tokens.' },
      { name: 'sessions', description: 'Client sessions for exactly-once writes.' },
      { name: 'cluster', description: 'Status, membership, leadership, snapshots and backups (admin).' },
      { name: 'probes', description: 'Health, readiness, metrics.' },
      { name: 'debug', description: 'Fault injection for drills.' },
      { name: 'meta', description: 'This document.' },
    ],
    security: auth === null ? [{}, { bearer: [] }] : [{ bearer: [] }],
    paths: withAccess(paths, auth),
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token from --auth-token-file; its role decides what it may call.' } },
      schemas, parameters, headers, responses,
    },
  };
}

/** The routes the document describes, as `METHOD /path` with express-style parameters (`{key}` → `:key`). */
export function documentedRoutes(doc: Obj = openApiDocument()): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const docPaths = doc['paths'] as Readonly<Record<string, Readonly<Record<string, Json>>>>;
  for (const [p, item] of Object.entries(docPaths)) {
    for (const m of ['get', 'head', 'put', 'post', 'delete', 'options', 'patch', 'trace']) {
      if (item[m] !== undefined) out.push({ method: m.toUpperCase(), path: p.replace(/\{([^}]+)\}/g, ':$1') });
    }
  }
  return out;
}

/**
 * Served routes the document does not describe, and described routes nothing serves (both by
 * method and template). Both must be empty; the unit tier asserts it against the real server.
 */
export function specRouteGaps(
  served: readonly { readonly method: string; readonly path: string }[],
  documented: readonly { readonly method: string; readonly path: string }[],
): { undocumented: string[]; unserved: string[] } {
  const key = (r: { readonly method: string; readonly path: string }): string => `${r.method} ${r.path}`;
  const s = new Set(served.map(key));
  const d = new Set(documented.map(key));
  return { undocumented: [...s].filter((k) => !d.has(k)).sort(), unserved: [...d].filter((k) => !s.has(k)).sort() };
}
