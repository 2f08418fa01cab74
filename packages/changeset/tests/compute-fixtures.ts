// A small repository model for the change computation tests: documents by path, local ACEs,
// inherited ACLs computed the way Nuxeo's `acls` enricher reports them (local first, then one
// `inherited` ACL merging the parent's), and audit events baked from it.
import type { Ace, BlobInfo, DocEvent, DocSnapshot } from "@drivecast/protocol";
import { userContext, type UserContext, type UserRoot } from "../src/compute/index.js";

export const REPO = "default";

export function grant(username: string, permission: string, status?: string): Ace {
  return status === undefined
    ? { username, permission, granted: true }
    : { username, permission, granted: true, status };
}

export function deny(username: string, permission: string): Ace {
  return { username, permission, granted: false };
}

/** uid of the document at `path`: its path without the leading slash, `/` → `_`. */
export function uidOf(path: string): string {
  return path === "/" ? "root" : path.slice(1).replaceAll("/", "_");
}

interface Node {
  path: string;
  uid: string;
  parent: string | null;
  folderish: boolean;
  title: string;
  local: Ace[];
  blob: BlobInfo | null;
  facets: string[];
  isVersion: boolean;
  isProxy: boolean;
  isTrashed: boolean;
  subscriptions: { username: string; enabled: boolean }[];
}

export interface DocOptions {
  acl?: Ace[];
  title?: string;
  blob?: Partial<BlobInfo> | null;
  facets?: string[];
  isVersion?: boolean;
  isProxy?: boolean;
  isTrashed?: boolean;
  uid?: string;
}

export class Tree {
  private readonly nodes = new Map<string, Node>();
  private clock = 1_700_000_000_000;

  constructor(rootAcl: Ace[] = [grant("Administrators", "Everything")]) {
    this.add("/", null, true, { acl: rootAcl, title: "Root" });
  }

  folder(path: string, options: DocOptions = {}): this {
    this.add(path, parentPath(path), true, options);
    return this;
  }

  /** A file document: carries a blob unless `blob: null`. */
  file(path: string, options: DocOptions = {}): this {
    this.add(path, parentPath(path), false, options);
    return this;
  }

  private add(path: string, parent: string | null, folderish: boolean, o: DocOptions): void {
    if (parent !== null && !this.nodes.has(parent)) throw new Error(`no parent for ${path}`);
    const name = path.slice(path.lastIndexOf("/") + 1);
    let blob: BlobInfo | null;
    if (o.blob === null) blob = null;
    else if (folderish) blob = o.blob === undefined ? null : { name, length: 3, ...o.blob };
    else {
      const base = { name, mimeType: "text/plain", digestAlgorithm: "MD5", digest: `d-${name}` };
      blob = { ...base, length: 3, ...o.blob };
    }
    this.nodes.set(path, {
      path,
      uid: o.uid ?? uidOf(path),
      parent,
      folderish,
      title: o.title ?? (name === "" ? "Root" : name.toUpperCase()),
      local: o.acl ?? [],
      blob,
      facets: o.facets ?? [],
      isVersion: o.isVersion ?? false,
      isProxy: o.isProxy ?? false,
      isTrashed: o.isTrashed ?? false,
      subscriptions: [],
    });
  }

  private node(path: string): Node {
    const n = this.nodes.get(path);
    if (n === undefined) throw new Error(`no document at ${path}`);
    return n;
  }

  has(path: string): boolean {
    return this.nodes.has(path);
  }

  /** Subscribe users to the document at `path` (`drv:subscriptions`). */
  subscribe(path: string, ...users: string[]): this {
    for (const u of users) this.node(path).subscriptions.push({ username: u, enabled: true });
    return this;
  }

  setAcl(path: string, aces: Ace[]): this {
    this.node(path).local = aces;
    return this;
  }

  set(path: string, change: Partial<Pick<Node, "isTrashed" | "title" | "blob" | "facets">>): this {
    Object.assign(this.node(path), change);
    return this;
  }

  /** Move the subtree at `from` to `to` (new full path). */
  move(from: string, to: string): this {
    const moved = [...this.nodes.values()].filter(
      (n) => n.path === from || n.path.startsWith(`${from}/`),
    );
    for (const n of moved) this.nodes.delete(n.path);
    for (const n of moved) {
      n.path = to + n.path.slice(from.length);
      n.parent = parentPath(n.path);
      this.nodes.set(n.path, n);
    }
    return this;
  }

  remove(path: string): this {
    for (const p of [...this.nodes.keys()])
      if (p === path || p.startsWith(`${path}/`)) this.nodes.delete(p);
    return this;
  }

  snapshot(path: string): DocSnapshot {
    const n = this.node(path);
    const acls = [];
    if (n.local.length > 0) acls.push({ name: "local", aces: [...n.local] });
    if (n.parent !== null) {
      const inherited = this.snapshot(n.parent).acls.flatMap((a) => a.aces);
      if (inherited.length > 0) acls.push({ name: "inherited", aces: inherited });
    }
    const facets = [...n.facets];
    if (n.folderish) facets.push("Folderish");
    if (n.subscriptions.length > 0) facets.push("DriveSynchronized");
    return {
      repository: REPO,
      uid: n.uid,
      path: n.path,
      parentUid: n.parent === null ? null : this.node(n.parent).uid,
      type: n.folderish ? "Folder" : "File",
      title: n.title,
      facets,
      isVersion: n.isVersion,
      isProxy: n.isProxy,
      isTrashed: n.isTrashed,
      creator: "creator",
      lastContributor: "contributor",
      created: 1_600_000_000_000,
      modified: 1_600_000_500_000,
      blob: n.blob === null ? null : { ...n.blob },
      acls,
      subscriptions: n.subscriptions.map((s) => ({ ...s })),
    };
  }

  /** From the repository root down to the parent. */
  ancestors(path: string): DocSnapshot[] {
    const chain: DocSnapshot[] = [];
    let p = this.node(path).parent;
    while (p !== null) {
      chain.unshift(this.snapshot(p));
      p = this.node(p).parent;
    }
    return chain;
  }

  root(path: string): UserRoot {
    return { repository: REPO, uid: this.node(path).uid, path };
  }

  /** An event on the current state of `path` (or on a removed document: give `uid`). */
  event(eventId: string, path: string, extra: Partial<DocEvent> = {}): DocEvent {
    const exists = this.nodes.has(path);
    const parent = parentPath(path);
    return {
      source: `audit/0/${this.clock}`,
      eventId,
      category: "eventDocumentCategory",
      repositoryId: REPO,
      docUuid: exists ? this.node(path).uid : uidOf(path),
      docPath: path,
      docType: exists && this.node(path).folderish ? "Folder" : "File",
      docLifeCycle: "project",
      principalName: "editor",
      comment: null,
      eventDate: this.clock++,
      extended: {},
      doc: exists ? this.snapshot(path) : null,
      ancestors: exists
        ? this.ancestors(path)
        : parent !== null && this.nodes.has(parent)
          ? [...this.ancestors(parent), this.snapshot(parent)]
          : [],
      before: null,
      users: [],
      ...extra,
    };
  }

  /** Move `from` to `to` and return the baked `documentMoved` event (with `before`). */
  moveEvent(from: string, to: string, options: { knownBefore?: boolean } = {}): DocEvent {
    const oldParent = parentPath(from)!;
    const before = {
      parentUid: this.node(oldParent).uid,
      path: from,
      ancestors: [...this.ancestors(from)],
    };
    this.move(from, to);
    return this.event("documentMoved", to, {
      comment: `${REPO}:${before.parentUid}`,
      before: options.knownBefore === false ? null : before,
    });
  }
}

export function parentPath(path: string): string | null {
  if (path === "/") return null;
  const i = path.lastIndexOf("/");
  return i === 0 ? "/" : path.slice(0, i);
}

export interface UserOptions {
  groups?: string[];
  admin?: boolean;
  roots?: string[];
}

export function ctxFor(tree: Tree, user: string, o: UserOptions = {}): UserContext {
  return userContext({
    user,
    groups: o.groups ?? [],
    isAdministrator: o.admin ?? false,
    roots: (o.roots ?? []).map((p) => tree.root(p)),
  });
}
