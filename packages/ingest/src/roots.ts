// The root index: every active sync root (repository, uid, path, subscribed users), shared by
// all ingest instances through KV `drive_roots`.
//
// Invariant: after an instance applied a root (un)registration to the bucket, every instance
// routes later events with it — each instance watches the bucket and updates its local view.
// Writes are compare-and-set on the key's revision, retried on conflict, so two instances
// registering users on one root concurrently both land. The local view answers two questions
// per event in O(depth + log n): which roots contain a path, and which roots lie beneath it.
import type { Kv } from "@drivecast/bus";
import { WrongRevisionError } from "@drivecast/bus";
import { msgpackCodec, rootKey, type RootEntry } from "@drivecast/protocol";

const codec = msgpackCodec<RootEntry>();

function parentPath(path: string): string | null {
  if (path === "/" || path === "") return null;
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

function pathKey(repository: string, path: string): string {
  return `${repository}:${path}`;
}

export interface RootIndex {
  /** Resolves once the bucket's current state is loaded. */
  ready(): Promise<void>;
  size(): number;
  /** Roots equal to or containing `path`. */
  containing(repository: string, path: string): RootEntry[];
  /** Roots strictly beneath `path`. */
  beneath(repository: string, path: string): RootEntry[];
  byUid(repository: string, uid: string): RootEntry | undefined;
  /** Adds `user` to the root (creating it). */
  register(repository: string, uid: string, path: string, user: string): Promise<void>;
  /** Removes `user` from the root (deleting it when nobody is left). */
  unregister(repository: string, uid: string, user: string): Promise<void>;
  /** A document moved: roots at or beneath `oldPath` now live under `newPath`. */
  move(repository: string, oldPath: string, newPath: string): Promise<void>;
  /** Drop roots at or beneath `path` (the document was removed). */
  removeUnder(repository: string, path: string): Promise<void>;
  stop(): void;
}

export async function createRootIndex(kv: Kv): Promise<RootIndex> {
  const byKey = new Map<string, RootEntry>();
  const byPath = new Map<string, RootEntry[]>();
  let sortedPaths: string[] | null = null;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((r) => (resolveReady = r));

  function unindex(entry: RootEntry): void {
    const k = pathKey(entry.repository, entry.path);
    const list = byPath.get(k)?.filter((e) => e.uid !== entry.uid) ?? [];
    if (list.length === 0) byPath.delete(k);
    else byPath.set(k, list);
    sortedPaths = null;
  }

  function index(entry: RootEntry): void {
    const k = pathKey(entry.repository, entry.path);
    byPath.set(k, [...(byPath.get(k) ?? []).filter((e) => e.uid !== entry.uid), entry]);
    sortedPaths = null;
  }

  const watcher = await kv.watch(
    (event) => {
      const old = byKey.get(event.key);
      if (old) unindex(old);
      if (event.value === null) {
        byKey.delete(event.key);
        return;
      }
      const entry = codec.decode(event.value);
      byKey.set(event.key, entry);
      index(entry);
    },
    () => resolveReady(),
  );

  function sorted(): string[] {
    if (!sortedPaths) sortedPaths = [...byPath.keys()].sort();
    return sortedPaths;
  }

  /** Read-modify-write of one root with compare-and-set, retried on conflicts. */
  async function mutate(
    key: string,
    change: (current: RootEntry | null) => RootEntry | null,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await kv.get(key);
      const next = change(current ? codec.decode(current.value) : null);
      try {
        if (next === null) {
          if (current) await kv.delete(key, current.revision);
        } else if (current) {
          await kv.update(key, codec.encode(next), current.revision);
        } else {
          await kv.create(key, codec.encode(next));
        }
        return;
      } catch (error) {
        if (!(error instanceof WrongRevisionError) || attempt > 50) throw error;
      }
    }
  }

  function beneath(repository: string, path: string): RootEntry[] {
    const prefix = pathKey(repository, path === "/" ? "/" : `${path}/`);
    const paths = sorted();
    // Binary search for the first key >= prefix; keys sharing the prefix follow contiguously.
    let lo = 0;
    let hi = paths.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (paths[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    const out: RootEntry[] = [];
    for (let i = lo; i < paths.length && paths[i]!.startsWith(prefix); i++) {
      out.push(...byPath.get(paths[i]!)!);
    }
    return out;
  }

  return {
    ready: () => readyPromise,
    size: () => byKey.size,
    containing(repository, path) {
      const out: RootEntry[] = [];
      for (let p: string | null = path; p !== null; p = parentPath(p)) {
        const list = byPath.get(pathKey(repository, p));
        if (list) out.push(...list);
      }
      return out;
    },
    beneath,
    byUid: (repository, uid) => byKey.get(rootKey(repository, uid)),
    register(repository, uid, path, user) {
      return mutate(rootKey(repository, uid), (current) => {
        const users = new Set(current?.users ?? []);
        users.add(user);
        return { repository, uid, path, users: [...users].sort() };
      });
    },
    unregister(repository, uid, user) {
      return mutate(rootKey(repository, uid), (current) => {
        if (!current) return null;
        const users = current.users.filter((u) => u !== user);
        return users.length === 0 ? null : { ...current, users };
      });
    },
    async move(repository, oldPath, newPath) {
      const moved = [
        ...(byPath.get(pathKey(repository, oldPath)) ?? []),
        ...beneath(repository, oldPath),
      ];
      for (const root of moved) {
        await mutate(rootKey(repository, root.uid), (current) =>
          current && (current.path === oldPath || current.path.startsWith(`${oldPath}/`))
            ? { ...current, path: newPath + current.path.slice(oldPath.length) }
            : current,
        );
      }
    },
    async removeUnder(repository, path) {
      const gone = [...(byPath.get(pathKey(repository, path)) ?? []), ...beneath(repository, path)];
      for (const root of gone) await mutate(rootKey(repository, root.uid), () => null);
    },
    stop: () => watcher.stop(),
  };
}
