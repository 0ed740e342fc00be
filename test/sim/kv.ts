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

/** The replicated map. */
export class KvStore {
  private readonly map = new Map<string, string>();

  /** Applies one command; returns whether it changed the register (a cas may not). */
  apply(c: KvCommand): boolean {
    if (c.f === 'cas' && (this.map.get(c.key) ?? null) !== c.expected) return false;
    this.map.set(c.key, c.value);
    return true;
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  /** A self-contained image (the snapshot data). */
  serialize(): Uint8Array {
    return encoder.encode(JSON.stringify([...this.map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))));
  }

  static deserialize(data: Uint8Array): KvStore {
    const kv = new KvStore();
    if (data.length === 0) return kv;
    const pairs = JSON.parse(decoder.decode(data)) as [string, string][];
    for (const [k, v] of pairs) kv.map.set(k, v);
    return kv;
  }
}
