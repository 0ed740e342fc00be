// The simulated state machine: a map of string registers, driven by commands the simulator
// encodes into log entries. Each command carries its client and sequence number, so the
// member that proposed it can tell its own entry from another at the same index.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NIL = '~';

/** A command as carried in a Normal entry. */
export interface KvCommand {
  readonly client: number;
  readonly seq: number;
  readonly f: 'write' | 'cas';
  readonly key: string;
  readonly value: string;
  /** cas: the value required (null = absent). */
  readonly expected: string | null;
}

/** Layout: "client,seq,f,key,value,expected" (no field contains ',' or the NIL marker). */
export function encodeCommand(c: KvCommand): Uint8Array {
  return encoder.encode(`${c.client},${c.seq},${c.f},${c.key},${c.value},${c.expected === null ? NIL : c.expected}`);
}

/** Inverse of encodeCommand; throws on bytes it did not write. */
export function decodeCommand(data: Uint8Array): KvCommand {
  const parts = decoder.decode(data).split(',');
  if (parts.length !== 6) throw new Error(`malformed command (${parts.length} fields)`);
  const [client, seq, f, key, value, expected] = parts as [string, string, string, string, string, string];
  if (f !== 'write' && f !== 'cas') throw new Error(`malformed command op ${f}`);
  return { client: Number(client), seq: Number(seq), f, key, value, expected: expected === NIL ? null : expected };
}

/** A cheap 32-bit FNV-1a digest of bytes (entry identity in the checkers). */
export function digest(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) h = Math.imul(h ^ (data[i] as number), 0x01000193);
  return h >>> 0;
}

/** What applying a command did. */
export interface KvApplied {
  /** The command took effect now (false: a retry answered from its session, or a stale one). */
  readonly executed: boolean;
  /** The register changed (for a retry: whether it changed when the command took effect). */
  readonly changed: boolean;
}

/**
 * The replicated map, with a session per client as the daemon keeps them (the Raft
 * dissertation's 6.3): the highest sequence number applied and its outcome, so a retry of a
 * command takes effect once. `dedup: false` is the known-bad variant the checker must catch.
 */
export class KvStore {
  private readonly map = new Map<string, string>();
  private readonly sessions = new Map<number, { seq: number; changed: boolean }>();

  constructor(private readonly dedup = true) {}

  apply(c: KvCommand): KvApplied {
    const s = this.sessions.get(c.client);
    if (this.dedup && s !== undefined && c.seq <= s.seq) return { executed: false, changed: c.seq === s.seq && s.changed };
    let changed = true;
    if (c.f === 'cas' && (this.map.get(c.key) ?? null) !== c.expected) changed = false;
    else this.map.set(c.key, c.value);
    if (s === undefined || c.seq > s.seq) this.sessions.set(c.client, { seq: c.seq, changed });
    return { executed: true, changed };
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  /** A self-contained image (the snapshot data): registers and sessions. */
  serialize(): Uint8Array {
    const map = [...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const sessions = [...this.sessions.entries()].sort((a, b) => a[0] - b[0]).map(([c, s]) => [c, s.seq, s.changed ? 1 : 0]);
    return encoder.encode(JSON.stringify({ map, sessions }));
  }

  static deserialize(data: Uint8Array, dedup = true): KvStore {
    const kv = new KvStore(dedup);
    if (data.length === 0) return kv;
    const image = JSON.parse(decoder.decode(data)) as { map: [string, string][]; sessions: [number, number, number][] };
    for (const [k, v] of image.map) kv.map.set(k, v);
    for (const [c, seq, changed] of image.sessions) kv.sessions.set(c, { seq, changed: changed === 1 });
    return kv;
  }
}
