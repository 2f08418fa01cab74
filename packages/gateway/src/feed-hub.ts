// One core subscription per user with devices on this process, shared by all of them.
//
// The feed subject `drive.feed.<shard>.<userToken>` is subscribed when the first device of a user
// subscribes and released when the last one leaves (refcount). Each live change set is decoded
// once and handed to every device's merge. `attach` resolves only once the subscription is
// active on the server (bus flush), which the replay merge relies on: it reads the history only
// after that, so a set published during the read reaches it live. (See replay.ts.)
//
// Reconnects of the bus: core messages published while the connection was down never reach this
// process, and nothing on the live path would notice until the user's next set (whose
// `lowerBound` would not follow). `resync()` (run on the bus's reconnect signal) closes that
// window: once the subscriptions are active again (flush), it fetches each subscribed user's
// newest stored set (one direct get per user, bounded concurrency) and hands it to the user's
// listeners as if it had arrived live. A device already past it ignores it; one it continues is
// sent it; one that missed more sees a set that does not follow its cursor and re-reads the
// stream from its cursor (the merge's gap repair). A user whose newest set cannot be read then is
// failed (its devices reconnect and resume), rather than left with a possible silent gap.
import { msgpackCodec, shardOf } from "@drivecast/protocol";
import type { FeedEntry, Names } from "@drivecast/protocol";
import { StreamNotFoundError } from "@drivecast/bus";
import type { Bus, BusMessage, StoredMessage, Subscription } from "@drivecast/bus";
import type { Logger } from "./types.js";

export interface FeedListener {
  onLive(entry: FeedEntry): void;
  /** The feed may have lost live sets and cannot be checked now: close so the client resumes. */
  onLost(reason: string): void;
}

export interface FeedHub {
  /** Adds a listener for `user`'s live sets; resolves when the subscription is active. */
  attach(user: string, listener: FeedListener): Promise<void>;
  detach(user: string, listener: FeedListener): void;
  /**
   * The retained history of `user`'s feed, oldest first — from the newest set back to the first
   * one at or before position `after` (all of it when `after` is 0): older sets cannot matter to
   * a device at `after`, and decoding is most of a replay's cost.
   */
  read(user: string, after?: number): Promise<FeedEntry[]>;
  /** The newest retained set of `user`'s feed, or null (a direct get: cheaper than `read`). */
  last(user: string): Promise<FeedEntry | null>;
  /**
   * After a bus reconnect: the newest stored set of every subscribed user is handed to its
   * listeners as a live one. Resolves to the number of users checked.
   */
  resync(): Promise<number>;
  /** Users with a live subscription. */
  size(): number;
  close(): void;
}

interface UserFeed {
  user: string;
  subscription: Subscription;
  /** An array, not a Set: most users have one device here, and every user holds one. */
  listeners: FeedListener[];
  /** The subscription's flush; a shared resolved promise once done. */
  active: Promise<void>;
}

const ACTIVE: Promise<void> = Promise.resolve();

/** Calls `call` for each listener; a copy when several, since a call may detach one. */
function eachListener(listeners: FeedListener[], call: (l: FeedListener) => void): void {
  if (listeners.length === 1) call(listeners[0] as FeedListener);
  else for (const l of listeners.slice()) call(l);
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

/** Direct gets in flight at once during a resync (a reconnect must not stampede the stream). */
const RESYNC_CONCURRENCY = 32;

export function createFeedHub(options: FeedHubOptions): FeedHub {
  return new FeedHubImpl(options);
}

class FeedHubImpl implements FeedHub {
  /** By feed subject: the one handler below finds a message's listeners from its subject. */
  private readonly feeds = new Map<string, UserFeed>();

  constructor(private readonly o: FeedHubOptions) {}

  /** Shared by every subscription (no closure per user: every idle user holds one). */
  private readonly onMessage = (msg: BusMessage): void => {
    const feed = this.feeds.get(msg.subject);
    if (feed === undefined) return; // released meanwhile
    let entry: FeedEntry;
    try {
      entry = codec.decode(msg.data);
    } catch (err) {
      this.o.logger.error(
        { err, subject: msg.subject },
        "undecodable feed entry, skipped (gap repair will re-read)",
      );
      return;
    }
    // No closure per message: this is the fan-out's hot path.
    const { listeners } = feed;
    if (listeners.length === 1) this.deliver(listeners[0] as FeedListener, entry, msg.subject);
    else for (const l of listeners.slice()) this.deliver(l, entry, msg.subject);
  };

  subjectOf(user: string): string {
    return this.o.names.feed(shardOf(user, this.o.shardCount), user);
  }

  attach(user: string, listener: FeedListener): Promise<void> {
    const subject = this.subjectOf(user);
    let feed = this.feeds.get(subject);
    if (feed === undefined) {
      const subscription = this.o.bus.subscribe(subject, this.onMessage);
      const active = this.o.bus.flush();
      const created: UserFeed = { user, subscription, listeners: [], active };
      active.then(
        () => {
          if (created.active === active) created.active = ACTIVE;
        },
        () => undefined,
      );
      feed = created;
      this.feeds.set(subject, feed);
      this.o.onUsersChanged?.(this.feeds.size);
    }
    feed.listeners.push(listener);
    return feed.active;
  }

  private deliver(listener: FeedListener, entry: FeedEntry, subject: string): void {
    try {
      listener.onLive(entry);
    } catch (err) {
      this.o.logger.error({ err, subject }, "feed listener failed");
    }
  }

  detach(user: string, listener: FeedListener): void {
    const subject = this.subjectOf(user);
    const feed = this.feeds.get(subject);
    const i = feed === undefined ? -1 : feed.listeners.indexOf(listener);
    if (feed === undefined || i < 0) return;
    feed.listeners.splice(i, 1);
    if (feed.listeners.length === 0) {
      feed.subscription.unsubscribe();
      this.feeds.delete(subject);
      this.o.onUsersChanged?.(this.feeds.size);
    }
  }

  async read(user: string, after = 0): Promise<FeedEntry[]> {
    const subject = this.subjectOf(user);
    let stored: StoredMessage[];
    try {
      stored = await this.o.bus.streams.read(this.o.names.feedsStream, subject, 1);
    } catch (err) {
      // No feed stream yet (no change set was ever written): nothing is retained.
      if (err instanceof StreamNotFoundError) return [];
      throw err;
    }
    // Stream order is position order (one writer per user, positions strictly increasing), so
    // decoding from the newest set can stop at the first one the device already has.
    const out: FeedEntry[] = [];
    for (let i = stored.length - 1; i >= 0; i--) {
      const m = stored[i] as StoredMessage;
      let entry: FeedEntry;
      try {
        entry = codec.decode(m.data);
      } catch (err) {
        this.o.logger.error({ err, subject, seq: m.seq }, "undecodable feed entry in the stream");
        continue;
      }
      out.push(entry);
      if (after > 0 && entry.summary.upperBound <= after) break;
    }
    return out.reverse();
  }

  async last(user: string): Promise<FeedEntry | null> {
    const subject = this.subjectOf(user);
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

  async resync(): Promise<number> {
    // The client re-subscribed during the reconnect; a flush makes sure the server has them, so
    // from here on every set is either seen live or already stored.
    await this.o.bus.flush();
    const subjects = [...this.feeds.keys()];
    let next = 0;
    let checked = 0;
    const worker = async (): Promise<void> => {
      while (next < subjects.length) {
        const subject = subjects[next++] as string;
        const user = this.feeds.get(subject)?.user;
        if (user === undefined) continue; // left meanwhile
        let newest: FeedEntry | null;
        try {
          newest = await this.last(user);
        } catch (err) {
          this.o.logger.warn({ err, user }, "feed check after a reconnect failed");
          this.notify(subject, (l) => l.onLost("feed unavailable after a reconnect"));
          continue;
        }
        checked++;
        if (newest !== null) this.notify(subject, (l) => l.onLive(newest));
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(RESYNC_CONCURRENCY, subjects.length) }, worker),
    );
    return checked;
  }

  private notify(subject: string, call: (l: FeedListener) => void): void {
    const feed = this.feeds.get(subject);
    if (feed === undefined) return;
    eachListener(feed.listeners, (l) => {
      try {
        call(l);
      } catch (err) {
        this.o.logger.error({ err, subject }, "feed listener failed");
      }
    });
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
