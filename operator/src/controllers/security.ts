// spec.tls and spec.auth of a RaftCluster: makes sure the TLS material exists and is usable
// (generating the cluster CA and renewing the member certificate when the operator owns them),
// reads the operator's own credentials (the CA to trust, the admin token) and says what is wrong
// in words a user can act on. Never writes a Secret it did not create; never puts a token or a
// key into a message.
import type { V1Secret } from '@kubernetes/client-node';
import type { RaftCluster, SecurityStatus } from '../api/types.js';
import { buildCaSecret, buildMemberTlsSecret, generatedSecretLabels } from '../build/objects.js';
import { caSecretName, generatedTlsSecretName, memberCertificateNames, tlsSecretName, tokenSecretKey } from '../build/names.js';
import type { KubeClient, KubeObject } from '../kube/rest.js';
import { isConflict, resourcePath } from '../kube/rest.js';
import type { MemberCredentials } from '../member-client/client.js';
import type { CertificateLifetimes, PemPair } from '../security/certificates.js';
import { CertificateMaterialError, checkPair, generateCa, issueMemberCertificate, parseCertificate, renewalReason } from '../security/certificates.js';
import { TokenFileProblem, adminTokenFrom } from '../security/token-file.js';
import { isoSeconds } from './conditions.js';

/** Why the cluster's security configuration cannot be used (the Degraded condition's reason). */
export type SecurityProblemReason =
  | 'TLSChangeRefused' | 'TLSSecretNotFound' | 'TLSSecretInvalid' | 'TLSSecretConflict'
  | 'AuthSecretNotFound' | 'AuthTokenInvalid';

/** A problem the user has to fix; `message` names Secrets and keys, never their contents. */
export class SecurityProblem extends Error {
  override readonly name = 'SecurityProblem';
  constructor(readonly reason: SecurityProblemReason, message: string) {
    super(message);
  }
}

/** Something the operator did to the material, for an Event. */
export interface SecurityNote {
  readonly reason: 'CACreated' | 'CertificateIssued' | 'CertificateRenewed';
  readonly message: string;
}

/** Everything usable: credentials for the member client, the status field, what was done. */
export interface SecurityReady {
  readonly credentials: MemberCredentials;
  readonly status: SecurityStatus;
  readonly notes: readonly SecurityNote[];
}

/** The Secret data key, decoded; undefined when absent or empty. */
export function secretText(secret: V1Secret, key: string): string | undefined {
  const v = secret.data?.[key];
  if (v === undefined || v === '') return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
}

/** True when the operator generated `secret` for this RaftCluster (its labels and an owner reference to this uid). */
export function ownedByCluster(secret: V1Secret, cluster: RaftCluster): boolean {
  const want = generatedSecretLabels(cluster);
  const labels = secret.metadata?.labels ?? {};
  const labelled = Object.entries(want).every(([k, v]) => labels[k] === v);
  const owned = (secret.metadata?.ownerReferences ?? []).some((o) => o.kind === 'RaftCluster' && o.uid === cluster.metadata.uid);
  return labelled && owned;
}

/**
 * The refusal of a TLS change after creation. Members cannot switch between plain and TLS peer
 * traffic (or between CAs) one pod at a time without losing their quorum, so the operator does
 * not start such a roll: `inEffect` is what the StatefulSet mounts now (undefined: no StatefulSet
 * yet, null: no TLS). The CRD refuses the change too; this covers objects the CEL rule did not see.
 */
export function tlsChangeProblem(cluster: RaftCluster, inEffect: string | null | undefined): SecurityProblem | undefined {
  if (inEffect === undefined) return undefined;
  const wanted = cluster.spec.tls?.enabled === true ? tlsSecretName(cluster) : null;
  if (wanted === inEffect) return undefined;
  const describe = (s: string | null): string => (s === null ? 'TLS off' : `TLS from Secret ${s}`);
  return new SecurityProblem('TLSChangeRefused',
    `spec.tls cannot change after creation: the members run with ${describe(inEffect)}, the spec asks for ${describe(wanted)}; nothing was changed. Restore spec.tls, or create a new RaftCluster and restore a backup into it (docs/security.md)`);
}

function secretPath(ns: string, name?: string): string {
  return resourcePath('v1', 'Secret', ns, name);
}

/** Reads Secrets and, for generated TLS, creates and renews them. One instance per controller. */
export class ClusterSecurity {
  constructor(private readonly client: KubeClient, private readonly now: () => number, private readonly lifetimes: CertificateLifetimes) {}

  /**
   * Makes the cluster's TLS material and token usable and returns the operator's credentials.
   * @throws SecurityProblem for anything the user must fix; KubeApiError on API failures.
   */
  async ensure(cluster: RaftCluster, inEffect: string | null | undefined): Promise<SecurityReady> {
    const change = tlsChangeProblem(cluster, inEffect);
    if (change !== undefined) throw change;
    const notes: SecurityNote[] = [];
    let caPem: string | undefined;
    let status: SecurityStatus = { tls: 'Disabled', auth: 'Disabled' };
    if (cluster.spec.tls?.enabled === true) {
      const tls = cluster.spec.tls.secretName === undefined ? await this.ensureGenerated(cluster, notes) : await this.checkUserSecret(cluster, cluster.spec.tls.secretName);
      caPem = tls.caPem;
      status = { ...status, tls: cluster.spec.tls.secretName === undefined ? 'OperatorCA' : 'UserSecret', tlsSecretName: tlsSecretName(cluster), certificateNotAfter: isoSeconds(tls.notAfterMs) };
    }
    let token: string | undefined;
    if (cluster.spec.auth !== undefined) {
      const admin = await readAdminToken(this.client, cluster);
      token = admin.token;
      status = { ...status, auth: 'Token', authTokenEntry: admin.entryName };
    }
    return { credentials: { ...(caPem === undefined ? {} : { caPem }), ...(token === undefined ? {} : { token }) }, status, notes };
  }

  private async ensureGenerated(cluster: RaftCluster, notes: SecurityNote[]): Promise<{ caPem: string; notAfterMs: number }> {
    const ns = cluster.metadata.namespace ?? 'default';
    const nowMs = this.now();
    const caName = caSecretName(cluster);
    let caSecret = await this.client.get<V1Secret & KubeObject>(secretPath(ns, caName));
    let ca: PemPair;
    if (caSecret === undefined) {
      ca = await generateCa(`${cluster.metadata.name}.${ns} raftkv CA`, nowMs, this.lifetimes.caValidityMs);
      caSecret = await this.createOnce(ns, buildCaSecret(cluster, ca));
      notes.push({ reason: 'CACreated', message: `generated the cluster CA into Secret ${caName}` });
    } else {
      if (!ownedByCluster(caSecret, cluster)) throw conflict(caName, cluster);
      const certPem = secretText(caSecret, 'ca.crt');
      const keyPem = secretText(caSecret, 'ca.key');
      if (certPem === undefined || keyPem === undefined) {
        throw new SecurityProblem('TLSSecretInvalid', `Secret ${caName} lacks ${certPem === undefined ? 'ca.crt' : 'ca.key'}; the operator does not overwrite it: delete it to have a new CA generated (every member certificate is then re-issued)`);
      }
      ca = { certPem, keyPem };
      try {
        if (!checkPair(ca, `Secret ${caName}: the CA`).ca) throw new CertificateMaterialError(`Secret ${caName}: ca.crt is not a CA certificate`);
      } catch (err) {
        if (!(err instanceof CertificateMaterialError)) throw err;
        throw new SecurityProblem('TLSSecretInvalid', `${err.message}; the operator does not overwrite it: fix it, or delete it to have a new CA generated`);
      }
    }
    const caCert = parseCertificate(ca.certPem, `Secret ${caName} ca.crt`);
    const name = generatedTlsSecretName(cluster);
    const names = memberCertificateNames(cluster);
    const issue = (): Promise<PemPair> => issueMemberCertificate(ca, `${cluster.metadata.name}.${ns} raftkv member`, names, nowMs, this.lifetimes.memberValidityMs);
    const existing = await this.client.get<V1Secret & KubeObject>(secretPath(ns, name));
    if (existing === undefined) {
      const member = await issue();
      await this.createOnce(ns, buildMemberTlsSecret(cluster, ca.certPem, member));
      notes.push({ reason: 'CertificateIssued', message: `issued the member certificate into Secret ${name}` });
      return { caPem: ca.certPem, notAfterMs: Date.parse(parseCertificate(member.certPem, 'new member certificate').validTo) };
    }
    if (!ownedByCluster(existing, cluster)) throw conflict(name, cluster);
    const certPem = secretText(existing, 'tls.crt');
    const keyPem = secretText(existing, 'tls.key');
    if (certPem === undefined || keyPem === undefined) {
      throw new SecurityProblem('TLSSecretInvalid', `Secret ${name} lacks ${certPem === undefined ? 'tls.crt' : 'tls.key'}; the operator does not overwrite it: delete it to have the member certificate re-issued`);
    }
    let leaf;
    try {
      leaf = checkPair({ certPem, keyPem }, `Secret ${name}: the member`);
    } catch (err) {
      if (!(err instanceof CertificateMaterialError)) throw err;
      throw new SecurityProblem('TLSSecretInvalid', `${err.message}; the operator does not overwrite it: delete it to have the member certificate re-issued`);
    }
    const why = secretText(existing, 'ca.crt') !== ca.certPem ? 'ca-bundle' : renewalReason(leaf, caCert, names, nowMs);
    if (why === undefined) return { caPem: ca.certPem, notAfterMs: Date.parse(leaf.validTo) };
    const member = await issue();
    const next = buildMemberTlsSecret(cluster, ca.certPem, member);
    next.metadata = { ...next.metadata, ...(existing.metadata?.resourceVersion === undefined ? {} : { resourceVersion: existing.metadata.resourceVersion }) };
    // PUT with the resourceVersion read above: a concurrent change makes this a conflict, retried next pass.
    await this.client.replace(secretPath(ns, name), next as V1Secret & KubeObject);
    const notAfter = Date.parse(parseCertificate(member.certPem, 'new member certificate').validTo);
    notes.push({ reason: 'CertificateRenewed', message: `re-issued the member certificate in Secret ${name} (${why}; was valid until ${isoSeconds(Date.parse(leaf.validTo))}, now until ${isoSeconds(notAfter)}); members reload it without a restart` });
    return { caPem: ca.certPem, notAfterMs: notAfter };
  }

  /** Creates a Secret; if another pass created it meanwhile, a conflict makes the queue retry. */
  private async createOnce(ns: string, secret: V1Secret): Promise<V1Secret & KubeObject> {
    try {
      return await this.client.create(secretPath(ns), secret as V1Secret & KubeObject);
    } catch (err) {
      if (isConflict(err)) throw new Error(`Secret ${secret.metadata?.name ?? ''} appeared while the operator created it; retrying`);
      throw err;
    }
  }

  private async checkUserSecret(cluster: RaftCluster, name: string): Promise<{ caPem: string; notAfterMs: number }> {
    const { caPem, certPem, keyPem } = await readTlsSecret(this.client, cluster, name);
    try {
      parseCertificate(caPem, `Secret ${name} ca.crt`);
      const leaf = checkPair({ certPem, keyPem }, `Secret ${name}: tls.crt/tls.key`);
      return { caPem, notAfterMs: Date.parse(leaf.validTo) };
    } catch (err) {
      if (!(err instanceof CertificateMaterialError)) throw err;
      throw new SecurityProblem('TLSSecretInvalid', err.message);
    }
  }
}

function conflict(name: string, cluster: RaftCluster): SecurityProblem {
  return new SecurityProblem('TLSSecretConflict',
    `Secret ${name} exists but was not created by the operator for RaftCluster ${cluster.metadata.name}; it is left untouched. Delete or rename it, or set spec.tls.secretName to use your own material`);
}

async function readTlsSecret(client: KubeClient, cluster: RaftCluster, name: string): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const ns = cluster.metadata.namespace ?? 'default';
  const secret = await client.get<V1Secret & KubeObject>(secretPath(ns, name));
  if (secret === undefined) throw new SecurityProblem('TLSSecretNotFound', `spec.tls.secretName: Secret ${name} not found in namespace ${ns} (it needs keys ca.crt, tls.crt, tls.key)`);
  const caPem = secretText(secret, 'ca.crt');
  const certPem = secretText(secret, 'tls.crt');
  const keyPem = secretText(secret, 'tls.key');
  const missing = [['ca.crt', caPem], ['tls.crt', certPem], ['tls.key', keyPem]].filter(([, v]) => v === undefined).map(([k]) => k);
  if (caPem === undefined || certPem === undefined || keyPem === undefined) {
    throw new SecurityProblem('TLSSecretInvalid', `Secret ${name} lacks key(s) ${missing.join(', ')} (it needs ca.crt, tls.crt, tls.key)`);
  }
  return { caPem, certPem, keyPem };
}

/** The operator's admin token from spec.auth's Secret. @throws SecurityProblem (never containing a token). */
export async function readAdminToken(client: KubeClient, cluster: RaftCluster): Promise<{ token: string; entryName: string }> {
  const auth = cluster.spec.auth;
  if (auth === undefined) throw new Error('readAdminToken: spec.auth is not set');
  const ns = cluster.metadata.namespace ?? 'default';
  const key = tokenSecretKey(cluster);
  const secret = await client.get<V1Secret & KubeObject>(secretPath(ns, auth.tokenSecretName));
  if (secret === undefined) throw new SecurityProblem('AuthSecretNotFound', `spec.auth.tokenSecretName: Secret ${auth.tokenSecretName} not found in namespace ${ns}`);
  const text = secretText(secret, key);
  if (text === undefined) throw new SecurityProblem('AuthTokenInvalid', `Secret ${auth.tokenSecretName} has no key ${JSON.stringify(key)} (spec.auth.tokenSecretKey)`);
  try {
    return adminTokenFrom(text, `Secret ${auth.tokenSecretName} key ${key}`);
  } catch (err) {
    if (err instanceof TokenFileProblem) throw new SecurityProblem('AuthTokenInvalid', err.message);
    throw err;
  }
}

/**
 * Credentials for talking to an existing cluster's members without changing anything (drills):
 * the `ca.crt` of the Secret the members mount and the admin token.
 * @throws SecurityProblem when they cannot be read.
 */
export async function readMemberCredentials(client: KubeClient, cluster: RaftCluster): Promise<MemberCredentials> {
  let caPem: string | undefined;
  if (cluster.spec.tls?.enabled === true) caPem = (await readTlsSecret(client, cluster, tlsSecretName(cluster))).caPem;
  const token = cluster.spec.auth === undefined ? undefined : (await readAdminToken(client, cluster)).token;
  return { ...(caPem === undefined ? {} : { caPem }), ...(token === undefined ? {} : { token }) };
}
