// One core subscription per user with devices on this process, shared by all of them.
//
// The feed subject `drive.feed.<shard>.<userToken>` is subscribed when the first device of a user
// subscribes and released when the last one leaves (refcount). Each live change set is decoded
// once and handed to every device's merge. `attach` resolves only once the subscription is
// active on the server (bus flush), which the replay merge relies on: it reads the history only
// after that, so a set published during the read reaches it live. (See replay.ts.)
import { msgpackCodec, shardOf } from "@drivecast/protocol";
import type { FeedEntry, Names } from "@drivecast/protocol";
import { StreamNotFoundError } from "@drivecast/bus";
import type { Bus, StoredMessage, Subscription } from "@drivecast/bus";
import type { Logger } from "./types.js";

export interface FeedListener {
  onLive(entry: FeedEntry): void;
}

export interface FeedHub {
  /** Adds a listener for `user`'s live sets; resolves when the subscription is active. */
  attach(user: string, listener: FeedListener): Promise<void>;
  detach(user: string, listener: FeedListener): void;
  /** The retained history of `user`'s feed, oldest first. */
  read(user: string): Promise<FeedEntry[]>;
  /** The newest retained set of `user`'s feed, or null (a direct get: cheaper than `read`). */
  last(user: string): Promise<FeedEntry | null>;
  /** Users with a live subscription. */
  size(): number;
  close(): void;
}

interface UserFeed {
  subject: string;
  subscription: Subscription;
  listeners: Set<FeedListener>;
  active: Promise<void>;
}

export interface FeedHubOptions {
  bus: Bus;
  names: Names;
  shardCount: number;
  logger: Logger;
  /** Called when the number of subscribed users changes. */
  onUsersChanged?: (users: number) => void;
}

const codec = msgpackCodec<FeedEntry>();

export function createFeedHub(options: FeedHubOptions): FeedHub {
  return new FeedHubImpl(options);
}

class FeedHubImpl implements FeedHub {
  private readonly feeds = new Map<string, UserFeed>();

  constructor(private readonly o: FeedHubOptions) {}

  subjectOf(user: string): string {
    return this.o.names.feed(shardOf(user, this.o.shardCount), user);
  }

  attach(user: string, listener: FeedListener): Promise<void> {
    let feed = this.feeds.get(user);
    if (feed === undefined) {
      const subject = this.subjectOf(user);
      const listeners = new Set<FeedListener>();
      const subscription = this.o.bus.subscribe(subject, (msg) => {
        let entry: FeedEntry;
        try {
          entry = codec.decode(msg.data);
        } catch (err) {
          this.o.logger.error(
            { err, subject },
            "undecodable feed entry, skipped (gap repair will re-read)",
          );
          return;
        }
        for (const l of listeners) {
          try {
            l.onLive(entry);
          } catch (err) {
            this.o.logger.error({ err, subject }, "feed listener failed");
          }
        }
      });
      feed = { subject, subscription, listeners, active: this.o.bus.flush() };
      this.feeds.set(user, feed);
      this.o.onUsersChanged?.(this.feeds.size);
    }
    feed.listeners.add(listener);
    return feed.active;
  }

  detach(user: string, listener: FeedListener): void {
    const feed = this.feeds.get(user);
    if (feed === undefined || !feed.listeners.delete(listener)) return;
    if (feed.listeners.size === 0) {
      feed.subscription.unsubscribe();
      this.feeds.delete(user);
      this.o.onUsersChanged?.(this.feeds.size);
    }
  }

  async read(user: string): Promise<FeedEntry[]> {
    const subject = this.feeds.get(user)?.subject ?? this.subjectOf(user);
    let stored: StoredMessage[];
    try {
      stored = await this.o.bus.streams.read(this.o.names.feedsStream, subject, 1);
    } catch (err) {
      // No feed stream yet (no change set was ever written): nothing is retained.
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    const out: FeedEntry[] = [];
    for (const m of stored) {
      try {
        out.push(codec.decode(m.data));
      } catch (err) {
        this.o.logger.error({ err, subject, seq: m.seq }, "undecodable feed entry in the stream");
      }
    }
    return out;
  }

  async last(user: string): Promise<FeedEntry | null> {
    const subject = this.feeds.get(user)?.subject ?? this.subjectOf(user);
    let stored: StoredMessage | null;
    try {
      stored = await this.o.bus.streams.lastBySubject(this.o.names.feedsStream, subject);
    } catch (err) {
      if (err instanceof StreamNotFoundError) return null;
      throw err;
    }
    if (stored === null) return null;
    try {
      return codec.decode(stored.data);
    } catch (err) {
      this.o.logger.error(
        { err, subject, seq: stored.seq },
        "undecodable feed entry in the stream",
      );
      return null;
    }
  }

  size(): number {
    return this.feeds.size;
  }

  close(): void {
    for (const feed of this.feeds.values()) feed.subscription.unsubscribe();
    this.feeds.clear();
    this.o.onUsersChanged?.(0);
  }
}
