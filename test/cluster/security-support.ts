// Helpers for the security / backup / alerts cluster tests: members started by hand (for flags
// the harness does not model, e.g. https:// client URLs), HTTPS requests with a CA and client
// certificate, and raftctl / `raftkv restore` runs with a time bound. Every process started
// here is killed by pid in `stop()` / `destroyAll()`.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { raftkvCommand, repoRoot, waitFor } from '../lib/cluster-harness.js';

/** The raftctl of this build (beside the compiled tests), else the repository's bin/raftctl. */
export function raftctlCommand(): string[] {
  const built = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'daemon', 'src', 'cli', 'raftctl.js');
  return existsSync(built) ? [process.execPath, built] : [process.execPath, join(repoRoot(), 'bin', 'raftctl')];
}

/** What a finished command printed. */
export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs a command to completion (SIGKILL after `timeoutMs`). */
export function run(cmd: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 30_000): Promise<RunResult> {
  const t0 = Date.now();
  const [bin, ...args] = cmd;
  if (bin === undefined) throw new Error('empty command');
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** raftctl with arguments; RAFTKV_TOKEN etc. are not inherited unless given in `env`. */
export function raftctl(args: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 30_000): Promise<RunResult> {
  const clean: Record<string, string> = { RAFTKV_TOKEN: '', RAFTKV_ENDPOINTS: '', RAFTKV_CACERT: '', RAFTKV_CERT: '', RAFTKV_KEY: '', ...env };
  return run([...raftctlCommand(), ...args], clean, timeoutMs);
}

/** `raftkv restore ...`. */
export function raftkvRestore(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run([...raftkvCommand(), 'restore', ...args], {}, timeoutMs);
}

/** A member process started by hand. */
export class HandMember {
  proc: ChildProcess | null = null;

  constructor(
    readonly name: string,
    readonly args: readonly string[],
    readonly logFile: string,
  ) {}

  start(): void {
    if (this.proc) throw new Error(`${this.name} runs already`);
    mkdirSync(dirname(this.logFile), { recursive: true });
    const fd = openSync(this.logFile, 'a');
    const [bin, ...pre] = raftkvCommand();
    if (bin === undefined) throw new Error('empty RAFTKV_BIN');
    const p = spawn(bin, [...pre, ...this.args], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    p.once('exit', () => {
      if (this.proc === p) this.proc = null;
    });
    this.proc = p;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** Kills by pid and waits for the exit (bounded). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) {
      this.proc = null;
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 12_000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill(signal);
    });
    this.proc = null;
  }
}

/** PEM contents for an HTTPS call. */
export interface HttpsCreds {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** One HTTPS call on a fresh connection; resolves with status, body and the server certificate's fingerprint. */
export function httpsCall(url: string, creds: HttpsCreds, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; text: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: init.method ?? 'GET', agent: false, headers: init.headers ?? {}, ca: readFileSync(creds.ca),
      ...(creds.cert !== undefined && creds.key !== undefined ? { cert: readFileSync(creds.cert), key: readFileSync(creds.key) } : {}),
    }, (res) => {
      const fp = (res.socket as unknown as { getPeerCertificate(): PeerCertificate }).getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), fingerprint: fp }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    if (init.body !== undefined) req.end(init.body);
    else req.end();
  });
}

/** Waits until `url`/readyz answers 200 over HTTPS. */
export async function waitReadyHttps(url: string, creds: HttpsCreds, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${url} ready`, timeoutMs, async () => ((await httpsCall(`${url}/readyz`, creds)).status === 200 ? true : null));
}
