// @drivecast/protocol: the vocabulary every role shares. No I/O.
export { fnv1a32, shardOf, DEFAULT_SHARD_COUNT } from "./shard.js";
export { Streams, Buckets, Names, DEFAULT_NAMING, userToken, userFromToken } from "./subjects.js";
export type { Naming } from "./subjects.js";
export {
  nextPosition,
  positionAt,
  follows,
  currentWithoutHistory,
  CLOCK_SKEW_MS,
  MAX_POSITION,
} from "./feed.js";
export { msgpackCodec } from "./codec.js";
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
