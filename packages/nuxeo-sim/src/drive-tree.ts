// The tree a Drive user should see, computed from the simulator's repository by the rules of
// spec/NUXEO.md §3–4 and nothing else: the test oracle convergence tests compare each device's
// local tree with. It deliberately shares no code with drivecast's change computation.
//
// §3: `d` is in scope for `u` when some active root ρ of `u` is `d` or an ancestor of `d`, every
// document from ρ down to `d` is readable by `u`, and `d` is a FileSystemItem (folderish or
// carrying a blob; never a version, a proxy, trashed or HiddenInNavigation); its sync root is the
// deepest such ρ. The walk below goes top-down from each active root, so a document whose parent
// is not itself an item is not reached: no Drive client could attach it to anything.
// §4: ids `defaultSyncRootFolderItemFactory#<repo>#<uuid>` for a sync root (parent: the top
// level), `defaultFileSystemItemFactory#<repo>#<uuid>` otherwise (parent: the parent's item id);
// name = the blob's name for a file, else `dc:title`; digest = the blob's digest.
import type { SimDocument, Simulator } from "./types.js";

/** One item of a user's Drive tree: the canonical form the client SDK's `tree.snapshot()` uses. */
export interface DriveTreeRow {
  id: string;
  parentId: string;
  name: string;
  folder: boolean;
  /** Files only. */
  digest?: string;
}

const TOP = "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";

const isFolder = (d: SimDocument): boolean => d.facets.includes("Folderish");

/** §3: a FileSystemItem, and not a version, a proxy, trashed or hidden. */
function isItem(d: SimDocument): boolean {
  if (d.isVersion || d.isProxy || d.isTrashed) return false;
  if (d.facets.includes("HiddenInNavigation")) return false;
  return isFolder(d) || d.blob !== null;
}

function row(d: SimDocument, id: string, parentId: string): DriveTreeRow {
  const folder = isFolder(d);
  const out: DriveTreeRow = {
    id,
    parentId,
    name: !folder && d.blob !== null ? d.blob.name : d.title,
    folder,
  };
  if (!folder && d.blob !== null) out.digest = d.blob.digest;
  return out;
}

/**
 * The items `user` should see in `repository` (default: the simulator's default one), sorted by
 * id. Readability is Nuxeo's check (`sim.can(user, "Read", …)`: the user's principals against the
 * document's ACLs in order, administrators hold everything).
 */
export function driveTreeOf(
  sim: Simulator,
  user: string,
  options: { repository?: string } = {},
): DriveTreeRow[] {
  const repository = options.repository ?? sim.defaultRepository;
  const roots = new Set(sim.rootsOf(user, repository));
  const visible = (d: SimDocument) => sim.can(user, "Read", d.uid);
  const out: DriveTreeRow[] = [];
  const walk = (folder: SimDocument, folderId: string): void => {
    for (const child of sim.children(folder.uid)) {
      // An active root beneath: its own sync root is deeper (it is listed from the top level).
      if (roots.has(child.uid)) continue;
      if (!isItem(child) || !visible(child)) continue;
      const id = `defaultFileSystemItemFactory#${repository}#${child.uid}`;
      out.push(row(child, id, folderId));
      if (isFolder(child)) walk(child, id);
    }
  };
  for (const uid of roots) {
    const root = sim.get(uid);
    if (root === undefined || !isItem(root) || !visible(root)) continue;
    const id = `defaultSyncRootFolderItemFactory#${repository}#${uid}`;
    out.push(row(root, id, TOP));
    if (isFolder(root)) walk(root, id);
  }
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return out;
}
