// Avro binary encoding over plain Uint8Array (no Buffer: this package runs in browsers too), with
// schema resolution: data written with one schema is read as another (Avro specification,
// "Schema Resolution"). That is how a Record written by Nuxeo 2021 (fields in declaration order)
// and one written by Nuxeo 2023 (fields sorted by name) decode to the same value.
//
// Values: null, boolean, int/float/double → number, long → bigint (exact: watermarks exceed 2^53),
// bytes/fixed → Uint8Array (a copy), string/enum → string, array, map → object, record → object
// keyed by the reader's field names.

import type { ExactJson } from "./json-exact.js";
import { isJsonObject } from "./json-exact.js";
import type {
  AvroSchema,
  FieldSchema,
  NamedSchema,
  RecordSchema,
  UnionSchema,
} from "./avro-schema.js";
import { shortName } from "./avro-schema.js";

/** The data ended before the value did. */
export class AvroTruncatedError extends Error {
  override readonly name = "AvroTruncatedError";
}
/** The data cannot be a value of the writer schema (bad union index, varint, UTF-8, …). */
export class AvroInvalidError extends Error {
  override readonly name = "AvroInvalidError";
}
/** The writer schema cannot be read as the reader schema; the message says why. */
export class AvroResolutionError extends Error {
  override readonly name = "AvroResolutionError";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
// bytes read as string (a schema promotion) take whatever bytes were written, as Java does.
const utf8Lenient = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();
const TWO_32 = 2 ** 32;

export class BinaryReader {
  pos: number;
  private view: DataView | undefined;

  /**
   * `views`: bytes and fixed values are views into `buf`, not copies, for a caller done with
   * the value before `buf` changes (one allocation less per value).
   */
  constructor(
    readonly buf: Uint8Array,
    pos = 0,
    private readonly views = false,
  ) {
    this.pos = pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) {
      throw new AvroTruncatedError(
        `ends at byte ${this.buf.length}, ${this.pos + n - this.buf.length} byte(s) short`,
      );
    }
  }

  private byte(): number {
    const b = this.buf[this.pos];
    if (b === undefined)
      throw new AvroTruncatedError(`ends at byte ${this.buf.length} inside a number`);
    this.pos++;
    return b;
  }

  boolean(): boolean {
    const b = this.byte();
    if (b > 1) throw new AvroInvalidError(`byte ${b} at ${this.pos - 1} is not a boolean`);
    return b === 1;
  }

  int(): number {
    let u = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      u += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (u >= TWO_32) break;
        return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
      }
    }
    throw new AvroInvalidError(`invalid int varint before byte ${this.pos}`);
  }

  /** A long that is used as a length or count, so it must be a safe integer. */
  count(): number {
    let u = 0;
    // Seven bytes carry 49 bits: enough for any length or count, and exact as a double.
    for (let shift = 0; shift < 49; shift += 7) {
      const b = this.byte();
      u += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
    }
    throw new AvroInvalidError(`length or count too large before byte ${this.pos}`);
  }

  long(): bigint {
    // Small values stay in double arithmetic (exact below 2^53); the rest go through bigint.
    let u = 0;
    let shift = 0;
    let b = 0;
    for (; shift < 49; shift += 7) {
      b = this.byte();
      u += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return BigInt(u % 2 === 0 ? u / 2 : -(u + 1) / 2);
    }
    let big = BigInt(u);
    for (; shift < 70; shift += 7) {
      b = this.byte();
      big |= BigInt(b & 0x7f) << BigInt(shift);
      if ((b & 0x80) === 0) {
        if (big >> 64n !== 0n) break;
        return BigInt.asIntN(64, (big >> 1n) ^ -(big & 1n));
      }
    }
    throw new AvroInvalidError(`invalid long varint before byte ${this.pos}`);
  }

  private dataView(): DataView {
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }

  float(): number {
    this.need(4);
    const v = this.dataView().getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.dataView().getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed(size: number): Uint8Array {
    this.need(size);
    // A copy, and a plain Uint8Array even when the input is a Node Buffer (whose slice() is a
    // view): the decoded record must not change when the consumer reuses its buffer. Unless
    // the caller asked for views.
    const v = this.views
      ? this.buf.subarray(this.pos, this.pos + size)
      : new Uint8Array(this.buf.subarray(this.pos, this.pos + size));
    this.pos += size;
    return v;
  }

  private length(): number {
    const n = this.count();
    if (n < 0) throw new AvroInvalidError(`negative length ${n} before byte ${this.pos}`);
    return n;
  }

  bytes(): Uint8Array {
    return this.fixed(this.length());
  }

  string(): string {
    const n = this.length();
    this.need(n);
    const start = this.pos;
    this.pos += n;
    // Short ASCII strings (keys, thread names, ids) decode faster by hand than through
    // TextDecoder, whose per-call overhead dominates below a few dozen bytes.
    if (n <= 64) {
      let ascii = "";
      let i = start;
      const end = start + n;
      for (; i < end; i++) {
        const c = this.buf[i] as number;
        if (c >= 0x80) break;
        ascii += String.fromCharCode(c);
      }
      if (i === end) return ascii;
    }
    try {
      return utf8.decode(this.buf.subarray(start, start + n));
    } catch (cause) {
      throw new AvroInvalidError(`string at byte ${start} is not valid UTF-8`, { cause });
    }
  }

  /** bytes promoted to string: invalid UTF-8 becomes U+FFFD rather than an error. */
  bytesAsString(): string {
    return utf8Lenient.decode(this.fixed(this.length()));
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  skipBytes(): void {
    this.skip(this.length());
  }
}

export class BinaryWriter {
  private buf = new Uint8Array(256);
  private pos = 0;
  private view = new DataView(this.buf.buffer);

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  boolean(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
  }

  /** Zig-zag varint of an int or a long given as a number (must be a safe integer) or bigint. */
  long(v: number | bigint): void {
    this.ensure(10);
    if (typeof v === "number" && Math.abs(v) < 2 ** 52) {
      let u = v >= 0 ? v * 2 : -v * 2 - 1;
      while (u >= 0x80) {
        this.buf[this.pos++] = (u % 0x80) | 0x80;
        u = Math.floor(u / 0x80);
      }
      this.buf[this.pos++] = u;
      return;
    }
    const n = BigInt.asIntN(64, BigInt(v));
    let u = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));
    while (u >= 0x80n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  float(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(v: Uint8Array): void {
    this.long(v.length);
    this.raw(v);
  }

  string(v: string): void {
    this.bytes(utf8Encoder.encode(v));
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

export type ReadFn = (r: BinaryReader) => unknown;
type SkipFn = (r: BinaryReader) => void;
export type WriteFn = (w: BinaryWriter, value: unknown) => void;

function isNamed(s: AvroSchema): s is NamedSchema {
  return s.type === "record" || s.type === "enum" || s.type === "fixed";
}

/** Reader and writer named types match on their unqualified names or the reader's aliases. */
function namesMatch(writer: NamedSchema, reader: NamedSchema): boolean {
  const w = shortName(writer.name);
  return (
    w === shortName(reader.name) ||
    reader.aliases.some((a) => a === writer.name || shortName(a) === w)
  );
}

const PROMOTIONS: Record<string, readonly string[]> = {
  int: ["int", "long", "float", "double"],
  long: ["long", "float", "double"],
  float: ["float", "double"],
  string: ["string", "bytes"],
  bytes: ["bytes", "string"],
};

/** Whether data of `writer` can be read as `reader` without looking inside records. */
function matches(writer: AvroSchema, reader: AvroSchema): boolean {
  if (writer.type !== reader.type) {
    return PROMOTIONS[writer.type]?.includes(reader.type) ?? false;
  }
  if (isNamed(writer) && isNamed(reader)) {
    if (!namesMatch(writer, reader)) return false;
    if (writer.type === "fixed" && reader.type === "fixed") return writer.size === reader.size;
  }
  return true;
}

/** The union branch Avro picks for `writer`: an exact match first, then a promotion. */
function pickBranch(writer: AvroSchema, reader: UnionSchema): AvroSchema | undefined {
  const exact = reader.branches.find(
    (b) =>
      b.type === writer.type &&
      (!isNamed(b) || !isNamed(writer) || namesMatch(writer, b)) &&
      (b.type !== "fixed" || writer.type !== "fixed" || b.size === writer.size),
  );
  return exact ?? reader.branches.find((b) => b.type !== "union" && matches(writer, b));
}

/** A function skipping one value of `schema`. */
export function compileSkipper(schema: AvroSchema): SkipFn {
  const memo = new Map<AvroSchema, SkipFn>();
  const build = (s: AvroSchema): SkipFn => {
    const known = memo.get(s);
    if (known !== undefined) return known;
    let fn: SkipFn = () => {};
    // Indirection so recursive named types refer to the function being built.
    memo.set(s, (r) => fn(r));
    switch (s.type) {
      case "null":
        break;
      case "boolean":
        fn = (r) => r.skip(1);
        break;
      case "int":
      case "enum":
        fn = (r) => void r.int();
        break;
      case "long":
        fn = (r) => void r.long();
        break;
      case "float":
        fn = (r) => r.skip(4);
        break;
      case "double":
        fn = (r) => r.skip(8);
        break;
      case "bytes":
      case "string":
        fn = (r) => r.skipBytes();
        break;
      case "fixed": {
        const size = s.size;
        fn = (r) => r.skip(size);
        break;
      }
      case "array":
      case "map": {
        const item = build(s.type === "array" ? s.items : s.values);
        const isMap = s.type === "map";
        fn = (r) => {
          for (let n = r.count(); n !== 0; n = r.count()) {
            if (n < 0) {
              r.count(); // block size in bytes; we skip item by item to validate
              n = -n;
            }
            for (let i = 0; i < n; i++) {
              if (isMap) r.skipBytes();
              item(r);
            }
          }
        };
        break;
      }
      case "union": {
        const branches = s.branches.map(build);
        fn = (r) => {
          const i = r.int();
          const b = branches[i];
          if (b === undefined) throw new AvroInvalidError(`union index ${i} out of range`);
          b(r);
        };
        break;
      }
      case "record": {
        const fields = s.fields.map((f) => build(f.type));
        fn = (r) => {
          for (const f of fields) f(r);
        };
        break;
      }
    }
    memo.set(s, fn);
    return fn;
  };
  return build(schema);
}

/** The value a JSON default denotes for `schema` (Avro: a union's default is of its first branch). */
export function defaultValue(schema: AvroSchema, json: ExactJson, where: string): unknown {
  const bad = (): never => {
    throw new AvroResolutionError(`default of ${where} is not a valid ${schema.type}`);
  };
  switch (schema.type) {
    case "null":
      return json === null ? null : bad();
    case "boolean":
      return typeof json === "boolean" ? json : bad();
    case "int":
    case "float":
    case "double":
      return typeof json === "number" ? json : typeof json === "bigint" ? Number(json) : bad();
    case "long":
      return typeof json === "bigint"
        ? json
        : typeof json === "number" && Number.isInteger(json)
          ? BigInt(json)
          : bad();
    case "string":
      return typeof json === "string" ? json : bad();
    case "enum":
      return typeof json === "string" && schema.symbols.includes(json) ? json : bad();
    case "bytes":
    case "fixed":
      return typeof json === "string" ? (latin1Bytes(json) ?? bad()) : bad();
    case "array":
      return Array.isArray(json) ? json.map((v) => defaultValue(schema.items, v, where)) : bad();
    case "map": {
      if (!isJsonObject(json)) return bad();
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(json)) out[k] = defaultValue(schema.values, v, where);
      return out;
    }
    case "union": {
      const first = schema.branches[0];
      return first === undefined ? bad() : defaultValue(first, json, where);
    }
    case "record": {
      if (!isJsonObject(json)) return bad();
      const out: Record<string, unknown> = {};
      for (const f of schema.fields) {
        const v = json[f.name];
        if (v !== undefined) out[f.name] = defaultValue(f.type, v, `${where}.${f.name}`);
        else if (f.hasDefault) out[f.name] = defaultValue(f.type, f.default, `${where}.${f.name}`);
        else bad();
      }
      return out;
    }
  }
}

/** Bytes of a string whose characters are all ≤ U+00FF (Avro's JSON form of bytes), else null. */
export function latin1Bytes(s: string): Uint8Array | null {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return null;
    out[i] = c;
  }
  return out;
}

/**
 * A function reading data written with `writer` as a value of `reader`. Throws
 * AvroResolutionError now when the schemas can never match (a reader field without default that
 * the writer lacks, different record names, …); data-dependent mismatches (a union branch the
 * reader cannot take) throw AvroResolutionError when met.
 */
export function compileResolver(writer: AvroSchema, reader: AvroSchema): ReadFn {
  const memo = new Map<AvroSchema, Map<AvroSchema, ReadFn>>();

  const build = (w: AvroSchema, r: AvroSchema, where: string): ReadFn => {
    let byReader = memo.get(w);
    if (byReader === undefined) memo.set(w, (byReader = new Map()));
    const known = byReader.get(r);
    if (known !== undefined) return known;
    let fn: ReadFn = () => undefined;
    byReader.set(r, (rd) => fn(rd));
    fn = make(w, r, where);
    byReader.set(r, fn);
    return fn;
  };

  const make = (w: AvroSchema, r: AvroSchema, where: string): ReadFn => {
    if (w.type === "union") {
      // Each writer branch resolves on its own; a branch that cannot fails only when it occurs.
      const branches = w.branches.map((b): ReadFn => {
        try {
          return build(b, r, where);
        } catch (e) {
          if (!(e instanceof AvroResolutionError)) throw e;
          return () => {
            throw e;
          };
        }
      });
      return (rd) => {
        const i = rd.int();
        const b = branches[i];
        if (b === undefined)
          throw new AvroInvalidError(`union index ${i} out of range at ${where}`);
        return b(rd);
      };
    }
    if (r.type === "union") {
      const branch = pickBranch(w, r);
      if (branch === undefined) {
        throw new AvroResolutionError(
          `${where}: writer type ${describe(w)} is not in the reader's union`,
        );
      }
      return build(w, branch, where);
    }
    if (!matches(w, r)) {
      throw new AvroResolutionError(
        `${where}: writer type ${describe(w)} cannot be read as ${describe(r)}`,
      );
    }
    switch (w.type) {
      case "null":
        return () => null;
      case "boolean":
        return (rd) => rd.boolean();
      case "int":
        return r.type === "long" ? (rd) => BigInt(rd.int()) : (rd) => rd.int();
      case "long":
        return r.type === "long" ? (rd) => rd.long() : (rd) => Number(rd.long());
      case "float":
        return (rd) => rd.float();
      case "double":
        return (rd) => rd.double();
      case "bytes":
        return r.type === "string" ? (rd) => rd.bytesAsString() : (rd) => rd.bytes();
      case "string":
        return r.type === "bytes" ? (rd) => rd.bytes() : readStringOf;
      case "fixed": {
        const size = w.size;
        return (rd) => rd.fixed(size);
      }
      case "enum": {
        const re = r as typeof w;
        const map = w.symbols.map((s) =>
          re.symbols.includes(s) ? s : re.default !== null ? re.default : undefined,
        );
        return (rd) => {
          const i = rd.int();
          const s = map[i];
          if (s === undefined) {
            if (i < 0 || i >= w.symbols.length)
              throw new AvroInvalidError(`enum index ${i} out of range at ${where}`);
            throw new AvroResolutionError(`${where}: symbol ${w.symbols[i]} unknown to the reader`);
          }
          return s;
        };
      }
      case "array": {
        const item = build(w.items, (r as typeof w).items, `${where}[]`);
        return (rd) => {
          const out: unknown[] = [];
          for (let n = rd.count(); n !== 0; n = rd.count()) {
            if (n < 0) {
              rd.count();
              n = -n;
            }
            for (let i = 0; i < n; i++) out.push(item(rd));
          }
          return out;
        };
      }
      case "map": {
        const value = build(w.values, (r as typeof w).values, `${where}{}`);
        return (rd) => {
          const out: Record<string, unknown> = {};
          for (let n = rd.count(); n !== 0; n = rd.count()) {
            if (n < 0) {
              rd.count();
              n = -n;
            }
            for (let i = 0; i < n; i++) {
              const k = rd.string();
              Object.defineProperty(out, k, {
                value: value(rd),
                enumerable: true,
                writable: true,
                configurable: true,
              });
            }
          }
          return out;
        };
      }
      case "record":
        return recordResolver(w, r as RecordSchema, where);
    }
  };

  const recordResolver = (w: RecordSchema, r: RecordSchema, where: string): ReadFn => {
    const readerField = (wf: FieldSchema): FieldSchema | undefined =>
      r.fields.find((rf) => rf.name === wf.name) ??
      r.fields.find((rf) => rf.aliases.includes(wf.name));
    const steps: { key: string | null; read: ReadFn }[] = [];
    const filled = new Set<string>();
    for (const wf of w.fields) {
      const rf = readerField(wf);
      if (rf === undefined) {
        const skip = compileSkipper(wf.type);
        steps.push({ key: null, read: skip });
      } else {
        filled.add(rf.name);
        steps.push({ key: rf.name, read: build(wf.type, rf.type, `${where}.${rf.name}`) });
      }
    }
    const defaults: { key: string; json: ExactJson; type: AvroSchema }[] = [];
    for (const rf of r.fields) {
      if (filled.has(rf.name)) continue;
      if (!rf.hasDefault) {
        throw new AvroResolutionError(
          `${where}: the writer has no field ${rf.name} and the reader no default for it`,
        );
      }
      defaultValue(rf.type, rf.default, `${where}.${rf.name}`); // validate now
      defaults.push({ key: rf.name, json: rf.default, type: rf.type });
    }
    return (rd) => {
      const out: Record<string, unknown> = {};
      for (const s of steps) {
        const v = s.read(rd);
        if (s.key !== null) out[s.key] = v;
      }
      // Fresh default values each time: callers may mutate what they receive.
      for (const d of defaults) out[d.key] = defaultValue(d.type, d.json, d.key);
      return out;
    };
  };

  return build(writer, reader, writer.type === "record" ? shortName(writer.name) : writer.type);
}

function readStringOf(rd: BinaryReader): string {
  return rd.string();
}

function describe(s: AvroSchema): string {
  return isNamed(s) ? `${s.type} ${s.name}` : s.type;
}

/** Which union branch a value belongs to (the first that accepts it). */
function accepts(s: AvroSchema, v: unknown): boolean {
  switch (s.type) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "int":
      return typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31;
    case "long":
      return typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v));
    case "float":
    case "double":
      return typeof v === "number";
    case "bytes":
      return v instanceof Uint8Array;
    case "fixed":
      return v instanceof Uint8Array && v.length === s.size;
    case "string":
      return typeof v === "string";
    case "enum":
      return typeof v === "string" && s.symbols.includes(v);
    case "array":
      return Array.isArray(v);
    case "map":
    case "record":
      return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
    case "union":
      return false;
  }
}

/** The index of the union branch that `value` is written with. */
export function branchIndex(union: UnionSchema, value: unknown): number {
  return union.branches.findIndex((b) => accepts(b, value));
}

/** A function writing values of `schema`; throws TypeError naming the field for a wrong value. */
export function compileWriter(schema: AvroSchema): WriteFn {
  const memo = new Map<AvroSchema, WriteFn>();
  const build = (s: AvroSchema, where: string): WriteFn => {
    const known = memo.get(s);
    if (known !== undefined) return known;
    let fn: WriteFn = () => {};
    memo.set(s, (w, v) => fn(w, v));
    const check = (ok: boolean, v: unknown): void => {
      if (!ok) throw new TypeError(`${where}: ${String(v)} is not a valid ${s.type}`);
    };
    switch (s.type) {
      case "union":
        {
          const branches = s.branches.map((b) => build(b, where));
          fn = (w, v) => {
            const i = branchIndex(s, v);
            check(i >= 0, v);
            w.long(i);
            (branches[i] as WriteFn)(w, v);
          };
        }
        break;
      case "record":
        {
          const fields = s.fields.map((f) => ({
            name: f.name,
            write: build(f.type, `${where}.${f.name}`),
          }));
          fn = (w, v) => {
            check(accepts(s, v), v);
            for (const f of fields) f.write(w, (v as Record<string, unknown>)[f.name]);
          };
        }
        break;
      case "array":
        {
          const item = build(s.items, `${where}[]`);
          fn = (w, v) => {
            check(Array.isArray(v), v);
            const a = v as unknown[];
            if (a.length > 0) {
              w.long(a.length);
              for (const x of a) item(w, x);
            }
            w.long(0);
          };
        }
        break;
      case "map":
        {
          const value = build(s.values, `${where}{}`);
          fn = (w, v) => {
            check(accepts(s, v), v);
            const entries = Object.entries(v as Record<string, unknown>);
            if (entries.length > 0) {
              w.long(entries.length);
              for (const [k, x] of entries) {
                w.string(k);
                value(w, x);
              }
            }
            w.long(0);
          };
        }
        break;
      case "enum":
        fn = (w, v) => {
          check(accepts(s, v), v);
          w.long(s.symbols.indexOf(v as string));
        };
        break;
      default:
        fn = (w, v) => {
          check(accepts(s, v), v);
          switch (s.type) {
            case "null":
              break;
            case "boolean":
              w.boolean(v as boolean);
              break;
            case "int":
            case "long":
              w.long(v as number | bigint);
              break;
            case "float":
              w.float(v as number);
              break;
            case "double":
              w.double(v as number);
              break;
            case "bytes":
              w.bytes(v as Uint8Array);
              break;
            case "fixed":
              w.raw(v as Uint8Array);
              break;
            case "string":
              w.string(v as string);
              break;
          }
        };
    }
    memo.set(s, fn);
    return fn;
  };
  return build(schema, schema.type === "record" ? shortName(schema.name) : schema.type);
}
