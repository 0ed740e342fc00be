// Continuous log shipping: the leader uploads every committed entry it applies to the backup
// prefix (`log/` beside the full snapshots) in segments bounded by size and age, so a
// point-in-time restore can rebuild the state at any revision (backup/point-in-time.ts).
//
// Every member taps its apply path into a bounded buffer (--backup-ship-buffer-bytes); only the
// leader uploads. A member that becomes leader lists the segments already shipped and continues
// from the last shipped index out of its buffer, so a leader change leaves no gap. Committed
// entries are the same on every member, so two leaders that briefly overlap can only write
// segments that agree where they overlap (a restore skips indexes it already applied). When the
// entries after the shipped end are no longer in the buffer (the store was unreachable for
// longer than the buffer holds, or nothing was shipped yet), the shipper uploads a full
// snapshot of its state (a base) and continues after it: the latest state stays restorable;
// revisions inside such a gap are not (the restore says so).
//
// Memory: the buffer (bounded, oldest dropped first; ship-buffer.ts) and one segment being
// uploaded. The apply path copies each entry's bytes into the buffer's open chunk (no allocation);
// uploads run off it, one at a time, with backoff.
import { Readable } from 'node:stream';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Entry } from '../raft/types.js';
import { encodeBackup } from '../server/backup-file.js';
import type { BackupHeader } from '../server/backup-file.js';
import { snapshotNames } from '../cli/snapshot-dir.js';
import { formatLocation } from './location.js';
import type { BackupLocation } from './location.js';
import { encodeSegmentRecords, segmentName } from './log-segment.js';
import { ShipBuffer } from './ship-buffer.js';
import type { S3Options } from './s3-options.js';
import { openSegmentStore } from './segment-store.js';
import type { SegmentStore } from './segment-store.js';
import { openBackupStore } from './stores.js';
import type { BackupStore } from './stores.js';

/** Shipping bounds (flags --backup-ship-*). */
export interface ShipperLimits {
  /** An applied entry waits at most this long before its segment is uploaded (the RPO while the store is up). */
  readonly intervalMs: number;
  /** A segment is cut once its records reach this many bytes. */
  readonly segmentMaxBytes: number;
  /** Applied entries kept for shipping (and for continuing after a leader change); oldest dropped beyond it. */
  readonly bufferMaxBytes: number;
}

/** Upload retries back off from this to SHIP_BACKOFF_MAX_MS (doubling). */
const SHIP_BACKOFF_MIN_MS = 250;
const SHIP_BACKOFF_MAX_MS = 5000;
/** How often the loop looks for work. */
const SHIP_POLL_MAX_MS = 200;
/** Shipping counts as stale (unhealthy) when the oldest unshipped entry is older than max(this × interval, STALE_MIN_MS). */
const STALE_AFTER_INTERVALS = 3;
const STALE_MIN_MS = 10_000;
/** Longest stop() waits for an upload in flight. */
const SHIP_STOP_WAIT_MS = 2000;
/** The longest error text kept for status. */
const MAX_ERROR_CHARS = 300;

/** The state a base snapshot is made of, taken in one synchronous step. */
export interface ShipperStateImage {
  readonly image: Uint8Array;
  readonly index: number;
  readonly term: number;
  readonly revision: number;
  readonly keys: number;
}

/** What the shipper needs from its member. */
export interface ShipperHost {
  readonly member: string;
  isLeader(): boolean;
  /** The KV image with its applied index, term and revision (synchronous: one consistent state). */
  stateImage(): ShipperStateImage;
}

/** Shipping as /v1/status shows it (`backupShipping`). */
export interface ShippingStatus {
  /** The prefix shipped to. */
  readonly target: string;
  /** True while this member is the one shipping (the leader). */
  readonly shipping: boolean;
  /** Highest index and revision known shipped (null until this member shipped or read the store). */
  readonly shippedIndex: number | null;
  readonly shippedRevision: number | null;
  /** Wall clock of the last successful upload (ms since the epoch), or null. */
  readonly lastShippedAtMs: number | null;
  /** Age of the oldest applied entry not yet shipped (0 when none; followers 0). */
  readonly lagSeconds: number;
  /** True unless this member ships and lagSeconds passed the stale bound. */
  readonly healthy: boolean;
  readonly pendingEntries: number;
  readonly bufferedBytes: number;
  readonly segmentsShipped: number;
  readonly baseSnapshots: number;
  readonly failures: number;
  readonly lastError: string | null;
}

/** Options of a LogShipper. */
export interface LogShipperOptions {
  readonly target: BackupLocation;
  readonly s3: S3Options;
  readonly limits: ShipperLimits;
  readonly host: ShipperHost;
  readonly logger: { info(o: Record<string, unknown>, m: string): void; warn(o: Record<string, unknown>, m: string): void };
  readonly registry?: Registry;
  readonly nowMs?: () => number;
}

/**
 * Ships committed entries to a backup prefix. Lifecycle: construct → start() → tap() for every
 * applied entry (in index order) → stop(). tap() is synchronous and never throws.
 */
export class LogShipper {
  private readonly now: () => number;
  private readonly buffer: ShipBuffer;
  private shippedIndex: number | null = null;
  private shippedRevision: number | null = null;
  private lastShippedAtMs: number | null = null;
  private active = false;
  private segmentsShipped = 0;
  private baseSnapshots = 0;
  private failures = 0;
  private lastError: string | null = null;
  private shippedBytes = 0;
  private backoffMs = SHIP_BACKOFF_MIN_MS;
  private retryAtMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private segments: SegmentStore | null = null;
  private backups: BackupStore | null = null;
  private readonly targetUrl: string;

  constructor(private readonly o: LogShipperOptions) {
    this.now = o.nowMs ?? Date.now;
    this.buffer = new ShipBuffer(o.limits.segmentMaxBytes, o.limits.bufferMaxBytes);
    this.targetUrl = formatLocation(o.target, null);
    if (o.registry !== undefined) this.registerMetrics(o.registry);
  }

  /** Opens the stores and starts the loop. */
  async start(): Promise<void> {
    this.segments = await openSegmentStore(this.o.target, this.o.s3);
    this.backups = await openBackupStore(this.o.target, this.o.s3);
    this.schedule();
  }

  /**
   * Stops the loop; waits for the upload in flight at most SHIP_STOP_WAIT_MS (an unreachable
   * store must not hold a shutdown: the next leader ships what this one did not). Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => {
      waited = setTimeout(resolve, SHIP_STOP_WAIT_MS);
    })]);
    clearTimeout(waited);
    this.segments?.close();
    this.backups?.close();
  }

  /**
   * Records one applied entry. `revisionBefore`/`revisionAfter`: the KV revision before and after
   * it was applied. An entry that does not follow the last one (a snapshot was installed) starts
   * the buffer over.
   */
  tap(e: Entry, revisionBefore: number, revisionAfter: number): void {
    this.buffer.append(e.type, e.index, e.term, revisionBefore, revisionAfter, e.data, this.now);
  }

  /** The shipping status (cheap). */
  status(): ShippingStatus {
    const now = this.now();
    const shipped = this.shippedIndex ?? 0;
    const oldestMs = this.buffer.oldestAfterMs(shipped);
    const lagSeconds = this.active && oldestMs !== undefined ? Math.max(0, now - oldestMs) / 1000 : 0;
    const staleMs = Math.max(STALE_AFTER_INTERVALS * this.o.limits.intervalMs, STALE_MIN_MS);
    return {
      target: this.targetUrl,
      shipping: this.active,
      shippedIndex: this.shippedIndex,
      shippedRevision: this.shippedRevision,
      lastShippedAtMs: this.lastShippedAtMs,
      lagSeconds,
      healthy: !this.active || lagSeconds * 1000 <= staleMs,
      pendingEntries: this.active ? this.buffer.countAfter(shipped) : 0,
      bufferedBytes: this.buffer.bytes,
      segmentsShipped: this.segmentsShipped,
      baseSnapshots: this.baseSnapshots,
      failures: this.failures,
      lastError: this.lastError,
    };
  }

  private schedule(delayMs = Math.min(SHIP_POLL_MAX_MS, Math.max(10, Math.floor(this.o.limits.intervalMs / 4)))): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.step().catch((err: unknown) => {
        this.o.logger.warn({ err }, 'log shipping step failed');
      }).finally(() => this.schedule());
    }, delayMs);
    this.timer.unref();
  }

  private noteFailure(err: unknown, what: string): void {
    this.failures++;
    this.lastError = `${what}: ${(err instanceof Error ? err.message : String(err)).slice(0, MAX_ERROR_CHARS)}`;
    this.retryAtMs = this.now() + this.backoffMs;
    if (this.failures === 1 || this.backoffMs < SHIP_BACKOFF_MAX_MS) this.o.logger.warn({ err: this.lastError, retryInMs: this.backoffMs }, 'log shipping failed; retrying');
    this.backoffMs = Math.min(SHIP_BACKOFF_MAX_MS, this.backoffMs * 2);
  }

  private noteSuccess(): void {
    if (this.lastError !== null) this.o.logger.info({ shippedIndex: this.shippedIndex }, 'log shipping works again');
    this.lastError = null;
    this.backoffMs = SHIP_BACKOFF_MIN_MS;
    this.retryAtMs = 0;
    this.lastShippedAtMs = this.now();
  }

  /** One round: become (or stop being) the shipper, find where the shipped log ends, upload due segments. */
  private async step(): Promise<void> {
    if (this.stopped || this.segments === null) return;
    if (!this.o.host.isLeader()) {
      // Another member ships; where it got to is read again on the next leadership.
      this.active = false;
      this.shippedIndex = null;
      return;
    }
    this.active = true;
    if (this.now() < this.retryAtMs) return;
    if (this.shippedIndex === null) {
      // The shipped end is in the last sub-folders (one more back: a segment may run past its
      // folder's range). Reading it too low only ships some entries twice, which restores skip.
      let listed;
      try {
        const folders = (await this.segments.folders()).slice(-2);
        listed = (await Promise.all(folders.map((f) => (this.segments as SegmentStore).listFolder(f)))).flat();
      } catch (err) {
        this.noteFailure(err, `listing ${this.segments.url}`);
        return;
      }
      const last = listed.reduce<(typeof listed)[number] | null>((a, s) => (a === null || s.lastIndex > a.lastIndex ? s : a), null);
      if (last === null) {
        await this.shipBase('nothing shipped yet');
        return;
      }
      this.shippedIndex = last.lastIndex;
      this.shippedRevision = last.lastRevision;
      this.o.logger.info({ shippedIndex: last.lastIndex, shippedRevision: last.lastRevision }, 'log shipping continues after the last shipped segment');
    }
    for (let rounds = 0; rounds < 64 && !this.stopped && this.o.host.isLeader(); rounds++) {
      const shipped = this.shippedIndex ?? 0;
      this.buffer.dropThrough(shipped);
      const first = this.buffer.firstIndex;
      if (first === undefined ? this.buffer.lastIndex > shipped : first > shipped + 1) {
        await this.shipBase(`entries ${shipped + 1}..${(first ?? this.buffer.lastIndex + 1) - 1} are no longer buffered`);
        return;
      }
      const oldestMs = this.buffer.oldestAfterMs(shipped);
      if (oldestMs === undefined) return;
      const due = this.buffer.bytesAfter(shipped) >= this.o.limits.segmentMaxBytes || this.now() - oldestMs >= this.o.limits.intervalMs;
      if (!due) return;
      if (!(await this.shipSegment(shipped))) return;
    }
  }

  /** Uploads the entries after `shipped` held in the buffer's oldest pending chunk as one segment. */
  private async shipSegment(shipped: number): Promise<boolean> {
    const pending = this.buffer.takeAfter(shipped);
    if (pending === undefined) return false;
    const seg = encodeSegmentRecords(pending.records, pending, this.o.host.member, this.now());
    const name = segmentName(seg.header);
    try {
      await (this.segments as SegmentStore).put(name, seg.bytes, seg.sha256);
    } catch (err) {
      this.noteFailure(err, `uploading ${name}`);
      return false;
    }
    this.shippedIndex = seg.header.lastIndex;
    this.shippedRevision = seg.header.lastRevision;
    this.segmentsShipped++;
    this.shippedBytes += seg.bytes.length;
    this.noteSuccess();
    return true;
  }

  /** Uploads a full snapshot of the current state and continues shipping after it. */
  private async shipBase(reason: string): Promise<void> {
    const s = this.o.host.stateImage();
    const header: BackupHeader = { v: 1, member: this.o.host.member, index: s.index, term: s.term, revision: s.revision, keys: s.keys, createdAtMs: this.now(), imageBytes: s.image.length, consistency: 'serializable' };
    const file = encodeBackup(header, s.image);
    const sha256 = file.subarray(file.length - 32).toString('hex');
    const name = snapshotNames(header.createdAtMs, s.revision).final;
    this.o.logger.info({ reason, index: s.index, revision: s.revision, bytes: file.length }, 'log shipping uploads a base snapshot');
    try {
      await (this.backups as BackupStore).write(name, Readable.from([file]), { sha256, revision: s.revision, index: s.index, member: this.o.host.member });
    } catch (err) {
      this.noteFailure(err, `uploading base snapshot ${name}`);
      return;
    }
    this.shippedIndex = s.index;
    this.shippedRevision = s.revision;
    this.baseSnapshots++;
    this.noteSuccess();
  }

  private registerMetrics(registry: Registry): void {
    const r = [registry];
    const st = (): ShippingStatus => this.status();
    new Gauge({ name: 'raftkv_backup_shipping', help: '1 while this member ships the committed log to the backup store (the leader).', registers: r, collect() { this.set(st().shipping ? 1 : 0); } });
    new Gauge({ name: 'raftkv_backup_shipped_revision', help: 'Highest KV revision known shipped to the backup store.', registers: r, collect() { this.set(st().shippedRevision ?? 0); } });
    new Gauge({ name: 'raftkv_backup_shipped_index', help: 'Highest log index known shipped to the backup store.', registers: r, collect() { this.set(st().shippedIndex ?? 0); } });
    new Gauge({ name: 'raftkv_backup_ship_lag_seconds', help: 'Age of the oldest applied entry not yet shipped (the current recovery point gap).', registers: r, collect() { this.set(st().lagSeconds); } });
    new Gauge({ name: 'raftkv_backup_ship_healthy', help: '0 when this member ships and its lag passed the stale bound.', registers: r, collect() { this.set(st().healthy ? 1 : 0); } });
    new Gauge({ name: 'raftkv_backup_ship_last_success_timestamp_seconds', help: 'Wall clock of the last successful upload.', registers: r, collect() { this.set((st().lastShippedAtMs ?? 0) / 1000); } });
    new Gauge({ name: 'raftkv_backup_ship_buffered_bytes', help: 'Bytes of applied entries held for shipping (bounded by --backup-ship-buffer-bytes).', registers: r, collect() { this.set(st().bufferedBytes); } });
    const totals = (): { segments: number; bytes: number; bases: number; failures: number; dropped: number } => ({
      segments: this.segmentsShipped, bytes: this.shippedBytes, bases: this.baseSnapshots, failures: this.failures, dropped: this.buffer.droppedEntries,
    });
    const counter = (name: string, help: string, pick: () => number): void => {
      new Counter({ name, help, registers: r, collect() { this.reset(); this.inc(pick()); } });
    };
    counter('raftkv_backup_ship_segments_total', 'Log segments uploaded by this member.', () => totals().segments);
    counter('raftkv_backup_ship_bytes_total', 'Bytes of log segments uploaded by this member.', () => totals().bytes);
    counter('raftkv_backup_ship_base_snapshots_total', 'Full snapshots uploaded because the shipped log could not be continued.', () => totals().bases);
    counter('raftkv_backup_ship_failures_total', 'Failed uploads or listings (retried with backoff).', () => totals().failures);
    counter('raftkv_backup_ship_dropped_entries_total', 'Applied entries dropped from the full shipping buffer.', () => totals().dropped);
  }
}
