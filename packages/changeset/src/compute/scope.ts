// Who sees what, through which sync root (spec/NUXEO.md §3).
//
// Roots come from the caller (the actor's view of the user's active roots, as a `RootSet`), not from the snapshots' `drv:subscriptions`: the actor is the one that knows, in
// event order, which roots the user had when an event happened; a snapshot is baked later and
// its ancestors may not carry subscriptions at all. The snapshot still vetoes a root that is
// trashed or a version, which is never active.
import type { DocSnapshot } from "@drivecast/protocol";
import { can, Permission, type Principals } from "./permissions.js";

export const Facet = {
  Folderish: "Folderish",
  HiddenInNavigation: "HiddenInNavigation",
  DriveSynchronized: "DriveSynchronized",
} as const;

/** A sync root as the user context knows it. */
export interface UserRoot {
  repository: string;
  uid: string;
  /** Repository path; used to place events whose before state is unknown. */
  path: string;
}

/** A user's roots, for membership tests on the hot path (no key string built per lookup). */
export interface RootSet {
  has(repository: string, uid: string): boolean;
}

export function rootSetOf(roots: Iterable<{ repository: string; uid: string }>): RootSet {
  const byRepo = new Map<string, Set<string>>();
  for (const r of roots) {
    let uids = byRepo.get(r.repository);
    if (uids === undefined) byRepo.set(r.repository, (uids = new Set()));
    uids.add(r.uid);
  }
  return { has: (repository, uid) => byRepo.get(repository)?.has(uid) === true };
}

export function isFolderish(doc: DocSnapshot): boolean {
  return doc.facets.includes(Facet.Folderish);
}

/**
 * Whether `doc` may be a FileSystemItem at all: folderish or carrying a blob, never a version, a
 * proxy, trashed or HiddenInNavigation. Says nothing about who may see it.
 */
export function isFileSystemItemDoc(doc: DocSnapshot): boolean {
  if (doc.isVersion || doc.isProxy || doc.isTrashed) return false;
  if (doc.facets.includes(Facet.HiddenInNavigation)) return false;
  return isFolderish(doc) || doc.blob != null;
}

/** `visible(u, d)` = `can(u, Read, d)`. */
export function visible(principals: Principals, doc: DocSnapshot): boolean {
  return can(principals, Permission.Read, doc.acls);
}

/** A root document is active only while it is neither trashed nor a version. */
export function isActiveRootDoc(doc: DocSnapshot): boolean {
  return !doc.isTrashed && !doc.isVersion;
}

/**
 * Spec §3's definition on a snapshot: an enabled `drv:subscriptions` entry for `user`, not
 * trashed, not a version. For bootstrapping a user's roots from documents (NXQL results).
 */
export function isActiveRootFor(user: string, doc: DocSnapshot): boolean {
  if (!isActiveRootDoc(doc)) return false;
  for (const s of doc.subscriptions) if (s.username === user && s.enabled) return true;
  return false;
}

/** The active roots of `user` among `docs`, as user roots. */
export function activeRootsOf(user: string, docs: Iterable<DocSnapshot>): UserRoot[] {
  const roots: UserRoot[] = [];
  for (const d of docs) {
    if (isActiveRootFor(user, d))
      roots.push({ repository: d.repository, uid: d.uid, path: d.path });
  }
  return roots;
}

/** Why a document is in scope: its deepest valid root and the documents from it down. */
export interface Scope {
  /** The item's sync root: the deepest active root from which every document down is visible. */
  readonly root: DocSnapshot;
  /** From the root (first) down to the document (last), inclusive. */
  readonly chain: readonly DocSnapshot[];
}

/**
 * `d` in scope for `u` (spec §3): some active root ρ of u is d or an ancestor of d, every
 * document from ρ down to d is visible to u, and d may be a FileSystemItem. Returns the deepest
 * such ρ with its chain, or null.
 *
 * `ancestors` go from the repository root down to d's parent. An invisible document between
 * the deepest root and d rules out every root above too (their chains cross it), so checking
 * visibility from the deepest root down is enough. Root lookups come first: most users an
 * event is evaluated for have no root on the way, and they cost no ACL evaluation.
 */
export function inScope(
  principals: Principals,
  doc: DocSnapshot,
  ancestors: readonly DocSnapshot[],
  roots: RootSet,
): Scope | null {
  if (!isFileSystemItemDoc(doc)) return null;
  const n = ancestors.length;
  let r = n;
  if (!isRootIn(roots, doc)) {
    r = -1;
    for (let i = n - 1; i >= 0; i--) {
      if (isRootIn(roots, ancestors[i]!)) {
        r = i;
        break;
      }
    }
    if (r < 0) return null;
  }
  if (!visible(principals, doc)) return null;
  for (let i = n - 1; i >= r; i--) if (!visible(principals, ancestors[i]!)) return null;
  if (r === n) return { root: doc, chain: [doc] };
  const chain = ancestors.slice(r);
  chain.push(doc);
  return { root: chain[0]!, chain };
}

function isRootIn(roots: RootSet, d: DocSnapshot): boolean {
  return roots.has(d.repository, d.uid) && isActiveRootDoc(d);
}

/** `path` is `base` or lies beneath it (repository paths, `/` separated). */
export function pathWithin(path: string, base: string): boolean {
  return path === base || pathStrictlyWithin(path, base);
}

/** `path` lies strictly beneath `base`. */
export function pathStrictlyWithin(path: string, base: string): boolean {
  if (base === "") return false;
  if (base === "/") return path.length > 1 && path.startsWith("/");
  return path.length > base.length && path.startsWith(base) && path[base.length] === "/";
}

/** Whether some root of the list, in `repository`, contains `path` (the root itself included). */
export function someRootContains(
  roots: readonly UserRoot[],
  repository: string,
  path: string,
): boolean {
  for (const r of roots) if (r.repository === repository && pathWithin(path, r.path)) return true;
  return false;
}
