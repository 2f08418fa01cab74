// Replay + live merge: one device's view of its user's feed.
//
// Invariant: after `subscribe(lowerBound)`, the device receives every change set issued after
// its cursor, in position order, each once, and each message's `lowerBound` equals the previous
// message's `summary.upperBound` (the first one's equals the cursor it resumed from) — or it
// receives `hasTooManyChanges` and the current position and continues from there. Never a
// silent gap, never a duplicate.
//
// How: the session subscribes to the live subject FIRST and only then reads the retained history
// from the stream (the caller makes sure the live subscription is active on the server before
// the read starts: a NATS flush). Every set is therefore seen at least once, in the history or in
// the buffer of live sets received while reading. The two are merged by position (`upperBound`,
// strictly increasing per user, assigned by the user's single writer), duplicates dropped, and
// walked from the cursor: a set is sent only when `follows()` (feed.ts) proves it continues the
// cursor. Then live sets are applied the same way.
//
// Failure cases and what happens:
// - cursor unknown (expired, issued by another feed store, a Nuxeo audit id, ahead of the feed):
//   no retained set follows it → `hasTooManyChanges` with the current position.
// - a live set arrives that does not follow the cursor (a live message was lost: slow core
//   subscriber, reconnect of the NATS connection): not skipped — the session re-reads the
//   stream (gap repair), which holds the missing sets, and walks again.
// - a live set was delivered before the stream stored it (the stream stores asynchronously) and
//   the gap walk stops at it: read again, a bounded number of times, before giving up with
//   `hasTooManyChanges`.
// - too many live sets while reading: the buffer is dropped (they are all in the stream) and the
//   history is read once more after this one.
// - sets with `lowerBound: 0` (the writer had no retained history) continue a cursor only under
//   feed.ts rule (b); the message then carries the device's cursor as `lowerBound`.
// Why nothing is lost: a set either was stored before the read (in the history) or was
// published after the live subscription became active (in the buffer or live); a set that fits
// neither is caught by `follows()` failing on its successor, which triggers a re-read.
//
// This file does no I/O: the caller performs the reads it asks for and sends what it returns.
import { CLOCK_SKEW_MS, currentWithoutHistory, follows, positionAt } from "@drivecast/protocol";
import type { ChangesMessage, FeedEntry, FileSystemChangeSummary } from "@drivecast/protocol";

export interface MergeOptions {
  /** Max age of the feed stream (Infinity when unbounded). */
  maxAgeMs: number;
  now: () => number;
  /** Live sets kept while reading; above it they are dropped and the history read again. */
  maxBuffered: number;
  /** Re-reads allowed when a live set is not yet in the stream, before `hasTooManyChanges`. */
  maxRepairReads: number;
}

/** What the caller must do next: send these messages, then read the history if `read`. */
export interface MergeStep {
  send: ChangesMessage[];
  read: boolean;
}

export type MergeState = "idle" | "reading" | "live";

const NOTHING: MergeStep = Object.freeze({ send: [], read: false }) as MergeStep;

/**
 * The position that stands for "now" when a user has no retained history. It lags the clock by
 * the skew margin so that a set whose position the writer computed just before we looked (or on
 * a host whose clock is behind ours) still comes after it instead of being taken as seen.
 */
export function currentPosition(nowMs: number): number {
  return positionAt(nowMs - CLOCK_SKEW_MS);
}

/** One device's cursor over its user's feed. Create one per subscription. */
export class FeedMerge {
  private stateValue: MergeState = "idle";
  private cursorValue: number | null = null;
  /** The subscribe being answered (first read) — null once answered. */
  private pendingLowerBound: number | null | undefined = undefined;
  /** Live sets received while reading (null when none: most merges are idle, keep them small). */
  private buffer: FeedEntry[] | null = null;
  private overflowed = false;
  private repairReads = 0;
  /** Roots of the newest set seen, echoed in synthetic summaries. */
  private roots = "";

  constructor(private readonly options: MergeOptions) {}

  get state(): MergeState {
    return this.stateValue;
  }

  /** The position the device has been brought to (null before the first answer). */
  get cursor(): number | null {
    return this.cursorValue;
  }

  /**
   * The position the next history read must reach back to: sets at or before it are not needed
   * (the subscribe's lowerBound before the first answer, then the cursor; 0: everything).
   */
  get readFrom(): number {
    const from = this.pendingLowerBound !== undefined ? this.pendingLowerBound : this.cursorValue;
    return from === null || from <= 0 ? 0 : from;
  }

  /** Start after `lowerBound` (null: from now). The caller then reads the history. */
  subscribe(lowerBound: number | null): MergeStep {
    if (this.stateValue !== "idle") throw new Error("FeedMerge.subscribe called twice");
    this.stateValue = "reading";
    this.pendingLowerBound = lowerBound;
    return { send: [], read: true };
  }

  /** A set received on the live subject. */
  onLive(entry: FeedEntry): MergeStep {
    switch (this.stateValue) {
      case "idle":
        return NOTHING;
      case "reading":
        if (this.overflowed) return NOTHING;
        if (this.buffer === null) this.buffer = [];
        if (this.buffer.length >= this.options.maxBuffered) {
          // Everything dropped here is in the stream: the next read brings it back.
          this.buffer = null;
          this.overflowed = true;
          return NOTHING;
        }
        this.buffer.push(entry);
        return NOTHING;
      case "live": {
        const cursor = this.cursorValue as number;
        const upper = entry.summary.upperBound;
        if (upper <= cursor) return NOTHING; // already sent (replayed, then seen live)
        if (
          follows(
            { lowerBound: entry.lowerBound, upperBound: upper },
            cursor,
            this.options.maxAgeMs,
          )
        ) {
          this.cursorValue = upper;
          this.roots = entry.summary.activeSynchronizationRootDefinitions;
          return { send: [changesOf(entry.summary, cursor)], read: false };
        }
        // A gap: something between the cursor and this set never reached us live. Re-read.
        this.stateValue = "reading";
        this.buffer = [entry];
        this.repairReads = 0;
        return { send: [], read: true };
      }
    }
  }

  /** The retained history of the user's feed (in stream order), as read after a `read` step. */
  onHistory(history: readonly FeedEntry[]): MergeStep {
    if (this.stateValue !== "reading") throw new Error("FeedMerge.onHistory without a read");
    const send: ChangesMessage[] = [];
    const inHistory = new Set<number>();
    for (const e of history) inHistory.add(e.summary.upperBound);
    const candidates = mergeByPosition(history, this.buffer ?? []);
    const last = candidates[candidates.length - 1];
    if (last !== undefined) this.roots = last.summary.activeSynchronizationRootDefinitions;
    const now = this.options.now();

    if (this.pendingLowerBound !== undefined) {
      const lowerBound = this.pendingLowerBound;
      this.pendingLowerBound = undefined;
      if (lowerBound === null) {
        // "From now": the newest stored position, or a clock position when nothing is retained.
        const newestStored = history.reduce((m, e) => Math.max(m, e.summary.upperBound), 0);
        const position = newestStored > 0 ? newestStored : currentPosition(now);
        send.push(this.synthetic(0, position, false, now));
        this.cursorValue = position;
      } else if (lowerBound <= 0) {
        // 0 is never a position (positions are clock-based); follows() would take it as
        // "before the first set ever", which is unprovable once older sets expired.
        const position = last !== undefined ? last.summary.upperBound : currentPosition(now);
        send.push(this.synthetic(lowerBound, position, true, now));
        this.cursorValue = position;
      } else {
        this.cursorValue = lowerBound;
        if (last === undefined) {
          if (!currentWithoutHistory(lowerBound, now, this.options.maxAgeMs)) {
            const position = currentPosition(now);
            send.push(this.synthetic(lowerBound, position, true, now));
            this.cursorValue = position;
          }
        } else if (lowerBound > last.summary.upperBound) {
          // Ahead of the feed: issued by another store, or not a position of ours at all.
          send.push(this.synthetic(lowerBound, last.summary.upperBound, true, now));
          this.cursorValue = last.summary.upperBound;
        }
      }
    }

    // Walk the merged sets after the cursor; each must continue the previous one.
    let cursor = this.cursorValue as number;
    for (const entry of candidates) {
      const upper = entry.summary.upperBound;
      if (upper <= cursor) continue;
      if (
        follows({ lowerBound: entry.lowerBound, upperBound: upper }, cursor, this.options.maxAgeMs)
      ) {
        send.push(changesOf(entry.summary, cursor));
        cursor = upper;
        continue;
      }
      if (!inHistory.has(upper) && this.repairReads < this.options.maxRepairReads) {
        // Seen live but not in what we read: the stream may not have stored it (or what precedes
        // it) yet. Keep the unsent live sets and read again.
        this.repairReads++;
        this.cursorValue = cursor;
        this.buffer = candidates.filter(
          (c) => c.summary.upperBound > cursor && !inHistory.has(c.summary.upperBound),
        );
        this.overflowed = false;
        return { send, read: true };
      }
      // A real gap (or an unknown cursor): the device must rescan.
      const newest = (last as FeedEntry).summary.upperBound;
      send.push(this.synthetic(cursor, newest, true, now));
      cursor = newest;
      break;
    }
    this.cursorValue = cursor;
    this.buffer = null;
    this.repairReads = 0;
    if (this.overflowed) {
      this.overflowed = false;
      return { send, read: true };
    }
    this.stateValue = "live";
    return { send, read: false };
  }

  private synthetic(
    lowerBound: number,
    upperBound: number,
    hasTooManyChanges: boolean,
    nowMs: number,
  ): ChangesMessage {
    return {
      type: "changes",
      lowerBound,
      summary: {
        fileSystemChanges: [],
        syncDate: Math.floor(nowMs / 1000) * 1000,
        upperBound,
        hasTooManyChanges,
        activeSynchronizationRootDefinitions: this.roots,
      },
    };
  }
}

/** The `changes` message that delivers `summary` to a device whose cursor is `cursor`. */
export function changesOf(summary: FileSystemChangeSummary, cursor: number): ChangesMessage {
  return { type: "changes", lowerBound: cursor, summary };
}

/** History and live sets merged by position, one per position (the history's copy wins). */
function mergeByPosition(history: readonly FeedEntry[], live: readonly FeedEntry[]): FeedEntry[] {
  const byPosition = new Map<number, FeedEntry>();
  for (const e of live) byPosition.set(e.summary.upperBound, e);
  for (const e of history) byPosition.set(e.summary.upperBound, e);
  return [...byPosition.values()].sort((a, b) => a.summary.upperBound - b.summary.upperBound);
}
