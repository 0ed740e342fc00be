// The eviction verdict (pure): may this Eviction of a pod go ahead now? Only the pod of a member that
// leads is held back, and only while leadership can move (another voter exists); everything else is
// left to the PodDisruptionBudget. The webhook (eviction-webhook.ts) gathers the facts and carries
// out the transfer the verdict asks for.

/** Labels every member pod carries (build/names.ts selectorLabels + commonLabels). */
const MEMBER_POD_LABELS = { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/managed-by': 'raftkv-operator' } as const;
/** Label naming the RaftCluster of a member pod. */
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';

/** What the webhook found out about the pod being evicted. */
export interface EvictionFacts {
  readonly pod: string;
  readonly namespace: string;
  /** The pod's labels; undefined when the pod does not exist. */
  readonly podLabels: Readonly<Record<string, string>> | undefined;
  /** Whether its RaftCluster exists and is paused (undefined: no such RaftCluster). */
  readonly cluster: { readonly paused: boolean } | undefined;
  /** The member's own GET /v1/status; undefined when it did not answer. */
  readonly member: { readonly role: string; readonly voters: number } | undefined;
  /** status.disruptionsAllowed of the cluster's PodDisruptionBudget; undefined when unknown. */
  readonly pdbDisruptionsAllowed?: number | undefined;
}

/** The answer. A refusal is a 429, which `kubectl drain` and the eviction API clients retry. */
export type EvictionVerdict =
  | { readonly allowed: true; readonly reason: string }
  | { readonly allowed: false; readonly code: 429; readonly message: string; readonly transferLeadership: true };

/** The RaftCluster a pod belongs to, when it is a raftkv member pod. */
export function memberClusterOf(labels: Readonly<Record<string, string>> | undefined): string | undefined {
  if (labels === undefined) return undefined;
  for (const [k, v] of Object.entries(MEMBER_POD_LABELS)) if (labels[k] !== v) return undefined;
  const instance = labels[INSTANCE_LABEL];
  return instance === undefined || instance === '' ? undefined : instance;
}

/** Decides one eviction (see the file comment). */
export function evictionVerdict(f: EvictionFacts): EvictionVerdict {
  const clusterName = memberClusterOf(f.podLabels);
  if (f.podLabels === undefined) return { allowed: true, reason: 'no such pod' };
  if (clusterName === undefined) return { allowed: true, reason: 'not a raftkv member pod' };
  if (f.cluster === undefined) return { allowed: true, reason: `RaftCluster ${f.namespace}/${clusterName} not found` };
  if (f.cluster.paused) return { allowed: true, reason: `RaftCluster ${f.namespace}/${clusterName} is paused: the operator leaves its pods alone` };
  if (f.member === undefined) return { allowed: true, reason: `member ${f.pod} does not answer: it serves nothing as leader` };
  if (f.member.role !== 'leader') return { allowed: true, reason: `member ${f.pod} is a ${f.member.role}` };
  if (f.member.voters <= 1) return { allowed: true, reason: `member ${f.pod} is the only voter: leadership cannot move (the PodDisruptionBudget decides)` };
  // The PDB will refuse this eviction anyway: moving leadership for it would only cost an election
  // per retry (a blocked drain retries every pod every 5 s), so the PDB answers alone.
  if (f.pdbDisruptionsAllowed === 0) return { allowed: true, reason: `the PodDisruptionBudget allows no disruption now: it refuses this eviction, and leadership stays on ${f.pod}` };
  return {
    allowed: false, code: 429, transferLeadership: true,
    message: `pod ${f.pod} runs the leader of RaftCluster ${f.namespace}/${clusterName}: the raftkv operator is moving leadership to another voter first; retry the eviction in a few seconds (kubectl drain retries by itself)`,
  };
}
