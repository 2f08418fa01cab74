// @drivecast/changeset: shard leases, per-user actors, Drive change computation, feeds.
export { startChangeset, DEFAULT_CHANGESET_CONFIG } from "./changeset.js";
export type { ChangesetConfig, ChangesetDeps, ChangesetHandle, ChangesetNuxeo } from "./changeset.js";
export { parseChangesetConfig } from "./config.js";
export type { ChangesetProcessConfig } from "./config.js";
export { createLeaser, shardLeaseKey } from "./leases.js";
export type { Leaser, LeaserOptions, ShardHost } from "./leases.js";
export { createFeedWriter } from "./feeds.js";
export type { FeedWriter, FeedHead } from "./feeds.js";
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
export type { UserContext, UserRoot, RootState, EventEffects, PendingChanges } from "./compute/index.js";
