// The simulator: the repository model, its audit output and the knobs tests turn (failure
// injection, request counters). Mutations change state at once and resolve when their audit
// records are written; the records of consecutive mutations are written in call order, one
// write per mutation (one Nuxeo transaction).
import { randomUUID } from "node:crypto";
import type { DocSnapshot } from "@drivecast/protocol";
import { encodeAuditEntries } from "./audit.js";
import type { RecordEncoding, WatermarkClock } from "./audit.js";
import { ADMINISTRATOR, Repository } from "./repository.js";
import type { DocState } from "./repository.js";
import type {
  AceInput,
  ActOptions,
  AuditEntry,
  AuditRecord,
  AuditSink,
  CreateOptions,
  DocRef,
  FileOptions,
  GroupOptions,
  ModifyChanges,
  RequestCounts,
  RestEndpoint,
  SimAcl,
  SimDocument,
  SimGroup,
  SimUser,
  Simulator,
  SimulatorOptions,
  UserOptions,
} from "./types.js";

/** What the REST layer needs beyond the public API. */
export interface SimInternals {
  repo: Repository;
  /** Consumes one injected failure: the status to answer with, or null. */
  takeFailure(): number | null;
  count(endpoint: RestEndpoint): void;
}

const internalsOf = new WeakMap<Simulator, SimInternals>();

export function simInternals(sim: Simulator): SimInternals {
  const i = internalsOf.get(sim);
  if (i === undefined) throw new TypeError("not a simulator created by createSimulator()");
  return i;
}

const emptyCounts = (): RequestCounts => ({
  me: 0,
  user: 0,
  group: 0,
  search: 0,
  document: 0,
  other: 0,
  total: 0,
});

class SimulatorImpl implements Simulator {
  readonly defaultRepository: string;
  readonly workspacesUid: string;
  private readonly repo: Repository;
  private sink: AuditSink | null;
  private chain: Promise<void> = Promise.resolve();
  private readonly log: AuditEntry[] = [];
  private readonly logLimit: number;
  private readonly codec: RecordEncoding;
  private readonly clock: WatermarkClock = { lastMs: 0, seq: 0 };
  private failures: { remaining: number; status: number } = { remaining: 0, status: 0 };
  private counts = emptyCounts();

  constructor(options: SimulatorOptions) {
    this.defaultRepository = options.repository ?? "default";
    this.repo = new Repository({
      defaultRepository: this.defaultRepository,
      now: options.now ?? Date.now,
      newId: options.newId ?? randomUUID,
      defaultTree: options.defaultTree ?? true,
      auditRootRegistrationWrite: options.auditRootRegistrationWrite ?? false,
    });
    this.workspacesUid =
      this.repo.find("/default-domain/workspaces")?.uid ??
      this.repo.rootOf(this.defaultRepository).uid;
    this.sink = options.audit ?? null;
    this.logLimit = options.auditLogLimit ?? 10_000;
    this.codec = options.recordCodec ?? { codec: "avro", schema: "2023" };
    internalsOf.set(this, {
      repo: this.repo,
      takeFailure: () => {
        if (this.failures.remaining <= 0) return null;
        this.failures.remaining--;
        return this.failures.status;
      },
      count: (endpoint) => {
        this.counts[endpoint]++;
        this.counts.total++;
      },
    });
  }

  /** Runs one mutation, then hands its audit records to the sink, after earlier ones. */
  private commit<T>(mutation: () => T): Promise<T> {
    let result: T;
    try {
      result = mutation();
    } catch (err) {
      this.repo.takeAudit();
      return Promise.reject(err);
    }
    const { entries, subject } = this.repo.takeAudit();
    for (const e of entries) this.log.push(e);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    const sink = this.sink;
    if (entries.length === 0 || sink === null) return Promise.resolve(result);
    const records = encodeAuditEntries(entries, this.clock, this.codec);
    const partitionKey = subject ?? (records[0] as AuditRecord).key;
    const write = this.chain.then(() => sink.write(records, partitionKey));
    // The chain only orders writes; each failure surfaces on its own mutation's promise.
    this.chain = write.catch(() => undefined);
    return write.then(() => result);
  }

  private doc(mutation: () => DocState): Promise<SimDocument> {
    return this.commit(() => this.repo.view(mutation()));
  }

  private by(options?: ActOptions): string {
    return options?.principal ?? ADMINISTRATOR;
  }

  // principals

  createUser(id: string, options: UserOptions = {}): SimUser {
    return this.repo.createUser(id, options);
  }

  deleteUser(id: string): void {
    this.repo.deleteUser(id);
  }

  createGroup(name: string, options: GroupOptions = {}): Promise<SimGroup> {
    return this.commit(() => this.repo.createGroup(name, options, this.by(options)));
  }

  deleteGroup(name: string, options?: ActOptions): Promise<void> {
    return this.commit(() => this.repo.deleteGroup(name, this.by(options)));
  }

  addToGroup(
    group: string,
    members: { users?: string[]; groups?: string[] },
    options?: ActOptions,
  ): Promise<SimGroup> {
    return this.commit(() => this.repo.changeGroup(group, true, members, this.by(options)));
  }

  removeFromGroup(
    group: string,
    members: { users?: string[]; groups?: string[] },
    options?: ActOptions,
  ): Promise<SimGroup> {
    return this.commit(() => this.repo.changeGroup(group, false, members, this.by(options)));
  }

  user(id: string): SimUser | undefined {
    return this.repo.userView(id);
  }

  group(name: string): SimGroup | undefined {
    return this.repo.groupView(name);
  }

  tokenFor(user: string, device = "default"): string {
    return this.repo.tokenFor(user, device);
  }

  revokeToken(token: string): void {
    this.repo.revokeToken(token);
  }

  // documents

  createRepository(name: string): void {
    this.repo.createRepository(name);
  }

  createDocument(
    parent: DocRef,
    type: string,
    title: string,
    options: FileOptions = {},
  ): Promise<SimDocument> {
    return this.doc(() => this.repo.createDocument(parent, type, title, options, this.by(options)));
  }

  createFolder(parent: DocRef, title: string, options: CreateOptions = {}): Promise<SimDocument> {
    return this.createDocument(parent, options.type ?? "Folder", title, options);
  }

  createWorkspace(
    parent: DocRef,
    title: string,
    options: CreateOptions = {},
  ): Promise<SimDocument> {
    return this.createDocument(parent, options.type ?? "Workspace", title, options);
  }

  createFile(parent: DocRef, title: string, options: FileOptions = {}): Promise<SimDocument> {
    return this.createDocument(parent, options.type ?? "File", title, options);
  }

  createNote(parent: DocRef, title: string, options: CreateOptions = {}): Promise<SimDocument> {
    return this.createDocument(parent, options.type ?? "Note", title, options);
  }

  modify(ref: DocRef, changes: ModifyChanges, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.modify(ref, changes, this.by(options)));
  }

  rename(ref: DocRef, title: string, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.rename(ref, title, this.by(options)));
  }

  move(ref: DocRef, newParent: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.move(ref, newParent, this.by(options)));
  }

  copy(ref: DocRef, newParent: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.copy(ref, newParent, this.by(options)));
  }

  trash(ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.trash(ref, this.by(options)));
  }

  untrash(ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.untrash(ref, this.by(options)));
  }

  remove(ref: DocRef, options?: ActOptions): Promise<void> {
    return this.commit(() => this.repo.remove(ref, this.by(options)));
  }

  setAces(ref: DocRef, aces: AceInput[], options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.setAces(ref, aces, this.by(options)));
  }

  grant(
    ref: DocRef,
    username: string,
    permission: string,
    options?: ActOptions,
  ): Promise<SimDocument> {
    return this.doc(() => this.repo.addAce(ref, { username, permission }, this.by(options)));
  }

  deny(
    ref: DocRef,
    username: string,
    permission: string,
    options?: ActOptions,
  ): Promise<SimDocument> {
    return this.doc(() =>
      this.repo.addAce(ref, { username, permission, granted: false }, this.by(options)),
    );
  }

  revoke(ref: DocRef, username: string, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.revoke(ref, username, this.by(options)));
  }

  blockInheritance(ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.blockInheritance(ref, this.by(options)));
  }

  unblockInheritance(ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.unblockInheritance(ref, this.by(options)));
  }

  lock(ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.lock(ref, this.by(options)));
  }

  unlock(ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.unlock(ref, this.by(options)));
  }

  registerRoot(user: string, ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.registerRoot(user, ref, options?.principal ?? user));
  }

  unregisterRoot(user: string, ref: DocRef, options?: ActOptions): Promise<SimDocument> {
    return this.doc(() => this.repo.unregisterRoot(user, ref, options?.principal ?? user));
  }

  // lookups

  get(uid: string): SimDocument | undefined {
    const d = this.repo.find(uid);
    return d === undefined || uid.startsWith("/") ? undefined : this.repo.view(d);
  }

  byPath(path: string, repository?: string): SimDocument | undefined {
    const d = this.repo.find(path, repository);
    return d === undefined ? undefined : this.repo.view(d);
  }

  children(ref: DocRef): SimDocument[] {
    return this.repo.childrenOf(this.repo.resolve(ref)).map((d) => this.repo.view(d));
  }

  acls(ref: DocRef): SimAcl[] {
    return this.repo.acls(this.repo.resolve(ref));
  }

  can(user: string, permission: string, ref: DocRef): boolean {
    return this.repo.can(user, permission, this.repo.resolve(ref));
  }

  rootsOf(user: string, repository?: string): string[] {
    return this.repo.rootsOf(user, repository).map((d) => d.uid);
  }

  snapshot(ref: DocRef): DocSnapshot | undefined {
    const d = this.repo.find(ref);
    if (d === undefined) return undefined;
    return {
      repository: d.repository,
      uid: d.uid,
      path: d.path,
      parentUid: d.parentUid,
      type: d.type,
      title: d.title,
      facets: [...d.facets],
      isVersion: d.isVersion,
      isProxy: d.isProxy,
      isTrashed: d.isTrashed,
      creator: d.creator,
      lastContributor: d.lastContributor,
      created: d.created,
      modified: d.modified,
      blob:
        d.blob === null
          ? null
          : {
              name: d.blob.name,
              mimeType: d.blob.mimeType,
              digestAlgorithm: d.blob.digestAlgorithm,
              digest: d.blob.digest,
              length: d.blob.length,
            },
      acls: this.repo.acls(d).map((acl) => ({
        name: acl.name,
        aces: acl.aces.map((a) => ({
          username: a.username,
          permission: a.permission,
          granted: a.granted,
          status: a.status,
        })),
      })),
      subscriptions: d.subscriptions.map((s) => ({ username: s.username, enabled: s.enabled })),
    };
  }

  // audit

  get auditLog(): readonly AuditEntry[] {
    return this.log;
  }

  setAuditSink(sink: AuditSink | null): void {
    this.sink = sink;
  }

  flush(): Promise<void> {
    return this.chain;
  }

  // REST behaviour

  failNext(n: number, status: number): void {
    this.failures = { remaining: n, status };
  }

  get requestCount(): RequestCounts {
    return { ...this.counts };
  }

  resetRequestCount(): void {
    this.counts = emptyCounts();
  }

  async close(): Promise<void> {
    await this.chain;
    await this.sink?.close();
  }
}

export function createSimulator(options: SimulatorOptions = {}): Simulator {
  return new SimulatorImpl(options);
}
