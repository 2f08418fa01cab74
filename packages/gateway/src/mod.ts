// @drivecast/gateway: the uWebSockets.js server that pushes Drive change sets to devices.
export { startGateway } from "./gateway.js";
export { gatewayConfig, DEFAULT_GATEWAY_CONFIG } from "./config.js";
export { nuxeoAuthenticator } from "./auth.js";
export { assertNativeUws } from "./uws.js";
export { FeedMerge, currentPosition } from "./replay.js";
export { coalesceChanges } from "./summary.js";
export { summarizeFeed } from "./summary.js";
export { parseRevocation } from "./revoke.js";
export { decodeClientFrame, encodeServerMessage, chooseSubprotocol } from "./frames.js";
export {
  GatewayError,
  NativeUwsUnavailableError,
  ListenError,
  GatewayConfigError,
  RequestError,
} from "./errors.js";
export type {
  Gateway,
  GatewayConfig,
  GatewayDeps,
  Authenticator,
  Identity,
  Logger,
  RateLimit,
  Revocation,
} from "./types.js";
export type { MeClient, NuxeoAuthenticatorOptions } from "./auth.js";
export type { MergeOptions, MergeStep, MergeState } from "./replay.js";
export type { SummaryOptions } from "./summary.js";
