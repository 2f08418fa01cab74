import { describe, expect, it } from "vitest";
import { positionAt } from "@drivecast/protocol";
import type { FeedEntry, FileSystemItemChange } from "@drivecast/protocol";
import { summarizeFeed } from "../src/summary.js";
import { currentPosition } from "../src/replay.js";

const NOW = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;
const options = { nowMs: NOW, maxAgeMs: 24 * HOUR, changeLimit: 3 };

function change(doc: string, eventDate: number): FileSystemItemChange {
  return {
    repositoryId: "default",
    eventId: "deleted",
    eventDate,
    docUuid: doc,
    fileSystemItem: null,
    fileSystemItemId: `default#${doc}`,
    fileSystemItemName: null,
  };
}

function entry(lowerBound: number, upperBound: number, docs: string[], tooMany = false): FeedEntry {
  return {
    user: "u",
    lowerBound,
    eventSeq: 0,
    summary: {
      fileSystemChanges: docs.map((d, i) => change(d, upperBound / 1000 - i)),
      syncDate: NOW,
      upperBound,
      hasTooManyChanges: tooMany,
      activeSynchronizationRootDefinitions: "default:r",
    },
  };
}

const p1 = positionAt(NOW - 3 * HOUR);
const p2 = positionAt(NOW - 2 * HOUR);
const p3 = positionAt(NOW - HOUR);
const history = [entry(0, p1, ["a"]), entry(p1, p2, ["b", "a"]), entry(p2, p3, ["c"])];

describe("summarizeFeed", () => {
  it("summary - coalesces every retained change after lowerBound", () => {
    const s = summarizeFeed(history, p1, options);
    expect(s.hasTooManyChanges).toBe(false);
    expect(s.upperBound).toBe(p3);
    expect(s.fileSystemChanges.map((c) => c.docUuid).sort()).toEqual(["a", "b", "c"]);
    expect(s.syncDate % 1000).toBe(0);
    expect(s.activeSynchronizationRootDefinitions).toBe("default:r");
  });

  it("summary - no lowerBound answers the current position and no changes", () => {
    expect(summarizeFeed(history, null, options)).toMatchObject({
      upperBound: p3,
      fileSystemChanges: [],
      hasTooManyChanges: false,
    });
    expect(summarizeFeed([], null, options).upperBound).toBe(currentPosition(NOW));
  });

  it("summary - an unknown position (a Nuxeo audit id) is answered with a rescan", () => {
    expect(summarizeFeed(history, 12345, options)).toMatchObject({
      upperBound: p3,
      hasTooManyChanges: true,
      fileSystemChanges: [],
    });
  });

  it("summary - up to date answers no changes at the same position", () => {
    expect(summarizeFeed(history, p3, options)).toMatchObject({
      upperBound: p3,
      hasTooManyChanges: false,
      fileSystemChanges: [],
    });
  });

  it("summary - more coalesced changes than the limit: hasTooManyChanges", () => {
    const big = [...history, entry(p3, p3 + 10, ["d", "e"])];
    expect(summarizeFeed(big, p1, options).hasTooManyChanges).toBe(true);
  });

  it("summary - a stored set with hasTooManyChanges makes the span a rescan", () => {
    const withOverflow = [...history, entry(p3, p3 + 10, [], true)];
    expect(summarizeFeed(withOverflow, p2, options).hasTooManyChanges).toBe(true);
  });
});
