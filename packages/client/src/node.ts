// @drivecast/client/node: what only runs in Node — the file cursor store, the mirror, and a
// client factory that brings the `ws` package (Node 20 has no global WebSocket).
import WebSocket from "ws";
import { createDriveClient } from "./client.js";
import type { DriveClient, DriveClientOptions, WebSocketConstructor } from "./types.js";

export { fileCursorStore } from "./cursor-store-file.js";
export { createMirror, STATE_FILE } from "./mirror.js";
export type { Mirror, MirrorOptions, Sidecar } from "./mirror.js";

/** `createDriveClient` with the `ws` package as WebSocket (credentials sent as headers). */
export function createNodeDriveClient(
  options: Omit<DriveClientOptions, "WebSocket"> & { WebSocket?: WebSocketConstructor },
): DriveClient {
  return createDriveClient({
    ...options,
    WebSocket: options.WebSocket ?? (WebSocket as unknown as WebSocketConstructor),
  });
}
