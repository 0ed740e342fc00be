// The production `raftkv` entry point (bin/raftkv imports it). It passes no test hooks: nothing
// in its environment or flags can plant a bug (test/chaos/planted-raftkv.ts is the entry that can).
import { runDaemonCli } from './daemon.js';

void runDaemonCli(process.argv.slice(2), {});
