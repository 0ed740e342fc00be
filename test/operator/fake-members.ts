// A fake raftkv cluster behind one HTTP server on 127.0.0.1, for operator tests without pods:
// member `name` is served under `<url>/m/<name>`. It implements the parts of the cluster API the
// operator calls (status, add learner, promote, remove, leader transfer), follows the leader's
// redirect rule, and records every membership call in order.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Operator } from '../../operator/src/operator.js';
import type { OperatorOptions } from '../../operator/src/operator.js';
import type { EvictionWebhookOptions } from '../../operator/src/webhook/eviction-webhook.js';
import { EVICTION_WEBHOOK_PATH } from '../../operator/src/webhook/eviction-webhook.js';
import type { KubeControlPlane } from '../lib/kube-control-plane.js';
import { freePort } from '../lib/free-port.js';

/** A member of the fake cluster. */
export interface FakeMember {
  voter: boolean;
  appliedIndex: number;
  /** false = its /v1/status answers 503 (the operator treats it as unhealthy). */
  up: boolean;
  /** true = it restarted with an empty data directory: it hears the leader but holds no log or configuration. */
  empty?: boolean;
}

/** The fake cluster; tests read and steer its fields directly. */
export class FakeRaftCluster {
  readonly members = new Map<string, FakeMember>();
  leader: string;
  term = 1;
  commitIndex = 100;
  /** Membership calls in order: `add kv-3`, `promote kv-3`, `transfer kv-4->kv-0`, `remove kv-4`. */
  readonly calls: string[] = [];
  /** Called before each membership call is applied (e.g. to snapshot what the API server shows then). */
  onCall: ((call: string) => void) | undefined;
  /** The KV store (drill probes write here). */
  readonly kv = new Map<string, string>();
  /** Every this-many-th acknowledged PUT is silently dropped afterwards (0 = never): a planted data-loss bug. */
  loseEveryNthWrite = 0;
  /**
   * Members removed since last added: each answers as a process started empty (its pod and PVC
   * recreated), which is what a replacement waits for before adding it back.
   */
  readonly departed = new Set<string>();
  /** Departed members whose OLD process still answers, with its log (a pod force-deleted, say). */
  readonly oldProcessAnswers = new Set<string>();
  private puts = 0;
  private server: http.Server | undefined;
  private base = '';

  constructor(names: readonly string[]) {
    for (const n of names) this.members.set(n, { voter: true, appliedIndex: this.commitIndex, up: true });
    this.leader = names[0] ?? '';
  }

  /** Base URL of member `name`. */
  urlOf(name: string): string {
    return `${this.base}/m/${name}`;
  }

  /** Voter names, sorted. */
  voters(): string[] {
    return [...this.members].filter(([, m]) => m.voter).map(([n]) => n).sort();
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => this.handle(req.method ?? 'GET', req.url ?? '/', Buffer.concat(chunks).toString('utf8'), res));
    });
    const srv = this.server;
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    this.base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    if (srv === undefined) return;
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  private handle(method: string, url: string, body: string, res: http.ServerResponse): void {
    const m = /^\/m\/([^/]+)(\/.*)$/.exec(url);
    const self = m?.[1] ?? '';
    const path = m?.[2] ?? '';
    const old = this.oldProcessAnswers.has(self);
    const me = this.members.get(self) ?? (this.departed.has(self) ? { voter: false, appliedIndex: old ? this.commitIndex : 0, up: true, empty: !old } : undefined);
    if (me === undefined || !me.up) return this.send(res, 503, { error: 'not running', code: 'Unavailable' });
    if (method === 'GET' && path === '/v1/status') {
      if (me.empty === true) {
        return this.send(res, 200, {
          name: self, role: 'follower', term: this.term, leader: { name: this.leader, clientUrl: '' },
          commitIndex: 0, appliedIndex: 0, lastIndex: 0, snapshotIndex: 0, members: [],
        });
      }
      return this.send(res, 200, {
        name: self, role: self === this.leader ? 'leader' : me.voter ? 'follower' : 'learner', term: this.term,
        leader: { name: this.leader, clientUrl: this.urlOf(this.leader) },
        commitIndex: this.commitIndex, appliedIndex: me.appliedIndex, lastIndex: this.commitIndex, snapshotIndex: 0,
        members: [...this.members].map(([name, x]) => ({ name, peerUrl: `${name}:2380`, clientUrl: this.urlOf(name), voter: x.voter })),
      });
    }
    const kvKey = path.startsWith('/v1/kv/') ? decodeURIComponent(path.slice('/v1/kv/'.length)) : undefined;
    if (method === 'GET' && kvKey !== undefined) {
      const v = this.kv.get(kvKey);
      if (v === undefined) return this.send(res, 404, { error: 'not found', code: 'KeyNotFound' });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(v);
      return;
    }
    if (method === 'POST' && path === '/v1/debug/faults') {
      const b = JSON.parse(body) as { dropPeerTraffic: boolean; durationMs?: number };
      this.calls.push(`faults ${self} drop=${String(b.dropPeerTraffic)}`);
      // A partitioned leader loses its term to the next voter, as a real cluster would.
      if (b.dropPeerTraffic && self === this.leader) {
        this.leader = this.voters().find((n) => n !== self) ?? self;
        this.term++;
      }
      return this.send(res, 200, {});
    }
    if (self !== this.leader) return this.send(res, 307, {}, { location: `${this.urlOf(this.leader)}${path}`, 'x-raft-leader': this.leader });
    if (method === 'PUT' && kvKey !== undefined) {
      this.commitIndex++;
      this.puts++;
      if (this.loseEveryNthWrite === 0 || this.puts % this.loseEveryNthWrite !== 0) this.kv.set(kvKey, body);
      return this.send(res, 200, { revision: this.commitIndex, term: this.term, index: this.commitIndex });
    }
    if (method === 'DELETE' && kvKey !== undefined) {
      this.commitIndex++;
      this.kv.delete(kvKey);
      return this.send(res, 200, { revision: this.commitIndex, term: this.term, index: this.commitIndex });
    }
    const record = (call: string): void => {
      this.onCall?.(call);
      this.calls.push(call);
    };
    if (method === 'POST' && path === '/v1/members') {
      const b = JSON.parse(body) as { name: string; peerUrl: string; clientUrl: string };
      if (typeof b.peerUrl !== 'string' || typeof b.clientUrl !== 'string') return this.send(res, 400, { error: 'bad body', code: 'BadRequest' });
      if (this.members.has(b.name)) return this.send(res, 409, { error: 'exists', code: 'MemberExists' });
      record(`add ${b.name}`);
      this.departed.delete(b.name);
      this.members.set(b.name, { voter: false, appliedIndex: this.commitIndex, up: true });
      return this.send(res, 200, {});
    }
    const promote = /^\/v1\/members\/([^/]+)\/promote$/.exec(path);
    if (method === 'POST' && promote !== null) {
      const t = this.members.get(promote[1] ?? '');
      if (t === undefined) return this.send(res, 404, { error: 'no such member', code: 'MemberNotFound' });
      record(`promote ${promote[1] ?? ''}`);
      t.voter = true;
      return this.send(res, 200, {});
    }
    const del = /^\/v1\/members\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && del !== null) {
      const name = decodeURIComponent(del[1] ?? '');
      if (!this.members.has(name)) return this.send(res, 404, { error: 'no such member', code: 'MemberNotFound' });
      if (name === this.leader) return this.send(res, 409, { error: 'fake refuses to remove the leader', code: 'Conflict' });
      record(`remove ${name}`);
      this.members.delete(name);
      this.departed.add(name);
      return this.send(res, 200, {});
    }
    if (method === 'POST' && path === '/v1/leader/transfer') {
      const b = JSON.parse(body) as { to?: string };
      const to = b.to ?? this.voters().find((n) => n !== this.leader) ?? this.leader;
      record(`transfer ${this.leader}->${to}`);
      this.leader = to;
      this.term++;
      return this.send(res, 200, {});
    }
    return this.send(res, 404, { error: `no route ${method} ${path}`, code: 'NotFound' });
  }
}

/**
 * An Operator in this process against `kubeConfig`, with fast polls and leases, whose members are
 * the FakeRaftCluster registered in `fakes` under the RaftCluster's name; log lines go to `logLines`.
 */
export function operatorOverFakes(kubeConfig: OperatorOptions['kubeConfig'], identity: string, fakes: ReadonlyMap<string, FakeRaftCluster>, logLines: string[], extra: Partial<OperatorOptions> = {}): Operator {
  const line = (level: string) => (o: object, m?: string): void => {
    logLines.push(`${level} ${m ?? ''} ${JSON.stringify(o)}`);
  };
  return new Operator({
    kubeConfig, namespaces: ['default'], identity,
    log: { info: line('INFO'), warn: line('WARN'), error: line('ERROR') },
    lease: { name: identity, namespace: 'default', durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 300 },
    memberUrl: (c, m) => fakes.get(c.metadata.name)?.urlOf(m) ?? 'http://127.0.0.1:1', memberClient: { requestTimeoutMs: 1000, maxRedirects: 3 },
    raftCluster: { pollIntervalMs: 300, stepRequeueMs: 100, learnerMaxLagEntries: 10 },
    ...extra,
  });
}

/** Polls `fn` until it yields a value (not undefined/false); a timeout names `what` with the operator's last log lines. */
export async function pollUntil<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, logLines: readonly string[], pollMs = 150): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logLines.slice(-10).join('\n')}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Registers a ValidatingWebhookConfiguration `configName` on pods/eviction as the chart does, but
 * reaching the operator at https://127.0.0.1:<free port> (failurePolicy Fail, so a webhook that
 * does not answer fails the test) and without a caBundle (the operator writes it). Returns the
 * operator's evictionWebhook options for that port.
 */
export async function registerEvictionWebhook(cp: KubeControlPlane, configName: string): Promise<EvictionWebhookOptions> {
  const port = await freePort();
  const r = await cp.request('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: configName },
    webhooks: [{
      name: 'leader-eviction.raftkv.dev', admissionReviewVersions: ['v1'], sideEffects: 'NoneOnDryRun', failurePolicy: 'Fail', timeoutSeconds: 5,
      clientConfig: { url: `https://127.0.0.1:${port}${EVICTION_WEBHOOK_PATH}` },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods/eviction'], scope: 'Namespaced' }],
    }],
  });
  if (r.status !== 201) throw new Error(`creating ValidatingWebhookConfiguration ${configName}: ${r.status} ${JSON.stringify(r.body)}`);
  return { port, host: '127.0.0.1', namespace: 'default', serviceName: 'raftkv-operator-webhook', secretName: 'raftkv-operator-webhook-tls', configName, extraNames: ['127.0.0.1'] };
}
