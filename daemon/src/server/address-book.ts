// Who the members are and how to reach them: name → peer address (raft transport) and client
// URL (redirects, status). Rebuilt on every start from the bootstrap record, the latest
// snapshot and the conf changes applied after it, so it always matches the applied log.
import { LIMITS } from '../config/limits.js';

/** How to reach one member. `clientUrl` is '' until the member's client URL is known. */
export interface MemberAddress {
  readonly name: string;
  /** `host:port` */
  readonly peerAddress: string;
  readonly clientUrl: string;
}

/** Addresses as carried in a conf change's `context` and in snapshots (JSON, versioned). */
interface AddressRecord {
  readonly v: 1;
  readonly peerAddress: string;
  readonly clientUrl: string;
}

/** Encodes a member's addresses into a ConfChange context. */
export function encodeAddressContext(a: { readonly peerAddress: string; readonly clientUrl: string }): Uint8Array {
  const rec: AddressRecord = { v: 1, peerAddress: a.peerAddress, clientUrl: a.clientUrl };
  return new TextEncoder().encode(JSON.stringify(rec));
}

/** Decodes a ConfChange context; null when it is empty or not an address record (e.g. a remove). */
export function decodeAddressContext(context: Uint8Array): { peerAddress: string; clientUrl: string } | null {
  if (context.length === 0) return null;
  try {
    const rec = JSON.parse(new TextDecoder().decode(context)) as Partial<AddressRecord>;
    if (rec.v !== 1 || typeof rec.peerAddress !== 'string' || typeof rec.clientUrl !== 'string') return null;
    return { peerAddress: rec.peerAddress, clientUrl: rec.clientUrl };
  } catch {
    return null;
  }
}

/** The mutable address book of one member. Bounded by LIMITS.maxMembers. */
export class AddressBook {
  private readonly byName = new Map<string, MemberAddress>();

  /** Adds or replaces a member; an empty `clientUrl` never overwrites a known one. */
  set(a: MemberAddress): void {
    const prev = this.byName.get(a.name);
    if (!prev && this.byName.size >= LIMITS.maxMembers * 2) return; // bound: ignore beyond
    const clientUrl = a.clientUrl !== '' ? a.clientUrl : (prev?.clientUrl ?? '');
    const peerAddress = a.peerAddress !== '' ? a.peerAddress : (prev?.peerAddress ?? '');
    this.byName.set(a.name, { name: a.name, peerAddress, clientUrl });
  }

  /** Records a client URL for a known or unknown member (e.g. learned from a peer). */
  setClientUrl(name: string, clientUrl: string): boolean {
    const prev = this.byName.get(name);
    if (prev?.clientUrl === clientUrl) return false;
    this.set({ name, peerAddress: prev?.peerAddress ?? '', clientUrl });
    return true;
  }

  delete(name: string): void {
    this.byName.delete(name);
  }

  get(name: string): MemberAddress | undefined {
    return this.byName.get(name);
  }

  all(): MemberAddress[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** JSON for the storage meta record and snapshot envelopes. */
  toJson(): string {
    return JSON.stringify(this.all());
  }

  /** Replaces the content with a `toJson` image; ignores malformed records. */
  loadJson(json: string): void {
    const parsed: unknown = JSON.parse(json);
    if (!Array.isArray(parsed)) return;
    for (const item of parsed as unknown[]) {
      if (typeof item !== 'object' || item === null) continue;
      const r = item as Record<string, unknown>;
      if (typeof r['name'] === 'string' && typeof r['peerAddress'] === 'string' && typeof r['clientUrl'] === 'string') {
        this.set({ name: r['name'], peerAddress: r['peerAddress'], clientUrl: r['clientUrl'] });
      }
    }
  }
}
