// Test certificates made with the openssl CLI (Debian's openssl package): CAs and leaf
// certificates for 127.0.0.1/localhost, EC P-256 to keep generation fast. Shared by the unit
// and cluster security tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Paths of one certificate and its key. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/** A folder of generated certificates; `cleanup()` removes it. */
export class CertDir {
  readonly dir: string;
  private serial = 1;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'raftkv-certs-'));
  }

  private openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  }

  /** A self-signed CA `name` (files name.crt / name.key). */
  ca(name: string): CertFiles {
    const f = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    this.openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
      '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout', f.key, '-out', f.cert]);
    return f;
  }

  /** A leaf `name` signed by `ca`, valid for 127.0.0.1 and localhost (server and client use). */
  leaf(name: string, ca: CertFiles, cn = name): CertFiles {
    const f = { cert: join(this.dir, `${name}.crt`), key: join(this.dir, `${name}.key`) };
    const csr = join(this.dir, `${name}.csr`);
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n');
    this.openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${cn}`, '-keyout', f.key, '-out', csr]);
    this.openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', String(this.serial++), '-days', '2', '-extfile', ext, '-out', f.cert]);
    return f;
  }

  /** A file holding the concatenation of `parts` (a CA bundle). */
  bundle(name: string, ...parts: readonly string[]): string {
    const p = join(this.dir, name);
    writeFileSync(p, parts.map((x) => readFileSync(x, 'utf8')).join(''));
    return p;
  }

  /**
   * Copies `from` over `to` (a rotation: the daemon's path stays, the content changes). Written
   * beside and renamed over, so a reader sees the old file or the new one, never a half-written
   * one — as with a Kubernetes Secret volume, which swaps a symlink.
   */
  static copy(from: string, to: string): void {
    const tmp = `${to}.rotating`;
    writeFileSync(tmp, readFileSync(from));
    renameSync(tmp, to);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True when the openssl CLI is present (the tests need it: Debian package openssl). */
export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
