// Baking: the snapshots an actor needs to decide, per user, what an event means — the document
// after the event, each of its ancestors with its own ACL, and for moves the previous parent's
// chain. One batched NXQL call per poll batch for the documents, folder snapshots from a cache,
// so Nuxeo calls grow with events, never with clients.
import { LRUCache } from "lru-cache";
import type { DocSnapshot } from "@drivecast/protocol";

/** What the baker needs from Nuxeo (a subset of @drivecast/nuxeo's client). */
export interface DocumentSource {
  /** The documents that exist among `uids`, by uid. */
  documentsByIds(
    repository: string,
    uids: readonly string[],
  ): Promise<Map<string, { snapshot: DocSnapshot; breadcrumb: { uid: string; path: string }[] }>>;
}

export interface Baked {
  doc: DocSnapshot | null;
  ancestors: DocSnapshot[];
}

export interface BakerOptions {
  /** Folder snapshots kept (default 100,000). */
  folderCacheSize?: number;
  /** How long a cached folder snapshot is trusted without an event on it (default 10 min). */
  folderTtlMs?: number;
}

export interface Baker {
  /** Snapshots of `uids` (one repository) with their ancestor chains; missing docs map to null. */
  bake(repository: string, uids: string[]): Promise<Map<string, Baked>>;
  /** The chain of a folder (its ancestors, then itself), e.g. a move's previous parent. */
  chain(repository: string, uid: string): Promise<DocSnapshot[] | null>;
  /** Forget a folder (it moved, was renamed, or its ACL changed). */
  invalidate(repository: string, uid: string): void;
  /** Forget every cached folder at or beneath a path (a move or ACL change of an ancestor). */
  invalidateUnder(repository: string, path: string): void;
  readonly stats: { hits: number; misses: number };
}

export function createBaker(source: DocumentSource, options: BakerOptions = {}): Baker {
  const folders = new LRUCache<string, DocSnapshot>({
    max: options.folderCacheSize ?? 100_000,
    ttl: options.folderTtlMs ?? 600_000,
  });
  const stats = { hits: 0, misses: 0 };
  const key = (repository: string, uid: string) => `${repository}:${uid}`;

  async function fetch(repository: string, uids: string[]) {
    return uids.length === 0 ? new Map() : source.documentsByIds(repository, uids);
  }

  /** Resolves ancestor uids to snapshots: cache first, one batched call for the rest. */
  async function ancestors(repository: string, uids: string[]): Promise<Map<string, DocSnapshot>> {
    const out = new Map<string, DocSnapshot>();
    const missing: string[] = [];
    for (const uid of new Set(uids)) {
      const hit = folders.get(key(repository, uid));
      if (hit) {
        stats.hits++;
        out.set(uid, hit);
      } else {
        stats.misses++;
        missing.push(uid);
      }
    }
    for (const [uid, d] of await fetch(repository, missing)) {
      folders.set(key(repository, uid), d.snapshot);
      out.set(uid, d.snapshot);
    }
    return out;
  }

  function chainOf(
    breadcrumb: { uid: string }[],
    known: Map<string, DocSnapshot>,
  ): DocSnapshot[] | null {
    const chain: DocSnapshot[] = [];
    for (const b of breadcrumb) {
      const s = known.get(b.uid);
      // An ancestor that vanished between the two calls: the document is going too.
      if (!s) return null;
      chain.push(s);
    }
    return chain;
  }

  return {
    stats,
    async bake(repository, uids) {
      const docs = await fetch(repository, [...new Set(uids)]);
      const wanted: string[] = [];
      for (const d of docs.values()) {
        for (const b of d.breadcrumb.slice(0, -1)) wanted.push(b.uid);
      }
      const known = await ancestors(repository, wanted);
      const out = new Map<string, Baked>();
      for (const uid of uids) {
        const d = docs.get(uid);
        const chain = d ? chainOf(d.breadcrumb.slice(0, -1), known) : null;
        out.set(uid, d && chain ? { doc: d.snapshot, ancestors: chain } : { doc: null, ancestors: [] });
        // Folders seen as documents refresh the cache: their ancestors' view stays current.
        if (d && d.snapshot.facets.includes("Folderish")) folders.set(key(repository, uid), d.snapshot);
      }
      return out;
    },
    async chain(repository, uid) {
      // Walk up the cache by parent links first: a move's previous parent is usually a folder
      // seen recently, and then the move costs Nuxeo nothing.
      const cached: DocSnapshot[] = [];
      for (let at: string | null = uid; at !== null; ) {
        const s = folders.get(key(repository, at));
        if (!s) break;
        cached.unshift(s);
        at = s.parentUid;
        // The chain ends at the repository's top (breadcrumbs stop below the root document).
        if (at === null || s.path.lastIndexOf("/") === 0) {
          stats.hits++;
          return cached;
        }
      }
      stats.misses++;
      const d = (await fetch(repository, [uid])).get(uid);
      if (!d) return null;
      const known = await ancestors(
        repository,
        d.breadcrumb.slice(0, -1).map((b: { uid: string }) => b.uid),
      );
      const chain = chainOf(d.breadcrumb.slice(0, -1), known);
      return chain ? [...chain, d.snapshot] : null;
    },
    invalidate(repository, uid) {
      folders.delete(key(repository, uid));
    },
    invalidateUnder(repository, path) {
      const prefix = `${path}/`;
      for (const [k, s] of folders.entries()) {
        if (s.repository === repository && (s.path === path || s.path.startsWith(prefix))) {
          folders.delete(k);
        }
      }
    },
  };
}
