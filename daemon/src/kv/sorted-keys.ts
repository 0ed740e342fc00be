// The key index for prefix listing: a sorted array updated incrementally (binary search +
// splice), so a listing is O(log n + page) and a new key costs one memmove, never a full sort.
// Order is JavaScript string order (UTF-16 code units); it equals UTF-8 byte order except for
// keys mixing astral characters with U+E000..U+FFFF, which is documented in the KV README.

/** Sorted set of strings. */
export class SortedKeys {
  private keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  /** Index of the first key >= k. */
  lowerBound(k: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds k (the caller knows it is absent). Appending in order is the common fast path. */
  insert(k: string): void {
    const n = this.keys.length;
    if (n === 0 || (this.keys[n - 1] as string) < k) {
      this.keys.push(k);
      return;
    }
    this.keys.splice(this.lowerBound(k), 0, k);
  }

  /** Removes k if present. */
  remove(k: string): void {
    const i = this.lowerBound(k);
    if (this.keys[i] === k) this.keys.splice(i, 1);
  }

  at(i: number): string | undefined {
    return this.keys[i];
  }

  /** Replaces the content with already-sorted, distinct keys (snapshot restore). */
  reset(sorted: string[]): void {
    this.keys = sorted;
  }

  all(): readonly string[] {
    return this.keys;
  }
}
