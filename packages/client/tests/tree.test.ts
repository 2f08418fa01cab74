import { describe, expect, it } from "vitest";
import { createDriveTree, idMatches, latestPerDocument, shortIdOf } from "../src/mod.js";
import type { DriveTree } from "../src/mod.js";
import {
  TOP,
  changed,
  file,
  folder,
  gone,
  itemId,
  rootId,
  serverOrder,
  syncRoot,
} from "./fixtures.js";

/** A tree with root R ⊃ A ⊃ (B ⊃ f2, f1) and root S ⊃ g. */
function sample(): DriveTree {
  return createDriveTree([
    syncRoot("R"),
    folder("A", rootId("R")),
    folder("B", itemId("A")),
    file("f1", itemId("A")),
    file("f2", itemId("B")),
    syncRoot("S"),
    file("g", rootId("S")),
  ]);
}

const ids = (t: DriveTree): string[] => t.snapshot().map((i) => i.id);

describe("ids", () => {
  it("ids - the short id is <repo>#<uuid> for item ids and short ids alike", () => {
    expect(shortIdOf(itemId("u1"))).toBe("default#u1");
    expect(shortIdOf(rootId("u1"))).toBe("default#u1");
    expect(shortIdOf("default#u1")).toBe("default#u1");
    expect(shortIdOf("u1")).toBe("u1");
  });

  it("ids - a reference matches an id equal to it or ending with # and it", () => {
    expect(idMatches(itemId("u1"), "default#u1")).toBe(true);
    expect(idMatches(rootId("u1"), "default#u1")).toBe(true);
    expect(idMatches(itemId("u1"), itemId("u1"))).toBe(true);
    expect(idMatches(itemId("xu1"), "default#u1")).toBe(false);
    expect(idMatches("defaultFileSystemItemFactory#mydefault#u1", "default#u1")).toBe(false);
    expect(idMatches(itemId("u1"), "default#u2")).toBe(false);
  });
});

describe("tree - items", () => {
  it("tree - upserts items under their parents and snapshots them sorted by id", () => {
    const t = createDriveTree();
    const result = t.applyChanges([
      changed("documentCreated", file("f", rootId("R"), "f.txt", "d1"), 20),
      changed("rootRegistered", syncRoot("R", "Root"), 10),
    ]);
    expect(result.applied.map((c) => c.eventId)).toEqual(["rootRegistered", "documentCreated"]);
    expect(t.snapshot()).toEqual([
      { id: itemId("f"), parentId: rootId("R"), name: "f.txt", folder: false, digest: "d1" },
      { id: rootId("R"), parentId: TOP, name: "Root", folder: true },
    ]);
  });

  it("tree - a rename updates the item in place", () => {
    const t = sample();
    t.applyChanges([changed("documentModified", file("f1", itemId("A"), "renamed.txt"), 5)]);
    expect(t.get(itemId("f1"))?.name).toBe("renamed.txt");
    expect(t.get(itemId("f1"))?.parentId).toBe(itemId("A"));
    expect(t.size).toBe(7);
  });

  it("tree - a move re-parents the item and its subtree comes along", () => {
    const t = sample();
    t.applyChanges([changed("documentMoved", folder("B", rootId("S")), 5)]);
    expect(t.get(itemId("B"))?.parentId).toBe(rootId("S"));
    expect(t.children(itemId("A")).map((i) => i.id)).toEqual([itemId("f1")]);
    expect(
      t
        .children(rootId("S"))
        .map((i) => i.id)
        .sort(),
    ).toEqual([itemId("B"), itemId("g")].sort());
    expect(t.reachable(itemId("f2"))).toBe(true);
  });

  it("tree - a content edit updates the digest", () => {
    const t = sample();
    t.applyChanges([changed("documentModified", file("g", rootId("S"), "g", "new"), 5)]);
    expect(t.snapshot().find((i) => i.id === itemId("g"))?.digest).toBe("new");
  });

  it("tree - the snapshot carries digests of files only and leaves out detached items", () => {
    const t = createDriveTree([
      syncRoot("R"),
      { ...folder("A", rootId("R")), digest: "not-a-file-digest" },
      file("lost", itemId("nowhere")),
    ]);
    expect(t.snapshot()).toEqual([
      { id: itemId("A"), parentId: rootId("R"), name: "A", folder: true },
      { id: rootId("R"), parentId: TOP, name: "R", folder: true },
    ]);
    expect(t.size).toBe(3);
  });

  it("tree - a tree restored from items in any order equals the original", () => {
    const a = sample();
    const b = createDriveTree([...a.items()].reverse());
    expect(b.snapshot()).toEqual(a.snapshot());
  });
});

describe("tree - deletions", () => {
  it("tree - deleted removes the item its short id ends and the whole subtree", () => {
    const t = sample();
    const result = t.applyChanges([gone("deleted", "A", 5)]);
    expect(result.removed.sort()).toEqual(
      [itemId("A"), itemId("B"), itemId("f1"), itemId("f2")].sort(),
    );
    expect(ids(t)).toEqual([itemId("g"), rootId("R"), rootId("S")]);
  });

  it("tree - a short id deletes a sync root item as well as a file system item", () => {
    const t = sample();
    t.applyChanges([gone("deleted", "R", 5)]);
    expect(ids(t)).toEqual([itemId("g"), rootId("S")]);
  });

  it("tree - a deletion by full item id works too", () => {
    const t = sample();
    t.applyChanges([{ ...gone("deleted", "f1", 5), fileSystemItemId: itemId("f1") }]);
    expect(t.has(itemId("f1"))).toBe(false);
  });

  it("tree - securityUpdated without an item deletes, like deleted", () => {
    const t = sample();
    const result = t.applyChanges([gone("securityUpdated", "B", 5)]);
    expect(result.applied).toHaveLength(1);
    expect(t.has(itemId("B"))).toBe(false);
    expect(t.has(itemId("f2"))).toBe(false);
    expect(t.has(itemId("A"))).toBe(true);
  });

  it("tree - deleted with an item attached is ignored, as Drive does", () => {
    const t = sample();
    const result = t.applyChanges([changed("deleted", file("f1", itemId("A")), 5)]);
    expect(result.ignored).toHaveLength(1);
    expect(t.has(itemId("f1"))).toBe(true);
  });

  it("tree - an unknown event without an item is ignored", () => {
    const t = sample();
    const result = t.applyChanges([gone("documentModified", "f1", 5)]);
    expect(result.ignored).toHaveLength(1);
    expect(t.has(itemId("f1"))).toBe(true);
  });

  it("tree - deleting an unknown item changes nothing", () => {
    const t = sample();
    const before = t.snapshot();
    const result = t.applyChanges([gone("deleted", "nope", 5)]);
    expect(result.ignored).toHaveLength(1);
    expect(t.snapshot()).toEqual(before);
  });

  it("tree - an item deleted with its parent in the same set is removed once", () => {
    const t = sample();
    const result = t.applyChanges(serverOrder([gone("deleted", "A", 5), gone("deleted", "f2", 6)]));
    expect(result.removed.filter((id) => id === itemId("f2"))).toHaveLength(1);
    expect(t.has(itemId("A"))).toBe(false);
  });

  it("tree - a file moved out before its old folder is deleted survives", () => {
    const t = sample();
    t.applyChanges(
      serverOrder([changed("documentMoved", file("f2", rootId("S")), 5), gone("deleted", "B", 6)]),
    );
    expect(t.get(itemId("f2"))?.parentId).toBe(rootId("S"));
    expect(t.has(itemId("B"))).toBe(false);
  });
});

describe("tree - one change set", () => {
  it("tree - changes are applied oldest first (the server lists them newest first)", () => {
    const t = createDriveTree([syncRoot("R")]);
    t.applyChanges(
      serverOrder([
        changed("documentCreated", folder("P", rootId("R")), 1),
        changed("documentCreated", file("c", itemId("P")), 2),
      ]),
    );
    t.prune();
    expect(ids(t)).toEqual([itemId("P"), itemId("c"), rootId("R")]);
  });

  it("tree - the latest change per document wins: a deletion after an edit deletes", () => {
    const t = sample();
    const result = t.applyChanges(
      serverOrder([
        changed("documentModified", file("f1", itemId("A"), "x"), 1),
        gone("deleted", "f1", 2),
      ]),
    );
    expect(result.superseded.map((c) => c.eventId)).toEqual(["documentModified"]);
    expect(t.has(itemId("f1"))).toBe(false);
  });

  it("tree - the latest change per document wins: a restore after a deletion keeps it", () => {
    const t = sample();
    t.applyChanges(
      serverOrder([
        gone("deleted", "f1", 1),
        changed("documentRestored", file("f1", itemId("A"), "back"), 2),
      ]),
    );
    expect(t.get(itemId("f1"))?.name).toBe("back");
  });

  it("tree - of two changes with the same date, the one the server listed first wins", () => {
    const t = sample();
    t.applyChanges([
      changed("documentModified", file("f1", itemId("A"), "listed-first"), 7),
      changed("documentModified", file("f1", itemId("A"), "listed-second"), 7),
    ]);
    expect(t.get(itemId("f1"))?.name).toBe("listed-first");
  });

  it("tree - latestPerDocument groups a deletion's short id with the item id of the same document", () => {
    const { kept, superseded } = latestPerDocument([
      gone("deleted", "x", 3),
      changed("documentModified", file("x", rootId("R")), 2),
      changed("documentModified", file("y", rootId("R")), 1),
    ]);
    expect(kept.map((c) => c.docUuid)).toEqual(["y", "x"]);
    expect(kept[1]?.eventId).toBe("deleted");
    expect(superseded).toHaveLength(1);
  });

  it("tree - applying the same set twice leaves the same tree", () => {
    const set = serverOrder([
      changed("documentMoved", folder("B", rootId("S")), 1),
      gone("deleted", "f1", 2),
      changed("documentCreated", file("n", itemId("B")), 3),
      changed("documentModified", syncRoot("S", "S2"), 4),
    ]);
    const t = sample();
    t.applyChanges(set);
    const once = t.snapshot();
    t.applyChanges(set);
    expect(t.snapshot()).toEqual(once);
  });

  it("tree - a child seen before its parent is kept until the set is done, and pruned if the parent never comes", () => {
    const t = createDriveTree([syncRoot("R")]);
    t.applyChanges([changed("documentModified", file("c", itemId("P")), 5)]);
    expect(t.has(itemId("c"))).toBe(true);
    expect(ids(t)).toEqual([rootId("R")]);
    expect(t.prune()).toEqual([itemId("c")]);
    expect(t.size).toBe(1);
  });

  it("tree - a parent arriving later attaches the children seen before it", () => {
    const t = createDriveTree([syncRoot("R")]);
    t.applyChanges([changed("documentModified", file("c", itemId("P")), 5)]);
    t.applyChanges([changed("documentMoved", folder("P", rootId("R")), 6)]);
    expect(t.prune()).toEqual([]);
    expect(t.reachable(itemId("c"))).toBe(true);
  });

  it("tree - items caught in a parent cycle (stale data) are unreachable and pruned", () => {
    const t = createDriveTree([syncRoot("R"), folder("X", itemId("Y")), folder("Y", itemId("X"))]);
    expect(t.reachable(itemId("X"))).toBe(false);
    expect(t.prune().sort()).toEqual([itemId("X"), itemId("Y")].sort());
  });
});

describe("tree - sync roots and factories", () => {
  it("tree - rootRegistered adds a sync root under the top level", () => {
    const t = sample();
    t.applyChanges([changed("rootRegistered", syncRoot("N", "New"), 5)]);
    expect(t.get(rootId("N"))?.parentId).toBe(TOP);
    expect(t.reachable(rootId("N"))).toBe(true);
  });

  it("tree - a folder that becomes a sync root replaces its old item and keeps its children", () => {
    const t = sample();
    const result = t.applyChanges([changed("rootRegistered", syncRoot("B"), 5)]);
    expect(t.has(itemId("B"))).toBe(false);
    expect(t.get(rootId("B"))?.parentId).toBe(TOP);
    expect(t.get(itemId("f2"))?.parentId).toBe(rootId("B"));
    expect(t.reachable(itemId("f2"))).toBe(true);
    expect(result.rescan).toEqual([rootId("B")]);
  });

  it("tree - a sync root unregistered but still in scope goes back under its parent", () => {
    const t = sample();
    t.applyChanges([changed("rootRegistered", syncRoot("B"), 5)]);
    t.applyChanges([changed("securityUpdated", folder("B", itemId("A")), 6)]);
    expect(t.has(rootId("B"))).toBe(false);
    expect(t.get(itemId("B"))?.parentId).toBe(itemId("A"));
    expect(t.get(itemId("f2"))?.parentId).toBe(itemId("B"));
    expect(t.size).toBe(7);
  });
});

describe("tree - rescans", () => {
  const rescanOf = (t: DriveTree, ...changes: Parameters<DriveTree["applyChanges"]>[0]): string[] =>
    t.applyChanges(changes).rescan;

  it("tree - a folder that appears (moved in, restored, made visible) is rescanned", () => {
    for (const eventId of [
      "documentMoved",
      "documentUntrashed",
      "securityUpdated",
      "documentModified",
    ]) {
      expect(rescanOf(sample(), changed(eventId, folder("N", itemId("A")), 5))).toEqual([
        itemId("N"),
      ]);
    }
  });

  it("tree - a folder just created is not rescanned: it has no descendants yet", () => {
    expect(rescanOf(sample(), changed("documentCreated", folder("N", itemId("A")), 5))).toEqual([]);
  });

  it("tree - a known folder is rescanned after a move, a security change, a restore or an untrash", () => {
    for (const eventId of [
      "documentMoved",
      "securityUpdated",
      "documentRestored",
      "documentUntrashed",
    ]) {
      expect(rescanOf(sample(), changed(eventId, folder("B", itemId("A")), 5))).toEqual([
        itemId("B"),
      ]);
    }
  });

  it("tree - a known folder renamed or edited is not rescanned", () => {
    expect(
      rescanOf(sample(), changed("documentModified", folder("B", itemId("A"), "B2"), 5)),
    ).toEqual([]);
  });

  it("tree - files are never rescanned", () => {
    expect(rescanOf(sample(), changed("securityUpdated", file("f1", itemId("A")), 5))).toEqual([]);
    expect(rescanOf(sample(), changed("documentMoved", file("new", itemId("A")), 5))).toEqual([]);
  });

  it("tree - only the outermost of nested folders to rescan is listed", () => {
    const t = sample();
    expect(
      rescanOf(
        t,
        changed("securityUpdated", folder("B", itemId("A")), 6),
        changed("securityUpdated", folder("A", rootId("R")), 5),
      ),
    ).toEqual([itemId("A")]);
  });

  it("tree - a folder deleted later in the set is not rescanned", () => {
    const t = sample();
    expect(
      rescanOf(t, gone("deleted", "A", 6), changed("securityUpdated", folder("B", itemId("A")), 5)),
    ).toEqual([]);
  });
});

describe("tree - replaceDescendants", () => {
  it("tree - a folder's descendants become exactly the scan; the folder and the rest stay", () => {
    const t = sample();
    const result = t.replaceDescendants(itemId("A"), [
      folder("B", itemId("A"), "B renamed"),
      file("f3", itemId("B")),
    ]);
    expect(result.removed.sort()).toEqual([itemId("f1"), itemId("f2")].sort());
    expect(result.upserted.sort()).toEqual([itemId("B"), itemId("f3")].sort());
    expect(ids(t)).toEqual(
      [itemId("A"), itemId("B"), itemId("f3"), itemId("g"), rootId("R"), rootId("S")].sort(),
    );
    expect(t.get(itemId("B"))?.name).toBe("B renamed");
  });

  it("tree - an unchanged scan changes nothing", () => {
    const t = sample();
    const scan = [folder("B", itemId("A")), file("f1", itemId("A")), file("f2", itemId("B"))];
    const result = t.replaceDescendants(itemId("A"), scan);
    expect(result).toEqual({ upserted: [], removed: [] });
  });

  it("tree - a scan of the top level replaces the whole tree", () => {
    const t = sample();
    t.applyChanges([changed("documentModified", file("orphan", itemId("nowhere")), 1)]);
    const result = t.replaceDescendants(TOP, [syncRoot("S"), file("h", rootId("S"))]);
    expect(ids(t)).toEqual([itemId("h"), rootId("S")]);
    expect(t.size).toBe(2);
    expect(result.removed).toContain(itemId("orphan"));
  });

  it("tree - a scan that moves an item out of the scanned folder moves it", () => {
    const t = sample();
    t.replaceDescendants(rootId("S"), [file("g", rootId("S")), file("f1", rootId("S"))]);
    expect(t.get(itemId("f1"))?.parentId).toBe(rootId("S"));
  });
});
