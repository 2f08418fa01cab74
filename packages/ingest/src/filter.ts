// Which audit events Drive needs (spec/NUXEO.md §5). Everything else is dropped before any
// Nuxeo call or publish.

/** Events that change a document a Drive user may sync. */
export const DOCUMENT_EVENTS: ReadonlySet<string> = new Set([
  "documentCreated",
  "documentCreatedByCopy",
  "documentModified",
  "documentRestored",
  "documentUntrashed",
  "documentLocked",
  "documentUnlocked",
  "documentProxyPublished",
  "blobDigestUpdated",
  "lifecycle_transition_event",
  "documentMoved",
  "documentTrashed",
  "documentRemoved",
  "documentSecurityUpdated",
]);

export const ROOT_EVENTS: ReadonlySet<string> = new Set(["rootRegistered", "rootUnregistered"]);

export const GROUP_EVENTS: ReadonlySet<string> = new Set([
  "group_created",
  "group_modified",
  "group_deleted",
]);

/**
 * Events on a document that may change the scope of sync roots beneath it (§5, last rows):
 * they are routed to the users of those roots too.
 */
export const ANCESTOR_EVENTS: ReadonlySet<string> = new Set([
  "documentMoved",
  "documentTrashed",
  "documentRemoved",
  "documentUntrashed",
  "documentRestored",
  "documentSecurityUpdated",
  "lifecycle_transition_event",
]);

/** Events after which the document may no longer exist or be visible: no snapshot needed. */
export const GONE_EVENTS: ReadonlySet<string> = new Set(["documentRemoved"]);

export type EventKind = "document" | "root" | "group" | "ignored";

export function classify(eventId: string): EventKind {
  if (DOCUMENT_EVENTS.has(eventId)) return "document";
  if (ROOT_EVENTS.has(eventId)) return "root";
  if (GROUP_EVENTS.has(eventId)) return "group";
  return "ignored";
}
