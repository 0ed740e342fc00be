// Pure builders for backups and restores (docs/security.md, "Kubernetes: scheduled backups and
// restoring into a new RaftCluster"):
//   - spec.backup  → a PVC `<cluster>-backup` (unless spec.backup.claimName) and a CronJob
//                    `<cluster>-backup` whose pod runs `raftctl ... snapshot save --dir --keep`;
//                    With spec.backup.s3 there is no PVC: the CronJob saves to the S3 prefix
//                    (`raftctl snapshot save s3://...`), and with spec.backup.continuous every
//                    member ships its committed log there too (`--backup-ship-to`, withBackupShipping);
//   - spec.restore → an init container on every member pod running
//                    `raftkv restore ... --skip-if-initialized` from the backup PVC (read-only)
//                    or from an S3 URL (optionally at --to-revision / --to-time).
// Backup pods carry their own labels: the member selector must never match them (the client
// Service, the PDB and the operator's pod list all select members by label).
import type { V1Container, V1CronJob, V1PersistentVolumeClaim, V1StatefulSet, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { BackupSpec, RaftCluster, RestoreSpec } from '../api/types.js';
import { backupTargetUrl, mergeEnv, s3CaVolumes, s3Env } from './s3.js';
import {
  AUTH_MOUNT_PATH, AUTH_TOKEN_FILE, CLIENT_PORT, DATA_MOUNT_PATH, DATA_VOLUME, TLS_MOUNT_PATH, clientScheme, clientServiceName, configMapName,
} from './names.js';
import { CM_INITIAL_CLUSTER, CM_INITIAL_CLUSTER_STATE, MEMBER_CONTAINER_SECURITY, TMP_VOLUME, memberSecretVolumes, ownerReference } from './objects.js';

/** Where the backup volume is mounted in the backup Job's pod. */
export const BACKUP_MOUNT_PATH = '/var/lib/raftkv-backup';
/** Where the restore source volume is mounted (read-only) in the restore init container. */
export const RESTORE_MOUNT_PATH = '/var/lib/raftkv-restore';
/** Pod volume name of the restore source. */
export const RESTORE_VOLUME = 'restore-source';
/** Name of the member container (build/objects.ts). */
export const MEMBER_CONTAINER = 'raftkv';
/** Name of the restore init container. */
export const RESTORE_CONTAINER = 'restore';
/** The member's --data-dir; must equal memberArgs' (a unit test holds them together). */
export const MEMBER_DATA_DIR = `${DATA_MOUNT_PATH}/data`;

/** Bounds of one backup run: retries of a failed Job, wall time of a Job, Jobs kept for inspection. */
export const BACKUP_JOB_LIMITS = { backoffLimit: 2, activeDeadlineSeconds: 600, startingDeadlineSeconds: 300, successfulJobsHistoryLimit: 3, failedJobsHistoryLimit: 3 } as const;

/** An invalid backup/restore spec the CRD should have refused (the reconcile fails with this). */
export class BackupSpecError extends Error {
  override readonly name = 'BackupSpecError';
}

/** Name of the CronJob and of the PVC the operator creates: `<cluster>-backup`. */
export function backupName(cluster: RaftCluster): string {
  return `${cluster.metadata.name}-backup`;
}

/** The PVC backups are written to: spec.backup.claimName, else `<cluster>-backup`; undefined with spec.backup.s3. */
export function backupClaimName(cluster: RaftCluster, backup: BackupSpec): string | undefined {
  if (backup.s3 !== undefined) return undefined;
  return backup.claimName ?? backupName(cluster);
}

/** Labels of backup objects and pods: deliberately NOT the member selector. */
export function backupLabels(cluster: RaftCluster): Record<string, string> {
  return { 'app.kubernetes.io/name': 'raftkv-backup', 'app.kubernetes.io/instance': cluster.metadata.name, 'app.kubernetes.io/managed-by': 'raftkv-operator', 'app.kubernetes.io/component': 'backup' };
}

/** The members' --cluster-token; must equal memberArgs' (a unit test holds them together). */
export function clusterTokenOf(cluster: RaftCluster): string {
  return `${cluster.metadata.name}.${cluster.metadata.namespace ?? 'default'}`;
}

/** The client Service URL the backup Job talks to (any ready member serves a backup). */
export function clientServiceUrl(cluster: RaftCluster): string {
  return `${clientScheme(cluster)}://${clientServiceName(cluster)}.${cluster.metadata.namespace ?? 'default'}.svc:${CLIENT_PORT}`;
}

/**
 * raftctl's global flags for talking to this cluster from inside it: the client Service (https
 * with spec.tls, trusting the cluster's ca.crt) and, with spec.auth, `--token-file` on the mounted
 * token Secret (raftctl takes its first admin entry; the token is never in the pod spec).
 */
export function raftctlGlobalArgs(cluster: RaftCluster): string[] {
  const args = ['--endpoints', clientServiceUrl(cluster)];
  if (cluster.spec.tls?.enabled === true) args.push('--cacert', `${TLS_MOUNT_PATH}/ca.crt`);
  if (cluster.spec.auth !== undefined) args.push('--token-file', `${AUTH_MOUNT_PATH}/${AUTH_TOKEN_FILE}`);
  return args;
}

/** Volumes the backup pod needs for raftctlGlobalArgs: the CA only (not the member key) and the token file. */
export function backupSecretVolumes(cluster: RaftCluster): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  return memberSecretVolumes(cluster, ['ca.crt']);
}

/**
 * The backup container's command and args: `raftctl <global> snapshot save --dir <mount> --keep N`,
 * or with s3 `raftctl <global> snapshot save s3://bucket/prefix/ --keep N [--keep-within D]`.
 */
export function backupCommand(cluster: RaftCluster, backup: BackupSpec): { command: string[]; args: string[] } {
  const keep = ['--keep', String(backup.keep)];
  if (backup.s3 !== undefined) {
    const within = backup.keepWithin === undefined ? [] : ['--keep-within', backup.keepWithin];
    return { command: ['raftctl'], args: [...raftctlGlobalArgs(cluster), 'snapshot', 'save', backupTargetUrl(cluster, backup.s3), ...keep, ...within] };
  }
  if (backup.keepWithin !== undefined) throw new BackupSpecError('spec.backup.keepWithin needs spec.backup.s3 (a backup volume keeps the newest spec.backup.keep)');
  return { command: ['raftctl'], args: [...raftctlGlobalArgs(cluster), 'snapshot', 'save', '--dir', BACKUP_MOUNT_PATH, ...keep] };
}

/** The backup PVC, created once when absent (never patched: most of a PVC's spec is immutable) and never deleted by the operator. */
export function buildBackupPvc(cluster: RaftCluster, backup: BackupSpec): V1PersistentVolumeClaim {
  const storage = backup.storage ?? { size: '1Gi' };
  return {
    apiVersion: 'v1', kind: 'PersistentVolumeClaim',
    // No owner reference: deleting the RaftCluster (or removing spec.backup) must not take the
    // backups with it; the annotation says whose backups these are.
    metadata: { name: backupName(cluster), namespace: cluster.metadata.namespace ?? 'default', labels: backupLabels(cluster), annotations: { 'raftkv.dev/backups-of': cluster.metadata.name } },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: storage.size } },
      ...(storage.storageClassName === undefined ? {} : { storageClassName: storage.storageClassName }),
    },
  };
}

/** The CronJob: one backup at a time, bounded retries, run time and history. */
export function buildBackupCronJob(cluster: RaftCluster, backup: BackupSpec): V1CronJob {
  const labels = backupLabels(cluster);
  checkBackupTarget(cluster);
  const cmd = backupCommand(cluster, backup);
  const secrets = backupSecretVolumes(cluster);
  const claimName = backupClaimName(cluster, backup);
  const s3 = backup.s3;
  const ca = s3 === undefined ? { volumes: [], mounts: [] } : s3CaVolumes(s3);
  const volumes: V1Volume[] = [...(claimName === undefined ? [] : [{ name: 'backup', persistentVolumeClaim: { claimName } }]), ...secrets.volumes, ...ca.volumes];
  const mounts: V1VolumeMount[] = [...(claimName === undefined ? [] : [{ name: 'backup', mountPath: BACKUP_MOUNT_PATH }]), ...secrets.mounts, ...ca.mounts];
  const L = BACKUP_JOB_LIMITS;
  return {
    apiVersion: 'batch/v1', kind: 'CronJob',
    metadata: { name: backupName(cluster), namespace: cluster.metadata.namespace ?? 'default', labels, ownerReferences: [ownerReference(cluster)] },
    spec: {
      schedule: backup.schedule,
      // Freshness (BackupFresh) reads the schedule in UTC: the CronJob must fire on the same clock.
      timeZone: 'Etc/UTC',
      suspend: backup.suspend ?? false,
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: L.startingDeadlineSeconds,
      successfulJobsHistoryLimit: L.successfulJobsHistoryLimit,
      failedJobsHistoryLimit: L.failedJobsHistoryLimit,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: L.backoffLimit,
          activeDeadlineSeconds: L.activeDeadlineSeconds,
          template: {
            metadata: { labels },
            spec: {
              // Each failed attempt is a new pod (kept for its logs, up to backoffLimit).
              restartPolicy: 'Never',
              // The image runs as uid/gid 1000: the volume must be writable by that group.
              securityContext: { fsGroup: 1000 },
              containers: [{
                name: 'backup', image: cluster.spec.image, imagePullPolicy: cluster.spec.imagePullPolicy ?? 'IfNotPresent',
                command: cmd.command, args: cmd.args,
                ...(s3 === undefined ? {} : { env: s3Env(s3) }),
                volumeMounts: mounts,
              }],
              volumes,
            },
          },
        },
      },
    },
  };
}

/** Throws BackupSpecError unless `file` is a plain relative path inside the volume. */
export function checkRestoreFile(file: string): void {
  const parts = file.split('/');
  if (file === '' || file.length > 1024 || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new BackupSpecError(`spec.restore.file must be a relative path inside the PVC without '.', '..' or empty parts, got ${JSON.stringify(file)}`);
  }
}

/** Throws BackupSpecError unless spec.restore names exactly one source and a point in time only with an S3 prefix. */
export function checkRestoreSpec(restore: RestoreSpec): void {
  const pvc = restore.claimName !== undefined || restore.file !== undefined;
  if (pvc === (restore.s3 !== undefined)) throw new BackupSpecError('spec.restore needs either claimName and file, or s3');
  if (pvc && (restore.claimName === undefined || restore.file === undefined)) throw new BackupSpecError('spec.restore needs both claimName and file');
  if (restore.file !== undefined) checkRestoreFile(restore.file);
  if (restore.toRevision !== undefined && restore.toTime !== undefined) throw new BackupSpecError('spec.restore.toRevision and toTime exclude each other');
  const pit = restore.toRevision !== undefined || restore.toTime !== undefined;
  if (pit && (restore.s3 === undefined || !restore.s3.url.endsWith('/'))) throw new BackupSpecError('spec.restore.toRevision/toTime need spec.restore.s3.url to be the backup prefix (ending in /)');
  if (restore.s3 !== undefined && !/^s3:\/\/[^/]+(\/.*)?$/.test(restore.s3.url)) throw new BackupSpecError(`spec.restore.s3.url must be s3://BUCKET/PREFIX/[OBJECT], got ${JSON.stringify(restore.s3.url)}`);
}

/** Where the restore reads from, as the words of an Event or condition. */
export function restoreSourceText(restore: RestoreSpec): string {
  if (restore.s3 !== undefined) {
    const at = restore.toRevision !== undefined ? ` at revision ${restore.toRevision}` : restore.toTime !== undefined ? ` as of ${restore.toTime}` : '';
    return `${restore.s3.url}${at}`;
  }
  return `backup ${restore.file ?? ''} on PVC ${restore.claimName ?? ''}`;
}

/**
 * The restore init container of every member pod. It restores only where --initial-cluster-state
 * (from the ConfigMap, like the member's own) is `new`, the pod is named in --initial-cluster
 * and its data dir is empty; every other start (a restart, a scale-up member that joins as a
 * learner, any start after the cluster formed) exits 0 without touching the data dir.
 */
export function buildRestoreInitContainer(cluster: RaftCluster, restore: RestoreSpec): V1Container {
  checkRestoreSpec(restore);
  const cm = configMapName(cluster);
  const s3 = restore.s3;
  const from = s3 !== undefined ? s3.url : `${RESTORE_MOUNT_PATH}/${restore.file ?? ''}`;
  const pit = restore.toRevision !== undefined ? [`--to-revision=${restore.toRevision}`] : restore.toTime !== undefined ? [`--to-time=${restore.toTime}`] : [];
  const ca = s3 === undefined ? { volumes: [], mounts: [] } : s3CaVolumes(s3);
  return {
    name: RESTORE_CONTAINER, image: cluster.spec.image, imagePullPolicy: cluster.spec.imagePullPolicy ?? 'IfNotPresent',
    command: ['raftkv'],
    args: [
      'restore', `--from=${from}`, ...pit, `--data-dir=${MEMBER_DATA_DIR}`, '--name=$(POD_NAME)',
      '--initial-cluster=$(RAFTKV_INITIAL_CLUSTER)', '--initial-cluster-state=$(RAFTKV_INITIAL_CLUSTER_STATE)',
      `--cluster-token=${clusterTokenOf(cluster)}`, '--skip-if-initialized',
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'RAFTKV_INITIAL_CLUSTER', valueFrom: { configMapKeyRef: { name: cm, key: CM_INITIAL_CLUSTER } } },
      { name: 'RAFTKV_INITIAL_CLUSTER_STATE', valueFrom: { configMapKeyRef: { name: cm, key: CM_INITIAL_CLUSTER_STATE } } },
      ...(s3 === undefined ? [] : s3Env(s3)),
    ],
    volumeMounts: [
      { name: DATA_VOLUME, mountPath: DATA_MOUNT_PATH },
      ...(s3 === undefined ? [{ name: RESTORE_VOLUME, mountPath: RESTORE_MOUNT_PATH, readOnly: true }] : ca.mounts),
      { name: TMP_VOLUME, mountPath: '/tmp' },
    ],
    securityContext: MEMBER_CONTAINER_SECURITY,
  };
}

/** The pod volumes of the restore source: the read-only claim, or the S3 CA bundle. */
export function restoreVolumes(restore: RestoreSpec): V1Volume[] {
  if (restore.s3 !== undefined) return s3CaVolumes(restore.s3).volumes;
  return [{ name: RESTORE_VOLUME, persistentVolumeClaim: { claimName: restore.claimName ?? '', readOnly: true } }];
}

/**
 * The member StatefulSet with the restore init container and its volume added when spec.restore
 * is set (unchanged otherwise). Applied on top of buildStatefulSet so that builder stays as is.
 */
export function withRestore(sts: V1StatefulSet, cluster: RaftCluster): V1StatefulSet {
  const restore = cluster.spec.restore;
  const pod = sts.spec?.template.spec;
  if (restore === undefined || sts.spec === undefined || pod === undefined) return sts;
  return {
    ...sts,
    spec: {
      ...sts.spec,
      template: {
        ...sts.spec.template,
        spec: { ...pod, initContainers: [...(pod.initContainers ?? []), buildRestoreInitContainer(cluster, restore)], volumes: [...(pod.volumes ?? []), ...restoreVolumes(restore)] },
      },
    },
  };
}

/**
 * Throws BackupSpecError when spec.backup.s3 would write into the prefix spec.restore.s3 restores
 * from: the restored cluster is a new cluster whose log reuses the old one's indexes, so shipping
 * (and retention) there would mix two clusters' backups and break the old ones.
 */
export function checkBackupTarget(cluster: RaftCluster): void {
  const target = cluster.spec.backup?.s3;
  const from = cluster.spec.restore?.s3?.url;
  if (target === undefined || from === undefined) return;
  const url = backupTargetUrl(cluster, target);
  const fromPrefix = from.endsWith('/') ? from : from.slice(0, from.lastIndexOf('/') + 1);
  if (fromPrefix === url) {
    throw new BackupSpecError(`spec.backup.s3 writes to ${url}, the prefix spec.restore.s3 restores from: give the restored cluster a new spec.backup.s3.prefix (its log reuses the old cluster's indexes)`);
  }
}

/** True when the members ship their log (spec.backup.continuous with s3). */
export function shipsLog(cluster: RaftCluster): boolean {
  return cluster.spec.backup?.s3 !== undefined && cluster.spec.backup.continuous === true;
}

/**
 * The member StatefulSet with continuous log shipping: `--backup-ship-to=<the backup prefix>` on
 * the raftkv container, the AWS environment and the CA bundle (unchanged without shipsLog).
 */
export function withBackupShipping(sts: V1StatefulSet, cluster: RaftCluster): V1StatefulSet {
  const s3 = cluster.spec.backup?.s3;
  const pod = sts.spec?.template.spec;
  if (!shipsLog(cluster) || s3 === undefined || sts.spec === undefined || pod === undefined) return sts;
  checkBackupTarget(cluster);
  const ca = s3CaVolumes(s3);
  const containers = pod.containers.map((c) => (c.name !== MEMBER_CONTAINER ? c : {
    ...c,
    args: [...(c.args ?? []), `--backup-ship-to=${backupTargetUrl(cluster, s3)}`],
    env: mergeEnv(c.env, s3Env(s3)),
    volumeMounts: [...(c.volumeMounts ?? []), ...ca.mounts],
  }));
  return { ...sts, spec: { ...sts.spec, template: { ...sts.spec.template, spec: { ...pod, containers, volumes: [...(pod.volumes ?? []), ...ca.volumes] } } } };
}
