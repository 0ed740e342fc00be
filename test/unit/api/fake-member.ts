// An in-memory MemberService for the API tests: a single member whose role, leader and
// failures the test sets, applying commands straight to the real KvStateMachine (no raft).
import type { KvMemberService, MemberInfo, MemberStatus, PeerFaults } from '../../../daemon/src/member-service.js';
import { KvStateMachine } from '../../../daemon/src/kv/index.js';
import type { ApplyResult, KvStateMachineOptions } from '../../../daemon/src/kv/index.js';

/** A scriptable member. */
export class FakeMember implements KvMemberService {
  readonly name = 'n1';
  readonly stateMachine: KvStateMachine;
  term = 3;
  index = 10;
  /** 'self': this member leads; an object: another member leads; null: no leader. */
  leaderIs: 'self' | { name: string; clientUrl: string } | null = 'self';
  /** Thrown (rejected) by the next proposal or linearizable read, then cleared. */
  failNext: Error | null = null;
  ready = true;
  /** This member applied its own removal. */
  removed = false;
  faults: PeerFaults | null = null;
  linearizableReads = 0;
  readonly members: MemberInfo[] = [
    { name: 'n1', peerUrl: '127.0.0.1:2380', clientUrl: 'http://127.0.0.1:2379', voter: true },
    { name: 'n2', peerUrl: '127.0.0.1:2382', clientUrl: 'http://127.0.0.1:2381', voter: true },
  ];
  snapshots = 0;

  constructor(kvOptions: KvStateMachineOptions = {}) {
    this.stateMachine = new KvStateMachine(kvOptions);
  }

  /** The state machine (short name for tests). */
  get sm(): KvStateMachine {
    return this.stateMachine;
  }

  private takeFailure(): Error | null {
    const f = this.failNext;
    this.failNext = null;
    return f;
  }

  proposeCommand(command: Uint8Array): Promise<ApplyResult | undefined> {
    const f = this.takeFailure();
    if (f) return Promise.reject(f);
    this.index++;
    return Promise.resolve(this.stateMachine.apply(this.index, this.term, command));
  }

  waitLinearizable(): Promise<void> {
    const f = this.takeFailure();
    if (f) return Promise.reject(f);
    this.linearizableReads++;
    return Promise.resolve();
  }

  currentTerm(): number {
    return this.term;
  }

  status(): MemberStatus {
    return {
      name: this.name,
      role: this.leaderIs === 'self' ? 'leader' : 'follower',
      term: this.term,
      leader: this.leader(),
      commitIndex: this.index,
      appliedIndex: this.index,
      lastIndex: this.index,
      snapshotIndex: 0,
      members: this.members,
      revision: this.stateMachine.revision,
      removed: this.removed,
    };
  }

  leader(): { readonly name: string; readonly clientUrl: string } | null {
    if (this.leaderIs === 'self') return { name: this.name, clientUrl: 'http://127.0.0.1:2379' };
    return this.leaderIs;
  }

  isLeader(): boolean {
    return this.leaderIs === 'self';
  }

  isReady(): boolean {
    return this.ready && this.leaderIs !== null && !this.removed;
  }

  isRemoved(): boolean {
    return this.removed;
  }

  addLearner(member: { readonly name: string; readonly peerUrl: string; readonly clientUrl: string }): Promise<void> {
    const f = this.takeFailure();
    if (f) return Promise.reject(f);
    this.members.push({ ...member, voter: false });
    return Promise.resolve();
  }

  promote(name: string): Promise<void> {
    const f = this.takeFailure();
    if (f) return Promise.reject(f);
    const i = this.members.findIndex((m) => m.name === name);
    const m = this.members[i];
    if (!m) return Promise.reject(Object.assign(new Error(`no member ${name}`), { name: 'MemberError', code: 'UnknownMember' }));
    this.members[i] = { ...m, voter: true };
    return Promise.resolve();
  }

  removeMember(name: string): Promise<void> {
    const i = this.members.findIndex((m) => m.name === name);
    if (i < 0) return Promise.reject(Object.assign(new Error(`no member ${name}`), { name: 'MemberError', code: 'UnknownMember' }));
    this.members.splice(i, 1);
    return Promise.resolve();
  }

  transferLeadership(to?: string): Promise<{ readonly leader: string }> {
    const target = to ?? 'n2';
    this.leaderIs = { name: target, clientUrl: 'http://127.0.0.1:2381' };
    return Promise.resolve({ leader: target });
  }

  snapshotNow(): Promise<{ readonly index: number }> {
    this.snapshots++;
    return Promise.resolve({ index: this.index });
  }

  setPeerFaults(faults: PeerFaults): void {
    this.faults = faults;
  }
}
