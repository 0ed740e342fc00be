// Pure builders for backups and restores (docs/security.md, "Kubernetes: scheduled backups and
// restoring into a new RaftCluster"):
//   - spec.backup  → a PVC `<cluster>-backup` (unless spec.backup.claimName) and a CronJob
//                    `<cluster>-backup` whose pod runs `raftctl ... snapshot save --dir --keep`;
//   - spec.restore → an init container on every member pod running
//                    `raftkv restore ... --skip-if-initialized` from the backup PVC (read-only).
// Backup pods carry their own labels: the member selector must never match them (the client
// Service, the PDB and the operator's pod list all select members by label).
import type { V1Container, V1CronJob, V1PersistentVolumeClaim, V1StatefulSet, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { BackupSpec, RaftCluster, RestoreSpec } from '../api/types.js';
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

/** The PVC backups are written to: spec.backup.claimName, else `<cluster>-backup`. */
export function backupClaimName(cluster: RaftCluster, backup: BackupSpec): string {
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

/** The backup container's command and args: `raftctl <global> snapshot save --dir <mount> --keep N`. */
export function backupCommand(cluster: RaftCluster, backup: BackupSpec): { command: string[]; args: string[] } {
  return { command: ['raftctl'], args: [...raftctlGlobalArgs(cluster), 'snapshot', 'save', '--dir', BACKUP_MOUNT_PATH, '--keep', String(backup.keep)] };
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
  const cmd = backupCommand(cluster, backup);
  const secrets = backupSecretVolumes(cluster);
  const L = BACKUP_JOB_LIMITS;
  return {
    apiVersion: 'batch/v1', kind: 'CronJob',
    metadata: { name: backupName(cluster), namespace: cluster.metadata.namespace ?? 'default', labels, ownerReferences: [ownerReference(cluster)] },
    spec: {
      schedule: backup.schedule,
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
                volumeMounts: [{ name: 'backup', mountPath: BACKUP_MOUNT_PATH }, ...secrets.mounts],
              }],
              volumes: [{ name: 'backup', persistentVolumeClaim: { claimName: backupClaimName(cluster, backup) } }, ...secrets.volumes],
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

/**
 * The restore init container of every member pod. It restores only where --initial-cluster-state
 * (from the ConfigMap, like the member's own) is `new`, the pod is named in --initial-cluster
 * and its data dir is empty; every other start (a restart, a scale-up member that joins as a
 * learner, any start after the cluster formed) exits 0 without touching the data dir.
 */
export function buildRestoreInitContainer(cluster: RaftCluster, restore: RestoreSpec): V1Container {
  checkRestoreFile(restore.file);
  const cm = configMapName(cluster);
  return {
    name: RESTORE_CONTAINER, image: cluster.spec.image, imagePullPolicy: cluster.spec.imagePullPolicy ?? 'IfNotPresent',
    command: ['raftkv'],
    args: [
      'restore', `--from=${RESTORE_MOUNT_PATH}/${restore.file}`, `--data-dir=${MEMBER_DATA_DIR}`, '--name=$(POD_NAME)',
      '--initial-cluster=$(RAFTKV_INITIAL_CLUSTER)', '--initial-cluster-state=$(RAFTKV_INITIAL_CLUSTER_STATE)',
      `--cluster-token=${clusterTokenOf(cluster)}`, '--skip-if-initialized',
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'RAFTKV_INITIAL_CLUSTER', valueFrom: { configMapKeyRef: { name: cm, key: CM_INITIAL_CLUSTER } } },
      { name: 'RAFTKV_INITIAL_CLUSTER_STATE', valueFrom: { configMapKeyRef: { name: cm, key: CM_INITIAL_CLUSTER_STATE } } },
    ],
    volumeMounts: [{ name: DATA_VOLUME, mountPath: DATA_MOUNT_PATH }, { name: RESTORE_VOLUME, mountPath: RESTORE_MOUNT_PATH, readOnly: true }, { name: TMP_VOLUME, mountPath: '/tmp' }],
    securityContext: MEMBER_CONTAINER_SECURITY,
  };
}

/** The pod volume of the restore source (read-only claim). */
export function restoreVolume(restore: RestoreSpec): V1Volume {
  return { name: RESTORE_VOLUME, persistentVolumeClaim: { claimName: restore.claimName, readOnly: true } };
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
        spec: { ...pod, initContainers: [...(pod.initContainers ?? []), buildRestoreInitContainer(cluster, restore)], volumes: [...(pod.volumes ?? []), restoreVolume(restore)] },
      },
    },
  };
}
