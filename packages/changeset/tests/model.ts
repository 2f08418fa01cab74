// The model the exactly-once tests compare the feeds with: the pure change computation run over
// a user's events in stream order, independent of timing. A stored set must hold exactly the
// coalesced changes of the user's events in its range (previous set's eventSeq, its eventSeq],
// the sets must chain (lowerBound = previous upperBound, positions strictly increasing, eventSeq
// strictly increasing), and every event with an effect must fall in some set.
import type { DocEvent, FeedEntry, FileSystemItemChange } from "@drivecast/protocol";
import {
  buildSummary,
  coalesce,
  computeEvent,
  userContext,
  withRoots,
  type UserRoot,
} from "@drivecast/changeset";

export interface UserModel {
  user: string;
  groups: string[];
  isAdministrator: boolean;
  roots: UserRoot[];
}

export interface SeqEvent {
  seq: number;
  event: DocEvent;
}

/** Each event's changes for the user, in sequence order (no re-evaluations in these loads). */
export function modelChanges(
  model: UserModel,
  events: readonly SeqEvent[],
): { seq: number; changes: FileSystemItemChange[] }[] {
  let ctx = userContext({
    user: model.user,
    groups: model.groups,
    isAdministrator: model.isAdministrator,
    roots: model.roots,
  });
  const out: { seq: number; changes: FileSystemItemChange[] }[] = [];
  for (const { seq, event } of [...events].sort((a, b) => a.seq - b.seq)) {
    if (!event.users.includes(model.user)) continue;
    const effects = computeEvent(ctx, event);
    if (effects.reevaluate)
      throw new Error(`the model does not re-evaluate roots (event seq ${seq})`);
    if (effects.roots) ctx = withRoots(ctx, effects.roots);
    out.push({ seq, changes: effects.changes });
  }
  return out;
}

/** Problems found comparing a user's stored sets (stream order) with the model; [] when exact. */
export function compareFeed(
  model: UserModel,
  events: readonly SeqEvent[],
  entries: readonly FeedEntry[],
): string[] {
  const problems: string[] = [];
  const per = modelChanges(model, events);
  let previous: FeedEntry | null = null;
  let i = 0;
  for (const entry of entries) {
    const at = `${model.user} set #${entries.indexOf(entry)} (eventSeq ${entry.eventSeq})`;
    const prevSeq = previous?.eventSeq ?? 0;
    if (entry.eventSeq <= prevSeq)
      problems.push(`${at}: eventSeq does not increase (after ${prevSeq}): stored twice?`);
    if (previous === null) {
      if (entry.lowerBound !== 0)
        problems.push(`${at}: first set has lowerBound ${entry.lowerBound}`);
    } else {
      if (entry.lowerBound !== previous.summary.upperBound) {
        problems.push(
          `${at}: lowerBound ${entry.lowerBound} != previous upperBound ${previous.summary.upperBound}`,
        );
      }
      if (entry.summary.upperBound <= previous.summary.upperBound)
        problems.push(`${at}: position does not increase`);
    }
    const range: FileSystemItemChange[] = [];
    while (i < per.length && per[i]!.seq <= entry.eventSeq) {
      if (per[i]!.seq > prevSeq) range.push(...per[i]!.changes);
      i++;
    }
    const expected = buildSummary({
      changes: coalesce(range),
      syncDate: 0,
      upperBound: 0,
      roots: [],
    }).fileSystemChanges;
    const actual = entry.summary.fileSystemChanges;
    if (JSON.stringify(actual) !== JSON.stringify(expected)) {
      problems.push(
        `${at}: changes differ from the model\n  expected ${describe(expected)}\n  actual   ${describe(actual)}`,
      );
    }
    previous = entry;
  }
  const rest = per.slice(i).flatMap((p) => p.changes);
  if (coalesce(rest).length > 0) {
    problems.push(
      `${model.user}: changes never stored: ${describe(coalesce(rest))} (events after ${previous?.eventSeq ?? 0})`,
    );
  }
  return problems;
}

function describe(changes: readonly FileSystemItemChange[]): string {
  return JSON.stringify(
    changes.map((c) => `${c.eventId}:${c.fileSystemItemName ?? c.fileSystemItemId}`),
  );
}
