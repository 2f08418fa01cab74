// Drives one device's FeedMerge: attaches to the user's live feed, performs the reads the merge
// asks for, and hands what it must send to the transport (WebSocket or SSE).
import type { ChangesMessage, FeedEntry } from "@drivecast/protocol";
import type { FeedHub, FeedListener } from "./feed-hub.js";
import { FeedMerge } from "./replay.js";
import type { MergeOptions, MergeStep } from "./replay.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Logger } from "./types.js";

export interface SessionSink {
  /** Sends one `changes` message; false when the connection is gone (stop sending). */
  sendChanges(message: ChangesMessage): boolean;
  /** The feed cannot be read: close the connection so the client resumes elsewhere/later. */
  fail(reason: string): void;
}

export class FeedSession implements FeedListener {
  private readonly merge: FeedMerge;
  private attached = false;
  private closed = false;
  /** Consecutive re-reads asked by the merge right after a read. */
  private rereads = 0;

  constructor(
    private readonly user: string,
    private readonly hub: FeedHub,
    mergeOptions: MergeOptions,
    private readonly sink: SessionSink,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
  ) {
    this.merge = new FeedMerge(mergeOptions);
  }

  get subscribed(): boolean {
    return this.merge.state !== "idle";
  }

  get cursor(): number | null {
    return this.merge.cursor;
  }

  subscribe(lowerBound: number | null): void {
    // Live first (buffered by the merge), history after the subscription is active.
    this.merge.subscribe(lowerBound);
    this.attached = true;
    this.hub.attach(this.user, this).then(
      () => {
        if (!this.closed) this.firstRead(lowerBound);
      },
      (err: unknown) => {
        if (this.closed) return;
        this.logger.warn({ err, user: this.user }, "feed subscription failed");
        this.sink.fail("feed unavailable");
      },
    );
  }

  onLive(entry: FeedEntry): void {
    if (this.closed) return;
    const step = this.merge.onLive(entry);
    if (step.read) this.metrics.gapRepairs.inc();
    this.apply(step, false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.attached) this.hub.detach(this.user, this);
  }

  private apply(step: MergeStep, replayed: boolean): void {
    for (const message of step.send) {
      if (!this.sink.sendChanges(message)) return;
      if (replayed && message.summary.fileSystemChanges.length > 0) {
        this.metrics.replayedChangeSets.inc();
      }
    }
    if (!step.read) {
      this.rereads = 0;
      return;
    }
    if (!replayed) {
      this.read();
      return;
    }
    // Asked to read again right after a read: the stream has not stored what was seen live yet
    // (replicated streams store after the publish is delivered). Give it time, growing.
    const delay = Math.min(1000, 25 * 2 ** this.rereads++);
    const timer = setTimeout(() => {
      if (!this.closed) this.read();
    }, delay);
    timer.unref();
  }

  /**
   * Most subscribers are up to date (a reconnect) or start from now: for them the newest stored
   * set is all the history the merge needs, and fetching it is one direct get instead of a
   * replay read. Anyone else gets the full history.
   */
  private firstRead(lowerBound: number | null): void {
    this.hub.last(this.user).then(
      (last) => {
        if (this.closed) return;
        if (last === null || lowerBound === null || last.summary.upperBound === lowerBound) {
          this.apply(this.merge.onHistory(last === null ? [] : [last]), true);
        } else {
          this.read();
        }
      },
      (err: unknown) => {
        if (this.closed) return;
        this.logger.warn({ err, user: this.user }, "feed history read failed");
        this.sink.fail("feed unavailable");
      },
    );
  }

  private read(): void {
    this.hub.read(this.user).then(
      (history) => {
        if (this.closed) return;
        this.apply(this.merge.onHistory(history), true);
      },
      (err: unknown) => {
        if (this.closed) return;
        this.logger.warn({ err, user: this.user }, "feed history read failed");
        this.sink.fail("feed unavailable");
      },
    );
  }
}
