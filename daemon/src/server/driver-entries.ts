// Log entries the driver itself proposes, beside the KV commands: today only "publish", with
// which a new leader replicates its client URL so every member can redirect clients to it
// (the bootstrap flags only carry peer addresses). They are ordinary Normal entries marked by
// a prefix the KV command codec never produces (its first byte is a small opcode/version).

const PREFIX = [0xff, 0x52, 0x4b, 0x50]; // 0xFF "RKP"

/** A member announcing how clients reach it. */
export interface PublishEntry {
  readonly name: string;
  readonly clientUrl: string;
}

/** True when `data` is a driver entry rather than a KV command. */
export function isDriverEntry(data: Uint8Array): boolean {
  return data.length >= PREFIX.length && PREFIX.every((b, i) => data[i] === b);
}

/** The entry data announcing `p` (propose it as a Normal entry). */
export function encodePublish(p: PublishEntry): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ t: 'publish', name: p.name, clientUrl: p.clientUrl }));
  const out = new Uint8Array(PREFIX.length + json.length);
  out.set(PREFIX, 0);
  out.set(json, PREFIX.length);
  return out;
}

/** Decodes a driver entry; null when it is not one this version understands (ignored, not fatal). */
export function decodeDriverEntry(data: Uint8Array): PublishEntry | null {
  if (!isDriverEntry(data)) return null;
  try {
    const v = JSON.parse(new TextDecoder().decode(data.subarray(PREFIX.length))) as Record<string, unknown>;
    if (v['t'] === 'publish' && typeof v['name'] === 'string' && typeof v['clientUrl'] === 'string') return { name: v['name'], clientUrl: v['clientUrl'] };
    return null;
  } catch {
    return null;
  }
}
