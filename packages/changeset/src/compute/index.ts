// The pure change computation of the changeset role (spec/NUXEO.md §3–5). No I/O.
export {
  Permission,
  EVERYONE,
  includes,
  principalsOf,
  samePrincipals,
  can,
} from "./permissions.js";
export type { Principals } from "./permissions.js";
export {
  Facet,
  rootSetOf,
  isFolderish,
  isFileSystemItemDoc,
  visible,
  isActiveRootDoc,
  isActiveRootFor,
  activeRootsOf,
  inScope,
  pathWithin,
  pathStrictlyWithin,
  someRootContains,
} from "./scope.js";
export type { UserRoot, RootSet, Scope } from "./scope.js";
export {
  syncRootItemId,
  fileSystemItemId,
  shortId,
  downloadFileName,
  downloadURL,
  buildItem,
  scrollItem,
} from "./item.js";
export { userContext, withRoots } from "./context.js";
export type { UserContext, UserContextInit } from "./context.js";
export {
  AuditEventId,
  DELETED_LIFECYCLE_STATE,
  EventKind,
  eventKind,
  rootEventUser,
  groupOf,
  movedFromParent,
  itemChange,
  nullChange,
  changeFor,
  Reevaluation,
  computeEvent,
  reevaluateRoots,
} from "./changes.js";
export type { EventEffects, RootState } from "./changes.js";
export { syncDateOf, rootDefinitions, buildSummary } from "./summary.js";
export type { SummaryInput } from "./summary.js";
// Coalescing is shared with the gateway: the protocol package's.
export { DEFAULT_CHANGE_LIMIT, createPendingChanges, coalesce } from "@drivecast/protocol";
export type { PendingChanges, PendingChangesOptions } from "@drivecast/protocol";
