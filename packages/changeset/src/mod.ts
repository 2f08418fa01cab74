// @drivecast/changeset: shard leases, per-user actors, Drive change computation, feeds.
export { startChangeset, DEFAULT_CHANGESET_CONFIG, graceMsFor } from "./changeset.js";
export type {
  ChangesetConfig,
  ChangesetDeps,
  ChangesetHandle,
  ChangesetNuxeo,
} from "./changeset.js";
export { parseChangesetConfig } from "./config.js";
export type { ChangesetProcessConfig } from "./config.js";
export {
  createLeaser,
  shardLeaseKey,
  workerKey,
  encodeLeaseRecord,
  decodeLeaseRecord,
  leaseBucketTtlMs,
} from "./leases.js";
export type {
  Leaser,
  LeaserOptions,
  LeaseEvent,
  LeaseRecord,
  ShardHost,
  ShardLease,
} from "./leases.js";
export { createFeedWriter, feedCodec, WRITER_HEADER } from "./feeds.js";
export { createDocEventDecoder } from "./event-decoder.js";
export type { DocEventDecoderOptions } from "./event-decoder.js";
export type { FeedWriter, FeedHead, AppendOutcome } from "./feeds.js";
export { createWindowController } from "./window.js";
export type { WindowController, WindowOptions } from "./window.js";
export { sweepDevices } from "./devices.js";
export type { SweepResult } from "./devices.js";
export {
  buildItem,
  scrollItem,
  computeEvent,
  changeFor,
  reevaluateRoots,
  userContext,
  withRoots,
  createPendingChanges,
  buildSummary,
  coalesce,
  inScope,
  can,
  principalsOf,
} from "./compute/index.js";
export type {
  UserContext,
  UserRoot,
  RootState,
  EventEffects,
  PendingChanges,
} from "./compute/index.js";
export { createScrollService, DEFAULT_SCROLL_CONFIG, parseTarget } from "./scroll.js";
export type { ScrollService, ScrollServiceDeps, ScrollConfig, ScrollNuxeo } from "./scroll.js";
