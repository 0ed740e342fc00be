// Membership: the configuration (voters and learners), one change at a time, and the compact
// binary encoding of a ConfChange carried in a log entry.
import { RaftError, assertInvariant } from './errors.js';
import type { ConfChange, ConfState, NodeId } from './types.js';

const CONF_CHANGE_VERSION = 1;
const TYPE_CODES: Readonly<Record<ConfChange['type'], number>> = { addLearner: 1, promote: 2, remove: 3 };
const CODE_TYPES: readonly (ConfChange['type'] | undefined)[] = [undefined, 'addLearner', 'promote', 'remove'];
/** Longest member name a ConfChange may carry (bytes of UTF-8). */
export const MAX_NODE_ID_BYTES = 255;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Layout: version u8 | type u8 | nameLen u8 | name utf8 | contextLen u32 BE | context.
 * Throws RaftError InvalidConfChange for a name that is empty or too long.
 */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  const name = encoder.encode(cc.node);
  if (name.length === 0 || name.length > MAX_NODE_ID_BYTES) {
    throw new RaftError('InvalidConfChange', `member name must be 1..${MAX_NODE_ID_BYTES} bytes`);
  }
  const code = TYPE_CODES[cc.type];
  if (code === undefined) throw new RaftError('InvalidConfChange', `unknown change type ${String(cc.type)}`);
  const out = new Uint8Array(3 + name.length + 4 + cc.context.length);
  out[0] = CONF_CHANGE_VERSION;
  out[1] = code;
  out[2] = name.length;
  out.set(name, 3);
  const at = 3 + name.length;
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(at, cc.context.length, false);
  out.set(cc.context, at + 4);
  return out;
}

/** Decodes what encodeConfChange wrote; throws RaftInvariantError on malformed bytes (a committed entry must decode). */
export function decodeConfChange(data: Uint8Array): ConfChange {
  assertInvariant(data.length >= 7, `conf change entry too short (${data.length} bytes)`);
  assertInvariant(data[0] === CONF_CHANGE_VERSION, `unknown conf change version ${String(data[0])}`);
  const type = CODE_TYPES[data[1] as number];
  assertInvariant(type !== undefined, `unknown conf change type ${String(data[1])}`);
  const nameLen = data[2] as number;
  assertInvariant(data.length >= 3 + nameLen + 4, 'conf change entry truncated in its name');
  const node = decoder.decode(data.subarray(3, 3 + nameLen));
  const at = 3 + nameLen;
  const ctxLen = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(at, false);
  assertInvariant(data.length === at + 4 + ctxLen, 'conf change entry length does not match its context length');
  return { type, node, context: data.slice(at + 4) };
}

const CONF_STATE_VERSION = 1;

/**
 * Layout: version u8 | voters u16 BE | learners u16 BE | (nameLen u8 | name utf8)*. Used for
 * the bootstrap configuration the first leader writes into its index-1 noop (see node.ts).
 */
export function encodeConfState(cs: ConfState): Uint8Array {
  const names = [...cs.voters, ...cs.learners].map((n) => encoder.encode(n));
  let size = 5;
  for (const n of names) {
    assertInvariant(n.length > 0 && n.length <= MAX_NODE_ID_BYTES, `member name of ${n.length} bytes`);
    size += 1 + n.length;
  }
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = CONF_STATE_VERSION;
  view.setUint16(1, cs.voters.length, false);
  view.setUint16(3, cs.learners.length, false);
  let at = 5;
  for (const n of names) {
    out[at] = n.length;
    out.set(n, at + 1);
    at += 1 + n.length;
  }
  return out;
}

/** Decodes what encodeConfState wrote; null if `data` is not such an encoding. */
export function decodeConfState(data: Uint8Array): ConfState | null {
  if (data.length < 5 || data[0] !== CONF_STATE_VERSION) return null;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const nv = view.getUint16(1, false);
  const nl = view.getUint16(3, false);
  const names: string[] = [];
  let at = 5;
  for (let i = 0; i < nv + nl; i++) {
    const len = data[at];
    if (len === undefined || at + 1 + len > data.length) return null;
    try {
      names.push(decoder.decode(data.subarray(at + 1, at + 1 + len)));
    } catch {
      return null;
    }
    at += 1 + len;
  }
  if (at !== data.length) return null;
  return { voters: names.slice(0, nv), learners: names.slice(nv) };
}

export function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id);
}

export function isLearner(cs: ConfState, id: NodeId): boolean {
  return cs.learners.includes(id);
}

export function isMember(cs: ConfState, id: NodeId): boolean {
  return isVoter(cs, id) || isLearner(cs, id);
}

/**
 * Refuses a change that cannot apply to `cs` (RaftError: UnknownMember, AlreadyMember,
 * InvalidConfChange). Catch-up (LearnerNotCaughtUp) is checked by the leader, which knows progress.
 */
export function validateConfChange(cs: ConfState, cc: ConfChange): void {
  switch (cc.type) {
    case 'addLearner':
      if (isMember(cs, cc.node)) throw new RaftError('AlreadyMember', `${cc.node} is already a member`);
      return;
    case 'promote':
      if (isVoter(cs, cc.node)) throw new RaftError('InvalidConfChange', `${cc.node} is already a voter`);
      if (!isLearner(cs, cc.node)) throw new RaftError('UnknownMember', `${cc.node} is not a learner of this cluster`);
      return;
    case 'remove':
      if (!isMember(cs, cc.node)) throw new RaftError('UnknownMember', `${cc.node} is not a member`);
      if (isVoter(cs, cc.node) && cs.voters.length === 1) throw new RaftError('InvalidConfChange', 'cannot remove the last voter');
      return;
    default:
      throw new RaftError('InvalidConfChange', `unknown change type ${String((cc as { type: unknown }).type)}`);
  }
}

/**
 * The configuration after `cc`. A committed change that no longer fits (it was validated
 * against an older config) leaves the configuration as it is, so every member agrees.
 */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  switch (cc.type) {
    case 'addLearner':
      if (isMember(cs, cc.node)) return cs;
      return { voters: cs.voters, learners: [...cs.learners, cc.node].sort() };
    case 'promote':
      if (!isLearner(cs, cc.node)) return cs;
      return { voters: [...cs.voters, cc.node].sort(), learners: cs.learners.filter((x) => x !== cc.node) };
    case 'remove':
      if (!isMember(cs, cc.node)) return cs;
      if (isVoter(cs, cc.node) && cs.voters.length === 1) return cs;
      return { voters: cs.voters.filter((x) => x !== cc.node), learners: cs.learners.filter((x) => x !== cc.node) };
  }
}
