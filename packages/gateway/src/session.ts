// Drives one device's FeedMerge: attaches to the user's live feed, performs the reads the merge
// asks for, and hands what it must send to the transport (WebSocket or SSE).
import type { ChangesMessage, FeedEntry } from "@drivecast/protocol";
import type { FeedHub, FeedListener } from "./feed-hub.js";
import { FeedMerge } from "./replay.js";
import type { MergeOptions, MergeStep } from "./replay.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Logger } from "./types.js";

export interface SessionSink {
  /**
   * Sends `changes` messages in order, batched into as few writes as the transport allows (a
   * replay is many messages to one socket); returns how many were sent — fewer than given when
   * the connection is gone or was just closed as too slow (stop sending).
   */
  sendChanges(messages: readonly ChangesMessage[]): number;
  /** The feed cannot be read: close the connection so the client resumes elsewhere/later. */
  fail(reason: string): void;
}

/** What every session of a process shares (the GatewayContext fits). */
export interface SessionEnv {
  readonly hub: FeedHub;
  readonly mergeOptions: MergeOptions;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
}

export class FeedSession implements FeedListener {
  private readonly merge: FeedMerge;
  private attached = false;
  private closed = false;
  /** Consecutive re-reads asked by the merge right after a read. */
  private rereads = 0;

  constructor(
    private readonly user: string,
    private readonly env: SessionEnv,
    private readonly sink: SessionSink,
  ) {
    this.merge = new FeedMerge(env.mergeOptions);
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
    this.env.hub.attach(this.user, this).then(
      () => {
        if (!this.closed) this.firstRead(lowerBound);
      },
      (err: unknown) => {
        if (this.closed) return;
        this.env.logger.warn({ err, user: this.user }, "feed subscription failed");
        this.sink.fail("feed unavailable");
      },
    );
  }

  onLive(entry: FeedEntry): void {
    if (this.closed) return;
    const step = this.merge.onLive(entry);
    if (step.read) this.env.metrics.gapRepairs.inc();
    this.apply(step, false);
  }

  onLost(reason: string): void {
    if (!this.closed) this.sink.fail(reason);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.attached) this.env.hub.detach(this.user, this);
  }

  private apply(step: MergeStep, replayed: boolean): void {
    if (step.send.length > 0) {
      const sent = this.sink.sendChanges(step.send);
      if (replayed) {
        let withChanges = 0;
        for (let i = 0; i < sent; i++) {
          if ((step.send[i] as ChangesMessage).summary.fileSystemChanges.length > 0) withChanges++;
        }
        if (withChanges > 0) this.env.metrics.replayedChangeSets.inc(withChanges);
      }
      if (sent < step.send.length) return;
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
    this.env.hub.last(this.user).then(
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
        this.env.logger.warn({ err, user: this.user }, "feed history read failed");
        this.sink.fail("feed unavailable");
      },
    );
  }

  private read(): void {
    this.env.hub.read(this.user, this.merge.readFrom).then(
      (history) => {
        if (this.closed) return;
        this.apply(this.merge.onHistory(history), true);
      },
      (err: unknown) => {
        if (this.closed) return;
        this.env.logger.warn({ err, user: this.user }, "feed history read failed");
        this.sink.fail("feed unavailable");
      },
    );
  }
}
