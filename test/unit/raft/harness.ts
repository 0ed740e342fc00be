// A small deterministic in-test network for scripting exact raft message sequences: each
// member's RawNode with an in-memory "disk"; Readies are processed on demand and their
// messages wait in a queue the test delivers or drops by rule.
import { RawNode } from '../../../daemon/src/raft/index.js';
import { EntryType, MessageType } from '../../../daemon/src/raft/index.js';
import type { Entry, HardState, Message, NodeId, RaftConfig, RaftInitialState, ReadState, Rng, SnapshotMeta, SoftState } from '../../../daemon/src/raft/index.js';

/** Returns a fixed value, so the randomized election timeout is electionTicks + offset. */
export function fixedRng(offset = 0): Rng {
  return { intBelow: (max: number) => Math.min(offset, max - 1) };
}

export const NAMES = ['a', 'b', 'c', 'd', 'e', 'f', 'g'] as const;

export function baseConfig(id: NodeId, over: Partial<RaftConfig> = {}): RaftConfig {
  return {
    id,
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: false,
    checkQuorum: false,
    leaseRead: false,
    maxInflightMsgs: 256,
    maxSizePerMsgBytes: 1 << 20,
    maxUncommittedBytes: 1 << 30,
    maxLearnerLagEntries: 10,
    rng: fixedRng(0),
    ...over,
  };
}

/** What one member has on "disk". */
export interface Disk {
  hardState: HardState;
  snapshot: SnapshotMeta;
  entries: Entry[];
}

export interface Member {
  id: NodeId;
  node: RawNode;
  disk: Disk;
  /** Every entry the state machine applied, in order (a snapshot install resets to its index). */
  applied: Entry[];
  appliedIndex: number;
  readStates: ReadState[];
  soft: SoftState;
  config: RaftConfig;
}

export type MsgFilter = (m: Message) => boolean;

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

export class Network {
  readonly members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message ever sent (for assertions on what went over the wire). */
  readonly sent: Message[] = [];
  /** Links cut: "from->to". */
  private readonly cut = new Set<string>();

  constructor(voters: readonly NodeId[], configOver: (id: NodeId) => Partial<RaftConfig> = () => ({}), learners: readonly NodeId[] = []) {
    for (const id of [...voters, ...learners]) {
      this.add(id, { voters: [...voters], learners: [...learners] }, configOver(id));
    }
  }

  /** Adds a member with a fresh disk whose bootstrap configuration is `conf`. */
  add(id: NodeId, conf: { voters: NodeId[]; learners: NodeId[] }, over: Partial<RaftConfig> = {}, initial?: RaftInitialState): Member {
    const disk: Disk = initial
      ? { hardState: initial.hardState, snapshot: initial.snapshot, entries: [...initial.entries] }
      : { hardState: { term: 0, vote: '', commit: 0 }, snapshot: { index: 0, term: 0, confState: conf }, entries: [] };
    const config = baseConfig(id, over);
    const node = new RawNode(config, { hardState: disk.hardState, snapshot: disk.snapshot, entries: disk.entries });
    const m: Member = { id, node, disk, applied: [], appliedIndex: disk.snapshot.index, readStates: [], soft: { leader: null, role: 'follower' }, config };
    this.members.set(id, m);
    return m;
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: NodeId): RawNode {
    return this.get(id).node;
  }

  /** Crash and restart `id` from its disk (volatile state lost). */
  restart(id: NodeId, over: Partial<RaftConfig> = {}): Member {
    const old = this.get(id);
    const config = { ...old.config, ...over };
    const node = new RawNode(config, { hardState: old.disk.hardState, snapshot: old.disk.snapshot, entries: [...old.disk.entries] });
    const m: Member = { ...old, node, applied: [], appliedIndex: old.disk.snapshot.index, readStates: [], soft: { leader: null, role: 'follower' }, config };
    this.members.set(id, m);
    return m;
  }

  /** Runs one Ready cycle on `id` (if it has one): persist, queue messages, apply, advance. */
  process(id: NodeId): boolean {
    const m = this.get(id);
    if (!m.node.hasReady()) return false;
    const rd = m.node.ready();
    if (rd.softState) m.soft = rd.softState;
    if (rd.hardState) m.disk.hardState = rd.hardState;
    if (rd.snapshot) {
      // A received snapshot replaces the whole log (the core dropped every entry it held).
      m.disk.snapshot = rd.snapshot;
      m.disk.entries = [];
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      const lastOnDisk = m.disk.entries[m.disk.entries.length - 1]?.index ?? m.disk.snapshot.index;
      if (first === lastOnDisk + 1) for (const e of rd.entries) m.disk.entries.push(e);
      else m.disk.entries = m.disk.entries.filter((e) => e.index < first).concat(rd.entries);
    }
    for (const msg of rd.messages) {
      this.sent.push(msg);
      if (!this.cut.has(`${msg.from}->${msg.to}`)) this.queue.push(msg);
    }
    if (rd.snapshot) {
      m.applied = [];
      m.appliedIndex = rd.snapshot.index;
    }
    for (const e of rd.committedEntries) {
      if (e.index <= m.appliedIndex) continue;
      if (e.index !== m.appliedIndex + 1) throw new Error(`${id}: apply gap at ${e.index} after ${m.appliedIndex}`);
      m.applied.push(e);
      m.appliedIndex = e.index;
    }
    m.readStates.push(...rd.readStates);
    m.node.advance(rd);
    return true;
  }

  /** Processes Readies of every member until none has work. */
  processAll(): void {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const id of this.members.keys()) if (this.process(id)) any = true;
      if (!any) return;
    }
    throw new Error('processAll did not settle');
  }

  /** Delivers (and removes) queued messages matching `filter`; the rest stay queued. Returns the delivered. */
  deliver(filter: MsgFilter = () => true): Message[] {
    const now = this.queue;
    this.queue = [];
    const delivered: Message[] = [];
    for (const msg of now) {
      if (!filter(msg)) {
        this.queue.push(msg);
        continue;
      }
      const to = this.members.get(msg.to);
      if (!to || this.cut.has(`${msg.from}->${msg.to}`)) continue;
      delivered.push(msg);
      to.node.step(msg);
    }
    return delivered;
  }

  /** Removes queued messages matching `filter` without delivering them. */
  drop(filter: MsgFilter): Message[] {
    const dropped = this.queue.filter(filter);
    this.queue = this.queue.filter((m) => !filter(m));
    return dropped;
  }

  /** Processes and delivers until quiet (bounded). */
  stabilize(maxRounds = 200): void {
    for (let i = 0; i < maxRounds; i++) {
      this.processAll();
      if (this.queue.length === 0) return;
      this.deliver();
    }
    throw new Error('network did not stabilize');
  }

  /** Cuts both directions between `a` and each of `others`. */
  partition(a: NodeId, others: readonly NodeId[] = [...this.members.keys()].filter((x) => x !== a)): void {
    for (const o of others) {
      this.cut.add(`${a}->${o}`);
      this.cut.add(`${o}->${a}`);
    }
    this.queue = this.queue.filter((m) => !this.cut.has(`${m.from}->${m.to}`));
  }

  heal(): void {
    this.cut.clear();
  }

  /** Ticks every member (or those listed) `n` times, processing Readies after each tick. */
  tick(n: number, ids: readonly NodeId[] = [...this.members.keys()]): void {
    for (let i = 0; i < n; i++) for (const id of ids) this.get(id).node.tick();
  }

  /** Elects `id` by campaign() and delivering everything. */
  elect(id: NodeId): void {
    this.node(id).campaign();
    this.stabilize();
  }

  /** The members currently reporting themselves leader. */
  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => m.node.status().role === 'leader').map((m) => m.id);
  }
}

export const is = {
  type: (t: number) => (m: Message) => m.type === t,
  to: (id: NodeId) => (m: Message) => m.to === id,
  from: (id: NodeId) => (m: Message) => m.from === id,
  and: (...fs: MsgFilter[]) => (m: Message) => fs.every((f) => f(m)),
  not: (f: MsgFilter) => (m: Message) => !f(m),
};

export { MessageType, EntryType };

/** Encodes a string proposal. */
export function cmd(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
