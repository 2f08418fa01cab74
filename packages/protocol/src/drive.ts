// Nuxeo Drive's wire shapes (spec/NUXEO.md §4–5), exactly as Drive clients parse them.
// These objects go out unchanged in `changes` messages, GetChangeSummary and scroll results.

/** Item id of Drive's top-level folder. */
export const TOP_LEVEL_ID = "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";
export const SYNC_ROOT_FACTORY = "defaultSyncRootFolderItemFactory";
export const FILE_SYSTEM_ITEM_FACTORY = "defaultFileSystemItemFactory";

export interface FileSystemItem {
  id: string;
  parentId: string;
  name: string;
  folder: boolean;
  creator: string;
  lastContributor: string;
  creationDate: number;
  lastModificationDate: number;
  canRename: boolean;
  canDelete: boolean;
  lockInfo: null;
  path: string;
  userName: string;
  // files
  downloadURL?: string;
  digestAlgorithm?: string;
  digest?: string;
  size?: number;
  canUpdate?: boolean;
  /** `blobDigestUpdated` only. */
  oldDigest?: string;
  // folders
  canCreateChild?: boolean;
  canScrollDescendants?: boolean;
}

export interface FileSystemItemChange {
  repositoryId: string;
  eventId: string;
  eventDate: number;
  docUuid: string;
  fileSystemItem: FileSystemItem | null;
  fileSystemItemId: string;
  fileSystemItemName: string | null;
}

export interface FileSystemChangeSummary {
  fileSystemChanges: FileSystemItemChange[];
  syncDate: number;
  upperBound: number;
  hasTooManyChanges: boolean;
  activeSynchronizationRootDefinitions: string;
}

/** Drive change event ids drivecast emits (audit ids pass through for the "same eventId" rows). */
export const DriveEventId = {
  Deleted: "deleted",
  SecurityUpdated: "securityUpdated",
  DocumentMoved: "documentMoved",
  RootRegistered: "rootRegistered",
} as const;
