// Pure builders: a RaftCluster spec (plus the few facts the controller decided) → the desired
// owned objects, ready for server-side apply. No I/O here, so every shape is unit-testable.
import type {
  V1Affinity, V1ConfigMap, V1EnvVar, V1PodAntiAffinity, V1PodDisruptionBudget, V1PodSecurityContext, V1Secret, V1SecurityContext, V1Service, V1StatefulSet,
  V1TopologySpreadConstraint, V1Volume, V1VolumeMount,
} from '@kubernetes/client-node';
import type { OwnerReference, RaftCluster } from '../api/types.js';
import {
  AUTH_MOUNT_PATH, AUTH_TOKEN_FILE, AUTH_VOLUME, CLIENT_PORT, DATA_MOUNT_PATH, DATA_VOLUME, PEER_PORT, TLS_MOUNT_PATH, TLS_VOLUME,
  caSecretName, clientScheme, clientServiceName, commonLabels, configMapName, generatedTlsSecretName, MEMBER_ROLE_LABEL, memberName, memberPeerUrl, pdbName,
  peerServiceName, selectorLabels, statefulSetName, tlsSecretName, tokenSecretKey,
} from './names.js';

/** ConfigMap key with the bootstrap voters (`n-0=host:2380,...`). */
export const CM_INITIAL_CLUSTER = 'initial-cluster';
/** ConfigMap key with `new` (bootstrap) or `existing` (members join through POST /v1/members). */
export const CM_INITIAL_CLUSTER_STATE = 'initial-cluster-state';

/** ConfigMap key naming the member that runs --force-new-cluster-id (only during a spec.recovery). */
export const CM_FORCE_NEW_CLUSTER_MEMBER = 'force-new-cluster-member';
/** ConfigMap key with the recovery id passed as --force-new-cluster-id. */
export const CM_FORCE_NEW_CLUSTER_ID = 'force-new-cluster-id';

/** What the controller decided that the spec alone does not say. */
export interface BuildInputs {
  /** StatefulSet replicas now: the planner moves it one member at a time, never the spec directly. */
  readonly statefulSetReplicas: number;
  /** Bootstrap voter list; fixed once the cluster first started (read back from the ConfigMap). */
  readonly initialCluster: string;
  /** `new` until the bootstrap members formed a cluster, `existing` ever after. */
  readonly initialClusterState: 'new' | 'existing';
  /** During a quorum-loss recovery: the survivor and the recovery id (the member's flags, through the ConfigMap). */
  readonly forceNewCluster?: { readonly member: string; readonly id: string } | undefined;
}

/** The owner reference every owned object carries (controller, blocks owner deletion). */
export function ownerReference(cluster: RaftCluster): OwnerReference {
  if (cluster.metadata.uid === undefined) throw new Error(`RaftCluster ${cluster.metadata.name} has no uid (not read from the API server?)`);
  return { apiVersion: cluster.apiVersion, kind: 'RaftCluster', name: cluster.metadata.name, uid: cluster.metadata.uid, controller: true, blockOwnerDeletion: true };
}

function meta(cluster: RaftCluster, name: string): { name: string; namespace: string; labels: Record<string, string>; ownerReferences: OwnerReference[] } {
  return { name, namespace: cluster.metadata.namespace ?? 'default', labels: commonLabels(cluster), ownerReferences: [ownerReference(cluster)] };
}

/** The `--initial-cluster` value for a fresh cluster of `replicas` voters. */
export function initialClusterFor(cluster: RaftCluster, replicas: number): string {
  const parts: string[] = [];
  for (let i = 0; i < replicas; i++) parts.push(`${memberName(cluster, i)}=${memberPeerUrl(cluster, memberName(cluster, i))}`);
  return parts.join(',');
}

/** Headless Service: stable per-member DNS; publishes not-ready pods since peers must meet before any is ready. */
export function buildPeerService(cluster: RaftCluster): V1Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: meta(cluster, peerServiceName(cluster)),
    spec: {
      clusterIP: 'None', publishNotReadyAddresses: true, selector: selectorLabels(cluster),
      ports: [{ name: 'client', port: CLIENT_PORT, targetPort: CLIENT_PORT }, { name: 'peer', port: PEER_PORT, targetPort: PEER_PORT }],
    },
  };
}

/** Client Service: ready members only; followers redirect writes to the leader (307). */
export function buildClientService(cluster: RaftCluster): V1Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: meta(cluster, clientServiceName(cluster)),
    spec: { type: 'ClusterIP', selector: selectorLabels(cluster), ports: [{ name: 'client', port: CLIENT_PORT, targetPort: CLIENT_PORT }] },
  };
}

/** ConfigMap read by the pods' env at start: the bootstrap voters and whether to bootstrap or join. */
export function buildConfigMap(cluster: RaftCluster, inputs: BuildInputs): V1ConfigMap {
  return {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(cluster, configMapName(cluster)),
    data: {
      [CM_INITIAL_CLUSTER]: inputs.initialCluster, [CM_INITIAL_CLUSTER_STATE]: inputs.initialClusterState,
      ...(inputs.forceNewCluster === undefined ? {} : { [CM_FORCE_NEW_CLUSTER_MEMBER]: inputs.forceNewCluster.member, [CM_FORCE_NEW_CLUSTER_ID]: inputs.forceNewCluster.id }),
    },
  };
}

/**
 * PodDisruptionBudget over the pods labelled voter (MEMBER_ROLE_LABEL); `minAvailable` comes from
 * planner/disruption.ts (the live configuration and the step under way), never from spec.replicas.
 */
export function buildPodDisruptionBudget(cluster: RaftCluster, minAvailable: number): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(cluster, pdbName(cluster)),
    spec: { minAvailable, selector: { matchLabels: { ...selectorLabels(cluster), [MEMBER_ROLE_LABEL]: 'voter' } } },
  };
}

/**
 * The raftkv command line of a member (raftkv --help, docs/security.md); the pod name arrives through
 * $(POD_NAME). With spec.tls one certificate (serverAuth + clientAuth) serves peer mTLS and the
 * HTTPS client port; with spec.auth the token file is the Secret key projected as a file.
 */
export function memberArgs(cluster: RaftCluster): string[] {
  const host = `$(POD_NAME).${peerServiceName(cluster)}.${cluster.metadata.namespace ?? 'default'}.svc`;
  const scheme = clientScheme(cluster);
  const args = [
    '--name=$(POD_NAME)',
    `--data-dir=${DATA_MOUNT_PATH}/data`,
    `--listen-client=${scheme}://0.0.0.0:${CLIENT_PORT}`,
    `--advertise-client=${scheme}://${host}:${CLIENT_PORT}`,
    `--listen-peer=0.0.0.0:${PEER_PORT}`,
    `--advertise-peer=${host}:${PEER_PORT}`,
    `--election-timeout-ms=${cluster.spec.raft.electionTimeoutMs}`,
    `--heartbeat-interval-ms=${cluster.spec.raft.heartbeatIntervalMs}`,
    `--snapshot-entries=${cluster.spec.raft.snapshotEntries}`,
    `--cluster-token=${cluster.metadata.name}.${cluster.metadata.namespace ?? 'default'}`,
  ];
  if (cluster.spec.enableFaultInjection === true) args.push('--enable-fault-injection');
  if (cluster.spec.tls?.enabled === true) {
    args.push(
      `--peer-cert=${TLS_MOUNT_PATH}/tls.crt`, `--peer-key=${TLS_MOUNT_PATH}/tls.key`, `--peer-ca=${TLS_MOUNT_PATH}/ca.crt`,
      `--cert=${TLS_MOUNT_PATH}/tls.crt`, `--key=${TLS_MOUNT_PATH}/tls.key`,
    );
  }
  if (cluster.spec.auth !== undefined) args.push(`--auth-token-file=${AUTH_MOUNT_PATH}/${AUTH_TOKEN_FILE}`);
  return args;
}

/** Owner-readable and group-readable (fsGroup): the keys are not world-readable in the pod. */
const SECRET_FILE_MODE = 0o440;

/**
 * Secret volumes and mounts of a member: TLS material and the token file, each when enabled.
 * `tlsKeys` limits the TLS volume to those keys (a backup pod needs `ca.crt` only, never the key).
 */
export function memberSecretVolumes(cluster: RaftCluster, tlsKeys?: readonly string[]): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  if (cluster.spec.tls?.enabled === true) {
    const items = tlsKeys === undefined ? {} : { items: tlsKeys.map((key) => ({ key, path: key })) };
    volumes.push({ name: TLS_VOLUME, secret: { secretName: tlsSecretName(cluster), defaultMode: SECRET_FILE_MODE, ...items } });
    mounts.push({ name: TLS_VOLUME, mountPath: TLS_MOUNT_PATH, readOnly: true });
  }
  const auth = cluster.spec.auth;
  if (auth !== undefined) {
    volumes.push({ name: AUTH_VOLUME, secret: { secretName: auth.tokenSecretName, defaultMode: SECRET_FILE_MODE, items: [{ key: tokenSecretKey(cluster), path: AUTH_TOKEN_FILE }] } });
    mounts.push({ name: AUTH_VOLUME, mountPath: AUTH_MOUNT_PATH, readOnly: true });
  }
  return { volumes, mounts };
}

/**
 * The Secret name the TLS volume of an existing StatefulSet mounts: what the running members use.
 * undefined: no StatefulSet yet; null: the members run without TLS.
 */
export function tlsSecretInEffect(sts: V1StatefulSet | undefined): string | null | undefined {
  if (sts === undefined) return undefined;
  const v = (sts.spec?.template.spec?.volumes ?? []).find((x) => x.name === TLS_VOLUME);
  return v?.secret?.secretName ?? null;
}

/** Labels on the Secrets the operator generates: marks them as its own (it never writes any other Secret). */
export function generatedSecretLabels(cluster: RaftCluster): Record<string, string> {
  return { ...selectorLabels(cluster), 'app.kubernetes.io/managed-by': 'raftkv-operator', 'app.kubernetes.io/component': 'raftkv-tls' };
}

function secretMeta(cluster: RaftCluster, name: string): { name: string; namespace: string; labels: Record<string, string>; ownerReferences: OwnerReference[] } {
  return { name, namespace: cluster.metadata.namespace ?? 'default', labels: generatedSecretLabels(cluster), ownerReferences: [ownerReference(cluster)] };
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

/** The generated cluster CA Secret (`ca.crt`, `ca.key`; Opaque). */
export function buildCaSecret(cluster: RaftCluster, ca: { certPem: string; keyPem: string }): V1Secret {
  return { apiVersion: 'v1', kind: 'Secret', metadata: secretMeta(cluster, caSecretName(cluster)), type: 'Opaque', data: { 'ca.crt': b64(ca.certPem), 'ca.key': b64(ca.keyPem) } };
}

/** The generated member certificate Secret (kubernetes.io/tls: `ca.crt`, `tls.crt`, `tls.key`). */
export function buildMemberTlsSecret(cluster: RaftCluster, caCertPem: string, member: { certPem: string; keyPem: string }): V1Secret {
  return {
    apiVersion: 'v1', kind: 'Secret', metadata: secretMeta(cluster, generatedTlsSecretName(cluster)), type: 'kubernetes.io/tls',
    data: { 'ca.crt': b64(caCertPem), 'tls.crt': b64(member.certPem), 'tls.key': b64(member.keyPem) },
  };
}

function memberEnv(cluster: RaftCluster): V1EnvVar[] {
  const cm = configMapName(cluster);
  return [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'RAFTKV_INITIAL_CLUSTER', valueFrom: { configMapKeyRef: { name: cm, key: CM_INITIAL_CLUSTER } } },
    { name: 'RAFTKV_INITIAL_CLUSTER_STATE', valueFrom: { configMapKeyRef: { name: cm, key: CM_INITIAL_CLUSTER_STATE } } },
    // Present only during a quorum-loss recovery; the daemon acts on them once, on the named member.
    { name: 'RAFTKV_FORCE_NEW_CLUSTER_ID', valueFrom: { configMapKeyRef: { name: cm, key: CM_FORCE_NEW_CLUSTER_ID, optional: true } } },
    { name: 'RAFTKV_FORCE_NEW_CLUSTER_MEMBER', valueFrom: { configMapKeyRef: { name: cm, key: CM_FORCE_NEW_CLUSTER_MEMBER, optional: true } } },
  ];
}

/** uid/gid of the image's non-root user (Dockerfile `USER 1000:1000`). */
export const MEMBER_UID = 1000;
/** emptyDir at /tmp: the root file system is read-only, the daemon writes only to its data volume and here. */
export const TMP_VOLUME = 'tmp';
/** Bound of the /tmp emptyDir. */
export const TMP_SIZE_LIMIT = '64Mi';
/** Environment variables the operator sets on the raftkv container (spec.pod.env may not use them). */
export const RESERVED_ENV = ['POD_NAME', 'RAFTKV_INITIAL_CLUSTER', 'RAFTKV_INITIAL_CLUSTER_STATE', 'RAFTKV_FORCE_NEW_CLUSTER_ID', 'RAFTKV_FORCE_NEW_CLUSTER_MEMBER'] as const;

/** Container securityContext of every member container: no privilege, nothing writable but the mounts. */
export const MEMBER_CONTAINER_SECURITY: V1SecurityContext = { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } };

/** Pod securityContext of the members. */
export function memberPodSecurity(): V1PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: MEMBER_UID, runAsGroup: MEMBER_UID, fsGroup: MEMBER_UID, seccompProfile: { type: 'RuntimeDefault' } };
}

/**
 * spec.affinity as given; without a podAntiAffinity of its own, one on kubernetes.io/hostname per
 * spec.memberAntiAffinity (Preferred by default: members spread over nodes where there are enough;
 * Required: never two on one node; None).
 */
export function memberAffinity(cluster: RaftCluster): V1Affinity | undefined {
  const user = cluster.spec.affinity ?? {};
  const mode = cluster.spec.memberAntiAffinity ?? 'Preferred';
  if (user.podAntiAffinity !== undefined || mode === 'None') return Object.keys(user).length === 0 ? undefined : user;
  const term = { labelSelector: { matchLabels: selectorLabels(cluster) }, topologyKey: 'kubernetes.io/hostname' };
  const podAntiAffinity: V1PodAntiAffinity = mode === 'Required'
    ? { requiredDuringSchedulingIgnoredDuringExecution: [term] }
    : { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] };
  return { ...user, podAntiAffinity };
}

/** spec.topologySpreadConstraints, each without a labelSelector given the member selector. */
export function memberTopologySpread(cluster: RaftCluster): V1TopologySpreadConstraint[] | undefined {
  const list = cluster.spec.topologySpreadConstraints;
  if (list === undefined || list.length === 0) return undefined;
  return list.map((c) => ({ ...c, labelSelector: c.labelSelector ?? { matchLabels: selectorLabels(cluster) } }));
}

/**
 * StatefulSet of the members. OnDelete updates: the operator replaces pods itself, followers
 * first and the leader last after a transfer. Parallel pod management: bootstrap members must
 * start together (none is ready before a quorum exists); scaling stays one at a time because the
 * operator moves `replicas` by one. PVCs of scaled-away members are deleted so a later member with
 * the same ordinal joins fresh instead of resuming a stale membership. Placement and the
 * spec.pod additions come from the spec; the hardening (non-root, read-only root, no
 * capabilities, RuntimeDefault seccomp) is not optional.
 */
export function buildStatefulSet(cluster: RaftCluster, inputs: BuildInputs): V1StatefulSet {
  const labels = selectorLabels(cluster);
  const storage = cluster.spec.storage;
  const secrets = memberSecretVolumes(cluster);
  const extra = cluster.spec.pod ?? {};
  // The kubelet's HTTPS probes do not verify the certificate; /readyz and /healthz stay open with auth on.
  const scheme = clientScheme(cluster) === 'https' ? { scheme: 'HTTPS' } : {};
  const container = {
    name: 'raftkv',
    image: cluster.spec.image,
    imagePullPolicy: cluster.spec.imagePullPolicy ?? 'IfNotPresent',
    args: [...memberArgs(cluster), ...(extra.extraArgs ?? [])],
    env: [...memberEnv(cluster), ...(extra.env ?? [])],
    ports: [{ name: 'client', containerPort: CLIENT_PORT }, { name: 'peer', containerPort: PEER_PORT }],
    readinessProbe: { httpGet: { path: '/readyz', port: CLIENT_PORT, ...scheme }, periodSeconds: 2, failureThreshold: 3 },
    livenessProbe: { httpGet: { path: '/healthz', port: CLIENT_PORT, ...scheme }, periodSeconds: 10, failureThreshold: 6, initialDelaySeconds: 10 },
    volumeMounts: [{ name: DATA_VOLUME, mountPath: DATA_MOUNT_PATH }, ...secrets.mounts, { name: TMP_VOLUME, mountPath: '/tmp' }],
    securityContext: MEMBER_CONTAINER_SECURITY,
    ...(cluster.spec.resources === undefined ? {} : { resources: cluster.spec.resources }),
  };
  const affinity = memberAffinity(cluster);
  const spread = memberTopologySpread(cluster);
  const placement = {
    ...(affinity === undefined ? {} : { affinity }),
    ...(spread === undefined ? {} : { topologySpreadConstraints: spread }),
    ...(cluster.spec.tolerations === undefined || cluster.spec.tolerations.length === 0 ? {} : { tolerations: cluster.spec.tolerations }),
    ...(cluster.spec.nodeSelector === undefined || Object.keys(cluster.spec.nodeSelector).length === 0 ? {} : { nodeSelector: cluster.spec.nodeSelector }),
    ...(cluster.spec.priorityClassName === undefined ? {} : { priorityClassName: cluster.spec.priorityClassName }),
  };
  return {
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta(cluster, statefulSetName(cluster)),
    spec: {
      replicas: inputs.statefulSetReplicas,
      serviceName: peerServiceName(cluster),
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'OnDelete' },
      persistentVolumeClaimRetentionPolicy: { whenScaled: 'Delete', whenDeleted: 'Retain' },
      selector: { matchLabels: labels },
      template: {
        metadata: {
          labels: { ...(extra.labels ?? {}), ...commonLabels(cluster) },
          ...(extra.annotations === undefined || Object.keys(extra.annotations).length === 0 ? {} : { annotations: extra.annotations }),
        },
        spec: {
          // SIGTERM hands leadership off and flushes within 10 s (`raftkv --help`).
          terminationGracePeriodSeconds: 15,
          securityContext: memberPodSecurity(),
          ...placement,
          containers: [container],
          volumes: [...secrets.volumes, { name: TMP_VOLUME, emptyDir: { sizeLimit: TMP_SIZE_LIMIT } }],
        },
      },
      volumeClaimTemplates: [{
        apiVersion: 'v1', kind: 'PersistentVolumeClaim',
        metadata: { name: DATA_VOLUME, labels },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: storage.size } },
          ...(storage.storageClassName === undefined ? {} : { storageClassName: storage.storageClassName }),
        },
      }],
    },
  };
}
