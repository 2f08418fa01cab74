// Public interfaces of the Nuxeo stream decoding (record.ts, audit.ts).
import type { NuxeoRecord, RecordCodec } from "./record.js";

/** A writer schema a RecordDecoder knows. */
export interface SchemaInfo {
  /** CRC-64-AVRO of the parsing canonical form, unsigned. */
  fingerprint: bigint;
  /** `0x` + 16 upper-case hex digits. */
  fingerprintHex: string;
  /** Full name of the top-level named type, or null for an unnamed schema. */
  name: string | null;
}

/** Which bundled Record schema: Nuxeo LTS 2023 (the default) or LTS 2021. */
export type RecordSchemaVersion = "2023" | "2021";

export interface RecordDecoderOptions {
  /** Nuxeo's `nuxeo.stream.audit.log.codec`. */
  codec: RecordCodec;
  /** Further writer schemas (.avsc texts) besides the two bundled ones (codec `avro`). */
  extraSchemas?: readonly string[];
  /**
   * `avroBinary` and `avroJson` carry no schema id: the schema the writer used, a bundled
   * version or a schema text. Default "2023".
   */
  writerSchema?: RecordSchemaVersion | (string & {});
  /**
   * Binary codecs: `data` is a view into the decoded payload instead of a copy. For callers
   * done with the record before the payload's memory is reused or changed (the ingest parses
   * `data` at once); saves an allocation and a copy per record. Default false.
   */
  dataAsView?: boolean;
}

/**
 * Decodes Kafka values into Nuxeo stream Records. Whatever the writer schema, a record decodes
 * to the same NuxeoRecord (Avro schema resolution into the 2023 schema). `decode` throws only
 * DecodeError subclasses (see errors.ts); their `reason` is the dead-letter reason.
 */
export interface RecordDecoder {
  readonly codec: RecordCodec;
  decode(payload: Uint8Array): NuxeoRecord;
  /**
   * Registers a writer schema (the text of an .avsc file); returns what it registered. Throws
   * InvalidSchemaError. Adding a known schema again is harmless.
   */
  addSchema(schemaText: string): SchemaInfo;
  hasSchema(fingerprint: bigint): boolean;
  /**
   * avroConfluent: registers the writer schema a Confluent-compatible registry holds under `id`
   * (the `schema` text of `GET /schemas/ids/{id}`). Throws InvalidSchemaError, or RangeError for
   * an id that is not an int32 >= 0.
   */
  addRegistrySchema(id: number, schemaText: string): SchemaInfo;
  hasRegistrySchema(id: number): boolean;
  /** Every writer schema known, bundled ones first. */
  schemas(): SchemaInfo[];
}

/**
 * A Nuxeo audit entry (the JSON in `Record.data`), converted once from Nuxeo's wire shape.
 * `id` is left out: Nuxeo assigns it after the stream, so it is always 0 here.
 */
export interface AuditEntry {
  eventId: string;
  category: string | null;
  principalName: string | null;
  comment: string | null;
  docLifeCycle: string | null;
  docPath: string | null;
  docType: string | null;
  docUUID: string | null;
  repositoryId: string | null;
  /** epoch ms */
  eventDate: number;
  /** epoch ms, null when Nuxeo wrote none */
  logDate: number | null;
  /** Nuxeo's extended infos as written (strings, numbers, booleans, ISO dates as strings, null). */
  extended: Record<string, unknown>;
}
