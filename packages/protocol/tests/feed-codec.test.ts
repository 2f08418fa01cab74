import { describe, expect, it } from "vitest";
import { feedEntryCodec, msgpackCodec, type FeedEntry, type FileSystemItem } from "../src/mod.js";

const plain = msgpackCodec<FeedEntry>();

function item(extra: Partial<FileSystemItem> = {}): FileSystemItem {
  return {
    id: "defaultFileSystemItemFactory#default#5f0c1a2b-0000-4000-8000-0000000000aa",
    parentId: "defaultSyncRootFolderItemFactory#default#9b1e2c3d-0000-4000-8000-000000000001",
    name: "Zoë — 日本語 😀.pdf",
    folder: false,
    creator: "jdoe",
    lastContributor: "asmith",
    creationDate: Date.UTC(2026, 0, 1),
    lastModificationDate: Date.UTC(2026, 10, 22, 10, 15, 30, 123),
    canRename: true,
    canDelete: false,
    lockInfo: null,
    path: "/org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#/x/y",
    userName: "jdoe",
    downloadURL: "nxfile/default/5f0c1a2b-0000-4000-8000-0000000000aa/blobholder:0/Zo%C3%AB.pdf",
    digestAlgorithm: "md5",
    digest: "0123456789abcdef0123456789abcdef",
    size: 2 ** 40,
    canUpdate: true,
    ...extra,
  };
}

function entry(items: (FileSystemItem | null)[]): FeedEntry {
  return {
    user: "jdoe@example.com",
    lowerBound: 1_767_225_600_000,
    summary: {
      fileSystemChanges: items.map((fileSystemItem, i) => ({
        repositoryId: "default",
        eventId: fileSystemItem === null ? "deleted" : "documentModified",
        eventDate: 1_767_225_600_789 + i,
        docUuid: `doc-${i}`,
        fileSystemItem,
        fileSystemItemId: `defaultFileSystemItemFactory#default#doc-${i}`,
        fileSystemItemName: fileSystemItem === null ? null : fileSystemItem.name,
      })),
      syncDate: 1_767_225_601_000,
      upperBound: 1_767_225_601_000,
      hasTooManyChanges: false,
      activeSynchronizationRootDefinitions: "default:a,default:b",
    },
    eventSeq: 2 ** 33,
  };
}

describe("feed entry codec", () => {
  it("feed codec - stored sets decode with the plain codec to the set written", () => {
    const folder = item({ folder: true, canCreateChild: true, canScrollDescendants: true });
    delete folder.downloadURL;
    delete folder.digest;
    delete folder.digestAlgorithm;
    delete folder.size;
    const cases = [
      entry([]),
      entry([item(), null, folder, item({ oldDigest: "fedcba" })]),
      // Undefined optional fields are left out, as the generic encoder leaves them out.
      entry([item({ canUpdate: undefined, size: undefined })]),
      entry(Array.from({ length: 300 }, (_, i) => item({ name: `f${i}.txt` }))),
    ];
    for (const e of cases) {
      const bytes = feedEntryCodec.encode(e);
      expect(plain.decode(bytes)).toEqual(JSON.parse(JSON.stringify(e)));
      expect(feedEntryCodec.decode(bytes)).toEqual(plain.decode(plain.encode(e)));
    }
  });

  it("feed codec - a field the item type does not name is kept", () => {
    const extra = { ...item(), vendorField: "kept" } as FileSystemItem;
    const decoded = feedEntryCodec.decode(feedEntryCodec.encode(entry([extra])));
    expect(decoded.summary.fileSystemChanges[0]!.fileSystemItem).toEqual(extra);
  });

  it("feed codec - encoded sets stay valid while later ones are written", () => {
    const sets = Array.from({ length: 400 }, (_, i) => entry([item({ name: `n${i}` })]));
    const bytes = sets.map((s) => feedEntryCodec.encode(s));
    bytes.forEach((b, i) => expect(plain.decode(b)).toEqual(JSON.parse(JSON.stringify(sets[i]))));
  });
});
