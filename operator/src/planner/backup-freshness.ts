// Pure BackupFresh decision: is the last good backup as recent as spec.backup.schedule promises,
// and (with continuous shipping) is the shipped log keeping up? A function of observed state and
// the clock only, so the reconciler, the metrics and the tests agree on one answer.
import { CronExpressionParser } from 'cron-parser';
import type { Condition } from '../api/types.js';

/**
 * How long after a scheduled time its backup may still be missing: the CronJob may start the Job
 * up to startingDeadlineSeconds late and the Job may run activeDeadlineSeconds (BACKUP_JOB_LIMITS).
 */
export const BACKUP_GRACE_MS = (300 + 600) * 1000;
/** Scheduled times walked back at most when looking for the one that is due (bounds a `* * * * *` schedule's loop). */
const MAX_FIRES_WALKED = 1000;

/** What freshness is decided from. */
export interface FreshnessInput {
  /** spec.backup.schedule (5-field cron or @hourly, ...), read in UTC. */
  readonly schedule: string;
  readonly nowMs: number;
  /** When the RaftCluster was created: before its first due time nothing can be stale. */
  readonly createdAtMs: number;
  /** The newest good backup (CronJob success or on-demand RaftBackup), if any. */
  readonly lastGoodBackupMs: number | undefined;
  /** Continuous shipping as the leader reports it; undefined when shipping is off. */
  readonly shipping?: { readonly reported: boolean; readonly healthy: boolean; readonly lagSeconds: number; readonly lastError: string | null } | undefined;
  /**
   * spec.backup.restoreDrill.schedule: a backup is good only once a RestoreBackup drill restored
   * it, so lastGoodBackupMs is then when the newest VERIFIED backup was taken, and it must be as
   * new as the backup that was due when the last due drill ran.
   */
  readonly drillSchedule?: string | undefined;
  readonly graceMs?: number;
}

/** The decision. */
export interface FreshnessVerdict {
  readonly fresh: boolean;
  readonly reason: 'BackupsFresh' | 'NoBackupDueYet' | 'BackupOverdue' | 'NoBackupYet' | 'ShippingStalled' | 'ShippingUnknown' | 'InvalidSchedule';
  readonly message: string;
  /** The scheduled time the newest good backup must be at or after (absent: nothing due yet / bad schedule). */
  readonly dueSinceMs?: number;
}

/** The newest scheduled time whose grace has passed (the backup it started must exist by now), or undefined if the schedule never fired. */
export function dueScheduledTime(schedule: string, nowMs: number, graceMs = BACKUP_GRACE_MS): number | undefined {
  const it = CronExpressionParser.parse(schedule, { currentDate: new Date(nowMs), tz: 'UTC' });
  for (let i = 0; i < MAX_FIRES_WALKED; i++) {
    let t: number;
    try {
      t = it.prev().getTime();
    } catch {
      return undefined;
    }
    if (t + graceMs <= nowMs) return t;
  }
  // Fires more often than the grace allows for MAX_FIRES_WALKED steps: the one grace ago is due.
  return nowMs - graceMs;
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** BackupFresh for the given state. Pure. */
export function backupFreshness(input: FreshnessInput): FreshnessVerdict {
  let due: number | undefined;
  const grace = input.graceMs ?? BACKUP_GRACE_MS;
  try {
    if (input.drillSchedule === undefined) due = dueScheduledTime(input.schedule, input.nowMs, grace);
    else {
      const drillDue = dueScheduledTime(input.drillSchedule, input.nowMs, grace);
      due = drillDue === undefined || drillDue < input.createdAtMs ? undefined : dueScheduledTime(input.schedule, drillDue, grace);
    }
  } catch (err) {
    return { fresh: false, reason: 'InvalidSchedule', message: `spec.backup schedule ${JSON.stringify(input.schedule)}${input.drillSchedule === undefined ? '' : ` or restoreDrill.schedule ${JSON.stringify(input.drillSchedule)}`} cannot be read: ${err instanceof Error ? err.message : String(err)}` };
  }
  const sh = input.shipping;
  if (sh !== undefined) {
    if (!sh.reported) return { fresh: false, reason: 'ShippingUnknown', message: 'continuous shipping is on but the leader reports no shipping state (no leader, or the member was started without --backup-ship-to)' };
    if (!sh.healthy) return { fresh: false, reason: 'ShippingStalled', message: `the shipped log is ${sh.lagSeconds.toFixed(1)} s behind${sh.lastError !== null ? `: ${sh.lastError}` : ''}` };
  }
  const last = input.lastGoodBackupMs;
  const good = input.drillSchedule === undefined ? 'good backup' : 'verified backup (restored by a drill)';
  if (due === undefined || due < input.createdAtMs) {
    return { fresh: true, reason: 'NoBackupDueYet', message: `no scheduled backup is due yet${last !== undefined ? `; last ${good} ${iso(last)}` : ''}` };
  }
  if (last === undefined) return { fresh: false, reason: 'NoBackupYet', message: `no ${good} yet; the one scheduled at ${iso(due)} should be one by now`, dueSinceMs: due };
  if (last < due) return { fresh: false, reason: 'BackupOverdue', message: `last ${good} ${iso(last)} is older than the one scheduled at ${iso(due)}`, dueSinceMs: due };
  return { fresh: true, reason: 'BackupsFresh', message: `last ${good} ${iso(last)} (due: one at or after ${iso(due)})${sh !== undefined ? `; the log is shipped, ${sh.lagSeconds.toFixed(1)} s behind` : ''}`, dueSinceMs: due };
}

/** The BackupFresh condition for a verdict. */
export function backupFreshCondition(v: FreshnessVerdict, generation: number | undefined): Omit<Condition, 'lastTransitionTime'> {
  return { type: 'BackupFresh', status: v.fresh ? 'True' : 'False', reason: v.reason, message: v.message, ...(generation === undefined ? {} : { observedGeneration: generation }) };
}

/**
 * The scheduled time a RestoreBackup drill should be created for now (spec.backup.restoreDrill),
 * or undefined: none fired since the cluster was created, the newest one already has its drill,
 * or a restore drill of this cluster is still pending or running.
 */
export function dueRestoreDrill(input: { readonly schedule: string; readonly nowMs: number; readonly createdAtMs: number; readonly lastScheduledForMs: number | undefined; readonly drillActive: boolean }): number | undefined {
  const fire = CronExpressionParser.parse(input.schedule, { currentDate: new Date(input.nowMs), tz: 'UTC' }).prev().getTime();
  if (fire < input.createdAtMs || input.drillActive) return undefined;
  if (input.lastScheduledForMs !== undefined && input.lastScheduledForMs >= fire) return undefined;
  return fire;
}
