// @drivecast/client: the Drive client SDK. Browser-safe: nothing here imports a Node module
// (Node-only pieces — file cursor store, mirror — are in `@drivecast/client/node`).
export { createDriveClient, webSocketUrl } from "./client.js";
export { memoryCursorStore } from "./cursor-store.js";
export { createDriveTree, latestPerDocument, shortIdOf, idMatches } from "./tree.js";
export {
  planLayout,
  nameChildren,
  safeName,
  numbered,
  SIDECAR_SUFFIX,
  STATE_DIR,
} from "./layout.js";
export { backoffDelay, closeAction, refusalAction, DEFAULT_BACKOFF } from "./backoff.js";
export {
  DriveClientError,
  ClientConfigError,
  ContiguityError,
  SilenceError,
  ConnectionError,
  ProtocolError,
  AuthenticationError,
  ScrollError,
  ApplyError,
} from "./errors.js";
export type { MemoryCursorStore } from "./cursor-store.js";
export type { DriveTree, TreeItem, SnapshotItem, ApplyResult, ReplaceResult } from "./tree.js";
export type { BackoffOptions, CloseAction } from "./backoff.js";
export type {
  CursorStore,
  Clock,
  WebSocketLike,
  WebSocketConstructor,
  CredentialsMode,
  WireFormat,
  DriveClientOptions,
  ClientState,
  RescanReason,
  TreeUpdate,
  ChangeEvent,
  RescanEvent,
  SyncedEvent,
  StateEvent,
  DriveClientEvents,
  DriveClient,
} from "./types.js";
