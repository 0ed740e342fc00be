// Command line of raftkv-operator (kept apart from main.ts so tests can import it without starting anything).

/** One-line usage shown on bad flags. */
export const USAGE = 'usage: raftkv-operator [--kubeconfig PATH] [--namespaces ns1,ns2] [--metrics-port 8080] [--lease-name raftkv-operator] [--lease-namespace NS] [--log-level info] [--webhook-port 9443 --webhook-service NAME --webhook-secret NAME --webhook-config NAME]';

/** Parsed command line. */
export interface OperatorFlags {
  kubeconfig: string | undefined;
  namespaces: string[];
  metricsPort: number;
  leaseName: string;
  leaseNamespace: string;
  logLevel: string;
  /** The eviction webhook (all four flags, or --webhook-port 0 / none: not served). */
  webhook: { port: number; service: string; secret: string; config: string } | undefined;
}

/** Parses argv (without node and script) with env fallbacks; throws RangeError on bad input. */
export function parseOperatorFlags(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorFlags {
  const values = new Map<string, string>();
  const known = ['kubeconfig', 'namespaces', 'metrics-port', 'lease-name', 'lease-namespace', 'log-level', 'webhook-port', 'webhook-service', 'webhook-secret', 'webhook-config'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (m === null || !known.includes(m[1] ?? '')) throw new RangeError(`unknown argument ${a}`);
    const v = m[2] ?? argv[++i];
    if (v === undefined) throw new RangeError(`--${m[1]} needs a value`);
    values.set(m[1] ?? '', v);
  }
  const get = (f: string): string | undefined => values.get(f) ?? env[`RAFTKV_OPERATOR_${f.toUpperCase().replace(/-/g, '_')}`];
  const port = Number(get('metrics-port') ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('--metrics-port must be 0..65535');
  const webhookPort = Number(get('webhook-port') ?? '0');
  if (!Number.isInteger(webhookPort) || webhookPort < 0 || webhookPort > 65535) throw new RangeError('--webhook-port must be 0..65535');
  const service = get('webhook-service');
  const secret = get('webhook-secret');
  const config = get('webhook-config');
  if (webhookPort !== 0 && (service === undefined || secret === undefined || config === undefined)) throw new RangeError('--webhook-port needs --webhook-service, --webhook-secret and --webhook-config');
  return {
    webhook: webhookPort === 0 || service === undefined || secret === undefined || config === undefined ? undefined : { port: webhookPort, service, secret, config },
    kubeconfig: get('kubeconfig') ?? env['KUBECONFIG'],
    namespaces: (get('namespaces') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    metricsPort: port,
    leaseName: get('lease-name') ?? 'raftkv-operator',
    leaseNamespace: get('lease-namespace') ?? env['POD_NAMESPACE'] ?? 'default',
    logLevel: get('log-level') ?? 'info',
  };
}

