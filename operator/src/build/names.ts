// Names and labels every builder and controller agrees on; one place so they cannot drift.
import type { RaftCluster } from '../api/types.js';

/** Client (HTTP API) port of every member. */
export const CLIENT_PORT = 2379;
/** Peer (raft) port of every member. */
export const PEER_PORT = 2380;
/** Mount path of the member's data volume; --data-dir points here. */
export const DATA_MOUNT_PATH = '/var/lib/raftkv';
/** Name of the volumeClaimTemplate (PVCs are `<this>-<cluster>-<ordinal>`). */
export const DATA_VOLUME = 'data';
/** Volume (a Secret: `ca.crt`, `tls.crt`, `tls.key`) and mount path of the member TLS material. */
export const TLS_VOLUME = 'tls';
export const TLS_MOUNT_PATH = '/etc/raftkv/tls';
/** Volume (the token Secret's key projected as `tokens`) and mount path of the auth token file. */
export const AUTH_VOLUME = 'auth-tokens';
export const AUTH_MOUNT_PATH = '/etc/raftkv/auth';
/** File name of the token file inside AUTH_MOUNT_PATH. */
export const AUTH_TOKEN_FILE = 'tokens';
/** Default key of spec.auth.tokenSecretName. */
export const DEFAULT_TOKEN_SECRET_KEY = 'tokens';
/** Cluster DNS domain the certificate names cover besides `.svc`. */
export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * Label the operator keeps on each member pod from the live raft configuration: `voter` or
 * `learner` (absent on pods that are not members). The PodDisruptionBudget selects voters only.
 */
export const MEMBER_ROLE_LABEL = 'raftkv.dev/role';

/** Labels on every object of one cluster; the pod selector is exactly these. */
export function selectorLabels(cluster: RaftCluster): Record<string, string> {
  return { 'app.kubernetes.io/name': 'raftkv', 'app.kubernetes.io/instance': cluster.metadata.name };
}

/** Labels on owned objects: the selector labels plus who manages them. */
export function commonLabels(cluster: RaftCluster): Record<string, string> {
  return { ...selectorLabels(cluster), 'app.kubernetes.io/managed-by': 'raftkv-operator', 'app.kubernetes.io/component': 'raftkv-member' };
}

/** `a=b,c=d` form of the selector, for status.selector (scale subresource). */
export function selectorString(cluster: RaftCluster): string {
  return Object.entries(selectorLabels(cluster)).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Headless Service giving each member a stable DNS name (`<pod>.<this>.<ns>.svc`). */
export function peerServiceName(cluster: RaftCluster): string {
  return `${cluster.metadata.name}-peer`;
}

/** ClusterIP Service clients use. */
export function clientServiceName(cluster: RaftCluster): string {
  return cluster.metadata.name;
}

/** ConfigMap holding the bootstrap configuration. */
export function configMapName(cluster: RaftCluster): string {
  return `${cluster.metadata.name}-config`;
}

/** PodDisruptionBudget name. */
export function pdbName(cluster: RaftCluster): string {
  return cluster.metadata.name;
}

/** StatefulSet name; pods (and so members) are `<this>-<ordinal>`. */
export function statefulSetName(cluster: RaftCluster): string {
  return cluster.metadata.name;
}

/** Member (and pod) name of an ordinal. */
export function memberName(cluster: RaftCluster, ordinal: number): string {
  return `${statefulSetName(cluster)}-${ordinal}`;
}

/** Ordinal of a member name of this cluster, or undefined if it is not one of ours. */
export function ordinalOf(cluster: RaftCluster, member: string): number | undefined {
  const prefix = `${statefulSetName(cluster)}-`;
  if (!member.startsWith(prefix)) return undefined;
  const rest = member.slice(prefix.length);
  return /^(0|[1-9][0-9]{0,3})$/.test(rest) ? Number(rest) : undefined;
}

/** PVC of a member's data volume. */
export function pvcName(cluster: RaftCluster, ordinal: number): string {
  return `${DATA_VOLUME}-${memberName(cluster, ordinal)}`;
}

/** In-cluster DNS host of a member. */
export function memberHost(cluster: RaftCluster, member: string): string {
  return `${member}.${peerServiceName(cluster)}.${cluster.metadata.namespace ?? 'default'}.svc`;
}

/** Peer address (`host:port`) other members dial. */
export function memberPeerUrl(cluster: RaftCluster, member: string): string {
  return `${memberHost(cluster, member)}:${PEER_PORT}`;
}

/** `https` when the cluster runs with spec.tls.enabled, else `http`. */
export function clientScheme(cluster: RaftCluster): 'http' | 'https' {
  return cluster.spec.tls?.enabled === true ? 'https' : 'http';
}

/** Client URL of a member as seen inside the cluster. */
export function memberClientUrl(cluster: RaftCluster, member: string): string {
  return `${clientScheme(cluster)}://${memberHost(cluster, member)}:${CLIENT_PORT}`;
}

/** Secret holding the operator-generated cluster CA (`ca.crt`, `ca.key`). */
export function caSecretName(cluster: RaftCluster): string {
  return `${cluster.metadata.name}-ca`;
}

/** Secret the operator generates for the members' certificate when spec.tls.secretName is unset. */
export function generatedTlsSecretName(cluster: RaftCluster): string {
  return `${cluster.metadata.name}-tls`;
}

/** Secret mounted into members with TLS on: the user's spec.tls.secretName, else the generated one. */
export function tlsSecretName(cluster: RaftCluster): string {
  return cluster.spec.tls?.secretName ?? generatedTlsSecretName(cluster);
}

/** Key of the token Secret holding the token file. */
export function tokenSecretKey(cluster: RaftCluster): string {
  return cluster.spec.auth?.tokenSecretKey ?? DEFAULT_TOKEN_SECRET_KEY;
}

/**
 * Every name a member certificate must cover: per-pod headless names (wildcards, with and
 * without the cluster domain, and the shorter forms a pod in the same namespace may use), the
 * headless and client Service names, localhost and 127.0.0.1 (probes, port-forward).
 */
export function memberCertificateNames(cluster: RaftCluster): string[] {
  const ns = cluster.metadata.namespace ?? 'default';
  const peer = peerServiceName(cluster);
  const client = clientServiceName(cluster);
  return [
    `*.${peer}.${ns}.svc`, `*.${peer}.${ns}.svc.${CLUSTER_DOMAIN}`, `*.${peer}.${ns}`, `*.${peer}`,
    `${peer}.${ns}.svc`, `${peer}.${ns}.svc.${CLUSTER_DOMAIN}`,
    client, `${client}.${ns}`, `${client}.${ns}.svc`, `${client}.${ns}.svc.${CLUSTER_DOMAIN}`,
    'localhost', '127.0.0.1',
  ];
}

/** Quorum size of n voters. */
export function quorumOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
