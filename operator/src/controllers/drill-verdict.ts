// Pure pieces of a RaftChaosDrill: the probe's availability arithmetic and the verdict.

/** Longest window (ms) in [startMs, endMs] with no acknowledged write; acks need not be sorted. */
export function longestUnavailableMs(ackTimesMs: readonly number[], startMs: number, endMs: number): number {
  const times = [...ackTimesMs].filter((t) => t >= startMs && t <= endMs).sort((a, b) => a - b);
  let prev = startMs;
  let longest = 0;
  for (const t of times) {
    longest = Math.max(longest, t - prev);
    prev = t;
  }
  return Math.max(longest, endMs - prev);
}

/** What the drill measured. */
export interface DrillMeasurements {
  readonly acknowledgedWrites: number;
  readonly lostWrites: number;
  readonly unavailableMs: number;
  readonly maxUnavailableSeconds: number;
  /** Set when the drill could not run its action or read back its writes. */
  readonly error?: string;
}

/** Final phase and a one-line message: Failed when a write was lost, recovery was too slow, or nothing was acknowledged. */
export function judgeDrill(m: DrillMeasurements): { phase: 'Succeeded' | 'Failed'; reason: string; message: string } {
  if (m.error !== undefined) return { phase: 'Failed', reason: 'DrillError', message: m.error };
  if (m.lostWrites > 0) return { phase: 'Failed', reason: 'WritesLost', message: `${m.lostWrites} of ${m.acknowledgedWrites} acknowledged writes were lost` };
  if (m.acknowledgedWrites === 0) return { phase: 'Failed', reason: 'NoWrites', message: 'the probe got no write acknowledged' };
  const limitMs = m.maxUnavailableSeconds * 1000;
  if (m.unavailableMs > limitMs) return { phase: 'Failed', reason: 'RecoveryTooSlow', message: `writes were unavailable for ${m.unavailableMs} ms (limit ${limitMs} ms)` };
  return { phase: 'Succeeded', reason: 'Recovered', message: `${m.acknowledgedWrites} writes acknowledged, none lost; longest unavailability ${m.unavailableMs} ms` };
}

/** What the steady-state check reads: each member's own GET /v1/status (undefined: no answer). */
export interface SteadyStateInput {
  /** RaftCluster status.phase. */
  readonly clusterPhase: string | undefined;
  readonly statuses: ReadonlyMap<string, { role: string; term: number; leader: unknown; commitIndex: number; appliedIndex: number; members: readonly { name: string; voter: boolean }[] } | undefined>;
  /** Largest commitIndex - appliedIndex a voter may show. */
  readonly maxLagEntries: number;
}

/**
 * Why the cluster is not in a steady state to inject a fault into, or undefined when it is:
 * the cluster Running (no scale or rollout under way), a leader, every voter answering with a
 * leader and applied within maxLagEntries of the leader's commit index.
 */
export function steadyStateProblem(input: SteadyStateInput): string | undefined {
  if (input.clusterPhase !== 'Running') return `the RaftCluster is ${input.clusterPhase ?? 'not observed yet'}, not Running (a scale, rollout or failure is under way)`;
  let leader: { name: string; term: number; commitIndex: number; members: readonly { name: string; voter: boolean }[] } | undefined;
  for (const [name, s] of input.statuses) if (s?.role === 'leader' && (leader === undefined || s.term > leader.term)) leader = { name, term: s.term, commitIndex: s.commitIndex, members: s.members };
  if (leader === undefined) return 'no member reports being the leader';
  for (const v of leader.members.filter((m) => m.voter)) {
    const s = input.statuses.get(v.name);
    if (s === undefined) return `voter ${v.name} does not answer`;
    if (s.leader === null) return `voter ${v.name} knows no leader`;
    const lag = leader.commitIndex - s.appliedIndex;
    if (lag > input.maxLagEntries) return `voter ${v.name} is ${lag} entries behind the leader (max ${input.maxLagEntries})`;
  }
  return undefined;
}

/** Runs `fn` over `items` with at most `concurrency` at once; resolves with how many rejected. */
export async function forEachBounded<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return failed;
}
