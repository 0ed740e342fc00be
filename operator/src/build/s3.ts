// Pure builders for reaching S3 from a pod (spec.backup.s3, spec.restore.s3): the standard AWS
// environment variables raftctl and raftkv read (docs/security.md, "Backups to S3"), credentials
// as secretKeyRefs (the keys never appear in a spec), and the private CA as a mounted Secret.
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { RaftCluster, S3BackupTarget, S3Connection } from '../api/types.js';

/** Where the S3 CA bundle is mounted (AWS_CA_BUNDLE points at its file). */
export const S3_CA_MOUNT_PATH = '/etc/raftkv/s3-ca';
/** Pod volume name of the S3 CA bundle. */
export const S3_CA_VOLUME = 's3-ca';
/** File name of the CA bundle inside S3_CA_MOUNT_PATH. */
export const S3_CA_FILE = 'ca.crt';
/** Default keys of the credentials Secret (what `kubectl create secret generic --from-env-file` of an AWS env file gives). */
export const DEFAULT_ACCESS_KEY_ID_KEY = 'AWS_ACCESS_KEY_ID';
export const DEFAULT_SECRET_ACCESS_KEY_KEY = 'AWS_SECRET_ACCESS_KEY';

/** The prefix of spec.backup.s3 (default `<namespace>/<cluster>/`), always ending in `/`. */
export function backupPrefix(cluster: RaftCluster, target: S3BackupTarget): string {
  const p = target.prefix ?? `${cluster.metadata.namespace ?? 'default'}/${cluster.metadata.name}/`;
  return p === '' || p.endsWith('/') ? p : `${p}/`;
}

/** `s3://bucket/prefix/` of spec.backup.s3: where snapshots go and the log is shipped. */
export function backupTargetUrl(cluster: RaftCluster, target: S3BackupTarget): string {
  return `s3://${target.bucket}/${backupPrefix(cluster, target)}`;
}

/** The AWS environment for `conn` (only what it sets; the pod's own environment supplies the rest). */
export function s3Env(conn: S3Connection): V1EnvVar[] {
  const env: V1EnvVar[] = [];
  if (conn.endpoint !== undefined) env.push({ name: 'AWS_ENDPOINT_URL_S3', value: conn.endpoint });
  if (conn.region !== undefined) env.push({ name: 'AWS_REGION', value: conn.region });
  if (conn.forcePathStyle !== undefined) env.push({ name: 'RAFTKV_S3_PATH_STYLE', value: String(conn.forcePathStyle) });
  const creds = conn.credentialsSecret;
  if (creds !== undefined) {
    env.push({ name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: creds.name, key: creds.accessKeyIdKey ?? DEFAULT_ACCESS_KEY_ID_KEY } } });
    env.push({ name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: creds.name, key: creds.secretAccessKeyKey ?? DEFAULT_SECRET_ACCESS_KEY_KEY } } });
  }
  if (conn.caSecret !== undefined) env.push({ name: 'AWS_CA_BUNDLE', value: `${S3_CA_MOUNT_PATH}/${S3_CA_FILE}` });
  return env;
}

/** The CA bundle volume and mount for `conn` (none without caSecret). */
export function s3CaVolumes(conn: S3Connection): { volumes: V1Volume[]; mounts: V1VolumeMount[] } {
  const ca = conn.caSecret;
  if (ca === undefined) return { volumes: [], mounts: [] };
  return {
    volumes: [{ name: S3_CA_VOLUME, secret: { secretName: ca.name, defaultMode: 0o444, items: [{ key: ca.key ?? S3_CA_FILE, path: S3_CA_FILE }] } }],
    mounts: [{ name: S3_CA_VOLUME, mountPath: S3_CA_MOUNT_PATH, readOnly: true }],
  };
}

/** Env names s3Env may set: a container gets them from the spec, so spec.pod.env must not set them too. */
export const S3_ENV_NAMES = ['AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'RAFTKV_S3_PATH_STYLE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_CA_BUNDLE'] as const;

/** Adds `env` to a container's env, replacing entries of the same name (the spec wins over spec.pod.env). */
export function mergeEnv(base: readonly V1EnvVar[] | undefined, env: readonly V1EnvVar[]): V1EnvVar[] {
  const names = new Set(env.map((e) => e.name));
  return [...(base ?? []).filter((e) => !names.has(e.name)), ...env];
}
