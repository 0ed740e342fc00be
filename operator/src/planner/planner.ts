// The planner: a pure function from what the operator observed to the one next safe step, or a
// refusal with a reason. It never performs I/O; the RaftCluster controller executes its answer and
// re-observes before asking again, so every step is small, idempotent and safe after a crash.
import { quorumOf } from '../build/names.js';

/** One member as seen through its own GET /v1/status and the leader's member list. */
export interface ObservedMember {
  readonly name: string;
  /** StatefulSet ordinal, or undefined when the name is not one of this cluster's pods. */
  readonly ordinal: number | undefined;
  readonly voter: boolean;
  /** Its /v1/status answered and it knows a leader. */
  readonly healthy: boolean;
  readonly role: string;
  readonly appliedIndex: number;
}

/** One member pod (for image rollouts). */
export interface ObservedPod {
  readonly name: string;
  readonly ready: boolean;
  /** Runs an older StatefulSet revision than the current one. */
  readonly outdated: boolean;
  /** Being deleted (deletionTimestamp set). */
  readonly terminating?: boolean;
}

/** Everything the planner decides from. */
export interface PlannerInput {
  /** spec.replicas. */
  readonly desiredReplicas: number;
  /** Current StatefulSet spec.replicas, undefined when it does not exist yet. */
  readonly statefulSetReplicas: number | undefined;
  /** Leader's name, undefined when no member reports one. */
  readonly leader: string | undefined;
  /** The leader's commit index (learners are caught up when they applied up to it, less the lag allowance). */
  readonly commitIndex: number;
  /** Membership as the leader reports it, with each member's own health. */
  readonly members: readonly ObservedMember[];
  /** Member pods; empty when none exist (e.g. no kubelet) — rollouts then have nothing to do. */
  readonly pods: readonly ObservedPod[];
  /** A learner whose appliedIndex is within this many entries of commitIndex may be promoted. */
  readonly learnerMaxLagEntries: number;
  /** Pod name for an ordinal. */
  readonly memberNameOf: (ordinal: number) => string;
  /** A RaftChaosDrill running against this cluster (`namespace/name`): no change is made meanwhile. */
  readonly drillInProgress?: string | undefined;
  /**
   * A member to replace (annotation raftkv.dev/replace-member): removed, its PVC and pod deleted
   * (`wiped` once done, from status.replacement), then added back as a learner and promoted.
   */
  readonly replace?: {
    readonly member: string;
    readonly ordinal: number | undefined;
    readonly wiped: boolean;
    /**
     * Last log index the process answering at the member's address reports this pass (undefined:
     * none answered). Only an empty process (0) is added back: see planReplacement.
     */
    readonly answeringLastIndex?: number | undefined;
  } | undefined;
}

/** Why the planner will not act now; each ends up as a condition reason and an Event. */
export type RefusalReason =
  | 'InvalidReplicas'
  | 'NoQuorum'
  | 'MemberUnhealthy'
  | 'ChangeInProgress'
  | 'LearnerNotCaughtUp'
  | 'RolloutWaitingForHealth'
  | 'DrillInProgress'
  | 'ReplacementRefused'
  | 'RecoveryRefused'
  | 'RecoveryInProgress';

/** The next step. `none` means the cluster matches the spec. */
export type PlanStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'bootstrap'; readonly replicas: number; readonly reason: string }
  | { readonly kind: 'setStatefulSetReplicas'; readonly replicas: number; readonly reason: string }
  | { readonly kind: 'addLearner'; readonly member: string }
  | { readonly kind: 'promote'; readonly member: string }
  | { readonly kind: 'transferLeadership'; readonly from: string; readonly to: string; readonly reason: string }
  | { readonly kind: 'removeMember'; readonly member: string }
  | { readonly kind: 'deletePod'; readonly pod: string; readonly reason: string }
  | { readonly kind: 'wipeMember'; readonly member: string }
  | { readonly kind: 'forceNewCluster'; readonly member: string; readonly id: string }
  | { readonly kind: 'refuse'; readonly reason: RefusalReason; readonly message: string };

/** Largest cluster the CRD accepts. */
export const MAX_REPLICAS = 9;

function refuse(reason: RefusalReason, message: string): PlanStep {
  return { kind: 'refuse', reason, message };
}

/** Best transfer target: a healthy voter other than `from`, most up to date first, then lowest ordinal. */
export function pickTransferTarget(members: readonly ObservedMember[], from: string, prefer?: (m: ObservedMember) => boolean): ObservedMember | undefined {
  const candidates = members.filter((m) => m.voter && m.healthy && m.name !== from);
  candidates.sort((a, b) => {
    const pa = prefer?.(a) === true ? 0 : 1;
    const pb = prefer?.(b) === true ? 0 : 1;
    return pa - pb || b.appliedIndex - a.appliedIndex || (a.ordinal ?? 0) - (b.ordinal ?? 0);
  });
  return candidates[0];
}

/**
 * Decides the next step. Order of concerns: a valid spec; the StatefulSet exists (bootstrap);
 * a leader and a healthy quorum (otherwise nothing is safe); membership names we understand;
 * finish a half-done change (learner) before starting another; then scale by one member (a
 * scale-down removes dead members first and never a live voter whose removal would cost the
 * quorum); then an image rollout: pods already down on an outdated revision first (so a bad
 * rollout can be reverted), then followers, the leader last after a transfer.
 */
export function plan(input: PlannerInput): PlanStep {
  const step = planChange(input);
  if (input.drillInProgress === undefined || step.kind === 'none' || step.kind === 'refuse' || step.kind === 'bootstrap') return step;
  return refuse('DrillInProgress', `drill ${input.drillInProgress} is running; ${step.kind} waits until it has finished`);
}

function planChange(input: PlannerInput): PlanStep {
  const desired = input.desiredReplicas;
  if (!Number.isInteger(desired) || desired < 1 || desired > MAX_REPLICAS || desired % 2 === 0) {
    return refuse('InvalidReplicas', `spec.replicas=${desired} must be odd and in 1..${MAX_REPLICAS}`);
  }
  if (input.statefulSetReplicas === undefined) {
    return { kind: 'bootstrap', replicas: desired, reason: `new cluster of ${desired} voters` };
  }
  const members = [...input.members].sort((a, b) => (a.ordinal ?? Infinity) - (b.ordinal ?? Infinity));
  if (input.leader === undefined || !members.some((m) => m.name === input.leader)) {
    return refuse('NoQuorum', 'no member reports a leader');
  }
  const voters = members.filter((m) => m.voter);
  const healthyVoters = voters.filter((m) => m.healthy).length;
  if (healthyVoters < quorumOf(voters.length)) {
    return refuse('NoQuorum', `${healthyVoters} of ${voters.length} voters healthy, a quorum needs ${quorumOf(voters.length)}`);
  }
  const foreign = members.find((m) => m.ordinal === undefined);
  if (foreign !== undefined) return refuse('ChangeInProgress', `member ${foreign.name} is not a pod of this cluster; remove it by hand`);
  const r = input.replace;
  if (r !== undefined) {
    const replacing = planReplacement(input, members, r);
    if (replacing !== undefined) return replacing;
  }
  // Ordinals below spec.replicas must be 0..k-1 with no hole. Above it (a scale-down under way)
  // any subset is fine: a dead member there is removed before the higher live ones.
  const keptCount = members.filter((m) => (m.ordinal ?? 0) < desired).length;
  const gap = members.findIndex((m, i) => i < keptCount && m.ordinal !== i);
  const n = members.length;
  const highest = members[n - 1];
  const span = (highest?.ordinal ?? -1) + 1;
  if (gap !== -1 || (span !== n && n <= desired)) return refuse('ChangeInProgress', `members are not the ordinals 0..${n - 1} (found ${members.map((m) => m.name).join(', ')})`);

  const learners = members.filter((m) => !m.voter);
  for (const learner of learners) {
    if (desired < n && learner === highest) return { kind: 'removeMember', member: learner.name };
    const lag = input.commitIndex - learner.appliedIndex;
    if (learner.healthy && lag <= input.learnerMaxLagEntries) return { kind: 'promote', member: learner.name };
    return refuse('LearnerNotCaughtUp', `learner ${learner.name} is ${learner.healthy ? `${lag} entries behind (max ${input.learnerMaxLagEntries})` : 'not healthy yet'}`);
  }

  const sts = input.statefulSetReplicas;
  const outdatedDown = new Set(input.pods.filter((p) => p.outdated && !p.ready).map((p) => p.name));
  // Unhealthy members that block a change: not those a scale-down removes anyway, nor those on an
  // outdated pod that is down already (the rollout replaces them first).
  const blocking = members.filter((m) => !m.healthy && !(n > desired && (m.ordinal ?? 0) >= desired) && !outdatedDown.has(m.name));
  const needsChange = n !== desired || sts !== span || input.pods.some((p) => p.outdated);
  if (needsChange && blocking.length > 0) {
    return refuse('MemberUnhealthy', `waiting for ${blocking.map((m) => m.name).join(', ')} to be healthy before changing the cluster`);
  }

  if (n < desired) {
    if (sts < n + 1) return { kind: 'setStatefulSetReplicas', replicas: n + 1, reason: `scale up ${n}→${desired}: start pod ${input.memberNameOf(n)}` };
    if (sts > n + 1) return { kind: 'setStatefulSetReplicas', replicas: n + 1, reason: `more pods (${sts}) than members+1; one member joins at a time` };
    return { kind: 'addLearner', member: input.memberNameOf(n) };
  }
  if (sts > span) return { kind: 'setStatefulSetReplicas', replicas: span, reason: `stop pods beyond the members (highest ${highest?.name ?? '-'})` };
  if (n > desired) {
    // Dead members first (removing one never costs a quorum), then the highest ordinal.
    const leaving = members.filter((m) => (m.ordinal ?? 0) >= desired).sort((a, b) => Number(a.healthy) - Number(b.healthy) || (b.ordinal ?? 0) - (a.ordinal ?? 0));
    const target = leaving[0];
    if (target !== undefined) {
      if (target.name === input.leader) {
        const to = pickTransferTarget(members, target.name);
        if (to === undefined) return refuse('NoQuorum', `no healthy voter to take over from ${target.name}`);
        return { kind: 'transferLeadership', from: target.name, to: to.name, reason: `leader ${target.name} is being removed (scale down ${n}→${desired})` };
      }
      if (target.healthy && target.voter && healthyVoters - 1 < quorumOf(voters.length - 1)) {
        return refuse('MemberUnhealthy', `removing ${target.name} would leave ${healthyVoters - 1} healthy of ${voters.length - 1} voters, below a quorum`);
      }
      return { kind: 'removeMember', member: target.name };
    }
  }
  if (sts < span) return { kind: 'setStatefulSetReplicas', replicas: span, reason: `${n} members but only ${sts} pods` };

  const outdated = input.pods.filter((p) => p.outdated);
  if (outdated.length > 0) {
    // A pod just deleted is missing (or still terminating) until the StatefulSet recreates it:
    // wait for it, rather than delete it again as a not-ready outdated pod.
    const missing: string[] = [];
    for (let i = 0; i < n; i++) if (!input.pods.some((p) => p.name === input.memberNameOf(i) && p.terminating !== true)) missing.push(input.memberNameOf(i));
    if (missing.length > 0) return refuse('RolloutWaitingForHealth', `waiting for ${missing.join(', ')} to be recreated before replacing the next pod`);
    // An outdated pod that is down already (crash-looping on a bad image, say) costs nothing to
    // replace: it goes first, which is also what lets a bad rollout be reverted.
    const down = outdated.filter((p) => !p.ready && p.name !== input.leader).sort((a, b) => b.name.localeCompare(a.name))[0];
    if (down !== undefined) return { kind: 'deletePod', pod: down.name, reason: `replace ${down.name} first: not ready on an outdated revision` };
    const notReady = input.pods.filter((p) => !p.ready).map((p) => p.name);
    if (notReady.length > 0) return refuse('RolloutWaitingForHealth', `waiting for ${notReady.join(', ')} to be ready before replacing the next pod`);
    const follower = outdated.filter((p) => p.name !== input.leader).sort((a, b) => b.name.localeCompare(a.name))[0];
    if (follower !== undefined) return { kind: 'deletePod', pod: follower.name, reason: `roll follower ${follower.name} to the new revision` };
    const leader = input.leader;
    const to = pickTransferTarget(members, leader, (m) => !outdated.some((p) => p.name === m.name));
    if (to === undefined) return refuse('NoQuorum', `no healthy voter to take over from ${leader}`);
    return { kind: 'transferLeadership', from: leader, to: to.name, reason: `leader ${leader} is the last pod on the old revision` };
  }
  return { kind: 'none' };
}

/**
 * The steps of a deliberate replacement of member `r.member` (ordinal below spec.replicas):
 * remove it (leadership moved first; a live voter only when the rest keep a quorum), delete its
 * PVC and pod so it starts empty, add it back as a learner, promote it (the learner rule above
 * does that). undefined once it is a voter again after the wipe: the replacement is done.
 */
function planReplacement(input: PlannerInput, members: readonly ObservedMember[], r: NonNullable<PlannerInput['replace']>): PlanStep | undefined {
  if (r.ordinal === undefined || r.ordinal >= input.desiredReplicas) {
    return refuse('ReplacementRefused', `${r.member} is not a member pod of this cluster below spec.replicas=${input.desiredReplicas}`);
  }
  const m = members.find((x) => x.name === r.member);
  if (!r.wiped) {
    if (m === undefined) return { kind: 'wipeMember', member: r.member };
    if (m.name === input.leader) {
      const to = pickTransferTarget(members, m.name);
      if (to === undefined) return refuse('NoQuorum', `no healthy voter to take over from ${m.name}`);
      return { kind: 'transferLeadership', from: m.name, to: to.name, reason: `${m.name} is being replaced` };
    }
    const voters = members.filter((x) => x.voter);
    const healthy = voters.filter((x) => x.healthy).length;
    if (m.voter && m.healthy && healthy - 1 < quorumOf(voters.length - 1)) {
      return refuse('ReplacementRefused', `removing ${m.name} would leave ${healthy - 1} healthy of ${voters.length - 1} voters, below a quorum`);
    }
    return { kind: 'removeMember', member: m.name };
  }
  if (m === undefined) {
    if (!input.pods.some((p) => p.name === r.member && p.terminating !== true)) return refuse('ChangeInProgress', `waiting for the StatefulSet to recreate pod ${r.member} with an empty volume`);
    const wait = emptyLearnerWait(r.member, r.answeringLastIndex);
    return wait === undefined ? { kind: 'addLearner', member: r.member } : refuse('ChangeInProgress', wait);
  }
  return undefined;
}

/**
 * What a wiped member's re-add still waits for (undefined: nothing, add it). It goes back only once
 * the process answering at its address is the empty one. A new pod object does not prove the old
 * process is gone (a force-deleted pod, a partitioned node): if the old process, log intact, took
 * the learner's first Appends, the leader would record its acknowledgements as the member's
 * progress, ignore the empty process's rejections as stale and never send it anything: stuck for
 * good, and a quorum counting those acknowledgements would count entries that member no longer holds.
 */
export function emptyLearnerWait(member: string, answeringLastIndex: number | undefined): string | undefined {
  if (answeringLastIndex === undefined) return `waiting for ${member} to start on its empty volume and answer`;
  if (answeringLastIndex > 0) return `waiting for the previous ${member} process to stop: its address still answers with log index ${answeringLastIndex}, not an empty member`;
  return undefined;
}

/** What the automatic replacement decides from. */
export interface AutoReplaceInput {
  readonly desiredReplicas: number;
  readonly leader: string | undefined;
  readonly members: readonly ObservedMember[];
  /** When each unhealthy member was first seen unhealthy (status.members[].unhealthySince). */
  readonly unhealthySinceMs: ReadonlyMap<string, number>;
  readonly nowMs: number;
  /** spec.replaceUnhealthyAfterSeconds in ms; 0 = never. */
  readonly afterMs: number;
}

/**
 * The member to replace automatically, if any: unhealthy for at least afterMs, below
 * spec.replicas, not the leader, in a settled cluster (all members voters, as many as the spec
 * asks) whose other voters keep a quorum (removing a dead voter never costs it). One at a time,
 * lowest ordinal first.
 */
export function autoReplaceCandidate(input: AutoReplaceInput): string | undefined {
  if (input.afterMs <= 0 || input.leader === undefined) return undefined;
  const ms = input.members;
  if (ms.length !== input.desiredReplicas || ms.some((m) => !m.voter || m.ordinal === undefined)) return undefined;
  if (ms.filter((m) => m.healthy).length < quorumOf(ms.length)) return undefined;
  const due = ms.filter((m) => {
    const since = input.unhealthySinceMs.get(m.name);
    return !m.healthy && m.name !== input.leader && (m.ordinal ?? Infinity) < input.desiredReplicas && since !== undefined && input.nowMs - since >= input.afterMs;
  }).sort((a, b) => (a.ordinal ?? 0) - (b.ordinal ?? 0));
  return due[0]?.name;
}
