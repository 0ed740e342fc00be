// The validating admission webhook on pods/eviction: an eviction of the pod that runs a RaftCluster's
// leader is refused (429, retried by kubectl drain and every eviction client) while the operator asks
// the leader to hand leadership to another voter; the retry after the hand-off goes through (the
// PodDisruptionBudget still decides how many voters may go). Served over HTTPS by every operator
// replica (the Service picks any) with one certificate kept in a Secret shared by the replicas; the
// operator writes that certificate's CA into the ValidatingWebhookConfiguration's caBundle.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod, V1PodDisruptionBudget, V1Secret } from '@kubernetes/client-node';
import type { RaftCluster } from '../api/types.js';
import { API_VERSION, isPaused } from '../api/types.js';
import { pdbName } from '../build/names.js';
import type { Logger, MemberUrlResolver } from '../controllers/raftcluster.js';
import { readMemberCredentials } from '../controllers/security.js';
import type { KubeClient, KubeObject } from '../kube/rest.js';
import { isConflict, resourcePath } from '../kube/rest.js';
import type { MemberClientOptions, MemberCredentials } from '../member-client/client.js';
import { MemberClient, NO_CREDENTIALS } from '../member-client/client.js';
import { generateCa, issueMemberCertificate, parseCertificate, renewalReason } from '../security/certificates.js';
import type { EvictionFacts, EvictionVerdict } from './eviction-verdict.js';
import { evictionVerdict, memberClusterOf } from './eviction-verdict.js';

/** URL path the ValidatingWebhookConfiguration calls. */
export const EVICTION_WEBHOOK_PATH = '/validate-eviction';
/** Largest AdmissionReview body accepted (an Eviction review is a few KiB). */
export const MAX_REVIEW_BYTES = 1024 * 1024;
/** One leadership transfer per leader pod at most this often (a drain retries every 5 s). */
export const TRANSFER_MIN_INTERVAL_MS = 2_000;
/** Lifetimes of the webhook's own CA and serving certificate (renewed with a third left). */
const CA_VALIDITY_MS = 10 * 365 * 86_400_000;
const SERVING_VALIDITY_MS = 365 * 86_400_000;
/** How often the serving certificate is checked for renewal. */
const RENEW_CHECK_MS = 6 * 3_600_000;

/** Where the webhook lives and what it is called. */
export interface EvictionWebhookOptions {
  /** HTTPS port (0 = any free port: tests). */
  readonly port: number;
  readonly host?: string;
  /** Namespace of the operator (its Service and the certificate Secret). */
  readonly namespace: string;
  /** The Service in front of the operator's webhook port; the certificate names it. */
  readonly serviceName: string;
  /** Secret holding the webhook certificate (`ca.crt`, `tls.crt`, `tls.key`), created by the operator. */
  readonly secretName: string;
  /** ValidatingWebhookConfiguration whose webhooks get the CA as caBundle (installed by the chart). */
  readonly configName: string;
  /** More names for the certificate (tests reach it as 127.0.0.1). */
  readonly extraNames?: readonly string[];
}

/** What the webhook needs from the operator. */
export interface EvictionWebhookDeps {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly memberUrl: MemberUrlResolver;
  readonly memberClientOptions: MemberClientOptions;
  readonly now: () => number;
}

/** admission.k8s.io/v1 AdmissionReview, the fields used here. */
interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: { uid?: string; name?: string; namespace?: string; subResource?: string; operation?: string; dryRun?: boolean };
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

function secretField(s: V1Secret | undefined, key: string): string | undefined {
  const v = s?.data?.[key];
  return v === undefined || v === '' ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

/** The certificate the webhook serves with and the CA clients must trust. */
export interface WebhookCertificate {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** The DNS names the serving certificate must carry. */
export function webhookNames(o: Pick<EvictionWebhookOptions, 'serviceName' | 'namespace' | 'extraNames'>): string[] {
  return [o.serviceName, `${o.serviceName}.${o.namespace}`, `${o.serviceName}.${o.namespace}.svc`, ...(o.extraNames ?? [])];
}

/**
 * The webhook certificate from its Secret, generated (CA + serving certificate) when absent,
 * unusable or due for renewal. Replicas race through a create / compare-and-swap replace; the
 * loser reads the winner's, so all replicas serve one certificate.
 */
export async function ensureWebhookCertificate(client: KubeClient, o: EvictionWebhookOptions, nowMs: number): Promise<WebhookCertificate> {
  const path = resourcePath('v1', 'Secret', o.namespace, o.secretName);
  const names = webhookNames(o);
  for (let attempt = 0; attempt < 3; attempt++) {
    const secret = await client.get<V1Secret & KubeObject>(path);
    const have = { caPem: secretField(secret, 'ca.crt'), certPem: secretField(secret, 'tls.crt'), keyPem: secretField(secret, 'tls.key') };
    if (have.caPem !== undefined && have.certPem !== undefined && have.keyPem !== undefined) {
      try {
        if (renewalReason(parseCertificate(have.certPem, 'webhook certificate'), parseCertificate(have.caPem, 'webhook CA'), names, nowMs) === undefined) {
          return { caPem: have.caPem, certPem: have.certPem, keyPem: have.keyPem };
        }
      } catch {
        // unreadable: generate a new one below
      }
    }
    const ca = await generateCa(`${o.serviceName}-webhook-ca`, nowMs, CA_VALIDITY_MS);
    const leaf = await issueMemberCertificate(ca, `${o.serviceName}.${o.namespace}.svc`, names, nowMs, SERVING_VALIDITY_MS);
    const body = {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
      metadata: { name: o.secretName, namespace: o.namespace, labels: { 'app.kubernetes.io/managed-by': 'raftkv-operator', 'app.kubernetes.io/component': 'eviction-webhook' }, ...(secret?.metadata?.resourceVersion === undefined ? {} : { resourceVersion: secret.metadata.resourceVersion }) },
      data: { 'ca.crt': b64(ca.certPem), 'tls.crt': b64(leaf.certPem), 'tls.key': b64(leaf.keyPem) },
    };
    try {
      if (secret === undefined) await client.create(resourcePath('v1', 'Secret', o.namespace), body as KubeObject);
      else await client.replace(path, body as KubeObject);
      return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
    } catch (err) {
      if (!isConflict(err)) throw err; // another replica wrote one meanwhile: use it
    }
  }
  throw new Error(`webhook certificate Secret ${o.namespace}/${o.secretName} kept changing under us`);
}

/**
 * Writes `caPem` as the caBundle of every webhook of the ValidatingWebhookConfiguration (a JSON
 * patch per webhook that differs). Returns false when the configuration does not exist.
 */
export async function patchCaBundle(client: KubeClient, configName: string, caPem: string): Promise<boolean> {
  const path = `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${encodeURIComponent(configName)}`;
  const cfg = await client.get<KubeObject & { webhooks?: { clientConfig?: { caBundle?: string } }[] }>(path);
  if (cfg === undefined) return false;
  const want = b64(caPem);
  const ops = (cfg.webhooks ?? []).flatMap((w, i) => (w.clientConfig?.caBundle === want ? [] : [{ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: want }]));
  if (ops.length > 0) await client.jsonPatch(path, ops);
  return true;
}

/** The webhook: gathers the facts of one eviction, answers, and moves leadership when asked. */
export class EvictionWebhook {
  private server: https.Server | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly lastTransfer = new Map<string, number>();
  /** Transfers started and not finished (awaited by stop()). */
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly deps: EvictionWebhookDeps, private readonly options: EvictionWebhookOptions) {}

  /** Port it listens on once started. */
  get port(): number | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? a.port : undefined;
  }

  /** Ensures the certificate, writes the caBundle, starts serving. */
  async start(): Promise<void> {
    if (this.server?.listening === true) return;
    const o = this.options;
    const cert = await ensureWebhookCertificate(this.deps.client, o, this.deps.now());
    if (!await patchCaBundle(this.deps.client, o.configName, cert.caPem)) {
      this.deps.log.warn({ config: o.configName }, 'ValidatingWebhookConfiguration not found: evictions of leader pods are not intercepted');
    }
    const srv = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => this.serve(req, res));
    this.server = srv;
    await new Promise<void>((res, rej) => {
      srv.once('error', rej);
      srv.listen(o.port, o.host ?? '0.0.0.0', () => res());
    });
    this.renewTimer = setInterval(() => {
      void this.renew().catch((err: unknown) => this.deps.log.warn({ err: String(err) }, 'webhook certificate renewal failed'));
    }, RENEW_CHECK_MS);
    this.renewTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    const srv = this.server;
    if (srv !== undefined) {
      srv.closeAllConnections();
      await new Promise<void>((res) => srv.close(() => res()));
    }
    await Promise.allSettled([...this.pending]);
  }

  private async renew(): Promise<void> {
    const cert = await ensureWebhookCertificate(this.deps.client, this.options, this.deps.now());
    this.server?.setSecureContext({ cert: cert.certPem, key: cert.keyPem });
    await patchCaBundle(this.deps.client, this.options.configName, cert.caPem);
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url?.split('?')[0] !== EVICTION_WEBHOOK_PATH) return reply(404, { error: 'not found' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REVIEW_BYTES) {
        reply(413, { error: `AdmissionReview larger than ${MAX_REVIEW_BYTES} bytes` });
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_REVIEW_BYTES) return;
      let review: AdmissionReview;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview;
      } catch {
        return reply(400, { error: 'body is not JSON' });
      }
      this.review(review).then((answer) => reply(200, answer), (err: unknown) => {
        // Could not decide (the API server did not answer, say): let the PDB decide alone.
        this.deps.log.warn({ err: String(err) }, 'eviction review failed; allowing');
        reply(200, this.answer(review, { allowed: true, reason: 'review failed' }));
      });
    });
  }

  private answer(review: AdmissionReview, v: EvictionVerdict): unknown {
    return {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      response: {
        uid: review.request?.uid ?? '', allowed: v.allowed,
        ...(v.allowed ? {} : { status: { code: v.code, reason: 'TooManyRequests', message: v.message } }),
      },
    };
  }

  /** One AdmissionReview → its answer (and, for a leader pod, a transfer under way). */
  async review(review: AdmissionReview): Promise<unknown> {
    const r = review.request;
    if (r?.subResource !== 'eviction' || r.name === undefined || r.namespace === undefined) return this.answer(review, { allowed: true, reason: 'not an eviction' });
    const facts = await this.facts(r.namespace, r.name);
    const verdict = evictionVerdict(facts.facts);
    if (!verdict.allowed && r.dryRun !== true && facts.clusterObj !== undefined) this.transferAway(facts.clusterObj, facts.credentials ?? NO_CREDENTIALS, r.namespace, r.name);
    this.deps.log.info({ pod: `${r.namespace}/${r.name}`, allowed: verdict.allowed, why: verdict.allowed ? verdict.reason : verdict.message }, 'eviction reviewed');
    return this.answer(review, verdict);
  }

  private async facts(namespace: string, pod: string): Promise<{ facts: EvictionFacts; clusterObj?: RaftCluster; credentials?: MemberCredentials }> {
    const client = this.deps.client;
    const p = await client.get<V1Pod & KubeObject>(resourcePath('v1', 'Pod', namespace, pod));
    const labels = p === undefined ? undefined : (p.metadata?.labels ?? {});
    const base = { pod, namespace, podLabels: labels, cluster: undefined, member: undefined };
    const clusterName = memberClusterOf(labels);
    if (clusterName === undefined) return { facts: base };
    const cluster = await client.get<RaftCluster & KubeObject>(resourcePath(API_VERSION, 'RaftCluster', namespace, clusterName));
    if (cluster === undefined) return { facts: base };
    const withCluster = { ...base, cluster: { paused: isPaused(cluster.metadata) } };
    if (withCluster.cluster.paused) return { facts: withCluster, clusterObj: cluster };
    let credentials: MemberCredentials = NO_CREDENTIALS;
    try {
      credentials = await readMemberCredentials(client, cluster);
      const st = await this.memberClient(cluster, pod, credentials).status();
      const member = { role: st.role, voters: st.members.filter((m) => m.voter).length };
      if (member.role !== 'leader') return { facts: { ...withCluster, member }, clusterObj: cluster, credentials };
      // Unknown (not found, or the API server did not answer): the verdict holds the leader as before.
      const pdb = await client.get<V1PodDisruptionBudget & KubeObject>(resourcePath('policy/v1', 'PodDisruptionBudget', namespace, pdbName(cluster))).catch(() => undefined);
      return { facts: { ...withCluster, member, pdbDisruptionsAllowed: pdb?.status?.disruptionsAllowed }, clusterObj: cluster, credentials };
    } catch {
      return { facts: withCluster, clusterObj: cluster, credentials };
    }
  }

  private memberClient(cluster: RaftCluster, member: string, credentials: MemberCredentials): MemberClient {
    return new MemberClient(this.deps.memberUrl(cluster, member), this.deps.memberClientOptions, credentials);
  }

  /** Asks the leader on `pod` to hand leadership to another voter (at most once per TRANSFER_MIN_INTERVAL_MS). */
  private transferAway(cluster: RaftCluster, credentials: MemberCredentials, namespace: string, pod: string): void {
    const key = `${namespace}/${pod}`;
    const now = this.deps.now();
    if (now - (this.lastTransfer.get(key) ?? -Infinity) < TRANSFER_MIN_INTERVAL_MS) return;
    this.lastTransfer.set(key, now);
    if (this.lastTransfer.size > 1000) this.lastTransfer.clear(); // bound: a forgotten entry costs one extra transfer
    const run = (async (): Promise<void> => {
      try {
        await this.memberClient(cluster, pod, credentials).transferLeadership();
        this.deps.log.info({ pod: key }, 'leadership moved away from a pod being evicted');
      } catch (err) {
        this.deps.log.warn({ pod: key, err: String(err) }, 'leadership transfer before eviction failed; the eviction stays refused while the pod leads');
      }
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }
}
