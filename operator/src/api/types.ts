// TypeScript shapes of the raftkv.dev/v1alpha1 custom resources (charts/raftkv-operator/crds). They mirror
// k8s/crds/*.yaml; the CRD schemas apply the defaults, so a spec read from the API server has them.

import type { V1Affinity, V1EnvVar, V1Toleration, V1TopologySpreadConstraint } from '@kubernetes/client-node';

/** API group of every raftkv custom resource. */
export const GROUP = 'raftkv.dev';
/** The one served version. */
export const VERSION = 'v1alpha1';
/** `apiVersion` field value of raftkv resources. */
export const API_VERSION = `${GROUP}/${VERSION}`;
/** Field manager for every server-side apply and status write the operator makes. */
export const FIELD_MANAGER = 'raftkv-operator';
/** Finalizer the operator puts on RaftClusters so it can clean up before they go. */
export const FINALIZER = 'raftkv.dev/cleanup';

/**
 * Annotation that pauses reconciliation of one RaftCluster: with value PAUSE_VALUE the operator
 * makes no write for it (owned objects, pods, members, PDB) except the status `Paused` condition
 * saying so (and one Event when it pauses). Deleting a paused RaftCluster still runs its cleanup.
 */
export const PAUSE_ANNOTATION = 'raftkv.dev/reconcile';
/** The PAUSE_ANNOTATION value that pauses. */
export const PAUSE_VALUE = 'paused';

/**
 * Annotation asking the operator to replace one member (value: its name, e.g. `kv-1`): remove it
 * from the configuration, delete its PVC and pod so it starts empty, add it back as a learner and
 * promote it. The operator removes the annotation when done (status.replacement shows progress).
 */
export const REPLACE_ANNOTATION = 'raftkv.dev/replace-member';

/** True when `metadata` carries the pause annotation. */
export function isPaused(metadata: { annotations?: Record<string, string> }): boolean {
  return metadata.annotations?.[PAUSE_ANNOTATION] === PAUSE_VALUE;
}

/** Kubernetes object metadata, only the fields the operator reads or writes. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

/** metav1.OwnerReference. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** Container resource requests/limits, as in core/v1. */
export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

/**
 * How a change of spec.storage reaches the members' volumes (docs/operator.md, "Changing storage"):
 * `Auto` expands the PVCs in place when their StorageClass allows it and otherwise replaces the
 * members one by one through learners (new PVCs from the new template, data copied from the
 * leader); `InPlace` only ever expands in place (anything else is refused); `ReplaceMembers`
 * always replaces the members, also where in-place expansion would work.
 */
export type StorageResizePolicy = 'Auto' | 'InPlace' | 'ReplaceMembers';

/** The resize policies the CRD accepts. */
export const STORAGE_RESIZE_POLICIES: readonly StorageResizePolicy[] = ['Auto', 'InPlace', 'ReplaceMembers'];

/** RaftCluster.spec.storage: each member's data volume. */
export interface StorageSpec {
  size: string;
  storageClassName?: string;
  /** Default `Auto` (the CRD schema applies it). */
  resizePolicy?: StorageResizePolicy;
}

/** RaftCluster.spec (defaults are applied by the CRD schema). */
export interface RaftClusterSpec {
  /** Voting members; odd, 1..9 (the CRD enforces it). */
  replicas: number;
  /** raftkv container image. */
  image: string;
  imagePullPolicy?: string;
  storage: StorageSpec;
  resources?: ResourceRequirements;
  raft: { electionTimeoutMs: number; heartbeatIntervalMs: number; snapshotEntries: number };
  /** Start members with --enable-fault-injection so RaftChaosDrills can partition them. */
  enableFaultInjection?: boolean;
  /** Scheduled backups (a CronJob running `raftctl snapshot save`) to a PVC or S3, and continuous log shipping; docs/backups.md. */
  backup?: BackupSpec;
  /** Start a NEW cluster from a backup file; only at creation (the CRD refuses adding or changing it later). */
  restore?: RestoreSpec;
  /** TLS between members (mTLS) and on the client port; fixed at creation (the CRD refuses a change). */
  tls?: TlsSpec;
  /** Bearer-token authentication on the client port (the daemon's --auth-token-file). */
  auth?: AuthSpec;
  /**
   * Pod affinity as in core/v1, used as given. Without a podAntiAffinity of its own the operator
   * adds one spreading members over nodes per memberAntiAffinity.
   */
  affinity?: V1Affinity;
  /** Default anti-affinity on kubernetes.io/hostname: Preferred (default), Required, or None. */
  memberAntiAffinity?: 'Preferred' | 'Required' | 'None';
  /** As in core/v1; a constraint without labelSelector gets the member pods' selector. */
  topologySpreadConstraints?: V1TopologySpreadConstraint[];
  tolerations?: V1Toleration[];
  nodeSelector?: Record<string, string>;
  priorityClassName?: string;
  /** Extra pod labels, annotations, env and daemon flags (docs/operator.md). */
  pod?: PodOverrides;
  /**
   * Replace a member (as REPLACE_ANNOTATION does) once it has been unhealthy this long while the
   * others keep a quorum; 0 = never. Default 900 (the CRD applies it).
   */
  replaceUnhealthyAfterSeconds?: number;
  /**
   * Approval of a quorum-loss recovery (docs/operator.md): rebuild the cluster from one surviving
   * member. Acted on only while no member leads and fewer than a quorum of voters answer; the
   * operator clears it when the recovery is done (or was not needed), so one approval is used once.
   */
  recovery?: RecoverySpec;
  /** What RaftChaosDrills may do to this cluster. */
  chaos?: ChaosSpec;
}

/** RaftCluster.spec.chaos. */
export interface ChaosSpec {
  /**
   * Allow the drills that inject a failure (DESTRUCTIVE_DRILL_ACTIONS: kill a pod ungracefully,
   * cut a member off). Default false: such a drill fails at once and injects nothing.
   */
  allowDestructive?: boolean;
}

/** RaftCluster.spec.recovery. */
export interface RecoverySpec {
  /**
   * The approval: true lets the operator wipe the lost members, start the survivor once with
   * `--force-new-cluster` and grow the cluster back. Writes that only the lost members held are lost.
   */
  forceNewCluster: boolean;
  /** The member to keep; default: of the members that answer, the one with the highest last index. */
  survivor?: string;
}

/** Where a quorum-loss recovery is. */
export type RecoveryPhase = 'WipingLostMembers' | 'ForcingSurvivor' | 'Growing' | 'Succeeded';

/** A lost member as the operator last saw it. */
export interface LostMember {
  name: string;
  /** The applied index it last reported (status.members), when the operator ever saw one. */
  lastKnownAppliedIndex?: number;
}

/** RaftCluster.status.recovery: the recovery under way, or the last one (kept as the record). */
export interface RecoveryStatus {
  /** Passed to the survivor as --force-new-cluster-id, so the rewrite happens once whatever restarts. */
  id: string;
  phase: RecoveryPhase;
  survivor: string;
  /** The survivor's last log index and term when it was chosen: everything up to it is kept. */
  survivorLastIndex: number;
  survivorTerm: number;
  /** Every other member of the last configuration: wiped and added back empty. */
  lostMembers: LostMember[];
  /**
   * Committed entries the lost members were last seen to have applied beyond the survivor's last
   * index: they are lost (the client writes among them; the rest are a new leader's no-op or
   * configuration entries). 0: none known. Entries committed after the operator's last look are
   * not counted.
   */
  entriesAtRisk: number;
  /** Lost members whose PVC and pod were deleted. */
  wiped: string[];
  /** The survivor's pod was deleted so it restarts with --force-new-cluster-id. */
  survivorRestarted: boolean;
  message: string;
  startedAt: string;
  finishedAt?: string;
}

/** RaftCluster.spec.pod: additions to the member pods (the operator's own keys cannot be overridden; the CRD refuses them). */
export interface PodOverrides {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Added to the raftkv container's env. */
  env?: V1EnvVar[];
  /** Appended to the raftkv command line (flags the operator sets itself are refused). */
  extraArgs?: string[];
}

/** A Secret key holding one value (core/v1 SecretKeySelector without `optional`). */
export interface SecretKeyRef {
  name: string;
  key: string;
}

/**
 * How to reach an S3 or S3-compatible store. Every field is optional: what is absent comes from
 * the standard AWS environment of the pod (a role, IRSA, spec.pod.env).
 */
export interface S3Connection {
  /** S3-compatible endpoint (`https://minio.example:9000`); absent: AWS. Becomes AWS_ENDPOINT_URL_S3. */
  endpoint?: string;
  /** Becomes AWS_REGION (default us-east-1 with an endpoint). */
  region?: string;
  /** Bucket in the path instead of the host name (default: true with an endpoint, false for AWS). */
  forcePathStyle?: boolean;
  /** Secret with the access key pair (keys default to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). */
  credentialsSecret?: { name: string; accessKeyIdKey?: string; secretAccessKeyKey?: string };
  /** A CA bundle (PEM) for an https endpoint signed by a private CA; becomes AWS_CA_BUNDLE. */
  caSecret?: { name: string; key?: string };
}

/** RaftCluster.spec.backup.s3: where the backups of this cluster go. */
export interface S3BackupTarget extends S3Connection {
  bucket: string;
  /** Key prefix ending in `/`; default `<namespace>/<cluster>/`. Snapshots and the shipped log share it. */
  prefix?: string;
}

/** RaftCluster.spec.backup. */
export interface BackupSpec {
  /** Cron schedule of the CronJob (`0 * * * *`, `@daily`), in UTC. */
  schedule: string;
  /** Backups kept (in the volume or under the S3 prefix); older ones are deleted after each successful backup (1..1000, default 5). */
  keep: number;
  /** Also keep every backup taken within this long of the newest (`7d`, `12h`; raftctl --keep-within). */
  keepWithin?: string;
  /** The `<cluster>-backup` PVC the operator creates when claimName is not given (size default 1Gi). */
  storage?: { size: string; storageClassName?: string };
  /** An existing PVC to write backups into instead (the operator never creates or deletes it). */
  claimName?: string;
  /** Write the backups to this S3 prefix instead of a PVC (excludes storage and claimName). */
  s3?: S3BackupTarget;
  /**
   * With s3: every member runs with `--backup-ship-to` the same prefix, so the committed log is
   * shipped continuously and a restore can reach any revision (docs/backups.md). Default false.
   */
  continuous?: boolean;
  /**
   * Scheduled restore drills (needs s3): at each time of `schedule` the operator creates a
   * RestoreBackup RaftChaosDrill, and BackupFresh then counts only backups a drill restored.
   */
  restoreDrill?: { schedule: string };
  /** Pause the schedule (the CronJob's suspend). */
  suspend?: boolean;
}

/** RaftCluster.spec.restore.s3: a backup prefix or object URL and how to reach it. */
export interface S3RestoreSource extends S3Connection {
  /** `s3://bucket/prefix/` (the latest state there; with a shipped log, point-in-time) or `s3://bucket/prefix/<object>`. */
  url: string;
}

/**
 * RaftCluster.spec.restore: every bootstrap member starts from `file` on PVC `claimName`, or from
 * an S3 backup (`s3`, optionally at `toRevision` or `toTime`).
 */
export interface RestoreSpec {
  claimName?: string;
  /** Path of the backup inside the PVC (relative, no `..`). */
  file?: string;
  s3?: S3RestoreSource;
  /** Point in time: the exact state at this KV revision (needs s3 with a prefix URL). */
  toRevision?: number;
  /** Point in time: RFC 3339 time; the state after the last write at or before it (needs s3 with a prefix URL). */
  toTime?: string;
}

/** RaftCluster.status.backup, copied from the CronJob's status. */
export interface BackupStatus {
  cronJob: string;
  /** The PVC backups go to (absent with s3). */
  claimName?: string;
  /** The S3 prefix backups (and the shipped log) go to, as a URL (with s3). */
  target?: string;
  /** The last backup the operator counts for BackupFresh: the newest CronJob success or RaftBackup. */
  lastGoodBackupTime?: string;
  /** The newest backup a RestoreBackup drill restored and verified, and when. */
  lastVerifiedBackup?: VerifiedBackupStatus & { verifiedAt: string; drill: string };
  /** Continuous shipping as the leader reports it (spec.backup.continuous). */
  shipping?: { healthy: boolean; lagSeconds: number; shippedRevision: number; lastError?: string };
  suspended?: boolean;
  lastScheduleTime?: string;
  lastSuccessfulTime?: string;
  /** Backup Jobs running now. */
  active?: number;
}

/** RaftCluster.spec.tls. */
export interface TlsSpec {
  /** Default false. */
  enabled: boolean;
  /**
   * A Secret with `ca.crt`, `tls.crt`, `tls.key` used as is (the user renews it). Absent with
   * enabled: the operator generates a cluster CA (`<cluster>-ca`) and the member certificate
   * (`<cluster>-tls`) and renews the latter.
   */
  secretName?: string;
}

/** RaftCluster.spec.auth. */
export interface AuthSpec {
  /** Secret holding the token file (docs/security.md format); it must have an `admin` token entry for the operator. */
  tokenSecretName: string;
  /** Key of that Secret; default `tokens`. */
  tokenSecretKey?: string;
}

/** Where the member TLS material comes from, as reported in status.security.tls. */
export type TlsMode = 'Disabled' | 'OperatorCA' | 'UserSecret';

/** RaftCluster.status.security: what is in effect (written once the material was checked). */
export interface SecurityStatus {
  tls: TlsMode;
  /** Secret mounted into members (`ca.crt`, `tls.crt`, `tls.key`). */
  tlsSecretName?: string;
  /** notAfter of the member certificate now in the Secret (RFC 3339). */
  certificateNotAfter?: string;
  auth: 'Disabled' | 'Token';
  /** Name of the token-file entry the operator authenticates with (the name, never the token). */
  authTokenEntry?: string;
}

/** One member as the operator last saw it (from the members' GET /v1/status). */
export interface MemberStatus {
  name: string;
  /** What the member says (leader, follower, learner, candidate), `unreachable` when it did not answer. */
  role: string;
  voter: boolean;
  healthy: boolean;
  appliedIndex: number;
  /** Since when it has been unhealthy (absent while healthy). */
  unhealthySince?: string;
}

/** Lifecycle summary of a RaftCluster. */
export type RaftClusterPhase = 'Pending' | 'Bootstrapping' | 'Running' | 'Scaling' | 'Upgrading' | 'Degraded' | 'Deleting';

/** RaftCluster.status, written only by the operator through the status subresource. */
export interface RaftClusterStatus {
  phase?: RaftClusterPhase;
  replicas?: number;
  readyReplicas?: number;
  leader?: string;
  term?: number;
  members?: MemberStatus[];
  conditions?: Condition[];
  observedGeneration?: number;
  /** Label selector of the member pods (for the scale subresource). */
  selector?: string;
  /** Present while spec.backup is. */
  backup?: BackupStatus;
  /** TLS and authentication in effect. */
  security?: SecurityStatus;
  /**
   * Set while no member reports a leader: `members` is then the last configuration seen under a
   * leader (roles and indexes from whoever still answers), not a live view; the time quorum was lost.
   */
  membersStaleSince?: string;
  /** The last failed reconcile pass (kept after recovery; the ReconcileError condition says whether it still fails). */
  lastError?: ReconcileErrorStatus;
  /** A member replacement under way (REPLACE_ANNOTATION). */
  replacement?: { member: string; wiped: boolean; startedAt: string };
  /** The quorum-loss recovery under way, or the last one done (spec.recovery). */
  recovery?: RecoveryStatus;
}

/** RaftCluster.status.lastError. */
export interface ReconcileErrorStatus {
  /** When it was recorded (refreshed at most once a minute while the same error repeats). */
  time: string;
  /** Reconcile step that failed (`apply`, `act`, ...). */
  step: string;
  message: string;
}

/** The RaftCluster custom resource. */
export interface RaftCluster {
  apiVersion: string;
  kind: 'RaftCluster';
  metadata: ObjectMeta;
  spec: RaftClusterSpec;
  status?: RaftClusterStatus;
}

/** What a drill does to the cluster. */
/** RestoreBackup: restore the newest backup of spec.backup.s3 into a scratch cluster and verify it (controllers/restore-drill.ts). */
export type DrillAction = 'KillLeader' | 'KillFollower' | 'PartitionLeader' | 'IsolateFollower' | 'RollingRestart' | 'RestoreBackup';
/** Every DrillAction, for validation and the CRD enum. */
export const DRILL_ACTIONS: readonly DrillAction[] = ['KillLeader', 'KillFollower', 'PartitionLeader', 'IsolateFollower', 'RollingRestart', 'RestoreBackup'];

/**
 * Actions that inject a failure (a pod killed, a member cut off from its peers) and need the
 * RaftCluster's spec.chaos.allowDestructive. RollingRestart is an ordinary graceful restart
 * (each member hands over on SIGTERM, the leader goes last), as a rollout does.
 */
export const DESTRUCTIVE_DRILL_ACTIONS: readonly DrillAction[] = ['KillLeader', 'KillFollower', 'PartitionLeader', 'IsolateFollower'];

/** RaftChaosDrill.spec. */
export interface RaftChaosDrillSpec {
  clusterRef: { name: string };
  action: DrillAction;
  /** Go-style duration (`30s`, `2m`, `500ms`): how long a fault lasts / the probe keeps running after it. */
  duration: string;
  probe: { writesPerSecond: number };
  expect: { maxUnavailableSeconds: number };
}

/** Drill lifecycle. */
export type DrillPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Aborted';

/** A backup a RestoreBackup drill restored into a scratch cluster and checked. */
export interface VerifiedBackupStatus {
  url: string;
  revision: number;
  keys: number;
  sha256: string;
  bytes: number;
  /** When the backup was taken. */
  takenAt: string;
  scratchCluster: string;
}

/** RaftChaosDrill.status. */
export interface RaftChaosDrillStatus {
  phase?: DrillPhase;
  startedAt?: string;
  finishedAt?: string;
  leaderBefore?: string;
  leaderAfter?: string;
  termBefore?: number;
  termAfter?: number;
  unavailableMs?: number;
  acknowledgedWrites?: number;
  lostWrites?: number;
  /** RestoreBackup: the backup the drill restored and verified (checksum, revision, key count). */
  verifiedBackup?: VerifiedBackupStatus;
  message?: string;
  conditions?: Condition[];
  observedGeneration?: number;
}

/** The RaftChaosDrill custom resource. */
export interface RaftChaosDrill {
  apiVersion: string;
  kind: 'RaftChaosDrill';
  metadata: ObjectMeta;
  spec: RaftChaosDrillSpec;
  status?: RaftChaosDrillStatus;
}

/** RaftBackup.spec: one on-demand backup of a RaftCluster to its spec.backup.s3 prefix. */
export interface RaftBackupSpec {
  clusterRef: { name: string };
}

/** RaftBackup lifecycle. */
export type RaftBackupPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** RaftBackup.status, written by the operator. */
export interface RaftBackupStatus {
  phase?: RaftBackupPhase;
  startedAt?: string;
  finishedAt?: string;
  /** Where the backup is: `s3://bucket/prefix/snapshot-....snap`. */
  url?: string;
  /** The member that served it. */
  member?: string;
  /** Raft index and KV revision of the state saved. */
  index?: number;
  revision?: number;
  sizeBytes?: number;
  /** SHA-256 (hex) of the backup, verified on the way and recorded on the object. */
  sha256?: string;
  durationMs?: number;
  /** Attempts made (a failed attempt is retried up to RAFTBACKUP_MAX_ATTEMPTS). */
  attempts?: number;
  message?: string;
  observedGeneration?: number;
}

/** The RaftBackup custom resource. */
export interface RaftBackup {
  apiVersion: string;
  kind: 'RaftBackup';
  metadata: ObjectMeta;
  spec: RaftBackupSpec;
  status?: RaftBackupStatus;
}

/**
 * Parses a Go-style duration (`1h2m3s`, `500ms`, `1.5s`) into milliseconds.
 * @throws RangeError on anything else, so a bad spec becomes a clear drill failure.
 */
export function parseDurationMs(text: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (unitMs[m[2] ?? ''] ?? 0);
    matched += m[0].length;
  }
  if (text.length === 0 || matched !== text.length) throw new RangeError(`bad duration ${JSON.stringify(text)} (want e.g. 30s, 2m, 500ms)`);
  return Math.round(total);
}
