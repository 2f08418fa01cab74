// The in-memory Nuxeo repository: documents, ACLs, users, groups, tokens, Drive subscriptions.
//
// Every mutation changes state synchronously and queues the audit entries a real Nuxeo writes
// for it (spec/NUXEO.md §1, §5); the simulator drains them per mutation (`takeAudit`) so the
// entries of one mutation travel together, like the entries of one Nuxeo transaction. The
// behaviours below follow Nuxeo 2021/2023 sources, not intuition: where Nuxeo does something
// surprising (no documentModified when a root is registered, trash marking descendants, the
// blocking ACE, name mangling on collisions) the code says so.
import { createHash, randomUUID } from "node:crypto";
import { SimInvalidOperationError, SimNotFoundError, SimUnknownPrincipalError } from "./errors.js";
import { EVERYONE, EVERYTHING, evaluate } from "./permissions.js";
import type {
  AceInput,
  AceStatus,
  AuditEntry,
  SimAce,
  SimAcl,
  SimBlob,
  SimDocument,
  SimGroup,
  SimLock,
  SimSubscription,
  SimUser,
} from "./types.js";

export const ADMINISTRATOR = "Administrator";
export const ADMINISTRATORS = "administrators";
export const MEMBERS = "members";
const DOC_CATEGORY = "eventDocumentCategory";
const DRIVE_CATEGORY = "NuxeoDrive";
/** UserManagerImpl.USER_GROUP_CATEGORY */
const USER_GROUP_CATEGORY = "userGroup";
/** Nuxeo's default `nuxeo.path.segment.maxsize`. */
const PATH_SEGMENT_MAX = 24;

export const Facet = {
  Folderish: "Folderish",
  HiddenInNavigation: "HiddenInNavigation",
  DriveSynchronized: "DriveSynchronized",
} as const;

/** Facets and schemas of the types the simulator knows (Nuxeo's default types). */
const TYPES: Record<string, { facets: string[]; file: boolean }> = {
  Root: { facets: ["Folderish", "NotCollectionMember"], file: false },
  Domain: { facets: ["SuperSpace", "Folderish", "NotCollectionMember"], file: false },
  WorkspaceRoot: { facets: ["Folderish", "HiddenInCreation", "NotCollectionMember"], file: false },
  SectionRoot: { facets: ["Folderish", "HiddenInCreation", "NotCollectionMember"], file: false },
  TemplateRoot: { facets: ["Folderish", "HiddenInCreation", "NotCollectionMember"], file: false },
  Workspace: { facets: ["SuperSpace", "Folderish", "NotCollectionMember"], file: false },
  Folder: { facets: ["Folderish", "NXTag"], file: false },
  OrderedFolder: { facets: ["Folderish", "Orderable", "NXTag"], file: false },
  File: {
    facets: [
      "Downloadable",
      "Commentable",
      "Versionable",
      "Publishable",
      "NXTag",
      "HasRelatedText",
    ],
    file: true,
  },
  Picture: {
    facets: ["Picture", "Downloadable", "Commentable", "Versionable", "Publishable", "NXTag"],
    file: true,
  },
  Note: {
    facets: ["Commentable", "Versionable", "Publishable", "NXTag", "HasRelatedText"],
    file: false,
  },
};

interface StoredAce {
  username: string;
  permission: string;
  granted: boolean;
  creator: string | null;
  begin: number | null;
  end: number | null;
  forcedStatus: AceStatus | null;
}

interface StoredBlob extends SimBlob {
  data: Uint8Array;
}

/** Internal mutable state of one document. */
export interface DocState {
  repository: string;
  uid: string;
  name: string;
  path: string;
  parentUid: string | null;
  children: string[];
  type: string;
  title: string;
  facets: string[];
  hasFileSchema: boolean;
  state: string;
  isVersion: boolean;
  isProxy: boolean;
  isTrashed: boolean;
  creator: string;
  lastContributor: string;
  contributors: string[];
  created: number;
  modified: number;
  blob: StoredBlob | null;
  localAces: StoredAce[];
  subscriptions: SimSubscription[];
  lock: SimLock | null;
  changeCounter: number;
}

interface UserState {
  id: string;
  password: string;
}

interface GroupState {
  name: string;
  label: string;
  users: Set<string>;
  subGroups: Set<string>;
}

export interface RepositoryOptions {
  defaultRepository: string;
  now: () => number;
  newId: () => string;
  defaultTree: boolean;
  auditRootRegistrationWrite: boolean;
}

export function md5Hex(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

function toBytes(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? new TextEncoder().encode(content) : content;
}

function guessMimeType(name: string): string {
  const ext = name.slice(name.lastIndexOf(".") + 1).toLowerCase();
  const known: Record<string, string> = {
    txt: "text/plain",
    md: "text/markdown",
    html: "text/html",
    json: "application/json",
    pdf: "application/pdf",
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  };
  return known[ext] ?? "application/octet-stream";
}

export class Repository {
  readonly defaultRepository: string;
  private readonly docs = new Map<string, DocState>();
  /** `<repo>\0<path>` → uid */
  private readonly pathIndex = new Map<string, string>();
  private readonly roots = new Map<string, string>();
  private readonly users = new Map<string, UserState>();
  private readonly groups = new Map<string, GroupState>();
  private readonly tokens = new Map<string, { user: string; device: string }>();
  private readonly tokenByDevice = new Map<string, string>();
  private readonly extendedCache = new Map<string, string[]>();
  private pending: AuditEntry[] = [];
  /** The key of the document (or group) a multi-entry mutation is about, for partitioning. */
  private subject: string | null = null;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly auditRootRegistrationWrite: boolean;
  /** Nuxeo appends `.` + currentTimeMillis on a name collision; keep it unique within one ms. */
  private lastMangle = 0;

  constructor(options: RepositoryOptions) {
    this.defaultRepository = options.defaultRepository;
    this.now = options.now;
    this.newId = options.newId;
    this.auditRootRegistrationWrite = options.auditRootRegistrationWrite;
    this.createGroupState(ADMINISTRATORS, "Administrators group");
    this.createGroupState(MEMBERS, "Members group");
    this.createUser(ADMINISTRATOR, { groups: [ADMINISTRATORS], password: ADMINISTRATOR });
    this.createRepository(this.defaultRepository, options.defaultTree);
  }

  // ---------------------------------------------------------------- audit

  /**
   * The entries queued by the mutations since the last call, oldest first, and the key of what
   * the mutation was about (null: its first entry's).
   */
  takeAudit(): { entries: AuditEntry[]; subject: string | null } {
    const out = { entries: this.pending, subject: this.subject };
    this.pending = [];
    this.subject = null;
    return out;
  }

  private docEntry(
    eventId: string,
    doc: DocState,
    principal: string,
    extra: { comment?: string | null; category?: string; extended?: Record<string, string> } = {},
  ): void {
    const t = this.now();
    this.pending.push({
      eventId,
      category: extra.category ?? DOC_CATEGORY,
      principalName: principal,
      comment: extra.comment ?? null,
      docLifeCycle: doc.state,
      docPath: doc.path,
      docType: doc.type,
      docUUID: doc.uid,
      repositoryId: doc.repository,
      eventDate: t,
      logDate: t,
      extended: extra.extended ?? {},
    });
  }

  private groupEntry(eventId: string, group: string, principal: string): void {
    const t = this.now();
    this.pending.push({
      eventId,
      category: USER_GROUP_CATEGORY,
      principalName: principal,
      comment: null,
      docLifeCycle: null,
      docPath: null,
      docType: null,
      docUUID: null,
      repositoryId: null,
      eventDate: t,
      logDate: t,
      extended: { id: group },
    });
  }

  // ---------------------------------------------------------------- principals

  private createGroupState(name: string, label: string): GroupState {
    const g: GroupState = { name, label, users: new Set(), subGroups: new Set() };
    this.groups.set(name, g);
    return g;
  }

  createUser(
    id: string,
    options: { groups?: string[]; admin?: boolean; password?: string },
  ): SimUser {
    if (this.users.has(id)) throw new SimInvalidOperationError(`user ${id} already exists`);
    const groups = [...(options.groups ?? [])];
    if (options.admin && !groups.includes(ADMINISTRATORS)) groups.push(ADMINISTRATORS);
    for (const g of groups) if (!this.groups.has(g)) throw new SimUnknownPrincipalError("group", g);
    this.users.set(id, { id, password: options.password ?? id });
    for (const g of groups) this.groups.get(g)?.users.add(id);
    this.extendedCache.clear();
    return this.userView(id) as SimUser;
  }

  deleteUser(id: string): void {
    if (!this.users.delete(id)) throw new SimUnknownPrincipalError("user", id);
    for (const g of this.groups.values()) g.users.delete(id);
    for (const [token, t] of this.tokens) if (t.user === id) this.revokeToken(token);
    this.extendedCache.clear();
  }

  hasUser(id: string): boolean {
    return this.users.has(id);
  }

  checkPassword(user: string, password: string): boolean {
    return this.users.get(user)?.password === password;
  }

  createGroup(
    name: string,
    options: { label?: string; members?: string[]; subGroups?: string[] },
    principal: string,
  ): SimGroup {
    if (this.groups.has(name)) throw new SimInvalidOperationError(`group ${name} already exists`);
    for (const u of options.members ?? [])
      if (!this.users.has(u)) throw new SimUnknownPrincipalError("user", u);
    for (const s of options.subGroups ?? [])
      if (!this.groups.has(s)) throw new SimUnknownPrincipalError("group", s);
    const g = this.createGroupState(name, options.label ?? name);
    for (const u of options.members ?? []) g.users.add(u);
    for (const s of options.subGroups ?? []) g.subGroups.add(s);
    this.extendedCache.clear();
    this.groupEntry("group_created", name, principal);
    return this.groupView(name) as SimGroup;
  }

  deleteGroup(name: string, principal: string): void {
    if (!this.groups.delete(name)) throw new SimUnknownPrincipalError("group", name);
    for (const g of this.groups.values()) g.subGroups.delete(name);
    this.extendedCache.clear();
    this.groupEntry("group_deleted", name, principal);
  }

  changeGroup(
    name: string,
    add: boolean,
    members: { users?: string[]; groups?: string[] },
    principal: string,
  ): SimGroup {
    const g = this.groups.get(name);
    if (g === undefined) throw new SimUnknownPrincipalError("group", name);
    for (const u of members.users ?? []) {
      if (add && !this.users.has(u)) throw new SimUnknownPrincipalError("user", u);
    }
    for (const s of members.groups ?? []) {
      if (add && !this.groups.has(s)) throw new SimUnknownPrincipalError("group", s);
      if (add && (s === name || this.groupAncestors(name).has(s)))
        throw new SimInvalidOperationError(`adding ${s} to ${name} would make a group cycle`);
    }
    for (const u of members.users ?? []) {
      if (add) g.users.add(u);
      else g.users.delete(u);
    }
    for (const s of members.groups ?? []) {
      if (add) g.subGroups.add(s);
      else g.subGroups.delete(s);
    }
    this.extendedCache.clear();
    this.groupEntry("group_modified", name, principal);
    return this.groupView(name) as SimGroup;
  }

  /** Groups that contain `group`, transitively. */
  private groupAncestors(group: string): Set<string> {
    const out = new Set<string>();
    const stack = [group];
    while (stack.length > 0) {
      const cur = stack.pop() as string;
      for (const g of this.groups.values()) {
        if (g.subGroups.has(cur) && !out.has(g.name)) {
          out.add(g.name);
          stack.push(g.name);
        }
      }
    }
    return out;
  }

  directGroups(user: string): string[] {
    const out: string[] = [];
    for (const g of this.groups.values()) if (g.users.has(user)) out.push(g.name);
    return out;
  }

  /** Nuxeo's `extendedGroups`: direct groups and every group containing them, transitively. */
  extendedGroups(user: string): string[] {
    const cached = this.extendedCache.get(user);
    if (cached !== undefined) return cached;
    const out = new Set<string>();
    for (const g of this.directGroups(user)) {
      out.add(g);
      for (const a of this.groupAncestors(g)) out.add(a);
    }
    const list = [...out];
    this.extendedCache.set(user, list);
    return list;
  }

  isAdministrator(user: string): boolean {
    return this.extendedGroups(user).includes(ADMINISTRATORS);
  }

  principalsOf(user: string): Set<string> {
    return new Set([user, ...this.extendedGroups(user), EVERYONE]);
  }

  userView(id: string): SimUser | undefined {
    if (!this.users.has(id)) return undefined;
    return {
      id,
      groups: this.directGroups(id),
      extendedGroups: [...this.extendedGroups(id)],
      isAdministrator: this.isAdministrator(id),
    };
  }

  groupView(name: string): SimGroup | undefined {
    const g = this.groups.get(name);
    if (g === undefined) return undefined;
    const parents: string[] = [];
    for (const p of this.groups.values()) if (p.subGroups.has(name)) parents.push(p.name);
    return {
      name,
      label: g.label,
      memberUsers: [...g.users],
      memberGroups: [...g.subGroups],
      parentGroups: parents,
    };
  }

  tokenFor(user: string, device: string): string {
    if (!this.users.has(user)) throw new SimUnknownPrincipalError("user", user);
    const key = `${user}\u0000${device}`;
    const existing = this.tokenByDevice.get(key);
    if (existing !== undefined) return existing;
    const token = randomUUID();
    this.tokens.set(token, { user, device });
    this.tokenByDevice.set(key, token);
    return token;
  }

  revokeToken(token: string): void {
    const t = this.tokens.get(token);
    if (t === undefined) return;
    this.tokens.delete(token);
    this.tokenByDevice.delete(`${t.user}\u0000${t.device}`);
  }

  userForToken(token: string): string | undefined {
    return this.tokens.get(token)?.user;
  }

  // ---------------------------------------------------------------- lookups

  createRepository(name: string, defaultTree = true): void {
    if (this.roots.has(name)) throw new SimInvalidOperationError(`repository ${name} exists`);
    const t = this.now();
    const root = this.newDoc(name, null, "", "Root", "", "system", t);
    // DBSRepositoryBase.initRoot: administrators and Administrator get Everything, members Read.
    root.localAces = [
      this.storedAce({ username: ADMINISTRATORS, permission: EVERYTHING }, "system"),
      this.storedAce({ username: ADMINISTRATOR, permission: EVERYTHING }, "system"),
      this.storedAce({ username: MEMBERS, permission: "Read" }, "system"),
    ];
    this.roots.set(name, root.uid);
    if (defaultTree) {
      const domain = this.newDoc(name, root, "default-domain", "Domain", "Domain", "system", t);
      this.newDoc(name, domain, "workspaces", "WorkspaceRoot", "Workspaces", "system", t);
      this.newDoc(name, domain, "sections", "SectionRoot", "Sections", "system", t);
      this.newDoc(name, domain, "templates", "TemplateRoot", "Templates", "system", t);
    }
  }

  hasRepository(name: string): boolean {
    return this.roots.has(name);
  }

  rootOf(repository: string): DocState {
    const uid = this.roots.get(repository);
    if (uid === undefined) throw new SimNotFoundError(`repository ${repository}`);
    return this.docs.get(uid) as DocState;
  }

  find(ref: string, repository = this.defaultRepository): DocState | undefined {
    if (ref.startsWith("/")) {
      const normalized = ref.length > 1 && ref.endsWith("/") ? ref.slice(0, -1) : ref;
      const uid = this.pathIndex.get(`${repository}\u0000${normalized}`);
      return uid === undefined ? undefined : this.docs.get(uid);
    }
    return this.docs.get(ref);
  }

  resolve(ref: string, repository?: string): DocState {
    const doc = this.find(ref, repository);
    if (doc === undefined) throw new SimNotFoundError(ref);
    return doc;
  }

  parentOf(doc: DocState): DocState | undefined {
    return doc.parentUid === null ? undefined : this.docs.get(doc.parentUid);
  }

  childrenOf(doc: DocState): DocState[] {
    return doc.children.map((c) => this.docs.get(c) as DocState);
  }

  /** Ancestors top-down from the repository root (included) to the parent. */
  ancestorsOf(doc: DocState): DocState[] {
    const out: DocState[] = [];
    for (let p = this.parentOf(doc); p !== undefined; p = this.parentOf(p)) out.push(p);
    return out.reverse();
  }

  /** The document and all its descendants, parents before children. */
  subtree(doc: DocState): DocState[] {
    const out: DocState[] = [];
    const stack = [doc];
    while (stack.length > 0) {
      const d = stack.pop() as DocState;
      out.push(d);
      for (let i = d.children.length - 1; i >= 0; i--)
        stack.push(this.docs.get(d.children[i] as string) as DocState);
    }
    return out;
  }

  /** Every live document, in creation order. */
  all(): IterableIterator<DocState> {
    return this.docs.values();
  }

  view(doc: DocState): SimDocument {
    return {
      repository: doc.repository,
      uid: doc.uid,
      name: doc.name,
      path: doc.path,
      parentUid: doc.parentUid,
      type: doc.type,
      title: doc.title,
      facets: [...doc.facets],
      state: doc.state,
      isVersion: doc.isVersion,
      isProxy: doc.isProxy,
      isTrashed: doc.isTrashed,
      creator: doc.creator,
      lastContributor: doc.lastContributor,
      contributors: [...doc.contributors],
      created: doc.created,
      modified: doc.modified,
      blob:
        doc.blob === null
          ? null
          : {
              name: doc.blob.name,
              mimeType: doc.blob.mimeType,
              digestAlgorithm: doc.blob.digestAlgorithm,
              digest: doc.blob.digest,
              length: doc.blob.length,
            },
      localAces: this.localAcl(doc),
      subscriptions: doc.subscriptions.map((s) => ({ ...s })),
      lock: doc.lock === null ? null : { ...doc.lock },
      changeToken: this.changeToken(doc),
    };
  }

  blobData(doc: DocState): Uint8Array | null {
    return doc.blob?.data ?? null;
  }

  /** Nuxeo's `changeToken`: `<system change token>-<user change token>`. */
  changeToken(doc: DocState): string {
    return `${doc.changeCounter}-0`;
  }

  // ---------------------------------------------------------------- security

  private aceStatus(ace: StoredAce): AceStatus {
    if (ace.forcedStatus !== null) return ace.forcedStatus;
    const t = this.now();
    if (ace.begin !== null && ace.begin > t) return "pending";
    if (ace.end !== null && ace.end < t) return "archived";
    return "effective";
  }

  private toSimAce(ace: StoredAce): SimAce {
    return {
      id: `${ace.username}:${ace.permission}:${ace.granted}:${ace.creator ?? ""}:${ace.begin ?? ""}:${ace.end ?? ""}`,
      username: ace.username,
      permission: ace.permission,
      granted: ace.granted,
      creator: ace.creator,
      begin: ace.begin,
      end: ace.end,
      status: this.aceStatus(ace),
    };
  }

  localAcl(doc: DocState): SimAce[] {
    return doc.localAces.map((a) => this.toSimAce(a));
  }

  /**
   * ACPImpl.getAccess(Everyone, Everything) == DENY: the first effective ACE for exactly
   * Everyone/Everything is a deny. That is how Nuxeo marks "inheritance blocked".
   */
  private blocksInheritance(doc: DocState): boolean {
    for (const ace of doc.localAces) {
      if (ace.username !== EVERYONE || ace.permission !== EVERYTHING) continue;
      if (this.aceStatus(ace) !== "effective") continue;
      return !ace.granted;
    }
    return false;
  }

  /**
   * SecurityService.getMergedACP: the local ACL, then (unless the document itself blocks) the
   * `inherited` ACL made of each ancestor's ACEs, parent first, stopping after an ancestor that
   * blocks. Empty ACLs are left out, as Nuxeo's ACP holds none.
   */
  acls(doc: DocState): SimAcl[] {
    const out: SimAcl[] = [];
    if (doc.localAces.length > 0) out.push({ name: "local", aces: this.localAcl(doc) });
    if (!this.blocksInheritance(doc)) {
      const inherited: SimAce[] = [];
      for (let p = this.parentOf(doc); p !== undefined; p = this.parentOf(p)) {
        for (const a of p.localAces) inherited.push(this.toSimAce(a));
        if (this.blocksInheritance(p)) break;
      }
      if (inherited.length > 0) out.push({ name: "inherited", aces: inherited });
    }
    return out;
  }

  can(user: string, permission: string, doc: DocState): boolean {
    if (this.users.has(user) && this.isAdministrator(user)) return true;
    const aces = this.acls(doc).flatMap((acl) => acl.aces);
    return evaluate(this.principalsOf(user), permission, aces);
  }

  private storedAce(input: AceInput, creator: string | null): StoredAce {
    return {
      username: input.username,
      permission: input.permission,
      granted: input.granted ?? true,
      creator,
      begin: input.begin ?? null,
      end: input.end ?? null,
      forcedStatus: input.status ?? null,
    };
  }

  // ---------------------------------------------------------------- documents

  private newDoc(
    repository: string,
    parent: DocState | null,
    name: string,
    type: string,
    title: string,
    principal: string,
    t: number,
  ): DocState {
    const spec = TYPES[type];
    const doc: DocState = {
      repository,
      uid: this.newId(),
      name,
      path: parent === null ? "/" : parent.path === "/" ? `/${name}` : `${parent.path}/${name}`,
      parentUid: parent?.uid ?? null,
      children: [],
      type,
      title,
      facets: [...(spec?.facets ?? ["Folderish"])],
      hasFileSchema: spec?.file ?? false,
      state: "project",
      isVersion: false,
      isProxy: false,
      isTrashed: false,
      creator: principal,
      lastContributor: principal,
      contributors: [principal],
      created: t,
      modified: t,
      blob: null,
      localAces: [],
      subscriptions: [],
      lock: null,
      changeCounter: 0,
    };
    this.docs.set(doc.uid, doc);
    this.pathIndex.set(`${repository}\u0000${doc.path}`, doc.uid);
    parent?.children.push(doc.uid);
    return doc;
  }

  private requireFolderish(doc: DocState): void {
    if (!doc.facets.includes(Facet.Folderish))
      throw new SimInvalidOperationError(
        `${doc.path} (${doc.type}) is not folderish: it cannot hold children`,
      );
  }

  /**
   * PathSegmentServiceDefault + CoreSession name generation: the title trimmed, cut at 24
   * characters, `/` and `\` replaced by `-`, a random id when nothing usable is left, and on a
   * collision with a sibling `.` + currentTimeMillis appended.
   */
  private childName(parent: DocState, title: string, exclude?: DocState): string {
    let s = title.trim();
    if (s.length > PATH_SEGMENT_MAX) s = s.slice(0, PATH_SEGMENT_MAX).trim();
    s = s.replace(/[/\\]/g, "-");
    if (/^[- .,;?!:/\\'"]*$/.test(s)) s = this.newId().replace(/-/g, "").slice(0, 16);
    const taken = (n: string) =>
      parent.children.some((c) => c !== exclude?.uid && this.docs.get(c)?.name === n);
    if (!taken(s)) return s;
    let stamp = Math.max(this.now(), this.lastMangle + 1);
    while (taken(`${s}.${stamp}`)) stamp++;
    this.lastMangle = stamp;
    return `${s}.${stamp}`;
  }

  private touch(doc: DocState, principal: string, t = this.now()): void {
    doc.modified = t;
    doc.lastContributor = principal;
    if (!doc.contributors.includes(principal)) doc.contributors.push(principal);
    doc.changeCounter++;
  }

  private makeBlob(
    content: string | Uint8Array,
    name: string,
    mimeType: string | undefined,
  ): StoredBlob {
    const data = toBytes(content);
    return {
      name,
      mimeType: mimeType ?? guessMimeType(name),
      digestAlgorithm: "MD5",
      digest: md5Hex(data),
      length: data.byteLength,
      data,
    };
  }

  createDocument(
    parentRef: string,
    type: string,
    title: string,
    options: {
      repository?: string;
      hidden?: boolean;
      facets?: string[];
      name?: string;
      content?: string | Uint8Array;
      mimeType?: string;
    },
    principal: string,
  ): DocState {
    const parent = this.resolve(parentRef, options.repository);
    this.requireFolderish(parent);
    const doc = this.newDoc(
      parent.repository,
      parent,
      this.childName(parent, title),
      type,
      title,
      principal,
      this.now(),
    );
    for (const f of options.facets ?? []) if (!doc.facets.includes(f)) doc.facets.push(f);
    if (options.hidden && !doc.facets.includes(Facet.HiddenInNavigation))
      doc.facets.push(Facet.HiddenInNavigation);
    if (options.content !== undefined) {
      doc.hasFileSchema = true;
      doc.blob = this.makeBlob(options.content, options.name ?? title, options.mimeType);
    }
    this.docEntry("documentCreated", doc, principal);
    return doc;
  }

  modify(
    ref: string,
    changes: { title?: string; content?: string | Uint8Array; name?: string; mimeType?: string },
    principal: string,
  ): DocState {
    const doc = this.resolve(ref);
    if (changes.title !== undefined) doc.title = changes.title;
    if (changes.content !== undefined) {
      doc.hasFileSchema = true;
      doc.blob = this.makeBlob(
        changes.content,
        changes.name ?? doc.blob?.name ?? doc.title,
        changes.mimeType ?? doc.blob?.mimeType,
      );
    } else if (
      doc.blob !== null &&
      (changes.name !== undefined || changes.mimeType !== undefined)
    ) {
      doc.blob = {
        ...doc.blob,
        name: changes.name ?? doc.blob.name,
        mimeType: changes.mimeType ?? doc.blob.mimeType,
      };
    }
    this.touch(doc, principal);
    this.docEntry("documentModified", doc, principal);
    return doc;
  }

  /** Drive's DocumentBackedFileItem.rename: the blob's file name for a file, plus the title. */
  rename(ref: string, title: string, principal: string): DocState {
    const doc = this.resolve(ref);
    return this.modify(doc.uid, doc.blob === null ? { title } : { title, name: title }, principal);
  }

  private reindexSubtree(doc: DocState, newPath: string): void {
    for (const d of this.subtree(doc)) this.pathIndex.delete(`${d.repository}\u0000${d.path}`);
    const oldPrefix = doc.path;
    for (const d of this.subtree(doc)) {
      d.path = d === doc ? newPath : newPath + d.path.slice(oldPrefix.length);
      this.pathIndex.set(`${d.repository}\u0000${d.path}`, d.uid);
    }
  }

  move(ref: string, newParentRef: string, principal: string): DocState {
    const doc = this.resolve(ref);
    const target = this.resolve(newParentRef, doc.repository);
    if (doc.parentUid === null)
      throw new SimInvalidOperationError("the repository root cannot move");
    if (target.repository !== doc.repository)
      throw new SimInvalidOperationError("a document cannot move to another repository");
    this.requireFolderish(target);
    if (target === doc || target.path.startsWith(doc.path + "/"))
      throw new SimInvalidOperationError(`cannot move ${doc.path} under itself (${target.path})`);
    const oldParent = this.parentOf(doc) as DocState;
    const name = oldParent === target ? doc.name : this.childName(target, doc.name, doc);
    oldParent.children = oldParent.children.filter((c) => c !== doc.uid);
    target.children.push(doc.uid);
    doc.parentUid = target.uid;
    doc.name = name;
    this.reindexSubtree(doc, target.path === "/" ? `/${name}` : `${target.path}/${name}`);
    doc.changeCounter++;
    this.docEntry("documentMoved", doc, principal, {
      comment: `${doc.repository}:${oldParent.uid}`,
    });
    return doc;
  }

  /**
   * CoreSession.copy: a new subtree with new uids; `documentCreatedByCopy` on the copy and
   * `documentDuplicated` on the source. Drive's copy listener strips the sync root state from
   * copies (the copy is not a sync root of anyone); locks are not copied.
   */
  copy(ref: string, newParentRef: string, principal: string): DocState {
    const source = this.resolve(ref);
    const target = this.resolve(newParentRef, source.repository);
    this.requireFolderish(target);
    if (target === source || target.path.startsWith(source.path + "/"))
      throw new SimInvalidOperationError(`cannot copy ${source.path} under itself`);
    const t = this.now();
    const copyOne = (src: DocState, parent: DocState, name: string): DocState => {
      const d = this.newDoc(src.repository, parent, name, src.type, src.title, principal, t);
      d.facets = src.facets.filter((f) => f !== Facet.DriveSynchronized);
      d.hasFileSchema = src.hasFileSchema;
      d.blob = src.blob === null ? null : { ...src.blob };
      d.localAces = src.localAces.map((a) => ({ ...a }));
      for (const c of this.childrenOf(src)) copyOne(c, d, c.name);
      return d;
    };
    const copy = copyOne(source, target, this.childName(target, source.name));
    // AbstractSession.copy: each entry's comment names the other document.
    this.docEntry("documentCreatedByCopy", copy, principal, {
      comment: `${source.repository}:${source.uid}`,
    });
    this.docEntry("documentDuplicated", source, principal, {
      comment: `${copy.repository}:${copy.uid}`,
    });
    this.subject = copy.uid;
    return copy;
  }

  /**
   * Trash (PropertyTrashService, 2021+): `ecm:isTrashed` set on the document, `documentTrashed`
   * for it alone; the bulk trash action then flags its descendants without audit entries. The
   * name mangling Nuxeo applies to trashed documents is not reproduced (paths stay the same).
   */
  trash(ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    if (doc.parentUid === null)
      throw new SimInvalidOperationError("the repository root cannot be trashed");
    if (doc.isTrashed) return doc;
    for (const d of this.subtree(doc)) {
      d.isTrashed = true;
      d.changeCounter++;
    }
    this.docEntry("documentTrashed", doc, principal);
    return doc;
  }

  /** Untrash restores trashed ancestors first (each with its own entry), then the subtree. */
  untrash(ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    for (const a of this.ancestorsOf(doc)) {
      if (a.isTrashed) {
        a.isTrashed = false;
        a.changeCounter++;
        this.docEntry("documentUntrashed", a, principal);
      }
    }
    this.subject = doc.uid;
    if (!doc.isTrashed) return doc;
    for (const d of this.subtree(doc)) {
      d.isTrashed = false;
      d.changeCounter++;
    }
    this.docEntry("documentUntrashed", doc, principal);
    return doc;
  }

  remove(ref: string, principal: string): void {
    const doc = this.resolve(ref);
    const parent = this.parentOf(doc);
    if (parent === undefined)
      throw new SimInvalidOperationError("the repository root cannot be removed");
    // The entry describes the document as it was (path, lifecycle) when it was removed.
    this.docEntry("documentRemoved", doc, principal);
    for (const d of this.subtree(doc)) {
      this.docs.delete(d.uid);
      this.pathIndex.delete(`${d.repository}\u0000${d.path}`);
    }
    parent.children = parent.children.filter((c) => c !== doc.uid);
  }

  setAces(ref: string, aces: AceInput[], principal: string): DocState {
    const doc = this.resolve(ref);
    doc.localAces = aces.map((a) => this.storedAce(a, principal));
    doc.changeCounter++;
    this.docEntry("documentSecurityUpdated", doc, principal);
    return doc;
  }

  /**
   * Adds one ACE the way Nuxeo's "add permission" does: before the blocking ACE when there is
   * one (so it takes effect), else at the end.
   */
  addAce(ref: string, ace: AceInput, principal: string): DocState {
    const doc = this.resolve(ref);
    const stored = this.storedAce(ace, principal);
    const blockAt = doc.localAces.findIndex(
      (a) => a.username === EVERYONE && a.permission === EVERYTHING && !a.granted,
    );
    if (blockAt >= 0) doc.localAces.splice(blockAt, 0, stored);
    else doc.localAces.push(stored);
    doc.changeCounter++;
    this.docEntry("documentSecurityUpdated", doc, principal);
    return doc;
  }

  revoke(ref: string, username: string, principal: string): DocState {
    const doc = this.resolve(ref);
    doc.localAces = doc.localAces.filter((a) => a.username !== username);
    doc.changeCounter++;
    this.docEntry("documentSecurityUpdated", doc, principal);
    return doc;
  }

  /**
   * ACPImpl.blockInheritance: Nuxeo first grants Everything to the acting user (so they keep
   * access), then appends the blocking ACE `Everyone`/`Everything`/denied at the end.
   */
  blockInheritance(ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    if (this.blocksInheritance(doc)) return doc;
    if (
      !doc.localAces.some(
        (a) => a.username === principal && a.permission === EVERYTHING && a.granted,
      )
    )
      doc.localAces.push(
        this.storedAce({ username: principal, permission: EVERYTHING }, principal),
      );
    doc.localAces.push(
      this.storedAce({ username: EVERYONE, permission: EVERYTHING, granted: false }, principal),
    );
    doc.changeCounter++;
    this.docEntry("documentSecurityUpdated", doc, principal);
    return doc;
  }

  unblockInheritance(ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    doc.localAces = doc.localAces.filter(
      (a) => !(a.username === EVERYONE && a.permission === EVERYTHING && !a.granted),
    );
    doc.changeCounter++;
    this.docEntry("documentSecurityUpdated", doc, principal);
    return doc;
  }

  lock(ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    if (doc.lock !== null) {
      if (doc.lock.owner === principal) return doc;
      throw new SimInvalidOperationError(`${doc.path} is already locked by ${doc.lock.owner}`);
    }
    doc.lock = { owner: principal, created: this.now() };
    this.docEntry("documentLocked", doc, principal);
    return doc;
  }

  unlock(ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    if (doc.lock === null) return doc;
    doc.lock = null;
    this.docEntry("documentUnlocked", doc, principal);
    return doc;
  }

  // ---------------------------------------------------------------- Drive sync roots

  /** Active roots of a user: enabled subscription, not trashed, not a version (spec §3). */
  rootsOf(user: string, repository?: string): DocState[] {
    const out: DocState[] = [];
    for (const d of this.docs.values()) {
      if (repository !== undefined && d.repository !== repository) continue;
      if (d.isTrashed || d.isVersion) continue;
      if (d.subscriptions.some((s) => s.username === user && s.enabled)) out.push(d);
    }
    return out;
  }

  /**
   * NuxeoDriveManagerImpl.registerSynchronizationRoot: ignored when the document lies under one
   * of the user's roots (unless the user cannot read some folder in between); registering a
   * folder unregisters the user's roots beneath it first. The subscription write is saved with
   * the audit logger disabled, so only `rootRegistered` is logged (category NuxeoDrive,
   * `impactedUserName` = the user), unless `auditRootRegistrationWrite` asks for the
   * `documentModified` too.
   */
  registerRoot(user: string, ref: string, principal: string): DocState {
    if (!this.users.has(user)) throw new SimUnknownPrincipalError("user", user);
    const doc = this.resolve(ref);
    this.requireFolderish(doc);
    const roots = this.rootsOf(user, doc.repository);
    for (const r of roots) {
      if (r === doc || !doc.path.startsWith(r.path + "/")) continue;
      let blocked = false;
      for (let p = this.parentOf(doc); p !== undefined && p !== r; p = this.parentOf(p)) {
        if (!this.can(user, "Read", p)) {
          blocked = true;
          break;
        }
      }
      if (!blocked) return doc;
    }
    for (const r of roots)
      if (r.path.startsWith(doc.path + "/")) this.unregisterRoot(user, r.uid, principal);
    if (!doc.facets.includes(Facet.DriveSynchronized)) doc.facets.push(Facet.DriveSynchronized);
    const t = this.now();
    const existing = doc.subscriptions.find((s) => s.username === user);
    if (existing !== undefined) {
      existing.enabled = true;
      existing.lastChangeDate = t;
    } else {
      doc.subscriptions.push({ username: user, enabled: true, lastChangeDate: t });
    }
    this.touch(doc, principal, t);
    if (this.auditRootRegistrationWrite) this.docEntry("documentModified", doc, principal);
    this.docEntry("rootRegistered", doc, principal, {
      category: DRIVE_CATEGORY,
      extended: { impactedUserName: user },
    });
    this.subject = doc.uid;
    return doc;
  }

  unregisterRoot(user: string, ref: string, principal: string): DocState {
    const doc = this.resolve(ref);
    if (!doc.facets.includes(Facet.DriveSynchronized)) doc.facets.push(Facet.DriveSynchronized);
    const t = this.now();
    const existing = doc.subscriptions.find((s) => s.username === user);
    if (existing !== undefined) {
      existing.enabled = false;
      existing.lastChangeDate = t;
    }
    this.touch(doc, principal, t);
    if (this.auditRootRegistrationWrite) this.docEntry("documentModified", doc, principal);
    this.docEntry("rootUnregistered", doc, principal, {
      category: DRIVE_CATEGORY,
      extended: { impactedUserName: user },
    });
    return doc;
  }
}
