// Appending a user's change sets to DRIVE_FEEDS.
//
// Invariant: a user's feed is written by one actor at a time, in position order, each set once.
// The actor holds the stream sequence of the user's last stored set and appends with
// expected-last-subject-sequence = that sequence: a stale writer (a worker that lost its shard)
// fails instead of interleaving. The message id `<userToken>:<eventSeq>` makes a retried append
// of the same set a no-op. After a crash the new actor reads the last stored set back and skips
// the events it already covers (`eventSeq`, the shard-stream watermark), so no set is written
// twice and no change is lost.
import type { Bus } from "@drivecast/bus";
import { WrongLastSequenceError } from "@drivecast/bus";
import { msgpackCodec, userToken, type FeedEntry, type Names } from "@drivecast/protocol";

export const feedCodec = msgpackCodec<FeedEntry>();

export interface FeedHead {
  /** Stream sequence of the user's last stored set (0: none retained). */
  subjectSeq: number;
  /** Position of the last stored set (0: none retained). */
  position: number;
  /** Shard-stream watermark: events up to this sequence are in stored sets. */
  eventSeq: number;
}

export interface FeedWriter {
  head(shard: number, user: string): Promise<FeedHead>;
  /**
   * Appends `entry` after `head`. Returns the new head, or null when the feed moved on without
   * us (another writer): the caller re-reads the head and decides.
   */
  append(shard: number, head: FeedHead, entry: FeedEntry): Promise<FeedHead | null>;
}

export function createFeedWriter(bus: Bus, names: Names): FeedWriter {
  return {
    async head(shard, user) {
      const last = await bus.streams.lastBySubject(names.feedsStream, names.feed(shard, user));
      if (!last) return { subjectSeq: 0, position: 0, eventSeq: 0 };
      const entry = feedCodec.decode(last.data);
      return { subjectSeq: last.seq, position: entry.summary.upperBound, eventSeq: entry.eventSeq };
    },
    async append(shard, head, entry) {
      try {
        const res = await bus.streams.append(names.feed(shard, entry.user), feedCodec.encode(entry), {
          msgId: `${userToken(entry.user)}:${entry.eventSeq}`,
          expectedLastSubjectSeq: head.subjectSeq,
        });
        return { subjectSeq: res.seq, position: entry.summary.upperBound, eventSeq: entry.eventSeq };
      } catch (error) {
        if (error instanceof WrongLastSequenceError) return null;
        throw error;
      }
    },
  };
}
