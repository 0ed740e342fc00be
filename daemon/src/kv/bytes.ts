// Minimal binary writer/reader shared by the command codec, the result codec and snapshots.
// Numbers are f64 (every count/revision/index/ms in the KV module is a safe integer); strings
// and byte strings are u32-length prefixed. The reader never reads past its input: a short or
// malformed input raises DecodeError, which callers turn into a typed result.

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Thrown by ByteReader on malformed input; never escapes the KV module's public functions. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/** Growable little-endian writer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private len = 0;

  constructor(initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.len, v, true);
    this.len += 4;
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.view.setFloat64(this.len, v, true);
    this.len += 8;
    return this;
  }

  bytes(v: Uint8Array): this {
    this.u32(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.len);
    this.len += v.length;
    return this;
  }

  /**
   * A u32-length-prefixed UTF-8 string, written in place: ASCII byte by byte, anything else
   * through TextEncoder.encodeInto (a Uint8Array per string was a third of a put's encoding).
   */
  str(v: string): this {
    const n = v.length;
    this.ensure(4 + n);
    const start = this.len + 4;
    let i = 0;
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c >= 0x80) break;
      this.buf[start + i] = c;
    }
    let bytes = i;
    if (i < n) {
      // Non-ASCII: room for 3 bytes per UTF-16 unit (growing copies only up to len, so the whole
      // string is encoded again after it).
      this.ensure(4 + n * 3);
      bytes = utf8Encoder.encodeInto(v, this.buf.subarray(start)).written;
    }
    this.view.setUint32(this.len, bytes, true);
    this.len = start + bytes;
    return this;
  }

  /**
   * The written bytes: the buffer itself when it was sized exactly (no copy), else a trimmed copy.
   * The writer must not be written to afterwards.
   */
  finish(): Uint8Array {
    return this.len === this.buf.length ? this.buf : this.buf.slice(0, this.len);
  }
}

/** Bounds-checked reader over one input. */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly data: Uint8Array) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  get remaining(): number {
    return this.data.length - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.data.length) throw new DecodeError(`truncated input at byte ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.data[this.pos++] as number;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A safe non-negative integer stored as f64. */
  uint(what: string): number {
    const v = this.f64();
    if (!Number.isSafeInteger(v) || v < 0) throw new DecodeError(`${what} is not a non-negative integer`);
    return v;
  }

  bool(): boolean {
    const v = this.u8();
    if (v > 1) throw new DecodeError('bad boolean');
    return v === 1;
  }

  /** A copy, so decoded values never alias a log entry buffer that may be reused. */
  bytes(maxBytes: number): Uint8Array {
    const n = this.u32();
    if (n > maxBytes) throw new DecodeError(`byte string of ${n} bytes exceeds ${maxBytes}`);
    this.need(n);
    const out = this.data.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  str(maxBytes: number): string {
    const n = this.u32();
    if (n > maxBytes) throw new DecodeError(`string of ${n} bytes exceeds ${maxBytes}`);
    this.need(n);
    let s: string;
    try {
      s = utf8Decoder.decode(this.data.subarray(this.pos, this.pos + n));
    } catch {
      throw new DecodeError('invalid UTF-8');
    }
    this.pos += n;
    return s;
  }

  end(): void {
    if (this.pos !== this.data.length) throw new DecodeError(`${this.data.length - this.pos} trailing bytes`);
  }
}

/** UTF-8 byte length without allocating. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
