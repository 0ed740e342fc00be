// raftkv-operator entry point: flags (or env RAFTKV_OPERATOR_<FLAG>), kubeconfig or in-cluster
// config, then the Operator. Exit codes: 0 on SIGTERM/SIGINT, 1 when leadership is lost or start
// fails (a fresh process re-contends cleanly), 2 on bad flags.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { OperatorFlags } from './flags.js';
import { USAGE, parseOperatorFlags } from './flags.js';
import { Operator } from './operator.js';

async function main(): Promise<void> {
  let flags: OperatorFlags;
  try {
    flags = parseOperatorFlags(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`raftkv-operator: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
  const log = pino({ level: flags.logLevel, base: { component: 'raftkv-operator' } });
  const kc = new KubeConfig();
  if (flags.kubeconfig !== undefined) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromCluster();
  const op = new Operator({
    kubeConfig: kc, namespaces: flags.namespaces,
    identity: `${process.env['POD_NAME'] ?? hostname()}-${randomBytes(4).toString('hex')}`,
    lease: { name: flags.leaseName, namespace: flags.leaseNamespace, durationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    metricsPort: flags.metricsPort, log,
    ...(flags.webhook === undefined ? {} : {
      evictionWebhook: { port: flags.webhook.port, namespace: flags.leaseNamespace, serviceName: flags.webhook.service, secretName: flags.webhook.secret, configName: flags.webhook.config },
    }),
    onLostLeadership: () => {
      log.error('lost leadership; exiting');
      process.exit(1);
    },
  });
  const shutdown = (): void => {
    log.info('stopping');
    op.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  await op.start();
  log.info({ namespaces: flags.namespaces, metricsPort: op.metricsPort }, 'raftkv-operator started');
}

main().catch((err: unknown) => {
  console.error(`raftkv-operator: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  process.exit(1);
});
