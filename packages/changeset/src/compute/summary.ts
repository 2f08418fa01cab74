// Change sets: Nuxeo's order, the change limit and the summary (spec/NUXEO.md §5, "Change
// sets"); coalescing per document is the protocol package's (shared with the gateway).
import {
  DEFAULT_CHANGE_LIMIT,
  type FileSystemChangeSummary,
  type FileSystemItemChange,
} from "@drivecast/protocol";

/** Flush time in ms, rounded down to the second (Nuxeo's syncDate). */
export function syncDateOf(flushMs: number): number {
  return Math.floor(flushMs / 1000) * 1000;
}

/** `<repo>:<uuid>,…` of the user's roots, in the given order. */
export function rootDefinitions(roots: readonly { repository: string; uid: string }[]): string {
  return roots.map((r) => `${r.repository}:${r.uid}`).join(",");
}

export interface SummaryInput {
  /** Coalesced changes (`PendingChanges.take` or `coalesce`); ordered here, stably. */
  changes: readonly FileSystemItemChange[];
  /** Flush time, ms; rounded down to the second. */
  syncDate: number;
  /** This set's feed position. */
  upperBound: number;
  /** The user's active roots at flush time. */
  roots: readonly { repository: string; uid: string }[];
  /** Default `DEFAULT_CHANGE_LIMIT`. */
  limit?: number;
  /** Already known to be over the limit (`PendingChanges.take`). */
  hasTooManyChanges?: boolean;
}

/**
 * The FileSystemChangeSummary of one change set: eventDate descending (ties keep their given
 * order); over the limit, `hasTooManyChanges: true` and no change.
 */
export function buildSummary(input: SummaryInput): FileSystemChangeSummary {
  const limit = input.limit ?? DEFAULT_CHANGE_LIMIT;
  const tooMany = input.hasTooManyChanges === true || input.changes.length > limit;
  return {
    // Array.prototype.sort is stable: equal dates keep the order coalescing gave them.
    fileSystemChanges: tooMany ? [] : [...input.changes].sort((a, b) => b.eventDate - a.eventDate),
    syncDate: syncDateOf(input.syncDate),
    upperBound: input.upperBound,
    hasTooManyChanges: tooMany,
    activeSynchronizationRootDefinitions: rootDefinitions(input.roots),
  };
}
