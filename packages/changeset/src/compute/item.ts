// The FileSystemItem Nuxeo Drive would build for (user, document) (spec/NUXEO.md §4).
import {
  FILE_SYSTEM_ITEM_FACTORY,
  SYNC_ROOT_FACTORY,
  TOP_LEVEL_ID,
  type DocSnapshot,
  type FileSystemItem,
} from "@drivecast/protocol";
import { can, Permission, type Principals } from "./permissions.js";
import { inScope, isFolderish, type RootSet, type Scope } from "./scope.js";

/** Item id of a sync root: `defaultSyncRootFolderItemFactory#<repo>#<uuid>`. */
export function syncRootItemId(repository: string, uid: string): string {
  return `${SYNC_ROOT_FACTORY}#${repository}#${uid}`;
}

/** Item id of any other document: `defaultFileSystemItemFactory#<repo>#<uuid>`. */
export function fileSystemItemId(repository: string, uid: string): string {
  return `${FILE_SYSTEM_ITEM_FACTORY}#${repository}#${uid}`;
}

/** The id deletions carry, `<repo>#<uuid>`: clients match item ids by this suffix. */
export function shortId(repository: string, uid: string): string {
  return `${repository}#${uid}`;
}

const TOP_PATH = `/${TOP_LEVEL_ID}`;

// Drive's DocumentBackedFileItem replaces the characters invalid in file names before asking
// the download service for a URL; the download service then drops a `;param=…` tail.
const INVALID_IN_FILE_NAME = /[/\\*<>?":|]/g;
const PARAM_TAIL = /;\w+=.*/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The file name as it appears at the end of a download URL: Nuxeo's escaping (invalid file name
 * characters become `-`), then percent-encoded as one path component (UTF-8; `'` encoded too,
 * as Nuxeo's URIUtils does since NXP-11194).
 */
export function downloadFileName(name: string): string {
  const escaped = name.replace(INVALID_IN_FILE_NAME, "-").replace(PARAM_TAIL, "");
  // encodeURIComponent throws on a lone surrogate; Java would have written U+FFFD.
  return encodeURIComponent(escaped.replace(LONE_SURROGATE, "\uFFFD")).replace(/'/g, "%27");
}

/** `nxfile/<repo>/<uuid>/blobholder:0/<encoded name>` */
export function downloadURL(repository: string, uid: string, name: string): string {
  return `nxfile/${repository}/${uid}/blobholder:0/${downloadFileName(name)}`;
}

/**
 * The FileSystemItem of `scope`'s document for `principals.user` (spec §4). `scope` is what
 * `inScope` returned: its chain gives the ids and the path, its root the item's sync root.
 */
export function buildItem(principals: Principals, scope: Scope): FileSystemItem {
  const chain = scope.chain;
  const doc = chain[chain.length - 1]!;
  let path = TOP_PATH;
  let parentId: string = TOP_LEVEL_ID;
  let id = "";
  for (let i = 0; i < chain.length; i++) {
    parentId = i === 0 ? TOP_LEVEL_ID : id;
    const d = chain[i]!;
    id = i === 0 ? syncRootItemId(d.repository, d.uid) : fileSystemItemId(d.repository, d.uid);
    path += "/" + id;
  }
  const isRoot = chain.length === 1;
  const canRename = can(principals, Permission.WriteProperties, doc.acls);
  const folder = isFolderish(doc);
  const item: FileSystemItem = {
    id,
    parentId,
    name: doc.title,
    folder,
    creator: doc.creator,
    lastContributor: doc.lastContributor,
    creationDate: doc.created,
    lastModificationDate: doc.modified,
    canRename,
    canDelete: isRoot || can(principals, Permission.Remove, doc.acls),
    lockInfo: null,
    path,
    userName: principals.user,
  };
  if (folder) {
    item.canCreateChild = canRename;
    item.canScrollDescendants = true;
  } else {
    fileFields(item, doc, canRename);
  }
  return item;
}

function fileFields(item: FileSystemItem, doc: DocSnapshot, canRename: boolean): void {
  const blob = doc.blob;
  // Not folderish and in scope means a blob; stay total for a caller that skipped inScope.
  if (blob == null) {
    item.canUpdate = canRename;
    return;
  }
  // The blob's file name when it has one, else the title (an empty name is no file name).
  const name = blob.name || doc.title;
  item.name = name;
  item.downloadURL = downloadURL(doc.repository, doc.uid, name);
  item.digestAlgorithm = (blob.digestAlgorithm || "md5").toLowerCase();
  if (blob.digest != null) item.digest = blob.digest;
  // Nuxeo's REST gives the length as a string; a negative or missing length reads as 0.
  const size = Number(blob.length);
  item.size = Number.isFinite(size) && size > 0 ? size : 0;
  item.canUpdate = canRename;
}

/**
 * The item of `doc` for a remote scan (scroll): the same rules as a change, or null when the
 * document is not in the user's scope. `ancestors` go from the repository root down to the
 * parent.
 */
export function scrollItem(
  principals: Principals,
  doc: DocSnapshot,
  ancestors: readonly DocSnapshot[],
  roots: RootSet,
): FileSystemItem | null {
  const scope = inScope(principals, doc, ancestors, roots);
  return scope === null ? null : buildItem(principals, scope);
}
