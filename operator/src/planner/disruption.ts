// The PodDisruptionBudget from the live raft configuration (pure). The PDB selects only pods
// labelled voter, and its minAvailable is chosen so that whatever set of evictions it allows, the
// voters left keep a quorum of the configuration in force now AND of the one the planned step is
// about to create (promote adds a voter, removing a voter drops one). Learners and pods that are
// not members yet are not covered: evicting them never costs a quorum.
import { quorumOf } from '../build/names.js';
import type { ObservedMember, PlanStep } from './planner.js';

/** Value of the role label on a member pod. */
export type MemberPodRole = 'voter' | 'learner';

/** What the PDB and the pod role labels should be for one pass. */
export interface DisruptionBudget {
  /** Role label per member pod; pods of non-members get no label. */
  readonly roles: ReadonlyMap<string, MemberPodRole>;
  /** minAvailable over the pods labelled voter. */
  readonly minAvailable: number;
  /** One voter and no change under way: the PDB lets a drain evict it (the cluster is down meanwhile). */
  readonly singleVoter: boolean;
}

/**
 * Why `minAvailable = max over the configurations C in force during the step of q(C) + |U \ C|`,
 * U being every pod labelled voter (the union of both configurations): the PDB guarantees at least
 * minAvailable ready pods in U, so at least minAvailable - |U \ C| of them are voters of C, which is
 * q(C). Pods missing the label only make the guarantee stronger (they are outside U).
 *
 * @param members the leader's configuration this pass (empty when no leader was found: then the
 *   caller keeps the PDB and labels as they are, since nothing is known).
 */
export function disruptionBudget(members: readonly ObservedMember[], step: PlanStep): DisruptionBudget {
  const now = new Set(members.filter((m) => m.voter).map((m) => m.name));
  const next = new Set(now);
  if (step.kind === 'promote') next.add(step.member);
  if (step.kind === 'removeMember') next.delete(step.member);
  const union = new Set([...now, ...next]);
  const roles = new Map<string, MemberPodRole>();
  for (const m of members) roles.set(m.name, union.has(m.name) ? 'voter' : 'learner');
  const need = (config: ReadonlySet<string>): number => (config.size === 0 ? 0 : quorumOf(config.size) + [...union].filter((n) => !config.has(n)).length);
  const singleVoter = union.size === 1;
  const minAvailable = singleVoter ? 0 : Math.max(need(now), need(next));
  return { roles, minAvailable, singleVoter };
}
