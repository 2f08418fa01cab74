import { TOP_LEVEL_ID } from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import {
  buildItem,
  downloadFileName,
  fileSystemItemId,
  inScope,
  principalsOf,
  rootSetOf,
  scrollItem,
  shortId,
  syncRootItemId,
  type Principals,
} from "../src/compute/index.js";
import { deny, grant, REPO, Tree, uidOf } from "./compute-fixtures.js";

const alice = principalsOf("alice", ["readers"], false);
const ROOT_ID = `defaultSyncRootFolderItemFactory#default#ws_docs`;
const SUB_ID = `defaultFileSystemItemFactory#default#ws_docs_sub`;
const TOP = "/org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";

function repo(): Tree {
  return new Tree()
    .folder("/ws", { acl: [grant("readers", "Read")] })
    .folder("/ws/docs", { title: "Documents" })
    .folder("/ws/docs/sub", { title: "Sub folder" })
    .file("/ws/docs/sub/a.txt", { title: "A title" });
}

function itemAt(t: Tree, path: string, who: Principals = alice, roots = ["/ws/docs"]) {
  const keys = rootSetOf(roots.map((p) => ({ repository: REPO, uid: uidOf(p) })));
  const scope = inScope(who, t.snapshot(path), t.ancestors(path), keys);
  if (scope === null) throw new Error(`${path} is not in scope`);
  return buildItem(who, scope);
}

describe("item - ids", () => {
  it("ids - factories, repository and uuid", () => {
    expect(syncRootItemId("default", "u1")).toBe("defaultSyncRootFolderItemFactory#default#u1");
    expect(fileSystemItemId("default", "u1")).toBe("defaultFileSystemItemFactory#default#u1");
    expect(shortId("default", "u1")).toBe("default#u1");
    expect(TOP_LEVEL_ID).toBe(TOP.slice(1));
  });
});

describe("item - buildItem", () => {
  it("item - a sync root is a folder under the top level that can always be deleted", () => {
    const item = itemAt(repo(), "/ws/docs");
    expect(item).toEqual({
      id: ROOT_ID,
      parentId: TOP_LEVEL_ID,
      name: "Documents",
      folder: true,
      creator: "creator",
      lastContributor: "contributor",
      creationDate: 1_600_000_000_000,
      lastModificationDate: 1_600_000_500_000,
      canRename: false,
      canDelete: true,
      lockInfo: null,
      path: `${TOP}/${ROOT_ID}`,
      userName: "alice",
      canCreateChild: false,
      canScrollDescendants: true,
    });
  });

  it("item - a folder under the root: parent is the root item, path through it", () => {
    const item = itemAt(repo(), "/ws/docs/sub");
    expect(item.id).toBe(SUB_ID);
    expect(item.parentId).toBe(ROOT_ID);
    expect(item.path).toBe(`${TOP}/${ROOT_ID}/${SUB_ID}`);
    expect(item.name).toBe("Sub folder");
    expect(item.canDelete).toBe(false);
    expect(item.downloadURL).toBeUndefined();
  });

  it("item - a file: blob name, download URL, digest, size, parent and path", () => {
    const item = itemAt(repo(), "/ws/docs/sub/a.txt");
    const id = "defaultFileSystemItemFactory#default#ws_docs_sub_a.txt";
    expect(item).toEqual({
      id,
      parentId: SUB_ID,
      name: "a.txt",
      folder: false,
      creator: "creator",
      lastContributor: "contributor",
      creationDate: 1_600_000_000_000,
      lastModificationDate: 1_600_000_500_000,
      canRename: false,
      canDelete: false,
      lockInfo: null,
      path: `${TOP}/${ROOT_ID}/${SUB_ID}/${id}`,
      userName: "alice",
      downloadURL: "nxfile/default/ws_docs_sub_a.txt/blobholder:0/a.txt",
      digestAlgorithm: "md5",
      digest: "d-a.txt",
      size: 3,
      canUpdate: false,
    });
  });

  it("item - nested roots: ids and path start at the deepest root", () => {
    const item = itemAt(repo(), "/ws/docs/sub/a.txt", alice, ["/ws", "/ws/docs/sub"]);
    const rootId = "defaultSyncRootFolderItemFactory#default#ws_docs_sub";
    expect(item.parentId).toBe(rootId);
    expect(item.path).toBe(
      `${TOP}/${rootId}/defaultFileSystemItemFactory#default#ws_docs_sub_a.txt`,
    );
    const sub = itemAt(repo(), "/ws/docs/sub", alice, ["/ws", "/ws/docs/sub"]);
    expect(sub.id).toBe(rootId);
    expect(sub.parentId).toBe(TOP_LEVEL_ID);
    expect(sub.canDelete).toBe(true);
  });

  it("item - the file name falls back to the title when the blob has none", () => {
    const t = repo().file("/ws/docs/sub/b", { title: "B title", blob: { name: "" } });
    expect(itemAt(t, "/ws/docs/sub/b").name).toBe("B title");
  });

  it("item - digest algorithm in lower case, md5 when absent; size from the blob length", () => {
    const t = repo()
      .file("/ws/docs/sub/sha", {
        blob: { digestAlgorithm: "SHA-256", digest: "abc", length: 1234 },
      })
      .file("/ws/docs/sub/none", { blob: { digestAlgorithm: undefined, length: 0 } });
    const sha = itemAt(t, "/ws/docs/sub/sha");
    expect([sha.digestAlgorithm, sha.digest, sha.size]).toEqual(["sha-256", "abc", 1234]);
    const none = itemAt(t, "/ws/docs/sub/none");
    expect([none.digestAlgorithm, none.size]).toEqual(["md5", 0]);
  });

  it("item - a length given as a string (Nuxeo REST) becomes a number", () => {
    const t = repo().file("/ws/docs/sub/s", { blob: { length: "42" as unknown as number } });
    expect(itemAt(t, "/ws/docs/sub/s").size).toBe(42);
  });

  it("item - permissions: readers cannot rename or delete", () => {
    const item = itemAt(repo(), "/ws/docs/sub/a.txt");
    expect([item.canRename, item.canDelete, item.canUpdate]).toEqual([false, false, false]);
  });

  it("item - permissions: ReadWrite renames, deletes, updates, creates children", () => {
    const t = repo().setAcl("/ws/docs", [grant("alice", "ReadWrite")]);
    const file = itemAt(t, "/ws/docs/sub/a.txt");
    expect([file.canRename, file.canDelete, file.canUpdate]).toEqual([true, true, true]);
    const folder = itemAt(t, "/ws/docs/sub");
    expect([folder.canRename, folder.canDelete, folder.canCreateChild]).toEqual([true, true, true]);
  });

  it("item - permissions: Remove alone deletes but does not rename; WriteVersion renames", () => {
    const t = repo()
      .setAcl("/ws/docs/sub", [grant("alice", "Remove")])
      .file("/ws/docs/sub/v.txt", { acl: [grant("alice", "WriteVersion")] });
    const a = itemAt(t, "/ws/docs/sub/a.txt");
    expect([a.canRename, a.canDelete]).toEqual([false, true]);
    const v = itemAt(t, "/ws/docs/sub/v.txt");
    expect([v.canRename, v.canDelete, v.canUpdate]).toEqual([true, true, true]);
  });

  it("item - permissions: a local deny on the file beats an inherited grant", () => {
    const t = repo()
      .setAcl("/ws/docs", [grant("alice", "ReadWrite")])
      .setAcl("/ws/docs/sub/a.txt", [deny("alice", "Write")]);
    const a = itemAt(t, "/ws/docs/sub/a.txt");
    expect([a.canRename, a.canDelete]).toEqual([false, false]);
  });

  it("item - administrators can do everything", () => {
    const a = itemAt(repo(), "/ws/docs/sub/a.txt", principalsOf("admin", [], true));
    expect([a.canRename, a.canDelete, a.canUpdate, a.userName]).toEqual([
      true,
      true,
      true,
      "admin",
    ]);
  });
});

describe("item - download URL", () => {
  const table: [string, string][] = [
    ["a.txt", "a.txt"],
    ["my file.txt", "my%20file.txt"],
    ["café.txt", "caf%C3%A9.txt"],
    ["a#b%c.txt", "a%23b%25c.txt"],
    ["a&b=c+d@e,f.txt", "a%26b%3Dc%2Bd%40e%2Cf.txt"],
    ["l'été (1).txt", "l%27%C3%A9t%C3%A9%20(1).txt"],
    ["😀.txt", "%F0%9F%98%80.txt"],
    // Drive replaces characters invalid in file names before building the URL.
    ["what?:x*y.txt", "what--x-y.txt"],
    ['a/b\\c<d>e"f|g.txt', "a-b-c-d-e-f-g.txt"],
  ];
  it.each(table)("download URL - %s is written %s", (name, encoded) => {
    expect(downloadFileName(name)).toBe(encoded);
  });

  it("download URL - a lone surrogate does not throw", () => {
    expect(downloadFileName("a\uD800b")).toBe("a%EF%BF%BDb");
  });

  it("download URL - the item's URL uses the blob name, encoded", () => {
    const t = repo().file("/ws/docs/sub/r", { blob: { name: "rapport final.pdf" } });
    expect(itemAt(t, "/ws/docs/sub/r").downloadURL).toBe(
      "nxfile/default/ws_docs_sub_r/blobholder:0/rapport%20final.pdf",
    );
    expect(itemAt(t, "/ws/docs/sub/r").name).toBe("rapport final.pdf");
  });
});

describe("item - scrollItem", () => {
  it("scroll - builds the same item as a change, or null out of scope", () => {
    const t = repo().file("/ws/docs/sub/empty", { blob: null });
    const keys = rootSetOf([{ repository: REPO, uid: "ws_docs" }]);
    const path = "/ws/docs/sub/a.txt";
    expect(scrollItem(alice, t.snapshot(path), t.ancestors(path), keys)).toEqual(itemAt(t, path));
    const empty = "/ws/docs/sub/empty";
    expect(scrollItem(alice, t.snapshot(empty), t.ancestors(empty), keys)).toBeNull();
    const bob = principalsOf("bob", [], false);
    expect(scrollItem(bob, t.snapshot(path), t.ancestors(path), keys)).toBeNull();
  });
});
