// What a member that was removed from the cluster still answers. Like a removed etcd member it
// serves no client requests: its data stops at its removal (serializable reads would be stale
// forever) and its idea of the leader is frozen, so a redirect could point anywhere. Clients get
// 410 MEMBER_REMOVED and move on to another endpoint. What lets people and probes see the state
// stays up: health, readiness (503), metrics, status, the member list and the status page.
import { ApiError } from './errors.js';

/** Read-only paths a removed member still serves (GET/HEAD). */
const STILL_SERVED = new Set(['/healthz', '/readyz', '/metrics', '/v1/status', '/v1/members', '/v1/openapi.json']);

/** The 410 a removed member answers with, or null when it still serves `method path`. */
export function refusalWhenRemoved(method: string, url: string): ApiError | null {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!path.startsWith('/v1/')) return null; // the status page, /healthz, /readyz, /metrics, 404s
  if ((method === 'GET' || method === 'HEAD') && STILL_SERVED.has(path)) return null;
  if (path === '/v1/debug/faults') return null; // drills may still lift faults they set
  return new ApiError('MEMBER_REMOVED', 'this member was removed from the cluster and serves no client requests; use another member (GET /v1/members on any of them lists the current ones)');
}
