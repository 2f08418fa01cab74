// The DocEvent decoder of the shard's per-event path: msgpack, with one thing a generic
// decoder cannot do: equal ancestor snapshots come out as one shared object.
//
// Why: a DocEvent carries its ancestors' snapshots (ACLs included) so that the changeset needs
// no Nuxeo call; most events share their ancestors (the repository's top folders, a busy user's
// root), and decoding them again for every event was most of a DocEvent's decode time and much
// of the garbage the worker collected. An ancestor seen before is found in a bounded memo of
// decoded, deep-frozen snapshots by its length and first bytes, then compared byte for byte.
//
// The output equals @msgpack/msgpack's for the same bytes (maps as plain objects, bin as
// Uint8Array, 64-bit integers as numbers); extension types are refused. For our own ingest's
// messages only: nothing here defends against hostile input beyond bounds checks.
import type { DocEvent } from "@drivecast/protocol";

const utf8 = new TextDecoder();

interface MsgpackReaderOptions {
  /**
   * Items of arrays found under these map keys are shared between decodes when their encoded
   * bytes are equal (deep-frozen: callers must not mutate them).
   */
  sharedArrayItems: readonly string[];
  /** Shared items kept at most (two generations of half that). Default 10,000. */
  maxShared?: number;
}

interface SharedItem {
  bytes: Buffer;
  value: unknown;
}

/** Bytes of a shared item's start that, with its length, key the memo. */
const KEY_PREFIX = 80;

/** Map keys up to this many bytes are cached (a DocEvent uses a few dozen distinct ones). */
const MAX_KEY_BYTES = 24;
const MAX_KEYS = 1_024;

class MsgpackReader {
  private buf: Buffer = Buffer.alloc(0);
  private view: DataView = new DataView(this.buf.buffer);
  private pos = 0;
  private readonly sharedKeys: ReadonlySet<string>;
  private readonly maxShared: number;
  /** Shared items by length and first bytes (see sharedValue), in two generations. */
  private recent = new Map<string, SharedItem>();
  private old = new Map<string, SharedItem>();
  /**
   * Decoded map keys by hash of their bytes: the same string object each time, so that V8
   * finds the property without hashing a new string (most of a map's cost otherwise).
   */
  private readonly keys = new Map<number, string>();

  constructor(options: MsgpackReaderOptions) {
    this.sharedKeys = new Set(options.sharedArrayItems);
    this.maxShared = options.maxShared ?? 10_000;
  }

  decode(bytes: Uint8Array): unknown {
    this.buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
    const v = this.value(false);
    if (this.pos !== bytes.length) {
      throw new RangeError(`msgpack: ${bytes.length - this.pos} extra byte(s) after the value`);
    }
    return v;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError("msgpack: truncated");
  }

  private value(sharedItems: boolean): unknown {
    this.need(1);
    const t = this.buf[this.pos++]!;
    if (t < 0x80) return t;
    if (t < 0x90) return this.map(t & 0x0f);
    if (t < 0xa0) return this.array(t & 0x0f, sharedItems);
    if (t < 0xc0) return this.str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.bin(this.u8());
      case 0xc5:
        return this.bin(this.u16());
      case 0xc6:
        return this.bin(this.u32());
      case 0xca:
        this.need(4);
        this.pos += 4;
        return this.view.getFloat32(this.pos - 4);
      case 0xcb:
        this.need(8);
        this.pos += 8;
        return this.view.getFloat64(this.pos - 8);
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf: {
        const hi = this.u32();
        return hi * 0x100000000 + this.u32();
      }
      case 0xd0:
        this.need(1);
        return this.view.getInt8(this.pos++);
      case 0xd1:
        this.need(2);
        this.pos += 2;
        return this.view.getInt16(this.pos - 2);
      case 0xd2:
        this.need(4);
        this.pos += 4;
        return this.view.getInt32(this.pos - 4);
      case 0xd3: {
        const hi = this.view.getInt32((this.need(8), this.pos));
        const lo = this.view.getUint32(this.pos + 4);
        this.pos += 8;
        return hi * 0x100000000 + lo;
      }
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), sharedItems);
      case 0xdd:
        return this.array(this.u32(), sharedItems);
      case 0xde:
        return this.map(this.u16());
      case 0xdf:
        return this.map(this.u32());
      default:
        throw new RangeError(`msgpack: unsupported type byte 0x${t.toString(16)}`);
    }
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  private u16(): number {
    this.need(2);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  private str(n: number): string {
    this.need(n);
    const b = this.buf;
    const start = this.pos;
    this.pos += n;
    // Short ASCII strings (ids, names, permissions): Latin-1 is ASCII there, and its decoder
    // makes a flat string at once. Built by concatenation they were chains of pieces, which
    // V8 flattens again at their first property lookup or hash: three times slower in all.
    if (n <= 48) {
      for (let i = start; i < start + n; i++) {
        if (b[i]! >= 0x80) return utf8.decode(b.subarray(start, start + n));
      }
      return b.toString("latin1", start, start + n);
    }
    return utf8.decode(b.subarray(start, start + n));
  }

  private bin(n: number): Uint8Array {
    this.need(n);
    this.pos += n;
    // A plain Uint8Array of its own (Buffer's slice would be a view).
    const out = new Uint8Array(n);
    out.set(this.buf.subarray(this.pos - n, this.pos));
    return out;
  }

  private map(n: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) {
      const k = this.key();
      out[k] = this.value(this.sharedKeys.size > 0 && this.sharedKeys.has(k));
    }
    return out;
  }

  private key(): string {
    this.need(1);
    const t = this.buf[this.pos]!;
    const n = t >= 0xa0 && t < 0xc0 ? t & 0x1f : -1;
    if (n < 0 || n > MAX_KEY_BYTES) {
      const k = this.value(false);
      if (typeof k !== "string") throw new RangeError("msgpack: a map key that is not a string");
      if (k === "__proto__") throw new RangeError("msgpack: a __proto__ map key");
      return k;
    }
    this.need(1 + n);
    const b = this.buf;
    const start = this.pos + 1;
    let h = 0x811c9dc5;
    for (let i = start; i < start + n; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    const cached = this.keys.get(h);
    if (cached !== undefined && cached.length === n) {
      let same = true;
      for (let i = 0; i < n; i++) {
        if (cached.charCodeAt(i) !== b[start + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.pos = start + n;
        return cached;
      }
    }
    this.pos = start - 1;
    const k = this.value(false) as string;
    // As @msgpack/msgpack does: such a key would set the object's prototype.
    if (k === "__proto__") throw new RangeError("msgpack: a __proto__ map key");
    // Only ASCII keys compare char by byte as above.
    if (this.keys.size < MAX_KEYS && k.length === n) this.keys.set(h, k);
    return k;
  }

  private array(n: number, sharedItems: boolean): unknown[] {
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = sharedItems ? this.sharedValue() : this.value(false);
    return out;
  }

  /** The next value, the same object as last time its bytes were seen. */
  private sharedValue(): unknown {
    const start = this.pos;
    this.skip();
    const end = this.pos;
    // Looked up by length and first bytes (a snapshot's uid is among them), then compared whole
    // (natively): hashing every byte in JS, or a string of them all, cost more than it saved.
    const key = `${end - start}:${this.buf.toString("latin1", start, Math.min(end, start + KEY_PREFIX))}`;
    let known = this.recent.get(key);
    if (known === undefined) {
      known = this.old.get(key);
      // Used again: into the current generation, so that it outlives the next turnover.
      if (known !== undefined) this.remember(key, known);
    }
    if (
      known !== undefined &&
      this.buf.compare(known.bytes, 0, known.bytes.length, start, end) === 0
    ) {
      return known.value;
    }
    this.pos = start;
    const value = deepFreeze(this.value(false));
    // A new item, or one with the same start as a remembered one: the newer is remembered.
    if (this.maxShared > 0) {
      this.remember(key, { bytes: Buffer.from(this.buf.subarray(start, end)), value });
    }
    return value;
  }

  /**
   * Two generations instead of an exact LRU (whose reordering on every hit cost a third of the
   * decode): when the current one is full it becomes the old one and the older is dropped, so
   * an item survives as long as it is used at least once per generation.
   */
  private remember(key: string, entry: SharedItem): void {
    if (this.recent.size >= Math.ceil(this.maxShared / 2)) {
      this.old = this.recent;
      this.recent = new Map();
    }
    this.recent.set(key, entry);
  }

  /** Moves past the next value without building it. */
  private skip(): void {
    this.need(1);
    const t = this.buf[this.pos++]!;
    if (t < 0x80 || t >= 0xe0 || (t >= 0xc0 && t <= 0xc3)) return;
    if (t < 0x90) return this.skipMany(2 * (t & 0x0f));
    if (t < 0xa0) return this.skipMany(t & 0x0f);
    if (t < 0xc0) return this.jump(t & 0x1f);
    switch (t) {
      case 0xc4:
      case 0xd9:
        return this.jump(this.u8());
      case 0xc5:
      case 0xda:
        return this.jump(this.u16());
      case 0xc6:
      case 0xdb:
        return this.jump(this.u32());
      case 0xcc:
      case 0xd0:
        return this.jump(1);
      case 0xcd:
      case 0xd1:
        return this.jump(2);
      case 0xca:
      case 0xce:
      case 0xd2:
        return this.jump(4);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return this.jump(8);
      case 0xdc:
        return this.skipMany(this.u16());
      case 0xdd:
        return this.skipMany(this.u32());
      case 0xde:
        return this.skipMany(2 * this.u16());
      case 0xdf:
        return this.skipMany(2 * this.u32());
      default:
        throw new RangeError(`msgpack: unsupported type byte 0x${t.toString(16)}`);
    }
  }

  private skipMany(n: number): void {
    for (let i = 0; i < n; i++) this.skip();
  }

  private jump(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

function deepFreeze<T>(v: T): T {
  // Typed arrays cannot be frozen (their bytes stay writable whatever one does).
  if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v)) {
    const o = v as Record<string, unknown>;
    for (const k in o) deepFreeze(o[k]);
    Object.freeze(v);
  }
  return v;
}

export interface DocEventDecoderOptions {
  /** Ancestor snapshots kept decoded, those unused longest dropped first. Default 10,000. */
  maxShared?: number;
}

/**
 * Decodes DocEvents like `msgpackCodec<DocEvent>().decode`, but equal ancestor snapshots (of
 * `ancestors` and `before.ancestors`) come out as one shared, frozen object. Synchronous and
 * stateful: one per process is enough (every shard's events share the top folders).
 */
export function createDocEventDecoder(
  options: DocEventDecoderOptions = {},
): (bytes: Uint8Array) => DocEvent {
  const reader = new MsgpackReader({ sharedArrayItems: ["ancestors"], ...options });
  return (bytes) => reader.decode(bytes) as DocEvent;
}
