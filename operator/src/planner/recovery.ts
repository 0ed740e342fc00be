// The quorum-loss recovery planner (spec.recovery): a pure function from what the operator observed
// and what status.recovery records to the next step. The order is what makes it safe:
//  1. choose the survivor (the answering member with the highest last index) only while no member
//     leads and fewer than a quorum of voters answer (members that answer could still elect);
//  2. wipe every other member of the last configuration (PVC and pod): none can come back with its
//     old data and form a quorum of the old configuration beside the survivor. An empty member
//     refuses to vote until it learns a configuration, so it cannot help the old survivor either;
//  3. restart the survivor with --force-new-cluster-id (at most once per id, whatever restarts);
//  4. once it leads a configuration of its own, add the others back one at a time as learners and
//     promote each when caught up; then the recovery is done and the approval is cleared.
import { quorumOf } from '../build/names.js';
import type { LostMember, RecoveryPhase, RecoverySpec, RecoveryStatus } from '../api/types.js';
import type { ObservedMember, ObservedPod, PlanStep } from './planner.js';
import { emptyLearnerWait } from './planner.js';

/** A member that answered its GET /v1/status this pass. */
export interface AnsweringMember {
  readonly role: string;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly term: number;
}

/** One member of the last configuration the operator saw under a leader (status.members). */
export interface LastKnownMember {
  readonly name: string;
  readonly voter: boolean;
  readonly appliedIndex: number;
}

/** Everything the recovery planner decides from. */
export interface RecoveryInput {
  /** spec.recovery (the approval), undefined when absent. */
  readonly approval: RecoverySpec | undefined;
  /** status.recovery: the recovery under way, or the last one done. */
  readonly record: RecoveryStatus | undefined;
  readonly desiredReplicas: number;
  /** The leader now, undefined when no member reports one. */
  readonly leader: string | undefined;
  readonly commitIndex: number;
  /** The leader's configuration with each member's health (empty without a leader). */
  readonly members: readonly ObservedMember[];
  /** The last configuration seen under a leader. */
  readonly lastKnown: readonly LastKnownMember[];
  readonly answered: ReadonlyMap<string, AnsweringMember>;
  readonly pods: readonly ObservedPod[];
  readonly learnerMaxLagEntries: number;
  readonly memberNameOf: (ordinal: number) => string;
  readonly ordinalOf: (member: string) => number | undefined;
  /** The id a recovery started now gets (the controller derives it from the generation and the time). */
  readonly newId: string;
  readonly nowIso: string;
}

/** What to do about recovery this pass. */
export type RecoveryDecision =
  /** No recovery: the ordinary planner decides. */
  | { readonly kind: 'inactive' }
  /** Remove spec.recovery: the approval was used (record says how) or was not needed (reason). */
  | { readonly kind: 'clearApproval'; readonly reason: string; readonly record?: RecoveryStatus }
  /** The recovery step of this pass (a refusal or wait included) and the record to write. */
  | { readonly kind: 'step'; readonly step: PlanStep; readonly record?: RecoveryStatus };

const refuse = (reason: 'RecoveryRefused' | 'RecoveryInProgress', message: string): PlanStep => ({ kind: 'refuse', reason, message });

function withPhase(r: RecoveryStatus, phase: RecoveryPhase, message: string, extra: Partial<RecoveryStatus> = {}): RecoveryStatus {
  return { ...r, ...extra, phase, message };
}

/**
 * The survivor: of the members of the last configuration that answer and hold a log, the one with
 * the highest last index (then the highest term, a voter before a learner, the lowest ordinal).
 */
export function pickSurvivor(input: Pick<RecoveryInput, 'lastKnown' | 'answered' | 'ordinalOf'>): { name: string; lastIndex: number; term: number } | undefined {
  const candidates = input.lastKnown
    .map((m) => ({ m, a: input.answered.get(m.name) }))
    .filter((x): x is { m: LastKnownMember; a: AnsweringMember } => x.a !== undefined && x.a.lastIndex > 0);
  candidates.sort((x, y) => y.a.lastIndex - x.a.lastIndex || y.a.term - x.a.term || Number(y.m.voter) - Number(x.m.voter)
    || (input.ordinalOf(x.m.name) ?? Infinity) - (input.ordinalOf(y.m.name) ?? Infinity));
  const best = candidates[0];
  return best === undefined ? undefined : { name: best.m.name, lastIndex: best.a.lastIndex, term: best.a.term };
}

/** Decides the recovery step (see the file comment for the order and why). */
export function planRecovery(input: RecoveryInput): RecoveryDecision {
  const running = input.record !== undefined && input.record.phase !== 'Succeeded' ? input.record : undefined;
  if (running === undefined) {
    const approval = input.approval;
    if (approval === undefined) return { kind: 'inactive' };
    if (input.leader !== undefined) return { kind: 'clearApproval', reason: `no recovery needed: ${input.leader} leads` };
    const started = startRecovery(input, approval);
    if (started.kind !== 'started') return { kind: 'step', step: refuse('RecoveryRefused', started.message) };
    return continueRecovery(input, started.record);
  }
  return continueRecovery(input, running);
}

function startRecovery(input: RecoveryInput, approval: RecoverySpec): { kind: 'started'; record: RecoveryStatus } | { kind: 'refused'; message: string } {
  const voters = input.lastKnown.filter((m) => m.voter);
  if (voters.length === 0) return { kind: 'refused', message: 'no configuration was ever seen under a leader (status.members is empty): nothing to recover from' };
  const answering = voters.filter((m) => input.answered.has(m.name));
  if (answering.length >= quorumOf(voters.length)) {
    return { kind: 'refused', message: `${answering.length} of ${voters.length} voters answer (${answering.map((m) => m.name).join(', ')}): they can still elect a leader; recovery is for a quorum lost for good` };
  }
  let survivor = pickSurvivor(input);
  if (approval.survivor !== undefined) {
    const a = input.answered.get(approval.survivor);
    if (!input.lastKnown.some((m) => m.name === approval.survivor) || a === undefined || a.lastIndex === 0) {
      return { kind: 'refused', message: `spec.recovery.survivor ${approval.survivor} is not a member of the last configuration that answers with a log` };
    }
    survivor = { name: approval.survivor, lastIndex: a.lastIndex, term: a.term };
  }
  if (survivor === undefined) return { kind: 'refused', message: 'no member of the last configuration answers with a log: there is no survivor to keep (restore a backup into a new RaftCluster)' };
  const chosen = survivor;
  const lostMembers: LostMember[] = input.lastKnown.filter((m) => m.name !== chosen.name).map((m) => ({ name: m.name, ...(m.appliedIndex > 0 ? { lastKnownAppliedIndex: m.appliedIndex } : {}) }));
  const lastSeen = Math.max(0, ...lostMembers.map((m) => m.lastKnownAppliedIndex ?? 0));
  const entriesAtRisk = Math.max(0, lastSeen - chosen.lastIndex);
  const risk = entriesAtRisk > 0
    ? `the lost members were last seen at applied index ${lastSeen}, ${entriesAtRisk} committed entries beyond the survivor are lost (the client writes among them)`
    : 'no lost member was seen ahead of the survivor (writes after the operator last looked are not known)';
  return {
    kind: 'started',
    record: {
      id: input.newId, phase: 'WipingLostMembers', survivor: chosen.name, survivorLastIndex: chosen.lastIndex, survivorTerm: chosen.term,
      lostMembers, entriesAtRisk, wiped: [], survivorRestarted: false, startedAt: input.nowIso,
      message: `survivor ${chosen.name} (last index ${chosen.lastIndex}, term ${chosen.term}); ${risk}`,
    },
  };
}

function continueRecovery(input: RecoveryInput, r: RecoveryStatus): RecoveryDecision {
  if (r.phase === 'WipingLostMembers') {
    const next = r.lostMembers.find((m) => !r.wiped.includes(m.name) && input.ordinalOf(m.name) !== undefined);
    if (next !== undefined) return { kind: 'step', step: { kind: 'wipeMember', member: next.name }, record: { ...r, wiped: [...r.wiped, next.name] } };
    const forcing = withPhase(r, 'ForcingSurvivor', `restarting ${r.survivor} once with --force-new-cluster-id=${r.id}`, { survivorRestarted: true });
    return { kind: 'step', step: { kind: 'forceNewCluster', member: r.survivor, id: r.id }, record: forcing };
  }
  if (r.phase === 'ForcingSurvivor') {
    const leads = input.leader === r.survivor && input.members.every((m) => m.name === r.survivor || !r.lostMembers.some((l) => l.name === m.name));
    if (!leads) return { kind: 'step', step: refuse('RecoveryInProgress', `waiting for ${r.survivor} to restart and lead a configuration of its own (--force-new-cluster-id=${r.id})`), record: r };
    return grow(input, withPhase(r, 'Growing', `${r.survivor} leads alone; adding the other members back as learners`));
  }
  return grow(input, r);
}

/** Adds the members below spec.replicas back one at a time (learner, promote when caught up). */
function grow(input: RecoveryInput, r: RecoveryStatus): RecoveryDecision {
  if (input.leader === undefined) return { kind: 'step', step: refuse('RecoveryInProgress', `waiting for ${r.survivor} to lead`), record: r };
  const learner = input.members.find((m) => !m.voter);
  if (learner !== undefined) {
    const lag = input.commitIndex - learner.appliedIndex;
    if (learner.healthy && lag <= input.learnerMaxLagEntries) return { kind: 'step', step: { kind: 'promote', member: learner.name }, record: r };
    return { kind: 'step', step: refuse('RecoveryInProgress', `learner ${learner.name} is ${learner.healthy ? `${lag} entries behind` : 'not healthy yet'}`), record: r };
  }
  for (let i = 0; i < input.desiredReplicas; i++) {
    const name = input.memberNameOf(i);
    if (input.members.some((m) => m.name === name)) continue;
    if (!input.pods.some((p) => p.name === name && p.terminating !== true)) {
      return { kind: 'step', step: refuse('RecoveryInProgress', `waiting for the StatefulSet to recreate pod ${name} with an empty volume`), record: r };
    }
    // A wiped member goes back only as the empty process (planner.ts, emptyLearnerWait).
    const wait = r.wiped.includes(name) ? emptyLearnerWait(name, input.answered.get(name)?.lastIndex) : undefined;
    return { kind: 'step', step: wait === undefined ? { kind: 'addLearner', member: name } : refuse('RecoveryInProgress', wait), record: r };
  }
  const done = withPhase(r, 'Succeeded', `recovered from ${r.survivor}: ${input.members.length} voters; ${r.entriesAtRisk > 0 ? `${r.entriesAtRisk} entries seen on lost members beyond index ${r.survivorLastIndex} are lost` : `kept everything up to index ${r.survivorLastIndex}`}`, { finishedAt: input.nowIso });
  return { kind: 'clearApproval', reason: done.message, record: done };
}
