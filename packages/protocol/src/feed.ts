// Feed positions: what `upperBound` means, and when a device's cursor may resume.
//
// Invariant: a device that resumes from cursor p receives every change set issued after p, in
// order, or is told to rescan (hasTooManyChanges). Never a silent gap.
//
// Positions are assigned by the user's actor, the single writer of that user's feed (fenced by
// the shard lease and by expected-last-subject-sequence on append):
//   upperBound = max(previous upperBound + 1, wallClockMs * 1000)
// They are strictly increasing per user, below 2^53 until about year 2255, and time-like, which
// gives us a sound rule when the retained history is gone:
//
// Each stored set records `lowerBound`, the position it follows, or 0 when the actor found no
// retained history for the user (first set ever, or everything before expired by max age).
// A cursor p continues with stored set S when
//   (a) S.lowerBound == p                      — the ordinary case; or
//   (b) S.lowerBound == 0 and p < S.upperBound and p >= S.upperBound - (maxAge - skew) * 1000:
//       every set issued before S was gone when S was written, so it had been issued more than
//       maxAge before S; p, issued within maxAge before S, is after all of them.
// Anything else — older than the first retained set, issued by another feed store after a reset,
// ahead of the feed, or a Nuxeo audit-log id — cannot be proven contiguous: rescan.
// A cursor equal to the user's last upperBound has nothing to replay; with no retained history
// at all, a cursor within the last maxAge has nothing to replay either (rule (b) again).

/** Margin for clock skew between the hosts of actors and gateways. */
export const CLOCK_SKEW_MS = 60_000;

/** The next position after `previous` (0 if none) at wall-clock time `nowMs`. */
export function nextPosition(previous: number, nowMs: number): number {
  return Math.max(previous + 1, Math.floor(nowMs) * 1000);
}

/** A position that denotes "now" for a user with no retained history. */
export function positionAt(nowMs: number): number {
  return Math.floor(nowMs) * 1000;
}

/**
 * Whether a device at `cursor` may receive `entry` next without missing anything.
 * `maxAgeMs` is the feed store's max age (Infinity when unbounded).
 */
export function follows(
  entry: { lowerBound: number; upperBound: number },
  cursor: number,
  maxAgeMs: number,
): boolean {
  // 0 is never issued as a position; as a cursor it proves nothing.
  if (cursor <= 0) return false;
  if (entry.lowerBound === cursor) return true;
  if (entry.lowerBound !== 0 || cursor >= entry.upperBound || cursor <= 0) return false;
  const window = (maxAgeMs - CLOCK_SKEW_MS) * 1000;
  return window > 0 && cursor >= entry.upperBound - window;
}

/** Whether a cursor may be taken as current for a user with no retained history. */
export function currentWithoutHistory(cursor: number, nowMs: number, maxAgeMs: number): boolean {
  if (cursor <= 0) return false;
  const now = positionAt(nowMs);
  const window = (maxAgeMs - CLOCK_SKEW_MS) * 1000;
  return window > 0 && cursor <= now + CLOCK_SKEW_MS * 1000 && cursor >= now - window;
}

/** Largest position the protocol allows (exclusive). */
export const MAX_POSITION = 2 ** 53;
