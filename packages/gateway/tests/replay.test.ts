import { describe, expect, it } from "vitest";
import { CLOCK_SKEW_MS, positionAt } from "@drivecast/protocol";
import type { ChangesMessage, FeedEntry, FileSystemItemChange } from "@drivecast/protocol";
import { FeedMerge, currentPosition } from "../src/replay.js";
import type { MergeStep } from "../src/replay.js";

const NOW = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;
const MAX_AGE = 24 * HOUR;

function change(docUuid: string): FileSystemItemChange {
  return {
    repositoryId: "default",
    eventId: "documentModified",
    eventDate: NOW,
    docUuid,
    fileSystemItem: null,
    fileSystemItemId: `defaultFileSystemItemFactory#default#${docUuid}`,
    fileSystemItemName: docUuid,
  };
}

function entry(lowerBound: number, upperBound: number, docs: string[] = ["d"]): FeedEntry {
  return {
    user: "alice",
    lowerBound,
    eventSeq: 0,
    summary: {
      fileSystemChanges: docs.map(change),
      syncDate: NOW,
      upperBound,
      hasTooManyChanges: false,
      activeSynchronizationRootDefinitions: "default:root",
    },
  };
}

/** A chain of n sets, the first with lowerBound `first`, positions one second apart. */
function chain(n: number, first = 0, start = positionAt(NOW - HOUR)): FeedEntry[] {
  const out: FeedEntry[] = [];
  let lower = first;
  for (let i = 0; i < n; i++) {
    const upper = start + i * 1_000_000;
    out.push(entry(lower, upper, [`doc${i}`]));
    lower = upper;
  }
  return out;
}

function merge(now = NOW, maxBuffered = 100, maxRepairReads = 2): FeedMerge {
  return new FeedMerge({ maxAgeMs: MAX_AGE, now: () => now, maxBuffered, maxRepairReads });
}

function bounds(step: MergeStep): [number, number][] {
  return step.send.map((m) => [m.lowerBound, m.summary.upperBound]);
}

/** Every message continues the previous one. */
function expectContiguous(messages: ChangesMessage[], from: number): void {
  let cursor = from;
  for (const m of messages) {
    expect(m.lowerBound).toBe(cursor);
    cursor = m.summary.upperBound;
  }
}

/** What a merge subscribed after history[i] sends when given the whole history. */
function replayAll(history: FeedEntry[], i: number): MergeStep {
  const m = merge();
  m.subscribe(history[i]!.summary.upperBound);
  return m.onHistory(history);
}

describe("FeedMerge", () => {
  it("replay - sends every retained set after the cursor, in order, then goes live", () => {
    const history = chain(5);
    const m = merge();
    expect(m.subscribe(history[1]!.summary.upperBound)).toEqual({ send: [], read: true });
    const step = m.onHistory(history);
    expect(step.read).toBe(false);
    expect(bounds(step)).toEqual([
      [history[1]!.summary.upperBound, history[2]!.summary.upperBound],
      [history[2]!.summary.upperBound, history[3]!.summary.upperBound],
      [history[3]!.summary.upperBound, history[4]!.summary.upperBound],
    ]);
    expect(m.state).toBe("live");
    expect(m.cursor).toBe(history[4]!.summary.upperBound);
  });

  it("readFrom - a read needs the sets after the subscribe's lowerBound, then after the cursor", () => {
    const history = chain(5);
    const m = merge();
    m.subscribe(history[1]!.summary.upperBound);
    expect(m.readFrom).toBe(history[1]!.summary.upperBound);
    // Given only what follows it (plus the set at it), the answer is the same as with everything.
    const step = m.onHistory(history.slice(1));
    expect(bounds(step)).toEqual(bounds(replayAll(history, 1)));
    expect(m.readFrom).toBe(history[4]!.summary.upperBound);
    const fromNow = merge();
    fromNow.subscribe(null);
    expect(fromNow.readFrom).toBe(0);
  });

  it("replay - a cursor at the newest position sends nothing", () => {
    const history = chain(3);
    const m = merge();
    m.subscribe(history[2]!.summary.upperBound);
    expect(m.onHistory(history)).toEqual({ send: [], read: false });
    expect(m.state).toBe("live");
  });

  it("replay - live sets buffered during the read are merged without duplicates", () => {
    const history = chain(4);
    const m = merge();
    m.subscribe(history[0]!.summary.upperBound);
    // Published while the history was being read: the last two are also in the history.
    const next = entry(history[3]!.summary.upperBound, history[3]!.summary.upperBound + 5);
    m.onLive(history[2]!);
    m.onLive(history[3]!);
    m.onLive(next);
    const step = m.onHistory(history);
    expect(step.send.map((s) => s.summary.upperBound)).toEqual([
      history[1]!.summary.upperBound,
      history[2]!.summary.upperBound,
      history[3]!.summary.upperBound,
      next.summary.upperBound,
    ]);
    expectContiguous(step.send, history[0]!.summary.upperBound);
    // Seen again live afterwards: dropped.
    expect(m.onLive(next)).toEqual({ send: [], read: false });
  });

  it("null - answers the newest stored position with no changes", () => {
    const history = chain(3);
    const m = merge();
    m.subscribe(null);
    const step = m.onHistory(history);
    expect(step.send).toHaveLength(1);
    const first = step.send[0]!;
    expect(first.summary.fileSystemChanges).toEqual([]);
    expect(first.summary.hasTooManyChanges).toBe(false);
    expect(first.summary.upperBound).toBe(history[2]!.summary.upperBound);
    expect(first.summary.activeSynchronizationRootDefinitions).toBe("default:root");
  });

  it("null - with no history, a clock position that later first sets still follow", () => {
    const m = merge();
    m.subscribe(null);
    const step = m.onHistory([]);
    const position = step.send[0]!.summary.upperBound;
    expect(position).toBe(currentPosition(NOW));
    // The user's first set ever, written just before our read on a host whose clock is behind.
    const first = entry(0, positionAt(NOW - CLOCK_SKEW_MS / 2));
    expect(bounds(m.onLive(first))).toEqual([[position, first.summary.upperBound]]);
  });

  it("stale - a cursor older than the retained history gets hasTooManyChanges at the newest position", () => {
    const history = chain(3, positionAt(NOW - 2 * HOUR));
    const m = merge();
    m.subscribe(positionAt(NOW - 3 * HOUR));
    const step = m.onHistory(history);
    expect(step.send).toHaveLength(1);
    expect(step.send[0]!.summary.hasTooManyChanges).toBe(true);
    expect(step.send[0]!.summary.fileSystemChanges).toEqual([]);
    expect(step.send[0]!.summary.upperBound).toBe(history[2]!.summary.upperBound);
    expect(m.state).toBe("live");
  });

  it("foreign - a cursor between positions (another feed store) gets hasTooManyChanges", () => {
    const history = chain(3);
    const m = merge();
    m.subscribe(history[1]!.summary.upperBound - 7);
    const step = m.onHistory(history);
    expect(step.send.map((s) => s.summary.hasTooManyChanges)).toEqual([true]);
  });

  it("ahead - a cursor ahead of the feed gets hasTooManyChanges at the newest position", () => {
    const history = chain(2);
    const m = merge();
    m.subscribe(history[1]!.summary.upperBound + 1);
    const step = m.onHistory(history);
    expect(step.send[0]!.summary.hasTooManyChanges).toBe(true);
    expect(step.send[0]!.summary.upperBound).toBe(history[1]!.summary.upperBound);
    expect(m.cursor).toBe(history[1]!.summary.upperBound);
  });

  it("zero - lowerBound 0 is never a position: rescan", () => {
    const history = chain(2);
    const m = merge();
    m.subscribe(0);
    expect(m.onHistory(history).send[0]!.summary.hasTooManyChanges).toBe(true);
  });

  it("empty history - a recent cursor is current, an old one must rescan", () => {
    const recent = merge();
    recent.subscribe(positionAt(NOW - HOUR));
    expect(recent.onHistory([])).toEqual({ send: [], read: false });
    const old = merge();
    old.subscribe(positionAt(NOW - 2 * MAX_AGE));
    const step = old.onHistory([]);
    expect(step.send[0]!.summary.hasTooManyChanges).toBe(true);
    expect(step.send[0]!.summary.upperBound).toBe(currentPosition(NOW));
  });

  it("rule b - a set with lowerBound 0 continues a recent cursor and carries it as lowerBound", () => {
    const cursor = positionAt(NOW - HOUR);
    const history = [entry(0, positionAt(NOW - 10_000))];
    const m = merge();
    m.subscribe(cursor);
    expect(bounds(m.onHistory(history))).toEqual([[cursor, history[0]!.summary.upperBound]]);
  });

  it("live - a set that does not follow the cursor triggers a re-read, not a skip", () => {
    const history = chain(3);
    const m = merge();
    m.subscribe(history[2]!.summary.upperBound);
    m.onHistory(history);
    const missed = entry(history[2]!.summary.upperBound, history[2]!.summary.upperBound + 10);
    const after = entry(missed.summary.upperBound, missed.summary.upperBound + 10);
    const step = m.onLive(after);
    expect(step).toEqual({ send: [], read: true });
    expect(m.state).toBe("reading");
    const repaired = m.onHistory([...history, missed, after]);
    expect(bounds(repaired)).toEqual([
      [history[2]!.summary.upperBound, missed.summary.upperBound],
      [missed.summary.upperBound, after.summary.upperBound],
    ]);
    expect(m.state).toBe("live");
  });

  it("live - a set not yet stored is read again before giving up", () => {
    const history = chain(2);
    const m = merge(NOW, 100, 2);
    m.subscribe(history[1]!.summary.upperBound);
    m.onHistory(history);
    const missed = entry(history[1]!.summary.upperBound, history[1]!.summary.upperBound + 10);
    const after = entry(missed.summary.upperBound, missed.summary.upperBound + 10);
    m.onLive(after);
    // The stream has stored neither yet.
    expect(m.onHistory(history)).toEqual({ send: [], read: true });
    // Now it has both.
    expect(m.onHistory([...history, missed, after]).send).toHaveLength(2);
  });

  it("live - a real gap ends in hasTooManyChanges once re-reads are exhausted", () => {
    const history = chain(2);
    const m = merge(NOW, 100, 1);
    m.subscribe(history[1]!.summary.upperBound);
    m.onHistory(history);
    const after = entry(history[1]!.summary.upperBound + 10, history[1]!.summary.upperBound + 20);
    m.onLive(after);
    expect(m.onHistory(history).read).toBe(true);
    const step = m.onHistory([...history, after]);
    expect(step.read).toBe(false);
    expect(step.send).toHaveLength(1);
    expect(step.send[0]!.lowerBound).toBe(history[1]!.summary.upperBound);
    expect(step.send[0]!.summary.hasTooManyChanges).toBe(true);
    expect(step.send[0]!.summary.upperBound).toBe(after.summary.upperBound);
  });

  it("overflow - too many live sets while reading: dropped, then the history is read again", () => {
    const history = chain(6);
    const m = merge(NOW, 2);
    m.subscribe(history[0]!.summary.upperBound);
    for (const e of history.slice(3)) m.onLive(e);
    // The first read saw only the first three sets.
    const first = m.onHistory(history.slice(0, 3));
    expect(first.read).toBe(true);
    expect(first.send.map((s) => s.summary.upperBound)).toEqual([
      history[1]!.summary.upperBound,
      history[2]!.summary.upperBound,
    ]);
    const second = m.onHistory(history);
    expect(second.read).toBe(false);
    expect(second.send.map((s) => s.summary.upperBound)).toEqual(
      history.slice(3).map((e) => e.summary.upperBound),
    );
    expectContiguous([...first.send, ...second.send], history[0]!.summary.upperBound);
  });

  it("idle - live sets before subscribe are ignored", () => {
    expect(merge().onLive(entry(1, 2))).toEqual({ send: [], read: false });
  });
});
