// The listing behind a remote scan (spec/PROTOCOL.md "Remote scan", spec/NUXEO.md §2–4): one pass
// over the scanned folder's descendants, paged NXQL on `ecm:ancestorId`, turned into the ordered,
// per-user list of items the scroll hands out batch after batch.
//
// Streaming. A listing of 100,000 documents is 100 pages; on the simulator that is a minute, on a
// real Nuxeo with its acls/breadcrumb enrichers at least as long, while a gateway waits 30 s for
// an answer. So the listing runs in the background, at Nuxeo's pace rather than the client's
// (the consistency window stays as short as the listing), and a call returns the items released
// so far as soon as it has a full batch, or after `waitMs` with whatever it has.
//
// Parents before children. Pages come in arbitrary order. An item is released (appended to the
// delivery order) only once its parent item has been: a document whose parent was not seen yet
// waits for it; when the parent is released, its waiting children are decided in turn. So the
// delivery order is a topological order of the tree, whatever the page order. An item is kept
// only when its parent item is kept (or is the scanned folder, or it is a sync root of the user,
// whose parent is the top level): that is the scope rule of §3 (every document from the root
// down is visible) evaluated once per folder, not once per item with its whole ancestor chain;
// it also drops the children of folders that are no items (HiddenInNavigation, which the NXQL
// leaves out), which a client could not place. Documents still waiting when the listing ends
// have no parent in it: dropped, except sync roots of the user.
//
// Why items are decided from the listing, not refetched per batch as Nuxeo's own scroll does: the
// NXQL pages carry every document in full (ACLs, blob, dates), so each document is rendered by
// Nuxeo once and the scan costs one request per 1000 documents. Refetching by id would render
// every document twice and add one request per 100 ids (the `ecm:uuid IN` chunk that keeps URLs
// short). Per item the snapshot keeps one JSON text (the uid and the item's own fields) and two
// small integers, about 220 bytes (test/bench/RESULTS.md). An item may be stale by the time its
// batch goes out; the change feed, whose position the client took before scanning, brings
// whatever changed since.
//
// Paging. NXQL pages by offset: a document deleted (or moved away) between two page requests
// shifts later results one page back, so one of them could be skipped with no change to report
// it. The listing therefore pages again from the start when `resultsCount` moves between pages
// (at most `maxListingAttempts` passes); documents seen twice are dropped by uid.
import type { DocSnapshot, FileSystemItem } from "@drivecast/protocol";
import { TOP_LEVEL_ID } from "@drivecast/protocol";
import { nxqlString, type NuxeoDocument, type NuxeoPage } from "@drivecast/nuxeo";
import {
  buildItem,
  can,
  downloadURL,
  fileSystemItemId,
  inScope,
  isActiveRootDoc,
  isFileSystemItemDoc,
  isFolderish,
  Permission,
  rootSetOf,
  syncRootItemId,
  visible,
  type Principals,
  type RootSet,
} from "./compute/index.js";

/** What a scroll needs from Nuxeo: a subset of @drivecast/nuxeo's client. */
export interface ScrollNuxeo {
  /** Every page of an NXQL query, in order. */
  queryAll(
    nxql: string,
    pageSize?: number,
    options?: { repository?: string },
  ): AsyncIterable<NuxeoPage>;
  /** The documents that exist among `uids`, by uid. */
  documentsByIds(repository: string, uids: readonly string[]): Promise<Map<string, NuxeoDocument>>;
}

/** The folder a scroll scans: the top level (every sync root of the user) or one folder. */
export type ScrollTarget = { kind: "top" } | { kind: "folder"; repository: string; uid: string };

export interface ListingOptions {
  nuxeo: ScrollNuxeo;
  principals: Principals;
  /** The user's active sync roots. */
  roots: readonly { repository: string; uid: string }[];
  target: ScrollTarget;
  /** NXQL page size (Nuxeo's default `maxPageSize` is 1000). */
  pageSize: number;
  /** The snapshot may not grow beyond this many bytes (estimate): `tooLarge` otherwise. */
  maxBytes: number;
  /** Listing passes allowed when the result count moves under the pages. */
  maxListingAttempts: number;
  /** Told when a listing pages again from the start. */
  onRestart?: (attempt: number, base: string) => void;
  /** Told after each page: the snapshot grew. */
  onProgress?: () => void;
}

/** Why a listing produced no (more) items. */
export type ListingFailure =
  { kind: "notFound"; message: string } | { kind: "tooLarge"; message: string };

/** A target that cannot be scanned, or a listing too large to hold. */
export class ListingRefused extends Error {
  override name = "ListingRefused";
  constructor(readonly failure: ListingFailure) {
    super(failure.message);
  }
}

/** The NXQL of spec/NUXEO.md §2 for the descendants of `uid`. */
export function descendantsQuery(uid: string): string {
  return (
    `SELECT * FROM Document WHERE ecm:ancestorId = ${nxqlString(uid)}` +
    ` AND ecm:isTrashed = 0 AND ecm:isVersion = 0 AND ecm:mixinType != 'HiddenInNavigation'`
  );
}

// Per-entry cost beyond its JSON text: the string's header and array slot, two columns.
const ENTRY_OVERHEAD = 40;
// Per document while the listing runs: its key in the seen map (uid string and map entry).
const SEEN_OVERHEAD = 100;

/**
 * The key lists of the items' own fields. An entry is stored as the JSON text of
 * `[shape, uid, ...values]`: the keys once per shape (a handful: folder, file with and without
 * digest), not once per item. JSON rather than msgpack: measured 2–3× faster both ways on these
 * small arrays, and a string is one flat object for the GC.
 */
class Shapes {
  readonly list: { keys: string[]; derivedUrl: boolean }[] = [];

  of(keys: string[], derivedUrl: boolean): number {
    // A handful of shapes: a linear scan without allocation beats building a key string.
    for (let i = 0; i < this.list.length; i++) {
      const s = this.list[i]!;
      if (s.derivedUrl !== derivedUrl || s.keys.length !== keys.length) continue;
      let same = true;
      for (let k = 0; k < keys.length && same; k++) same = s.keys[k] === keys[k];
      if (same) return i;
    }
    this.list.push({ keys, derivedUrl });
    return this.list.length - 1;
  }
}

/** Fields of an item that the walk decides, or that are the same for every item of a user. */
const WALK_FIELDS = new Set(["id", "parentId", "path", "userName", "lockInfo"]);

/**
 * JSON text of one entry: the item's own fields for `principals` (see Shapes). The item is built
 * as if `doc` were its own sync root, which gets every field right but the walk's and canDelete.
 */
function encodeEntry(shapes: Shapes, principals: Principals, doc: DocSnapshot): string {
  const item = buildItem(principals, { root: doc, chain: [doc] }) as unknown as Record<
    string,
    unknown
  >;
  item["canDelete"] = can(principals, Permission.Remove, doc.acls);
  // The download URL is a function of the name (spec §4): rebuilt per batch rather than kept,
  // it is the longest field. Kept as is should it ever differ.
  const url = item["downloadURL"];
  const derivedUrl =
    typeof url === "string" && url === downloadURL(doc.repository, doc.uid, item["name"] as string);
  const keys: string[] = [];
  const row: unknown[] = [0, doc.uid];
  for (const k in item) {
    if (WALK_FIELDS.has(k) || (derivedUrl && k === "downloadURL")) continue;
    keys.push(k);
    row.push(item[k]);
  }
  row[0] = shapes.of(keys, derivedUrl);
  return JSON.stringify(row);
}

const EMITTABLE = 1;
const ROOT = 2;

/** One listed document, until it is decided. */
interface Rec {
  key: string;
  repo: number;
  parentKey: string | null;
  flags: number;
  /** JSON entry (emittable documents only). */
  data: string;
}

/** Parent marker for entries whose parent is the scanned folder. */
const PARENT_BASE = -1;
/** Parent marker for sync root items (parent: the top-level folder). */
const PARENT_TOP = -2;
/** Decision marker: seen, not kept (its children are not kept either, unless sync roots). */
const NOT_KEPT = -3;
/** Seen, not decided yet (waiting for its parent). */
const UNDECIDED = -4;

/** A batch of a snapshot, and where the next one starts. */
export interface Batch {
  items: FileSystemItem[];
  next: number;
}

/**
 * The items of one scroll, in delivery order (parents before children), growing while the
 * listing runs. `render` does no I/O, so a batch never fails halfway.
 */
export class ScrollSnapshot {
  private readonly repos: string[] = [];
  private readonly repoIndex = new Map<string, number>();
  private readonly shapes = new Shapes();
  /** One JSON entry per item, in delivery order. */
  private readonly data: string[] = [];
  private readonly repoIdx: number[] = [];
  private readonly parentIdx: number[] = [];
  /** Item path of every delivered folder, by entry (the id is its last segment). */
  private readonly paths = new Map<number, string>();
  private pathBytes = 0;
  private dataBytes = 0;

  // While the listing runs: decisions by document key (entry index or NOT_KEPT), and the
  // documents waiting for their parent, by parent key. Both dropped when it ends.
  private seen: Map<string, number> | null = new Map();
  private waiting: Map<string, Rec[]> | null = new Map();
  private baseKey: string | null = null;
  private base: string | null = null;

  private state: "listing" | "done" | "failed" = "listing";
  private failure: unknown = null;
  private readonly listeners = new Set<() => void>();
  private readonly rootSet: RootSet;
  /** Resolves when the listing is over, done or not. */
  settled: Promise<void> = Promise.resolve();

  private constructor(private readonly o: ListingOptions) {
    this.rootSet = rootSetOf(o.roots);
  }

  /**
   * Checks the target (not_found before any scroll exists), then lists in the background. The
   * listing stops early when `signal` aborts (the scroll expired or was dropped).
   */
  static async start(o: ListingOptions, signal: AbortSignal): Promise<ScrollSnapshot> {
    const s = new ScrollSnapshot(o);
    const bases = await s.prepare();
    s.settled = s.list(bases, signal).then(
      () => s.finish("done", null),
      (err: unknown) => s.finish("failed", err),
    );
    return s;
  }

  /** Items released so far. */
  get count(): number {
    return this.data.length;
  }

  get done(): boolean {
    return this.state === "done";
  }

  /** Why the listing stopped before its end, or null. */
  get error(): unknown {
    return this.state === "failed" ? this.failure : null;
  }

  /** Estimated bytes held, for the cache's size bound. */
  get bytes(): number {
    const listing = this.seen === null ? 0 : this.seen.size * SEEN_OVERHEAD;
    return 256 + this.dataBytes + this.count * ENTRY_OVERHEAD + this.pathBytes + listing;
  }

  /**
   * Resolves once `count` items are released, the listing is over, or `ms` passed with at least
   * one item after `from` released (whichever comes first).
   */
  async waitFor(from: number, count: number, ms: number): Promise<void> {
    const enough = () => this.state !== "listing" || this.count - from >= count;
    if (enough()) return;
    let timedOut = false;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (enough() || (timedOut && this.count > from)) {
          clearTimeout(timer);
          this.listeners.delete(check);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        check();
      }, ms);
      this.listeners.add(check);
    });
  }

  /**
   * Released items from entry `from` on: at most `max`, and no more than `maxBytes` (an upper
   * bound of their msgpack size; at least one item). Call with `from` = the previous `next`.
   */
  render(from: number, max: number, maxBytes: number, userName: string): Batch {
    const items: FileSystemItem[] = [];
    const userBytes = Buffer.byteLength(userName);
    let bytes = 64;
    let i = from;
    for (; i < this.count && items.length < max; i++) {
      const p = this.parentIdx[i]!;
      const repository = this.repos[this.repoIdx[i]!]!;
      const raw = this.data[i]!;
      const row = JSON.parse(raw) as unknown[];
      const uid = row[1] as string;
      // Released after its parent, so rendered after it: the parent's path is known.
      const parentPath =
        p === PARENT_TOP ? `/${TOP_LEVEL_ID}` : p === PARENT_BASE ? this.base! : this.paths.get(p)!;
      const parentId = parentPath.slice(parentPath.lastIndexOf("/") + 1);
      const id =
        p === PARENT_TOP ? syncRootItemId(repository, uid) : fileSystemItemId(repository, uid);
      const path = `${parentPath}/${id}`;
      const shape = this.shapes.list[row[0] as number]!;
      const item = { id, parentId } as Record<string, unknown>;
      for (let k = 0; k < shape.keys.length; k++) item[shape.keys[k]!] = row[k + 2];
      let url = 0;
      if (shape.derivedUrl) {
        const u = downloadURL(repository, uid, item["name"] as string);
        item["downloadURL"] = u;
        url = u.length; // percent-encoded: ASCII
      }
      item["lockInfo"] = null;
      item["path"] = path;
      item["userName"] = userName;
      // A sync root can always be unsynchronized (spec §4: canDelete true).
      if (p === PARENT_TOP) item["canDelete"] = true;
      // Upper bound of its msgpack size: the JSON text's UTF-8 bytes (the values, each at least
      // as long in JSON as in msgpack; its uid is also in the id), the ids and path, the URL, and
      // the key names with their headers (under 200 bytes for every shape).
      const size =
        Buffer.byteLength(raw) -
        uid.length +
        id.length +
        parentId.length +
        path.length +
        url +
        userBytes +
        200;
      if (items.length > 0 && bytes + size > maxBytes) break;
      bytes += size;
      items.push(item as unknown as FileSystemItem);
      if (item["folder"] === true && !this.paths.has(i)) {
        this.paths.set(i, path);
        this.pathBytes += path.length + 48;
      }
    }
    return { items, next: i };
  }

  private repoOf(name: string): number {
    let i = this.repoIndex.get(name);
    if (i === undefined) {
      i = this.repos.length;
      this.repos.push(name);
      this.repoIndex.set(name, i);
    }
    return i;
  }

  private keyOf(repo: number, uid: string): string {
    return repo === 0 ? uid : `${repo}:${uid}`;
  }

  /** The listings to run; for a folder, checks it is in scope first. */
  private async prepare(): Promise<{ repository: string; uid: string }[]> {
    const o = this.o;
    if (o.target.kind === "folder") {
      const { repository, uid } = o.target;
      this.base = await folderPath(o, repository, uid);
      this.baseKey = this.keyOf(this.repoOf(repository), uid);
      return [{ repository, uid }];
    }
    const byRepo = new Map<string, string[]>();
    for (const r of o.roots) byRepo.set(r.repository, [...(byRepo.get(r.repository) ?? []), r.uid]);
    const shown: DocSnapshot[] = [];
    for (const [repository, uids] of byRepo) {
      const docs = await o.nuxeo.documentsByIds(repository, uids);
      for (const uid of uids) {
        const d = docs.get(uid);
        if (d === undefined) continue;
        // A root the user cannot see is not listed: a root inside it is a root of its own.
        const r = this.record(d);
        if (r !== null && (r.flags & (ROOT | EMITTABLE)) === (ROOT | EMITTABLE)) {
          this.decide(r, NOT_KEPT);
          shown.push(d.snapshot);
        }
      }
    }
    // A root inside another shown root comes with that root's listing: list outer ones only.
    return shown
      .filter(
        (d) =>
          !shown.some(
            (e) =>
              e !== d &&
              e.repository === d.repository &&
              d.path.startsWith(e.path === "/" ? "/" : `${e.path}/`),
          ),
      )
      .map((d) => ({ repository: d.repository, uid: d.uid }));
  }

  /** A listed document, or null when already seen (pages may repeat one). */
  private record(doc: NuxeoDocument): Rec | null {
    const s = doc.snapshot;
    const repo = this.repoOf(s.repository);
    const key = this.keyOf(repo, s.uid);
    if (this.seen!.has(key)) return null;
    this.seen!.set(key, UNDECIDED);
    let flags = 0;
    if (this.rootSet.has(s.repository, s.uid) && isActiveRootDoc(s)) flags |= ROOT;
    let data = "";
    if (isFileSystemItemDoc(s) && visible(this.o.principals, s)) {
      flags |= EMITTABLE;
      data = encodeEntry(this.shapes, this.o.principals, s);
    }
    return {
      key,
      repo,
      parentKey: s.parentUid === null ? null : this.keyOf(repo, s.parentUid),
      flags,
      data,
    };
  }

  /** Decides one document whose parent is decided, then the documents waiting for it. */
  private decide(first: Rec, firstParent: number): void {
    const stack: [Rec, number][] = [[first, firstParent]];
    while (stack.length > 0) {
      const [r, parent] = stack.pop()!;
      const root = (r.flags & ROOT) !== 0;
      let decision = NOT_KEPT;
      if ((r.flags & EMITTABLE) !== 0 && (root || parent !== NOT_KEPT)) {
        decision = this.data.length;
        this.data.push(r.data);
        this.repoIdx.push(r.repo);
        this.parentIdx.push(root ? PARENT_TOP : parent);
        this.dataBytes += r.data.length;
      }
      this.seen!.set(r.key, decision);
      const kids = this.waiting!.get(r.key);
      if (kids !== undefined) {
        this.waiting!.delete(r.key);
        for (const k of kids) stack.push([k, decision]);
      }
    }
  }

  /** Takes one listed document: decided now if its parent is, else waits for it. */
  private take(r: Rec): void {
    if (r.parentKey !== null && r.parentKey === this.baseKey) return this.decide(r, PARENT_BASE);
    const parent = r.parentKey === null ? undefined : this.seen!.get(r.parentKey);
    if (parent !== undefined && parent !== UNDECIDED) return this.decide(r, parent);
    // A sync root of the user is an item whatever its parent: no need to wait.
    if ((r.flags & ROOT) !== 0 || r.parentKey === null) return this.decide(r, NOT_KEPT);
    const list = this.waiting!.get(r.parentKey);
    if (list === undefined) this.waiting!.set(r.parentKey, [r]);
    else list.push(r);
  }

  private async list(
    bases: readonly { repository: string; uid: string }[],
    signal: AbortSignal,
  ): Promise<void> {
    const o = this.o;
    for (const b of bases) {
      const nxql = descendantsQuery(b.uid);
      for (let attempt = 1; ; attempt++) {
        let expected: number | null = null;
        let moved = false;
        for await (const page of o.nuxeo.queryAll(nxql, o.pageSize, { repository: b.repository })) {
          if (signal.aborted) throw new Error("the scroll was dropped; listing stopped");
          let first = false;
          if (page.resultsCount >= 0) {
            if (expected === null) {
              expected = page.resultsCount;
              first = true;
            } else if (page.resultsCount !== expected) moved = true;
          }
          // Sized before anything of the page is released: a refused listing releases nothing
          // more, and the call waiting for it sees the refusal, not the page.
          const recs: Rec[] = [];
          let added = 0;
          for (const doc of page.entries) {
            const r = this.record(doc);
            if (r === null) continue;
            recs.push(r);
            added += r.data.length + ENTRY_OVERHEAD + SEEN_OVERHEAD;
          }
          this.checkSize(added, recs.length, first ? page.resultsCount : -1);
          for (const r of recs) this.take(r);
          this.notify();
          o.onProgress?.();
          // Dropped meanwhile: do not even ask for the next page.
          if (signal.aborted) throw new Error("the scroll was dropped; listing stopped");
          if (moved && attempt < o.maxListingAttempts) break;
        }
        if (!moved) break;
        o.onRestart?.(attempt, b.uid);
        if (attempt >= o.maxListingAttempts) break;
      }
    }
    // Still waiting: their parent is not in the listing (hidden, or moved meanwhile).
    for (const list of [...this.waiting!.values()])
      for (const r of list) if ((r.flags & ROOT) !== 0) this.decide(r, NOT_KEPT);
  }

  /**
   * Refuses a listing that would not fit, before `adding` bytes of `docs` more documents: as soon
   * as the first page tells the total (`total`, projected from that page), and on every page.
   */
  private checkSize(adding: number, docs: number, total: number): void {
    let projected = this.bytes + adding;
    if (total > docs && docs > 0) {
      // What each document will hold once the listing is over (the seen map goes then).
      projected = Math.floor(((adding - docs * SEEN_OVERHEAD) / docs) * total);
    }
    if (projected > this.o.maxBytes) {
      throw new ListingRefused({
        kind: "tooLarge",
        message:
          `the folder has too many descendants for one scroll (more than ${this.o.maxBytes} ` +
          `bytes held); scan its subfolders one by one, or raise the scroll cache size`,
      });
    }
  }

  private finish(state: "done" | "failed", err: unknown): void {
    this.state = state;
    this.failure = err;
    // The listing's bookkeeping is not needed to render.
    this.seen = null;
    this.waiting = null;
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

/**
 * The scanned folder's item path (its id is the last segment): the folder must be in the user's
 * scope (spec §3) and folderish. Its ancestors' ACLs come in one batched call.
 */
async function folderPath(o: ListingOptions, repository: string, uid: string): Promise<string> {
  const notFound = () =>
    new ListingRefused({
      kind: "notFound",
      message: `${repository}#${uid} is not a folder this user can see under a sync root`,
    });
  const self = (await o.nuxeo.documentsByIds(repository, [uid])).get(uid);
  if (self === undefined || !isFolderish(self.snapshot)) throw notFound();
  const ancestorUids = self.breadcrumb.slice(0, -1).map((b) => b.uid);
  const found =
    ancestorUids.length === 0
      ? new Map<string, NuxeoDocument>()
      : await o.nuxeo.documentsByIds(repository, ancestorUids);
  const ancestors: DocSnapshot[] = [];
  for (const a of ancestorUids) {
    const d = found.get(a);
    // An ancestor gone meanwhile: the folder is going too.
    if (d === undefined) throw notFound();
    ancestors.push(d.snapshot);
  }
  const roots: RootSet = rootSetOf(o.roots);
  const scope = inScope(o.principals, self.snapshot, ancestors, roots);
  if (scope === null) throw notFound();
  return buildItem(o.principals, scope).path;
}
