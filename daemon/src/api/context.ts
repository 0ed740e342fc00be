// What every route handler shares: the member, the KV port and its read view, the logger, the
// latency timer and the request bounds. Built once per API server.
import type { MemberService } from '../member-service.js';
import type { Logger } from '../observability/logger.js';
import type { RaftkvMetrics } from '../observability/metrics.js';
import type { KvPort, KvReadView } from './kv-port.js';
import type { HttpTimer } from './respond.js';

/** Shared state of one API server. */
export interface ApiContext {
  readonly service: MemberService;
  readonly kv: KvPort;
  readonly reader: KvReadView;
  readonly logger: Logger;
  readonly metrics: RaftkvMetrics;
  readonly timer: HttpTimer;
  /** --max-request-bytes: bound on any request body. */
  readonly maxRequestBytes: number;
  /** --idempotency-budget-bytes, stamped into every keyed write this member proposes. */
  readonly idempotencyBudgetBytes: number;
  /** --max-sessions, stamped into every session open this member proposes. */
  readonly maxSessions: number;
  /** How long a request waits for an election under way before 503 NO_LEADER (redirect.ts). */
  readonly leaderWaitMs: number;
}
