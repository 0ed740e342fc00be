// A raftkv daemon with a deliberate bug, for the chaos tier's --planted-bug runs only: it proves
// the checkers catch a real violation. The production entry (daemon/src/main.ts) has no way to
// plant one; this file is compiled into dist/test, never into an image (the Dockerfile copies
// dist/daemon and dist/operator only).
//   node dist/test/chaos/planted-raftkv.js --planted-bug stale-read <raftkv flags...>
import { runDaemonCli } from '../../daemon/src/daemon.js';

/** The bugs this entry can plant (stale-read: server.ts; idempotency-lapse: server/wiring.ts, the exactly-once windows last 5 s). */
export const PLANTED_BUGS = ['stale-read', 'idempotency-lapse'] as const;

const [flag, bug, ...rest] = process.argv.slice(2);
if (flag !== '--planted-bug' || bug === undefined || !(PLANTED_BUGS as readonly string[]).includes(bug)) {
  process.stderr.write(`usage: planted-raftkv --planted-bug ${PLANTED_BUGS.join('|')} <raftkv flags...>\n`);
  process.exit(2);
}
void runDaemonCli(rest, { plantedBug: bug });
