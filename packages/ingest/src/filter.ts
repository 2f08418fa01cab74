// Which audit events Drive needs (spec/NUXEO.md §5). Everything else is dropped before any
// Nuxeo call or publish.
//
// An event id outside the table is not bad input: Nuxeo's audit stream carries dozens of ids
// Drive never needs (loginSuccess, download, documentCheckedIn, custom events of a project…).
// They are dropped and counted (`filtered{reason="event"}`), never dead-lettered: the dead-letter
// stream is for records that cannot be read, and would otherwise fill with normal traffic. What
// is dead-lettered is an entry that is not an audit entry (no eventId: invalid_audit_entry) or a
// Drive event lacking what it is about (no docUUID/repositoryId, a group event without its group:
// incomplete_entry).

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

/**
 * Events after which cached snapshots of the document and of everything beneath it are stale:
 * paths (moves), inherited ACLs (security), trash flags (trash, untrash, restore, removal).
 */
export const SUBTREE_INVALIDATING_EVENTS: ReadonlySet<string> = ANCESTOR_EVENTS;

/** Events whose meaning is "the document is gone for its readers" (§5, second block). */
export const DELETION_EVENTS: ReadonlySet<string> = new Set(["documentTrashed", "documentRemoved"]);

/**
 * Events that need the document's snapshot after the event. A removed document no longer
 * exists: asking Nuxeo for it would only cost a call.
 */
export function needsSnapshot(eventId: string): boolean {
  return eventId !== "documentRemoved";
}

export const EventKind = {
  Document: "document",
  Root: "root",
  Group: "group",
  Ignored: "ignored",
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

export function classify(eventId: string): EventKind {
  if (DOCUMENT_EVENTS.has(eventId)) return EventKind.Document;
  if (ROOT_EVENTS.has(eventId)) return EventKind.Root;
  if (GROUP_EVENTS.has(eventId)) return EventKind.Group;
  return EventKind.Ignored;
}
