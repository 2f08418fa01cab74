// A msgpack writer for the hot paths (the ingest's DocEvents, the changeset's stored sets): plain
// JSON-like values (objects, arrays, strings, numbers, booleans, null, Uint8Array) into shared
// slabs, with the bytes of object keys cached (the internal messages use a few dozen keys). It
// writes standard msgpack with the same choices as @msgpack/msgpack (smallest int form, float64
// for the rest, undefined object values left out), so the protocol's codec decodes its output to
// the same value.
// Measured: a DocSnapshot with its ACLs took ~14 µs with the generic encoder, most of it in
// per-string UTF-8 counting and per-object key encoding; this writer does both once.
// Plain Uint8Array and DataView, no Buffer: the protocol package runs outside Node too.

const MAX_CACHED_KEYS = 2_048;

const utf8 = new TextEncoder();

/** Strings shorter than this are copied by a JS loop, longer ones by `encodeInto`. */
const SHORT_STRING = 40;

/** Bytes of the msgpack header of a string of `len` UTF-8 bytes. */
function headerLength(len: number): number {
  return len < 32 ? 1 : len < 0x100 ? 2 : len < 0x10000 ? 3 : 5;
}

/**
 * Messages are written straight into slabs and handed out as views of them: one allocation per
 * slab instead of one per message, and no copy (allocating, then copying out of a scratch
 * buffer, were the next costs after encoding). A slab lives as long as one of its messages does:
 * events until published, so briefly; cached snapshots as long as the folder cache keeps them.
 */
const SLAB_SIZE = 256 * 1024;

export class MsgpackWriter {
  private buf: Uint8Array;
  /** A DataView of `buf`, for floats and 64-bit integers (made when first needed). */
  private view: DataView | null = null;
  /** Where the message being written starts in `buf`. */
  private start = 0;
  private pos = 0;
  /** The message `bytes()` handed out last (`repeatPrefix` copies from it). */
  private last: Uint8Array = new Uint8Array(0);
  private readonly keys = new Map<string, Uint8Array>();

  /** `slabSize`: bytes per slab (a message larger than that gets a slab of its own). */
  constructor(private readonly slabSize = SLAB_SIZE) {
    this.buf = new Uint8Array(slabSize);
  }

  /** Bytes of the message written so far. */
  get length(): number {
    return this.pos - this.start;
  }

  /** Starts the message again (drops what was written since the last `bytes()`). */
  reset(): this {
    this.pos = this.start;
    return this;
  }

  /**
   * The message written since the last `bytes()`/`reset()`, as a view that stays valid: the
   * writer moves on to fresh bytes of the slab for the next message.
   */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.buf.buffer, this.buf.byteOffset + this.start, this.length);
    this.last = out;
    // Keep views 8-byte aligned, as Node's own buffer pool does.
    this.start = this.pos = Math.min((this.pos + 7) & ~7, this.buf.length);
    return out;
  }

  /** Starts a new message with the first `length` bytes of the one `bytes()` handed out last. */
  repeatPrefix(length: number): void {
    this.reset();
    this.ensure(length);
    this.buf.set(this.last.subarray(0, length), this.pos);
    this.pos += length;
  }

  private ensure(n: number): void {
    // Kept this small so that V8 inlines it into every writer method; the rare case is apart.
    if (this.pos + n > this.buf.length) this.nextSlab(n);
  }

  /** The slab is full: the message so far moves to the start of a new one. */
  private nextSlab(n: number): void {
    const length = this.length;
    const next = new Uint8Array(Math.max(this.slabSize, 2 * (length + n)));
    next.set(this.buf.subarray(this.start, this.pos));
    this.buf = next;
    this.view = null;
    this.start = 0;
    this.pos = length;
  }

  private u16(v: number): void {
    const b = this.buf;
    b[this.pos] = v >>> 8;
    b[this.pos + 1] = v & 0xff;
    this.pos += 2;
  }

  private u32(v: number): void {
    const b = this.buf;
    b[this.pos] = v >>> 24;
    b[this.pos + 1] = (v >>> 16) & 0xff;
    b[this.pos + 2] = (v >>> 8) & 0xff;
    b[this.pos + 3] = v & 0xff;
    this.pos += 4;
  }

  private dataView(): DataView {
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }

  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    if (n < 32) {
      // TypedArray.set costs more than the copy for the few bytes of a key.
      const b = this.buf;
      for (let i = 0; i < n; i++) b[this.pos + i] = bytes[i]!;
    } else {
      this.buf.set(bytes, this.pos);
    }
    this.pos += n;
  }

  mapHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 16) b[this.pos++] = 0x80 | n;
    else if (n < 0x10000) {
      b[this.pos++] = 0xde;
      this.u16(n);
    } else {
      b[this.pos++] = 0xdf;
      this.u32(n);
    }
  }

  arrayHeader(n: number): void {
    this.ensure(5);
    const b = this.buf;
    if (n < 16) b[this.pos++] = 0x90 | n;
    else if (n < 0x10000) {
      b[this.pos++] = 0xdc;
      this.u16(n);
    } else {
      b[this.pos++] = 0xdd;
      this.u32(n);
    }
  }

  /** An object key known in advance, encoded once with `keyBytes`. */
  fixedKey(bytes: Uint8Array): void {
    this.raw(bytes);
  }

  /** An object key (cached encoding). */
  key(k: string): void {
    let bytes = this.keys.get(k);
    if (bytes === undefined) {
      // Relative: writing the string may move the message to a new slab.
      const at = this.length;
      this.string(k);
      bytes = this.buf.slice(this.start + at, this.pos);
      if (this.keys.size < MAX_CACHED_KEYS) this.keys.set(k, bytes);
      return;
    }
    this.raw(bytes);
  }

  string(s: string): void {
    const n = s.length;
    // Short ASCII strings (names, permissions, facets, most keys): one JS loop, no native call.
    // Longer ones go to TextEncoder.encodeInto, which copies faster than the loop from ~40
    // characters on (uids, paths, item ids) and reports whether the string was ASCII.
    if (n < SHORT_STRING) {
      this.ensure(2 + n);
      const b = this.buf;
      const start = this.pos;
      const at = n < 32 ? start + 1 : start + 2;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[at + i] = c;
      }
      if (i === n) {
        if (n < 32) b[start] = 0xa0 | n;
        else {
          b[start] = 0xd9;
          b[start + 1] = n;
        }
        this.pos = at + n;
        return;
      }
    }
    // One UTF-16 unit is at most 3 UTF-8 bytes. The bytes go where the header for n bytes (the
    // ASCII case) ends; if there are more, they move up behind the longer header.
    this.ensure(5 + 3 * n);
    const b = this.buf;
    const guess = headerLength(n);
    const at = this.pos + guess;
    const { written } = utf8.encodeInto(s, b.subarray(at, at + 3 * n));
    const header = headerLength(written);
    if (header !== guess) b.copyWithin(this.pos + header, at, at + written);
    if (written < 32) b[this.pos++] = 0xa0 | written;
    else if (written < 0x100) {
      b[this.pos++] = 0xd9;
      b[this.pos++] = written;
    } else if (written < 0x10000) {
      b[this.pos++] = 0xda;
      this.u16(written);
    } else {
      b[this.pos++] = 0xdb;
      this.u32(written);
    }
    this.pos += written;
  }

  number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    if (Number.isSafeInteger(v)) {
      if (v >= 0) {
        if (v < 0x80) b[this.pos++] = v;
        else if (v < 0x100) {
          b[this.pos++] = 0xcc;
          b[this.pos++] = v;
        } else if (v < 0x10000) {
          b[this.pos++] = 0xcd;
          this.u16(v);
        } else if (v < 0x100000000) {
          b[this.pos++] = 0xce;
          this.u32(v);
        } else {
          // uint64 (epoch ms): by hand, cheaper than a DataView and a BigInt.
          const hi = Math.floor(v / 0x100000000);
          const lo = v >>> 0;
          const p = this.pos;
          b[p] = 0xcf;
          b[p + 1] = hi >>> 24;
          b[p + 2] = (hi >>> 16) & 0xff;
          b[p + 3] = (hi >>> 8) & 0xff;
          b[p + 4] = hi & 0xff;
          b[p + 5] = lo >>> 24;
          b[p + 6] = (lo >>> 16) & 0xff;
          b[p + 7] = (lo >>> 8) & 0xff;
          b[p + 8] = lo & 0xff;
          this.pos = p + 9;
        }
      } else if (v >= -0x20) {
        b[this.pos++] = 0xe0 | (v + 0x20);
      } else if (v >= -0x80) {
        b[this.pos++] = 0xd0;
        b[this.pos++] = v & 0xff;
      } else if (v >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.u16(v & 0xffff);
      } else if (v >= -0x80000000) {
        b[this.pos++] = 0xd2;
        this.u32(v >>> 0);
      } else {
        b[this.pos++] = 0xd3;
        this.dataView().setBigInt64(this.pos, BigInt(v));
        this.pos += 8;
      }
      return;
    }
    b[this.pos++] = 0xcb;
    this.dataView().setFloat64(this.pos, v);
    this.pos += 8;
  }

  value(v: unknown): void {
    switch (typeof v) {
      case "string":
        this.string(v);
        return;
      case "number":
        this.number(v);
        return;
      case "boolean":
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case "undefined":
        this.nil();
        return;
      case "object":
        if (v === null) this.nil();
        else if (Array.isArray(v)) {
          this.arrayHeader(v.length);
          for (const item of v) this.value(item);
        } else if (v instanceof Uint8Array) {
          this.binary(v);
        } else {
          this.object(v as Record<string, unknown>);
        }
        return;
      default:
        throw new TypeError(`cannot encode a ${typeof v} as msgpack`);
    }
  }

  object(o: Record<string, unknown>): void {
    let n = 0;
    for (const k in o) if (o[k] !== undefined) n++;
    this.mapHeader(n);
    for (const k in o) {
      const v = o[k];
      if (v === undefined) continue;
      this.key(k);
      this.value(v);
    }
  }

  nil(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0xc0;
  }

  private binary(v: Uint8Array): void {
    const n = v.length;
    this.ensure(5 + n);
    const b = this.buf;
    if (n < 0x100) {
      b[this.pos++] = 0xc4;
      b[this.pos++] = n;
    } else if (n < 0x10000) {
      b[this.pos++] = 0xc5;
      this.u16(n);
    } else {
      b[this.pos++] = 0xc6;
      this.u32(n);
    }
    b.set(v, this.pos);
    this.pos += n;
  }
}

/** The msgpack encoding of a string, for keys written over and over (`fixedKey`). */
export function keyBytes(key: string): Uint8Array {
  const w = new MsgpackWriter(64);
  w.string(key);
  return w.bytes();
}
