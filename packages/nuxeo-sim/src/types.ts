// Public types of the simulator. These are the simulator's own domain objects (what a test reads
// back); the JSON Nuxeo serves is built from them in render.ts, the audit JSON in audit.ts.
import type { DocSnapshot } from "@drivecast/protocol";

/** A document reference: its uid, or its absolute path (`/default-domain/workspaces/ws`). */
export type DocRef = string;

export type AceStatus = "effective" | "pending" | "archived";

export interface AceInput {
  username: string;
  permission: string;
  /** Default true. */
  granted?: boolean;
  /** Forces a status; otherwise computed from begin/end against the simulator clock. */
  status?: AceStatus;
  /** epoch ms */
  begin?: number | null;
  /** epoch ms */
  end?: number | null;
}

export interface SimAce {
  /** Nuxeo's ACE id: `username:permission:granted:creator:begin:end`. */
  id: string;
  username: string;
  permission: string;
  granted: boolean;
  creator: string | null;
  begin: number | null;
  end: number | null;
  status: AceStatus;
}

export interface SimAcl {
  name: string;
  aces: SimAce[];
}

export interface SimBlob {
  name: string;
  mimeType: string;
  digestAlgorithm: "MD5";
  /** md5 hex of the content */
  digest: string;
  length: number;
}

export interface SimSubscription {
  username: string;
  enabled: boolean;
  /** epoch ms */
  lastChangeDate: number;
}

export interface SimLock {
  owner: string;
  /** epoch ms */
  created: number;
}

/** A read-only copy of one document's state. */
export interface SimDocument {
  repository: string;
  uid: string;
  /** The path segment (Nuxeo's `ecm:name`), derived from the title at creation. */
  name: string;
  path: string;
  parentUid: string | null;
  type: string;
  title: string;
  facets: string[];
  /** Lifecycle state (`project`). */
  state: string;
  isVersion: boolean;
  isProxy: boolean;
  isTrashed: boolean;
  creator: string;
  lastContributor: string;
  contributors: string[];
  /** epoch ms */
  created: number;
  /** epoch ms */
  modified: number;
  blob: SimBlob | null;
  /** The document's own ACEs (Nuxeo's `local` ACL). */
  localAces: SimAce[];
  subscriptions: SimSubscription[];
  lock: SimLock | null;
  changeToken: string;
}

export interface SimUser {
  id: string;
  /** Direct groups. */
  groups: string[];
  /** Transitive groups (Nuxeo's `extendedGroups`). */
  extendedGroups: string[];
  isAdministrator: boolean;
}

export interface SimGroup {
  name: string;
  label: string;
  /** Direct member users (Nuxeo's `memberUsers`: not transitive). */
  memberUsers: string[];
  memberGroups: string[];
  parentGroups: string[];
}

/** The acting user of a mutation (Nuxeo's `principalName`); default `Administrator`. */
export interface ActOptions {
  principal?: string;
}

export interface CreateOptions extends ActOptions {
  /** Document type; createFolder defaults to `Folder`, createFile to `File`. */
  type?: string;
  /** Adds the `HiddenInNavigation` facet. */
  hidden?: boolean;
  /** Extra facets. */
  facets?: string[];
  /** Repository of a path `parent` (default: the simulator's default repository). */
  repository?: string;
}

export interface FileOptions extends CreateOptions {
  /** Blob file name; default: the title. */
  name?: string;
  /** No content → a File without a blob (`file:content` null). */
  content?: string | Uint8Array;
  mimeType?: string;
}

export interface ModifyChanges {
  title?: string;
  /** New blob content (keeps the blob name unless `name` is given). */
  content?: string | Uint8Array;
  name?: string;
  mimeType?: string;
}

export interface UserOptions extends ActOptions {
  groups?: string[];
  /** Puts the user in the `administrators` group. */
  admin?: boolean;
  /** Basic-auth password; default: the user id. */
  password?: string;
}

export interface GroupOptions extends ActOptions {
  label?: string;
  members?: string[];
  subGroups?: string[];
}

/**
 * One audit entry, as Nuxeo's `LogEntry` holds it before it is written to the audit stream
 * (dates in epoch ms; audit.ts renders Nuxeo's JSON).
 */
export interface AuditEntry {
  eventId: string;
  category: string;
  principalName: string;
  comment: string | null;
  docLifeCycle: string | null;
  docPath: string | null;
  docType: string | null;
  docUUID: string | null;
  repositoryId: string | null;
  /** epoch ms */
  eventDate: number;
  /** epoch ms */
  logDate: number;
  extended: Record<string, string>;
}

/** One encoded stream record as Kafka gets it. */
export interface AuditRecord {
  /** The Record key (document uuid, or group name for group events). */
  key: string;
  /** The encoded Nuxeo stream `Record` (Avro single-object by default). */
  value: Uint8Array;
}

/**
 * Where the audit records of each mutation go: all records of one mutation (one Nuxeo
 * transaction) in one write, writes in mutation order, each awaited before the next.
 */
export interface AuditSink {
  /**
   * `partitionKey`: what the mutation is about (its document's uuid, or a group name); a sink
   * that partitions puts the whole write on that key's partition, as Nuxeo puts a transaction's
   * entries on one partition.
   */
  write(records: AuditRecord[], partitionKey?: string): Promise<void>;
  close(): Promise<void>;
}

/** REST endpoints, for request counting. */
export type RestEndpoint = "me" | "user" | "group" | "search" | "document" | "other";

export type RequestCounts = Record<RestEndpoint, number> & { total: number };

export interface SimulatorOptions {
  /** Default repository name (default `default`). */
  repository?: string;
  /** Clock (epoch ms); default Date.now. */
  now?: () => number;
  /** uid generator; default crypto.randomUUID. */
  newId?: () => string;
  /** Audit sink; default none (entries are still kept in `sim.auditLog`). */
  audit?: AuditSink;
  /** Stream codec (Nuxeo `nuxeo.stream.audit.log.codec`) and Record schema; default avro, 2023. */
  recordCodec?: { codec: "avro" | "avroBinary" | "avroJson"; schema?: "2023" | "2021" };
  /**
   * Nuxeo saves the root container with the audit logger disabled, so registering a root writes
   * only `rootRegistered`. Set to also write the `documentModified` of that property write
   * (what a customised Nuxeo without that flag would do), to test that the pipeline copes.
   */
  auditRootRegistrationWrite?: boolean;
  /** Audit entries kept in `sim.auditLog` (default 10 000; oldest dropped). */
  auditLogLimit?: number;
  /** Create the Nuxeo default tree (`/default-domain/workspaces|sections|templates`); default true. */
  defaultTree?: boolean;
}

export interface Simulator {
  readonly defaultRepository: string;
  /** uid of `/default-domain/workspaces` in the default repository. */
  readonly workspacesUid: string;

  // principals
  createUser(id: string, options?: UserOptions): SimUser;
  deleteUser(id: string): void;
  createGroup(name: string, options?: GroupOptions): Promise<SimGroup>;
  deleteGroup(name: string, options?: ActOptions): Promise<void>;
  addToGroup(
    group: string,
    members: { users?: string[]; groups?: string[] },
    options?: ActOptions,
  ): Promise<SimGroup>;
  removeFromGroup(
    group: string,
    members: { users?: string[]; groups?: string[] },
    options?: ActOptions,
  ): Promise<SimGroup>;
  user(id: string): SimUser | undefined;
  group(name: string): SimGroup | undefined;
  /** A token for (user, device); the same pair gets the same token. */
  tokenFor(user: string, device?: string): string;
  revokeToken(token: string): void;

  // documents
  createRepository(name: string): void;
  createDocument(
    parent: DocRef,
    type: string,
    title: string,
    options?: FileOptions,
  ): Promise<SimDocument>;
  createFolder(parent: DocRef, title: string, options?: CreateOptions): Promise<SimDocument>;
  createWorkspace(parent: DocRef, title: string, options?: CreateOptions): Promise<SimDocument>;
  createFile(parent: DocRef, title: string, options?: FileOptions): Promise<SimDocument>;
  createNote(parent: DocRef, title: string, options?: CreateOptions): Promise<SimDocument>;
  modify(ref: DocRef, changes: ModifyChanges, options?: ActOptions): Promise<SimDocument>;
  /** Drive's rename: the title, and the blob name of a file. */
  rename(ref: DocRef, title: string, options?: ActOptions): Promise<SimDocument>;
  move(ref: DocRef, newParent: DocRef, options?: ActOptions): Promise<SimDocument>;
  copy(ref: DocRef, newParent: DocRef, options?: ActOptions): Promise<SimDocument>;
  trash(ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  untrash(ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  remove(ref: DocRef, options?: ActOptions): Promise<void>;
  /** Replaces the local ACL. */
  setAces(ref: DocRef, aces: AceInput[], options?: ActOptions): Promise<SimDocument>;
  grant(
    ref: DocRef,
    username: string,
    permission: string,
    options?: ActOptions,
  ): Promise<SimDocument>;
  deny(
    ref: DocRef,
    username: string,
    permission: string,
    options?: ActOptions,
  ): Promise<SimDocument>;
  /** Removes every local ACE of `username` (Nuxeo's "remove permission"). */
  revoke(ref: DocRef, username: string, options?: ActOptions): Promise<SimDocument>;
  blockInheritance(ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  unblockInheritance(ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  lock(ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  unlock(ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  registerRoot(user: string, ref: DocRef, options?: ActOptions): Promise<SimDocument>;
  unregisterRoot(user: string, ref: DocRef, options?: ActOptions): Promise<SimDocument>;

  // lookups
  get(uid: string): SimDocument | undefined;
  byPath(path: string, repository?: string): SimDocument | undefined;
  children(ref: DocRef): SimDocument[];
  /** ACLs in evaluation order, as the `acls` enricher gives them (local, then inherited). */
  acls(ref: DocRef): SimAcl[];
  /** Nuxeo's permission check for a user (admins hold every permission). */
  can(user: string, permission: string, ref: DocRef): boolean;
  /** The user's active sync roots (uids). */
  rootsOf(user: string, repository?: string): string[];
  /**
   * The document as drivecast's domain snapshot: what `@drivecast/nuxeo` converts the REST
   * answer into for the service account. Tests compute expectations from it.
   */
  snapshot(ref: DocRef): DocSnapshot | undefined;

  // audit
  /** Recent audit entries, oldest first (bounded by `auditLogLimit`). */
  readonly auditLog: readonly AuditEntry[];
  setAuditSink(sink: AuditSink | null): void;
  /** Resolves when every audit write issued so far is done. */
  flush(): Promise<void>;

  // REST behaviour
  /** The next `n` REST requests fail with `status` (0: the connection is reset). */
  failNext(n: number, status: number): void;
  readonly requestCount: RequestCounts;
  resetRequestCount(): void;
  close(): Promise<void>;
}
