// Appending a user's change sets to DRIVE_FEEDS.
//
// Invariant: a user's feed is written by one actor at a time, in position order, each set once.
// The actor holds the stream sequence of the user's last stored set and appends with
// expected-last-subject-sequence = that sequence: a stale writer (a worker that lost its shard)
// fails instead of interleaving. The message id `<userToken>:<eventSeq>` makes a retried append
// of the same set a no-op (the retry sends the very same bytes). After a crash the new actor
// reads the last stored set back and skips the events it already covers (`eventSeq`, the
// shard-stream watermark), so no set is written twice and no change is lost.
import type { Bus } from "@drivecast/bus";
import { WrongLastSequenceError } from "@drivecast/bus";
import { feedEntryCodec, userToken, type FeedEntry, type Names } from "@drivecast/protocol";

export const feedCodec = feedEntryCodec;

/** Header naming the worker that wrote a change set (audits, the takeover tests). */
export const WRITER_HEADER = "Drivecast-Writer";

export interface FeedHead {
  /** Stream sequence of the user's last stored set (0: none retained). */
  subjectSeq: number;
  /** Position of the last set this writer knows of (0: none). */
  position: number;
  /** Shard-stream watermark: this user's events up to this sequence are in stored sets. */
  eventSeq: number;
}

export const EMPTY_HEAD: FeedHead = Object.freeze({ subjectSeq: 0, position: 0, eventSeq: 0 });

export type AppendOutcome =
  /** Stored; the new head. */
  | { kind: "stored"; head: FeedHead }
  /** A set with this message id is already stored (a retry, or another writer's set that ends
   * at the same event): read the head again. */
  | { kind: "duplicate" }
  /** The feed moved on without us (another writer, or its history vanished): read the head
   * again and decide. */
  | { kind: "conflict" };

export interface FeedWriter {
  head(shard: number, user: string): Promise<FeedHead>;
  /** Appends `entry` after `head`. Throws on I/O errors (retry with the same entry). */
  append(shard: number, head: FeedHead, entry: FeedEntry): Promise<AppendOutcome>;
}

export function createFeedWriter(bus: Bus, names: Names, writerId: string): FeedWriter {
  const headers = { [WRITER_HEADER]: writerId };
  return {
    async head(shard, user) {
      const last = await bus.streams.lastBySubject(names.feedsStream, names.feed(shard, user));
      if (!last) return EMPTY_HEAD;
      const entry = feedCodec.decode(last.data);
      return { subjectSeq: last.seq, position: entry.summary.upperBound, eventSeq: entry.eventSeq };
    },
    async append(shard, head, entry) {
      try {
        const res = await bus.streams.append(
          names.feed(shard, entry.user),
          feedCodec.encode(entry),
          {
            msgId: `${userToken(entry.user)}:${entry.eventSeq}`,
            expectedLastSubjectSeq: head.subjectSeq,
            headers,
          },
        );
        if (res.duplicate) return { kind: "duplicate" };
        return {
          kind: "stored",
          head: {
            subjectSeq: res.seq,
            position: entry.summary.upperBound,
            eventSeq: entry.eventSeq,
          },
        };
      } catch (error) {
        if (error instanceof WrongLastSequenceError) return { kind: "conflict" };
        throw error;
      }
    },
  };
}
