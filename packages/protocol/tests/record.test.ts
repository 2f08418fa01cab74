import avro from "avsc";
import { describe, expect, it } from "vitest";
import {
  RECORD_SCHEMA_2021,
  RECORD_SCHEMA_2023,
  CorruptRecordError,
  DecodeError,
  IncompatibleSchemaError,
  LegacyCodecError,
  NotSingleObjectError,
  TruncatedRecordError,
  NotConfluentWireFormatError,
  UnknownSchemaError,
  UnknownSchemaIdError,
  UnsupportedCodecError,
  createRecordDecoder,
  encodeRecord,
  schemaInfo,
  watermarkOf,
  watermarkTimestamp,
  type NuxeoRecord,
  type RecordCodec,
} from "../src/mod.js";

const utf8 = new TextEncoder();
const EVENT_MS = Date.UTC(2026, 10, 22, 10, 15, 30, 123);

function sample(overrides: Partial<NuxeoRecord> = {}): NuxeoRecord {
  return {
    watermark: watermarkOf(EVENT_MS, 7),
    key: "default:2f5a1c9e-0d3b-4e4f-9a77-0c1f1e2d3c4b",
    data: utf8.encode('{"entity-type":"logEntry","eventId":"documentModified","comment":"é\\n"}'),
    flagsAsByte: 0,
    traceContext: null,
    appenderThread: "http-nio-8080-exec-3",
    ...overrides,
  };
}

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the call to throw, and it returned");
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function header(fingerprint: bigint): Uint8Array {
  const h = new Uint8Array(10);
  h[0] = 0xc3;
  h[1] = 0x01;
  for (let i = 2; i < 10; i++, fingerprint >>= 8n) h[i] = Number(fingerprint & 0xffn);
  return h;
}

const CODECS = ["avro", "avroBinary", "avroJson"] as const;
const VERSIONS = ["2023", "2021"] as const;

describe("record codec", () => {
  for (const codec of CODECS) {
    for (const schema of VERSIONS) {
      it(`record - ${codec} written with the ${schema} schema decodes to the same record`, () => {
        const record = sample();
        const bytes = encodeRecord(record, { codec, schema });
        const decoded = createRecordDecoder({ codec, writerSchema: schema }).decode(bytes);
        expect(decoded).toEqual(record);
        expect(watermarkTimestamp(decoded.watermark)).toBe(EVENT_MS);
      });
    }
  }

  it("record - a record written with the 2021 schema decodes to the same value as with 2023", () => {
    const record = sample({ traceContext: new Uint8Array([0, 1, 2, 255]), flagsAsByte: 4 });
    const decoder = createRecordDecoder({ codec: "avro" });
    const from2021 = encodeRecord(record, { codec: "avro", schema: "2021" });
    const from2023 = encodeRecord(record, { codec: "avro", schema: "2023" });
    // Different bytes (field order and fingerprint differ), same value.
    expect(hex(from2021)).not.toBe(hex(from2023));
    expect(decoder.decode(from2021)).toEqual(decoder.decode(from2023));
    expect(decoder.decode(from2021)).toEqual(record);
  });

  it("record - watermark, the full long range and empty or null values survive every codec", () => {
    const extremes = [
      0n,
      -1n,
      1n,
      (1n << 63n) - 1n,
      -(1n << 63n),
      watermarkOf(EVENT_MS, 0xffff, true),
    ];
    for (const codec of CODECS) {
      for (const schema of VERSIONS) {
        const decoder = createRecordDecoder({ codec, writerSchema: schema });
        for (const watermark of extremes) {
          const record = sample({
            watermark,
            key: "",
            data: new Uint8Array(0),
            appenderThread: null,
          });
          expect(decoder.decode(encodeRecord(record, { codec, schema }))).toEqual(record);
        }
        const nulls = sample({
          data: null,
          traceContext: null,
          appenderThread: null,
          flagsAsByte: -128,
        });
        expect(decoder.decode(encodeRecord(nulls, { codec, schema }))).toEqual(nulls);
      }
    }
  });

  it("record - every byte value and non-ASCII text survive avroJson", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const record = sample({
      data: all,
      traceContext: all.slice().reverse(),
      key: "clé 😀 用户",
      appenderThread: "\u2028\t",
    });
    const bytes = encodeRecord(record, { codec: "avroJson" });
    expect(createRecordDecoder({ codec: "avroJson" }).decode(bytes)).toEqual(record);
  });

  it("record - watermark helpers follow Nuxeo's Watermark layout", () => {
    const w = watermarkOf(EVENT_MS, 5, true);
    expect(w).toBe((BigInt(EVENT_MS) << 17n) | (5n << 1n) | 1n);
    expect(watermarkTimestamp(w)).toBe(EVENT_MS);
    // Nuxeo watermarks exceed 2^53: a double could not hold them.
    expect(w > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it("record - avroBinary bytes are exactly Avro's binary encoding in the writer's field order", () => {
    const record: NuxeoRecord = {
      watermark: 1n,
      key: "k",
      data: new Uint8Array([0xab]),
      flagsAsByte: 2,
      traceContext: null,
      appenderThread: "t",
    };
    // 2021 order: watermark, key, data, flagsAsByte, traceContext, appenderThread.
    expect(hex(encodeRecord(record, { codec: "avroBinary", schema: "2021" }))).toBe(
      "02 02 6b 02 02 ab 04 00 02 02 74",
    );
    // 2023 order: appenderThread, data, flagsAsByte, key, traceContext, watermark.
    expect(hex(encodeRecord(record, { codec: "avroBinary", schema: "2023" }))).toBe(
      "02 02 74 02 02 ab 04 02 6b 00 02",
    );
    const avro2023 = encodeRecord(record, { codec: "avro", schema: "2023" });
    expect(hex(avro2023)).toBe("c3 01 8b c5 01 7f 38 f1 82 5d 02 02 74 02 02 ab 04 02 6b 00 02");
  });

  it("record - the binary encoding agrees with avsc, an independent Avro implementation", () => {
    // avsc holds longs as doubles by default, so this uses a watermark below 2^53.
    for (const [schema, text] of [
      ["2023", RECORD_SCHEMA_2023],
      ["2021", RECORD_SCHEMA_2021],
    ] as const) {
      const type = avro.Type.forSchema(JSON.parse(text) as avro.Schema);
      const value = sample({
        watermark: 123_456_789_012_345n,
        traceContext: new Uint8Array([9, 8]),
      });
      const theirs = type.toBuffer({
        ...value,
        watermark: Number(value.watermark),
        data: Buffer.from(value.data as Uint8Array),
        traceContext: Buffer.from(value.traceContext as Uint8Array),
      });
      const ours = encodeRecord(value, { codec: "avroBinary", schema });
      expect(hex(ours)).toBe(hex(theirs));
      expect(
        createRecordDecoder({ codec: "avroBinary", writerSchema: schema }).decode(theirs),
      ).toEqual(value);
    }
  });

  it("record - avroJson is what Avro's Java JsonEncoder writes through Jackson", () => {
    const record: NuxeoRecord = {
      watermark: 235_319_136_108_281_862n,
      key: "k",
      data: new Uint8Array([0x00, 0x22, 0x5c, 0x2f, 0x7f, 0xe9, 0x0a, 0x1f]),
      flagsAsByte: 0,
      traceContext: null,
      appenderThread: "main",
    };
    const json = new TextDecoder().decode(
      encodeRecord(record, { codec: "avroJson", schema: "2021" }),
    );
    expect(json).toBe(
      '{"watermark":235319136108281862,"key":"k","data":{"bytes":"\\u0000\\"\\\\/\u007fé\\n\\u001F"},' +
        '"flagsAsByte":0,"traceContext":null,"appenderThread":{"string":"main"}}',
    );
  });

  it("record - avroJson accepts any field order and white space", () => {
    const text =
      ' { "key" : "k", "watermark" : 235319136108281862,\n "flagsAsByte": 1, "data": {"bytes": "{}"},' +
      ' "traceContext": null, "appenderThread": null } ';
    expect(createRecordDecoder({ codec: "avroJson" }).decode(utf8.encode(text))).toEqual({
      watermark: 235_319_136_108_281_862n,
      key: "k",
      data: utf8.encode("{}"),
      flagsAsByte: 1,
      traceContext: null,
      appenderThread: null,
    });
  });

  it("record - data is an independent Uint8Array even when the payload is a Node Buffer", () => {
    const bytes = Buffer.from(encodeRecord(sample(), { codec: "avro" }));
    const decoded = createRecordDecoder({ codec: "avro" }).decode(bytes);
    expect(Object.getPrototypeOf(decoded.data)).toBe(Uint8Array.prototype);
    const before = hex(decoded.data as Uint8Array);
    bytes.fill(0);
    expect(hex(decoded.data as Uint8Array)).toBe(before);
  });

  it("record - dataAsView: the same record, its data a view into the payload", () => {
    for (const codec of ["avro", "avroBinary", "avroConfluent"] as const) {
      const options = codec === "avroConfluent" ? { codec, schemaId: 7 } : { codec };
      const bytes = encodeRecord(sample(), options);
      const decoder = createRecordDecoder({ codec, dataAsView: true });
      if (codec === "avroConfluent") decoder.addRegistrySchema(7, RECORD_SCHEMA_2023);
      const decoded = decoder.decode(bytes);
      expect(decoded, codec).toEqual(sample());
      expect((decoded.data as Uint8Array).buffer, codec).toBe(bytes.buffer);
    }
  });

  it("record - a schema added later decodes records of a newer writer schema (evolution)", () => {
    // A hypothetical next Nuxeo: one more field, with a default, in another position.
    const next = JSON.parse(RECORD_SCHEMA_2023) as { fields: unknown[] };
    next.fields.splice(2, 0, { name: "priority", type: "int", default: 0 });
    const nextText = JSON.stringify(next);
    const info = schemaInfo(nextText);
    const type = avro.Type.forSchema(next as avro.Schema);
    const record = sample({ watermark: 987_654_321n });
    const payload = concat(
      header(info.fingerprint),
      type.toBuffer({
        ...record,
        watermark: 987_654_321,
        data: Buffer.from(record.data as Uint8Array),
        priority: 3,
      }),
    );

    const decoder = createRecordDecoder({ codec: "avro" });
    expect(decoder.hasSchema(info.fingerprint)).toBe(false);
    const unknown = caught(() => decoder.decode(payload));
    expect(unknown).toBeInstanceOf(UnknownSchemaError);
    expect((unknown as UnknownSchemaError).fingerprint).toBe(info.fingerprint);

    expect(decoder.addSchema(nextText)).toEqual(info);
    expect(decoder.addSchema(nextText)).toEqual(info); // idempotent
    expect(decoder.hasSchema(info.fingerprint)).toBe(true);
    expect(decoder.schemas().map((s) => s.fingerprintHex)).toEqual([
      "0x5D82F1387F01C58B",
      "0x0EE727BE73E8D498",
      info.fingerprintHex,
    ]);
    expect(decoder.decode(payload)).toEqual(record);

    const viaOptions = createRecordDecoder({ codec: "avro", extraSchemas: [nextText] });
    expect(viaOptions.decode(payload)).toEqual(record);
  });

  it("record - a configured writer schema text drives avroBinary and avroJson", () => {
    const text = RECORD_SCHEMA_2021.replace(/\s+/g, " ");
    const record = sample();
    for (const codec of ["avroBinary", "avroJson"] as const) {
      const bytes = encodeRecord(record, { codec, schema: "2021" });
      expect(createRecordDecoder({ codec, writerSchema: text }).decode(bytes)).toEqual(record);
    }
  });
});

describe("record errors", () => {
  const decoder = createRecordDecoder({ codec: "avro" });

  function expectDecodeError(
    e: Error,
    cls: abstract new (...a: never[]) => DecodeError,
    name: string,
    reason: string,
  ) {
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.name).toBe(name);
    expect((e as DecodeError).reason).toBe(reason);
    expect((e as DecodeError).retriable).toBe(false);
  }

  it("record - rejects an unknown fingerprint, naming it and the file to add", () => {
    const payload = concat(header(0x0123456789abcdefn), new Uint8Array([0, 0, 0, 0, 0, 0]));
    const e = caught(() => decoder.decode(payload));
    expectDecodeError(e, UnknownSchemaError, "UnknownSchemaError", "unknown_schema");
    expect((e as UnknownSchemaError).fingerprintHex).toBe("0x0123456789ABCDEF");
    expect(e.message).toContain("0x0123456789ABCDEF");
    expect(e.message).toContain("add its .avsc to the schema folder");
    expect(e.message).toContain("Record-0x123456789ABCDEF.avsc");
  });

  it("record - rejects a payload that ends inside the Avro data as truncated", () => {
    const full = encodeRecord(sample(), { codec: "avro" });
    for (const cut of [11, 20, full.length - 1]) {
      const e = caught(() => decoder.decode(full.subarray(0, cut)));
      expectDecodeError(e, TruncatedRecordError, "TruncatedRecordError", "truncated_record");
      expect(e.message).toMatch(/^Record payload is truncated: the Avro data ends at byte \d+/);
      expect(e.cause).toBeInstanceOf(Error);
    }
  });

  it("record - rejects a payload shorter than the single-object header as truncated", () => {
    for (const payload of [
      new Uint8Array([]),
      new Uint8Array([0xc3]),
      new Uint8Array([0xc3, 0x01, 0x8b, 0xc5]),
    ]) {
      const e = caught(() => decoder.decode(payload));
      expectDecodeError(e, TruncatedRecordError, "TruncatedRecordError", "truncated_record");
    }
    expect(caught(() => decoder.decode(new Uint8Array([0xc3, 0x01, 0x8b]))).message).toContain(
      "shorter than the 10-byte single-object header",
    );
  });

  it("record - rejects Java-serialized payloads and says to set the codec to avro", () => {
    const java = new Uint8Array([0xac, 0xed, 0x00, 0x05, 0x73, 0x72, 0x00, 0x2d, 0x6f, 0x72, 0x67]);
    for (const codec of CODECS) {
      const e = caught(() => createRecordDecoder({ codec }).decode(java));
      expectDecodeError(e, LegacyCodecError, "LegacyCodecError", "legacy_codec");
      expect(e.message).toContain("AC ED 00 05");
      expect(e.message).toContain("nuxeo.stream.audit.log.codec=avro");
    }
  });

  it("record - rejects corrupt Avro data (bad union index, bad UTF-8)", () => {
    const h = header(0x5d82f1387f01c58bn);
    // appenderThread (first 2023 field) with union index 4: no such branch.
    const badUnion = concat(h, new Uint8Array([0x08, 0, 0, 0, 0, 0, 0]));
    let e = caught(() => decoder.decode(badUnion));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
    expect(e.message).toContain("union index 4 out of range");

    // appenderThread = string of 2 bytes that are not UTF-8.
    const badUtf8 = concat(h, new Uint8Array([0x02, 0x04, 0xff, 0xfe, 0, 0, 0, 0, 0, 0]));
    e = caught(() => decoder.decode(badUtf8));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
    expect(e.message).toContain("not valid UTF-8");
  });

  it("record - rejects trailing bytes after the record as corrupt", () => {
    const full = encodeRecord(sample(), { codec: "avro" });
    const e = caught(() => decoder.decode(concat(full, new Uint8Array([0]))));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
    expect(e.message).toContain("1 trailing byte(s)");
  });

  it("record - rejects a payload without the single-object marker, hinting at the codec", () => {
    let e = caught(() => decoder.decode(utf8.encode("hello world")));
    expectDecodeError(e, NotSingleObjectError, "NotSingleObjectError", "not_single_object");
    expect(e.message).toContain("first bytes 68 65 6C 6C 6F 20 77 6F");
    expect(e.message).toContain("nuxeo.stream.audit.log.codec");

    e = caught(() => decoder.decode(encodeRecord(sample(), { codec: "avroJson" })));
    expectDecodeError(e, NotSingleObjectError, "NotSingleObjectError", "not_single_object");
    expect(e.message).toContain("looks like JSON: codec avroJson");

    e = caught(() => decoder.decode(new Uint8Array([0x00, 0, 0, 0, 42, 2, 3])));
    expect(e.message).toContain("Confluent");
  });

  it("record - avroBinary and avroJson spot single-object payloads and say to use avro", () => {
    const single = encodeRecord(sample(), { codec: "avro" });
    for (const codec of ["avroBinary", "avroJson"] as const) {
      const e = caught(() => createRecordDecoder({ codec }).decode(single));
      expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
      expect(e.message).toContain("set drivecast's codec to avro");
    }
  });

  it("record - avroBinary rejects data of another schema", () => {
    const bytes = encodeRecord(sample(), { codec: "avroBinary", schema: "2021" });
    const e = caught(() =>
      createRecordDecoder({ codec: "avroBinary", writerSchema: "2023" }).decode(bytes),
    );
    expect(e).toBeInstanceOf(DecodeError);
    expect(["corrupt_record", "truncated_record"]).toContain((e as DecodeError).reason);
  });

  it("record - avroJson rejects text that is not Avro JSON of the Record", () => {
    const d = createRecordDecoder({ codec: "avroJson" });
    const good = new TextDecoder().decode(encodeRecord(sample(), { codec: "avroJson" }));

    let e = caught(() => d.decode(utf8.encode(good.slice(0, -5))));
    expectDecodeError(e, TruncatedRecordError, "TruncatedRecordError", "truncated_record");

    e = caught(() => d.decode(utf8.encode(good.replace(/"watermark":\d+/, '"watermark":"soon"'))));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
    expect(e.message).toContain('Record.watermark: "soon" is not a valid long');

    e = caught(() => d.decode(utf8.encode(good.replace(/,"key":"[^"]*"/, ""))));
    expect(e.message).toContain("Record.key: nothing is not a valid string");

    e = caught(() => d.decode(utf8.encode(good.replace('{"string":', '{"int":'))));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");

    e = caught(() => d.decode(utf8.encode('{"data": {"bytes": "\\u0100"}}')));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");

    e = caught(() => d.decode(new Uint8Array([0x7b, 0xff, 0x7d])));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
    expect(e.message).toContain("not valid UTF-8");

    e = caught(() => d.decode(utf8.encode(good + " x")));
    expectDecodeError(e, CorruptRecordError, "CorruptRecordError", "corrupt_record");
  });

  it("record - a known schema that is not a Record is reported as incompatible", () => {
    const other = JSON.stringify({
      type: "record",
      name: "BulkStatus",
      namespace: "org.nuxeo.ecm.core.bulk.message",
      fields: [{ name: "commandId", type: "string" }],
    });
    const d = createRecordDecoder({ codec: "avro", extraSchemas: [other] });
    const info = schemaInfo(other);
    const payload = concat(header(info.fingerprint), new Uint8Array([0x02, 0x61]));
    const e = caught(() => d.decode(payload));
    expectDecodeError(e, IncompatibleSchemaError, "IncompatibleSchemaError", "incompatible_schema");
    expect(e.message).toContain(info.fingerprintHex);
    expect(e.message).toContain(
      "cannot be read as Nuxeo's org.nuxeo.lib.stream.computation.Record",
    );
    // Cached, and still the same answer.
    expect(caught(() => d.decode(payload))).toBeInstanceOf(IncompatibleSchemaError);
  });

  it("record - a Record schema lacking a field without default is incompatible, naming the field", () => {
    const older = JSON.parse(RECORD_SCHEMA_2023) as { fields: { name: string }[] };
    older.fields = older.fields.filter((f) => f.name !== "key");
    const text = JSON.stringify(older);
    const d = createRecordDecoder({ codec: "avro", extraSchemas: [text] });
    const payload = concat(header(schemaInfo(text).fingerprint), new Uint8Array([0, 0, 0, 0, 2]));
    const e = caught(() => d.decode(payload));
    expect(e).toBeInstanceOf(IncompatibleSchemaError);
    expect(e.message).toContain("no field key");
  });

  it("record - unknown codecs are refused when the decoder is created", () => {
    const e = caught(() => createRecordDecoder({ codec: "java" as RecordCodec }));
    expectDecodeError(e, UnsupportedCodecError, "UnsupportedCodecError", "unsupported_codec");
    expect(e.message).toContain("use avro, avroBinary, avroJson or avroConfluent");
  });

  it("record - encodeRecord refuses a field of the wrong type, naming it", () => {
    const bad = { ...sample(), key: 42 } as unknown as NuxeoRecord;
    expect(() => encodeRecord(bad, { codec: "avro" })).toThrow(
      /Record\.key: 42 is not a valid string/,
    );
  });
});

function expectDecodeErrorOf(
  e: Error,
  cls: abstract new (...a: never[]) => DecodeError,
  name: string,
  reason: string,
) {
  expect(e).toBeInstanceOf(cls);
  expect(e.name).toBe(name);
  expect((e as DecodeError).reason).toBe(reason);
  expect((e as DecodeError).retriable).toBe(false);
}

describe("record avroConfluent", () => {
  it("record - avroConfluent decodes 00 + big-endian schema id + Avro binary once the id is added", () => {
    const record = sample();
    for (const schema of VERSIONS) {
      const bytes = encodeRecord(record, { codec: "avroConfluent", schema, schemaId: 0x01020304 });
      expect(hex(bytes.subarray(0, 5))).toBe("00 01 02 03 04");
      // The body is exactly the avroBinary encoding of the same writer schema.
      expect(hex(bytes.subarray(5))).toBe(
        hex(encodeRecord(record, { codec: "avroBinary", schema })),
      );
      const d = createRecordDecoder({ codec: "avroConfluent" });
      expect(d.hasRegistrySchema(0x01020304)).toBe(false);
      const info = d.addRegistrySchema(
        0x01020304,
        schema === "2023" ? RECORD_SCHEMA_2023 : RECORD_SCHEMA_2021,
      );
      expect(info.name).toBe("org.nuxeo.lib.stream.computation.Record");
      expect(d.hasRegistrySchema(0x01020304)).toBe(true);
      expect(d.decode(bytes)).toEqual(record);
    }
  });

  it("record - avroConfluent rejects an id it was not given, naming the id", () => {
    const d = createRecordDecoder({ codec: "avroConfluent" });
    d.addRegistrySchema(1, RECORD_SCHEMA_2023);
    const e = caught(() =>
      d.decode(encodeRecord(sample(), { codec: "avroConfluent", schemaId: 77 })),
    );
    expectDecodeErrorOf(e, UnknownSchemaIdError, "UnknownSchemaIdError", "unknown_schema_id");
    expect((e as UnknownSchemaIdError).schemaId).toBe(77);
    expect(e.message).toContain("schema registry id 77");
  });

  it("record - avroConfluent tells other codecs and short payloads apart", () => {
    const d = createRecordDecoder({ codec: "avroConfluent" });
    let e = caught(() => d.decode(encodeRecord(sample(), { codec: "avro" })));
    expectDecodeErrorOf(
      e,
      NotConfluentWireFormatError,
      "NotConfluentWireFormatError",
      "not_confluent_wire_format",
    );
    expect(e.message).toContain("codec avro");
    e = caught(() => d.decode(encodeRecord(sample(), { codec: "avroJson" })));
    expect(e.message).toContain("codec avroJson");
    e = caught(() => d.decode(new Uint8Array([0, 0, 1])));
    expectDecodeErrorOf(e, TruncatedRecordError, "TruncatedRecordError", "truncated_record");
    e = caught(() => d.decode(new Uint8Array([0xac, 0xed, 0x00, 0x05, 0x73])));
    expect(e).toBeInstanceOf(LegacyCodecError);
    e = caught(() => d.decode(new Uint8Array(0)));
    expect(e).toBeInstanceOf(TruncatedRecordError);
  });

  it("record - avroConfluent reports corrupt data after a known id as corrupt", () => {
    const d = createRecordDecoder({ codec: "avroConfluent" });
    d.addRegistrySchema(5, RECORD_SCHEMA_2023);
    const good = encodeRecord(sample(), { codec: "avroConfluent", schemaId: 5 });
    const e = caught(() => d.decode(good.subarray(0, good.length - 3)));
    expect(e).toBeInstanceOf(DecodeError);
    expect(["corrupt_record", "truncated_record"]).toContain((e as DecodeError).reason);
  });

  it("record - encodeRecord needs a valid schemaId for avroConfluent", () => {
    expect(() => encodeRecord(sample(), { codec: "avroConfluent" })).toThrow(/schemaId/);
    expect(() => encodeRecord(sample(), { codec: "avroConfluent", schemaId: -1 })).toThrow(
      RangeError,
    );
    expect(() =>
      createRecordDecoder({ codec: "avroConfluent" }).addRegistrySchema(
        2 ** 31,
        RECORD_SCHEMA_2023,
      ),
    ).toThrow(RangeError);
  });
});
