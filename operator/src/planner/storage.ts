// Storage changes (pure). A StatefulSet's volumeClaimTemplates are immutable, so applying a new
// spec.storage to it fails; this decides instead what can be done: expand the members' PVCs in
// place when their StorageClass allows it, then replace the StatefulSet object (orphaning its
// pods) so its template matches; or refuse with a reason while everything else keeps working
// (the StatefulSet is applied with the template it already has).

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
}

/** What to do about storage this pass. */
export type StorageStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'expandClaims'; readonly claims: readonly string[]; readonly size: string }
  | { readonly kind: 'replaceStatefulSet'; readonly reason: string }
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
  if (sameClass && desiredBytes === currentBytes) return { kind: 'none' };
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
