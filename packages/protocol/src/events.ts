// Internal messages between roles (msgpack on the bus). Domain types, not wire shapes of Nuxeo:
// the ingest converts Nuxeo JSON into these once, at its edge.

/** One ACE as Nuxeo's `acls` enricher reports it. */
export interface Ace {
  username: string;
  permission: string;
  granted: boolean;
  /** `effective` | `pending` | `archived`; absent counts as effective. */
  status?: string;
}

/** One ACL, in evaluation order (local first, then inherited). */
export interface Acl {
  name: string;
  aces: Ace[];
}

export interface BlobInfo {
  name: string;
  mimeType?: string;
  digestAlgorithm?: string;
  digest?: string;
  length: number;
}

export interface Subscription {
  username: string;
  enabled: boolean;
}

/**
 * A document as the actors need it: the baked snapshot of one Nuxeo document.
 * Produced by the ingest from Nuxeo REST (`properties: dublincore,file,driveroot`,
 * `enrichers-document: acls,breadcrumb`).
 */
export interface DocSnapshot {
  repository: string;
  uid: string;
  path: string;
  parentUid: string | null;
  type: string;
  title: string;
  facets: string[];
  isVersion: boolean;
  isProxy: boolean;
  isTrashed: boolean;
  creator: string;
  lastContributor: string;
  /** epoch ms */
  created: number;
  /** epoch ms */
  modified: number;
  blob: BlobInfo | null;
  acls: Acl[];
  subscriptions: Subscription[];
}

/**
 * A routed, baked audit event, published once per affected shard on `drive.ev.<shard>`.
 *
 * `doc` is the document after the event (null when it is gone); `ancestors` its ancestors from
 * the repository root down to its parent, each with its own ACL (visibility must hold on every
 * document from a sync root down to the item). For moves, `before` holds the previous location.
 */
export interface DocEvent {
  /** Source identity, `topic/partition/offset`, for tracing and deduplication. */
  source: string;
  eventId: string;
  category: string;
  repositoryId: string;
  docUuid: string;
  /** Path from the audit entry (the new path for moves). */
  docPath: string;
  docType: string;
  docLifeCycle: string | null;
  principalName: string;
  comment: string | null;
  /** epoch ms */
  eventDate: number;
  /** `extended` values the semantics use: oldDigest, impactedUserName, id (groups). */
  extended: Record<string, string>;
  doc: DocSnapshot | null;
  ancestors: DocSnapshot[];
  /** Previous location, when known (moves: parent from the audit comment). */
  before: { parentUid: string; path: string | null; ancestors: DocSnapshot[] } | null;
  /**
   * Users of the receiving shard the ingest routed this event for (their root contains the old
   * or new location, or lies beneath it; for group events, the group's current members). The
   * shard may add users it knows more about (cached group memberships).
   */
  users: string[];
}

/** A sync root in the root index (KV `drive_roots`, key `<repo>.<uid>`). */
export interface RootEntry {
  repository: string;
  uid: string;
  path: string;
  /** Users with an enabled subscription on this root. */
  users: string[];
}

/**
 * One stored change set of one user, on `drive.feed.<shard>.<userToken>` (see feed.ts for the
 * position rules). `summary.upperBound` is this set's position.
 */
export interface FeedEntry {
  user: string;
  /** The position this set follows, or 0 when the user had no retained history when written. */
  lowerBound: number;
  summary: import("./drive.js").FileSystemChangeSummary;
  /** Highest DRIVE_EVENTS sequence of this user's shard that this set includes (ack watermark). */
  eventSeq: number;
}

/** Device registration (KV `drive_devices`, key `<userToken>.<deviceToken>`). */
export interface DeviceRecord {
  user: string;
  deviceId: string;
  lastSeen: number;
  lastAckedPosition: number | null;
  clientVersion: string | null;
}
