// The pure BackupFresh decision: due scheduled time with its grace, creation time, shipping health.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BACKUP_GRACE_MS, backupFreshness, dueRestoreDrill, dueScheduledTime } from '../../../operator/src/planner/backup-freshness.js';

const T = (iso: string): number => Date.parse(iso);
const base = { schedule: '0 * * * *', createdAtMs: T('2026-12-01T00:00:00Z') };

test('the due scheduled time is the newest one whose grace has passed', () => {
  assert.equal(BACKUP_GRACE_MS, 900_000);
  // 10:20: the 10:00 backup may still be running (grace 15 min ends 10:15) → 10:00 is due.
  assert.equal(dueScheduledTime('0 * * * *', T('2026-12-05T10:20:00Z')), T('2026-12-05T10:00:00Z'));
  // 10:10: 10:00 is still within its grace → 09:00 is due.
  assert.equal(dueScheduledTime('0 * * * *', T('2026-12-05T10:10:00Z')), T('2026-12-05T09:00:00Z'));
  assert.equal(dueScheduledTime('@daily', T('2026-12-05T00:10:00Z')), T('2026-12-04T00:00:00Z'));
  // Every minute: the walk stops at the one a grace ago.
  assert.equal(dueScheduledTime('* * * * *', T('2026-12-05T10:20:00Z')), T('2026-12-05T10:05:00Z'));
});

test('fresh while the last good backup is at or after the due time; overdue, none yet, not due yet', () => {
  const now = T('2026-12-05T10:20:00Z');
  assert.equal(backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: T('2026-12-05T10:00:30Z') }).reason, 'BackupsFresh');
  const overdue = backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: T('2026-12-05T09:00:30Z') });
  assert.deepEqual([overdue.fresh, overdue.reason], [false, 'BackupOverdue']);
  assert.match(overdue.message, /2026-12-05T09:00:30Z is older than the one scheduled at 2026-12-05T10:00:00Z/);
  assert.deepEqual([backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: undefined }).reason], ['NoBackupYet']);
  // Created after the due time: nothing can be missing yet.
  const young = backupFreshness({ ...base, createdAtMs: T('2026-12-05T10:05:00Z'), nowMs: now, lastGoodBackupMs: undefined });
  assert.deepEqual([young.fresh, young.reason], [true, 'NoBackupDueYet']);
  const bad = backupFreshness({ ...base, schedule: 'not a cron', nowMs: now, lastGoodBackupMs: undefined });
  assert.deepEqual([bad.fresh, bad.reason], [false, 'InvalidSchedule']);
});

test('continuous shipping: stalled or unreported shipping is not fresh whatever the snapshots say', () => {
  const now = T('2026-12-05T10:20:00Z');
  const good = T('2026-12-05T10:00:30Z');
  const stalled = backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: good, shipping: { reported: true, healthy: false, lagSeconds: 12.34, lastError: 'cannot reach the S3 endpoint' } });
  assert.deepEqual([stalled.fresh, stalled.reason], [false, 'ShippingStalled']);
  assert.match(stalled.message, /12\.3 s behind: cannot reach the S3 endpoint/);
  assert.equal(backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: good, shipping: { reported: false, healthy: false, lagSeconds: 0, lastError: null } }).reason, 'ShippingUnknown');
  const ok = backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: good, shipping: { reported: true, healthy: true, lagSeconds: 0.4, lastError: null } });
  assert.deepEqual([ok.fresh, ok.reason], [true, 'BackupsFresh']);
  // Healthy shipping does not excuse missing snapshots (a restore needs a snapshot to start from).
  assert.equal(backupFreshness({ ...base, nowMs: now, lastGoodBackupMs: undefined, shipping: { reported: true, healthy: true, lagSeconds: 0.4, lastError: null } }).reason, 'NoBackupYet');
});

test('with restore drills only verified backups count: the one due when the last due drill ran', () => {
  const drill = { ...base, drillSchedule: '0 3 * * *' };
  // 10:20: the 03:00 drill is due; it should have verified the backup due at 03:00 (02:00's, grace 15 min).
  const now = T('2026-12-05T10:20:00Z');
  assert.equal(backupFreshness({ ...drill, nowMs: now, lastGoodBackupMs: T('2026-12-05T02:00:20Z') }).reason, 'BackupsFresh');
  const old = backupFreshness({ ...drill, nowMs: now, lastGoodBackupMs: T('2026-12-04T02:00:20Z') });
  assert.deepEqual([old.fresh, old.reason], [false, 'BackupOverdue']);
  assert.match(old.message, /verified backup \(restored by a drill\)/);
  assert.equal(backupFreshness({ ...drill, nowMs: now, lastGoodBackupMs: undefined }).reason, 'NoBackupYet');
  // No drill due since creation: nothing can be stale yet.
  assert.equal(backupFreshness({ ...drill, createdAtMs: T('2026-12-05T04:00:00Z'), nowMs: now, lastGoodBackupMs: undefined }).reason, 'NoBackupDueYet');
  const bad = backupFreshness({ ...drill, drillSchedule: 'nope', nowMs: now, lastGoodBackupMs: undefined });
  assert.deepEqual([bad.fresh, bad.reason], [false, 'InvalidSchedule']);
  assert.match(bad.message, /restoreDrill\.schedule "nope"/);
  assert.throws(() => dueRestoreDrill({ schedule: 'nope', nowMs: now, createdAtMs: 0, lastScheduledForMs: undefined, drillActive: false }));
});

test('a restore drill is created once per scheduled time, never before the cluster existed, never while one is active', () => {
  const d = { schedule: '0 * * * *', nowMs: T('2026-12-05T10:20:00Z'), createdAtMs: T('2026-12-01T00:00:00Z'), lastScheduledForMs: undefined, drillActive: false };
  assert.equal(dueRestoreDrill(d), T('2026-12-05T10:00:00Z'));
  assert.equal(dueRestoreDrill({ ...d, lastScheduledForMs: T('2026-12-05T10:00:00Z') }), undefined);
  assert.equal(dueRestoreDrill({ ...d, lastScheduledForMs: T('2026-12-05T09:00:00Z') }), T('2026-12-05T10:00:00Z'));
  assert.equal(dueRestoreDrill({ ...d, drillActive: true }), undefined);
  assert.equal(dueRestoreDrill({ ...d, createdAtMs: T('2026-12-05T10:10:00Z') }), undefined);
});
