// The root index: every active sync root (repository, uid, path, subscribed users), shared by
// all ingest instances (and read by the changeset) through KV `drive_roots`, key `<repo>.<uid>`.
//
// Invariant: an entry says what Nuxeo said about that document the last time an instance looked
// (its path and the users of its enabled `drv:subscriptions`), and a document Nuxeo no longer
// has is no entry. Writes never compute a root's users from an event alone: every event that may
// change a root (registration, unregistration, a move or removal at or above it) re-reads the
// root's snapshot from Nuxeo and writes what it says. Events replayed out of order (a Kafka
// redelivery, two partitions, a bootstrap racing live events) therefore converge to Nuxeo's
// current state instead of to the order they were processed in.
//
// Concurrency: each write is a compare-and-set on the key's revision, retried on conflict, so
// instances never overwrite each other blindly. Each instance watches the bucket for its local
// view, and applies its own successful writes to that view at once (the watch echoes them later
// with the same revision; older revisions are ignored), so the next event of a batch already
// routes with a root registered by the previous one.
//
// Bootstrap: the first instance to find the bucket never bootstrapped creates the marker key
// `_bootstrap` (create = compare-and-set on absence), pages the sync roots out of Nuxeo, and
// marks it done; the others wait for "done" before consuming. A bootstrapper that dies leaves
// a marker whose heartbeat goes stale, and another instance takes over. The marker's value is a
// RootEntry with no users, so readers that decode every key as a root ignore it.
import {
  WrongRevisionError,
  isRetriableError,
  retry,
  type Kv,
  type KvEntry,
  type Logger,
} from "@drivecast/bus";
import { msgpackCodec, rootKey, type DocSnapshot, type RootEntry } from "@drivecast/protocol";
import { BatchAbortedError } from "./errors.js";
import type { IngestNuxeo } from "./types.js";

/** Key of the bootstrap marker in `drive_roots`. */
export const BOOTSTRAP_KEY = "_bootstrap";

interface BootstrapMarker extends RootEntry {
  bootstrap: { state: "running" | "done"; owner: string; at: number };
}

const codec = msgpackCodec<RootEntry>();
const markerCodec = msgpackCodec<BootstrapMarker>();

function parentPath(path: string): string | null {
  if (path === "/" || path === "") return null;
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** The users of a root according to its snapshot: enabled subscriptions, sorted, unique. */
export function subscribedUsers(snapshot: DocSnapshot): string[] {
  const users = new Set<string>();
  for (const s of snapshot.subscriptions) if (s.enabled) users.add(s.username);
  return [...users].sort();
}

function sameEntry(a: RootEntry, b: RootEntry): boolean {
  return (
    a.repository === b.repository &&
    a.uid === b.uid &&
    a.path === b.path &&
    a.users.length === b.users.length &&
    a.users.every((u, i) => u === b.users[i])
  );
}

export interface RootIndexOptions {
  /** Backoff of KV writes while NATS is away. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface RootIndex {
  /** Resolves once the bucket's current state is loaded. */
  ready(): Promise<void>;
  size(): number;
  /** Changes whenever the view changes (to reuse lookups made since). */
  version(): number;
  /** Resolves once the view holds every write of the bucket up to `revision`. */
  watched(revision: number): Promise<void>;
  /** Roots equal to or containing `path`. */
  containing(repository: string, path: string): readonly RootEntry[];
  /** Roots strictly beneath `path`. */
  beneath(repository: string, path: string): readonly RootEntry[];
  byUid(repository: string, uid: string): RootEntry | undefined;
  /**
   * Makes the entry of `uid` say what `snapshot` says: its path and enabled subscriptions, or
   * no entry when the snapshot is null (gone), a version, or has no enabled subscription.
   * Retries while NATS is away, until `signal` aborts.
   */
  reconcile(
    repository: string,
    uid: string,
    snapshot: DocSnapshot | null,
    signal?: AbortSignal,
  ): Promise<void>;
  stop(): void;
}

interface Local {
  entry: RootEntry | null;
  revision: number;
}

const NO_ROOTS: readonly RootEntry[] = Object.freeze([]);

export async function createRootIndex(kv: Kv, options: RootIndexOptions = {}): Promise<RootIndex> {
  const byKey = new Map<string, Local>();
  /** Per repository: roots by path. */
  const byPath = new Map<string, Map<string, RootEntry[]>>();
  const sortedPaths = new Map<string, string[]>();
  let count = 0;
  let version = 0;
  let resolveReady!: () => void;
  const readyPromise = new Promise<void>((r) => (resolveReady = r));
  const retryBaseMs = options.retryBaseMs ?? 100;
  const retryMaxMs = options.retryMaxMs ?? 5_000;

  function unindex(entry: RootEntry): void {
    const paths = byPath.get(entry.repository);
    const list = paths?.get(entry.path)?.filter((e) => e.uid !== entry.uid) ?? [];
    if (list.length === 0) paths?.delete(entry.path);
    else paths?.set(entry.path, list);
    sortedPaths.delete(entry.repository);
    count--;
  }

  function index(entry: RootEntry): void {
    let paths = byPath.get(entry.repository);
    if (paths === undefined) byPath.set(entry.repository, (paths = new Map()));
    paths.set(entry.path, [
      ...(paths.get(entry.path) ?? []).filter((e) => e.uid !== entry.uid),
      entry,
    ]);
    sortedPaths.delete(entry.repository);
    count++;
  }

  /** Applies a value of `key` at `revision`, unless the view already holds a later one. */
  function apply(key: string, entry: RootEntry | null, revision: number): void {
    const old = byKey.get(key);
    if (old !== undefined && revision < old.revision) return;
    if (old?.entry) unindex(old.entry);
    byKey.set(key, { entry, revision });
    if (entry) index(entry);
    version++;
  }

  /** Highest bucket revision the watch delivered, and who waits for one. */
  let watched = 0;
  let revisionWaiters: { revision: number; resolve: () => void }[] = [];

  const watcher = await kv.watch(
    (event) => {
      if (event.revision > watched) {
        watched = event.revision;
        if (revisionWaiters.length > 0) {
          const due = revisionWaiters.filter((w) => w.revision <= watched);
          revisionWaiters = revisionWaiters.filter((w) => w.revision > watched);
          for (const w of due) w.resolve();
        }
      }
      if (event.key === BOOTSTRAP_KEY) return;
      let entry: RootEntry | null = null;
      if (event.value !== null) {
        try {
          entry = codec.decode(event.value);
        } catch {
          entry = null; // not a root entry (written by someone else): no root
        }
      }
      apply(event.key, entry, event.revision);
    },
    () => resolveReady(),
  );

  function sorted(repository: string): string[] {
    let list = sortedPaths.get(repository);
    if (list === undefined) {
      list = [...(byPath.get(repository)?.keys() ?? [])].sort();
      sortedPaths.set(repository, list);
    }
    return list;
  }

  function beneath(repository: string, path: string): readonly RootEntry[] {
    const paths = byPath.get(repository);
    if (paths === undefined || paths.size === 0) return NO_ROOTS;
    const prefix = path === "/" ? "/" : `${path}/`;
    const list = sorted(repository);
    // Binary search for the first path >= prefix; paths sharing the prefix follow contiguously.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]! < prefix) lo = mid + 1;
      else hi = mid;
    }
    if (lo >= list.length || !list[lo]!.startsWith(prefix)) return NO_ROOTS;
    const out: RootEntry[] = [];
    for (let i = lo; i < list.length && list[i]!.startsWith(prefix); i++) {
      out.push(...paths.get(list[i]!)!);
    }
    return out;
  }

  async function withRetry<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    try {
      return await retry(fn, {
        retries: Infinity,
        baseMs: retryBaseMs,
        maxMs: retryMaxMs,
        isRetriable: (e) => isRetriableError(e) && !(e instanceof BatchAbortedError),
        signal,
      });
    } catch (error) {
      if (signal?.aborted)
        throw new BatchAbortedError("aborted while writing the root index", error);
      throw error;
    }
  }

  /** Read-modify-write of one root with compare-and-set, retried on conflicts. */
  async function mutate(
    key: string,
    next: RootEntry | null,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (;;) {
      const current: KvEntry | null = await withRetry(() => kv.get(key), signal);
      let currentEntry: RootEntry | null = null;
      if (current !== null) {
        try {
          currentEntry = codec.decode(current.value);
        } catch {
          currentEntry = null;
        }
      }
      try {
        if (next === null) {
          if (current === null) return;
          await withRetry(() => kv.delete(key, current.revision), signal);
          apply(key, null, current.revision + 1);
        } else if (current !== null && currentEntry !== null && sameEntry(currentEntry, next)) {
          return;
        } else if (current !== null) {
          const revision = await withRetry(
            () => kv.update(key, codec.encode(next), current.revision),
            signal,
          );
          apply(key, next, revision);
        } else {
          const revision = await withRetry(() => kv.create(key, codec.encode(next)), signal);
          apply(key, next, revision);
        }
        return;
      } catch (error) {
        if (!(error instanceof WrongRevisionError)) throw error;
        // Someone wrote the key meanwhile: read again and decide again.
      }
    }
  }

  return {
    ready: () => readyPromise,
    size: () => count,
    version: () => version,
    watched(revision) {
      if (watched >= revision) return Promise.resolve();
      return new Promise<void>((resolve) => revisionWaiters.push({ revision, resolve }));
    },
    containing(repository, path) {
      const paths = byPath.get(repository);
      if (paths === undefined || paths.size === 0) return NO_ROOTS;
      let out: RootEntry[] | null = null;
      for (let p: string | null = path; p !== null; p = parentPath(p)) {
        const list = paths.get(p);
        if (list !== undefined) (out ??= []).push(...list);
      }
      return out ?? NO_ROOTS;
    },
    beneath,
    byUid: (repository, uid) => byKey.get(rootKey(repository, uid))?.entry ?? undefined,
    reconcile(repository, uid, snapshot, signal) {
      let next: RootEntry | null = null;
      if (snapshot !== null && !snapshot.isVersion) {
        const users = subscribedUsers(snapshot);
        if (users.length > 0) next = { repository, uid, path: snapshot.path, users };
      }
      return mutate(rootKey(repository, uid), next, signal);
    },
    stop: () => watcher.stop(),
  };
}

export interface BootstrapOptions {
  repositories: readonly string[];
  pageSize: number;
  /** Who bootstraps (logs, marker). */
  owner: string;
  /** A running marker older than this is taken over. Default 60 s. */
  staleMs?: number;
  /** How often a waiting instance looks at the marker again. Default 500 ms. */
  pollMs?: number;
  logger: Logger;
  now?: () => number;
  signal?: AbortSignal;
}

const BOOTSTRAP_NXQL =
  "SELECT * FROM Document WHERE ecm:mixinType = 'DriveSynchronized' AND ecm:isTrashed = 0 " +
  "AND ecm:isVersion = 0 ORDER BY ecm:uuid";

function marker(state: "running" | "done", owner: string, at: number): Uint8Array {
  return markerCodec.encode({
    repository: "",
    uid: "",
    path: "",
    users: [],
    bootstrap: { state, owner, at },
  });
}

/**
 * Fills the root index from Nuxeo when the bucket was never bootstrapped (see the design note
 * at the top). Resolves once the bucket is bootstrapped, by this instance (`ran: true`) or
 * another one. Nuxeo errors propagate (the worker fails to start and is restarted).
 */
export async function bootstrapRoots(
  kv: Kv,
  roots: RootIndex,
  nuxeo: Pick<IngestNuxeo, "queryAll">,
  options: BootstrapOptions,
): Promise<{ ran: boolean; roots: number }> {
  const now = options.now ?? Date.now;
  const staleMs = options.staleMs ?? 60_000;
  const pollMs = options.pollMs ?? 500;
  const { owner, logger } = options;
  for (;;) {
    if (options.signal?.aborted) throw new BatchAbortedError("stopped during the root bootstrap");
    const current = await kv.get(BOOTSTRAP_KEY);
    let revision: number;
    try {
      if (current === null) {
        if (roots.size() > 0) {
          // Roots written by events before any bootstrap marker existed: the bucket is live.
          await kv.create(BOOTSTRAP_KEY, marker("done", owner, now())).catch((e: unknown) => {
            if (!(e instanceof WrongRevisionError)) throw e;
          });
          return { ran: false, roots: roots.size() };
        }
        revision = await kv.create(BOOTSTRAP_KEY, marker("running", owner, now()));
      } else {
        const m = markerCodec.decode(current.value).bootstrap;
        if (m?.state === "done") {
          // The marker is written after the roots: once the view saw it, it has them all.
          await roots.watched(current.revision);
          return { ran: false, roots: roots.size() };
        }
        if (m !== undefined && now() - m.at < staleMs) {
          await new Promise((r) => setTimeout(r, pollMs));
          continue;
        }
        logger.warn({ previousOwner: m?.owner }, "root bootstrap marker is stale; taking over");
        revision = await kv.update(
          BOOTSTRAP_KEY,
          marker("running", owner, now()),
          current.revision,
        );
      }
    } catch (error) {
      if (error instanceof WrongRevisionError) continue; // another instance got there first
      throw error;
    }

    logger.info({ repositories: options.repositories }, "bootstrapping the root index from Nuxeo");
    let seen = 0;
    try {
      for (const repository of options.repositories) {
        for await (const page of nuxeo.queryAll(BOOTSTRAP_NXQL, options.pageSize, {
          repository,
        })) {
          // A few writes at a time: each is a read and a compare-and-set round trip.
          for (let i = 0; i < page.entries.length; i += 16) {
            await Promise.all(
              page.entries
                .slice(i, i + 16)
                .map((d) =>
                  roots.reconcile(repository, d.snapshot.uid, d.snapshot, options.signal),
                ),
            );
          }
          seen += page.entries.length;
          // Heartbeat; losing the compare-and-set means another instance took over.
          revision = await kv.update(BOOTSTRAP_KEY, marker("running", owner, now()), revision);
        }
      }
      await kv.update(BOOTSTRAP_KEY, marker("done", owner, now()), revision);
    } catch (error) {
      if (!(error instanceof WrongRevisionError)) throw error;
      logger.warn("another instance took the root bootstrap over; waiting for it");
      continue;
    }
    logger.info({ documents: seen, roots: roots.size() }, "root index bootstrapped from Nuxeo");
    return { ran: true, roots: roots.size() };
  }
}
