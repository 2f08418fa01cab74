import { describe, expect, it } from "vitest";
import { coalesce, createPendingChanges, type FileSystemItemChange } from "../src/mod.js";

// The rules themselves are tested where they are used (changeset compute-summary, gateway
// coalesce); here, what is the protocol package's own choice.
function change(
  eventId: string,
  repositoryId: string,
  docUuid: string,
  at: number,
): FileSystemItemChange {
  return {
    eventId,
    eventDate: at,
    repositoryId,
    docUuid,
    fileSystemItemId: `defaultFileSystemItemFactory#${repositoryId}#${docUuid}`,
    fileSystemItemName: docUuid,
    fileSystemItem: null,
  };
}

describe("coalesce", () => {
  it("coalesce - the same uuid in two repositories is two documents", () => {
    const out = coalesce([
      change("documentCreated", "default", "a", 1),
      change("deleted", "other", "a", 2),
    ]);
    expect(out.map((c) => `${c.repositoryId}:${c.eventId}`)).toEqual([
      "other:deleted",
      "default:documentCreated",
    ]);
  });

  it("coalesce - created then deleted in the same repository leaves nothing", () => {
    const p = createPendingChanges({ limit: 10 });
    p.add(change("documentCreated", "default", "a", 1));
    p.add(change("deleted", "default", "a", 2));
    expect(p.take()).toEqual({ changes: [], hasTooManyChanges: false });
  });
});
