// RaftCluster reconciler: load → deletion/finalizer → observe members → plan one step → apply owned
// objects → perform the member call → write status. Each pass does at most one membership change
// and then requeues, so the next pass re-observes before anything else happens.
import type { V1ConfigMap, V1CronJob, V1PersistentVolumeClaim, V1Pod, V1PodDisruptionBudget, V1StatefulSet, V1StorageClass } from '@kubernetes/client-node';
import type { BackupStatus, Condition, MemberStatus, RaftBackup, RaftChaosDrill, RaftCluster, VerifiedBackupStatus, RaftClusterPhase, RaftClusterStatus, RestoreSpec, SecurityStatus } from '../api/types.js';
import { API_VERSION, FINALIZER, PAUSE_ANNOTATION, PAUSE_VALUE, REPLACE_ANNOTATION, isPaused } from '../api/types.js';
import type { BuildInputs } from '../build/objects.js';
import {
  buildClientService, buildConfigMap, buildPeerService, buildPodDisruptionBudget, buildStatefulSet, CM_INITIAL_CLUSTER,
  CM_INITIAL_CLUSTER_STATE, initialClusterFor, ownerReference, tlsSecretInEffect,
} from '../build/objects.js';
import { backupClaimName, backupName, buildBackupCronJob, buildBackupPvc, restoreSourceText, shipsLog, withBackupShipping, withRestore } from '../build/backup.js';
import { backupTargetUrl } from '../build/s3.js';
import { backupFreshCondition, backupFreshness, dueRestoreDrill } from '../planner/backup-freshness.js';
import {
  DATA_VOLUME, MEMBER_ROLE_LABEL, clientServiceName, configMapName, memberClientUrl, memberName, memberPeerUrl, ordinalOf, pdbName, peerServiceName,
  pvcName, quorumOf, selectorString, statefulSetName,
} from '../build/names.js';
import type { EventRecorder } from '../kube/events.js';
import type { KubeClient, KubeObject } from '../kube/rest.js';
import { isConflict, isNotFound, resourcePath } from '../kube/rest.js';
import type { BackupShippingStatus, MemberClientOptions, MemberCredentials, MemberStatusResponse } from '../member-client/client.js';
import { MemberClient, MemberClientError, NO_CREDENTIALS } from '../member-client/client.js';
import type { CertificateLifetimes } from '../security/certificates.js';
import { DEFAULT_CERTIFICATE_LIFETIMES } from '../security/certificates.js';
import type { OperatorMetrics } from '../metrics.js';
import type { ObservedMember, ObservedPod, PlanStep, PlannerInput } from '../planner/planner.js';
import { autoReplaceCandidate, plan } from '../planner/planner.js';
import { disruptionBudget } from '../planner/disruption.js';
import type { ObservedClaim, StorageReplacementDecision, StorageStep } from '../planner/storage.js';
import { nextStorageReplacement, planStorage, quantityBytes } from '../planner/storage.js';
import type { AnsweringMember, RecoveryDecision } from '../planner/recovery.js';
import { planRecovery } from '../planner/recovery.js';
import { isoSeconds, jsonEqual, setCondition } from './conditions.js';
import type { DrillLocks } from './drill-locks.js';
import { ClusterSecurity, SecurityProblem } from './security.js';
import type { ReconcileResult, Step, StepResult } from './steps.js';
import { CONTINUE, DONE, requeueAfter, runSteps } from './steps.js';

/** Minimal structured logger (pino satisfies it). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Maps a member to the base URL the operator uses to reach it; tests point it at fake members. */
export type MemberUrlResolver = (cluster: RaftCluster, member: string) => string;

/** Default resolver: the member's in-cluster DNS name through the headless Service. */
export const inClusterMemberUrl: MemberUrlResolver = (cluster, member) => memberClientUrl(cluster, member);

/** The addresses a new member is registered with (POST /v1/members); tests running real members on loopback override it. */
export type MemberAdvertiseResolver = (cluster: RaftCluster, member: string) => { peerUrl: string; clientUrl: string };

/** Default: the addresses the pod advertises itself (headless-Service DNS). */
export const inClusterMemberAdvertise: MemberAdvertiseResolver = (cluster, member) => ({ peerUrl: memberPeerUrl(cluster, member), clientUrl: memberClientUrl(cluster, member) });

/** Timing and limits of the RaftCluster controller. */
export interface RaftClusterControllerOptions {
  /** Re-observe a settled cluster this often (health, leader and term in status). */
  readonly pollIntervalMs: number;
  /** Re-observe this soon after a step or a refusal. */
  readonly stepRequeueMs: number;
  /** A learner within this many entries of the commit index may be promoted. */
  readonly learnerMaxLagEntries: number;
  /** Lifetimes of the CA and member certificates the operator generates (spec.tls without secretName). */
  readonly certificates?: CertificateLifetimes;
}

/** Defaults for the operator. */
export const DEFAULT_RAFTCLUSTER_OPTIONS: RaftClusterControllerOptions = { pollIntervalMs: 10_000, stepRequeueMs: 1_000, learnerMaxLagEntries: 100, certificates: DEFAULT_CERTIFICATE_LIFETIMES };

/** What the controller needs from the outside world. */
export interface ControllerDeps {
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly metrics: OperatorMetrics;
  readonly log: Logger;
  readonly memberUrl: MemberUrlResolver;
  readonly memberAdvertise: MemberAdvertiseResolver;
  readonly memberClientOptions: MemberClientOptions;
  readonly now: () => number;
  /** Shared by both controllers: a cluster with a drill running plans no change. */
  readonly drillLocks?: DrillLocks;
}

/** What one pass observed of the members. */
export interface MemberObservation {
  readonly leader: string | undefined;
  readonly term: number | undefined;
  readonly commitIndex: number;
  readonly members: ObservedMember[];
  /** Every member that answered its GET /v1/status this pass (also without a leader). */
  readonly answered?: ReadonlyMap<string, AnsweringMember>;
  /** The leader's backupShipping (members started with --backup-ship-to). */
  readonly backupShipping?: BackupShippingStatus;
}

interface Ctx {
  readonly namespace: string;
  /** Step running now (for the ReconcileError condition). */
  stepName?: string;
  readonly name: string;
  cluster?: RaftCluster;
  sts?: V1StatefulSet | undefined;
  cm?: V1ConfigMap | undefined;
  pods: ObservedPod[];
  /** StatefulSet replicas in effect (its spec, or the member count when it must be recreated). */
  stsReplicas?: number | undefined;
  /** What to do about spec.storage this pass. */
  storage?: StorageStep;
  /** With storage.kind replaceMembers: the member being replaced for it now, or what it waits for. */
  storageReplacement?: StorageReplacementDecision;
  /** Member whose PVC and pod this pass deleted (a replacement). */
  wiped?: string;
  /** MEMBER_ROLE_LABEL of each member pod now (undefined: unlabelled), for the PDB sync. */
  podRoles: Map<string, string | undefined>;
  /** How the operator reaches this cluster's members (CA to trust, token); set by the security step. */
  credentials: MemberCredentials;
  security?: SecurityStatus;
  observed?: MemberObservation;
  step?: PlanStep;
  stepNote?: { type: 'Normal' | 'Warning'; reason: string; message: string };
  requeueMs?: number;
  /** status.backup from this pass (undefined: no spec.backup). */
  backup?: BackupStatus;
  /** spec.recovery / status.recovery this pass (planner/recovery.ts). */
  recovery?: RecoveryDecision;
  /** The ConfigMap's initial-cluster-state this pass applied. */
  bootstrapState?: 'new' | 'existing';
}

/** A StorageClass as observeStorage sees it: can its PVCs grow; `problem`: new PVCs of it could not be made. */
interface StorageClassVerdict {
  readonly expandable: true | string;
  /** The class could not be read: nothing is decided from it. */
  readonly unknown: boolean;
  readonly problem?: string;
}

/** Label on the RestoreBackup drills spec.backup.restoreDrill creates (value: the cluster). */
export const SCHEDULED_DRILL_LABEL = 'raftkv.dev/scheduled-restore-drill';
/** Annotation on them: the scheduled time (ms since the epoch) the drill was created for. */
export const SCHEDULED_FOR_ANNOTATION = 'raftkv.dev/scheduled-for';
/** Finished scheduled restore drills kept per cluster (older ones are deleted). */
export const RESTORE_DRILLS_KEPT = 3;

function clusterPath(ns: string, name?: string, sub?: string): string {
  return resourcePath(API_VERSION, 'RaftCluster', ns, name, sub);
}

/**
 * Reads every member's GET /v1/status (bounded by the member client's timeout) and merges them:
 * the leader is the highest-term member that says it leads; membership is the leader's list.
 */
export async function observeMembers(cluster: RaftCluster, candidates: readonly string[], clientOf: (member: string) => MemberClient): Promise<MemberObservation> {
  const statuses = new Map<string, MemberStatusResponse>();
  const query = async (names: readonly string[]): Promise<void> => {
    await Promise.all(names.filter((n) => !statuses.has(n)).map(async (n) => {
      try {
        statuses.set(n, await clientOf(n).status());
      } catch {
        // unreachable members are simply unhealthy
      }
    }));
  };
  await query(candidates);
  const answered = (): Map<string, AnsweringMember> => new Map([...statuses].map(([n, st]) => [n, { role: st.role, appliedIndex: st.appliedIndex, lastIndex: st.lastIndex, term: st.term }]));
  let leaderStatus: MemberStatusResponse | undefined;
  for (const s of statuses.values()) if (s.role === 'leader' && (leaderStatus === undefined || s.term > leaderStatus.term)) leaderStatus = s;
  if (leaderStatus === undefined) {
    return { leader: undefined, term: Math.max(0, ...[...statuses.values()].map((s) => s.term)) || undefined, commitIndex: 0, members: [], answered: answered() };
  }
  await query(leaderStatus.members.map((m) => m.name));
  const members: ObservedMember[] = leaderStatus.members.map((m) => {
    const s = statuses.get(m.name);
    return {
      name: m.name, ordinal: ordinalOf(cluster, m.name), voter: m.voter,
      // A member of the leader's configuration that holds no configuration of its own restarted
      // empty (its PVC was lost): it hears the leader but takes no entries until it is replaced.
      healthy: s !== undefined && s.leader !== null && s.role !== 'candidate' && !(s.members.length === 0 && s.lastIndex === 0),
      role: s?.role ?? 'unknown', appliedIndex: s?.appliedIndex ?? 0,
    };
  });
  return {
    leader: leaderStatus.name, term: leaderStatus.term, commitIndex: leaderStatus.commitIndex, members, answered: answered(),
    ...(leaderStatus.backupShipping === undefined ? {} : { backupShipping: leaderStatus.backupShipping }),
  };
}

function podReady(p: V1Pod): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && p.metadata?.deletionTimestamp === undefined;
}

/** The RaftCluster reconciler; `reconcile(key)` is called by the work queue for `namespace/name`. */
export class RaftClusterController {
  private readonly steps: Step<Ctx>[];
  private readonly security: ClusterSecurity;

  constructor(private readonly deps: ControllerDeps, private readonly options: RaftClusterControllerOptions = DEFAULT_RAFTCLUSTER_OPTIONS) {
    this.security = new ClusterSecurity(deps.client, deps.now, options.certificates ?? DEFAULT_CERTIFICATE_LIFETIMES);
    const steps: Step<Ctx>[] = [
      { name: 'load', run: (c) => this.load(c) },
      { name: 'deletion', run: (c) => this.handleDeletion(c) },
      { name: 'pause', run: (c) => this.honourPause(c) },
      { name: 'finalizer', run: (c) => this.ensureFinalizer(c) },
      { name: 'security', run: (c) => this.ensureSecurity(c) },
      { name: 'observe', run: (c) => this.observe(c) },
      { name: 'apply', run: (c) => this.applyOwned(c) },
      { name: 'act', run: (c) => this.act(c) },
      { name: 'status', run: (c) => this.writeStatus(c) },
    ];
    this.steps = steps.map((st) => ({ name: st.name, run: (c: Ctx) => { c.stepName = st.name; return st.run(c); } }));
  }

  /**
   * Reconciles `namespace/name` once. Throws on API errors (the queue backs off); the error is
   * first written to status (ReconcileError condition, lastError) and recorded as an Event.
   */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    const ctx: Ctx = { namespace, name, pods: [], podRoles: new Map(), credentials: NO_CREDENTIALS };
    try {
      return await runSteps(this.steps, ctx);
    } catch (err) {
      await this.recordReconcileError(ctx, err);
      throw err;
    }
  }

  /** Best effort: a failure to record the error must not hide the error itself. */
  private async recordReconcileError(c: Ctx, err: unknown): Promise<void> {
    const cluster = c.cluster;
    if (cluster === undefined || isPaused(cluster.metadata) || cluster.metadata.deletionTimestamp !== undefined) return;
    const step = c.stepName ?? 'unknown';
    const message = err instanceof Error ? err.message : String(err);
    const next = reconcileErrorStatus(cluster, step, message, this.deps.now());
    if (next === undefined) return;
    try {
      if (cluster.status?.lastError?.message !== next.lastError?.message) await this.deps.events.record(cluster, 'Warning', 'ReconcileError', `${step}: ${message}`);
      await this.deps.client.mergePatch(clusterPath(c.namespace, c.name, 'status'), { status: next });
    } catch (e) {
      this.deps.log.warn({ cluster: `${c.namespace}/${c.name}`, err: String(e) }, 'could not record the reconcile error in status');
    }
  }

  /**
   * PAUSE_ANNOTATION: no write for this cluster but the Paused condition (the one exception, so
   * `kubectl get` shows why nothing happens) and an Event when it pauses. No requeue: removing
   * the annotation is a watch event.
   */
  private async honourPause(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    if (cluster === undefined) return DONE;
    if (!isPaused(cluster.metadata)) return CONTINUE;
    const prev = (cluster.status?.conditions ?? []).find((x) => x.type === 'Paused');
    if (prev?.status !== 'True') {
      const gen = cluster.metadata.generation;
      const conditions = setCondition(cluster.status?.conditions ?? [], {
        type: 'Paused', status: 'True', reason: 'ReconcilePaused',
        message: `annotation ${PAUSE_ANNOTATION}: ${PAUSE_VALUE}: the operator makes no change to this cluster (objects, pods, members, PDB, status other than this condition) until it is removed`,
        ...(gen === undefined ? {} : { observedGeneration: gen }),
      }, isoSeconds(this.deps.now()));
      await this.deps.client.mergePatch(clusterPath(c.namespace, c.name, 'status'), { status: { conditions } });
      await this.deps.events.record(cluster, 'Normal', 'Paused', `reconciliation paused by annotation ${PAUSE_ANNOTATION}: ${PAUSE_VALUE}`);
    }
    return DONE;
  }

  private memberClient(cluster: RaftCluster, member: string, credentials: MemberCredentials): MemberClient {
    return new MemberClient(this.deps.memberUrl(cluster, member), this.deps.memberClientOptions, credentials);
  }

  /**
   * spec.tls / spec.auth: material present and usable, credentials read. A problem the user must
   * fix stops the pass before anything is applied or any member is called (no half-applied
   * change, no crash loop): Degraded with the reason, one Event per new message, a slow requeue.
   */
  private async ensureSecurity(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    if (cluster === undefined) return DONE;
    c.sts = await this.deps.client.get<V1StatefulSet & KubeObject>(resourcePath('apps/v1', 'StatefulSet', c.namespace, statefulSetName(cluster)));
    try {
      const ready = await this.security.ensure(cluster, tlsSecretInEffect(c.sts));
      c.credentials = ready.credentials;
      c.security = ready.status;
      for (const n of ready.notes) {
        await this.deps.events.record(cluster, 'Normal', n.reason, n.message);
        this.deps.log.info({ cluster: `${c.namespace}/${c.name}`, reason: n.reason }, n.message);
      }
      return CONTINUE;
    } catch (err) {
      if (!(err instanceof SecurityProblem)) throw err;
      const old = cluster.status ?? {};
      const prev = (old.conditions ?? []).find((x) => x.type === 'Degraded');
      const next = securityBlockedStatus(cluster, err, isoSeconds(this.deps.now()));
      if (prev?.reason !== err.reason || prev.message !== err.message) {
        await this.deps.events.record(cluster, 'Warning', err.reason, err.message);
        this.deps.log.warn({ cluster: `${c.namespace}/${c.name}`, reason: err.reason }, err.message);
      }
      if (!jsonEqual({ ...old, ...next }, old)) await this.deps.client.mergePatch(clusterPath(c.namespace, c.name, 'status'), { status: next });
      return requeueAfter(this.options.pollIntervalMs, err.reason);
    }
  }

  private async load(c: Ctx): Promise<StepResult> {
    const cluster = await this.deps.client.get<RaftCluster & KubeObject>(clusterPath(c.namespace, c.name));
    if (cluster === undefined) return DONE;
    c.cluster = cluster;
    return CONTINUE;
  }

  private async handleDeletion(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    if (cluster === undefined || cluster.metadata.deletionTimestamp === undefined) return CONTINUE;
    if (!(cluster.metadata.finalizers ?? []).includes(FINALIZER)) return DONE;
    const ns = c.namespace;
    const client = this.deps.client;
    // Owner references would let the garbage collector do this too; doing it here makes deletion
    // complete even where no garbage collector runs and lets the finalizer report failures.
    await client.delete(resourcePath('apps/v1', 'StatefulSet', ns, statefulSetName(cluster)), { propagationPolicy: 'Background' });
    await client.delete(resourcePath('batch/v1', 'CronJob', ns, backupName(cluster)), { propagationPolicy: 'Background' });
    await client.delete(resourcePath('policy/v1', 'PodDisruptionBudget', ns, pdbName(cluster)));
    await client.delete(resourcePath('v1', 'Service', ns, clientServiceName(cluster)));
    await client.delete(resourcePath('v1', 'Service', ns, peerServiceName(cluster)));
    await client.delete(resourcePath('v1', 'ConfigMap', ns, configMapName(cluster)));
    await client.mergePatch(clusterPath(ns, c.name), {
      metadata: { resourceVersion: cluster.metadata.resourceVersion, finalizers: (cluster.metadata.finalizers ?? []).filter((f) => f !== FINALIZER) },
    });
    await this.deps.events.record(cluster, 'Normal', 'Deleted', 'owned objects deleted; PersistentVolumeClaims are kept (delete them to drop the data)');
    return DONE;
  }

  private async ensureFinalizer(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    if (cluster === undefined) return DONE;
    if ((cluster.metadata.finalizers ?? []).includes(FINALIZER)) return CONTINUE;
    c.cluster = await this.deps.client.mergePatch<RaftCluster & KubeObject>(clusterPath(c.namespace, c.name), {
      metadata: { resourceVersion: cluster.metadata.resourceVersion, finalizers: [...(cluster.metadata.finalizers ?? []), FINALIZER] },
    });
    return CONTINUE;
  }

  private async observe(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    if (cluster === undefined) return DONE;
    const ns = c.namespace;
    c.cm = await this.deps.client.get<V1ConfigMap & KubeObject>(resourcePath('v1', 'ConfigMap', ns, configMapName(cluster)));
    const pods = await this.deps.client.list<V1Pod & KubeObject>(resourcePath('v1', 'Pod', ns), { labelSelector: selectorString(cluster), limit: '100' });
    const updateRevision = c.sts?.status?.updateRevision;
    c.pods = pods.items.map((p) => ({
      name: p.metadata?.name ?? '',
      ready: podReady(p),
      terminating: p.metadata?.deletionTimestamp !== undefined,
      outdated: updateRevision !== undefined && p.metadata?.labels?.['controller-revision-hash'] !== undefined && p.metadata.labels['controller-revision-hash'] !== updateRevision,
    }));
    c.podRoles = new Map(pods.items.filter((p) => p.metadata?.deletionTimestamp === undefined).map((p) => [p.metadata?.name ?? '', p.metadata?.labels?.[MEMBER_ROLE_LABEL]]));
    const candidates = new Set<string>();
    for (let i = 0; i < Math.max(c.sts?.spec?.replicas ?? 0, cluster.status?.members?.length ?? 0); i++) candidates.add(memberName(cluster, i));
    for (const m of cluster.status?.members ?? []) candidates.add(m.name);
    c.observed = c.sts === undefined && candidates.size === 0
      ? { leader: undefined, term: undefined, commitIndex: 0, members: [] }
      : await observeMembers(cluster, [...candidates], (m) => this.memberClient(cluster, m, c.credentials));
    // A StatefulSet gone after the cluster formed (replaced for a storage change, or deleted by hand
    // with --cascade=orphan) is recreated with the members there are, never bootstrapped again.
    const formedBefore = c.cm?.data?.[CM_INITIAL_CLUSTER_STATE] === 'existing';
    const stsReplicas = c.sts?.spec?.replicas ?? (formedBefore ? Math.max(1, c.observed.members.length || (cluster.status?.members?.length ?? 0) || cluster.spec.replicas) : undefined);
    c.stsReplicas = stsReplicas;
    c.storage = await this.observeStorage(c, cluster);
    const recovery = planRecovery({
      approval: cluster.spec.recovery, record: cluster.status?.recovery, desiredReplicas: cluster.spec.replicas,
      leader: c.observed.leader, commitIndex: c.observed.commitIndex, members: c.observed.members,
      lastKnown: (cluster.status?.members ?? []).map((m) => ({ name: m.name, voter: m.voter, appliedIndex: m.appliedIndex })),
      answered: c.observed.answered ?? new Map(), pods: c.pods, learnerMaxLagEntries: this.options.learnerMaxLagEntries,
      memberNameOf: (i) => memberName(cluster, i), ordinalOf: (m) => ordinalOf(cluster, m),
      newId: `g${cluster.metadata.generation ?? 0}-${Math.floor(this.deps.now() / 1000)}`, nowIso: isoSeconds(this.deps.now()),
    });
    c.recovery = recovery;
    if (recovery.kind === 'step') {
      c.step = recovery.step;
      return CONTINUE;
    }
    await this.maybeAutoReplace(c, cluster);
    await this.maybeReplaceForStorage(c, cluster);
    c.step = plan({
      desiredReplicas: cluster.spec.replicas,
      statefulSetReplicas: stsReplicas,
      leader: c.observed.leader,
      commitIndex: c.observed.commitIndex,
      members: c.observed.members,
      pods: c.pods,
      learnerMaxLagEntries: this.options.learnerMaxLagEntries,
      memberNameOf: (i) => memberName(cluster, i),
      drillInProgress: this.deps.drillLocks?.holder(`${c.namespace}/${c.name}`),
      replace: replaceRequest(cluster, c.observed),
    });
    return CONTINUE;
  }

  private async applyOwned(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    const step = c.step;
    if (cluster === undefined || step === undefined) return DONE;
    const current = c.stsReplicas;
    const replicas = step.kind === 'bootstrap' || step.kind === 'setStatefulSetReplicas' ? step.replicas : (current ?? 0);
    const bootstrapCount = step.kind === 'bootstrap' ? step.replicas : cluster.spec.replicas;
    const initialCluster = c.cm?.data?.[CM_INITIAL_CLUSTER] ?? initialClusterFor(cluster, bootstrapCount);
    const bootstrapMembers = initialCluster.split(',').map((p) => p.split('=')[0] ?? '');
    const obs = c.observed;
    const formed = obs !== undefined && obs.leader !== undefined && bootstrapMembers.every((b) => obs.members.some((m) => m.name === b && m.healthy));
    // A StatefulSet created in this pass starts its pods as bootstrap voters, whatever answers on the member URLs.
    const state = step.kind !== 'bootstrap' && (c.cm?.data?.[CM_INITIAL_CLUSTER_STATE] === 'existing' || formed) ? 'existing' : 'new';
    const rec = c.recovery !== undefined && c.recovery.kind !== 'inactive' ? c.recovery.record : undefined;
    const forcing = rec !== undefined && (rec.phase === 'ForcingSurvivor' || rec.phase === 'Growing') ? { member: rec.survivor, id: rec.id } : undefined;
    const inputs = { statefulSetReplicas: replicas, initialCluster, initialClusterState: state, forceNewCluster: forcing } as const;
    const client = this.deps.client;
    await client.apply(buildPeerService(cluster) as KubeObject);
    await client.apply(buildClientService(cluster) as KubeObject);
    await client.apply(buildConfigMap(cluster, inputs) as KubeObject);
    await this.syncDisruptionBudget(c, cluster, step);
    const restore = cluster.spec.restore;
    if (step.kind === 'bootstrap' && restore !== undefined) await this.warnStaleDataVolumes(cluster, c.namespace, step.replicas);
    await this.applyStatefulSet(c, cluster, inputs);
    if (state === 'existing' && c.cm?.data?.[CM_INITIAL_CLUSTER_STATE] !== 'existing') {
      await this.deps.events.record(cluster, 'Normal', 'Bootstrapped', `bootstrap members formed a cluster; later members join with --initial-cluster-state=existing`);
      if (restore !== undefined) await this.deps.events.record(cluster, 'Normal', 'Restored', `cluster restored from ${restoreSourceText(restore)}`);
    }
    c.bootstrapState = state;
    await this.syncBackup(c, cluster);
    return CONTINUE;
  }

  /**
   * spec.replaceUnhealthyAfterSeconds: a member unhealthy that long (status.members[].unhealthySince)
   * in a settled cluster gets the replace annotation, as if the user had set it; the replacement
   * then runs as a deliberate one. The annotation is the record, so a restart resumes it.
   */
  private async maybeAutoReplace(c: Ctx, cluster: RaftCluster): Promise<void> {
    const obs = c.observed;
    if (obs === undefined || cluster.metadata.annotations?.[REPLACE_ANNOTATION] !== undefined) return;
    const since = new Map<string, number>();
    for (const m of cluster.status?.members ?? []) if (m.unhealthySince !== undefined) since.set(m.name, Date.parse(m.unhealthySince));
    const afterSeconds = cluster.spec.replaceUnhealthyAfterSeconds ?? 0;
    const member = autoReplaceCandidate({ desiredReplicas: cluster.spec.replicas, leader: obs.leader, members: obs.members, unhealthySinceMs: since, nowMs: this.deps.now(), afterMs: afterSeconds * 1000 });
    if (member === undefined || this.deps.drillLocks?.holder(`${c.namespace}/${c.name}`) !== undefined) return;
    let updated: RaftCluster & KubeObject;
    try {
      updated = await this.deps.client.mergePatch<RaftCluster & KubeObject>(clusterPath(c.namespace, c.name), {
        metadata: { resourceVersion: cluster.metadata.resourceVersion, annotations: { [REPLACE_ANNOTATION]: member } },
      });
    } catch (err) {
      if (isConflict(err)) return; // changed since this pass read it: the next pass decides again
      throw err;
    }
    cluster.metadata = updated.metadata;
    await this.deps.events.record(cluster, 'Warning', 'AutoReplaceMember', `${member} unhealthy since ${since.get(member) === undefined ? '?' : isoSeconds(since.get(member) ?? 0)} (over ${afterSeconds} s) while the others keep a quorum: replacing it`);
  }

  /**
   * A storage change carried out through learners (planner/storage.ts): the next member whose PVC
   * does not match spec.storage gets the replace annotation, as if the user had set it, and the
   * member replacement flow (planner.ts) runs; the annotation is the record, so a restart resumes
   * it, and it is cleared when that member is a voter again (MemberReplaced).
   */
  private async maybeReplaceForStorage(c: Ctx, cluster: RaftCluster): Promise<void> {
    const obs = c.observed;
    const storage = c.storage;
    if (obs === undefined || storage?.kind !== 'replaceMembers') return;
    const decision = nextStorageReplacement({
      pending: storage.pending, desiredReplicas: cluster.spec.replicas, leader: obs.leader, members: obs.members, pods: c.pods,
      replacing: cluster.metadata.annotations?.[REPLACE_ANNOTATION], drillInProgress: this.deps.drillLocks?.holder(`${c.namespace}/${c.name}`),
    });
    c.storageReplacement = decision;
    if (decision.kind !== 'replace') return;
    let updated: RaftCluster & KubeObject;
    try {
      updated = await this.deps.client.mergePatch<RaftCluster & KubeObject>(clusterPath(c.namespace, c.name), {
        metadata: { resourceVersion: cluster.metadata.resourceVersion, annotations: { [REPLACE_ANNOTATION]: decision.member } },
      });
    } catch (err) {
      if (isConflict(err)) {
        c.storageReplacement = { kind: 'wait', message: 'the RaftCluster changed since this pass read it' };
        return;
      }
      throw err;
    }
    cluster.metadata = updated.metadata;
    await this.deps.events.record(cluster, 'Normal', 'StorageReplaceMember',
      `${decision.message} for spec.storage (${storage.target}; ${storage.done}/${storage.total} members on it): removed from the raft configuration, its PVC and pod deleted, recreated from the new volumeClaimTemplate, it rejoins as a learner and is promoted`);
  }

  /**
   * The data volumeClaimTemplate in effect, the members' PVCs and, only for those that do not
   * match spec.storage, whether their StorageClass allows expansion (and whether the class
   * spec.storage names exists, before any member is replaced onto it); planner/storage.ts decides.
   */
  private async observeStorage(c: Ctx, cluster: RaftCluster): Promise<StorageStep> {
    const vct = c.sts?.spec?.volumeClaimTemplates?.find((t) => t.metadata?.name === DATA_VOLUME);
    if (vct === undefined) return { kind: 'none' };
    const current = { size: String(vct.spec?.resources?.requests?.['storage'] ?? ''), storageClassName: vct.spec?.storageClassName };
    const desired = cluster.spec.storage;
    try {
      const desiredBytes = quantityBytes(desired.size);
      const client = this.deps.client;
      const classes = new Map<string, StorageClassVerdict>();
      const classVerdict = async (cls: string): Promise<StorageClassVerdict> => {
        const known = classes.get(cls);
        if (known !== undefined) return known;
        let verdict: StorageClassVerdict;
        try {
          const sc = await client.get<V1StorageClass & KubeObject>(`/apis/storage.k8s.io/v1/storageclasses/${encodeURIComponent(cls)}`);
          verdict = sc === undefined
            ? { problem: `StorageClass ${cls} not found`, expandable: `StorageClass ${cls} not found`, unknown: true }
            : { expandable: sc.allowVolumeExpansion === true ? true : `StorageClass ${cls} does not allow volume expansion (allowVolumeExpansion is not true)`, unknown: false };
        } catch (err) {
          const why = `the operator cannot read StorageClass ${cls} (${err instanceof Error ? err.message : String(err)})`;
          verdict = { problem: why, expandable: why, unknown: true };
        }
        classes.set(cls, verdict);
        return verdict;
      };
      const members = c.sts?.spec?.replicas ?? 0;
      const claims: ObservedClaim[] = [];
      for (let i = 0; i < members; i++) {
        const pvc = await client.get<V1PersistentVolumeClaim & KubeObject>(resourcePath('v1', 'PersistentVolumeClaim', c.namespace, pvcName(cluster, i)));
        if (pvc === undefined) continue;
        const cls = pvc.spec?.storageClassName;
        const capacity = pvc.status?.capacity?.['storage'];
        const request = String(pvc.spec?.resources?.requests?.['storage'] ?? '0');
        // Only a claim below the size spec.storage asks for needs its class's verdict.
        const verdict = quantityBytes(request) >= desiredBytes ? undefined : cls === undefined || cls === '' ? { expandable: 'it has no StorageClass', unknown: false } : await classVerdict(cls);
        claims.push({
          name: pvc.metadata?.name ?? '', member: memberName(cluster, i), request, storageClassName: cls,
          expandable: verdict?.expandable ?? true, expandableUnknown: verdict?.unknown ?? false,
          capacity: capacity === undefined ? undefined : String(capacity), resizer: pvc.metadata?.annotations?.['volume.kubernetes.io/storage-resizer'],
        });
      }
      const policy = desired.resizePolicy ?? 'Auto';
      // A replacement this change started (StorageSynced said ReplacingMembers) is part of it until the member is a voter again.
      const replacing = cluster.metadata.annotations?.[REPLACE_ANNOTATION];
      const prevReason = (cluster.status?.conditions ?? []).find((x) => x.type === 'StorageSynced')?.reason;
      const options = { policy, memberCount: members, replacementUnderWay: prevReason === 'ReplacingMembers' ? replacing : undefined };
      const step = planStorage(desired, current, claims, options);
      // Before any member is replaced onto a named class: that class must exist, or the new PVCs never bind.
      const wantClass = desired.storageClassName ?? '';
      const throughLearners = (step.kind === 'replaceMembers' && step.pending.length > 0) || (step.kind === 'replaceStatefulSet' && step.thenReplaceMembers);
      if (!throughLearners || wantClass === '') return step;
      const problem = (await classVerdict(wantClass)).problem;
      return problem === undefined ? step : planStorage(desired, current, claims, { ...options, desiredClassProblem: problem });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      return { kind: 'refuse', message: err.message };
    }
  }

  /**
   * The StatefulSet, with the data volumeClaimTemplate it already has unless planner/storage.ts
   * says the new one can go in (the field is immutable: applying a change would fail every pass).
   * Replacing it deletes the object with the orphan cascade (pods and PVCs stay, the next pass
   * recreates it and it adopts them); while that deletion is pending nothing is applied.
   */
  private async applyStatefulSet(c: Ctx, cluster: RaftCluster, inputs: BuildInputs): Promise<void> {
    const client = this.deps.client;
    const storage = c.storage ?? { kind: 'none' };
    const vct = c.sts?.spec?.volumeClaimTemplates?.find((t) => t.metadata?.name === DATA_VOLUME);
    if (c.sts?.metadata?.deletionTimestamp !== undefined) return;
    if (storage.kind === 'expandClaims') {
      for (const claim of storage.claims) {
        await client.mergePatch(resourcePath('v1', 'PersistentVolumeClaim', c.namespace, claim), { spec: { resources: { requests: { storage: storage.size } } } });
      }
      await this.deps.events.record(cluster, 'Normal', 'ExpandVolumes', `requested ${storage.size} for ${storage.claims.join(', ')} (expanded in place by the StorageClass's provisioner)`);
    }
    if (storage.kind === 'replaceStatefulSet') {
      await client.delete(resourcePath('apps/v1', 'StatefulSet', c.namespace, statefulSetName(cluster)), { propagationPolicy: 'Orphan' });
      await this.deps.events.record(cluster, 'Normal', 'ReplaceStatefulSet', `StatefulSet deleted with the orphan cascade (pods and PVCs stay) and recreated: ${storage.reason}`);
      return;
    }
    const keep = (storage.kind === 'expandClaims' || storage.kind === 'refuse') && vct !== undefined;
    const shaped = keep
      ? { ...cluster, spec: { ...cluster.spec, storage: { size: String(vct.spec?.resources?.requests?.['storage'] ?? ''), ...(vct.spec?.storageClassName === undefined ? {} : { storageClassName: vct.spec.storageClassName }) } } }
      : cluster;
    await client.apply(withBackupShipping(withRestore(buildStatefulSet(shaped, inputs), cluster), cluster) as KubeObject);
  }

  /**
   * PDB and pod role labels from the live configuration (planner/disruption.ts). Every write keeps
   * the guarantee: minAvailable is raised before any voter label is added or removed and lowered
   * only after, so between two writes the bound is the stricter of both. Without a leader nothing
   * is known: an existing PDB and the labels stay as they are.
   */
  private async syncDisruptionBudget(c: Ctx, cluster: RaftCluster, step: PlanStep): Promise<void> {
    const client = this.deps.client;
    const path = resourcePath('policy/v1', 'PodDisruptionBudget', c.namespace, pdbName(cluster));
    const current = await client.get<V1PodDisruptionBudget & KubeObject>(path);
    const obs = c.observed;
    const warnSingle = (): Promise<void> => this.deps.events.record(cluster, 'Warning', 'SingleVoterDisruptable',
      'one voter: the PodDisruptionBudget allows evicting it (minAvailable 0) so a node drain can finish; the cluster is unavailable while it restarts. Run 3 replicas to keep serving through a drain');
    if (obs === undefined || obs.leader === undefined || obs.members.length === 0) {
      if (current === undefined) {
        await client.apply(buildPodDisruptionBudget(cluster, cluster.spec.replicas === 1 ? 0 : quorumOf(cluster.spec.replicas)) as KubeObject);
        if (cluster.spec.replicas === 1) await warnSingle();
      }
      return;
    }
    const budget = disruptionBudget(obs.members, step);
    const voterSelector = current?.spec?.selector?.matchLabels?.[MEMBER_ROLE_LABEL] === 'voter';
    const was = voterSelector && typeof current?.spec?.minAvailable === 'number' ? current.spec.minAvailable : undefined;
    // The disruption controller recomputes a PDB when a pod starts matching it, not when one stops:
    // a pod losing its voter label would stay counted as healthy. So first raise minAvailable by
    // the pods about to leave (evictions wait until that generation is processed, then the stale
    // count is still safe), relabel, and write the final value (a new generation: a recount).
    const leaving = [...c.podRoles].filter(([pod, label]) => label === 'voter' && budget.roles.get(pod) !== 'voter').length;
    const first = Math.max(was ?? 0, budget.minAvailable + leaving);
    if (was !== first) await client.apply(buildPodDisruptionBudget(cluster, first) as KubeObject);
    for (const [pod, label] of c.podRoles) {
      const want = budget.roles.get(pod);
      if (label === want) continue;
      try {
        await client.mergePatch(resourcePath('v1', 'Pod', c.namespace, pod), { metadata: { labels: { [MEMBER_ROLE_LABEL]: want ?? null } } });
      } catch (err) {
        if (!isNotFound(err)) throw err; // gone since the list: its replacement is labelled next pass
      }
    }
    if (first !== budget.minAvailable) await client.apply(buildPodDisruptionBudget(cluster, budget.minAvailable) as KubeObject);
    if (budget.singleVoter && was !== 0) await warnSingle();
  }

  /**
   * A member whose data PVC survived an earlier cluster of the same name resumes that data: its
   * init container skips the restore (the data dir is initialised). Say so before it happens.
   */
  private async warnStaleDataVolumes(cluster: RaftCluster, ns: string, replicas: number): Promise<void> {
    const stale: string[] = [];
    for (let i = 0; i < replicas; i++) {
      const name = pvcName(cluster, i);
      if (await this.deps.client.get(resourcePath('v1', 'PersistentVolumeClaim', ns, name)) !== undefined) stale.push(name);
    }
    if (stale.length > 0) {
      await this.deps.events.record(cluster, 'Warning', 'RestoreTargetNotEmpty',
        `PVCs ${stale.join(', ')} already exist: those members keep their old data instead of restoring; delete the RaftCluster and those PVCs, then create it again`);
    }
  }

  /**
   * spec.backup → the backup PVC (created once when absent, never patched or deleted) and the
   * CronJob (server-side applied); no spec.backup → the CronJob is deleted, the PVC kept.
   */
  private async syncBackup(c: Ctx, cluster: RaftCluster): Promise<void> {
    const client = this.deps.client;
    const ns = c.namespace;
    const cronPath = resourcePath('batch/v1', 'CronJob', ns, backupName(cluster));
    const backup = cluster.spec.backup;
    if (backup === undefined) {
      // status.backup marks a CronJob this operator made; without it there is nothing to delete.
      const was = cluster.status?.backup;
      if (was !== undefined && await client.delete(cronPath, { propagationPolicy: 'Background' })) {
        await this.deps.events.record(cluster, 'Normal', 'BackupScheduleRemoved', `spec.backup removed: CronJob ${was.cronJob} deleted; the backups in ${was.target ?? `PVC ${was.claimName ?? '?'}`} are kept`);
      }
      return;
    }
    const claimName = backupClaimName(cluster, backup);
    if (claimName !== undefined && backup.claimName === undefined && await client.get(resourcePath('v1', 'PersistentVolumeClaim', ns, claimName)) === undefined) {
      try {
        await client.create(resourcePath('v1', 'PersistentVolumeClaim', ns), buildBackupPvc(cluster, backup) as KubeObject);
        await this.deps.events.record(cluster, 'Normal', 'BackupVolumeCreated', `PVC ${claimName} created for backups (it outlives the RaftCluster)`);
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    const cj = await client.apply<V1CronJob & KubeObject>(buildBackupCronJob(cluster, backup) as KubeObject);
    const st = cj.status;
    const iso = (d: Date | string | undefined): string | undefined => (d === undefined ? undefined : typeof d === 'string' ? d : isoSeconds(d.getTime()));
    const lastSchedule = iso(st?.lastScheduleTime);
    const lastSuccess = iso(st?.lastSuccessfulTime);
    const verified = await this.syncRestoreDrills(cluster, backup);
    // The newest success ever seen is kept: the CronJob forgets it when it is recreated. With
    // restore drills only verified backups count, by when they were taken.
    const prevGood = cluster.status?.backup?.lastGoodBackupTime;
    const candidates = backup.restoreDrill === undefined
      ? [prevGood, lastSuccess, await this.lastOnDemandBackup(ns, cluster.metadata.name)]
      : [verified === undefined ? undefined : isoSeconds(Date.parse(verified.takenAt))];
    const lastGood = candidates.filter((x): x is string => x !== undefined).sort((a, b) => Date.parse(a) - Date.parse(b)).pop();
    c.backup = {
      cronJob: backupName(cluster), suspended: backup.suspend === true,
      ...(claimName === undefined ? {} : { claimName }),
      ...(backup.s3 === undefined ? {} : { target: backupTargetUrl(cluster, backup.s3) }),
      ...(lastGood === undefined ? {} : { lastGoodBackupTime: lastGood }),
      ...(verified === undefined ? {} : { lastVerifiedBackup: verified }),
      ...(lastSchedule === undefined ? {} : { lastScheduleTime: lastSchedule }),
      ...(lastSuccess === undefined ? {} : { lastSuccessfulTime: lastSuccess }),
      ...(st?.active === undefined ? {} : { active: st.active.length }),
    };
  }

  /**
   * RestoreBackup drills of this cluster: the newest verified backup, and with
   * spec.backup.restoreDrill a new drill at each scheduled time (named after it, so a retry
   * never makes two) with the finished scheduled ones beyond the newest RESTORE_DRILLS_KEPT deleted.
   */
  private async syncRestoreDrills(cluster: RaftCluster, backup: NonNullable<RaftCluster['spec']['backup']>): Promise<(VerifiedBackupStatus & { verifiedAt: string; drill: string }) | undefined> {
    const ns = cluster.metadata.namespace ?? 'default';
    const name = cluster.metadata.name;
    const drills = (await this.deps.client.list<RaftChaosDrill & KubeObject>(resourcePath(API_VERSION, 'RaftChaosDrill', ns))).items
      .filter((d) => d.spec.clusterRef.name === name && d.spec.action === 'RestoreBackup');
    const done = (d: RaftChaosDrill): boolean => ['Succeeded', 'Failed', 'Aborted'].includes(d.status?.phase ?? 'Pending');
    const ok = drills.filter((d) => d.status?.phase === 'Succeeded' && d.status.verifiedBackup !== undefined && d.status.finishedAt !== undefined)
      .sort((a, b) => Date.parse(a.status?.finishedAt ?? '') - Date.parse(b.status?.finishedAt ?? '')).pop();
    const prev = cluster.status?.backup?.lastVerifiedBackup;
    let verified = ok?.status?.verifiedBackup === undefined ? prev : { ...ok.status.verifiedBackup, verifiedAt: ok.status.finishedAt ?? '', drill: ok.metadata.name };
    // A pruned drill leaves its record in the status: never go back to an older one.
    if (prev !== undefined && verified !== undefined && Date.parse(prev.takenAt) > Date.parse(verified.takenAt)) verified = prev;
    const sched = backup.restoreDrill;
    if (sched === undefined || backup.s3 === undefined) return verified;
    const scheduled = drills.filter((d) => d.metadata.labels?.[SCHEDULED_DRILL_LABEL] === name);
    const lastFor = scheduled.map((d) => Number(d.metadata.annotations?.[SCHEDULED_FOR_ANNOTATION])).filter((x) => Number.isFinite(x)).sort((a, b) => a - b).pop();
    let fire: number | undefined;
    try {
      fire = dueRestoreDrill({ schedule: sched.schedule, nowMs: this.deps.now(), createdAtMs: Date.parse(cluster.metadata.creationTimestamp ?? new Date(this.deps.now()).toISOString()), lastScheduledForMs: lastFor, drillActive: drills.some((d) => !done(d)) });
    } catch {
      // A schedule cron-parser cannot read: BackupFresh says so (InvalidSchedule); nothing else is held up.
      return verified;
    }
    if (fire !== undefined) {
      const drill = {
        apiVersion: API_VERSION, kind: 'RaftChaosDrill',
        metadata: {
          name: `${name.slice(0, 30)}-restore-${Math.floor(fire / 1000)}`, namespace: ns, labels: { [SCHEDULED_DRILL_LABEL]: name },
          annotations: { [SCHEDULED_FOR_ANNOTATION]: String(fire) }, ownerReferences: [ownerReference(cluster)],
        },
        spec: { clusterRef: { name }, action: 'RestoreBackup' },
      };
      try {
        await this.deps.client.create(resourcePath(API_VERSION, 'RaftChaosDrill', ns), drill as unknown as KubeObject);
        await this.deps.events.record(cluster, 'Normal', 'RestoreDrillScheduled', `RaftChaosDrill ${drill.metadata.name} restores the newest backup into a scratch cluster`);
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    const old = scheduled.filter(done).sort((a, b) => Number(a.metadata.annotations?.[SCHEDULED_FOR_ANNOTATION] ?? 0) - Number(b.metadata.annotations?.[SCHEDULED_FOR_ANNOTATION] ?? 0));
    for (const d of old.slice(0, Math.max(0, old.length - RESTORE_DRILLS_KEPT))) await this.deps.client.delete(resourcePath(API_VERSION, 'RaftChaosDrill', ns, d.metadata.name));
    return verified;
  }

  /** finishedAt of the newest Succeeded RaftBackup of this cluster (none, also without the RaftBackup CRD). */
  private async lastOnDemandBackup(ns: string, clusterName: string): Promise<string | undefined> {
    let items: (RaftBackup & KubeObject)[];
    try {
      items = (await this.deps.client.list<RaftBackup & KubeObject>(resourcePath(API_VERSION, 'RaftBackup', ns))).items;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    return items.filter((b) => b.spec.clusterRef.name === clusterName && b.status?.phase === 'Succeeded' && b.status.finishedAt !== undefined)
      .map((b) => b.status?.finishedAt ?? '').sort((a, b) => Date.parse(a) - Date.parse(b)).pop();
  }

  private async act(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    const step = c.step;
    const obs = c.observed;
    if (cluster === undefined || step === undefined || obs === undefined) return DONE;
    const leaderClient = (): MemberClient => this.memberClient(cluster, obs.leader ?? memberName(cluster, 0), c.credentials);
    const note = (type: 'Normal' | 'Warning', reason: string, message: string): void => {
      c.stepNote = { type, reason, message };
    };
    const memberCall = async (call: string, fn: () => Promise<void>): Promise<boolean> => {
      try {
        await fn();
        this.deps.metrics.memberCalls.inc({ call, result: 'ok' });
        return true;
      } catch (err) {
        this.deps.metrics.memberCalls.inc({ call, result: err instanceof MemberClientError ? String(err.status) : 'error' });
        if (err instanceof MemberClientError && (err.status === 409 || err.status === 503 || err.status === 0)) {
          note('Warning', `${call}Retry`, err.message);
          return false;
        }
        throw err;
      }
    };
    switch (step.kind) {
      case 'none':
        c.requeueMs = this.options.pollIntervalMs;
        return CONTINUE;
      case 'refuse':
        note('Warning', step.reason, step.message);
        c.requeueMs = this.options.stepRequeueMs * 2;
        return CONTINUE;
      case 'bootstrap':
        note('Normal', 'Bootstrap', `created StatefulSet with ${step.replicas} bootstrap members (${step.reason})`);
        break;
      case 'setStatefulSetReplicas':
        note('Normal', 'ScaleStatefulSet', `StatefulSet replicas → ${step.replicas}: ${step.reason}`);
        break;
      case 'addLearner':
        if (await memberCall('AddLearner', () => leaderClient().addLearner({ name: step.member, ...this.deps.memberAdvertise(cluster, step.member) }))) {
          note('Normal', 'AddLearner', `added ${step.member} as a learner`);
        }
        break;
      case 'promote':
        if (await memberCall('Promote', () => leaderClient().promote(step.member))) note('Normal', 'PromoteLearner', `promoted ${step.member} to voter`);
        break;
      case 'transferLeadership':
        if (await memberCall('TransferLeadership', () => leaderClient().transferLeadership(step.to))) {
          note('Normal', 'TransferLeadership', `leadership ${step.from} → ${step.to}: ${step.reason}`);
        }
        break;
      case 'removeMember':
        if (await memberCall('RemoveMember', () => leaderClient().removeMember(step.member))) note('Normal', 'RemoveMember', `removed member ${step.member}`);
        break;
      case 'deletePod':
        await this.deps.client.delete(resourcePath('v1', 'Pod', c.namespace, step.pod));
        note('Normal', 'DeletePod', `deleted pod ${step.pod}: ${step.reason}`);
        break;
      case 'forceNewCluster':
        // The ConfigMap (applied above) names the survivor and the id; the restarted pod reads them.
        await this.deps.client.delete(resourcePath('v1', 'Pod', c.namespace, step.member));
        note('Warning', 'ForceNewCluster', `restarted ${step.member} with --force-new-cluster-id=${step.id}: it becomes the only voter, keeping its data`);
        break;
      case 'wipeMember': {
        // The PVC first: it goes once no pod uses it; the StatefulSet then recreates both, empty.
        const ordinal = ordinalOf(cluster, step.member);
        if (ordinal !== undefined) await this.deps.client.delete(resourcePath('v1', 'PersistentVolumeClaim', c.namespace, pvcName(cluster, ordinal)));
        await this.deps.client.delete(resourcePath('v1', 'Pod', c.namespace, step.member));
        c.wiped = step.member;
        note('Normal', 'WipeMember', `deleted PVC and pod of ${step.member} (removed from the cluster): it restarts empty and joins again as a learner`);
        break;
      }
    }
    c.requeueMs = this.options.stepRequeueMs;
    return CONTINUE;
  }

  /**
   * status.recovery from this pass's decision (the last record is kept once done), with an Event
   * on every phase change; the start is a Warning that says what may be lost.
   */
  private async writeRecovery(c: Ctx, cluster: RaftCluster, old: RaftClusterStatus, next: RaftClusterStatus): Promise<void> {
    const d = c.recovery;
    const record = d !== undefined && d.kind !== 'inactive' ? d.record : undefined;
    const kept = record ?? old.recovery;
    if (kept !== undefined) next.recovery = kept;
    if (record === undefined || (old.recovery?.id === record.id && old.recovery.phase === record.phase)) return;
    const reason = { WipingLostMembers: 'RecoveryStarted', ForcingSurvivor: 'RecoveryForcingSurvivor', Growing: 'RecoveryGrowing', Succeeded: 'RecoverySucceeded' }[record.phase];
    await this.deps.events.record(cluster, record.phase === 'WipingLostMembers' ? 'Warning' : 'Normal', reason, record.message);
    this.deps.log.warn({ cluster: `${c.namespace}/${c.name}`, recovery: record.id, phase: record.phase }, record.message);
  }

  /**
   * BackupFresh (planner/backup-freshness.ts) from status.backup and the leader's shipping state,
   * with the shipping figures copied into status.backup and the operator's backup gauges; a
   * Warning Event when it turns False. Without spec.backup the condition is removed.
   */
  private async backupFreshConditions(c: Ctx, cluster: RaftCluster, next: RaftClusterStatus, old: RaftClusterStatus, nowIso: string): Promise<Condition[]> {
    const conditions = (next.conditions ?? []).filter((x) => x.type !== 'BackupFresh');
    const backup = cluster.spec.backup;
    const labels = { namespace: c.namespace, cluster: c.name };
    if (backup === undefined || next.backup === undefined) {
      this.deps.metrics.backupFresh.remove(labels);
      this.deps.metrics.backupLastGoodTimestamp.remove(labels);
      return conditions;
    }
    const sh = shipsLog(cluster) ? c.observed?.backupShipping : undefined;
    if (sh !== undefined) next.backup.shipping = { healthy: sh.healthy, lagSeconds: sh.lagSeconds, shippedRevision: sh.shippedRevision, ...(sh.lastError === null ? {} : { lastError: sh.lastError }) };
    const last = next.backup.lastGoodBackupTime;
    const verdict = backupFreshness({
      schedule: backup.schedule, nowMs: this.deps.now(), drillSchedule: backup.restoreDrill?.schedule,
      createdAtMs: Date.parse(cluster.metadata.creationTimestamp ?? nowIso),
      lastGoodBackupMs: last === undefined ? undefined : Date.parse(last),
      shipping: shipsLog(cluster) ? { reported: sh !== undefined, healthy: sh?.healthy ?? false, lagSeconds: sh?.lagSeconds ?? 0, lastError: sh?.lastError ?? null } : undefined,
    });
    this.deps.metrics.backupFresh.set(labels, verdict.fresh ? 1 : 0);
    if (last !== undefined) this.deps.metrics.backupLastGoodTimestamp.set(labels, Date.parse(last) / 1000);
    const prev = (old.conditions ?? []).find((x) => x.type === 'BackupFresh');
    if (!verdict.fresh && (prev?.status !== 'False' || prev.reason !== verdict.reason)) await this.deps.events.record(cluster, 'Warning', verdict.reason, verdict.message);
    return setCondition(conditions, backupFreshCondition(verdict, cluster.metadata.generation), nowIso);
  }

  /** spec.recovery is used once: removed when the recovery is done or was not needed. */
  private async clearRecoveryApproval(c: Ctx, cluster: RaftCluster): Promise<void> {
    const d = c.recovery;
    if (d?.kind !== 'clearApproval' || cluster.spec.recovery === undefined) return;
    await this.deps.client.mergePatch(clusterPath(c.namespace, c.name), { spec: { recovery: null } });
    if (d.record === undefined) await this.deps.events.record(cluster, 'Normal', 'RecoveryNotNeeded', `spec.recovery removed: ${d.reason}`);
  }

  private async writeStatus(c: Ctx): Promise<StepResult> {
    const cluster = c.cluster;
    const obs = c.observed;
    const step = c.step;
    if (cluster === undefined || obs === undefined || step === undefined) return DONE;
    const old = cluster.status ?? {};
    const nowIso = isoSeconds(this.deps.now());
    const next = computeStatus(cluster, obs, step, c.stsReplicas, nowIso, c.security);
    if (c.backup !== undefined) next.backup = c.backup;
    const replacing = cluster.metadata.annotations?.[REPLACE_ANNOTATION];
    if (replacing !== undefined) {
      const prev = old.replacement?.member === replacing ? old.replacement : undefined;
      const wiped = prev?.wiped === true || c.wiped === replacing;
      if (wiped && obs.members.some((m) => m.name === replacing && m.voter)) {
        await this.deps.client.mergePatch(clusterPath(c.namespace, c.name), { metadata: { annotations: { [REPLACE_ANNOTATION]: null } } });
        await this.deps.events.record(cluster, 'Normal', 'MemberReplaced', `${replacing} replaced: removed, started empty, joined as a learner and promoted`);
      } else {
        next.replacement = { member: replacing, wiped, startedAt: prev?.startedAt ?? nowIso };
      }
    }
    await this.writeRecovery(c, cluster, old, next);
    const storageCond = storageCondition(c.storage ?? { kind: 'none' }, c.sts?.metadata?.deletionTimestamp !== undefined, cluster.metadata.generation, c.storageReplacement);
    if (c.sts !== undefined || c.storage?.kind !== 'none') {
      const prevStorage = (old.conditions ?? []).find((x) => x.type === 'StorageSynced');
      next.conditions = setCondition(next.conditions ?? [], storageCond, nowIso);
      if (storageCond.reason === 'StorageChangeRefused' && prevStorage?.message !== storageCond.message) {
        await this.deps.events.record(cluster, 'Warning', 'StorageChangeRefused', storageCond.message);
      }
      if (storageCond.status === 'True' && prevStorage !== undefined && prevStorage.status !== 'True') {
        await this.deps.events.record(cluster, 'Normal', 'StorageSynced', `member volumes match spec.storage (${storageText(cluster.spec.storage)}) after ${prevStorage.reason}`);
      }
    }
    const restore = cluster.spec.restore;
    if (restore !== undefined) next.conditions = setCondition(next.conditions ?? [], restoredCondition(restore, c.bootstrapState === 'existing', cluster.metadata.generation), nowIso);
    next.conditions = await this.backupFreshConditions(c, cluster, next, old, nowIso);
    const prevProgress = (old.conditions ?? []).find((x) => x.type === 'Progressing');
    const nextProgress = (next.conditions ?? []).find((x) => x.type === 'Progressing');
    // A refusal repeats every pass; its Event is recorded only when the reason or message changes.
    const note = c.stepNote;
    if (note !== undefined && (step.kind !== 'refuse' || prevProgress?.reason !== nextProgress?.reason || prevProgress?.message !== nextProgress?.message)) {
      await this.deps.events.record(cluster, note.type, note.reason, note.message);
      this.deps.log.info({ cluster: `${c.namespace}/${c.name}`, reason: note.reason }, note.message);
    }
    if (!jsonEqual(old, next)) {
      const patch: Record<string, unknown> = { ...next };
      for (const k of Object.keys(old)) if (!(k in next) || (next as Record<string, unknown>)[k] === undefined) patch[k] = null;
      await this.deps.client.mergePatch(clusterPath(c.namespace, c.name, 'status'), { status: patch });
    }
    await this.clearRecoveryApproval(c, cluster);
    return c.requeueMs === undefined ? CONTINUE : requeueAfter(c.requeueMs, step.kind);
  }
}

/**
 * Status while a security problem blocks the cluster (pure): Degraded and Progressing carry the
 * reason, phase Degraded; members, leader and term keep their last observed values.
 */
export function securityBlockedStatus(cluster: RaftCluster, problem: SecurityProblem, nowIso: string): RaftClusterStatus {
  const gen = cluster.metadata.generation;
  const og = gen === undefined ? {} : { observedGeneration: gen };
  let conditions: Condition[] = cluster.status?.conditions ?? [];
  conditions = setCondition(conditions, { type: 'Degraded', status: 'True', reason: problem.reason, message: problem.message, ...og }, nowIso);
  conditions = setCondition(conditions, { type: 'Progressing', status: 'False', reason: problem.reason, message: 'blocked until the TLS / auth configuration is fixed (see Degraded)', ...og }, nowIso);
  return { phase: 'Degraded', conditions, selector: selectorString(cluster), ...og };
}

/** The replacement the annotation asks for, with what status.replacement says is done. */
function replaceRequest(cluster: RaftCluster, obs: MemberObservation): PlannerInput['replace'] {
  const member = cluster.metadata.annotations?.[REPLACE_ANNOTATION];
  if (member === undefined) return undefined;
  const r = cluster.status?.replacement;
  return { member, ordinal: ordinalOf(cluster, member), wiped: r?.member === member && r.wiped, answeringLastIndex: obs.answered?.get(member)?.lastIndex };
}

/** ReconcileError condition of a pass that completed. */
function reconciledCondition(gen: number | undefined): Omit<Condition, 'lastTransitionTime'> {
  return { type: 'ReconcileError', status: 'False', reason: 'Reconciled', message: 'the last reconcile pass completed', ...(gen === undefined ? {} : { observedGeneration: gen }) };
}

/**
 * Members to report. With a leader: the live view. Without one: the last configuration seen under a
 * leader, each member unhealthy, with the role and applied index it reports itself if it answered
 * (`unreachable` otherwise), so the per-member view survives exactly when it is needed.
 */
function reportedMembers(cluster: RaftCluster, obs: MemberObservation, nowIso: string): { members: MemberStatus[]; stale: boolean } {
  const last = cluster.status?.members ?? [];
  const since = (name: string): { unhealthySince: string } => ({ unhealthySince: last.find((x) => x.name === name)?.unhealthySince ?? nowIso });
  if (obs.leader !== undefined || last.length === 0) {
    return { members: obs.members.map((m) => ({ name: m.name, role: m.role, voter: m.voter, healthy: m.healthy, appliedIndex: m.appliedIndex, ...(m.healthy ? {} : since(m.name)) })), stale: false };
  }
  return {
    stale: true,
    members: last.map((m) => {
      const a = obs.answered?.get(m.name);
      return { name: m.name, role: a?.role ?? 'unreachable', voter: m.voter, healthy: false, appliedIndex: a?.appliedIndex ?? m.appliedIndex, ...since(m.name) };
    }),
  };
}

/** Pure status computation from one pass's observation and decision (unit-tested). */
export function computeStatus(cluster: RaftCluster, obs: MemberObservation, step: PlanStep, stsReplicas: number | undefined, nowIso: string, security?: SecurityStatus): RaftClusterStatus {
  const { members, stale } = reportedMembers(cluster, obs, nowIso);
  const voters = obs.members.filter((m) => m.voter);
  const healthyVoters = voters.filter((m) => m.healthy).length;
  const available = obs.leader !== undefined && voters.length > 0 && healthyVoters >= quorumOf(voters.length);
  const unhealthy = obs.members.filter((m) => !m.healthy).map((m) => m.name);
  const gen = cluster.metadata.generation;
  const cond = (type: string, status: Condition['status'], reason: string, message: string): Omit<Condition, 'lastTransitionTime'> =>
    ({ type, status, reason, message, ...(gen === undefined ? {} : { observedGeneration: gen }) });
  let conditions: Condition[] = cluster.status?.conditions ?? [];
  conditions = setCondition(conditions, available
    ? cond('Available', 'True', 'QuorumHealthy', `leader ${obs.leader ?? ''}, ${healthyVoters}/${voters.length} voters healthy`)
    : cond('Available', 'False', 'NoQuorum', obs.leader === undefined
      ? `no member reports a leader${stale ? `; status.members is the last configuration seen (stale since ${cluster.status?.membersStaleSince ?? nowIso})` : ''}`
      : `${healthyVoters}/${voters.length} voters healthy`), nowIso);
  const progressing = step.kind === 'none'
    ? cond('Progressing', 'False', 'Settled', `cluster matches spec (${cluster.spec.replicas} voters)`)
    : step.kind === 'refuse'
      ? cond('Progressing', 'False', step.reason, step.message)
      : cond('Progressing', 'True', stepReason(step), stepMessage(step));
  conditions = setCondition(conditions, progressing, nowIso);
  conditions = setCondition(conditions, !available
    ? cond('Degraded', 'True', 'NoQuorum', 'the cluster cannot commit writes')
    : unhealthy.length > 0
      ? cond('Degraded', 'True', 'MemberUnhealthy', `unhealthy: ${unhealthy.join(', ')}`)
      : cond('Degraded', 'False', 'AllMembersHealthy', `${members.length} members healthy`), nowIso);
  conditions = setCondition(conditions, reconciledCondition(gen), nowIso);
  if (conditions.some((x) => x.type === 'Paused')) conditions = setCondition(conditions, cond('Paused', 'False', 'Reconciling', `no ${PAUSE_ANNOTATION}: ${PAUSE_VALUE} annotation; the operator acts on this cluster`), nowIso);
  let phase: RaftClusterPhase;
  if (cluster.metadata.deletionTimestamp !== undefined) phase = 'Deleting';
  else if (stsReplicas === undefined || (obs.leader === undefined && members.length === 0)) phase = 'Bootstrapping';
  else if (!available) phase = 'Degraded';
  else if (step.kind === 'deletePod' || (step.kind === 'transferLeadership' && members.length === cluster.spec.replicas)) phase = 'Upgrading';
  else if (members.length !== cluster.spec.replicas || stsReplicas !== members.length || members.some((m) => !m.voter)) phase = 'Scaling';
  else if (unhealthy.length > 0) phase = 'Degraded';
  else phase = 'Running';
  const lastError = cluster.status?.lastError;
  const status: RaftClusterStatus = {
    phase,
    replicas: members.length,
    readyReplicas: members.filter((m) => m.healthy).length,
    members,
    conditions,
    selector: selectorString(cluster),
    ...(gen === undefined ? {} : { observedGeneration: gen }),
    ...(obs.leader === undefined ? {} : { leader: obs.leader }),
    ...(obs.term === undefined ? {} : { term: obs.term }),
    ...(security === undefined ? {} : { security }),
    ...(stale ? { membersStaleSince: cluster.status?.membersStaleSince ?? nowIso } : {}),
    ...(lastError === undefined ? {} : { lastError }),
  };
  return status;
}

/**
 * Status after a failed pass (pure): the ReconcileError condition (True, the step and the error)
 * and lastError. undefined when nothing needs writing: the same error repeating within
 * `refreshMs` of the recorded one (each status write wakes the watch, which would defeat the
 * queue's backoff).
 */
export function reconcileErrorStatus(cluster: RaftCluster, step: string, message: string, nowMs: number, refreshMs = 60_000): Pick<RaftClusterStatus, 'conditions' | 'lastError'> | undefined {
  const msg = message.slice(0, 1000);
  const old = cluster.status;
  const prev = old?.conditions?.find((x) => x.type === 'ReconcileError');
  const last = old?.lastError;
  if (prev?.status === 'True' && last !== undefined && last.step === step && last.message === msg && nowMs - Date.parse(last.time) < refreshMs) return undefined;
  const gen = cluster.metadata.generation;
  const nowIso = isoSeconds(nowMs);
  const conditions = setCondition(old?.conditions ?? [], {
    type: 'ReconcileError', status: 'True', reason: `${step.charAt(0).toUpperCase()}${step.slice(1)}Failed`, message: `${step}: ${msg}`, ...(gen === undefined ? {} : { observedGeneration: gen }),
  }, nowIso);
  return { conditions, lastError: { time: nowIso, step, message: msg } };
}

/** `2Gi` or `2Gi of class fast`. */
function storageText(s: RaftCluster['spec']['storage']): string {
  return s.storageClassName === undefined || s.storageClassName === '' ? s.size : `${s.size} of class ${s.storageClassName}`;
}

/**
 * The `StorageSynced` condition: the members' volumes match spec.storage, or what is under way
 * (with replaceMembers, the progress and the member being replaced or what that waits for), or why not.
 */
export function storageCondition(step: StorageStep, replacing: boolean, generation: number | undefined, members?: StorageReplacementDecision): Omit<Condition, 'lastTransitionTime'> {
  const gen = generation === undefined ? {} : { observedGeneration: generation };
  if (replacing) return { type: 'StorageSynced', status: 'False', reason: 'ReplacingStatefulSet', message: 'waiting for the old StatefulSet object to go (orphan cascade, done by the garbage collector); pods and PVCs stay', ...gen };
  switch (step.kind) {
    case 'none': return { type: 'StorageSynced', status: 'True', reason: 'InSync', message: 'member volumes match spec.storage', ...gen };
    case 'expandClaims': return { type: 'StorageSynced', status: 'False', reason: 'ExpandingVolumes', message: `requesting ${step.size} for ${step.claims.join(', ')}`, ...gen };
    case 'replaceStatefulSet': return { type: 'StorageSynced', status: 'False', reason: 'ReplacingStatefulSet', message: step.reason, ...gen };
    case 'awaitExpansion': return { type: 'StorageSynced', status: 'False', reason: 'VolumeExpansionPending', message: step.message, ...gen };
    case 'replaceMembers': return {
      type: 'StorageSynced', status: 'False', reason: 'ReplacingMembers',
      message: `${step.done}/${step.total} members on ${step.target}; ${members?.message ?? `next: ${step.pending.join(', ')}`}`, ...gen,
    };
    case 'refuse': return { type: 'StorageSynced', status: 'False', reason: 'StorageChangeRefused', message: step.message, ...gen };
  }
}

/** The `Restored` condition of a cluster created with spec.restore: True once its bootstrap members formed a cluster. */
export function restoredCondition(restore: RestoreSpec, formed: boolean, generation: number | undefined): Omit<Condition, 'lastTransitionTime'> {
  const gen = generation === undefined ? {} : { observedGeneration: generation };
  return formed
    ? { type: 'Restored', status: 'True', reason: 'RestoredFromBackup', message: `cluster restored from ${restoreSourceText(restore)}`, ...gen }
    : { type: 'Restored', status: 'Unknown', reason: 'Restoring', message: `bootstrap members restore ${restoreSourceText(restore)}`, ...gen };
}

function stepReason(step: PlanStep): string {
  switch (step.kind) {
    case 'bootstrap': return 'Bootstrapping';
    case 'setStatefulSetReplicas': return 'ScalingStatefulSet';
    case 'addLearner': return 'AddingLearner';
    case 'promote': return 'PromotingLearner';
    case 'transferLeadership': return 'TransferringLeadership';
    case 'removeMember': return 'RemovingMember';
    case 'deletePod': return 'RollingPods';
    case 'wipeMember': return 'ReplacingMember';
    case 'forceNewCluster': return 'RecoveringQuorum';
    default: return 'Settled';
  }
}

function stepMessage(step: PlanStep): string {
  switch (step.kind) {
    case 'bootstrap': case 'setStatefulSetReplicas': case 'deletePod': case 'transferLeadership': return step.reason;
    case 'addLearner': return `adding ${step.member} as a learner`;
    case 'promote': return `promoting ${step.member}`;
    case 'removeMember': return `removing ${step.member}`;
    case 'wipeMember': return `deleting the PVC and pod of ${step.member} so it joins again empty`;
    case 'forceNewCluster': return `restarting ${step.member} with --force-new-cluster-id=${step.id}`;
    default: return '';
  }
}
