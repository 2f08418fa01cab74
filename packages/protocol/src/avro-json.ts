// Avro's JSON encoding (Avro specification, "JSON Encoding"), written exactly as Avro's Java
// JsonEncoder does through Jackson (compact, no white space): unions as null or
// {"<branch>": value}, bytes as a string of chars U+0000..U+00FF, longs as exact integers.
//
// Reading goes JSON → Avro binary of the writer schema, then through the binary resolver: one
// resolution code path for both encodings, and a union branch named in the JSON stays that
// branch (a value alone cannot tell ["int","long"] branches apart).

import type { ExactJson } from "./json-exact.js";
import { isJsonObject, jacksonString } from "./json-exact.js";
import type { AvroSchema } from "./avro-schema.js";
import { shortName } from "./avro-schema.js";
import { AvroInvalidError, BinaryWriter, branchIndex, latin1Bytes } from "./avro-binary.js";

function latin1String(bytes: Uint8Array): string {
  let s = "";
  // Chunked: String.fromCharCode with a huge spread overflows the stack.
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** Java's Double.toString: plain between 10^-3 and 10^7, else `d.dddE±n`; always a fraction. */
export function javaDouble(v: number, digits: (v: number) => string = String): string {
  if (Number.isNaN(v)) return '"NaN"';
  if (!Number.isFinite(v)) return v > 0 ? '"Infinity"' : '"-Infinity"';
  if (v === 0) return Object.is(v, -0) ? "-0.0" : "0.0";
  const abs = Math.abs(v);
  const shortest = digits(v); // shortest decimal that reads back as v
  if (abs >= 1e-3 && abs < 1e7) {
    const plain = Number(shortest).toString();
    return plain.includes(".") ? plain : `${plain}.0`;
  }
  const [mantissa = "", exp = "0"] = Number(shortest).toExponential().split("e");
  const m = mantissa.includes(".") ? mantissa : `${mantissa}.0`;
  return `${m}E${Number(exp)}`;
}

function shortestFloat(v: number): string {
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return s;
  }
  return String(v);
}

function unionLabel(s: AvroSchema): string {
  return s.type === "record" || s.type === "enum" || s.type === "fixed" ? s.name : s.type;
}

/** The Avro JSON text of `value` as a value of `schema`. */
export function toAvroJson(schema: AvroSchema, value: unknown): string {
  const write = (s: AvroSchema, v: unknown, where: string): string => {
    const bad = (): never => {
      throw new TypeError(`${where}: ${String(v)} is not a valid ${s.type}`);
    };
    switch (s.type) {
      case "null":
        return v === null ? "null" : bad();
      case "boolean":
        return typeof v === "boolean" ? String(v) : bad();
      case "int":
        return typeof v === "number" && Number.isInteger(v) ? String(v) : bad();
      case "long":
        return typeof v === "bigint" || (typeof v === "number" && Number.isSafeInteger(v))
          ? String(v)
          : bad();
      case "float":
        return typeof v === "number" ? javaDouble(v, shortestFloat) : bad();
      case "double":
        return typeof v === "number" ? javaDouble(v, String) : bad();
      case "bytes":
      case "fixed":
        return v instanceof Uint8Array ? jacksonString(latin1String(v)) : bad();
      case "string":
      case "enum":
        return typeof v === "string" ? jacksonString(v) : bad();
      case "array":
        return Array.isArray(v)
          ? `[${v.map((x) => write(s.items, x, `${where}[]`)).join(",")}]`
          : bad();
      case "map":
        if (!isJsonObject(v)) bad();
        return `{${Object.entries(v as object)
          .map(([k, x]) => `${jacksonString(k)}:${write(s.values, x, `${where}{}`)}`)
          .join(",")}}`;
      case "record": {
        if (!isJsonObject(v)) bad();
        const rec = v as Record<string, unknown>;
        return `{${s.fields
          .map(
            (f) => `${jacksonString(f.name)}:${write(f.type, rec[f.name], `${where}.${f.name}`)}`,
          )
          .join(",")}}`;
      }
      case "union": {
        const i = branchIndex(s, v);
        const branch = s.branches[i];
        if (branch === undefined) return bad();
        if (branch.type === "null") return "null";
        return `{${jacksonString(unionLabel(branch))}:${write(branch, v, where)}}`;
      }
    }
  };
  return write(schema, value, schema.type === "record" ? shortName(schema.name) : schema.type);
}

/**
 * Transcodes parsed Avro JSON of `schema` into Avro binary of the same schema. Throws
 * AvroInvalidError naming the first value that does not fit.
 */
export function avroJsonToBinary(schema: AvroSchema, json: ExactJson): Uint8Array {
  const w = new BinaryWriter();
  const put = (s: AvroSchema, v: ExactJson | undefined, where: string): void => {
    const bad = (): never => {
      const shown =
        v === undefined ? "nothing" : typeof v === "bigint" ? String(v) : JSON.stringify(v);
      throw new AvroInvalidError(`${where}: ${shown.slice(0, 80)} is not a valid ${s.type}`);
    };
    switch (s.type) {
      case "null":
        return v === null ? undefined : bad();
      case "boolean":
        return typeof v === "boolean" ? w.boolean(v) : bad();
      case "int":
        return typeof v === "number" && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31
          ? w.long(v)
          : bad();
      case "long":
        if (typeof v === "bigint" && BigInt.asIntN(64, v) === v) return w.long(v);
        return typeof v === "number" && Number.isInteger(v) ? w.long(v) : bad();
      case "float":
      case "double": {
        const n =
          typeof v === "number"
            ? v
            : typeof v === "bigint"
              ? Number(v)
              : v === "NaN"
                ? NaN
                : v === "Infinity"
                  ? Infinity
                  : v === "-Infinity"
                    ? -Infinity
                    : bad();
        return s.type === "float" ? w.float(n) : w.double(n);
      }
      case "bytes": {
        const bytes = typeof v === "string" ? latin1Bytes(v) : null;
        return bytes === null ? bad() : w.bytes(bytes);
      }
      case "fixed": {
        const bytes = typeof v === "string" ? latin1Bytes(v) : null;
        return bytes === null || bytes.length !== s.size ? bad() : w.raw(bytes);
      }
      case "string":
        return typeof v === "string" ? w.string(v) : bad();
      case "enum":
        return typeof v === "string" && s.symbols.includes(v)
          ? w.long(s.symbols.indexOf(v))
          : bad();
      case "array":
        if (!Array.isArray(v)) return bad();
        if (v.length > 0) {
          w.long(v.length);
          for (const x of v) put(s.items, x, `${where}[]`);
        }
        return w.long(0);
      case "map": {
        if (!isJsonObject(v)) return bad();
        const entries = Object.entries(v);
        if (entries.length > 0) {
          w.long(entries.length);
          for (const [k, x] of entries) {
            w.string(k);
            put(s.values, x, `${where}{}`);
          }
        }
        return w.long(0);
      }
      case "record":
        if (!isJsonObject(v)) return bad();
        for (const f of s.fields) {
          const x = v[f.name];
          // A field left out of the JSON takes the writer's default, as Avro's JsonDecoder does.
          put(f.type, x === undefined && f.hasDefault ? f.default : x, `${where}.${f.name}`);
        }
        return;
      case "union": {
        if (v === null) {
          const i = s.branches.findIndex((b) => b.type === "null");
          return i < 0 ? bad() : w.long(i);
        }
        if (!isJsonObject(v)) return bad();
        const keys = Object.keys(v);
        const label = keys[0];
        if (keys.length !== 1 || label === undefined) return bad();
        let i = s.branches.findIndex((b) => unionLabel(b) === label);
        if (i < 0)
          i = s.branches.findIndex(
            (b) => unionLabel(b) !== b.type && shortName(unionLabel(b)) === label,
          );
        const branch = s.branches[i];
        if (branch === undefined) return bad();
        w.long(i);
        return put(branch, v[label], where);
      }
    }
  };
  put(schema, json, schema.type === "record" ? shortName(schema.name) : schema.type);
  return w.finish();
}
