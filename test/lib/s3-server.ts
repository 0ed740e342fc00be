// A real S3 server for tests: Versity S3 Gateway (versitygw) with its POSIX backend in a temp
// dir, on 127.0.0.1 and a free port, with a root access key of its own. The binary comes from
// <repo>/.cache/bin (scripts/ensure-versitygw.sh, run here when it is missing; the first build
// takes minutes and is cached machine-wide). stop() kills the process by pid and removes the dir;
// kill()/restart() let a test take the store away and bring it back on the same port and data.
// Placement (S3ServerPlacement) runs it elsewhere: the e2e tier runs it in the real node's network
// namespace (`nsenter --net=...`, which execs the server, so the pid killed is the server's), on an
// address its pods route to, with its data under the node's state directory.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './free-port.js';
import { repoRoot } from './cluster-harness.js';

/** The versitygw binary, built (once per machine) if missing. */
export function versitygwBinary(): string {
  const bin = join(repoRoot(), '.cache', 'bin', 'versitygw');
  if (!existsSync(bin)) {
    const r = spawnSync('bash', [join(repoRoot(), 'scripts', 'ensure-versitygw.sh')], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 30 * 60_000 });
    if (r.status !== 0 || !existsSync(bin)) throw new Error(`versitygw is not available (scripts/ensure-versitygw.sh exited ${r.status ?? r.signal})`);
  }
  return bin;
}

async function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** PEM files for an HTTPS server: its certificate and key, and the CA that signed it (for clients). */
export interface S3ServerTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

/** Where the server runs and how the test reaches it (default: a process of the test on 127.0.0.1, its data in the temp dir). */
export interface S3ServerPlacement {
  /** A command prefix the server is run under (e.g. `nsenter --net=/run/netns/X --`); it must exec the server. */
  readonly wrap?: readonly string[];
  /** The address it listens on (default 127.0.0.1). */
  readonly listenHost?: string;
  /** The address the test reaches it at (default listenHost). */
  readonly reachHost?: string;
  /** The directory its temp dir is made in (default the OS temp dir). */
  readonly parentDir?: string;
}

/** A running versitygw. */
export class S3TestServer {
  private proc: ChildProcess | null = null;
  readonly accessKey = 'raftkvtestaccess';
  readonly secretKey = 'raftkv-test-secret-key-0123456789';

  private constructor(readonly port: number, readonly root: string, readonly logFile: string, readonly tls: S3ServerTls | null, private readonly placement: S3ServerPlacement) {}

  /** Starts a server on a fresh temp dir and waits until it accepts connections (HTTPS with `tls`). */
  static async start(label = 's3', tls: S3ServerTls | null = null, placement: S3ServerPlacement = {}): Promise<S3TestServer> {
    const bin = versitygwBinary();
    const root = mkdtempSync(join(placement.parentDir ?? tmpdir(), `raftkv-${label}-`));
    const s = new S3TestServer(await freePort(), root, join(root, 'versitygw.log'), tls, placement);
    mkdirSync(join(root, 'data'));
    try {
      await s.launch(bin);
    } catch (err) {
      s.stop();
      throw err;
    }
    return s;
  }

  private async launch(bin = versitygwBinary()): Promise<void> {
    if (this.proc !== null) throw new Error('versitygw runs already');
    const fd = openSync(this.logFile, 'a');
    const tlsArgs = this.tls === null ? [] : ['--cert', this.tls.certFile, '--key', this.tls.keyFile];
    const argv = [bin, '--access', this.accessKey, '--secret', this.secretKey, '--port', `${this.placement.listenHost ?? '127.0.0.1'}:${this.port}`, ...tlsArgs, '--quiet', 'posix', join(this.root, 'data')];
    const [cmd = bin, ...args] = [...(this.placement.wrap ?? []), ...argv];
    const p = spawn(cmd, args, {
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: this.root },
    });
    closeSync(fd);
    this.proc = p;
    p.once('exit', () => {
      if (this.proc === p) this.proc = null;
    });
    const deadline = Date.now() + 20_000;
    while (!(await portOpen(this.reachHost, this.port))) {
      if (this.proc === null) throw new Error(`versitygw exited at start: ${this.log().slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`versitygw did not listen on ${this.port} within 20 s: ${this.log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private get reachHost(): string {
    return this.placement.reachHost ?? this.placement.listenHost ?? '127.0.0.1';
  }

  /** The server's pid while it runs. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** http://127.0.0.1:PORT (https:// with TLS): where the test reaches it. */
  get endpoint(): string {
    return `${this.tls === null ? 'http' : 'https'}://${this.reachHost}:${this.port}`;
  }

  /** The standard AWS environment a client needs to reach this server (and nothing else). */
  env(): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: this.accessKey, AWS_SECRET_ACCESS_KEY: this.secretKey, AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_REGION: '', AWS_DEFAULT_REGION: '', AWS_PROFILE: '', AWS_ENDPOINT_URL: '', AWS_CA_BUNDLE: '', RAFTKV_S3_PATH_STYLE: '',
      // No shared config files of the machine, and no instance-metadata probing.
      AWS_CONFIG_FILE: join(this.root, 'no-aws-config'), AWS_SHARED_CREDENTIALS_FILE: join(this.root, 'no-aws-credentials'), AWS_EC2_METADATA_DISABLED: 'true',
    };
  }

  /** Creates a bucket with the root credentials. */
  async createBucket(name: string): Promise<void> {
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const httpsAgent = this.tls === null ? undefined : new HttpsAgent({ ca: readFileSync(this.tls.caFile) });
    const c = new S3Client({
      endpoint: this.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: this.accessKey, secretAccessKey: this.secretKey },
      ...(httpsAgent !== undefined ? { requestHandler: { httpsAgent } } : {}),
    });
    try {
      await c.send(new CreateBucketCommand({ Bucket: name }));
    } finally {
      c.destroy();
    }
  }

  /** The server's log so far. */
  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Kills the server (SIGKILL), keeping its data; restart() brings it back on the same port. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (p === null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  async restart(): Promise<void> {
    await this.launch();
  }

  /** Kills the server and removes its data. Safe to call twice. */
  stop(): void {
    if (this.proc !== null) {
      this.proc.kill('SIGKILL');
      this.proc = null;
    }
    rmSync(this.root, { recursive: true, force: true });
  }
}
