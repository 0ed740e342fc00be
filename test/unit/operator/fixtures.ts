// The RaftCluster the operator unit tests build objects from: 3 members in namespace prod.
import type { RaftCluster } from '../../../operator/src/api/types.js';

export function cluster(over: Partial<RaftCluster['spec']> = {}): RaftCluster {
  return {
    apiVersion: 'raftkv.dev/v1alpha1', kind: 'RaftCluster',
    metadata: { name: 'kv', namespace: 'prod', uid: 'uid-1', generation: 1 },
    spec: { replicas: 3, image: 'raftkv:1', storage: { size: '2Gi' }, raft: { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotEntries: 500 }, ...over },
  };
}

/** StatefulSet inputs of a bootstrapping 3-member cluster. */
export const inputs = { statefulSetReplicas: 3, initialCluster: 'x', initialClusterState: 'new' } as const;
