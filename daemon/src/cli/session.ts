// raftctl's client session (Raft dissertation §6.3): one per process, opened on the first write
// (POST /v1/sessions), every write numbered 1, 2, 3 ... in it (Session-Id / Session-Seq). A
// write sent again with the same headers (the client's failover to another endpoint, a retry
// after a timeout) is applied at most once: the cluster answers it from the session with
// `Idempotency-Replayed: true`. Closed at exit (best effort; an unclosed session expires).
import { CliError, authHint, errorLine } from './client.js';
import type { RaftkvClient } from './client.js';

/** Statuses of POST /v1/sessions after which raftctl writes without a session (an older member, or all sessions taken). */
const WRITE_WITHOUT_SESSION = new Set([404, 405, 429]);

/** The session headers of one write; send exactly these again to retry that write. */
export type SessionHeaders = Readonly<Record<string, string>>;

/** A lazily opened session over a client. Not for concurrent writes: numbers must reach the leader in order. */
export class WriteSession {
  private id: string | null = null;
  private seq = 0;
  private opened = false;
  private unavailable = false;

  constructor(private readonly client: RaftkvClient) {}

  /**
   * The headers for the next write (opening the session first if needed); `{}` when sessions
   * are unavailable. `what` names the write in errors (the open fails as the write would).
   */
  async nextWrite(what: string): Promise<SessionHeaders> {
    if (!this.opened) await this.open(what);
    if (this.id === null) return {};
    this.seq++;
    return { 'session-id': this.id, 'session-seq': String(this.seq) };
  }

  /** The session id, once open (null before, or when writing without one). */
  get sessionId(): string | null {
    return this.id;
  }

  /** True when the member refused to open a session and writes go without one. */
  get withoutSession(): boolean {
    return this.unavailable;
  }

  private async open(what: string): Promise<void> {
    this.opened = true;
    // Safe to resend: a session opened twice leaves one unused, which expires on its own.
    const res = await this.client.requestFor({ method: 'POST', path: '/v1/sessions', idempotent: true }, `${what} (opening its client session)`);
    if (WRITE_WITHOUT_SESSION.has(res.status)) {
      this.unavailable = true;
      return;
    }
    // Any other failure (auth, no leader) is what the write itself would meet: report it as such.
    if (res.status !== 201 && res.status !== 200) throw new CliError(`${what}: ${errorLine(res.status, res.body)}${authHint(res.status, this.client.hasToken)} (opening its client session)`, res.status);
    let id: unknown;
    try {
      id = (JSON.parse(res.body.toString('utf8')) as { id?: unknown }).id;
    } catch {
      id = undefined;
    }
    if (typeof id !== 'string' || !/^[1-9][0-9]{0,15}$/.test(id)) throw new CliError(`${what}: the member opened a client session without an id`);
    this.id = id;
  }

  /** Closes the session if one was opened; never throws (an unclosed session expires on its own). */
  async close(): Promise<void> {
    if (this.id === null) return;
    const id = this.id;
    this.id = null;
    try {
      await this.client.request({ method: 'DELETE', path: `/v1/sessions/${id}`, idempotent: true });
    } catch {
      // Best effort: the session expires after its TTL.
    }
  }
}
