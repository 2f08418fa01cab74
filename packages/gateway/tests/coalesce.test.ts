import { describe, expect, it } from "vitest";
import type { FileSystemItem, FileSystemItemChange } from "@drivecast/protocol";
import { coalesceChanges } from "../src/summary.js";

function item(doc: string): FileSystemItem {
  return {
    id: `defaultFileSystemItemFactory#default#${doc}`,
    parentId: "p",
    name: doc,
    folder: false,
    creator: "a",
    lastContributor: "a",
    creationDate: 1,
    lastModificationDate: 1,
    canRename: true,
    canDelete: true,
    lockInfo: null,
    path: "/p",
    userName: "a",
  };
}

function change(
  doc: string,
  eventId: string,
  eventDate: number,
  withItem = true,
): FileSystemItemChange {
  return {
    repositoryId: "default",
    eventId,
    eventDate,
    docUuid: doc,
    fileSystemItem: withItem ? item(doc) : null,
    fileSystemItemId: withItem ? item(doc).id : `default#${doc}`,
    fileSystemItemName: withItem ? doc : null,
  };
}

describe("coalesceChanges", () => {
  it("coalesce - keeps the latest change per document, newest first", () => {
    const sets = [
      [change("b", "documentModified", 20), change("a", "documentModified", 10)],
      [change("a", "documentModified", 30)],
    ];
    const out = coalesceChanges(sets);
    expect(out.map((c) => [c.docUuid, c.eventDate])).toEqual([
      ["a", 30],
      ["b", 20],
    ]);
  });

  it("coalesce - an earlier move survives as the eventId when the latest carries an item", () => {
    const out = coalesceChanges([
      [change("a", "documentMoved", 10)],
      [change("a", "documentModified", 20)],
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.eventId).toBe("documentMoved");
    expect(out[0]!.eventDate).toBe(20);
  });

  it("coalesce - a move followed by a deletion stays a deletion", () => {
    const out = coalesceChanges([
      [change("a", "documentMoved", 10)],
      [change("a", "deleted", 20, false)],
    ]);
    expect(out.map((c) => c.eventId)).toEqual(["deleted"]);
  });

  it("coalesce - created then deleted within the span yields nothing", () => {
    const out = coalesceChanges([
      [change("a", "documentCreated", 10)],
      [change("a", "deleted", 20, false), change("b", "documentModified", 15)],
    ]);
    expect(out.map((c) => c.docUuid)).toEqual(["b"]);
  });

  it("coalesce - inside one set the order is eventDate descending, so the oldest is last", () => {
    const out = coalesceChanges([
      [change("a", "documentModified", 20), change("a", "documentCreated", 10)],
    ]);
    expect(out.map((c) => c.eventId)).toEqual(["documentModified"]);
  });
});
