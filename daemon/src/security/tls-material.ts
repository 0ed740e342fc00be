// TLS material read from PEM files and kept current: the peer transport and the HTTPS client
// port each hold one ReloadableTls, and swap to new material when the files change.
import { createSecureContext } from 'node:tls';
import { WatchedFiles, readAll } from './watched-files.js';
import type { FileContents, WatchLogger } from './watched-files.js';

/** Where a TLS identity lives on disk. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle used to verify the other side; absent: the system roots / no client verification. */
  readonly caFile?: string;
}

/** PEM material ready for node's tls options. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

function pathsOf(files: TlsFiles): string[] {
  return files.caFile !== undefined ? [files.certFile, files.keyFile, files.caFile] : [files.certFile, files.keyFile];
}

/**
 * Builds material from file contents and proves it usable: node parses the certificate chain,
 * the key and the CA bundle, and checks that the key belongs to the certificate. Throws
 * otherwise, so a half-rotated pair is never put in service.
 */
export function materialFrom(files: TlsFiles, contents: FileContents): TlsMaterial {
  const get = (p: string): Buffer => {
    const b = contents.get(p);
    if (b === undefined) throw new Error(`no contents for ${p}`);
    return b;
  };
  const m: TlsMaterial = files.caFile !== undefined
    ? { cert: get(files.certFile), key: get(files.keyFile), ca: get(files.caFile) }
    : { cert: get(files.certFile), key: get(files.keyFile) };
  try {
    createSecureContext(m.ca !== undefined ? { cert: m.cert, key: m.key, ca: m.ca } : { cert: m.cert, key: m.key });
  } catch (err) {
    throw new Error(`${files.certFile} / ${files.keyFile}${files.caFile !== undefined ? ` / ${files.caFile}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return m;
}

/** Reads and validates material once (startup); throws a message naming the files. */
export function loadMaterial(files: TlsFiles): TlsMaterial {
  return materialFrom(files, readAll(pathsOf(files)));
}

/**
 * TLS material that follows its files. `current` is always a validated set; listeners run
 * after each successful swap (a listener that throws keeps the new material but is logged).
 */
export class ReloadableTls {
  private material: TlsMaterial;
  private readonly listeners: ((m: TlsMaterial) => void)[] = [];
  private readonly watcher: WatchedFiles;

  constructor(readonly what: string, readonly files: TlsFiles, log: WatchLogger) {
    const contents = readAll(pathsOf(files));
    this.material = materialFrom(files, contents);
    this.watcher = new WatchedFiles(what, pathsOf(files), contents, (c) => {
      const next = materialFrom(files, c);
      this.material = next;
      for (const l of this.listeners) {
        try {
          l(next);
        } catch (err) {
          log.warn({ what, err: err instanceof Error ? err.message : String(err) }, 'applying reloaded TLS material failed');
        }
      }
    }, log);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Called with the new material after every reload. */
  onChange(listener: (m: TlsMaterial) => void): void {
    this.listeners.push(listener);
  }

  /** Polls the files every `intervalMs` (0: never). */
  start(intervalMs: number): void {
    this.watcher.start(intervalMs);
  }

  /** Checks the files now; true when new material was taken. */
  poll(): boolean {
    return this.watcher.poll();
  }

  stop(): void {
    this.watcher.stop();
  }
}
