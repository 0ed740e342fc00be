// Opening a member's backup stream (GET /v1/snapshot): the first endpoint that serves it, retrying
// the endpoints with backoff until --timeout while members have no leader or cannot be reached.
// Shared by `snapshot save FILE|--dir` (run.ts) and `snapshot save URL` (snapshot-url.ts).
import { CliError, MIN_ATTEMPT_MS, authHint, errorCodeOf, errorLine, networkErrorCode } from './client.js';
import type { RaftkvClient } from './client.js';
import type { StreamedResponse } from './http-request.js';
import { attemptTimeoutMs, backoffMs, classifyHttpAnswer, classifyNetworkError } from './retry.js';

function reason(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? err.cause.message : err.message;
  return String(err);
}

/** A member's 200 answer, its body still streaming. */
export interface OpenedMemberBackup {
  readonly endpoint: string;
  readonly res: StreamedResponse;
}

/**
 * The first endpoint's 200 answer to GET /v1/snapshot. Credentials and bad requests fail at once
 * (another member will not answer differently); throws CliError naming every endpoint's answer
 * when none served it before the deadline.
 */
export async function openMemberBackup(client: RaftkvClient, serializable: boolean): Promise<OpenedMemberBackup> {
  const path = `/v1/snapshot${serializable ? '?consistency=serializable' : ''}`;
  const deadlineAt = performance.now() + client.requestTimeoutMs;
  const failures = new Map<string, string>();
  for (let round = 0; ; round++) {
    // Another round only when some member may serve it soon (no leader yet, overloaded, unreachable).
    let retryable = false;
    for (const [i, endpoint] of client.endpoints.entries()) {
      const remaining = deadlineAt - performance.now();
      if (remaining <= 0 || ((round > 0 || i > 0) && remaining < MIN_ATTEMPT_MS)) break;
      let res;
      try {
        res = await client.requester.stream(endpoint + path, { method: 'GET', headers: client.headersWith(undefined), timeoutMs: attemptTimeoutMs(remaining, client.requestTimeoutMs, client.endpoints.length) });
      } catch (err) {
        const { code, name } = networkErrorCode(err);
        retryable ||= classifyNetworkError(code, name) !== 'final';
        failures.set(endpoint, reason(err));
        continue;
      }
      if (res.status !== 200) {
        const chunks: Buffer[] = [];
        for await (const c of res.stream) chunks.push(c as Buffer);
        const body = Buffer.concat(chunks);
        const msg = errorLine(res.status, body);
        if (res.status === 401 || res.status === 403 || res.status === 400) throw new CliError(`snapshot save: ${msg}${authHint(res.status, client.hasToken)}`, res.status);
        retryable ||= classifyHttpAnswer(res.status, errorCodeOf(body)) !== 'final';
        failures.set(endpoint, msg);
        continue;
      }
      return { endpoint, res };
    }
    const remaining = deadlineAt - performance.now() - MIN_ATTEMPT_MS;
    if (!retryable || remaining <= 0) break;
    await new Promise((resolve) => setTimeout(resolve, Math.min(remaining, backoffMs(round, Math.random()))));
  }
  throw new CliError(`snapshot save: no member served the backup (${[...failures].map(([e, m]) => `${e}: ${m}`).join('; ')})`);
}
