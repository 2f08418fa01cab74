// Coalescing Drive changes per document (spec/NUXEO.md §5, "Change sets"), shared by the two
// places that need it: the changeset role, as a user's changes arrive between two flushes, and
// the gateway's GetChangeSummary, across the stored sets it answers for at once. One
// implementation, so that a summary over many sets says what one set covering the same span
// would have said.
import { DriveEventId, type FileSystemItemChange } from "./drive.js";

/** Changes one user may have pending before the set becomes `hasTooManyChanges`. */
export const DEFAULT_CHANGE_LIMIT = 1000;

/** Audit events that created the document (Drive passes their ids through unchanged). */
function isCreation(eventId: string): boolean {
  return eventId === "documentCreated" || eventId === "documentCreatedByCopy";
}

interface Entry {
  /** The change kept for the document; null when it was created then deleted in this set. */
  change: FileSystemItemChange | null;
  /** The first change of the document in this set created it. */
  created: boolean;
  /** Some change of the document so far in this set was `documentMoved`. */
  moved: boolean;
  /** Arrival rank of the kept change: breaks eventDate ties, latest first. */
  seq: number;
}

/**
 * Accumulates one user's changes between two flushes, coalescing as they arrive (spec §5):
 * per `docUuid` the latest change is kept; if an earlier one was `documentMoved` and the latest
 * carries an item, the kept one says `documentMoved`; created then deleted within the set
 * yields nothing. Changes must be added in the order their events happened.
 *
 * Past the limit the set is lost anyway (`hasTooManyChanges`, the client rescans), so the
 * accumulator drops what it holds and ignores further changes until `take`: memory stays
 * bounded by the limit whatever the burst.
 */
export interface PendingChanges {
  add(change: FileSystemItemChange): void;
  /** Changes the next set would carry (0 once overflowed). */
  readonly size: number;
  /** The coalesced count went over the limit since the last `take`. */
  readonly overflowed: boolean;
  /** Nothing to flush: no change and no overflow. */
  readonly isEmpty: boolean;
  /** The set so far, ordered (eventDate descending), and start a new one. */
  take(): { changes: FileSystemItemChange[]; hasTooManyChanges: boolean };
}

export interface PendingChangesOptions {
  /** Default `DEFAULT_CHANGE_LIMIT`. */
  limit?: number;
}

export function createPendingChanges(options: PendingChangesOptions = {}): PendingChanges {
  return new PendingChangesImpl(options.limit ?? DEFAULT_CHANGE_LIMIT);
}

class PendingChangesImpl implements PendingChanges {
  private entries = new Map<string, Entry>();
  private count = 0;
  private seq = 0;
  private tooMany = false;

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.count;
  }

  get overflowed(): boolean {
    return this.tooMany;
  }

  get isEmpty(): boolean {
    return this.count === 0 && !this.tooMany;
  }

  add(change: FileSystemItemChange): void {
    if (this.tooMany) return;
    const seq = this.seq++;
    const key = `${change.repositoryId}:${change.docUuid}`;
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.entries.set(key, {
        change,
        created: isCreation(change.eventId),
        moved: change.eventId === DriveEventId.DocumentMoved,
        seq,
      });
      this.count++;
    } else {
      const had = entry.change !== null;
      if (entry.created && change.eventId === DriveEventId.Deleted) {
        entry.change = null;
      } else if (
        entry.moved &&
        change.fileSystemItem !== null &&
        change.eventId !== DriveEventId.DocumentMoved
      ) {
        entry.change = { ...change, eventId: DriveEventId.DocumentMoved };
      } else {
        entry.change = change;
      }
      if (change.eventId === DriveEventId.DocumentMoved) entry.moved = true;
      entry.seq = seq;
      this.count += (entry.change !== null ? 1 : 0) - (had ? 1 : 0);
    }
    if (this.count > this.limit) {
      this.tooMany = true;
      this.entries.clear();
      this.count = 0;
    }
  }

  take(): { changes: FileSystemItemChange[]; hasTooManyChanges: boolean } {
    const hasTooManyChanges = this.tooMany;
    const kept: { change: FileSystemItemChange; seq: number }[] = [];
    for (const e of this.entries.values())
      if (e.change !== null) kept.push({ change: e.change, seq: e.seq });
    this.entries = new Map();
    this.count = 0;
    this.seq = 0;
    this.tooMany = false;
    kept.sort((a, b) => b.change.eventDate - a.change.eventDate || b.seq - a.seq);
    return { changes: kept.map((k) => k.change), hasTooManyChanges };
  }
}

/**
 * Coalesce changes given in the order their events happened, and order them as Nuxeo does
 * (eventDate descending, the later arrival first on ties). No limit applied.
 */
export function coalesce(changes: Iterable<FileSystemItemChange>): FileSystemItemChange[] {
  const pending = new PendingChangesImpl(Number.POSITIVE_INFINITY);
  for (const c of changes) pending.add(c);
  return pending.take().changes;
}
