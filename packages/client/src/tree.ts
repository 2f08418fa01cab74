// The local tree model: a device's view of its user's remote tree, built only from what the
// server sends (change sets and scroll batches). Pure: no I/O, no clock.
//
// Rules (Nuxeo Drive's remote watcher, `_update_remote_states` and the scroll scan, NUXEO.md §4–5):
// - Items are keyed by FileSystemItem id. The parent relation is the item's `parentId`; the
//   top-level folder (TOP_LEVEL_ID) is implicit and never stored.
// - Within one change set the latest change per document wins: the set is sorted by eventDate
//   (newest first, ties in server order), every change after the first one for the same document
//   is dropped, and the rest is applied oldest first (so a parent created before its child is
//   there when the child arrives).
// - A change with an item upserts it: a rename or a move (new parentId) updates it in place.
//   A document has one item per user at a time, but its id changes with the factory (a folder
//   becoming a sync root goes from `defaultFileSystemItemFactory#r#u` to
//   `defaultSyncRootFolderItemFactory#r#u`): the older item of the same document is replaced and
//   its children are re-parented to the new id until the rescan that follows corrects them.
// - A change without an item (`deleted`, and `securityUpdated` with a null item) removes every
//   item whose id ends with the change's `fileSystemItemId` (deletions carry the short id
//   `<repo>#<uuid>`), together with its whole subtree. `deleted` with an item attached is
//   ignored, and so is an unknown event without an item (Drive does both).
// - Some changes imply changes to descendants that the server does not list (Nuxeo logs one
//   event for a moved folder, an ACL change on a folder, a folder restored from the trash).
//   Drive rescans such folders; `applyChanges` returns them in `rescan` so the caller scrolls
//   them and passes the result to `replaceDescendants`:
//     a folder the tree did not know (moved in, restored, made visible, copied; not a plain
//     `documentCreated`, which has no descendants yet), and a known folder whose change is
//     `documentMoved`, `securityUpdated`, `rootRegistered`, `documentRestored` or
//     `documentUntrashed`.
// - Items whose parent chain does not reach the top level (a child seen before its parent) are
//   kept while a set is applied and dropped by `prune()` once the set and its rescans are done;
//   they never appear in `snapshot()`.
import { TOP_LEVEL_ID } from "@drivecast/protocol";
import type { FileSystemItem, FileSystemItemChange } from "@drivecast/protocol";

/** What the tree keeps of an item: the FileSystemItem as received, or its restored essentials. */
export type TreeItem = Pick<FileSystemItem, "id" | "parentId" | "name" | "folder"> &
  Partial<Omit<FileSystemItem, "id" | "parentId" | "name" | "folder">>;

/** One row of the canonical snapshot. */
export interface SnapshotItem {
  id: string;
  parentId: string;
  name: string;
  folder: boolean;
  /** Files only, when known. */
  digest?: string;
}

/** What applying one change set did. */
export interface ApplyResult {
  /** The changes applied, in application order (oldest first). */
  applied: FileSystemItemChange[];
  /** Changes dropped because a newer change for the same document was in the set. */
  superseded: FileSystemItemChange[];
  /** Changes that did nothing (an unknown item deleted, an ignored event). */
  ignored: FileSystemItemChange[];
  /** Ids of items created or updated. */
  upserted: string[];
  /** Ids of items removed (subtrees included). */
  removed: string[];
  /**
   * Folders whose descendants must be rescanned (scroll them, then `replaceDescendants`), still
   * present after the set; none beneath another of the list.
   */
  rescan: string[];
}

/** What replacing a folder's descendants did. */
export interface ReplaceResult {
  upserted: string[];
  removed: string[];
}

export interface DriveTree {
  /** Number of items stored (including any not yet attached to the top level). */
  readonly size: number;
  get(id: string): TreeItem | undefined;
  has(id: string): boolean;
  /** Direct children of `id` (TOP_LEVEL_ID for the sync roots), in no particular order. */
  children(id: string): TreeItem[];
  /** Items whose id equals `ref` or ends with `#` + `ref` (Drive's suffix match). */
  matching(ref: string): TreeItem[];
  /** Every stored item. */
  items(): IterableIterator<TreeItem>;
  /** Whether `id`'s parent chain reaches the top level. */
  reachable(id: string): boolean;
  /** Applies one change set's `fileSystemChanges` (server order: eventDate descending). */
  applyChanges(changes: readonly FileSystemItemChange[]): ApplyResult;
  /**
   * Makes the descendants of folder `id` exactly `items` (a scroll of `id`; TOP_LEVEL_ID for a
   * full remote scan): upserts them and removes the former descendants they do not contain.
   */
  replaceDescendants(id: string, items: Iterable<TreeItem>): ReplaceResult;
  /** Upserts one item (see the module rules). Returns whether the tree changed. */
  upsert(item: TreeItem): boolean;
  /** Removes the items matching `ref` and their subtrees; returns the removed ids. */
  remove(ref: string): string[];
  /** Removes every item whose parent chain does not reach the top level; returns their ids. */
  prune(): string[];
  /** The items reachable from the top level, sorted by id: compare two trees with this. */
  snapshot(): SnapshotItem[];
  clear(): void;
}

/** Events that leave a known folder's descendants to be rescanned (see the module rules). */
const RESCAN_EVENTS: ReadonlySet<string> = new Set([
  "documentMoved",
  "securityUpdated",
  "rootRegistered",
  "documentRestored",
  "documentUntrashed",
]);

/** `<repo>#<uuid>` of an item id (`factory#repo#uuid`) or of a short id (`repo#uuid`). */
export function shortIdOf(id: string): string {
  const last = id.lastIndexOf("#");
  if (last <= 0) return id;
  const previous = id.lastIndexOf("#", last - 1);
  return previous < 0 ? id : id.slice(previous + 1);
}

/** Whether item `id` is designated by `ref` (equal, or `ref` is a `#`-aligned suffix of it). */
export function idMatches(id: string, ref: string): boolean {
  return (
    id === ref ||
    (id.length > ref.length && id.endsWith(ref) && id[id.length - ref.length - 1] === "#")
  );
}

/** The key "same document" is decided on inside a set. */
function documentKey(change: FileSystemItemChange): string {
  return shortIdOf(change.fileSystemItem?.id ?? change.fileSystemItemId);
}

/**
 * The changes of one set that Drive would apply, oldest first: the latest change per document
 * (by eventDate; for equal dates the one the server listed first, as in its descending order).
 */
export function latestPerDocument(changes: readonly FileSystemItemChange[]): {
  kept: FileSystemItemChange[];
  superseded: FileSystemItemChange[];
} {
  const indexed = changes.map((change, index) => ({ change, index }));
  // Newest first; a stable sort keeps server order for equal dates.
  indexed.sort((a, b) => b.change.eventDate - a.change.eventDate || a.index - b.index);
  const seen = new Set<string>();
  const kept: FileSystemItemChange[] = [];
  const superseded: FileSystemItemChange[] = [];
  for (const { change } of indexed) {
    const key = documentKey(change);
    if (seen.has(key)) {
      superseded.push(change);
      continue;
    }
    seen.add(key);
    kept.push(change);
  }
  kept.reverse();
  return { kept, superseded };
}

export function createDriveTree(items: Iterable<TreeItem> = []): DriveTree {
  const tree = new DriveTreeImpl();
  for (const item of items) tree.upsert(item);
  return tree;
}

class DriveTreeImpl implements DriveTree {
  private readonly byId = new Map<string, TreeItem>();
  /** parentId → child ids. */
  private readonly childIds = new Map<string, Set<string>>();
  /** shortIdOf(id) → ids (normally one). */
  private readonly byShortId = new Map<string, Set<string>>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): TreeItem | undefined {
    return this.byId.get(id);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  children(id: string): TreeItem[] {
    const ids = this.childIds.get(id);
    if (ids === undefined) return [];
    const out: TreeItem[] = [];
    for (const c of ids) out.push(this.byId.get(c) as TreeItem);
    return out;
  }

  matching(ref: string): TreeItem[] {
    const ids = this.byShortId.get(shortIdOf(ref));
    if (ids === undefined) return [];
    const out: TreeItem[] = [];
    for (const id of ids) if (idMatches(id, ref)) out.push(this.byId.get(id) as TreeItem);
    return out;
  }

  items(): IterableIterator<TreeItem> {
    return this.byId.values();
  }

  reachable(id: string): boolean {
    // Bounded walk: a cycle (stale parent ids) is not reachable.
    let current = this.byId.get(id);
    for (let steps = 0; current !== undefined && steps <= this.byId.size; steps++) {
      if (current.parentId === TOP_LEVEL_ID) return true;
      current = this.byId.get(current.parentId);
    }
    return false;
  }

  applyChanges(changes: readonly FileSystemItemChange[]): ApplyResult {
    const { kept, superseded } = latestPerDocument(changes);
    const result: ApplyResult = {
      applied: [],
      superseded,
      ignored: [],
      upserted: [],
      removed: [],
      rescan: [],
    };
    const rescan = new Set<string>();
    for (const change of kept) {
      const item = change.fileSystemItem;
      if (item === null) {
        if (change.eventId !== "deleted" && change.eventId !== "securityUpdated") {
          result.ignored.push(change);
          continue;
        }
        const removed = this.remove(change.fileSystemItemId);
        if (removed.length === 0) {
          result.ignored.push(change);
          continue;
        }
        for (const id of removed) rescan.delete(id);
        result.removed.push(...removed);
        result.applied.push(change);
        continue;
      }
      if (change.eventId === "deleted") {
        // Drive: "Ignore delete on doc_pair as a fsItem is attached".
        result.ignored.push(change);
        continue;
      }
      const known = this.byId.has(item.id) || this.byShortId.has(shortIdOf(item.id));
      const changed = this.upsert(item);
      if (
        item.folder &&
        ((!known && change.eventId !== "documentCreated") ||
          (known && RESCAN_EVENTS.has(change.eventId)))
      ) {
        rescan.add(item.id);
      }
      if (changed) result.upserted.push(item.id);
      result.applied.push(change);
    }
    result.rescan = this.outermost(rescan);
    return result;
  }

  /** The folders of `ids` still stored, without those beneath another one of them. */
  private outermost(ids: Set<string>): string[] {
    const out: string[] = [];
    for (const id of ids) {
      if (!this.byId.has(id)) continue;
      let covered = false;
      let current = this.byId.get(id);
      for (let steps = 0; current !== undefined && steps <= this.byId.size; steps++) {
        const parent = current.parentId;
        if (ids.has(parent) && this.byId.has(parent)) {
          covered = true;
          break;
        }
        current = this.byId.get(parent);
      }
      if (!covered) out.push(id);
    }
    return out;
  }

  replaceDescendants(id: string, items: Iterable<TreeItem>): ReplaceResult {
    const former = id === TOP_LEVEL_ID ? new Set(this.byId.keys()) : this.descendants(id);
    const incoming = new Set<string>();
    const upserted: string[] = [];
    for (const item of items) {
      incoming.add(item.id);
      if (this.upsert(item)) upserted.push(item.id);
    }
    const removed: string[] = [];
    for (const old of former) {
      if (incoming.has(old) || !this.byId.has(old)) continue;
      this.detach(old);
      removed.push(old);
    }
    return { upserted, removed };
  }

  upsert(item: TreeItem): boolean {
    const existing = this.byId.get(item.id);
    if (existing !== undefined) {
      if (existing === item || sameItem(existing, item)) return false;
      if (existing.parentId !== item.parentId) {
        this.unlinkChild(existing.parentId, item.id);
        this.linkChild(item.parentId, item.id);
      }
      this.byId.set(item.id, item);
      return true;
    }
    // The same document under another id (its factory changed): replace it, keep its children.
    const short = shortIdOf(item.id);
    const others = this.byShortId.get(short);
    const replaced = others === undefined ? [] : [...others];
    this.byId.set(item.id, item);
    this.linkChild(item.parentId, item.id);
    let ids = others;
    if (ids === undefined) {
      ids = new Set();
      this.byShortId.set(short, ids);
    }
    ids.add(item.id);
    for (const old of replaced) {
      for (const child of this.children(old)) {
        if (child.id === item.id) continue;
        this.upsert({ ...child, parentId: item.id });
      }
      this.detach(old);
    }
    return true;
  }

  remove(ref: string): string[] {
    const removed: string[] = [];
    for (const match of this.matching(ref)) {
      if (!this.byId.has(match.id)) continue; // inside a subtree removed just before
      const subtree = [match.id, ...this.descendants(match.id)];
      for (const id of subtree) {
        this.detach(id);
        removed.push(id);
      }
    }
    return removed;
  }

  prune(): string[] {
    const keep = new Set<string>();
    const stack = [TOP_LEVEL_ID];
    while (stack.length > 0) {
      const ids = this.childIds.get(stack.pop() as string);
      if (ids === undefined) continue;
      for (const id of ids) {
        if (keep.has(id)) continue;
        keep.add(id);
        stack.push(id);
      }
    }
    const removed: string[] = [];
    for (const id of [...this.byId.keys()]) {
      if (keep.has(id)) continue;
      this.detach(id);
      removed.push(id);
    }
    return removed;
  }

  snapshot(): SnapshotItem[] {
    const out: SnapshotItem[] = [];
    for (const item of this.byId.values()) {
      if (!this.reachable(item.id)) continue;
      const row: SnapshotItem = {
        id: item.id,
        parentId: item.parentId,
        name: item.name,
        folder: item.folder,
      };
      if (!item.folder && item.digest !== undefined) row.digest = item.digest;
      out.push(row);
    }
    out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out;
  }

  clear(): void {
    this.byId.clear();
    this.childIds.clear();
    this.byShortId.clear();
  }

  /** Every id beneath `id` (not `id` itself), by the children index; cycle-safe. */
  private descendants(id: string): Set<string> {
    const out = new Set<string>();
    const stack = [id];
    while (stack.length > 0) {
      const ids = this.childIds.get(stack.pop() as string);
      if (ids === undefined) continue;
      for (const c of ids) {
        if (c === id || out.has(c)) continue;
        out.add(c);
        stack.push(c);
      }
    }
    return out;
  }

  /** Removes one item from every index (its children stay, pointing at a missing parent). */
  private detach(id: string): void {
    const item = this.byId.get(id);
    if (item === undefined) return;
    this.byId.delete(id);
    this.unlinkChild(item.parentId, id);
    const short = shortIdOf(id);
    const ids = this.byShortId.get(short);
    if (ids !== undefined) {
      ids.delete(id);
      if (ids.size === 0) this.byShortId.delete(short);
    }
  }

  private linkChild(parentId: string, id: string): void {
    let ids = this.childIds.get(parentId);
    if (ids === undefined) {
      ids = new Set();
      this.childIds.set(parentId, ids);
    }
    ids.add(id);
  }

  private unlinkChild(parentId: string, id: string): void {
    const ids = this.childIds.get(parentId);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.childIds.delete(parentId);
  }
}

/** Shallow equality of two items' own fields (FileSystemItems are flat but for lockInfo: null). */
function sameItem(a: TreeItem, b: TreeItem): boolean {
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const k of ak) {
    if ((a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return false;
  }
  return true;
}
