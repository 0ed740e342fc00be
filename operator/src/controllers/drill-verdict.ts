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
