// The `raftctl` entry point (bin/raftctl imports this file): runs the command line and exits
// with its code. The logic lives in run.ts so tests can drive it without exiting.
import { runRaftctl } from './run.js';

const code = await runRaftctl(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
// Let stdout drain (piped output) before exiting; a watch never gets here until it ends.
process.exitCode = code;
