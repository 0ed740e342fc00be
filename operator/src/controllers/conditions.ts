// Conditions are set in one place: a new list is derived from the old one so that
// lastTransitionTime only moves when a condition's status actually changes.
import type { Condition } from '../api/types.js';

/** Returns `conditions` with `next` set; keeps the old lastTransitionTime if the status is unchanged. */
export function setCondition(conditions: readonly Condition[], next: Omit<Condition, 'lastTransitionTime'>, nowIso: string): Condition[] {
  const old = conditions.find((c) => c.type === next.type);
  const merged: Condition = { ...next, lastTransitionTime: old !== undefined && old.status === next.status ? old.lastTransitionTime : nowIso };
  return [...conditions.filter((c) => c.type !== next.type), merged].sort((a, b) => a.type.localeCompare(b.type));
}

/** Structural equality of plain JSON values (status change detection). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = canonical(x);
    }
    return out;
  }
  return v;
}

/** Kubernetes timestamp (RFC 3339, seconds). */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
