// The boundary between the member's driver (server.ts: raft core + storage + transport + state
// machine) and everything that serves clients (the HTTP API, the status page, raftctl's server
// side). The API layer depends only on this interface, so it is tested against an in-memory
// fake and the driver can change freely behind it.
import type { ApplyResult, KvStateMachine } from './kv/index.js';
import type { ShippingStatus } from './backup/log-shipper.js';

/** A member as shown in status and membership calls (docs/api.md). */
export interface MemberInfo {
  readonly name: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
  readonly voter: boolean;
}

export type MemberRole = 'leader' | 'follower' | 'candidate' | 'learner';

/** The body of GET /v1/status (docs/api.md), plus a few extensions. */
export interface MemberStatus {
  readonly name: string;
  readonly role: MemberRole;
  readonly term: number;
  readonly leader: { readonly name: string; readonly clientUrl: string } | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly members: readonly MemberInfo[];
  /** Extension: the KV revision applied locally. */
  readonly revision: number;
  /**
   * Extension: this member applied its own removal from the configuration (it then refuses
   * client requests with 410 and /readyz says 503 until it is stopped or added again).
   */
  readonly removed: boolean;
  /** Extension: leader only, per member match index (for lag bars). */
  readonly progress?: Readonly<Record<string, { readonly match: number; readonly state: string }>>;
  /** Extension: recent leader changes seen by this member, newest last (bounded). */
  readonly leaderHistory?: readonly { readonly term: number; readonly leader: string; readonly atMs: number }[];
  /** Extension: continuous backup shipping (members started with --backup-ship-to). */
  readonly backupShipping?: ShippingStatus;
}

/** What the drills' fault endpoint may switch on (POST /v1/debug/faults). */
export interface PeerFaults {
  /** Drop all peer traffic in both directions (isolates this member). */
  readonly dropPeerTraffic: boolean;
  /** Drop traffic only to/from these members. */
  readonly dropPeers?: readonly string[];
  /** Lift the faults automatically after this long (bounded by config). */
  readonly durationMs?: number;
}

/**
 * What the HTTP API needs from a running member. `SM` is the local state machine and `R` its
 * apply result; for raftkv that is `KvMemberService` below. The defaults (`unknown`) keep a
 * generic driver assignable; the API finds the KvStateMachine in `stateMachine` at startup
 * (the machine itself, or an adapter holding it as `kv`) and reads results as ApplyResult. Errors are thrown as the typed errors of
 * api/errors.ts's registry (e.g. NotLeader with the leader's name and client URL, NoLeader,
 * Backpressure, Timeout, NoSpace, ShuttingDown, Conflict) so the API maps them in one place.
 */
export interface MemberService<SM = unknown, R = unknown> {
  readonly name: string;
  /**
   * Proposes an encoded KV command (kv's command codec). Resolves with the state machine's
   * apply result once the entry is committed and applied on this member. Only the leader
   * accepts proposals.
   */
  proposeCommand(command: Uint8Array): Promise<R | undefined>;
  /** Resolves once this member has applied everything committed before the call (ReadIndex or lease). */
  waitLinearizable(): Promise<void>;
  /** The local state machine, for reads after `waitLinearizable` (or stale serializable reads). */
  readonly stateMachine: SM;
  status(): MemberStatus;
  /** The current raft term; cheap (the GET hot path sends it as X-Raft-Term). */
  currentTerm(): number;
  /** The leader's name and client URL, or null when no leader is known. */
  leader(): { readonly name: string; readonly clientUrl: string } | null;
  isLeader(): boolean;
  /** True when the member knows a leader, has applied up to the commit index it knows, and is not removed. */
  isReady(): boolean;
  /** True once this member applied a configuration without it (see MemberStatus.removed); cheap. */
  isRemoved(): boolean;
  addLearner(member: { readonly name: string; readonly peerUrl: string; readonly clientUrl: string }): Promise<void>;
  promote(name: string): Promise<void>;
  removeMember(name: string): Promise<void>;
  /** Resolves once the new leader is in place (or rejects after a bounded wait). */
  transferLeadership(to?: string): Promise<{ readonly leader: string }>;
  snapshotNow(): Promise<{ readonly index: number }>;
  setPeerFaults(faults: PeerFaults): void;
}

/** The member as raftkv's API uses it: the KV state machine and its apply results. */
export type KvMemberService = MemberService<KvStateMachine, ApplyResult>;
