// Storage changes (pure). A StatefulSet's volumeClaimTemplates are immutable, so applying a new
// spec.storage to it fails; this decides instead what can be done: expand the members' PVCs in
// place when their StorageClass allows it, then replace the StatefulSet object (orphaning its
// pods) so its template matches; or refuse with a reason while everything else keeps working
// (the StatefulSet is applied with the template it already has). Once every PVC asks for the new
// size, whether the volumes really grew (status.capacity) is reported, never waited on: only the
// StorageClass's resizer can grow them.

/** The storage part of a volumeClaimTemplate / spec.storage. */
export interface StorageShape {
  readonly size: string;
  readonly storageClassName?: string | undefined;
}

/** One member data PVC as observed. */
export interface ObservedClaim {
  readonly name: string;
  /** spec.resources.requests.storage. */
  readonly request: string;
  readonly storageClassName: string | undefined;
  /** Its StorageClass has allowVolumeExpansion: true; a string says why not or why unknown. */
  readonly expandable: true | string;
  /** status.capacity.storage; undefined while the claim is not bound. */
  readonly capacity?: string | undefined;
  /** Who is to grow it (annotation volume.kubernetes.io/storage-resizer, set by kube-controller-manager). */
  readonly resizer?: string | undefined;
}

/** What to do about storage this pass. */
export type StorageStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'expandClaims'; readonly claims: readonly string[]; readonly size: string }
  | { readonly kind: 'replaceStatefulSet'; readonly reason: string }
  /** Nothing to do but wait: the claims ask for the size, their volumes are not that large yet. */
  | { readonly kind: 'awaitExpansion'; readonly message: string }
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

/**
 * @param desired spec.storage.
 * @param current the StatefulSet's data volumeClaimTemplate (undefined: no StatefulSet yet).
 * @param claims the data PVCs of the current members (only read when the two differ).
 */
export function planStorage(desired: StorageShape, current: StorageShape | undefined, claims: readonly ObservedClaim[]): StorageStep {
  if (current === undefined) return { kind: 'none' };
  const sameClass = (desired.storageClassName ?? '') === (current.storageClassName ?? '');
  const desiredBytes = quantityBytes(desired.size);
  const currentBytes = quantityBytes(current.size);
  if (sameClass && desiredBytes === currentBytes) return awaitExpansion(desired.size, desiredBytes, claims);
  if (!sameClass) {
    return { kind: 'refuse', message: `spec.storage.storageClassName ${JSON.stringify(desired.storageClassName ?? '')} differs from the members' ${JSON.stringify(current.storageClassName ?? '')}: a class change is not supported; set it back` };
  }
  if (desiredBytes < currentBytes) return { kind: 'refuse', message: `spec.storage.size ${desired.size} is smaller than the members' ${current.size}: volumes cannot shrink; set it back` };
  const small = claims.filter((c) => quantityBytes(c.request) < desiredBytes);
  const stuck = small.find((c) => c.expandable !== true);
  if (stuck !== undefined) {
    return { kind: 'refuse', message: `cannot grow ${stuck.name} to ${desired.size}: ${stuck.expandable === true ? '' : stuck.expandable}; set spec.storage.size back to ${current.size}` };
  }
  if (small.length > 0) return { kind: 'expandClaims', claims: small.map((c) => c.name), size: desired.size };
  return { kind: 'replaceStatefulSet', reason: `every member PVC requests ${desired.size}: the StatefulSet's volumeClaimTemplate (${current.size}, immutable) is replaced so new members get ${desired.size}` };
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
