// Builders for FileSystemItems and changes shaped as NUXEO.md §4–5 says the server sends them.
import { TOP_LEVEL_ID } from "@drivecast/protocol";
import type { FileSystemItem, FileSystemItemChange } from "@drivecast/protocol";

export const TOP = TOP_LEVEL_ID;
export const rootId = (uuid: string): string => `defaultSyncRootFolderItemFactory#default#${uuid}`;
export const itemId = (uuid: string): string => `defaultFileSystemItemFactory#default#${uuid}`;

function base(id: string, parentId: string, name: string, folder: boolean): FileSystemItem {
  return {
    id,
    parentId,
    name,
    folder,
    creator: "alice",
    lastContributor: "alice",
    creationDate: 1,
    lastModificationDate: 1,
    canRename: true,
    canDelete: true,
    lockInfo: null,
    path: `/${TOP}/${id}`,
    userName: "alice",
  };
}

export function syncRoot(uuid: string, name = uuid): FileSystemItem {
  return {
    ...base(rootId(uuid), TOP, name, true),
    canCreateChild: true,
    canScrollDescendants: true,
  };
}

export function folder(uuid: string, parentId: string, name = uuid): FileSystemItem {
  return {
    ...base(itemId(uuid), parentId, name, true),
    canCreateChild: true,
    canScrollDescendants: true,
  };
}

export function file(
  uuid: string,
  parentId: string,
  name = uuid,
  digest = `md5-${uuid}`,
): FileSystemItem {
  return {
    ...base(itemId(uuid), parentId, name, false),
    digest,
    digestAlgorithm: "md5",
    size: 3,
    canUpdate: true,
    downloadURL: `nxfile/default/${uuid}/blobholder:0/${name}`,
  };
}

/** A change carrying an item. */
export function changed(
  eventId: string,
  item: FileSystemItem,
  eventDate: number,
): FileSystemItemChange {
  const uuid = item.id.slice(item.id.lastIndexOf("#") + 1);
  return {
    repositoryId: "default",
    eventId,
    eventDate,
    docUuid: uuid,
    fileSystemItem: item,
    fileSystemItemId: item.id,
    fileSystemItemName: item.name,
  };
}

/** A change without an item: short id, as for deletions. */
export function gone(eventId: string, uuid: string, eventDate: number): FileSystemItemChange {
  return {
    repositoryId: "default",
    eventId,
    eventDate,
    docUuid: uuid,
    fileSystemItem: null,
    fileSystemItemId: `default#${uuid}`,
    fileSystemItemName: null,
  };
}

/** Server order: eventDate descending. */
export function serverOrder(changes: FileSystemItemChange[]): FileSystemItemChange[] {
  return [...changes].sort((a, b) => b.eventDate - a.eventDate);
}
