import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  RECORD_FINGERPRINT_2021,
  RECORD_FINGERPRINT_2023,
  RECORD_SCHEMA_2021,
  RECORD_SCHEMA_2023,
  canonicalSchemaForm,
  createRecordDecoder,
  encodeRecord,
  fingerprintHex,
  schemaInfo,
  InvalidSchemaError,
} from "../src/mod.js";

// The spec's schema files (the shared tree) and this package's copies of them.
const specDir = new URL("../../../../shared/spec/avro/", import.meta.url);
const copyDir = new URL("../schemas/", import.meta.url);
const FILE_2023 = "Record-0x5D82F1387F01C58B.avsc";
const FILE_2021 = "Record-0xEE727BE73E8D498.avsc";

describe("avro schemas", () => {
  it("schemas - the embedded constants equal the spec's .avsc files byte for byte", () => {
    expect(RECORD_SCHEMA_2023).toBe(readFileSync(new URL(FILE_2023, specDir), "utf8"));
    expect(RECORD_SCHEMA_2021).toBe(readFileSync(new URL(FILE_2021, specDir), "utf8"));
  });

  it("schemas - the package's copies equal the spec's .avsc files", () => {
    for (const f of [FILE_2023, FILE_2021]) {
      expect(readFileSync(new URL(f, copyDir), "utf8")).toBe(
        readFileSync(new URL(f, specDir), "utf8"),
      );
    }
  });

  it("fingerprint - 2023 schema is 0x5D82F1387F01C58B", () => {
    const info = schemaInfo(RECORD_SCHEMA_2023);
    expect(info.fingerprint).toBe(0x5d82f1387f01c58bn);
    expect(info.fingerprintHex).toBe("0x5D82F1387F01C58B");
    expect(info.name).toBe("org.nuxeo.lib.stream.computation.Record");
    expect(RECORD_FINGERPRINT_2023).toBe(info.fingerprint);
  });

  it("fingerprint - 2021 schema is 0x0EE727BE73E8D498", () => {
    const info = schemaInfo(RECORD_SCHEMA_2021);
    expect(info.fingerprint).toBe(0x0ee727be73e8d498n);
    expect(info.fingerprintHex).toBe("0x0EE727BE73E8D498");
    expect(RECORD_FINGERPRINT_2021).toBe(info.fingerprint);
  });

  it("fingerprint - the file names Nuxeo gives them carry the same fingerprints", () => {
    // Nuxeo names the files with Java's Long.toHexString (no leading zero).
    expect(FILE_2023).toBe(`Record-0x${RECORD_FINGERPRINT_2023.toString(16).toUpperCase()}.avsc`);
    expect(FILE_2021).toBe(`Record-0x${RECORD_FINGERPRINT_2021.toString(16).toUpperCase()}.avsc`);
  });

  it("fingerprint - goes little-endian into the single-object header", () => {
    const record = {
      watermark: 1n,
      key: "k",
      data: null,
      flagsAsByte: 0,
      traceContext: null,
      appenderThread: null,
    };
    const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
    expect(hex(encodeRecord(record, { codec: "avro", schema: "2023" }).subarray(0, 10))).toBe(
      "c3 01 8b c5 01 7f 38 f1 82 5d",
    );
    expect(hex(encodeRecord(record, { codec: "avro", schema: "2021" }).subarray(0, 10))).toBe(
      "c3 01 98 d4 e8 73 be 27 e7 0e",
    );
  });

  it("canonical form - strips attributes, spells full names, keeps field order", () => {
    expect(canonicalSchemaForm(RECORD_SCHEMA_2021)).toBe(
      '{"name":"org.nuxeo.lib.stream.computation.Record","type":"record","fields":[' +
        '{"name":"watermark","type":"long"},{"name":"key","type":"string"},' +
        '{"name":"data","type":["null","bytes"]},{"name":"flagsAsByte","type":"int"},' +
        '{"name":"traceContext","type":["null","bytes"]},' +
        '{"name":"appenderThread","type":["null","string"]}]}',
    );
  });

  it("canonical form - matches the specification for nested named types and references", () => {
    const text = JSON.stringify({
      type: "record",
      name: "Outer",
      namespace: "a.b",
      doc: "ignored",
      fields: [
        {
          name: "e",
          type: { type: "enum", name: "E", symbols: ["X", "Y"], doc: "x" },
          default: "X",
        },
        { name: "f", type: { type: "fixed", name: "c.F", size: 4 } },
        { name: "again", type: "E" },
        { name: "arr", type: { type: "array", items: { type: "map", values: "c.F" } } },
        { name: "self", type: ["null", "Outer"], default: null },
        { name: "n", type: { type: "long", logicalType: "timestamp-millis" } },
      ],
    });
    expect(canonicalSchemaForm(text)).toBe(
      '{"name":"a.b.Outer","type":"record","fields":[' +
        '{"name":"e","type":{"name":"a.b.E","type":"enum","symbols":["X","Y"]}},' +
        '{"name":"f","type":{"name":"c.F","type":"fixed","size":4}},' +
        '{"name":"again","type":"a.b.E"},' +
        '{"name":"arr","type":{"type":"array","items":{"type":"map","values":"c.F"}}},' +
        '{"name":"self","type":["null","a.b.Outer"]},' +
        '{"name":"n","type":"long"}]}',
    );
  });

  it("canonical form - primitive schema fingerprints match the Avro reference values", () => {
    // Values from Avro's own test suite (share/test/data/schema-tests.txt).
    expect(fingerprintHex(schemaInfo('"null"').fingerprint)).toBe("0x63DD24E7CC258F8A");
    expect(fingerprintHex(schemaInfo('{"type":"int"}').fingerprint)).toBe("0x7275D51A3F395C8F");
  });

  it("schemas - a text that is not a schema is rejected with InvalidSchemaError", () => {
    for (const bad of [
      "{",
      '{"type":"record","name":"R"}',
      '"NoSuchType"',
      '{"type":"fixed","name":"F"}',
    ]) {
      const e = (() => {
        try {
          schemaInfo(bad);
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(InvalidSchemaError);
      expect((e as InvalidSchemaError).name).toBe("InvalidSchemaError");
      expect((e as InvalidSchemaError).reason).toBe("invalid_schema");
      expect((e as Error).message).toMatch(
        /Not a valid Avro schema: .+\. Fix or remove the \.avsc file/,
      );
    }
    expect(() => createRecordDecoder({ codec: "avro" }).addSchema("[]]")).toThrow(
      InvalidSchemaError,
    );
  });
});
