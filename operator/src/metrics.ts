// The operator's own Prometheus metrics, in their OWN registry (never the global default one, so
// an in-process test with two operators, or a daemon in the same process, cannot collide).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Every metric the operator exports. */
export interface OperatorMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<'controller' | 'result'>;
  readonly errors: Counter<'controller'>;
  readonly duration: Histogram<'controller'>;
  readonly queueDepth: Gauge<'controller'>;
  readonly isLeader: Gauge;
  readonly memberCalls: Counter<'call' | 'result'>;
  /** 1 while a RaftCluster's BackupFresh condition is True, 0 while False (the alert rule's input). */
  readonly backupFresh: Gauge<'namespace' | 'cluster'>;
  /** Unix time of a RaftCluster's last good backup. */
  readonly backupLastGoodTimestamp: Gauge<'namespace' | 'cluster'>;
}

/** A fresh registry with the operator's metrics. */
export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  return {
    registry,
    reconciles: new Counter({ name: 'raftkv_operator_reconciles_total', help: 'Reconciles by controller and result (ok, requeue, error).', labelNames: ['controller', 'result'], registers: [registry] }),
    errors: new Counter({ name: 'raftkv_operator_reconcile_errors_total', help: 'Reconciles that failed.', labelNames: ['controller'], registers: [registry] }),
    duration: new Histogram({ name: 'raftkv_operator_reconcile_duration_seconds', help: 'Time per reconcile.', labelNames: ['controller'], buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({ name: 'raftkv_operator_queue_depth', help: 'Keys waiting in the work queue.', labelNames: ['controller'], registers: [registry] }),
    isLeader: new Gauge({ name: 'raftkv_operator_is_leader', help: '1 while this replica holds the leader-election lease.', registers: [registry] }),
    memberCalls: new Counter({ name: 'raftkv_operator_member_calls_total', help: 'Membership calls made to raftkv members.', labelNames: ['call', 'result'], registers: [registry] }),
    backupFresh: new Gauge({ name: 'raftkv_operator_backup_fresh', help: "1 while the RaftCluster's BackupFresh condition is True (last good backup within its schedule, shipping healthy), 0 while False.", labelNames: ['namespace', 'cluster'], registers: [registry] }),
    backupLastGoodTimestamp: new Gauge({ name: 'raftkv_operator_backup_last_good_timestamp_seconds', help: "Unix time of the RaftCluster's last good backup.", labelNames: ['namespace', 'cluster'], registers: [registry] }),
  };
}
