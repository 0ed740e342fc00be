// The `raftkv` daemon: flags → logger → metrics → storage.load → raft core → transport →
// KV state machine → member driver → HTTP API, then signals. Exit codes: 0 clean stop, 1 fatal
// error (message on stderr), 2 bad flags (with the usage line). `raftkv restore ...` builds a
// data dir from a backup instead (cli/restore.ts) and exits. main.ts (the production entry)
// calls runDaemonCli with no test hooks; only a test entry point passes any.
import { mkdirSync } from 'node:fs';
import { FlagError, USAGE_LINE, parseFlags } from './config/flags.js';
import type { DaemonConfig } from './config/flags.js';
import { LIMITS, electionTicksOf } from './config/limits.js';
import { createLogger } from './observability/logger.js';
import type { Logger } from './observability/logger.js';
import { createMetrics } from './observability/metrics.js';
import { initTracing } from './observability/tracing.js';
import { RaftInvariantError } from './raft/errors.js';
import { BootstrapError } from './server/bootstrap.js';
import { StorageError } from './storage/errors.js';
import { runRestore } from './cli/restore.js';
import { wireMember } from './server/wiring.js';

function fail(message: string, code: number): never {
  process.stderr.write(`raftkv: ${message}\n`);
  process.exit(code);
}

/** Exits after pino has flushed (it writes synchronously to stdout, so a tick is enough). */
function exitSoon(code: number): void {
  setImmediate(() => process.exit(code));
}

function installCrashHandlers(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    if (reason instanceof RaftInvariantError) {
      logger.fatal({ err: reason }, 'invariant violated; stopping');
      process.stderr.write(`raftkv: invariant violated: ${reason.message}\n`);
      exitSoon(1);
      return;
    }
    logger.error({ err: reason }, 'unhandled rejection (bug; the member keeps serving)');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; stopping');
    process.stderr.write(`raftkv: fatal: ${err.message}\n`);
    exitSoon(1);
  });
}

/** What only a test entry point sets; the production entry (main.ts) passes none. */
/**
 * Makes `handler` the one SIGTERM/SIGINT handler: it is added before the previous ones are
 * removed, so the signal watcher never stops. Removing the last listener first would drop a
 * signal that arrived but was not yet dispatched (a stop sent while the modules loaded).
 */
function setStopHandler(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, handler);
    for (const l of process.listeners(signal)) if (l !== handler) process.off(signal, l);
  }
}

export interface DaemonTestHooks {
  /** A deliberate bug, for proving the chaos checkers catch it ('stale-read'). */
  readonly plantedBug?: string;
}

async function run(config: DaemonConfig, hooks: DaemonTestHooks): Promise<void> {
  let member: { currentTerm(): number } | null = null;
  const logger = createLogger(config.name, config.logLevel, () => member?.currentTerm() ?? 0);
  installCrashHandlers(logger);
  // Until the member serves, a stop request exits at once: nothing has been acknowledged yet and
  // the storage is crash-safe. Without a handler, a container's PID 1 ignores SIGTERM, and a
  // member stopped while opening its data (a rollout, `docker stop`) waited for the SIGKILL.
  // This replaces the launcher's handler for the time the modules load (bin/raftkv).
  setStopHandler((signal) => {
    logger.info({ signal }, 'shutdown requested while starting; exiting');
    exitSoon(0);
  });
  const metrics = createMetrics(config.name);
  // Installs an exporter only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise spans are no-ops.
  const tracing = await initTracing('raftkv', config.name);
  try {
    mkdirSync(config.dataDir, { recursive: true });
  } catch (err) {
    fail(`cannot create --data-dir ${config.dataDir}: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
  const plantedBug = hooks.plantedBug;
  if (plantedBug) logger.warn({ plantedBug }, 'UNSAFE: a deliberate bug is planted (chaos checker test only)');
  const wired = await wireMember({
    config,
    logger,
    metrics,
    electionTicks: electionTicksOf(config),
    ...(plantedBug ? { plantedBug } : {}),
    onFatal: (err) => {
      logger.fatal({ err }, 'fatal error in the member driver; stopping');
      process.stderr.write(`raftkv: fatal: ${err instanceof Error ? err.message : String(err)}\n`);
      exitSoon(1);
    },
  });
  member = wired.server;
  await wired.server.start();
  if (wired.shipper !== null) {
    await wired.shipper.start();
    logger.info({ to: config.backupShipTo, intervalMs: config.backupShipIntervalMs, segmentMaxBytes: config.backupSegmentMaxBytes }, 'shipping the committed log to the backup store');
  }
  const http = wired.api;
  try {
    await http.listen(config.listenClientUrl);
  } catch (err) {
    fail(`cannot listen on ${config.listenClientUrl}: ${err instanceof Error ? err.message : String(err)}`, 1);
  }
  logger.info({
    client: config.listenClientUrl, peer: config.listenPeer, resumed: wired.resumed,
    peerTls: config.peerTls !== null, clientTls: config.clientTls !== null, clientCertRequired: config.clientTls?.requireClientCert ?? false, auth: config.authTokenFile !== null,
  }, 'serving');

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutdown requested');
    const watchdog = setTimeout(() => {
      logger.error('shutdown did not finish within the deadline; exiting 1');
      process.exit(1);
    }, LIMITS.shutdownDeadlineMs - 500);
    watchdog.unref();
    void (async () => {
      // Refuse new writes and hand off leadership before closing the HTTP listener, so clients
      // in flight get ShuttingDown / redirects instead of connection resets.
      wired.stopBackground();
      await wired.server.stop();
      await wired.shipper?.stop();
      await http.close();
      // Bounded: an unreachable collector must not hold the exit past the SIGTERM budget.
      await Promise.race([
        tracing.shutdown().catch((err: unknown) => logger.warn({ err }, 'trace exporter shutdown failed')),
        new Promise((resolve) => setTimeout(resolve, LIMITS.shutdownTraceFlushMs).unref()),
      ]);
      logger.info('bye');
      exitSoon(0);
    })().catch((err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      exitSoon(1);
    });
  };
  setStopHandler(shutdown);
}

/** Runs `raftkv` with `argv` (the arguments after the program name). */
export async function runDaemonCli(argv: readonly string[], hooks: DaemonTestHooks): Promise<void> {
  if (argv[0] === 'restore') {
    // Interrupted, a restore has not finished: say so with a failure, never exit 0.
    setStopHandler((signal) => fail(`restore interrupted by ${signal}`, 1));
    process.exit(await runRestore(argv.slice(1), process.env, process.stdout, process.stderr));
  }
  let parsed;
  try {
    parsed = parseFlags(argv, process.env);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`raftkv: ${err.message}\n${USAGE_LINE}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${parsed.text}\n`);
    process.exit(0);
  }
  try {
    await run(parsed.config, hooks);
  } catch (err) {
    if (err instanceof BootstrapError) fail(err.message, 1);
    // A data dir that cannot be opened (full volume, bad permissions, corruption) is an operator
    // problem, not a bug: one line that says which, no stack.
    if (err instanceof StorageError) fail(`cannot open the data dir (${err.code}): ${err.message}`, 1);
    fail(err instanceof Error ? (err.stack ?? err.message) : String(err), 1);
  }
}

