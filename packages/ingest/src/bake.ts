// Baking: the snapshots an actor needs to decide, per user, what an event means — the document
// after the event, each of its ancestors with its own ACL, and for moves the previous parent's
// chain. One batched NXQL call (`ecm:uuid IN (…)`, the client splits it by its batch size) for
// the documents of a poll batch, and one for the ancestors missing from the folder cache, so
// Nuxeo calls grow with events, never with clients; at steady state the ancestors are cached.
//
// Cache invariant: a cached folder snapshot is the folder as Nuxeo had it at some point after
// the last processed event that changed it. It holds because every event that changes a folder
// or what it inherits (move: paths; security: inherited ACLs; trash, untrash, restore, removal:
// flags) invalidates the folder AND every cached folder beneath it — each entry records its
// ancestors' uids, so "beneath" is exact even when paths changed — before the batch that
// carries the event resolves any ancestor. Renames and root (un)registrations change only the
// folder itself, which that batch fetches afresh (a fetched document always replaces the cached
// one). Events handled by another ingest instance arrive as invalidation messages; a lost
// message is bounded by the TTL.
import { LRUCache } from "lru-cache";
import type { DocSnapshot } from "@drivecast/protocol";
import type { FetchedDocument } from "./types.js";

/** What the baker needs from Nuxeo. */
export interface DocumentSource {
  documentsByIds(
    repository: string,
    uids: readonly string[],
  ): Promise<Map<string, FetchedDocument>>;
}

export interface Baked {
  /** null: the document does not exist any more. */
  doc: DocSnapshot | null;
  /** From the top of the repository down to the parent. */
  ancestors: DocSnapshot[];
}

export interface BakerOptions {
  /** Folder snapshots kept (default 50,000). */
  folderCacheSize?: number;
  /** How long a cached folder snapshot is trusted without an event on it (default 10 min). */
  folderTtlMs?: number;
}

export interface BakerStats {
  /** Ancestors (and previous parents) served from the cache. */
  hits: number;
  /** Ancestors fetched from Nuxeo. */
  misses: number;
  /** Cached folders dropped by invalidations. */
  invalidated: number;
}

export interface Baker {
  /** Snapshots of `uids` (one repository) with their ancestor chains; gone ones map to doc null. */
  bake(repository: string, uids: readonly string[]): Promise<Map<string, Baked>>;
  /**
   * The chains of folders (moves' previous parents), each top-down and itself last; null for
   * a folder gone. Cached ones cost nothing; the others one batched call (and one for their
   * missing ancestors).
   */
  chains(repository: string, uids: readonly string[]): Promise<Map<string, DocSnapshot[] | null>>;
  /** The cached path of a folder, without any call. */
  peekPath(repository: string, uid: string): string | undefined;
  /** Forget the folders `uids` and every cached folder beneath them; returns how many. */
  invalidateSubtrees(repository: string, uids: Iterable<string>): number;
  readonly size: number;
  readonly stats: BakerStats;
}

interface CachedFolder {
  snapshot: DocSnapshot;
  /** Ancestors' uids, top-down, without the folder itself. */
  ancestorUids: string[];
}

const key = (repository: string, uid: string): string => `${repository}\u0000${uid}`;

function isFolder(s: DocSnapshot): boolean {
  return s.facets.includes("Folderish");
}

export function createBaker(source: DocumentSource, options: BakerOptions = {}): Baker {
  const folders = new LRUCache<string, CachedFolder>({
    max: Math.max(1, options.folderCacheSize ?? 50_000),
    ttl: options.folderTtlMs ?? 600_000,
  });
  const stats: BakerStats = { hits: 0, misses: 0, invalidated: 0 };

  function remember(repository: string, d: FetchedDocument): void {
    if (!isFolder(d.snapshot)) return;
    folders.set(key(repository, d.snapshot.uid), {
      snapshot: d.snapshot,
      ancestorUids: d.breadcrumb.slice(0, -1).map((b) => b.uid),
    });
  }

  async function fetch(repository: string, uids: string[]): Promise<Map<string, FetchedDocument>> {
    if (uids.length === 0) return new Map();
    const docs = await source.documentsByIds(repository, uids);
    for (const d of docs.values()) remember(repository, d);
    return docs;
  }

  /**
   * Snapshots of `uids`: `fresh` first (fetched in this batch), then the cache, then one
   * batched call for the rest. A uid that no longer exists is absent from the result.
   */
  async function resolve(
    repository: string,
    uids: Iterable<string>,
    fresh: Map<string, FetchedDocument>,
  ): Promise<Map<string, DocSnapshot>> {
    const out = new Map<string, DocSnapshot>();
    const missing = new Set<string>();
    for (const uid of uids) {
      if (out.has(uid)) continue;
      const f = fresh.get(uid);
      if (f !== undefined) {
        out.set(uid, f.snapshot);
        continue;
      }
      const hit = folders.get(key(repository, uid));
      if (hit !== undefined) {
        stats.hits++;
        out.set(uid, hit.snapshot);
      } else {
        missing.add(uid);
      }
    }
    stats.misses += missing.size;
    for (const [uid, d] of await fetch(repository, [...missing])) out.set(uid, d.snapshot);
    return out;
  }

  /** The ancestors of a breadcrumb (itself excluded); null when one vanished meanwhile. */
  function chainOf(
    breadcrumb: readonly { uid: string }[],
    known: Map<string, DocSnapshot>,
  ): DocSnapshot[] | null {
    const chain: DocSnapshot[] = [];
    for (let i = 0; i < breadcrumb.length - 1; i++) {
      const s = known.get(breadcrumb[i]!.uid);
      if (s === undefined) return null;
      chain.push(s);
    }
    return chain;
  }

  return {
    stats,
    get size() {
      return folders.size;
    },
    async bake(repository, uids) {
      const unique = [...new Set(uids)];
      const docs = await fetch(repository, unique);
      const wanted: string[] = [];
      for (const d of docs.values()) {
        for (let i = 0; i < d.breadcrumb.length - 1; i++) wanted.push(d.breadcrumb[i]!.uid);
      }
      const known = await resolve(repository, wanted, docs);
      const out = new Map<string, Baked>();
      for (const uid of unique) {
        const d = docs.get(uid);
        const chain = d === undefined ? null : chainOf(d.breadcrumb, known);
        // An ancestor removed between the two calls: the document went with it.
        out.set(
          uid,
          d !== undefined && chain !== null
            ? { doc: d.snapshot, ancestors: chain }
            : { doc: null, ancestors: [] },
        );
      }
      return out;
    },
    async chains(repository, uids) {
      // Walk up the cache by ancestor uids first: a move's previous parent is usually a folder
      // seen recently, and then the move costs Nuxeo nothing. The others: one batched call.
      const out = new Map<string, DocSnapshot[] | null>();
      const missing: string[] = [];
      for (const uid of new Set(uids)) {
        const cached = folders.get(key(repository, uid));
        if (cached !== undefined) {
          const chain: DocSnapshot[] = [];
          for (const a of cached.ancestorUids) {
            const s = folders.get(key(repository, a));
            if (s === undefined) break;
            chain.push(s.snapshot);
          }
          if (chain.length === cached.ancestorUids.length) {
            stats.hits++;
            chain.push(cached.snapshot);
            out.set(uid, chain);
            continue;
          }
        }
        stats.misses++;
        missing.push(uid);
      }
      if (missing.length === 0) return out;
      const docs = await fetch(repository, missing);
      const wanted: string[] = [];
      for (const d of docs.values()) {
        for (let i = 0; i < d.breadcrumb.length - 1; i++) wanted.push(d.breadcrumb[i]!.uid);
      }
      const known = await resolve(repository, wanted, docs);
      for (const uid of missing) {
        const d = docs.get(uid);
        const chain = d === undefined ? null : chainOf(d.breadcrumb, known);
        out.set(uid, chain === null || d === undefined ? null : [...chain, d.snapshot]);
      }
      return out;
    },
    peekPath(repository, uid) {
      return folders.peek(key(repository, uid))?.snapshot.path;
    },
    invalidateSubtrees(repository, uids) {
      const set = new Set(uids);
      if (set.size === 0 || folders.size === 0) return 0;
      const drop: string[] = [];
      // One pass over the cache for the whole set: O(cache × depth) per batch that changes
      // folders, nothing for the batches that do not.
      for (const [k, v] of folders.entries()) {
        if (v.snapshot.repository !== repository) continue;
        if (set.has(v.snapshot.uid) || v.ancestorUids.some((a) => set.has(a))) drop.push(k);
      }
      for (const k of drop) folders.delete(k);
      stats.invalidated += drop.length;
      return drop.length;
    },
  };
}
