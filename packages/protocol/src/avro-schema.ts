// Avro schemas: parsing (Avro 1.11 specification), Parsing Canonical Form and the CRC-64-AVRO
// (Rabin) fingerprint that Avro's single-object encoding puts in its header.
//
// Why our own and not avsc's: avsc fingerprints with MD5/SHA-256 only, and its values need Node's
// Buffer; this package also runs in browsers. The parser keeps what resolution needs (names,
// aliases, defaults) and ignores other attributes (`java-class`, `logicalType`, docs), exactly as
// the canonical form does.

import { isJsonObject, parseExactJson, type ExactJson } from "./json-exact.js";

export type PrimitiveName =
  "null" | "boolean" | "int" | "long" | "float" | "double" | "bytes" | "string";

export interface PrimitiveSchema {
  readonly type: PrimitiveName;
}
export interface FieldSchema {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly type: AvroSchema;
  /** The JSON default, when the field has one (`hasDefault` tells a `null` default from none). */
  readonly default: ExactJson;
  readonly hasDefault: boolean;
}
export interface RecordSchema {
  readonly type: "record";
  /** Full name. */
  readonly name: string;
  readonly aliases: readonly string[];
  readonly fields: FieldSchema[];
}
export interface EnumSchema {
  readonly type: "enum";
  readonly name: string;
  readonly aliases: readonly string[];
  readonly symbols: readonly string[];
  readonly default: string | null;
}
export interface FixedSchema {
  readonly type: "fixed";
  readonly name: string;
  readonly aliases: readonly string[];
  readonly size: number;
}
export interface ArraySchema {
  readonly type: "array";
  readonly items: AvroSchema;
}
export interface MapSchema {
  readonly type: "map";
  readonly values: AvroSchema;
}
export interface UnionSchema {
  readonly type: "union";
  readonly branches: readonly AvroSchema[];
}
export type NamedSchema = RecordSchema | EnumSchema | FixedSchema;
export type AvroSchema =
  PrimitiveSchema | RecordSchema | EnumSchema | FixedSchema | ArraySchema | MapSchema | UnionSchema;

/** Thrown for a text that is not a valid Avro schema; the message says where. */
export class SchemaSyntaxError extends Error {
  override readonly name = "SchemaSyntaxError";
}

const PRIMITIVES = new Set<string>([
  "null",
  "boolean",
  "int",
  "long",
  "float",
  "double",
  "bytes",
  "string",
]);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function fullName(name: string, namespace: string): string {
  return name.includes(".") || namespace === "" ? name : `${namespace}.${name}`;
}

function namespaceOf(full: string): string {
  const i = full.lastIndexOf(".");
  return i < 0 ? "" : full.slice(0, i);
}

export function shortName(full: string): string {
  return full.slice(full.lastIndexOf(".") + 1);
}

function checkFullName(full: string, where: string): void {
  if (!full.split(".").every((part) => NAME.test(part))) {
    throw new SchemaSyntaxError(`invalid name ${JSON.stringify(full)} in ${where}`);
  }
}

/** Parses a schema from its JSON text. Throws SchemaSyntaxError (or JsonSyntaxError). */
export function parseSchemaText(text: string): AvroSchema {
  return parseSchema(parseExactJson(text));
}

/** Parses a schema from parsed JSON. Named types are shared objects, so a schema may be cyclic. */
export function parseSchema(json: ExactJson): AvroSchema {
  const named = new Map<string, NamedSchema>();

  const aliasesOf = (obj: { [key: string]: ExactJson }, namespace: string): string[] => {
    const a = obj.aliases;
    if (a === undefined) return [];
    if (!Array.isArray(a) || !a.every((x) => typeof x === "string")) {
      throw new SchemaSyntaxError("aliases must be an array of names");
    }
    return (a as string[]).map((x) => fullName(x, namespace));
  };

  const define = (schema: NamedSchema): void => {
    if (PRIMITIVES.has(schema.name)) {
      throw new SchemaSyntaxError(`a named type may not be called ${schema.name}`);
    }
    if (named.has(schema.name)) throw new SchemaSyntaxError(`type ${schema.name} is defined twice`);
    named.set(schema.name, schema);
  };

  const parse = (j: ExactJson, namespace: string): AvroSchema => {
    if (typeof j === "string") {
      if (PRIMITIVES.has(j)) return { type: j as PrimitiveName };
      const found = named.get(fullName(j, namespace)) ?? named.get(j);
      if (found === undefined)
        throw new SchemaSyntaxError(`undefined type name ${JSON.stringify(j)}`);
      return found;
    }
    if (Array.isArray(j)) {
      const branches = j.map((b) => parse(b, namespace));
      if (branches.some((b) => b.type === "union")) {
        throw new SchemaSyntaxError("a union may not directly contain a union");
      }
      return { type: "union", branches };
    }
    if (!isJsonObject(j)) throw new SchemaSyntaxError(`not a schema: ${String(j)}`);
    const type = j.type;
    if (typeof type !== "string") {
      // `{"type": {…}}` or `{"type": [...]}`: Avro reads the inner schema.
      if (type !== undefined && type !== null) return parse(type, namespace);
      throw new SchemaSyntaxError("a schema object needs a `type`");
    }
    if (PRIMITIVES.has(type)) return { type: type as PrimitiveName };
    switch (type) {
      case "record":
      case "error": {
        const name = nameOf(j, namespace, type);
        const ns = namespaceOf(name);
        const fields: FieldSchema[] = [];
        const record: RecordSchema = { type: "record", name, aliases: aliasesOf(j, ns), fields };
        define(record);
        if (!Array.isArray(j.fields)) throw new SchemaSyntaxError(`record ${name} needs fields`);
        const seen = new Set<string>();
        for (const f of j.fields) {
          if (!isJsonObject(f) || typeof f.name !== "string" || !NAME.test(f.name)) {
            throw new SchemaSyntaxError(`record ${name}: each field needs a valid name`);
          }
          if (f.name === "__proto__")
            throw new SchemaSyntaxError(`record ${name}: field name __proto__`);
          if (seen.has(f.name))
            throw new SchemaSyntaxError(`record ${name}: field ${f.name} twice`);
          seen.add(f.name);
          if (f.type === undefined)
            throw new SchemaSyntaxError(`field ${name}.${f.name} needs a type`);
          const fa = f.aliases;
          fields.push({
            name: f.name,
            aliases: Array.isArray(fa) ? fa.filter((x): x is string => typeof x === "string") : [],
            type: parse(f.type, ns),
            default: f.default === undefined ? null : f.default,
            hasDefault: f.default !== undefined,
          });
        }
        return record;
      }
      case "enum": {
        const name = nameOf(j, namespace, type);
        const symbols = j.symbols;
        if (
          !Array.isArray(symbols) ||
          !symbols.every((s) => typeof s === "string" && NAME.test(s))
        ) {
          throw new SchemaSyntaxError(`enum ${name} needs symbols that are names`);
        }
        const dflt = typeof j.default === "string" ? j.default : null;
        const schema: EnumSchema = {
          type: "enum",
          name,
          aliases: aliasesOf(j, namespaceOf(name)),
          symbols: symbols as string[],
          default: dflt,
        };
        define(schema);
        return schema;
      }
      case "fixed": {
        const name = nameOf(j, namespace, type);
        const size = j.size;
        if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
          throw new SchemaSyntaxError(`fixed ${name} needs a size`);
        }
        const schema: FixedSchema = {
          type: "fixed",
          name,
          aliases: aliasesOf(j, namespaceOf(name)),
          size,
        };
        define(schema);
        return schema;
      }
      case "array":
        if (j.items === undefined) throw new SchemaSyntaxError("an array needs items");
        return { type: "array", items: parse(j.items, namespace) };
      case "map":
        if (j.values === undefined) throw new SchemaSyntaxError("a map needs values");
        return { type: "map", values: parse(j.values, namespace) };
      default:
        return parse(type, namespace); // a reference written as {"type": "some.Name"}
    }
  };

  const nameOf = (j: { [key: string]: ExactJson }, namespace: string, kind: string): string => {
    if (typeof j.name !== "string") throw new SchemaSyntaxError(`a ${kind} needs a name`);
    const ns = typeof j.namespace === "string" ? j.namespace : namespace;
    const name = fullName(j.name, ns);
    checkFullName(name, kind);
    return name;
  };

  return parse(json, "");
}

/**
 * Parsing Canonical Form (Avro specification, "Parsing Canonical Form for Schemas"): primitives
 * as bare names, full names, only name/type/fields/symbols/items/values/size in that order, no
 * white space, and a named type spelled out once then referred to by its full name.
 */
export function canonicalForm(schema: AvroSchema): string {
  const seen = new Set<string>();
  const write = (s: AvroSchema): string => {
    switch (s.type) {
      case "record":
      case "enum":
      case "fixed": {
        if (seen.has(s.name)) return JSON.stringify(s.name);
        seen.add(s.name);
        const head = `{"name":${JSON.stringify(s.name)},"type":"${s.type}"`;
        if (s.type === "fixed") return `${head},"size":${s.size}}`;
        if (s.type === "enum") return `${head},"symbols":${JSON.stringify(s.symbols)}}`;
        const fields = s.fields.map(
          (f) => `{"name":${JSON.stringify(f.name)},"type":${write(f.type)}}`,
        );
        return `${head},"fields":[${fields.join(",")}]}`;
      }
      case "array":
        return `{"type":"array","items":${write(s.items)}}`;
      case "map":
        return `{"type":"map","values":${write(s.values)}}`;
      case "union":
        return `[${s.branches.map(write).join(",")}]`;
      default:
        return JSON.stringify(s.type);
    }
  };
  return write(schema);
}

// CRC-64-AVRO, as given in the Avro specification ("Schema Fingerprints").
const EMPTY = 0xc15d213aa4d7a795n;
const MASK = 0xffffffffffffffffn;
let table: BigUint64Array | undefined;

function fpTable(): BigUint64Array {
  if (table !== undefined) return table;
  table = new BigUint64Array(256);
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK);
    table[i] = fp;
  }
  return table;
}

/** The unsigned 64-bit CRC-64-AVRO fingerprint of `bytes`. */
export function crc64Avro(bytes: Uint8Array): bigint {
  const t = fpTable();
  let fp = EMPTY;
  for (const b of bytes) fp = (fp >> 8n) ^ (t[Number((fp ^ BigInt(b)) & 0xffn)] as bigint);
  return fp;
}

/** The fingerprint Avro's single-object encoding uses: CRC-64-AVRO of the canonical form. */
export function schemaFingerprint(schema: AvroSchema): bigint {
  return crc64Avro(new TextEncoder().encode(canonicalForm(schema)));
}

/** `0x` and 16 upper-case hex digits, e.g. `0x0EE727BE73E8D498`. */
export function fingerprintHex(fingerprint: bigint): string {
  return "0x" + fingerprint.toString(16).toUpperCase().padStart(16, "0");
}

/**
 * The name Nuxeo gives the schema's file in its schema store (`${nuxeo.data.dir}/avro`): Java's
 * `Long.toHexString`, upper case, without leading zeros, e.g. `Record-0xEE727BE73E8D498.avsc`.
 */
export function nuxeoSchemaFileName(name: string, fingerprint: bigint): string {
  return `${shortName(name)}-0x${fingerprint.toString(16).toUpperCase()}.avsc`;
}
