// Wires the operator: leader election first; only while leading, informers feed keys into one
// rate-limited work queue per controller and a bounded number of workers reconcile them.
// Exposes /metrics (own registry) and /healthz. main.ts and the tests both start it from here.
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION } from './api/types.js';
import type { Logger, MemberAdvertiseResolver, MemberUrlResolver, RaftClusterControllerOptions } from './controllers/raftcluster.js';
import { DEFAULT_RAFTCLUSTER_OPTIONS, RaftClusterController, inClusterMemberAdvertise, inClusterMemberUrl } from './controllers/raftcluster.js';
import type { DrillOptions } from './controllers/raftchaosdrill.js';
import { DrillLocks } from './controllers/drill-locks.js';
import { DEFAULT_DRILL_OPTIONS, RaftChaosDrillController } from './controllers/raftchaosdrill.js';
import { RaftBackupController } from './controllers/raftbackup.js';
import type { ReconcileResult } from './controllers/steps.js';
import { EventRecorder } from './kube/events.js';
import { Informer, objectKey } from './kube/informer.js';
import { LeaderElector } from './kube/leader-election.js';
import { KubeClient, isNotFound, resourcePath } from './kube/rest.js';
import type { KubeObject } from './kube/rest.js';
import { DEFAULT_WORK_QUEUE_OPTIONS, WorkQueue } from './kube/workqueue.js';
import type { WorkQueueOptions } from './kube/workqueue.js';
import type { MemberClientOptions } from './member-client/client.js';
import { DEFAULT_MEMBER_CLIENT_OPTIONS } from './member-client/client.js';
import type { OperatorMetrics } from './metrics.js';
import { createOperatorMetrics } from './metrics.js';
import type { EvictionWebhookOptions } from './webhook/eviction-webhook.js';
import { EvictionWebhook } from './webhook/eviction-webhook.js';

/** Everything the operator can be told; only kubeConfig, identity and lease are required. */
export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespaces to watch; empty = all namespaces. */
  readonly namespaces: readonly string[];
  /** Unique per replica (pod name). */
  readonly identity: string;
  readonly lease: { readonly name: string; readonly namespace: string; readonly durationMs: number; readonly renewDeadlineMs: number; readonly retryPeriodMs: number };
  /** How to reach a member; defaults to in-cluster DNS. Tests map members to local fakes. */
  readonly memberUrl?: MemberUrlResolver;
  /** Addresses new members are registered with; defaults to in-cluster DNS. */
  readonly memberAdvertise?: MemberAdvertiseResolver;
  readonly memberClient?: MemberClientOptions;
  readonly raftCluster?: RaftClusterControllerOptions;
  readonly drill?: DrillOptions;
  readonly queue?: WorkQueueOptions;
  /** Concurrent reconciles per controller. */
  readonly workersPerController?: number;
  /** /metrics and /healthz port on 0.0.0.0 (0 = any free port, undefined = no server). */
  readonly metricsPort?: number;
  readonly metricsHost?: string;
  readonly log: Logger;
  /**
   * The validating webhook on pods/eviction (refuses evicting a leader's pod until leadership
   * moved; webhook/eviction-webhook.ts), served by every replica; undefined = not served.
   */
  readonly evictionWebhook?: EvictionWebhookOptions;
  /** Called when leadership is lost; main exits so a fresh process starts clean. */
  readonly onLostLeadership?: () => void;
}

interface ControllerRun {
  readonly name: string;
  readonly kind: string;
  readonly reconcile: (key: string) => Promise<ReconcileResult>;
  /** Skipped (with a warning) when its CRD is not installed, instead of failing the operator (an older CRD set). */
  readonly optional?: boolean;
  queue: WorkQueue;
  informers: Informer<KubeObject>[];
  workers: Promise<void>[];
}

/** A running operator. Call start() once, stop() once. */
export class Operator {
  readonly metrics: OperatorMetrics = createOperatorMetrics();
  readonly client: KubeClient;
  private readonly elector: LeaderElector;
  private readonly controllers: ControllerRun[];
  private readonly drills: RaftChaosDrillController;
  private server: http.Server | undefined;
  private webhookRetry: NodeJS.Timeout | undefined;
  /** The eviction webhook, when options.evictionWebhook asks for it. */
  readonly webhook: EvictionWebhook | undefined;
  private active = false;
  private stopping = false;
  /** Reconciles run so far (all controllers), for tests. */
  reconciles = 0;

  constructor(private readonly options: OperatorOptions) {
    this.client = new KubeClient(options.kubeConfig);
    const log = options.log;
    const events = new EventRecorder(this.client, 'raftkv-operator', (err) => log.warn({ err: String(err) }, 'event not recorded'));
    const deps = {
      client: this.client, events, metrics: this.metrics, log,
      memberUrl: options.memberUrl ?? inClusterMemberUrl,
      memberAdvertise: options.memberAdvertise ?? inClusterMemberAdvertise,
      memberClientOptions: options.memberClient ?? DEFAULT_MEMBER_CLIENT_OPTIONS,
      now: () => Date.now(),
      drillLocks: new DrillLocks(),
    };
    const clusters = new RaftClusterController(deps, options.raftCluster ?? DEFAULT_RAFTCLUSTER_OPTIONS);
    const backups = new RaftBackupController(deps);
    this.webhook = options.evictionWebhook === undefined ? undefined : new EvictionWebhook(deps, options.evictionWebhook);
    this.drills = new RaftChaosDrillController(deps, options.drill ?? DEFAULT_DRILL_OPTIONS);
    this.controllers = [
      { name: 'raftcluster', kind: 'RaftCluster', reconcile: (k) => clusters.reconcile(k), queue: new WorkQueue(), informers: [], workers: [] },
      { name: 'raftchaosdrill', kind: 'RaftChaosDrill', reconcile: (k) => this.drills.reconcile(k), queue: new WorkQueue(), informers: [], workers: [] },
      { name: 'raftbackup', kind: 'RaftBackup', reconcile: (k) => backups.reconcile(k), optional: true, queue: new WorkQueue(), informers: [], workers: [] },
    ];
    this.elector = new LeaderElector(this.client, {
      leaseName: options.lease.name, leaseNamespace: options.lease.namespace, identity: options.identity,
      leaseDurationMs: options.lease.durationMs, renewDeadlineMs: options.lease.renewDeadlineMs, retryPeriodMs: options.lease.retryPeriodMs,
    }, {
      onStartedLeading: () => {
        log.info({ identity: options.identity }, 'became leader; starting controllers');
        this.metrics.isLeader.set(1);
        this.startControllers().catch((err: unknown) => {
          // e.g. the CRDs are not installed: give the lease up and let main exit non-zero.
          log.error({ err: String(err) }, 'controllers failed to start; giving up the lease');
          void this.stop().finally(() => options.onLostLeadership?.());
        });
      },
      onStoppedLeading: () => {
        log.warn({ identity: options.identity }, 'lost leadership; stopping controllers');
        this.metrics.isLeader.set(0);
        this.stopControllers();
        if (!this.stopping) options.onLostLeadership?.();
      },
      onError: (err) => log.warn({ err: String(err) }, 'leader election error'),
    });
  }

  /** True while this replica leads and its controllers run. */
  get isActive(): boolean {
    return this.active;
  }

  /** Port of the metrics server once started. */
  get metricsPort(): number | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? a.port : undefined;
  }

  /** Starts the metrics server and the election (controllers start when leading). */
  async start(): Promise<void> {
    if (this.options.metricsPort !== undefined) {
      this.server = http.createServer((req, res) => {
        if (req.url === '/metrics') {
          this.metrics.registry.metrics().then((text) => {
            res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
            res.end(text);
          }, (err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          });
        } else if (req.url === '/healthz' || req.url === '/readyz') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(this.active ? 'ok (leader)\n' : 'ok (standby)\n');
        } else {
          res.writeHead(404);
          res.end();
        }
      });
      const srv = this.server;
      await new Promise<void>((res, rej) => {
        srv.once('error', rej);
        srv.listen(this.options.metricsPort, this.options.metricsHost ?? '0.0.0.0', () => res());
      });
    }
    if (this.webhook !== undefined) await this.startWebhook(this.webhook, 0);
    this.elector.start();
  }

  /**
   * The eviction webhook must not keep the controllers from running (e.g. RBAC for its Secret
   * missing): a failure is logged and retried with backoff (1 s doubling to 60 s).
   */
  private async startWebhook(webhook: EvictionWebhook, attempt: number): Promise<void> {
    if (this.stopping) return;
    try {
      await webhook.start();
      this.options.log.info({ port: webhook.port }, 'eviction webhook serving');
    } catch (err) {
      const retryInMs = Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6));
      this.options.log.error({ err: String(err), retryInMs }, 'eviction webhook could not start; evictions of leader pods are not intercepted meanwhile');
      this.webhookRetry = setTimeout(() => void this.startWebhook(webhook, attempt + 1), retryInMs);
      this.webhookRetry.unref();
    }
  }

  /** Stops controllers, releases the lease, closes the metrics server; waits for running drills. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopControllers();
    await this.elector.stop();
    await Promise.allSettled(this.controllers.flatMap((c) => c.workers));
    await this.drills.drain();
    if (this.webhookRetry !== undefined) clearTimeout(this.webhookRetry);
    await this.webhook?.stop();
    const srv = this.server;
    if (srv !== undefined) await new Promise<void>((res) => srv.close(() => res()));
  }

  private async startControllers(): Promise<void> {
    if (this.active || this.stopping) return;
    this.active = true;
    const nsList = this.options.namespaces.length === 0 ? [undefined] : this.options.namespaces;
    for (const c of this.controllers) {
      c.queue = new WorkQueue(this.options.queue ?? DEFAULT_WORK_QUEUE_OPTIONS);
      const queue = c.queue;
      c.informers = nsList.map((ns) => new Informer<KubeObject>(this.client, resourcePath(API_VERSION, c.kind, ns),
        (_type, obj) => queue.add(objectKey(obj)),
        (err) => this.options.log.warn({ controller: c.name, err: String(err) }, 'watch error')));
      try {
        for (const inf of c.informers) await inf.start();
      } catch (err) {
        if (c.optional !== true || !isNotFound(err)) throw err;
        for (const inf of c.informers) inf.stop();
        c.informers = [];
        this.options.log.warn({ controller: c.name }, `the ${c.kind} CRD is not installed; ${c.kind}s are not handled (install the chart's CRDs)`);
        continue;
      }
      c.workers = [];
      for (let i = 0; i < (this.options.workersPerController ?? 2); i++) c.workers.push(this.worker(c, queue));
    }
  }

  private stopControllers(): void {
    if (!this.active) return;
    this.active = false;
    for (const c of this.controllers) {
      for (const inf of c.informers) inf.stop();
      c.queue.shutDown();
    }
  }

  private async worker(c: ControllerRun, queue: WorkQueue): Promise<void> {
    const m = this.metrics;
    for (;;) {
      m.queueDepth.set({ controller: c.name }, queue.length);
      const key = await queue.get();
      if (key === undefined) return;
      const end = m.duration.startTimer({ controller: c.name });
      try {
        const r = await c.reconcile(key);
        this.reconciles++;
        queue.forget(key);
        m.reconciles.inc({ controller: c.name, result: r.requeueAfterMs === undefined ? 'ok' : 'requeue' });
        if (r.requeueAfterMs !== undefined) queue.addAfter(key, r.requeueAfterMs);
      } catch (err) {
        this.reconciles++;
        m.reconciles.inc({ controller: c.name, result: 'error' });
        m.errors.inc({ controller: c.name });
        const delay = queue.addRateLimited(key);
        this.options.log.warn({ controller: c.name, key, retryInMs: delay, err: err instanceof Error ? err.message : String(err) }, 'reconcile failed');
      } finally {
        end();
        queue.done(key);
      }
    }
  }
}
