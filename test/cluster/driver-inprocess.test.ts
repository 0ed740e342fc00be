// The member driver with the real raft core, in one process: memory storage that can be made to
// fail, an in-process network that can drop a member, and a tiny JSON state machine. Fast, so
// it checks the driver's duties (persist before send, apply, answer reads, snapshots, storage
// failure, hand-off) without processes; the other files of this tier use real processes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RawNode } from '../../daemon/src/raft/index.js';
import { MessageType } from '../../daemon/src/raft/index.js';
import type { Message } from '../../daemon/src/raft/index.js';
import { MemberServer } from '../../daemon/src/server.js';
import type { DriverStateMachine } from '../../daemon/src/server.js';
import { createMetrics } from '../../daemon/src/observability/metrics.js';
import { createLogger } from '../../daemon/src/observability/logger.js';
import { META_KEYS, planStart } from '../../daemon/src/server/bootstrap.js';
import { parseFlags } from '../../daemon/src/config/flags.js';
import { MemberError } from '../../daemon/src/server/errors.js';
import type { LoadedRaftState, PersistBatch, RaftStorage, StoredSnapshot } from '../../daemon/src/storage/types.js';
import type { Transport } from '../../daemon/src/transport/types.js';
import type { Entry, HardState } from '../../daemon/src/raft/types.js';

class FlakyMemoryStorage implements RaftStorage {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  entries: Entry[] = [];
  snapshot: StoredSnapshot | null = null;
  meta: Record<string, string> = {};
  failing = false;
  persists = 0;
  /** While set, every persist waits for it (a slow disk held by the test); `held` counts the writes that waited. */
  gate: Promise<void> | null = null;
  held: PersistBatch[] = [];
  load(): Promise<LoadedRaftState> {
    return Promise.resolve({ hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries], meta: { ...this.meta } });
  }
  async persist(b: PersistBatch): Promise<void> {
    await new Promise((r) => setTimeout(r, 1));
    if (this.gate !== null) {
      this.held.push(b);
      await this.gate;
    }
    if (this.failing) throw Object.assign(new Error('no space left on device'), { code: 'NoSpace' });
    this.persists++;
    if (b.snapshot) {
      const idx = b.snapshot.meta.index;
      this.snapshot = b.snapshot;
      this.entries = this.entries.filter((e) => e.index > idx);
    }
    const first = b.entries[0];
    if (first) this.entries = this.entries.filter((e) => e.index < first.index).concat(b.entries);
    if (b.hardState) this.hardState = b.hardState;
  }
  saveSnapshotAndCompact(s: StoredSnapshot): Promise<void> {
    this.snapshot = s;
    this.entries = this.entries.filter((e) => e.index > s.meta.index);
    return Promise.resolve();
  }
  putMeta(k: string, v: string): Promise<void> {
    this.meta[k] = v;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const network = new Map<string, { deliver: (m: Message) => void; down: boolean }>();

class LocalTransport implements Transport {
  constructor(private readonly name: string) {}
  start(onMessage: (m: Message) => void): Promise<void> {
    network.set(this.name, { deliver: onMessage, down: false });
    return Promise.resolve();
  }
  setPeer(): void {}
  removePeer(): void {}
  send(m: Message): void {
    const dst = network.get(m.to);
    const src = network.get(this.name);
    if (!dst || dst.down || !src || src.down) return;
    setImmediate(() => {
      if (!dst.down) dst.deliver(m);
    });
  }
  close(): Promise<void> {
    network.delete(this.name);
    return Promise.resolve();
  }
}

interface TestResult {
  readonly revision: number;
  readonly index: number;
}

class JsonStateMachine implements DriverStateMachine<TestResult> {
  map = new Map<string, string>();
  rev = 0;
  apply(index: number, _term: number, data: Uint8Array): TestResult {
    const c = JSON.parse(new TextDecoder().decode(data)) as { k: string; v: string };
    this.rev++;
    this.map.set(c.k, c.v);
    return { revision: this.rev, index };
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ rev: this.rev, m: [...this.map] }));
  }
  restore(img: Uint8Array): void {
    const o = JSON.parse(new TextDecoder().decode(img)) as { rev: number; m: [string, string][] };
    this.rev = o.rev;
    this.map = new Map(o.m);
  }
  applyNoop(): void {}
  get revision(): number {
    return this.rev;
  }
  get size(): number {
    return this.map.size;
  }
}

type Member = MemberServer<JsonStateMachine, TestResult>;
const NAMES = ['a', 'b', 'c'];
const storages = new Map<string, FlakyMemoryStorage>();
const members = new Map<string, Member>();
const metricsOf = new Map<string, ReturnType<typeof createMetrics>>();
/** What each member's driver reported as fatal (a broken invariant: the process would exit). */
const fatals = new Map<string, unknown[]>();
let seed = 1;

async function startMember(name: string): Promise<Member> {
  const parsed = parseFlags([
    '--name', name,
    '--initial-cluster', NAMES.map((n, i) => `${n}=127.0.0.1:${20000 + i}`).join(','),
    '--election-timeout-ms', '500', '--heartbeat-interval-ms', '50', '--snapshot-entries', '50',
    '--log-level', 'silent', '--enable-fault-injection',
  ], {});
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') throw new Error('unreachable');
  const config = parsed.config;
  const storage = storages.get(name) ?? new FlakyMemoryStorage();
  storages.set(name, storage);
  const plan = planStart(config, await storage.load());
  if (plan.newBootstrap) await storage.putMeta(META_KEYS.bootstrap, JSON.stringify(plan.newBootstrap));
  let s = seed++ * 7919;
  const rng = { intBelow: (k: number): number => ((s = (s * 1103515245 + 12345) % 2147483648), s % k) };
  const node = new RawNode({
    id: name, electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true, leaseRead: true,
    maxInflightMsgs: 256, maxSizePerMsgBytes: 1 << 20, maxUncommittedBytes: 64 << 20, maxLearnerLagEntries: 1000, rng,
  }, plan.initialState);
  // One registry per member name for the whole file (restarts reuse it, as counters would survive in a scrape).
  const metrics = metricsOf.get(name) ?? createMetrics(name);
  metricsOf.set(name, metrics);
  let srv: Member | null = null;
  const logger = createLogger(name, 'silent', () => srv?.currentTerm() ?? 0);
  srv = new MemberServer<JsonStateMachine, TestResult>({
    config, logger, metrics, storage, transport: new LocalTransport(name), node,
    stateMachine: new JsonStateMachine(), addressBook: plan.addressBook, confState: plan.confState, snapshot: plan.snapshot,
    hardState: plan.initialState.hardState,
    onFatal: (e) => {
      fatals.set(name, [...(fatals.get(name) ?? []), e]);
      throw e instanceof Error ? e : new Error(String(e));
    },
  });
  await srv.start();
  members.set(name, srv);
  return srv;
}

async function stopMember(name: string): Promise<void> {
  const m = members.get(name);
  const n = network.get(name);
  if (n) n.down = true;
  members.delete(name);
  // A driver whose loop died on a broken invariant never finishes stopping: bounded, so a failed test reports instead of hanging.
  await Promise.race([m?.stop(), sleep(2000)]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function agreedLeader(timeoutMs = 5000): Promise<Member> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ls = [...members.values()].filter((m) => m.isLeader());
    const l = ls[0];
    if (ls.length === 1 && l && [...members.values()].every((m) => m.leader()?.name === l.name && m.leader()?.clientUrl !== '')) return l;
    await sleep(10);
  }
  throw new Error('no agreed leader');
}

const cmd = (k: string, v: string): Uint8Array => new TextEncoder().encode(JSON.stringify({ k, v }));

after(async () => {
  for (const n of [...members.keys()]) await stopMember(n);
});

test('three drivers elect a leader and replicate a burst of writes to every member', async () => {
  for (const n of NAMES) await startMember(n);
  const leader = await agreedLeader();
  const results = await Promise.all(Array.from({ length: 500 }, (_, i) => leader.proposeCommand(cmd(`k${i}`, `v${i}`))));
  const revisions = results.map((r) => r?.revision ?? 0).sort((x, y) => x - y);
  assert.deepEqual(revisions, Array.from({ length: 500 }, (_, i) => i + 1), 'each write applied exactly once, acknowledged with its own revision');
  // Group commit: far fewer synced writes than entries.
  const ls = storages.get(leader.name);
  assert.ok(ls && ls.persists < 250, `leader persisted ${ls?.persists} batches for 500 writes`);
  for (const m of members.values()) {
    await m.waitLinearizable();
    assert.equal(m.stateMachine.map.get('k499'), 'v499', `${m.name} has the last write after a linearizable wait`);
  }
});

test('concurrent linearizable reads share ReadIndex rounds', async () => {
  const leader = await agreedLeader();
  const f = [...members.values()].find((m) => m !== leader);
  assert.ok(f);
  const counter = metricsOf.get(f.name)?.readIndexTotal;
  assert.ok(counter);
  const before = (await counter.get()).values[0]?.value ?? 0;
  await Promise.all(Array.from({ length: 1000 }, () => f.waitLinearizable()));
  const rounds = ((await counter.get()).values[0]?.value ?? 0) - before;
  assert.ok(rounds >= 1 && rounds <= 20, `1000 reads took ${rounds} ReadIndex rounds`);
});

test('a follower refuses writes with NotLeader naming the leader and its client URL', async () => {
  const leader = await agreedLeader();
  const f = [...members.values()].find((m) => m !== leader);
  assert.ok(f);
  await assert.rejects(f.proposeCommand(cmd('x', 'y')), (e: unknown) => e instanceof MemberError && e.code === 'NotLeader' && e.leader?.name === leader.name && e.leader.clientUrl !== '');
});

test('a member restarted after compaction catches up through a snapshot', async () => {
  let leader = await agreedLeader();
  const lagging = [...members.values()].find((m) => m !== leader);
  assert.ok(lagging);
  const name = lagging.name;
  await stopMember(name);
  leader = await agreedLeader();
  for (let i = 0; i < 120; i++) await leader.proposeCommand(cmd(`late${i}`, 'x'));
  await sleep(50);
  assert.ok(leader.status().snapshotIndex > 0, 'leader compacted');
  const back = await startMember(name);
  const until = Date.now() + 5000;
  while (back.stateMachine.map.get('late119') !== 'x' && Date.now() < until) await sleep(20);
  assert.equal(back.stateMachine.map.get('late119'), 'x');
  assert.equal(back.stateMachine.map.get('k7'), 'v7');
  assert.ok(back.status().snapshotIndex > 0, 'installed a snapshot');
});

test('storage failure: the write fails with NoSpace, writes are refused, then accepted again', async () => {
  const leader = await agreedLeader();
  const st = storages.get(leader.name);
  assert.ok(st);
  st.failing = true;
  await assert.rejects(leader.proposeCommand(cmd('df', '1')), (e: unknown) => e instanceof MemberError && e.code === 'NoSpace');
  await assert.rejects(leader.proposeCommand(cmd('df', '2')), (e: unknown) => e instanceof MemberError && (e.code === 'NoSpace' || e.code === 'NoLeader' || e.code === 'NotLeader'));
  st.failing = false;
  const until = Date.now() + 5000;
  let ok = false;
  while (!ok && Date.now() < until) {
    const l = await agreedLeader();
    ok = await l.proposeCommand(cmd('df', '3')).then(() => true, () => false);
    if (!ok) await sleep(50);
  }
  assert.ok(ok, 'writes accepted again after storage recovered');
});

test('leadership transfer resolves once the new leader is in place', async () => {
  const leader = await agreedLeader();
  const r = await leader.transferLeadership();
  assert.notEqual(r.leader, leader.name);
  assert.equal(leader.isLeader(), false);
});

test('ticks follow real time: after the thread was held for three election timeouts, every member counts that time (the leader\'s lease and check-quorum lapse, a new term begins)', async () => {
  const leader = await agreedLeader();
  const term = leader.currentTerm();
  // One event loop holds all three drivers: hold it as a synchronous fsync or a GC pause would.
  const until = Date.now() + 1500;
  while (Date.now() < until) {
    // held
  }
  // The first timer after the hold gives each driver the ticks it missed.
  await sleep(300);
  const next = await agreedLeader();
  assert.ok(next.currentTerm() > term, `term ${next.currentTerm()} after the stall, ${term} before: the stall was not counted`);
});

test('a snapshot from the leader that reaches the core while a follower writes entries carrying a configuration change: the follower applies them, installs the snapshot after the write and catches up (make test-chaos seed 531961 crashed here)', async () => {
  const leader = await agreedLeader();
  const f = [...members.values()].find((m) => m !== leader);
  assert.ok(f);
  const link = network.get(f.name);
  const st = storages.get(f.name);
  const leaderStorage = storages.get(leader.name);
  assert.ok(link && st && leaderStorage);
  // A fresh snapshot on the leader: the next one is 50 entries away, so the change below is
  // still in its log when the follower returns and reaches it as entries, not as a snapshot.
  await leader.snapshotNow();
  link.down = true;
  await leader.addLearner({ name: 'd', peerUrl: '127.0.0.1:20003', clientUrl: '' });
  const changeIndex = leader.status().appliedIndex;
  // The follower's disk stalls; it comes back and is sent the change with a commit index past it.
  let release = (): void => {};
  st.gate = new Promise<void>((r) => { release = r; });
  link.down = false;
  const until = Date.now() + 5000;
  while (!st.held.some((b) => b.entries.some((e) => e.index === changeIndex)) && Date.now() < until) await sleep(10);
  assert.ok(st.held.some((b) => b.entries.some((e) => e.index === changeIndex)), 'the follower is writing the configuration change');
  // Cut it off again so its core learns nothing newer, then let the leader move on and compact.
  link.down = true;
  for (let i = 0; i < 60; i++) await leader.proposeCommand(cmd(`past${i}`, 'x'));
  await leader.snapshotNow();
  const snap = leaderStorage.snapshot;
  assert.ok(snap && snap.meta.index > changeIndex + 50, 'the leader compacted past the change');
  // The snapshot the leader sends a member behind its log arrives during the stalled write.
  link.deliver({
    type: MessageType.Snapshot, from: leader.name, to: f.name, term: leader.currentTerm(), logTerm: 0, index: 0, entries: [],
    commit: snap.meta.index, reject: false, rejectHint: 0, rejectHintTerm: 0, context: 0, snapshot: snap.meta, snapshotData: snap.data,
  });
  await sleep(20);
  st.gate = null;
  release();
  link.down = false;
  const caughtUp = Date.now() + 5000;
  while (f.stateMachine.map.get('past59') !== 'x' && Date.now() < caughtUp && (fatals.get(f.name) ?? []).length === 0) await sleep(20);
  assert.deepEqual((fatals.get(f.name) ?? []).map(String), [], 'no broken invariant on the follower');
  assert.equal(f.stateMachine.map.get('past59'), 'x', 'the follower caught up');
  assert.ok(f.status().snapshotIndex >= snap.meta.index, 'by installing the leader\'s snapshot');
  assert.ok(f.members().some((m) => m.name === 'd'), 'with the learner the change added');
});
