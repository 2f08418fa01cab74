// Request/reply between the gateway and the changeset actors on `drive.rpc.<shard>`
// (`Names.rpcSubject(shardOf(user, S))`), msgpack both ways (`msgpackCodec<RpcRequest>()`).
// Scroll state lives in the user's actor, so any gateway instance can continue a scroll.
//
// Errors: the responder throws a bus error carrying a code from `ErrorCode` (client.ts), which
// the requester receives as `RemoteError(code, message)`:
//   scroll_expired  — unknown or expired scrollId (never an empty list, PROTOCOL.md)
//   batch_too_large — batchSize above the maximum; the message names the limit
//   not_found       — `id` is not a folder the user can see
//   bad_request     — anything else wrong with the request
// No responder (the shard has no leased worker right now) surfaces as NoRespondersError: the
// gateway answers 503 `not_ready`.
import type { FileSystemItem } from "./drive.js";

/** NuxeoDrive.ScrollDescendants for one user (PROTOCOL.md "Remote scan"). */
export interface ScrollDescendantsRequest {
  type: "scrollDescendants";
  user: string;
  /** The user's groups as the gateway resolved them from the token (the actor may refresh). */
  groups: string[];
  isAdministrator: boolean;
  /** FileSystemItem id of the folder to scan, or the top-level folder id. */
  id: string;
  /** null on the first call. */
  scrollId: string | null;
  batchSize: number;
  /** The scroll context expires after this long unused. */
  keepAliveMs: number;
}

export interface ScrollDescendantsReply {
  type: "scrollDescendants";
  scrollId: string;
  /** The next batch; empty when the scroll is over. Parents always come before children. */
  fileSystemItems: FileSystemItem[];
}

export type RpcRequest = ScrollDescendantsRequest;
export type RpcReply = ScrollDescendantsReply;
