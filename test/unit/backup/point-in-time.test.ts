// Log shipping and point-in-time restore, against file:// stores in a temp dir: the segment
// format (and that it refuses damage), the shipper (a base snapshot first, segments after it, a
// new leader continuing the shipped log without a gap, a base snapshot when its buffer lost
// entries), and the restore rebuilding exactly the state (the state machine's hash) recorded at a
// revision, at a time and at the end, refusing a gap, a revision past the end, a damaged segment
// and a segment whose recorded revisions the replay does not reproduce. The S3 side runs against
// a real S3 server in test/cluster/backup-pitr.test.ts.
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { KvStateMachine } from '../../../daemon/src/kv/state-machine.js';
import { encodeCommand } from '../../../daemon/src/kv/command-codec.js';
import { EntryType } from '../../../daemon/src/raft/types.js';
import type { Entry } from '../../../daemon/src/raft/types.js';
import { BackupFormatError, decodeBackup, encodeBackup } from '../../../daemon/src/server/backup-file.js';
import { snapshotNames } from '../../../daemon/src/cli/snapshot-dir.js';
import { decodeSegment, encodeSegment, encodeSegmentRecords, parseSegmentName, segmentName } from '../../../daemon/src/backup/log-segment.js';
import { ShipBuffer } from '../../../daemon/src/backup/ship-buffer.js';
import type { ShippedEntry } from '../../../daemon/src/backup/log-segment.js';
import { LogShipper } from '../../../daemon/src/backup/log-shipper.js';
import type { ShipperLimits } from '../../../daemon/src/backup/log-shipper.js';
import { buildPointInTimeBackup } from '../../../daemon/src/backup/point-in-time.js';
import type { RestoreTarget } from '../../../daemon/src/backup/point-in-time.js';
import { DirSegmentStore, listAllSegments, segmentPath } from '../../../daemon/src/backup/segment-store.js';
import type { SegmentStore } from '../../../daemon/src/backup/segment-store.js';
import { DirBackupStore } from '../../../daemon/src/backup/stores.js';
import { parseBackupLocation } from '../../../daemon/src/backup/location.js';
import { FlagError, parseFlags } from '../../../daemon/src/config/flags.js';
import { parseRestoreArgs } from '../../../daemon/src/cli/restore.js';

const quiet = { info: () => undefined, warn: () => undefined };
const LIMITS: ShipperLimits = { intervalMs: 20, segmentMaxBytes: 4096, bufferMaxBytes: 1024 * 1024 };

describe('log segments', () => {
  const entries: ShippedEntry[] = [
    { type: EntryType.Noop, index: 7, term: 2, revision: 3, data: new Uint8Array(0) },
    { type: EntryType.Normal, index: 8, term: 2, revision: 4, data: new Uint8Array([1, 2, 3]) },
  ];

  test('round trip, named by index and revision range', () => {
    const seg = encodeSegment(entries, 3, 'n1', 1000);
    const d = decodeSegment(seg.bytes, seg.sha256);
    assert.deepEqual(d.entries.map((e) => ({ ...e, data: [...e.data] })), entries.map((e) => ({ ...e, data: [...e.data] })));
    assert.equal(d.header.revisionBefore, 3);
    const name = segmentName(seg.header);
    assert.equal(name, 'seg-0000000000000007-0000000000000008-r0000000000000003-0000000000000004.rkvlog');
    assert.deepEqual(parseSegmentName(name), { name, firstIndex: 7, lastIndex: 8, revisionBefore: 3, lastRevision: 4 });
    assert.equal(parseSegmentName('seg-1-2-r3-4.rkvlog'), undefined);
    assert.equal(parseSegmentName('.seg-0000000000000007-0000000000000008-r0000000000000003-0000000000000004.rkvlog.part'), undefined);
  });

  test('a flipped byte, a cut file, or a different recorded checksum is refused', () => {
    const seg = encodeSegment(entries, 3, 'n1', 1000);
    for (let i = 0; i < seg.bytes.length; i += 7) {
      const bad = Buffer.from(seg.bytes);
      bad[i] = (bad[i] ?? 0) ^ 0x10;
      assert.throws(() => decodeSegment(bad), BackupFormatError, `byte ${i}`);
    }
    assert.throws(() => decodeSegment(seg.bytes.subarray(0, seg.bytes.length - 1)), BackupFormatError);
    assert.throws(() => decodeSegment(seg.bytes, '0'.repeat(64)), /differs from the recorded/);
    assert.throws(() => encodeSegment([entries[1] as ShippedEntry, entries[0] as ShippedEntry], 3, 'n1', 0), /consecutive/);
  });
});

/** A member as the shipper sees it: a state machine fed entries, and a leader flag. */
class FakeMember {
  readonly sm = new KvStateMachine({ scheduleWatchFlush: () => undefined });
  leader = false;
  readonly shipper: LogShipper;

  constructor(readonly name: string, target: string, limits: ShipperLimits = LIMITS) {
    this.shipper = new LogShipper({
      target: parseBackupLocation(target, 'prefix'), s3: { endpoint: null, region: null, pathStyle: null, caFile: null }, limits, logger: quiet,
      host: {
        member: name,
        isLeader: () => this.leader,
        stateImage: () => ({ image: this.sm.snapshot(), index: this.sm.appliedIndex, term: this.sm.appliedTerm, revision: this.sm.revision, keys: this.sm.size }),
      },
    });
  }

  apply(e: Entry): void {
    const before = this.sm.revision;
    if (e.type === EntryType.Normal) this.sm.apply(e.index, e.term, e.data);
    else this.sm.applyNoop(e.index, e.term);
    this.shipper.tap(e, before, this.sm.revision);
  }
}

/** The committed log the fake members apply, and the state hash after each entry. */
class Log {
  readonly entries: Entry[] = [];
  /** After entry i (1-based index): revision, hash, proposedAtMs. */
  readonly after = new Map<number, { revision: number; hash: string; atMs: number }>();
  private readonly truth = new KvStateMachine({ scheduleWatchFlush: () => undefined });
  /** Proposal clock of entry 0: now, as a leader's wall clock (snapshot names carry wall-clock times). */
  private readonly t0 = Date.now();

  add(i: number): Entry {
    const index = this.entries.length + 1;
    const atMs = this.t0 + index * 10;
    const key = `k${(i * 31) % 50}`;
    const e: Entry = index % 17 === 0
      ? { index, term: 1, type: EntryType.Noop, data: new Uint8Array(0) }
      : { index, term: 1, type: EntryType.Normal, data: encodeCommand(i % 6 === 5 ? { op: 'delete', key, proposedAtMs: atMs } : { op: 'put', key, value: Buffer.from(`v${i}`), proposedAtMs: atMs }) };
    if (e.type === EntryType.Normal) this.truth.apply(e.index, e.term, e.data);
    else this.truth.applyNoop(e.index, e.term);
    this.entries.push(e);
    this.after.set(index, { revision: this.truth.revision, hash: this.truth.hash(), atMs });
    return e;
  }

  /** The index of the last entry at or before revision `r`. */
  lastIndexAtRevision(r: number): number {
    let best = 0;
    for (const [i, a] of this.after) if (a.revision <= r) best = Math.max(best, i);
    return best;
  }
}

async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('log shipping and point-in-time restore (file://)', () => {
  let dir = '';
  let target = '';
  const started: LogShipper[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'raftkv-pitr-unit-'));
    target = `file://${dir}/`;
  });
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Makes `m` the leader and waits until it found where the shipped log ends (or shipped a base). */
  const lead = async (m: FakeMember): Promise<void> => {
    m.leader = true;
    await until(`${m.name} ships`, () => m.shipper.status().shippedIndex !== null);
  };

  const start = async (m: FakeMember): Promise<FakeMember> => {
    await m.shipper.start();
    started.push(m.shipper);
    return m;
  };

  const rebuild = async (t: RestoreTarget): Promise<{ sm: KvStateMachine; baseRevision: number }> => {
    const out = join(dir, `restored-${Math.random().toString(16).slice(2)}`);
    const r = await buildPointInTimeBackup(new DirBackupStore(dir), new DirSegmentStore(dir), t, out);
    const { header, image } = decodeBackup(readFileSync(out));
    rmSync(out);
    const sm = new KvStateMachine();
    sm.restore(image);
    assert.equal(sm.revision, header.revision);
    return { sm, baseRevision: r.baseRevision };
  };

  test('ships a base then segments; a new leader continues without a gap; the restore rebuilds any revision, a time and the end exactly', async () => {
    const log = new Log();
    const a = await start(new FakeMember('a', target));
    const b = await start(new FakeMember('b', target));
    await lead(a);
    for (let i = 0; i < 300; i++) {
      const e = log.add(i);
      a.apply(e);
      b.apply(e);
      // A full snapshot (raftctl snapshot save) in the middle.
      if (i === 150) {
        const image = a.sm.snapshot();
        const file = encodeBackup({ v: 1, member: 'a', index: a.sm.appliedIndex, term: 1, revision: a.sm.revision, keys: a.sm.size, createdAtMs: 0, imageBytes: image.length, consistency: 'linearizable' }, image);
        await new DirBackupStore(dir).write(snapshotNames(Date.now(), a.sm.revision).final, Readable.from([file]));
      }
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 25));
    }
    await until('a shipped everything', () => a.shipper.status().shippedIndex === 300);
    assert.equal(a.shipper.status().baseSnapshots, 1, 'one base snapshot: nothing was shipped before');
    assert.equal(b.shipper.status().shipping, false);
    // Leadership moves to b, which keeps writing.
    a.leader = false;
    b.leader = true;
    for (let i = 300; i < 400; i++) {
      const e = log.add(i);
      a.apply(e);
      b.apply(e);
    }
    await until('b shipped everything', () => b.shipper.status().shippedIndex === 400);
    assert.equal(b.shipper.status().baseSnapshots, 0, 'b continued the shipped log');
    assert.ok((await listAllSegments(new DirSegmentStore(dir))).length > 5, 'several segments');

    const final = log.after.get(400);
    assert.ok(final);
    assert.equal((await rebuild({ kind: 'latest' })).sm.hash(), final.hash);
    for (const r of [1, 40, final.revision - 1]) {
      const want = log.after.get(log.lastIndexAtRevision(r));
      const got = await rebuild({ kind: 'revision', revision: r });
      assert.equal(got.sm.revision, r);
      assert.equal(got.sm.hash(), want?.hash, `revision ${r}`);
    }
    const snapRevision = log.after.get(151)?.revision ?? 0;
    assert.equal((await rebuild({ kind: 'revision', revision: snapRevision + 20 })).baseRevision, snapRevision, 'starts from the newest snapshot at or before the target');
    const at = log.after.get(222);
    assert.ok(at);
    assert.equal((await rebuild({ kind: 'time', timeMs: at.atMs })).sm.hash(), at.hash, 'the state after the last write proposed at or before the time');
    await assert.rejects(rebuild({ kind: 'revision', revision: final.revision + 1 }), new RegExp(`revision ${final.revision + 1} is not in the shipped log`));
  });

  test('a leader whose buffer lost entries uploads a base snapshot; revisions inside the gap are refused, later ones restore', async () => {
    const log = new Log();
    const a = await start(new FakeMember('a', target));
    // c keeps almost nothing: it will not have what a shipped last.
    const c = await start(new FakeMember('c', target, { intervalMs: 20, segmentMaxBytes: 4096, bufferMaxBytes: 4096 }));
    await lead(a);
    for (let i = 0; i < 50; i++) {
      const e = log.add(i);
      a.apply(e);
      c.apply(e);
    }
    await until('a shipped', () => a.shipper.status().shippedIndex === 50);
    a.leader = false;
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 50; i < 400; i++) c.apply(log.add(i));
    c.leader = true;
    await until('c shipped', () => c.shipper.status().shippedIndex === 400);
    assert.equal(c.shipper.status().baseSnapshots, 1, 'c could not continue: a base snapshot');
    const final = log.after.get(400);
    assert.equal((await rebuild({ kind: 'latest' })).sm.hash(), final?.hash);
    const inGap = log.after.get(200)?.revision ?? 0;
    await assert.rejects(rebuild({ kind: 'revision', revision: inGap }), /the shipped log under file:\/\/.* has a gap/);
    const early = log.after.get(40);
    assert.equal((await rebuild({ kind: 'revision', revision: early?.revision ?? 0 })).sm.hash(), early?.hash);
  });

  test('segments are grouped by first index; a restore finds one that runs past its folder into the next', async () => {
    const store: SegmentStore = new DirSegmentStore(dir);
    const log = new Log();
    const sm = new KvStateMachine({ scheduleWatchFlush: () => undefined });
    const image0 = sm.snapshot();
    const base = encodeBackup({ v: 1, member: 'a', index: 0, term: 0, revision: 0, keys: 0, createdAtMs: 0, imageBytes: image0.length, consistency: 'linearizable' }, image0);
    await new DirBackupStore(dir).write(snapshotNames(Date.now() - 60_000, 0).final, Readable.from([base]));
    // Indexes 1..99 998, then 10 more across the folder line at 100 000.
    const shipped: ShippedEntry[] = [];
    for (let i = 1; i <= 99_998; i++) {
      const e = log.add(-1);
      shipped.push({ type: e.type, index: e.index, term: e.term, revision: log.after.get(e.index)?.revision ?? 0, data: e.data });
    }
    const tail: ShippedEntry[] = [];
    for (let i = 0; i < 10; i++) {
      const e = log.add(i);
      tail.push({ type: e.type, index: e.index, term: e.term, revision: log.after.get(e.index)?.revision ?? 0, data: e.data });
    }
    // One segment from 99 990 to 100 003 (starts in folder 0, ends in folder 1), one after it.
    const a = encodeSegment(shipped.slice(0, 99_989), 0, 'a', 0);
    const b = encodeSegment([...shipped.slice(99_989), ...tail.slice(0, 5)], a.header.lastRevision, 'a', 0);
    const c = encodeSegment(tail.slice(5), b.header.lastRevision, 'a', 0);
    for (const seg of [a, b, c]) await store.put(segmentName(seg.header), seg.bytes, seg.sha256);
    assert.deepEqual(await store.folders(), [0, 1]);
    // A snapshot at 100 001 (folder 1): the segment it needs next starts in folder 0.
    const at1 = new KvStateMachine({ scheduleWatchFlush: () => undefined });
    for (const e of [...shipped, ...tail.slice(0, 3)]) {
      if (e.type === EntryType.Normal) at1.apply(e.index, e.term, e.data);
      else at1.applyNoop(e.index, e.term);
    }
    assert.equal(at1.appliedIndex, 100_001);
    const image1 = at1.snapshot();
    const snap1 = encodeBackup({ v: 1, member: 'a', index: 100_001, term: 1, revision: at1.revision, keys: at1.size, createdAtMs: 0, imageBytes: image1.length, consistency: 'linearizable' }, image1);
    await new DirBackupStore(dir).write(snapshotNames(Date.now(), at1.revision).final, Readable.from([snap1]));
    const latest = await rebuild({ kind: 'latest' });
    assert.equal(latest.baseRevision, at1.revision, 'from the newest snapshot');
    assert.equal(latest.sm.hash(), log.after.get(100_008)?.hash);
    const at = log.after.get(100_002);
    assert.equal((await rebuild({ kind: 'revision', revision: at?.revision ?? -1 })).sm.hash(), at?.hash);
  });

  test('a damaged segment and a segment the replay does not reproduce are refused', async () => {
    const log = new Log();
    const a = await start(new FakeMember('a', target));
    await lead(a);
    for (let i = 0; i < 60; i++) a.apply(log.add(i));
    await until('a shipped', () => a.shipper.status().shippedIndex === 60);
    await a.shipper.stop();
    const segDir = join(dir, 'log');
    const first = (await listAllSegments(new DirSegmentStore(dir)))[0]?.name ?? '';
    assert.equal(segmentPath(first), `0000000000/${first}`, 'grouped by first index');
    const bytes = readFileSync(join(segDir, segmentPath(first)));
    // Damage: one byte flipped.
    const damaged = Buffer.from(bytes);
    damaged[damaged.length - 40] = (damaged[damaged.length - 40] ?? 0) ^ 1;
    writeFileSync(join(segDir, segmentPath(first)), damaged);
    await assert.rejects(rebuild({ kind: 'latest' }), /checksum mismatch/);
    // A well-formed segment whose recorded revisions are not what the entries produce (a member
    // that applied differently): the replay stops at the first entry that disagrees.
    const d = decodeSegment(bytes);
    const lying = encodeSegment(d.entries.map((e) => ({ ...e, revision: e.revision + (e.index > d.header.firstIndex + 3 ? 1 : 0) })), d.header.revisionBefore, 'liar', 0);
    rmSync(join(segDir, segmentPath(first)));
    writeFileSync(join(segDir, segmentPath(segmentName(lying.header))), lying.bytes);
    await assert.rejects(rebuild({ kind: 'latest' }), new RegExp(`replay diverged at index ${d.header.firstIndex + 4}`));
  });
});

describe('shipping and point-in-time flags', () => {
  const base = ['--name', 'n1'];
  test('raftkv --backup-ship-*: defaults, bounds, and a bad location is a usage error', () => {
    const ok = parseFlags([...base, '--backup-ship-to', 's3://bkt/raftkv/'], {});
    assert.equal(ok.kind, 'run');
    if (ok.kind === 'run') {
      assert.equal(ok.config.backupShipTo, 's3://bkt/raftkv/');
      assert.equal(ok.config.backupShipIntervalMs, 1000);
      assert.equal(ok.config.backupSegmentMaxBytes, 4 * 1024 * 1024);
    }
    const off = parseFlags(base, {});
    assert.equal(off.kind === 'run' ? off.config.backupShipTo : 'x', null);
    assert.throws(() => parseFlags([...base, '--backup-ship-to', '/backups'], {}), FlagError);
    assert.throws(() => parseFlags([...base, '--backup-ship-to', 's3://bad bucket/'], {}), /--backup-ship-to: bad bucket name/);
    assert.throws(() => parseFlags([...base, '--backup-ship-to', 's3://bkt/p/'], { AWS_ENDPOINT_URL_S3: 'ftp://x' }), /--backup-ship-to: S3 endpoint must be http/);
    assert.throws(() => parseFlags([...base, '--backup-ship-interval-ms', '5'], {}), /between 10 and/);
    assert.throws(() => parseFlags([...base, '--backup-segment-max-bytes', '100'], {}), /between 4096 and/);
    assert.throws(() => parseFlags([...base, '--backup-segment-max-bytes', '1048576', '--backup-ship-buffer-bytes', '65536'], {}), /at least --backup-segment-max-bytes/);
  });

  test('raftkv restore --to-revision / --to-time: parsed; with a file, an object, both, or a bad value: a usage error', () => {
    const common = ['--data-dir', '/tmp/x', '--name', 'n1', '--initial-cluster', 'n1=127.0.0.1:1'];
    assert.deepEqual(parseRestoreArgs(['--from', 's3://b/p/', '--to-revision', '42', ...common], {}).target, { kind: 'revision', revision: 42 });
    assert.deepEqual(parseRestoreArgs(['--from', 'file:///b/', '--to-time', '2026-12-05T01:48:50Z', ...common], {}).target, { kind: 'time', timeMs: Date.parse('2026-12-05T01:48:50Z') });
    assert.deepEqual(parseRestoreArgs(['--from', 's3://b/p/', '--to-time', '1764899330000', ...common], {}).target, { kind: 'time', timeMs: 1764899330000 });
    assert.equal(parseRestoreArgs(['--from', 's3://b/p/', ...common], {}).target, null);
    for (const bad of [
      ['--from', 'backup.snap', '--to-revision', '4'],
      ['--from', 's3://b/p/obj.snap', '--to-revision', '4'],
      ['--from', 's3://b/p/', '--to-revision', '4', '--to-time', '1'],
      ['--from', 's3://b/p/', '--to-revision', '-4'],
      ['--from', 's3://b/p/', '--to-time', 'yesterday'],
      ['--from', 's3://b/p/', '--to-time', '2026-12-05T01:48:50'],
    ]) assert.throws(() => parseRestoreArgs([...bad, ...common], {}), FlagError, bad.join(' '));
  });
});

describe('the shipping buffer', () => {
  const data = (i: number): Uint8Array => Buffer.from(`entry-${i}`);
  const fill = (b: ShipBuffer, from: number, to: number): void => {
    for (let i = from; i <= to; i++) b.append(EntryType.Normal, i, 1, i - 1, i, data(i), () => 1000 + i);
  };

  test('the records after a shipped index decode to exactly those entries; taking them starts a new chunk', () => {
    const b = new ShipBuffer(64 * 1024, 1024 * 1024);
    fill(b, 1, 100);
    const p = b.takeAfter(40);
    assert.ok(p);
    assert.deepEqual([p.firstIndex, p.lastIndex, p.revisionBefore, p.lastRevision, p.entries], [41, 100, 40, 100, 60]);
    const seg = decodeSegment(encodeSegmentRecords(p.records, p, 'n1', 0).bytes);
    assert.deepEqual(seg.entries.map((e) => [e.index, Buffer.from(e.data).toString()]), Array.from({ length: 60 }, (_, i) => [41 + i, `entry-${41 + i}`]));
    fill(b, 101, 110);
    b.dropThrough(100);
    assert.equal(b.firstIndex, 101, 'a new chunk after the taken one');
    assert.equal(b.oldestAfterMs(100), 1101);
    assert.equal(b.countAfter(100), 10);
  });

  test('full: the oldest chunks go and are counted; a discontinuity empties it', () => {
    const b = new ShipBuffer(4096, 16 * 1024);
    fill(b, 1, 2000);
    assert.ok(b.bytes <= 16 * 1024 + 4096, `${b.bytes} bytes held`);
    assert.ok((b.firstIndex ?? 0) > 1 && b.droppedEntries === (b.firstIndex ?? 0) - 1, 'dropped from the oldest, counted');
    b.append(EntryType.Normal, 5000, 2, 7, 8, data(5000), () => 0);
    assert.equal(b.firstIndex, 5000);
    assert.equal(b.countAfter(0), 1);
  });
});
