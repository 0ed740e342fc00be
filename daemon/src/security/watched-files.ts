// Credential files (certificates, keys, CA bundles, the token file) that are re-read when they
// change, so rotation needs no restart. Polling, not fs.watch: Kubernetes updates mounted
// Secrets by swapping a symlink to a new directory, which inotify on the file itself never
// reports, and a content hash also ignores a touch without a change. The files are small
// (kilobytes), so reading them every few seconds costs nothing.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** Contents of a set of files, by path. */
export type FileContents = ReadonlyMap<string, Buffer>;

/** What a watcher reports when it cannot apply a change (the old contents stay in force). */
export interface WatchLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

/** Reads every path; throws with the path in the message when one cannot be read. */
export function readAll(paths: readonly string[]): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const p of paths) {
    try {
      out.set(p, readFileSync(p));
    } catch (err) {
      throw new Error(`cannot read ${p}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return out;
}

function digest(contents: FileContents): string {
  const h = createHash('sha256');
  for (const [p, b] of contents) h.update(p).update('\0').update(createHash('sha256').update(b).digest()).update('\0');
  return h.digest('hex');
}

/**
 * Polls `paths` every `intervalMs`. When their combined contents change, `apply` is called with
 * the new contents; if it throws (e.g. a key that does not match its certificate, or a half
 * written file), the error is logged, the old state stays, and the next poll tries again — a
 * rotation written in two steps (cert, then key) converges once both are in place.
 */
export class WatchedFiles {
  private last: string;
  private timer: NodeJS.Timeout | null = null;
  private lastError = '';

  constructor(
    private readonly what: string,
    private readonly paths: readonly string[],
    initial: FileContents,
    private readonly apply: (contents: FileContents) => void,
    private readonly log: WatchLogger,
  ) {
    this.last = digest(initial);
  }

  /** Starts polling (the timer does not keep the process alive). */
  start(intervalMs: number): void {
    if (this.timer || intervalMs <= 0) return;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** One poll; exposed so tests need not wait for the timer. True when a change was applied. */
  poll(): boolean {
    let contents: Map<string, Buffer>;
    try {
      contents = readAll(this.paths);
    } catch (err) {
      this.report(err);
      return false;
    }
    const d = digest(contents);
    if (d === this.last) return false;
    try {
      this.apply(contents);
    } catch (err) {
      this.report(err);
      return false;
    }
    this.last = d;
    this.lastError = '';
    this.log.info({ what: this.what, files: this.paths }, 'credentials reloaded');
    return true;
  }

  private report(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    // Once per distinct failure, not once per poll.
    if (message === this.lastError) return;
    this.lastError = message;
    this.log.warn({ what: this.what, err: message }, 'credential files changed but cannot be used yet; keeping the previous ones');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
