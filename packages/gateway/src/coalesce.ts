// Coalescing already-computed Drive changes across several change sets, per document, with the
// rules of NUXEO.md §5 ("Change sets"), so that GetChangeSummary over many sets answers what one
// set covering the same span would have: the latest change per docUuid; `documentMoved` kept as
// the eventId when an earlier change was a move and the latest carries an item; a document
// created and then deleted within the span yields nothing; eventDate descending.
import { DriveEventId } from "@drivecast/protocol";
import type { FileSystemItemChange } from "@drivecast/protocol";

const CREATION_EVENTS = new Set(["documentCreated", "documentCreatedByCopy"]);

interface Slot {
  first: FileSystemItemChange;
  latest: FileSystemItemChange;
  moved: boolean;
  order: number;
}

/**
 * Coalesces `sets`, oldest set first; inside each set, changes are in Nuxeo's order (eventDate
 * descending), as the changeset role stores them.
 */
export function coalesceChanges(
  sets: readonly (readonly FileSystemItemChange[])[],
): FileSystemItemChange[] {
  const byDoc = new Map<string, Slot>();
  let order = 0;
  for (const changes of sets) {
    // Oldest change of the set first.
    for (let i = changes.length - 1; i >= 0; i--) {
      const change = changes[i] as FileSystemItemChange;
      const key = `${change.repositoryId}:${change.docUuid}`;
      const slot = byDoc.get(key);
      if (slot === undefined) {
        byDoc.set(key, {
          first: change,
          latest: change,
          moved: change.eventId === DriveEventId.DocumentMoved,
          order: order++,
        });
      } else {
        slot.moved ||= change.eventId === DriveEventId.DocumentMoved;
        slot.latest = change;
        slot.order = order++;
      }
    }
  }
  const out: { change: FileSystemItemChange; order: number }[] = [];
  for (const slot of byDoc.values()) {
    const { first, latest } = slot;
    if (
      first !== latest &&
      CREATION_EVENTS.has(first.eventId) &&
      latest.eventId === DriveEventId.Deleted
    ) {
      continue;
    }
    const change =
      slot.moved && latest.fileSystemItem !== null && latest.eventId !== DriveEventId.DocumentMoved
        ? { ...latest, eventId: DriveEventId.DocumentMoved }
        : latest;
    out.push({ change, order: slot.order });
  }
  // Nuxeo's order: eventDate descending; among equal dates, the later change first.
  out.sort((a, b) => b.change.eventDate - a.change.eventDate || b.order - a.order);
  return out.map((o) => o.change);
}
