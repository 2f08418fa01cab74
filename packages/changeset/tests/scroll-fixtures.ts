// A fake of the few Nuxeo calls a scroll makes (`queryAll` on `ecm:ancestorId` / `ecm:uuid IN`,
// `documentsByIds`), over a small repository model with Nuxeo's ACL inheritance, and an oracle
// computing what a user's scan must contain from the same model with the pure item builder.
import type { Ace, Acl, DocSnapshot, FileSystemItem } from "@drivecast/protocol";
import type { NuxeoDocument, NuxeoPage } from "@drivecast/nuxeo";
import {
  isFileSystemItemDoc,
  rootSetOf,
  scrollItem,
  type Principals,
} from "../src/compute/index.js";
import type { ScrollNuxeo } from "../src/scroll.js";
import { seededRandom } from "@drivecast/nuxeo-sim";

export const REPO = "default";

interface Node {
  uid: string;
  parent: Node | null;
  name: string;
  path: string;
  folder: boolean;
  local: Ace[];
  blockInheritance: boolean;
  facets: string[];
  isTrashed: boolean;
  children: Node[];
  /** Creation order: the order a database without ORDER BY tends to answer in. */
  seq: number;
}

export type Order = "natural" | "reverse" | "shuffled";

export interface FakeOptions {
  order?: Order;
  seed?: number;
}

export class FakeNuxeo implements ScrollNuxeo {
  private readonly nodes = new Map<string, Node>();
  /** Bumped by every change: cached query results are valid for one version. */
  private version = 0;
  private readonly hitCache = new Map<string, { version: number; hits: Node[] }>();
  private seq = 0;
  readonly root: Node;
  order: Order;
  private readonly random: () => number;
  /** Requests made, by kind. */
  readonly requests = { query: 0, byIds: 0 };
  /** Largest page requested. */
  maxPageSize = 0;
  /** Called before each page is computed (page index from 0): lets a test change the tree. */
  beforePage: ((index: number, nxql: string) => void) | null = null;
  /** Fails the next n requests with a retriable error. */
  failNext = 0;
  /** Awaited before each page is answered: lets a test hold the listing (index from 0). */
  gate: ((index: number) => Promise<void>) | null = null;

  constructor(options: FakeOptions = {}) {
    this.order = options.order ?? "natural";
    this.random = seededRandom(options.seed ?? 1);
    this.root = this.add(null, "", true, [
      { username: "Administrators", permission: "Everything", granted: true },
    ]);
  }

  private add(parent: Node | null, name: string, folder: boolean, local: Ace[]): Node {
    const uid = `u${String(this.seq).padStart(7, "0")}-${name.replace(/[^A-Za-z0-9]/g, "")}`;
    const n: Node = {
      uid,
      parent,
      name,
      path: parent === null ? "/" : parent.path === "/" ? `/${name}` : `${parent.path}/${name}`,
      folder,
      local,
      blockInheritance: false,
      facets: folder ? ["Folderish"] : [],
      isTrashed: false,
      children: [],
      seq: this.seq++,
    };
    parent?.children.push(n);
    this.nodes.set(uid, n);
    this.version++;
    return n;
  }

  folder(parent: Node, name: string, local: Ace[] = []): Node {
    return this.add(parent, name, true, local);
  }

  file(parent: Node, name: string, local: Ace[] = []): Node {
    return this.add(parent, name, false, local);
  }

  /** Makes `n` invisible to whoever is not granted on it directly (Nuxeo's block inheritance). */
  block(n: Node): this {
    n.blockInheritance = true;
    this.version++;
    return this;
  }

  remove(n: Node): void {
    const stack = [n];
    while (stack.length > 0) {
      const d = stack.pop()!;
      this.nodes.delete(d.uid);
      stack.push(...d.children);
    }
    if (n.parent !== null) n.parent.children = n.parent.children.filter((c) => c !== n);
    this.version++;
  }

  get(uid: string): Node {
    const n = this.nodes.get(uid);
    if (n === undefined) throw new Error(`no node ${uid}`);
    return n;
  }

  acls(n: Node): Acl[] {
    const out: Acl[] = [];
    if (n.local.length > 0 || n.blockInheritance) {
      const aces = [...n.local];
      if (n.blockInheritance)
        aces.push({ username: "Everyone", permission: "Everything", granted: false });
      out.push({ name: "local", aces });
    }
    if (!n.blockInheritance && n.parent !== null) {
      const inherited = this.acls(n.parent).flatMap((a) => a.aces);
      if (inherited.length > 0) out.push({ name: "inherited", aces: inherited });
    }
    return out;
  }

  snapshot(n: Node): DocSnapshot {
    return {
      repository: REPO,
      uid: n.uid,
      path: n.path,
      parentUid: n.parent?.uid ?? null,
      type: n.folder ? "Folder" : "File",
      title: n.name,
      facets: [...n.facets],
      isVersion: false,
      isProxy: false,
      isTrashed: n.isTrashed,
      creator: "creator",
      lastContributor: "contributor",
      created: 1_600_000_000_000 + n.seq,
      modified: 1_600_000_500_000 + n.seq,
      blob: n.folder
        ? null
        : { name: `${n.name}.bin`, length: n.seq, digestAlgorithm: "MD5", digest: `d${n.seq}` },
      acls: this.acls(n),
      subscriptions: [],
    };
  }

  document(n: Node): NuxeoDocument {
    const breadcrumb: { uid: string; path: string }[] = [];
    for (let p: Node | null = n; p !== null && p.parent !== null; p = p.parent)
      breadcrumb.unshift({ uid: p.uid, path: p.path });
    return { snapshot: this.snapshot(n), breadcrumb };
  }

  /** From the repository root down to the parent. */
  ancestors(n: Node): DocSnapshot[] {
    const out: DocSnapshot[] = [];
    for (let p = n.parent; p !== null; p = p.parent) out.unshift(this.snapshot(p));
    return out;
  }

  descendants(n: Node): Node[] {
    const out: Node[] = [];
    const stack = [...n.children];
    while (stack.length > 0) {
      const d = stack.pop()!;
      out.push(d);
      stack.push(...d.children);
    }
    return out;
  }

  private ordered(list: Node[]): Node[] {
    const sorted = [...list].sort((a, b) => a.seq - b.seq);
    if (this.order === "reverse") sorted.reverse();
    if (this.order === "shuffled") {
      for (let i = sorted.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [sorted[i], sorted[j]] = [sorted[j]!, sorted[i]!];
      }
    }
    return sorted;
  }

  private hits(nxql: string): Node[] {
    const anc = /ecm:ancestorId = '([^']+)'/.exec(nxql);
    if (anc !== null) {
      const cached = this.hitCache.get(nxql);
      if (cached !== undefined && cached.version === this.version) return cached.hits;
      const hits = this.ancestorHits(anc[1]!, nxql);
      this.hitCache.set(nxql, { version: this.version, hits });
      return hits;
    }
    const ids = /ecm:uuid IN \(([^)]*)\)/.exec(nxql);
    if (ids !== null) {
      const uids = ids[1]!.split(",").map((s) => s.trim().slice(1, -1));
      return uids.flatMap((u) => {
        const n = this.nodes.get(u);
        return n === undefined ? [] : [n];
      });
    }
    throw new Error(`the fake does not understand ${nxql}`);
  }

  private ancestorHits(uid: string, nxql: string): Node[] {
    const base = this.nodes.get(uid);
    if (base === undefined) return [];
    // As the NXQL says: not trashed, not a version, not HiddenInNavigation.
    const all = this.descendants(base).filter(
      (d) => !d.isTrashed && !d.facets.includes("HiddenInNavigation"),
    );
    // A shuffled order must stay the same for every page of one listing.
    return this.order === "shuffled" ? this.stable(nxql, all) : this.ordered(all);
  }

  private readonly shuffles = new Map<string, Map<string, number>>();
  private stable(nxql: string, all: Node[]): Node[] {
    let rank = this.shuffles.get(nxql);
    if (rank === undefined) {
      rank = new Map(this.ordered(all).map((n, i) => [n.uid, i]));
      this.shuffles.set(nxql, rank);
    }
    const r = rank;
    return [...all].sort((a, b) => (r.get(a.uid) ?? -1) - (r.get(b.uid) ?? -1));
  }

  private fail(): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error("Nuxeo answered 503"), { retriable: true });
    }
  }

  async *queryAll(
    nxql: string,
    pageSize = 100,
    _options: { repository?: string } = {},
  ): AsyncIterable<NuxeoPage> {
    this.maxPageSize = Math.max(this.maxPageSize, pageSize);
    for (let index = 0; ; index++) {
      if (this.gate !== null) await this.gate(index);
      this.beforePage?.(index, nxql);
      this.fail();
      this.requests.query++;
      const hits = this.hits(nxql);
      const entries = hits
        .slice(index * pageSize, (index + 1) * pageSize)
        .map((n) => this.document(n));
      const isNextPageAvailable = (index + 1) * pageSize < hits.length;
      yield {
        entries,
        resultsCount: hits.length,
        pageSize,
        currentPageIndex: index,
        numberOfPages: Math.ceil(hits.length / pageSize),
        isNextPageAvailable,
      };
      if (!isNextPageAvailable || entries.length === 0) return;
    }
  }

  async documentsByIds(
    _repository: string,
    uids: readonly string[],
  ): Promise<Map<string, NuxeoDocument>> {
    this.fail();
    this.requests.byIds++;
    const out = new Map<string, NuxeoDocument>();
    for (const u of uids) {
      const n = this.nodes.get(u);
      if (n !== undefined) out.set(u, this.document(n));
    }
    return out;
  }
}

export const grant = (username: string, permission = "Read"): Ace => ({
  username,
  permission,
  granted: true,
});
export const deny = (username: string, permission = "Read"): Ace => ({
  username,
  permission,
  granted: false,
});

/**
 * What a scan of `base`'s descendants must return for the user, by uid: the item a change would
 * carry (spec §4), for every descendant in scope whose parent is in scope too (or is `base`).
 */
export function expectedItems(
  fake: FakeNuxeo,
  principals: Principals,
  roots: readonly Node[],
  base: Node | null,
): Map<string, FileSystemItem> {
  const rootSet = rootSetOf(roots.map((r) => ({ repository: REPO, uid: r.uid })));
  const starts = base === null ? roots : [base];
  const out = new Map<string, FileSystemItem>();
  for (const s of starts) {
    const candidates = base === null ? [s, ...fake.descendants(s)] : fake.descendants(s);
    for (const d of candidates) {
      const snap = fake.snapshot(d);
      if (!isFileSystemItemDoc(snap)) continue;
      const item = scrollItem(principals, snap, fake.ancestors(d), rootSet);
      if (item !== null) out.set(d.uid, item);
    }
  }
  // Items whose parent item is not delivered (a hidden parent) cannot be placed: not expected.
  const ids = new Set([...out.values()].map((i) => i.id));
  const top = "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";
  let changed = true;
  while (changed) {
    changed = false;
    for (const [uid, item] of out) {
      const parentOk =
        item.parentId === top ||
        ids.has(item.parentId) ||
        (base !== null && item.parentId.endsWith(`#${base.uid}`));
      if (!parentOk) {
        out.delete(uid);
        ids.delete(item.id);
        changed = true;
      }
    }
  }
  return out;
}

/** The uid at the end of an item id. */
export function uidOfItem(id: string): string {
  return id.slice(id.lastIndexOf("#") + 1);
}

/** A promise with its resolve, for holding a listing at a page. */
export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
