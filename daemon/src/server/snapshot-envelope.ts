// What a raft snapshot image holds: the state machine's own image plus the address book at the
// same index (a member restored from a snapshot must know how to reach members whose conf
// change was compacted away). Layout: magic "RKS1" | u32 BE json length | json | kv image.

const MAGIC = [0x52, 0x4b, 0x53, 0x31]; // "RKS1"
const HEADER_BYTES = MAGIC.length + 4;

/** The parts of a snapshot image. */
export interface SnapshotParts {
  /** AddressBook.toJson() at the snapshot's index. */
  readonly membersJson: string;
  readonly kvImage: Uint8Array;
}

/** Thrown when a snapshot image is not one this version wrote. */
export class SnapshotFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotFormatError';
  }
}

/** Builds the image stored and sent as a raft snapshot's data. */
export function encodeSnapshot(parts: SnapshotParts): Uint8Array {
  const json = new TextEncoder().encode(parts.membersJson);
  const out = new Uint8Array(HEADER_BYTES + json.length + parts.kvImage.length);
  out.set(MAGIC, 0);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(MAGIC.length, json.length, false);
  out.set(json, HEADER_BYTES);
  out.set(parts.kvImage, HEADER_BYTES + json.length);
  return out;
}

/** Splits an image made by `encodeSnapshot`; throws SnapshotFormatError for anything else. */
export function decodeSnapshot(data: Uint8Array): SnapshotParts {
  if (data.length < HEADER_BYTES || MAGIC.some((b, i) => data[i] !== b)) throw new SnapshotFormatError('not a raftkv snapshot image');
  const jsonBytes = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(MAGIC.length, false);
  if (HEADER_BYTES + jsonBytes > data.length) throw new SnapshotFormatError('truncated snapshot image');
  const membersJson = new TextDecoder().decode(data.subarray(HEADER_BYTES, HEADER_BYTES + jsonBytes));
  return { membersJson, kvImage: data.subarray(HEADER_BYTES + jsonBytes) };
}
