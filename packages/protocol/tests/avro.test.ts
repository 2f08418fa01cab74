// The generic Avro layer under the Record codec (schemas added later go through it), checked
// against avsc, an independent implementation, on schemas richer than Nuxeo's Record.
import avro from "avsc";
import { describe, expect, it } from "vitest";
import {
  AvroResolutionError,
  BinaryReader,
  BinaryWriter,
  compileResolver,
  compileWriter,
} from "../src/avro-binary.js";
import { avroJsonToBinary, toAvroJson } from "../src/avro-json.js";
import { parseSchema, type AvroSchema } from "../src/avro-schema.js";
import { parseExactJson } from "../src/json-exact.js";

const RICH = {
  type: "record",
  name: "Rich",
  namespace: "t",
  fields: [
    { name: "b", type: "boolean" },
    { name: "i", type: "int" },
    { name: "l", type: "long" },
    { name: "f", type: "float" },
    { name: "d", type: "double" },
    { name: "s", type: "string" },
    { name: "y", type: "bytes" },
    { name: "e", type: { type: "enum", name: "Color", symbols: ["RED", "GREEN", "BLUE"] } },
    { name: "x", type: { type: "fixed", name: "Four", size: 4 } },
    { name: "a", type: { type: "array", items: "long" } },
    { name: "m", type: { type: "map", values: ["null", "string"] } },
    {
      name: "n",
      type: ["null", { type: "record", name: "Inner", fields: [{ name: "v", type: "int" }] }],
    },
    { name: "list", type: { type: "array", items: "Inner" } },
  ],
};

/** avsc values → ours: Buffers become plain Uint8Arrays, record instances plain objects. */
function fromAvsc(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(fromAvsc);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromAvsc(x)]));
  }
  return v;
}

/** Ours → comparable with avsc: bigints (safe here) become numbers. */
function toComparable(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(toComparable);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toComparable(x)]));
  }
  return v;
}

function oursToAvsc(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v);
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(oursToAvsc);
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, oursToAvsc(x)]));
  }
  return v;
}

const compiled = new Map<AvroSchema, Map<AvroSchema, ReturnType<typeof compileResolver>>>();

function read(writer: AvroSchema, reader: AvroSchema, bytes: Uint8Array): unknown {
  let byReader = compiled.get(writer);
  if (byReader === undefined) compiled.set(writer, (byReader = new Map()));
  let fn = byReader.get(reader);
  if (fn === undefined) byReader.set(reader, (fn = compileResolver(writer, reader)));
  const r = new BinaryReader(bytes);
  const v = fn(r);
  expect(r.pos).toBe(bytes.length);
  return v;
}

function write(schema: AvroSchema, value: unknown): Uint8Array {
  const w = new BinaryWriter();
  compileWriter(schema)(w, value);
  return w.finish();
}

describe("avro binary", () => {
  const type = avro.Type.forSchema(RICH as avro.Schema);
  const schema = parseSchema(parseExactJson(JSON.stringify(RICH)));

  it("avro - decodes what avsc encodes, and encodes the same bytes", () => {
    for (let i = 0; i < 200; i++) {
      const value = type.random();
      const bytes = type.toBuffer(value);
      const expected = fromAvsc(type.fromBuffer(bytes));
      const ours = read(schema, schema, bytes);
      expect(toComparable(ours)).toEqual(expected);
      expect(Buffer.from(write(schema, ours)).equals(bytes)).toBe(true);
    }
  });

  it("avro - Avro JSON written by us reads back to the same value", () => {
    for (let i = 0; i < 100; i++) {
      const value = read(schema, schema, type.toBuffer(type.random()));
      const json = toAvroJson(schema, value);
      expect(read(schema, schema, avroJsonToBinary(schema, parseExactJson(json)))).toEqual(value);
    }
  });

  it("avro - resolves like avsc: added, removed, aliased, promoted and widened fields", () => {
    const v1 = {
      type: "record",
      name: "Evolving",
      fields: [
        { name: "id", type: "int" },
        { name: "gone", type: { type: "array", items: "string" } },
        { name: "oldName", type: "string" },
        { name: "color", type: { type: "enum", name: "C", symbols: ["A", "B"] } },
        { name: "maybe", type: "string" },
        { name: "blob", type: "bytes" },
      ],
    };
    const v2 = {
      type: "record",
      name: "Evolving",
      fields: [
        { name: "added", type: ["null", "string"], default: null },
        {
          name: "color",
          type: { type: "enum", name: "C", symbols: ["B", "A", "Z"], default: "Z" },
        },
        { name: "id", type: "long" },
        { name: "newName", aliases: ["oldName"], type: "string" },
        { name: "maybe", type: ["null", "int", "string"] },
        { name: "blob", type: "string" },
        { name: "count", type: "double", default: 1.5 },
        { name: "big", type: "long", default: 7 },
      ],
    };
    const w = avro.Type.forSchema(v1 as avro.Schema);
    const r = avro.Type.forSchema(v2 as avro.Schema);
    const resolver = r.createResolver(w);
    const ws = parseSchema(parseExactJson(JSON.stringify(v1)));
    // avsc refuses a long default beyond 2^53; ours keeps it exact.
    const v2Text = JSON.stringify(v2).replace(
      '"long","default":7',
      '"long","default":9007199254740993',
    );
    expect(v2Text).toContain("9007199254740993");
    const rs = parseSchema(parseExactJson(v2Text));
    for (let i = 0; i < 100; i++) {
      const bytes = w.toBuffer(w.random());
      const theirs = fromAvsc(r.fromBuffer(bytes, resolver)) as Record<string, unknown>;
      const ours = read(ws, rs, bytes) as Record<string, unknown>;
      expect(ours.big).toBe(9007199254740993n);
      expect(typeof ours.id).toBe("bigint");
      expect(toComparable({ ...ours, big: 0 })).toEqual({ ...theirs, big: 0 });
    }
  });

  it("avro - refuses schemas that cannot resolve, naming the field", () => {
    const parse = (s: unknown) => parseSchema(parseExactJson(JSON.stringify(s)));
    const writer = parse({ type: "record", name: "R", fields: [{ name: "a", type: "string" }] });
    const needsB = parse({ type: "record", name: "R", fields: [{ name: "b", type: "int" }] });
    expect(() => compileResolver(writer, needsB)).toThrow(AvroResolutionError);
    expect(() => compileResolver(writer, needsB)).toThrow(/no field b/);
    const wrongType = parse({ type: "record", name: "R", fields: [{ name: "a", type: "int" }] });
    expect(() => compileResolver(writer, wrongType)).toThrow(
      /R\.a: writer type string cannot be read as int/,
    );
    const otherName = parse({ type: "record", name: "S", fields: [{ name: "a", type: "string" }] });
    expect(() => compileResolver(writer, otherName)).toThrow(AvroResolutionError);
  });

  it("avro - recursive schemas decode", () => {
    const list = {
      type: "record",
      name: "Node",
      fields: [
        { name: "v", type: "int" },
        { name: "next", type: ["null", "Node"] },
      ],
    };
    const t = avro.Type.forSchema(list as avro.Schema);
    const s = parseSchema(parseExactJson(JSON.stringify(list)));
    const value = { v: 1, next: { v: 2, next: { v: 3, next: null } } };
    const bytes = t.toBuffer(value);
    expect(read(s, s, bytes)).toEqual(value);
    expect(Buffer.from(write(s, value)).equals(bytes)).toBe(true);
    expect(fromAvsc(t.fromBuffer(Buffer.from(write(s, oursToAvsc(value)))))).toEqual(value);
  });
});
