// @drivecast/protocol: the vocabulary every role shares. No I/O.
export { fnv1a32, shardOf, DEFAULT_SHARD_COUNT } from "./shard.js";
export {
  Streams,
  Buckets,
  Names,
  DEFAULT_NAMING,
  userToken,
  userFromToken,
  rootKey,
} from "./subjects.js";
export type { Naming } from "./subjects.js";
export {
  nextPosition,
  positionAt,
  follows,
  currentWithoutHistory,
  CLOCK_SKEW_MS,
  MAX_POSITION,
} from "./feed.js";
export { DEFAULT_CHANGE_LIMIT, createPendingChanges, coalesce } from "./coalesce.js";
export type { PendingChanges, PendingChangesOptions } from "./coalesce.js";
export { msgpackCodec } from "./codec.js";
export { MsgpackWriter, keyBytes } from "./msgpack-writer.js";
export { feedEntryCodec } from "./feed-codec.js";
export type { Codec } from "./codec.js";
export {
  TOP_LEVEL_ID,
  SYNC_ROOT_FACTORY,
  FILE_SYSTEM_ITEM_FACTORY,
  DriveEventId,
} from "./drive.js";
export type { FileSystemItem, FileSystemItemChange, FileSystemChangeSummary } from "./drive.js";
export type {
  Ace,
  Acl,
  BlobInfo,
  Subscription,
  DocSnapshot,
  DocEvent,
  RootEntry,
  FeedEntry,
  DeviceRecord,
} from "./events.js";
export {
  Subprotocol,
  Paths,
  CloseCode,
  ErrorCode,
  Defaults,
  ProtocolViolation,
  parseClientMessage,
} from "./client.js";
export type {
  ClientMessage,
  SubscribeMessage,
  AckMessage,
  ScrollRequestMessage,
  PingMessage,
  ServerMessage,
  WelcomeMessage,
  ChangesMessage,
  ScrollResultMessage,
  PongMessage,
  ErrorMessage,
} from "./client.js";
export {
  RecordCodec,
  createRecordDecoder,
  encodeRecord,
  watermarkOf,
  watermarkTimestamp,
  schemaInfo,
  canonicalSchemaForm,
} from "./record.js";
export type { NuxeoRecord, EncodeRecordOptions } from "./record.js";
export type {
  RecordDecoder,
  RecordDecoderOptions,
  RecordSchemaVersion,
  SchemaInfo,
  AuditEntry,
} from "./types.js";
export {
  RECORD_SCHEMA_2023,
  RECORD_SCHEMA_2021,
  RECORD_FINGERPRINT_2023,
  RECORD_FINGERPRINT_2021,
} from "./avro-schemas.js";
export { fingerprintHex } from "./avro-schema.js";
export { parseAuditEntry, auditEntryJson, parseIsoDateTime, formatIsoDateTime } from "./audit.js";
export type { AuditEntryJson, AuditEntryJsonOptions } from "./audit.js";
export {
  DecodeFailure,
  DecodeError,
  UnknownSchemaError,
  UnknownSchemaIdError,
  IncompatibleSchemaError,
  TruncatedRecordError,
  CorruptRecordError,
  LegacyCodecError,
  NotSingleObjectError,
  NotConfluentWireFormatError,
  InvalidAuditEntryError,
  InvalidSchemaError,
  UnsupportedCodecError,
} from "./errors.js";
export type {
  ScrollDescendantsRequest,
  ScrollDescendantsReply,
  RpcRequest,
  RpcReply,
} from "./rpc.js";
