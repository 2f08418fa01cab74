// A seeded random workload over many users, for convergence tests: creates, edits, renames,
// moves (in and out of sync roots), copies, trash/untrash, removals, ACL changes (grants, denies,
// revocations, inheritance blocked and unblocked), group membership changes and sync root
// (un)registrations, each acting as some user.
//
// Determinism: every choice is drawn from one seeded PRNG and depends only on the repository
// state the workload itself built, never on uids, clocks or names Nuxeo mangles (candidates are
// kept in creation order and picked by index). Documents are named by workload labels (`ws3`,
// `d57`), so two runs of a seed record the same operations even though their uids differ.
//
// Every operation is valid by construction (no create/move into a trashed folder, no move under
// itself, no root registered on a folder its user cannot read, as Drive's UI allows none of
// them); the simulator's mutations change the repository synchronously, so `next()` returns
// with the change made and `written` resolves when its audit records reach the sink.
import type { SimDocument, Simulator } from "./types.js";
import { seededRandom } from "./random.js";

export type WorkloadOpKind =
  | "createFile"
  | "createFolder"
  | "createNote"
  | "modify"
  | "rename"
  | "move"
  | "copy"
  | "trash"
  | "untrash"
  | "remove"
  | "grant"
  | "deny"
  | "revoke"
  | "blockInheritance"
  | "unblockInheritance"
  | "addToGroup"
  | "removeFromGroup"
  | "registerRoot"
  | "unregisterRoot";

/** Default relative weights of the operation kinds. */
export const DEFAULT_WORKLOAD_WEIGHTS: Readonly<Record<WorkloadOpKind, number>> = {
  createFile: 18,
  createFolder: 6,
  createNote: 1,
  modify: 18,
  rename: 9,
  move: 9,
  copy: 2,
  trash: 5,
  untrash: 5,
  remove: 1,
  grant: 3,
  deny: 2,
  revoke: 1,
  blockInheritance: 0.7,
  unblockInheritance: 0.7,
  addToGroup: 0.4,
  removeFromGroup: 0.4,
  registerRoot: 2,
  unregisterRoot: 0.8,
};

export interface WorkloadOptions {
  seed: number;
  /** Users acting and syncing (default 20), named `<prefix>u00`, `<prefix>u01`, … */
  users?: number;
  /** Groups (default 4), `<prefix>g0`…; each user starts in each with probability 0.4. */
  groups?: number;
  /** Workspaces shared through groups (default 4), besides one personal workspace per user. */
  sharedWorkspaces?: number;
  /** Prefix of every principal and workspace title (default `w<seed>-`). */
  prefix?: string;
  /** Where the workspaces are created (default `/default-domain/workspaces`). */
  parent?: string;
  /** Overrides of DEFAULT_WORKLOAD_WEIGHTS (0 disables a kind). */
  weights?: Partial<Record<WorkloadOpKind, number>>;
  /** Live documents kept at most (default 1000): above it, creations and copies are not drawn. */
  maxDocuments?: number;
  /** A copied folder holds at most this many documents (default 20). */
  maxCopySize?: number;
  /**
   * Deepest path the workload makes, in path segments (default 8: five levels below a workspace
   * of `/default-domain/workspaces`); creations, moves and copies stay within it. Nuxeo answers
   * carry each document's ancestors, so depth is what a REST call costs.
   */
  maxDepth?: number;
}

/** One operation the workload performed. Documents are named by their workload labels. */
export interface WorkloadOp {
  /** 1-based position among the operations (setup excluded). */
  seq: number;
  kind: WorkloadOpKind;
  /** The acting user (the audit entry's `principalName`). */
  actor: string;
  /** The document operated on (the source of a move or copy; the parent of a creation). */
  target?: string;
  /** The destination of a move or copy. */
  destination?: string;
  /** The label given to the document a creation or copy made. */
  created?: string;
  /** ACE username, group member, or the user whose root is (un)registered. */
  principal?: string;
  group?: string;
  permission?: string;
  title?: string;
}

export interface Workload {
  readonly seed: number;
  /** The workload's users, in order. */
  readonly users: readonly string[];
  readonly groups: readonly string[];
  /** Creates users, groups, workspaces, initial content and roots; once, before any operation. */
  setup(): Promise<void>;
  /**
   * Performs the next operation: the repository has changed when this returns; `written`
   * resolves once its audit records are written (and rejects if the simulator refused it).
   */
  next(): { op: WorkloadOp; written: Promise<unknown> };
  /** `next()`, then waits for the write. */
  step(): Promise<WorkloadOp>;
  /**
   * Performs `count` operations, keeping at most `window` writes in flight (default 64), and
   * calls `onOp` after each (awaited). Resolves when every write is done.
   */
  run(
    count: number,
    options?: { window?: number; onOp?: (op: WorkloadOp) => void | Promise<void> },
  ): Promise<WorkloadOp[]>;
  /** Every operation performed so far. */
  readonly ops: readonly WorkloadOp[];
  /** Operations performed per kind. */
  counts(): Record<WorkloadOpKind, number>;
  uidOf(label: string): string | undefined;
  labelOf(uid: string): string | undefined;
}

const WORDS = [
  "report",
  "notes",
  "budget",
  "draft",
  "plan",
  "minutes",
  "spec",
  "résumé",
  "naïve idea",
  "日本語",
  "Q3 figures",
];
const EXTENSIONS = [".txt", ".md", ".pdf", ".docx", ""];
// Some grant less than Read (Browse, Write): inclusion matters, visibility does not follow.
const GRANTS = [
  "Read",
  "ReadWrite",
  "Everything",
  "ReadWrite",
  "Read",
  "Browse",
  "Write",
  "ReadRemove",
];
const DENIES = ["Read", "Everything", "Write", "Browse"];
const EVERYONE = "Everyone";
const EVERYTHING = "Everything";

type EntryKind = "workspace" | "folder" | "file" | "note";

interface Entry {
  label: string;
  uid: string;
  kind: EntryKind;
}

const folderish = (d: SimDocument): boolean => d.facets.includes("Folderish");

const blocks = (d: SimDocument): boolean =>
  d.localAces.some(
    (a) =>
      a.username === EVERYONE &&
      a.permission === EVERYTHING &&
      !a.granted &&
      a.status === "effective",
  );

export function createWorkload(sim: Simulator, options: WorkloadOptions): Workload {
  return new WorkloadImpl(sim, options);
}

class WorkloadImpl implements Workload {
  readonly seed: number;
  readonly users: string[] = [];
  readonly groups: string[] = [];
  readonly ops: WorkloadOp[] = [];
  private readonly random: () => number;
  private readonly prefix: string;
  private readonly parent: string;
  private readonly weights: [WorkloadOpKind, number][];
  private readonly totalWeight: number;
  private readonly maxDocuments: number;
  private readonly maxCopySize: number;
  private readonly maxDepth: number;
  /** Every document the workload made, in creation order (removed ones are dropped lazily). */
  private readonly entries: Entry[] = [];
  private readonly byUid = new Map<string, Entry>();
  private readonly byLabel = new Map<string, Entry>();
  private counter = 0;
  /** Documents trash operations trashed, oldest first (some since restored or removed). */
  private readonly trashed: Entry[] = [];
  private labels = 0;
  private isSetUp = false;

  constructor(
    private readonly sim: Simulator,
    private readonly options: WorkloadOptions,
  ) {
    this.seed = options.seed;
    this.random = seededRandom(options.seed);
    this.prefix = options.prefix ?? `w${options.seed}-`;
    this.parent = options.parent ?? "/default-domain/workspaces";
    const weights = { ...DEFAULT_WORKLOAD_WEIGHTS, ...options.weights };
    this.weights = (Object.keys(weights) as WorkloadOpKind[])
      .map((k): [WorkloadOpKind, number] => [k, weights[k]])
      .filter(([, w]) => w > 0);
    this.totalWeight = this.weights.reduce((s, [, w]) => s + w, 0);
    if (this.totalWeight <= 0) throw new RangeError("workload: every operation weight is 0");
    this.maxDocuments = options.maxDocuments ?? 1000;
    this.maxCopySize = options.maxCopySize ?? 20;
    this.maxDepth = options.maxDepth ?? 8;
  }

  // ------------------------------------------------------------------ random helpers

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.int(items.length)];
  }

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private title(file: boolean): string {
    const word = this.pick(WORDS) as string;
    return `${word} ${++this.counter}${file ? (this.pick(EXTENSIONS) as string) : ""}`;
  }

  // ------------------------------------------------------------------ bookkeeping

  private remember(doc: SimDocument, kind: EntryKind): Entry {
    const label = kind === "workspace" ? `ws${this.labels++}` : `d${this.labels++}`;
    const entry = { label, uid: doc.uid, kind };
    this.entries.push(entry);
    this.byUid.set(doc.uid, entry);
    this.byLabel.set(label, entry);
    return entry;
  }

  /** Labels the documents a copy made (the copy and its descendants), parents first. */
  private rememberSubtree(doc: SimDocument): Entry {
    const top = this.remember(doc, this.kindOf(doc));
    const stack = this.sim.children(doc.uid).reverse();
    while (stack.length > 0) {
      const d = stack.pop() as SimDocument;
      this.remember(d, this.kindOf(d));
      stack.push(...this.sim.children(d.uid).reverse());
    }
    return top;
  }

  private kindOf(d: SimDocument): EntryKind {
    if (folderish(d)) return "folder";
    return d.blob !== null ? "file" : "note";
  }

  /** The live document of an entry; forgets entries whose document was removed. */
  private live(entry: Entry): SimDocument | undefined {
    const doc = this.sim.get(entry.uid);
    if (doc === undefined) {
      // Removed: no longer a candidate, but its label still names it in reports.
      const i = this.entries.indexOf(entry);
      if (i >= 0) this.entries.splice(i, 1);
    }
    return doc;
  }

  /**
   * A random live document of the given kinds satisfying `pred`: a few random draws first (the
   * common case, cheap), then a scan so that a rare candidate is still found.
   */
  private choose(
    kinds: readonly EntryKind[],
    pred: (d: SimDocument, e: Entry) => boolean = () => true,
  ): { entry: Entry; doc: SimDocument } | undefined {
    for (let i = 0; i < 12 && this.entries.length > 0; i++) {
      const entry = this.pick(this.entries) as Entry;
      if (!kinds.includes(entry.kind)) continue;
      const doc = this.live(entry);
      if (doc !== undefined && pred(doc, entry)) return { entry, doc };
    }
    const candidates: { entry: Entry; doc: SimDocument }[] = [];
    for (const entry of [...this.entries]) {
      if (!kinds.includes(entry.kind)) continue;
      const doc = this.live(entry);
      if (doc !== undefined && pred(doc, entry)) candidates.push({ entry, doc });
    }
    return this.pick(candidates);
  }

  /** A document a trash operation trashed and still trashed, picked uniformly. */
  private chooseTrashedTop(): { entry: Entry; doc: SimDocument } | undefined {
    for (let i = this.trashed.length - 1; i >= 0; i--) {
      const entry = this.trashed[i] as Entry;
      const doc = this.sim.get(entry.uid);
      if (doc === undefined || !doc.isTrashed) this.trashed.splice(i, 1);
    }
    const entry = this.pick(this.trashed);
    if (entry === undefined) return undefined;
    return { entry, doc: this.sim.get(entry.uid) as SimDocument };
  }

  private isUnder(doc: SimDocument, ancestorUid: string): boolean {
    for (let d: SimDocument | undefined = doc; d !== undefined;) {
      if (d.uid === ancestorUid) return true;
      d = d.parentUid === null ? undefined : this.sim.get(d.parentUid);
    }
    return false;
  }

  /** Path segments of a document's path (`/a/b` is 2). */
  private depthOf(d: SimDocument): number {
    let n = 0;
    for (let i = 0; i < d.path.length; i++) if (d.path.charCodeAt(i) === 47) n++;
    return n;
  }

  /** Levels below `uid` (0 for a leaf). */
  private height(uid: string): number {
    let max = 0;
    const stack: [string, number][] = [[uid, 0]];
    while (stack.length > 0) {
      const [cur, h] = stack.pop() as [string, number];
      if (h > max) max = h;
      for (const c of this.sim.children(cur)) stack.push([c.uid, h + 1]);
    }
    return max;
  }

  private subtreeSize(uid: string, limit: number): number {
    let n = 0;
    const stack = [uid];
    while (stack.length > 0 && n <= limit) {
      const cur = stack.pop() as string;
      n++;
      for (const c of this.sim.children(cur)) stack.push(c.uid);
    }
    return n;
  }

  private actor(): string {
    return this.pick(this.users) as string;
  }

  // ------------------------------------------------------------------ setup

  async setup(): Promise<void> {
    if (this.isSetUp) throw new Error("workload: setup() was already called");
    this.isSetUp = true;
    const sim = this.sim;
    const writes: Promise<unknown>[] = [];
    const userCount = this.options.users ?? 20;
    const groupCount = this.options.groups ?? 4;
    for (let i = 0; i < userCount; i++) {
      const id = `${this.prefix}u${String(i).padStart(2, "0")}`;
      if (sim.user(id) === undefined) sim.createUser(id);
      this.users.push(id);
    }
    for (let g = 0; g < groupCount; g++) {
      const name = `${this.prefix}g${g}`;
      const members = this.users.filter(() => this.chance(0.4));
      writes.push(sim.createGroup(name, { members }));
      this.groups.push(name);
    }
    const as = (principal: string) => ({ principal });
    // One personal workspace per user: inheritance blocked, the user holds Everything.
    for (const user of this.users) {
      const ws = await sim.createWorkspace(this.parent, `${this.prefix}${user} home`);
      this.remember(ws, "workspace");
      writes.push(sim.blockInheritance(ws.uid), sim.grant(ws.uid, user, EVERYTHING));
      this.seedContent(ws.uid, user, writes);
      writes.push(sim.registerRoot(user, ws.uid, as(user)));
    }
    // Shared workspaces: each readable by a group (and a user or two), registered by some readers.
    const shared = this.options.sharedWorkspaces ?? 4;
    for (let k = 0; k < shared; k++) {
      const ws = await sim.createWorkspace(this.parent, `${this.prefix}shared ${k}`);
      this.remember(ws, "workspace");
      writes.push(sim.blockInheritance(ws.uid));
      if (this.groups.length > 0) {
        const group = this.groups[k % this.groups.length] as string;
        writes.push(sim.grant(ws.uid, group, "ReadWrite"));
      }
      writes.push(sim.grant(ws.uid, this.actor(), "Read"));
      this.seedContent(ws.uid, this.actor(), writes);
    }
    const sharedEntries = this.entries.filter((e) => e.kind === "workspace").slice(userCount);
    // An archive nobody syncs, readable by every group: moves there leave the roots.
    const archive = await sim.createWorkspace(this.parent, `${this.prefix}archive`);
    this.remember(archive, "workspace");
    writes.push(sim.blockInheritance(archive.uid));
    for (const g of this.groups) writes.push(sim.grant(archive.uid, g, "Read"));
    this.seedContent(archive.uid, "Administrator", writes);
    for (const user of this.users) {
      for (const e of sharedEntries) {
        if (!sim.can(user, "Read", e.uid)) continue;
        if (this.chance(0.5)) writes.push(sim.registerRoot(user, e.uid, as(user)));
      }
    }
    await Promise.all(writes);
  }

  private seedContent(parentUid: string, principal: string, writes: Promise<unknown>[]): void {
    const as = { principal };
    for (let i = 0; i < 2; i++) {
      const folder = this.createFolderNow(parentUid, as, writes);
      const title = this.title(true);
      writes.push(this.createFileNow(folder.uid, title, `${title} v1\n`, as).written);
    }
    for (let i = 0; i < 2; i++) {
      const title = this.title(true);
      writes.push(this.createFileNow(parentUid, title, `${title} v1\n`, as).written);
    }
  }

  /**
   * The simulator's mutations change the repository before their promise settles; a created
   * document's uid is therefore found at once, as the newest child of its parent.
   */
  private newestChild(parentUid: string): SimDocument {
    const children = this.sim.children(parentUid);
    return children[children.length - 1] as SimDocument;
  }

  private createFolderNow(
    parentUid: string,
    as: { principal: string },
    writes: Promise<unknown>[],
  ): SimDocument {
    writes.push(this.sim.createFolder(parentUid, this.title(false), as));
    const doc = this.newestChild(parentUid);
    this.remember(doc, "folder");
    return doc;
  }

  private createFileNow(
    parentUid: string,
    title: string,
    content: string,
    as: { principal: string },
  ): { entry: Entry; written: Promise<unknown> } {
    const written = this.sim.createFile(parentUid, title, { content, ...as });
    return { entry: this.remember(this.newestChild(parentUid), "file"), written };
  }

  // ------------------------------------------------------------------ operations

  next(): { op: WorkloadOp; written: Promise<unknown> } {
    if (!this.isSetUp) throw new Error("workload: call setup() first");
    for (;;) {
      let r = this.random() * this.totalWeight;
      let kind = (this.weights[this.weights.length - 1] as [WorkloadOpKind, number])[0];
      for (const [k, w] of this.weights) {
        if (r < w) {
          kind = k;
          break;
        }
        r -= w;
      }
      const done = this.perform(kind);
      if (done === null) continue;
      const op: WorkloadOp = { seq: this.ops.length + 1, ...done.op, kind };
      this.ops.push(op);
      return { op, written: done.written };
    }
  }

  async step(): Promise<WorkloadOp> {
    const { op, written } = this.next();
    await written;
    return op;
  }

  async run(
    count: number,
    options: { window?: number; onOp?: (op: WorkloadOp) => void | Promise<void> } = {},
  ): Promise<WorkloadOp[]> {
    const window = options.window ?? 64;
    const out: WorkloadOp[] = [];
    const inFlight: Promise<unknown>[] = [];
    for (let i = 0; i < count; i++) {
      const { op, written } = this.next();
      out.push(op);
      inFlight.push(written);
      if (inFlight.length >= window) await inFlight.shift();
      if (options.onOp !== undefined) await options.onOp(op);
    }
    await Promise.all(inFlight);
    return out;
  }

  counts(): Record<WorkloadOpKind, number> {
    const out = Object.fromEntries(
      Object.keys(DEFAULT_WORKLOAD_WEIGHTS).map((k) => [k, 0]),
    ) as Record<WorkloadOpKind, number>;
    for (const op of this.ops) out[op.kind]++;
    return out;
  }

  uidOf(label: string): string | undefined {
    return this.byLabel.get(label)?.uid;
  }

  labelOf(uid: string): string | undefined {
    return this.byUid.get(uid)?.label;
  }

  /** One operation of `kind`, or null when it has no valid target now. */
  private perform(
    kind: WorkloadOpKind,
  ): { op: Omit<WorkloadOp, "seq" | "kind">; written: Promise<unknown> } | null {
    const sim = this.sim;
    const actor = this.actor();
    const as = { principal: actor };
    const container = (d: SimDocument) => folderish(d) && !d.isTrashed;
    const roomFor = (d: SimDocument, height: number) =>
      this.depthOf(d) + 1 + height <= this.maxDepth;
    const full = () => this.entries.length >= this.maxDocuments;
    switch (kind) {
      case "createFile":
      case "createFolder":
      case "createNote": {
        if (full()) return null;
        const parent = this.choose(["workspace", "folder"], (d) => container(d) && roomFor(d, 0));
        if (parent === undefined) return null;
        const file = kind === "createFile";
        const title = this.title(file);
        let written: Promise<unknown>;
        if (kind === "createFile") {
          written = sim.createFile(parent.doc.uid, title, { content: `${title} v1\n`, ...as });
        } else if (kind === "createFolder") {
          written = sim.createFolder(parent.doc.uid, title, as);
        } else {
          written = sim.createNote(parent.doc.uid, title, as);
        }
        const created = this.remember(
          this.newestChild(parent.doc.uid),
          file ? "file" : kind === "createFolder" ? "folder" : "note",
        );
        return {
          op: { actor, target: parent.entry.label, created: created.label, title },
          written,
        };
      }
      case "modify": {
        const f = this.choose(["file", "note"]);
        if (f === undefined) return null;
        const content = `${f.doc.title} edited ${++this.counter} by ${actor}\n`;
        return {
          op: { actor, target: f.entry.label },
          written: sim.modify(f.doc.uid, { content }, as),
        };
      }
      case "rename": {
        const d = this.choose(["file", "folder", "workspace", "note"]);
        if (d === undefined) return null;
        const title =
          d.entry.kind === "workspace"
            ? `${this.prefix}${this.title(false)}`
            : this.title(d.entry.kind === "file");
        return {
          op: { actor, target: d.entry.label, title },
          written: sim.rename(d.doc.uid, title, as),
        };
      }
      case "move":
      case "copy": {
        if (kind === "copy" && full()) return null;
        const source = this.choose(
          kind === "move" ? ["file", "folder", "note", "workspace"] : ["file", "folder"],
          (d) =>
            !d.isTrashed &&
            (kind === "move" ||
              !folderish(d) ||
              this.subtreeSize(d.uid, this.maxCopySize) <= this.maxCopySize),
        );
        if (source === undefined) return null;
        const height = folderish(source.doc) ? this.height(source.doc.uid) : 0;
        const destination = this.choose(
          ["workspace", "folder"],
          (d) =>
            container(d) &&
            roomFor(d, height) &&
            d.uid !== source.doc.parentUid &&
            !this.isUnder(d, source.doc.uid),
        );
        if (destination === undefined) return null;
        if (kind === "move") {
          return {
            op: { actor, target: source.entry.label, destination: destination.entry.label },
            written: sim.move(source.doc.uid, destination.doc.uid, as),
          };
        }
        const written = sim.copy(source.doc.uid, destination.doc.uid, as);
        const created = this.rememberSubtree(this.newestChild(destination.doc.uid));
        return {
          op: {
            actor,
            target: source.entry.label,
            destination: destination.entry.label,
            created: created.label,
          },
          written,
        };
      }
      case "trash": {
        // Whole workspaces rarely: most of the tree would sit in the trash.
        const kinds: EntryKind[] = this.chance(0.05) ? ["workspace"] : ["file", "folder", "note"];
        const d = this.choose(kinds, (x) => !x.isTrashed);
        if (d === undefined) return null;
        this.trashed.push(d.entry);
        return { op: { actor, target: d.entry.label }, written: sim.trash(d.doc.uid, as) };
      }
      case "untrash": {
        // Mostly what a trash operation trashed (restores all of it: each trash as likely to be
        // undone, whole workspaces included), sometimes a document inside a trashed subtree
        // (restores it and its trashed ancestors only).
        const d = this.chance(0.8)
          ? this.chooseTrashedTop()
          : this.choose(["file", "folder", "note", "workspace"], (x) => x.isTrashed);
        if (d === undefined) return null;
        return { op: { actor, target: d.entry.label }, written: sim.untrash(d.doc.uid, as) };
      }
      case "remove": {
        const d = this.choose(["file", "folder", "note"]);
        if (d === undefined) return null;
        return { op: { actor, target: d.entry.label }, written: sim.remove(d.doc.uid, as) };
      }
      case "grant":
      case "deny": {
        // Mostly folders (a subtree changes), sometimes a single file or a whole workspace.
        const r = this.random();
        const d = this.choose(r < 0.1 ? ["workspace"] : r < 0.8 ? ["folder"] : ["file"]);
        if (d === undefined) return null;
        const principal = this.chance(0.6) ? this.actor() : (this.pick(this.groups) ?? actor);
        const permission = this.pick(kind === "grant" ? GRANTS : DENIES) as string;
        const written =
          kind === "grant"
            ? sim.grant(d.doc.uid, principal, permission, as)
            : sim.deny(d.doc.uid, principal, permission, as);
        return { op: { actor, target: d.entry.label, principal, permission }, written };
      }
      case "revoke": {
        const d = this.choose(["workspace", "folder", "file"], (x) =>
          x.localAces.some((a) => a.username !== EVERYONE),
        );
        if (d === undefined) return null;
        const names = [...new Set(d.doc.localAces.map((a) => a.username))].filter(
          (n) => n !== EVERYONE,
        );
        const principal = this.pick(names) as string;
        return {
          op: { actor, target: d.entry.label, principal },
          written: sim.revoke(d.doc.uid, principal, as),
        };
      }
      case "blockInheritance":
      case "unblockInheritance": {
        const block = kind === "blockInheritance";
        const d = this.choose(["workspace", "folder"], (x) => blocks(x) !== block);
        if (d === undefined) return null;
        // Blocking grants Everything to the acting user first (Nuxeo does): sometimes an admin.
        const by = block && this.chance(0.5) ? "Administrator" : actor;
        return {
          op: { actor: by, target: d.entry.label },
          written: block
            ? sim.blockInheritance(d.doc.uid, { principal: by })
            : sim.unblockInheritance(d.doc.uid, { principal: by }),
        };
      }
      case "addToGroup":
      case "removeFromGroup": {
        const group = this.pick(this.groups);
        if (group === undefined) return null;
        const info = sim.group(group);
        if (info === undefined) return null;
        if (kind === "addToGroup") {
          // Now and then a group joins another one: extendedGroups are transitive.
          if (this.chance(0.2)) {
            const sub = this.pick(this.groups) as string;
            const ancestors = this.ancestorGroups(group);
            if (sub !== group && !ancestors.has(sub) && !info.memberGroups.includes(sub)) {
              return {
                op: { actor: "Administrator", group, principal: sub },
                written: sim.addToGroup(group, { groups: [sub] }),
              };
            }
          }
          const outside = this.users.filter((u) => !info.memberUsers.includes(u));
          const user = this.pick(outside);
          if (user === undefined) return null;
          return {
            op: { actor: "Administrator", group, principal: user },
            written: sim.addToGroup(group, { users: [user] }),
          };
        }
        if (info.memberGroups.length > 0 && this.chance(0.3)) {
          const sub = this.pick(info.memberGroups) as string;
          return {
            op: { actor: "Administrator", group, principal: sub },
            written: sim.removeFromGroup(group, { groups: [sub] }),
          };
        }
        const user = this.pick(info.memberUsers.filter((u) => this.users.includes(u)));
        if (user === undefined) return null;
        return {
          op: { actor: "Administrator", group, principal: user },
          written: sim.removeFromGroup(group, { users: [user] }),
        };
      }
      case "registerRoot": {
        const user = actor;
        // Workspaces half the time (few of them, the usual Drive roots), else any folder.
        const d = this.choose(
          this.chance(0.5) ? ["workspace"] : ["workspace", "folder"],
          (x) => container(x) && sim.can(user, "Read", x.uid),
        );
        if (d === undefined) return null;
        return {
          op: { actor: user, target: d.entry.label, principal: user },
          written: sim.registerRoot(user, d.doc.uid, as),
        };
      }
      case "unregisterRoot": {
        const user = actor;
        const roots = sim.rootsOf(user).filter((uid) => this.byUid.has(uid));
        const uid = this.pick(roots);
        if (uid === undefined) return null;
        return {
          op: { actor: user, target: this.byUid.get(uid)?.label, principal: user },
          written: sim.unregisterRoot(user, uid, as),
        };
      }
    }
  }

  /** Groups containing `group`, transitively (adding one of them to it would make a cycle). */
  private ancestorGroups(group: string): Set<string> {
    const out = new Set<string>();
    const stack = [group];
    while (stack.length > 0) {
      const cur = stack.pop() as string;
      for (const parent of this.sim.group(cur)?.parentGroups ?? []) {
        if (!out.has(parent)) {
          out.add(parent);
          stack.push(parent);
        }
      }
    }
    return out;
  }
}
