// Storage changes (pure). A StatefulSet's volumeClaimTemplates are immutable, so applying a new
// spec.storage to it fails; this decides instead what can be done, by spec.storage.resizePolicy:
//  - in place: expand the members' PVCs when their StorageClass allows it, then replace the
//    StatefulSet object (orphaning its pods) so its template matches; whether the volumes really
//    grew (status.capacity) is reported, never waited on: only the class's resizer can grow them;
//  - through learners (a class change, or a class that cannot expand): replace the StatefulSet
//    object first, so new PVCs come from the new template, then replace the members one at a
//    time with the member replacement flow (planner.ts: removed, PVC and pod deleted, recreated
//    empty from the new template, rejoins as a learner, promoted), followers first, the leader
//    last, each only in a settled cluster whose members are all healthy;
//  - or refuse with a reason while everything else keeps working (the StatefulSet is applied with
//    the template it already has). A shrink is always refused (the CRD refuses it first).
import type { StorageResizePolicy } from '../api/types.js';
import type { ObservedMember, ObservedPod } from './planner.js';

/** The storage part of a volumeClaimTemplate / spec.storage. */
export interface StorageShape {
  readonly size: string;
  readonly storageClassName?: string | undefined;
}

/** One member data PVC as observed. */
export interface ObservedClaim {
  readonly name: string;
  /** The member (pod) the claim belongs to; undefined in tests that do not need it. */
  readonly member?: string | undefined;
  /** spec.resources.requests.storage. */
  readonly request: string;
  readonly storageClassName: string | undefined;
  /** Its StorageClass has allowVolumeExpansion: true; a string says why not or why unknown. */
  readonly expandable: true | string;
  /** The verdict `expandable` is not known (the StorageClass could not be read): never acted on. */
  readonly expandableUnknown?: boolean | undefined;
  /** status.capacity.storage; undefined while the claim is not bound. */
  readonly capacity?: string | undefined;
  /** Who is to grow it (annotation volume.kubernetes.io/storage-resizer, set by kube-controller-manager). */
  readonly resizer?: string | undefined;
}

/** What planStorage decides from besides the shapes and the claims. */
export interface StoragePlanOptions {
  /** spec.storage.resizePolicy (default Auto). */
  readonly policy?: StorageResizePolicy | undefined;
  /** Members the StatefulSet has (claims may be missing while one is being replaced); default claims.length. */
  readonly memberCount?: number | undefined;
  /** Why new PVCs of spec.storage.storageClassName could not be provisioned (the class is missing or unreadable); undefined: fine. */
  readonly desiredClassProblem?: string | undefined;
  /**
   * A member replaced for this storage change that has not rejoined as a voter yet (its new PVC
   * matches already): the change is not done until it has.
   */
  readonly replacementUnderWay?: string | undefined;
}

/** What to do about storage this pass. */
export type StorageStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'expandClaims'; readonly claims: readonly string[]; readonly size: string }
  /** thenReplaceMembers: the members are to be replaced onto the new template afterwards (not expanded in place). */
  | { readonly kind: 'replaceStatefulSet'; readonly reason: string; readonly thenReplaceMembers: boolean }
  /** Nothing to do but wait: the claims ask for the size, their volumes are not that large yet. */
  | { readonly kind: 'awaitExpansion'; readonly message: string }
  /**
   * The StatefulSet has the new template; the members whose PVCs do not match it (`pending`, in
   * no particular order) are to be replaced one at a time (nextStorageReplacement picks which).
   */
  | { readonly kind: 'replaceMembers'; readonly pending: readonly string[]; readonly done: number; readonly total: number; readonly target: string }
  | { readonly kind: 'refuse'; readonly message: string };

const UNIT_BYTES: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/**
 * Bytes of a quantity in the form the CRD admits (`10Gi`, `1.5G`, `512Mi`, `1000000`).
 * @throws RangeError on anything else.
 */
export function quantityBytes(q: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (m === null) throw new RangeError(`unsupported storage quantity ${JSON.stringify(q)} (want e.g. 1Gi, 500Mi, 10G)`);
  return Math.ceil(Number(m[1]) * (UNIT_BYTES[m[2] ?? ''] ?? 1));
}

/** `2Gi` or `2Gi of class fast`. */
function shapeText(s: StorageShape): string {
  return s.storageClassName === undefined || s.storageClassName === '' ? s.size : `${s.size} of class ${s.storageClassName}`;
}

/**
 * @param desired spec.storage.
 * @param current the StatefulSet's data volumeClaimTemplate (undefined: no StatefulSet yet).
 * @param claims the data PVCs of the current members.
 */
export function planStorage(desired: StorageShape, current: StorageShape | undefined, claims: readonly ObservedClaim[], options: StoragePlanOptions = {}): StorageStep {
  if (current === undefined) return { kind: 'none' };
  const policy = options.policy ?? 'Auto';
  const sameClass = (desired.storageClassName ?? '') === (current.storageClassName ?? '');
  const desiredBytes = quantityBytes(desired.size);
  const currentBytes = quantityBytes(current.size);
  if (sameClass && desiredBytes === currentBytes) return planClaims(desired, desiredBytes, claims, policy, options);
  if (desiredBytes < currentBytes) {
    return { kind: 'refuse', message: `spec.storage.size ${desired.size} is smaller than the members' ${current.size}: volumes cannot shrink; set it back (for smaller volumes, restore a backup into a new RaftCluster)` };
  }
  const replaceFirst = (why: string): StorageStep => options.desiredClassProblem !== undefined
    ? { kind: 'refuse', message: `${why}, but ${options.desiredClassProblem}: no member is replaced; fix the StorageClass or set spec.storage back to ${shapeText(current)}` }
    : { kind: 'replaceStatefulSet', thenReplaceMembers: true, reason: `${why}: the StatefulSet's volumeClaimTemplate (${shapeText(current)}, immutable) is replaced by ${shapeText(desired)}, then the members are replaced one at a time through learners onto new PVCs` };
  if (!sameClass) {
    if (policy === 'InPlace') {
      return { kind: 'refuse', message: `spec.storage.storageClassName ${JSON.stringify(desired.storageClassName ?? '')} differs from the members' ${JSON.stringify(current.storageClassName ?? '')}: volumes cannot change class in place and spec.storage.resizePolicy is InPlace; set it back, or set resizePolicy Auto to replace the members one by one` };
    }
    return replaceFirst(`the StorageClass changes from ${JSON.stringify(current.storageClassName ?? '')} to ${JSON.stringify(desired.storageClassName ?? '')}`);
  }
  if (policy === 'ReplaceMembers') return replaceFirst(`spec.storage.size grows to ${desired.size} and spec.storage.resizePolicy is ReplaceMembers`);
  const small = claims.filter((c) => quantityBytes(c.request) < desiredBytes);
  const stuck = small.find((c) => c.expandable !== true);
  if (stuck !== undefined) {
    const why = stuck.expandable === true ? '' : stuck.expandable;
    if (policy === 'InPlace' || stuck.expandableUnknown === true) {
      return { kind: 'refuse', message: `cannot grow ${stuck.name} to ${desired.size}: ${why}; set spec.storage.size back to ${current.size}${policy === 'InPlace' ? ', or set spec.storage.resizePolicy Auto to replace the members one by one onto new PVCs' : ''}` };
    }
    return replaceFirst(`${stuck.name} cannot grow to ${desired.size} in place (${why})`);
  }
  if (small.length > 0) return { kind: 'expandClaims', claims: small.map((c) => c.name), size: desired.size };
  return { kind: 'replaceStatefulSet', thenReplaceMembers: false, reason: `every member PVC requests ${desired.size}: the StatefulSet's volumeClaimTemplate (${current.size}, immutable) is replaced so new members get ${desired.size}` };
}

/**
 * The StatefulSet's template is spec.storage: claims still below it, or of another class, are
 * expanded in place where the policy and their class allow, else their members are replaced;
 * claims that ask for the size but whose volumes did not grow yet are reported.
 */
function planClaims(desired: StorageShape, desiredBytes: number, claims: readonly ObservedClaim[], policy: StorageResizePolicy, options: StoragePlanOptions): StorageStep {
  const wantClass = desired.storageClassName ?? '';
  // An unset class means the cluster's default, whatever it is: any class matches it.
  const otherClass = (c: ObservedClaim): boolean => wantClass !== '' && (c.storageClassName ?? '') !== wantClass;
  const off = claims.filter((c) => otherClass(c) || quantityBytes(c.request) < desiredBytes);
  const total = Math.max(options.memberCount ?? claims.length, claims.length);
  if (off.length === 0 && options.replacementUnderWay !== undefined) {
    return { kind: 'replaceMembers', pending: [], done: claims.length, total, target: shapeText(desired) };
  }
  if (off.length === 0) return awaitExpansion(desired.size, desiredBytes, claims);
  const growable = policy === 'ReplaceMembers' ? [] : off.filter((c) => !otherClass(c) && c.expandable === true);
  if (growable.length > 0) return { kind: 'expandClaims', claims: growable.map((c) => c.name), size: desired.size };
  const first = off[0];
  const why = first === undefined ? '' : otherClass(first) ? `${first.name} is of class ${JSON.stringify(first.storageClassName ?? '')}` : `${first.name} cannot grow in place (${first.expandable === true ? '' : first.expandable})`;
  if (policy === 'InPlace' || off.some((c) => !otherClass(c) && c.expandableUnknown === true)) {
    return { kind: 'refuse', message: `${why}: it does not match spec.storage (${shapeText(desired)}) and ${policy === 'InPlace' ? 'spec.storage.resizePolicy is InPlace' : 'its StorageClass could not be read'}; no member is replaced` };
  }
  if (options.desiredClassProblem !== undefined) return { kind: 'refuse', message: `${why}, but ${options.desiredClassProblem}: no member is replaced` };
  const pending = off.map((c) => c.member ?? c.name);
  return { kind: 'replaceMembers', pending, done: claims.length - off.length, total, target: shapeText(desired) };
}

/** `none`, or the claims whose volume (status.capacity) is still below `size` although they ask for it. */
function awaitExpansion(size: string, bytes: number, claims: readonly ObservedClaim[]): StorageStep {
  const behind = claims.filter((c) => c.capacity !== undefined && quantityBytes(c.request) >= bytes && quantityBytes(c.capacity) < bytes);
  if (behind.length === 0) return { kind: 'none' };
  const resizers = [...new Set(behind.map((c) => c.resizer).filter((r): r is string => r !== undefined && r !== ''))];
  return {
    kind: 'awaitExpansion',
    message: `waiting for the volumes to grow to ${size}: ${behind.map((c) => `${c.name} has ${c.capacity ?? '?'}`).join(', ')}; `
      + `${resizers.length > 0 ? `resizer ${resizers.join(', ')}` : 'the StorageClass\'s resizer'} must expand them (a provisioner without one never does, e.g. local-path); the members keep working meanwhile`,
  };
}

/** What the choice of the next member to replace for storage is made from. */
export interface StorageReplacementInput {
  /** From planStorage: the members whose PVCs do not match spec.storage. */
  readonly pending: readonly string[];
  readonly desiredReplicas: number;
  readonly leader: string | undefined;
  readonly members: readonly ObservedMember[];
  readonly pods: readonly ObservedPod[];
  /** The member a replacement is under way for (annotation raftkv.dev/replace-member), if any. */
  readonly replacing: string | undefined;
  /** A RaftChaosDrill running against this cluster. */
  readonly drillInProgress: string | undefined;
}

/** Replace `member` now (followers first, the leader last), or wait, saying for what. */
export type StorageReplacementDecision =
  | { readonly kind: 'replace'; readonly member: string; readonly message: string }
  | { readonly kind: 'wait'; readonly message: string };

/**
 * The next member to replace onto the new storage, one at a time and only in a settled cluster:
 * a leader, exactly spec.replicas voters (no learner, no scaling), every member healthy, no pod
 * on an outdated revision (a rollout) or terminating, no drill and no other replacement under
 * way. Followers first (highest ordinal first, as a rollout), the leader last (the replacement
 * flow transfers its leadership before removing it). A cluster of one member is never replaced:
 * there is no other member to copy the data from.
 */
export function nextStorageReplacement(input: StorageReplacementInput): StorageReplacementDecision {
  const wait = (message: string): StorageReplacementDecision => ({ kind: 'wait', message });
  if (input.replacing !== undefined) {
    return wait(input.pending.includes(input.replacing) || !input.members.some((m) => m.name === input.replacing && m.voter)
      ? `replacing ${input.replacing}: removed, recreated on a new PVC, rejoining as a learner`
      : `waiting for the replacement of ${input.replacing} to finish`);
  }
  if (input.drillInProgress !== undefined) return wait(`drill ${input.drillInProgress} is running`);
  const ms = input.members;
  if (input.leader === undefined) return wait('no member reports a leader');
  if (ms.length < 2 || input.desiredReplicas < 2) return wait(`a cluster of ${ms.length} member cannot replace its only member through a learner (no other member holds the data): scale to 3, or restore a backup into a new RaftCluster with the new storage`);
  if (ms.length !== input.desiredReplicas || ms.some((m) => !m.voter || m.ordinal === undefined)) {
    return wait(`waiting for the membership to settle (${ms.filter((m) => m.voter).length} voters of ${ms.length} members, spec.replicas ${input.desiredReplicas})`);
  }
  const unhealthy = ms.filter((m) => !m.healthy).map((m) => m.name);
  if (unhealthy.length > 0) return wait(`waiting for ${unhealthy.join(', ')} to be healthy before replacing the next member`);
  const busy = input.pods.filter((p) => p.outdated || p.terminating === true).map((p) => p.name);
  if (busy.length > 0) return wait(`waiting for the pods ${busy.join(', ')} (a rollout or a restart) before replacing the next member`);
  const pending = ms.filter((m) => input.pending.includes(m.name))
    .sort((a, b) => Number(a.name === input.leader) - Number(b.name === input.leader) || (b.ordinal ?? 0) - (a.ordinal ?? 0));
  const next = pending[0];
  if (next === undefined) return wait(`the PVCs ${input.pending.join(', ')} belong to no member`);
  return {
    kind: 'replace', member: next.name,
    message: next.name === input.leader
      ? `replacing ${next.name} (the leader, last: leadership moves first)`
      : `replacing ${next.name} (a follower; the leader ${input.leader} goes last)`,
  };
}
