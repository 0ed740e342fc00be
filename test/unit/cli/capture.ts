// Runs raftctl in process with captured stdout/stderr (and `stdin` as its input).
import { PassThrough, Readable } from 'node:stream';
import { runRaftctl } from '../../../daemon/src/cli/run.js';

/** What one raftctl run printed, and its exit code. */
export interface CapturedRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runRaftctlCaptured(argv: readonly string[], stdin = ''): Promise<CapturedRun> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => { out += c.toString(); });
  stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const code = await runRaftctl([...argv], { stdout, stderr, stdin: Readable.from([Buffer.from(stdin)]), env: {} });
  return { code, out, err };
}
