// GetChangeSummary over the retained feed: the polling-compatible answer for unmodified Drive
// clients. Same position rules as the push path (replay.ts): the sets after `lowerBound` are
// used only if `follows()` chains them from it; otherwise the client is told to rescan.
import { coalesce, currentWithoutHistory, follows } from "@drivecast/protocol";
import type { FeedEntry, FileSystemChangeSummary, FileSystemItemChange } from "@drivecast/protocol";
import { currentPosition } from "./replay.js";

export interface SummaryOptions {
  nowMs: number;
  maxAgeMs: number;
  /** More coalesced changes than this: `hasTooManyChanges`. */
  changeLimit: number;
}

/**
 * The FileSystemChangeSummary of every retained change after `lowerBound` (null: none, just the
 * current position), coalesced per document. `history` is the user's feed, oldest first.
 */
export function summarizeFeed(
  history: readonly FeedEntry[],
  lowerBound: number | null,
  options: SummaryOptions,
): FileSystemChangeSummary {
  const sorted = [...history].sort((a, b) => a.summary.upperBound - b.summary.upperBound);
  const newest = sorted[sorted.length - 1];
  const roots = newest?.summary.activeSynchronizationRootDefinitions ?? "";
  const current = newest?.summary.upperBound ?? currentPosition(options.nowMs);
  const answer = (
    upperBound: number,
    changes: FileSystemItemChange[],
    hasTooManyChanges: boolean,
  ): FileSystemChangeSummary => ({
    fileSystemChanges: changes,
    syncDate: Math.floor(options.nowMs / 1000) * 1000,
    upperBound,
    hasTooManyChanges,
    activeSynchronizationRootDefinitions: roots,
  });

  if (lowerBound === null) return answer(current, [], false);
  if (lowerBound <= 0) return answer(current, [], true);
  if (newest === undefined) {
    return currentWithoutHistory(lowerBound, options.nowMs, options.maxAgeMs)
      ? answer(lowerBound, [], false)
      : answer(current, [], true);
  }
  if (lowerBound === newest.summary.upperBound) return answer(lowerBound, [], false);
  if (lowerBound > newest.summary.upperBound) return answer(current, [], true);

  const sets: FileSystemItemChange[][] = [];
  let cursor = lowerBound;
  for (const entry of sorted) {
    const upper = entry.summary.upperBound;
    if (upper <= cursor) continue;
    if (!follows({ lowerBound: entry.lowerBound, upperBound: upper }, cursor, options.maxAgeMs)) {
      return answer(current, [], true);
    }
    if (entry.summary.hasTooManyChanges) return answer(current, [], true);
    sets.push(entry.summary.fileSystemChanges);
    cursor = upper;
  }
  const changes = coalesceChanges(sets);
  if (changes.length > options.changeLimit) return answer(current, [], true);
  return answer(current, changes, false);
}

/**
 * Coalesces stored sets, oldest set first (each in Nuxeo's order, eventDate descending, as the
 * changeset role stores them) with the rules one set follows (spec/NUXEO.md §5): what one set
 * covering the same span would have carried.
 */
export function coalesceChanges(
  sets: readonly (readonly FileSystemItemChange[])[],
): FileSystemItemChange[] {
  return coalesce(sets.flatMap((changes) => [...changes].reverse()));
}
