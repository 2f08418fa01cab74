// The Nuxeo stream `Record` (NUXEO.md §1): its wire shape, a decoder for each stream codec, and
// the encoder the simulator and tests use to write exactly what Nuxeo writes.
//
// No I/O here: schemas come in as texts. Single-object payloads name their writer schema by
// fingerprint (bundled, or added with addSchema); Confluent-framed ones by a registry id whose
// schema the caller fetched and added with addRegistrySchema. An unknown one throws, and the
// caller (the ingest) loads or fetches it and decodes again.
//
// Every decoder reads into ONE reader schema, Nuxeo 2023's, through Avro schema resolution: a
// record written with the 2021 schema (same fields, another order) or any later compatible
// schema decodes to the same NuxeoRecord. Compiled resolvers are kept per writer fingerprint,
// so the per-record cost is the header check, one Map lookup and the field reads.

import {
  AvroInvalidError,
  AvroResolutionError,
  AvroTruncatedError,
  BinaryReader,
  BinaryWriter,
  compileResolver,
  compileWriter,
  type ReadFn,
  type WriteFn,
} from "./avro-binary.js";
import { avroJsonToBinary, toAvroJson } from "./avro-json.js";
import {
  canonicalForm,
  fingerprintHex,
  parseSchemaText,
  schemaFingerprint,
  type AvroSchema,
} from "./avro-schema.js";
import { RECORD_SCHEMA_2021, RECORD_SCHEMA_2023 } from "./avro-schemas.js";
import {
  CorruptRecordError,
  DecodeError,
  IncompatibleSchemaError,
  InvalidSchemaError,
  LegacyCodecError,
  NotConfluentWireFormatError,
  NotSingleObjectError,
  TruncatedRecordError,
  UnknownSchemaError,
  UnknownSchemaIdError,
  UnsupportedCodecError,
} from "./errors.js";
import { JsonSyntaxError, parseExactJson } from "./json-exact.js";
import type {
  RecordDecoder,
  RecordDecoderOptions,
  RecordSchemaVersion,
  SchemaInfo,
} from "./types.js";

/** `org.nuxeo.lib.stream.computation.Record` as it travels (field names are Nuxeo's). */
export interface NuxeoRecord {
  /** Nuxeo Watermark value: `timestampMs << 17 | sequence << 1 | completed`. Exact, hence bigint. */
  watermark: bigint;
  key: string;
  /** The payload; for the audit stream, the audit entry as UTF-8 JSON. */
  data: Uint8Array | null;
  flagsAsByte: number;
  traceContext: Uint8Array | null;
  appenderThread: string | null;
}

/** Values of Nuxeo's `nuxeo.stream.audit.log.codec` that carry Avro. */
export const RecordCodec = {
  Avro: "avro",
  AvroBinary: "avroBinary",
  AvroJson: "avroJson",
  /** Confluent wire format: `00`, 4-byte big-endian schema registry id, Avro binary. */
  AvroConfluent: "avroConfluent",
} as const;
export type RecordCodec = (typeof RecordCodec)[keyof typeof RecordCodec];

/** The event time of a watermark, in epoch ms (`watermark >> 17`). */
export function watermarkTimestamp(watermark: bigint): number {
  return Number(watermark >> 17n);
}

/** Nuxeo's `Watermark.ofTimestamp(timestampMs, sequence)` value (`completed` sets the low bit). */
export function watermarkOf(timestampMs: number, sequence = 0, completed = false): bigint {
  return (
    (BigInt(Math.floor(timestampMs)) << 17n) |
    (BigInt(sequence & 0xffff) << 1n) |
    (completed ? 1n : 0n)
  );
}

/** Avro single-object encoding marker (Avro specification, "Single-object encoding"). */
const MARKER_0 = 0xc3;
const MARKER_1 = 0x01;
const HEADER_LENGTH = 10;
/** Confluent wire format: magic byte 0, then the schema id as a big-endian int32. */
const CONFLUENT_MAGIC = 0x00;
const CONFLUENT_HEADER_LENGTH = 5;
const MAX_SCHEMA_ID = 0x7fffffff;

interface Known {
  info: SchemaInfo;
  schema: AvroSchema;
  /** Compiled on first use; an IncompatibleSchemaError is kept so it is not recompiled. */
  read?: ReadFn | IncompatibleSchemaError;
}

let bundled: { v2023: Known; v2021: Known; reader: AvroSchema } | undefined;

function load(text: string): Known {
  let schema: AvroSchema;
  try {
    schema = parseSchemaText(text);
  } catch (cause) {
    throw new InvalidSchemaError(cause instanceof Error ? cause.message : String(cause), cause);
  }
  const fingerprint = schemaFingerprint(schema);
  const name =
    schema.type === "record" || schema.type === "enum" || schema.type === "fixed"
      ? schema.name
      : null;
  return { info: { fingerprint, fingerprintHex: fingerprintHex(fingerprint), name }, schema };
}

/** Fingerprint and name of a schema text (an .avsc file). Throws InvalidSchemaError. */
export function schemaInfo(schemaText: string): SchemaInfo {
  return load(schemaText).info;
}

/** The Parsing Canonical Form of a schema text, whose CRC-64-AVRO is its fingerprint. */
export function canonicalSchemaForm(schemaText: string): string {
  return canonicalForm(load(schemaText).schema);
}

function bundledSchemas(): NonNullable<typeof bundled> {
  if (bundled === undefined) {
    const v2023 = load(RECORD_SCHEMA_2023);
    bundled = { v2023, v2021: load(RECORD_SCHEMA_2021), reader: v2023.schema };
  }
  return bundled;
}

function bundledVersion(version: RecordSchemaVersion): Known {
  const b = bundledSchemas();
  return version === "2021" ? b.v2021 : b.v2023;
}

function hexBytes(payload: Uint8Array, n: number): string {
  return Array.from(payload.subarray(0, n), (b) =>
    b.toString(16).padStart(2, "0").toUpperCase(),
  ).join(" ");
}

function isJavaSerialized(p: Uint8Array): boolean {
  return p[0] === 0xac && p[1] === 0xed && p[2] === 0x00 && p[3] === 0x05;
}

function isSingleObject(p: Uint8Array): boolean {
  return p[0] === MARKER_0 && p[1] === MARKER_1;
}

function readFingerprint(p: Uint8Array): bigint {
  // Little-endian, as Avro's BinaryMessageEncoder writes it.
  const lo =
    (p[2] as number) |
    ((p[3] as number) << 8) |
    ((p[4] as number) << 16) |
    ((p[5] as number) << 24);
  const hi =
    (p[6] as number) |
    ((p[7] as number) << 8) |
    ((p[8] as number) << 16) |
    ((p[9] as number) << 24);
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Converts the resolved value (shaped by the 2023 reader schema) into the wire type, once. */
function toRecord(v: Record<string, unknown>): NuxeoRecord {
  return {
    watermark: v.watermark as bigint,
    key: v.key as string,
    data: v.data as Uint8Array | null,
    flagsAsByte: v.flagsAsByte as number,
    traceContext: v.traceContext as Uint8Array | null,
    appenderThread: v.appenderThread as string | null,
  };
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

function readSchemaId(p: Uint8Array): number {
  return (
    (((p[1] as number) << 24) |
      ((p[2] as number) << 16) |
      ((p[3] as number) << 8) |
      (p[4] as number)) >>>
    0
  );
}

function checkSchemaId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > MAX_SCHEMA_ID) {
    throw new RangeError(`schema registry id ${id} is not an int32 >= 0`);
  }
}

class RecordDecoderImpl implements RecordDecoder {
  private readonly known = new Map<bigint, Known>();
  /** avroConfluent: writer schemas by registry id (the same Known objects as `known`). */
  private readonly byRegistryId = new Map<number, Known>();
  private readonly reader: AvroSchema;
  /** avroBinary / avroJson: the configured writer schema. */
  private readonly writer: Known;
  private readonly decodeFn: (payload: Uint8Array) => NuxeoRecord;
  private readonly dataAsView: boolean;

  constructor(
    readonly codec: RecordCodec,
    options: RecordDecoderOptions,
  ) {
    const b = bundledSchemas();
    this.dataAsView = options.dataAsView === true;
    this.reader = b.reader;
    this.known.set(b.v2023.info.fingerprint, b.v2023);
    this.known.set(b.v2021.info.fingerprint, b.v2021);
    for (const text of options.extraSchemas ?? []) this.addSchema(text);
    const ws: string = options.writerSchema ?? "2023";
    this.writer = ws === "2023" || ws === "2021" ? bundledVersion(ws) : this.register(load(ws));
    switch (codec) {
      case RecordCodec.Avro:
        this.decodeFn = (p) => this.decodeSingleObject(p);
        break;
      case RecordCodec.AvroBinary:
        this.decodeFn = (p) => this.decodeBinary(p);
        break;
      case RecordCodec.AvroJson:
        this.decodeFn = (p) => this.decodeJson(p);
        break;
      case RecordCodec.AvroConfluent:
        this.decodeFn = (p) => this.decodeConfluent(p);
        break;
      default:
        throw new UnsupportedCodecError(codec);
    }
  }

  decode(payload: Uint8Array): NuxeoRecord {
    return this.decodeFn(payload);
  }

  addSchema(schemaText: string): SchemaInfo {
    return this.register(load(schemaText)).info;
  }

  hasSchema(fingerprint: bigint): boolean {
    return this.known.has(fingerprint);
  }

  addRegistrySchema(id: number, schemaText: string): SchemaInfo {
    checkSchemaId(id);
    const k = this.register(load(schemaText));
    this.byRegistryId.set(id, k);
    return k.info;
  }

  hasRegistrySchema(id: number): boolean {
    return this.byRegistryId.has(id);
  }

  schemas(): SchemaInfo[] {
    return Array.from(this.known.values(), (k) => k.info);
  }

  private register(k: Known): Known {
    const existing = this.known.get(k.info.fingerprint);
    if (existing !== undefined) return existing;
    this.known.set(k.info.fingerprint, k);
    return k;
  }

  private resolverFor(k: Known, fingerprint: bigint | null): ReadFn {
    if (k.read === undefined) {
      try {
        k.read = compileResolver(k.schema, this.reader);
      } catch (cause) {
        if (!(cause instanceof AvroResolutionError)) throw cause;
        k.read = new IncompatibleSchemaError(fingerprint, cause.message, cause);
      }
    }
    if (k.read instanceof IncompatibleSchemaError) throw k.read;
    return k.read;
  }

  private read(
    read: ReadFn,
    payload: Uint8Array,
    offset: number,
    fingerprint: bigint | null,
  ): NuxeoRecord {
    const r = new BinaryReader(payload, offset, this.dataAsView);
    let value: unknown;
    try {
      value = read(r);
    } catch (cause) {
      if (cause instanceof AvroTruncatedError) {
        throw new TruncatedRecordError(`the Avro data ${cause.message}`, cause);
      }
      if (cause instanceof AvroResolutionError) {
        throw new IncompatibleSchemaError(fingerprint, cause.message, cause);
      }
      if (cause instanceof AvroInvalidError) throw new CorruptRecordError(cause.message, cause);
      throw new CorruptRecordError(describe(cause), cause);
    }
    if (r.pos !== payload.length) {
      throw new CorruptRecordError(
        `${payload.length - r.pos} trailing byte(s) after the record (at byte ${r.pos} of ${payload.length})`,
      );
    }
    return toRecord(value as Record<string, unknown>);
  }

  private decodeSingleObject(p: Uint8Array): NuxeoRecord {
    if (p.length >= HEADER_LENGTH && isSingleObject(p)) {
      const fingerprint = readFingerprint(p);
      const k = this.known.get(fingerprint);
      if (k === undefined) throw new UnknownSchemaError(fingerprint);
      return this.read(this.resolverFor(k, fingerprint), p, HEADER_LENGTH, fingerprint);
    }
    throw this.foreign(p, RecordCodec.Avro);
  }

  private decodeConfluent(p: Uint8Array): NuxeoRecord {
    if (p.length >= CONFLUENT_HEADER_LENGTH && p[0] === CONFLUENT_MAGIC) {
      const id = readSchemaId(p);
      const k = this.byRegistryId.get(id);
      if (k === undefined) throw new UnknownSchemaIdError(id);
      return this.read(
        this.resolverFor(k, k.info.fingerprint),
        p,
        CONFLUENT_HEADER_LENGTH,
        k.info.fingerprint,
      );
    }
    if (p.length === 0) throw new TruncatedRecordError("the payload is empty");
    if (isJavaSerialized(p)) throw new LegacyCodecError();
    if (p[0] === CONFLUENT_MAGIC) {
      throw new TruncatedRecordError(
        `${p.length} byte(s), shorter than the ${CONFLUENT_HEADER_LENGTH}-byte Confluent header`,
      );
    }
    const first = `first bytes ${hexBytes(p, 8)}`;
    if (isSingleObject(p)) {
      throw new NotConfluentWireFormatError(
        `${first}, which is Avro single-object encoding (C3 01): codec avro`,
      );
    }
    if (p[0] === 0x7b) {
      throw new NotConfluentWireFormatError(`${first}, which looks like JSON: codec avroJson`);
    }
    throw new NotConfluentWireFormatError(first);
  }

  private decodeBinary(p: Uint8Array): NuxeoRecord {
    this.checkNotOtherCodec(p);
    return this.read(this.resolverFor(this.writer, null), p, 0, null);
  }

  private decodeJson(p: Uint8Array): NuxeoRecord {
    this.checkNotOtherCodec(p);
    let text: string;
    try {
      text = jsonUtf8.decode(p);
    } catch (cause) {
      throw new CorruptRecordError("the Avro JSON payload is not valid UTF-8", cause);
    }
    let binary: Uint8Array;
    try {
      binary = avroJsonToBinary(this.writer.schema, parseExactJson(text));
    } catch (cause) {
      if (cause instanceof JsonSyntaxError && cause.eof) {
        throw new TruncatedRecordError(
          `the Avro JSON payload (${p.length} bytes) ${cause.message}`,
          cause,
        );
      }
      throw new CorruptRecordError(`not Avro JSON of the writer schema: ${describe(cause)}`, cause);
    }
    return this.read(this.resolverFor(this.writer, null), binary, 0, null);
  }

  /** avroBinary/avroJson: tell a payload of another codec apart from a corrupt one. */
  private checkNotOtherCodec(p: Uint8Array): void {
    if (isJavaSerialized(p)) throw new LegacyCodecError();
    if (p.length === 0) throw new TruncatedRecordError("the payload is empty");
    if (p.length >= HEADER_LENGTH && isSingleObject(p) && this.known.has(readFingerprint(p))) {
      throw new CorruptRecordError(
        `the payload is in Avro single-object encoding (C3 01 + fingerprint ${fingerprintHex(readFingerprint(p))}), ` +
          `not ${this.codec}: set drivecast's codec to avro`,
      );
    }
  }

  private foreign(p: Uint8Array, codec: RecordCodec): DecodeError {
    if (p.length === 0) return new TruncatedRecordError("the payload is empty");
    if (isJavaSerialized(p)) return new LegacyCodecError();
    if (isSingleObject(p) || (p.length === 1 && p[0] === MARKER_0)) {
      return new TruncatedRecordError(
        `${p.length} byte(s), shorter than the ${HEADER_LENGTH}-byte single-object header`,
      );
    }
    const first = `first bytes ${hexBytes(p, 8)}`;
    if (p[0] === 0x00 && p.length >= 5) {
      return new NotSingleObjectError(
        `${first}, which looks like Confluent's wire format (00 + schema id): codec avroConfluent`,
      );
    }
    if (p[0] === 0x7b)
      return new NotSingleObjectError(`${first}, which looks like JSON: codec avroJson`);
    return new NotSingleObjectError(`${first} (expected C3 01 for codec ${codec})`);
  }
}

const jsonUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A decoder for one codec. Throws UnsupportedCodecError for an unknown codec, InvalidSchemaError
 * for an extra or configured schema that does not parse. An `avroConfluent` decoder starts with
 * no registry schema: add them with addRegistrySchema as their ids appear.
 */
export function createRecordDecoder(options: RecordDecoderOptions): RecordDecoder {
  return new RecordDecoderImpl(options.codec, options);
}

export interface EncodeRecordOptions {
  codec: RecordCodec;
  /** Which Nuxeo's schema writes it. Default "2023". */
  schema?: RecordSchemaVersion;
  /** avroConfluent: the id the schema registry gave the writer schema (required). */
  schemaId?: number;
}

const writers = new Map<
  RecordSchemaVersion,
  { write: WriteFn; header: Uint8Array; schema: AvroSchema }
>();

function writerFor(version: RecordSchemaVersion): {
  write: WriteFn;
  header: Uint8Array;
  schema: AvroSchema;
} {
  let w = writers.get(version);
  if (w === undefined) {
    const k = bundledVersion(version);
    const header = new Uint8Array(HEADER_LENGTH);
    header[0] = MARKER_0;
    header[1] = MARKER_1;
    let fp = k.info.fingerprint;
    for (let i = 2; i < HEADER_LENGTH; i++, fp >>= 8n) header[i] = Number(fp & 0xffn);
    w = { write: compileWriter(k.schema), header, schema: k.schema };
    writers.set(version, w);
  }
  return w;
}

/**
 * The Kafka value Nuxeo writes for `record` with the given codec and schema version: Avro
 * single-object encoding (`avro`), bare Avro binary (`avroBinary`), Avro's JSON encoding as
 * Avro's Java JsonEncoder writes it (`avroJson`), or Confluent's wire format with the given
 * registry id (`avroConfluent`). Throws TypeError for a field of the wrong type.
 */
export function encodeRecord(record: NuxeoRecord, options: EncodeRecordOptions): Uint8Array {
  const w = writerFor(options.schema ?? "2023");
  switch (options.codec) {
    case RecordCodec.AvroJson:
      return new TextEncoder().encode(toAvroJson(w.schema, record));
    case RecordCodec.Avro:
    case RecordCodec.AvroBinary: {
      const out = new BinaryWriter();
      if (options.codec === RecordCodec.Avro) out.raw(w.header);
      w.write(out, record);
      return out.finish();
    }
    case RecordCodec.AvroConfluent: {
      const id = options.schemaId;
      if (id === undefined) {
        throw new UnsupportedCodecError(
          options.codec,
          "encodeRecord: codec avroConfluent needs the writer schema's registry id (schemaId)",
        );
      }
      checkSchemaId(id);
      const out = new BinaryWriter();
      out.raw(
        new Uint8Array([
          CONFLUENT_MAGIC,
          (id >>> 24) & 0xff,
          (id >>> 16) & 0xff,
          (id >>> 8) & 0xff,
          id & 0xff,
        ]),
      );
      w.write(out, record);
      return out.finish();
    }
    default:
      throw new UnsupportedCodecError(String(options.codec));
  }
}
