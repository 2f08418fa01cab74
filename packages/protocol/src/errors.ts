// Why a Kafka value could not become an audit entry. Every class carries a `reason`: the code the
// ingest dead-letters under (`drive.dl.<reason>`, so letters, digits and `_` only), and none is
// retriable: the same bytes fail the same way, so the pipeline dead-letters them and goes on.
// The one recoverable case, an unknown writer schema, is recovered by the caller loading new
// schema files (RecordDecoder.addSchema) and decoding again, not by retrying as is.

import { fingerprintHex, nuxeoSchemaFileName } from "./avro-schema.js";

/** Dead-letter reason codes, one per error class below. */
export const DecodeFailure = {
  UnknownSchema: "unknown_schema",
  UnknownSchemaId: "unknown_schema_id",
  IncompatibleSchema: "incompatible_schema",
  TruncatedRecord: "truncated_record",
  CorruptRecord: "corrupt_record",
  LegacyCodec: "legacy_codec",
  NotSingleObject: "not_single_object",
  NotConfluentWireFormat: "not_confluent_wire_format",
  InvalidAuditEntry: "invalid_audit_entry",
  InvalidSchema: "invalid_schema",
  UnsupportedCodec: "unsupported_codec",
} as const;
export type DecodeFailure = (typeof DecodeFailure)[keyof typeof DecodeFailure];

/** Base of the errors below: what went wrong with one payload (or schema), never retriable. */
export abstract class DecodeError extends Error {
  abstract readonly reason: DecodeFailure;
  readonly retriable = false as const;

  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** The single-object header names a writer schema this decoder does not know. */
export class UnknownSchemaError extends DecodeError {
  override readonly name = "UnknownSchemaError";
  readonly reason = DecodeFailure.UnknownSchema;
  readonly fingerprintHex: string;

  constructor(readonly fingerprint: bigint) {
    super(
      `Record written with an unknown Avro schema, fingerprint ${fingerprintHex(fingerprint)}: ` +
        `add its .avsc to the schema folder (Nuxeo keeps it in \${nuxeo.data.dir}/avro as ` +
        `${nuxeoSchemaFileName("Record", fingerprint)}); drivecast loads new files on the next ` +
        `unknown fingerprint`,
    );
    this.fingerprintHex = fingerprintHex(fingerprint);
  }
}

/**
 * avroConfluent: the payload names a schema registry id this decoder has not been given. The
 * caller fetches the schema from the registry (RecordDecoder.addRegistrySchema) and decodes again;
 * a registry that does not know the id either makes this the dead-letter reason.
 */
export class UnknownSchemaIdError extends DecodeError {
  override readonly name = "UnknownSchemaIdError";
  readonly reason = DecodeFailure.UnknownSchemaId;

  constructor(
    readonly schemaId: number,
    detail = "",
  ) {
    super(
      `Record written with schema registry id ${schemaId}, which the decoder does not know` +
        (detail === "" ? "" : ` (${detail})`) +
        `: check that the configured schema registry is the one Nuxeo's avroConfluent codec ` +
        `writes to, and that it still holds this id`,
    );
  }
}

/** The writer schema is known but cannot be read as Nuxeo's Record (schema resolution fails). */
export class IncompatibleSchemaError extends DecodeError {
  override readonly name = "IncompatibleSchemaError";
  readonly reason = DecodeFailure.IncompatibleSchema;

  constructor(
    readonly fingerprint: bigint | null,
    detail: string,
    cause?: unknown,
  ) {
    super(
      `Writer schema ${fingerprint === null ? "(configured)" : fingerprintHex(fingerprint)} cannot ` +
        `be read as Nuxeo's org.nuxeo.lib.stream.computation.Record: ${detail}. Check that the ` +
        `topics hold Nuxeo stream records and that the schema folder holds the right .avsc`,
      cause,
    );
  }
}

/** The payload ends before its header or its Avro data does. */
export class TruncatedRecordError extends DecodeError {
  override readonly name = "TruncatedRecordError";
  readonly reason = DecodeFailure.TruncatedRecord;

  constructor(detail: string, cause?: unknown) {
    super(
      `Record payload is truncated: ${detail}. Something between Nuxeo and drivecast cut the ` +
        `Kafka value; check the producer's and the topic's message size limits`,
      cause,
    );
  }
}

/** The bytes are not Avro data of their writer schema (or are followed by trailing bytes). */
export class CorruptRecordError extends DecodeError {
  override readonly name = "CorruptRecordError";
  readonly reason = DecodeFailure.CorruptRecord;

  constructor(detail: string, cause?: unknown) {
    super(
      `Record payload is not a valid Avro Record: ${detail}. Check that the topic holds Nuxeo ` +
        `stream records and that drivecast's codec matches nuxeo.stream.audit.log.codec`,
      cause,
    );
  }
}

/** Java serialization (Nuxeo's legacy codec): drivecast cannot read it. */
export class LegacyCodecError extends DecodeError {
  override readonly name = "LegacyCodecError";
  readonly reason = DecodeFailure.LegacyCodec;

  constructor() {
    super(
      "Record payload is Java-serialized (stream magic AC ED 00 05): Nuxeo writes the audit " +
        "stream with its legacy/java codec, which drivecast cannot read. Set " +
        "nuxeo.stream.audit.log.codec=avro in nuxeo.conf and restart Nuxeo",
    );
  }
}

/** The `avro` codec expects Avro single-object encoding, and the payload is not. */
export class NotSingleObjectError extends DecodeError {
  override readonly name = "NotSingleObjectError";
  readonly reason = DecodeFailure.NotSingleObject;

  constructor(detail: string) {
    super(
      `Record payload is not in Avro single-object encoding (no C3 01 marker): ${detail}. Set ` +
        `drivecast's codec to the value of nuxeo.stream.audit.log.codec`,
    );
  }
}

/** The `avroConfluent` codec expects Confluent's wire format (`00` + 4-byte schema id). */
export class NotConfluentWireFormatError extends DecodeError {
  override readonly name = "NotConfluentWireFormatError";
  readonly reason = DecodeFailure.NotConfluentWireFormat;

  constructor(detail: string) {
    super(
      `Record payload is not in Confluent's wire format (magic byte 00, 4-byte schema id): ` +
        `${detail}. Set drivecast's codec to the value of nuxeo.stream.audit.log.codec`,
    );
  }
}

/** `Record.data` is not a Nuxeo audit entry (UTF-8 JSON with an eventId and an eventDate). */
export class InvalidAuditEntryError extends DecodeError {
  override readonly name = "InvalidAuditEntryError";
  readonly reason = DecodeFailure.InvalidAuditEntry;

  constructor(detail: string, cause?: unknown) {
    super(
      `Record data is not a Nuxeo audit entry: ${detail}. Check that the topics are Nuxeo's ` +
        `audit stream (nuxeo-audit-audit by default)`,
      cause,
    );
  }
}

/** A schema text (a .avsc file or a configured writer schema) is not a valid Avro schema. */
export class InvalidSchemaError extends DecodeError {
  override readonly name = "InvalidSchemaError";
  readonly reason = DecodeFailure.InvalidSchema;

  constructor(detail: string, cause?: unknown) {
    super(`Not a valid Avro schema: ${detail}. Fix or remove the .avsc file`, cause);
  }
}

/** The configured codec is unknown (or, when encoding, lacks what it needs). */
export class UnsupportedCodecError extends DecodeError {
  override readonly name = "UnsupportedCodecError";
  readonly reason = DecodeFailure.UnsupportedCodec;

  constructor(
    readonly codec: string,
    detail?: string,
  ) {
    super(
      detail ??
        `Unknown record codec ${JSON.stringify(codec)}: use avro, avroBinary, avroJson or ` +
          "avroConfluent, as nuxeo.stream.audit.log.codec says (legacy/java cannot be read)",
    );
  }
}
