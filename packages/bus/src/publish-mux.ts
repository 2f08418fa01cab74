// JetStream publishes (and the hot JetStream API requests) with their replies multiplexed over
// one reply subscription.
//
// Design: nats.js sends each JetStream publish as a request. Per request it allocates a
// request object, a timer and a RequestError (its stack trace included, kept in case the
// request fails), and settles through its own muxer: in the changeset worker, which publishes a
// stored set for nearly every event, that was the largest cost left in the NATS client. Here,
// every publish of one connection carries the reply subject `<inbox>.<token>` of a single
// wildcard subscription, and a pending map (token → promise) settles it when the PubAck comes
// back.
// - Order: the subscription is sent before the first publish on the same connection, so the
//   server knows it before any reply.
// - Timeouts: no timer per publish. Every publish waits the same time, so the pending map is in
//   deadline order (insertion order); one interval timer rejects the expired ones from its front.
// - Lost replies (a disconnect between publish and PubAck) end in that timeout, as nats.js
//   requests do; the caller retries with the same message id, which the stream deduplicates.
// - No stream listens on the subject: the server answers the reply subject with a 503 status
//   (nats.js connects with `no_responders`), which rejects at once.
// - Closing rejects whatever is pending: no caller waits for a reply that cannot come.
// - In flight: at most `maxInFlight` requests wait for their reply; later ones wait here,
//   unsent, and their timeout starts when they are sent. Without the bound, a worker flushing
//   thousands of sets at once queued them all in the server, in front of everything else the
//   connection sends: measured, the lease renewals (KV writes on the same connection) came back
//   too late and a worker with 100,000 active users lost every shard.
//
// Outbox: nats.js writes to the socket once per microtask checkpoint that follows a publish.
// The changeset publishes from timer callbacks and promise continuations (a stored set, then
// the acks of its events), each its own checkpoint, so that was a write system call for nearly
// every message. The outbox holds the publishes of one turn of the event loop and hands them
// to nats.js together (setImmediate), which writes them at once: at most one turn of latency,
// in publish order.
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { DisconnectedError, TimeoutError } from "./errors.js";

/** The error member of a JetStream reply. */
export interface ApiErrorReply {
  code: number;
  err_code?: number;
  description?: string;
}

/** What the server answers to a JetStream publish. */
export interface PubAckReply {
  stream?: string;
  seq?: number;
  duplicate?: boolean;
  error?: ApiErrorReply;
}

/** What `$JS.API.STREAM.MSG.GET.<stream>` answers. */
export interface MsgGetReply {
  message?: {
    subject: string;
    seq: number;
    /** base64 of the header block (`NATS/1.0\r\nKey: Value\r\n…`). */
    hdrs?: string;
    /** base64 */
    data?: string;
    /** RFC 3339 with nanoseconds */
    time: string;
  };
  error?: ApiErrorReply;
}

interface Pending {
  subject: string;
  deadline: number;
  resolve(reply: unknown): void;
  reject(error: Error): void;
}

/** Requests waiting for their reply at once, per connection (see "In flight"). */
const DEFAULT_MAX_IN_FLIGHT = 1_024;

/** The status a NATS server answers with when no subscription takes a request. */
const NO_RESPONDERS = 503;

/** The server answered 503: no subscription (no stream, no JetStream API) takes the subject. */
export class NoReplyError extends Error {
  constructor(readonly subject: string) {
    super(`nothing answered a message to ${subject}`);
  }
}

interface Outgoing {
  subject: string;
  data: Uint8Array;
  reply: string | undefined;
  headers: MsgHdrs | undefined;
  /** The publish failed (connection closed): what to do about it. */
  onError: ((error: Error) => void) | undefined;
}

/** Core publishes of one connection, handed to the client together once per loop turn. */
export class Outbox {
  private queue: Outgoing[] = [];
  private scheduled = false;

  constructor(private readonly nc: NatsConnection) {}

  publish(
    subject: string,
    data: Uint8Array,
    reply?: string,
    headers?: MsgHdrs,
    onError?: (error: Error) => void,
  ): void {
    this.queue.push({ subject, data, reply, headers, onError });
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Hands everything queued to the client now (also before closing the connection). */
  flush(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (const m of queue) {
      try {
        this.nc.publish(m.subject, m.data, { reply: m.reply, headers: m.headers });
      } catch (error) {
        m.onError?.(error as Error);
      }
    }
  }
}

export class PublishMux {
  private prefix = "";
  private sub: Subscription | null = null;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  private next = 0;
  private closed = false;
  private readonly pending = new Map<string, Pending>();
  /** Requests beyond `maxInFlight`, not sent yet, oldest first from `queuedFrom`. */
  private queued: { send(): void; reject(error: Error): void }[] = [];
  private queuedFrom = 0;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly nc: NatsConnection,
    private readonly outbox: Outbox,
    private readonly timeoutMs: number,
    private readonly maxInFlight = DEFAULT_MAX_IN_FLIGHT,
  ) {}

  /**
   * Publishes `data` to `subject` and resolves with the JSON the server replies (a PubAck, an
   * API response; either may carry an `error`).
   */
  request(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<unknown> {
    if (this.closed) return Promise.reject(new DisconnectedError("the bus is closed"));
    if (this.sub === null) this.start();
    return new Promise<unknown>((resolve, reject) => {
      const send = (): void => {
        const token = (this.next++).toString(36);
        this.pending.set(token, {
          subject,
          deadline: Date.now() + this.timeoutMs,
          resolve,
          reject,
        });
        this.outbox.publish(subject, data, this.prefix + token, headers, (error) => {
          if (this.pending.delete(token)) reject(error);
          this.sendQueued();
        });
      };
      if (this.pending.size < this.maxInFlight && this.queuedFrom === this.queued.length) send();
      else this.queued.push({ send, reject });
    });
  }

  /** Sends waiting requests while there is room. */
  private sendQueued(): void {
    while (this.queuedFrom < this.queued.length && this.pending.size < this.maxInFlight) {
      const q = this.queued[this.queuedFrom]!;
      this.queued[this.queuedFrom++] = undefined as never;
      q.send();
    }
    // Drop the sent prefix now and then, not on every reply (a copy each time is quadratic).
    if (this.queuedFrom > 0 && this.queuedFrom === this.queued.length) {
      this.queued = [];
      this.queuedFrom = 0;
    } else if (this.queuedFrom > 1_024 && this.queuedFrom * 2 > this.queued.length) {
      this.queued = this.queued.slice(this.queuedFrom);
      this.queuedFrom = 0;
    }
  }

  /** Rejects every pending publish and stops listening. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    try {
      this.sub?.unsubscribe();
    } catch {
      // The connection is already closed: so is the subscription.
    }
    for (const p of this.pending.values()) {
      p.reject(new DisconnectedError(`publish to ${p.subject}: the bus closed before the reply`));
    }
    this.pending.clear();
    for (const q of this.queued.slice(this.queuedFrom)) {
      q.reject(new DisconnectedError("the bus closed before sending"));
    }
    this.queued = [];
    this.queuedFrom = 0;
  }

  /** Requests sent or waiting to be, without their reply yet. */
  get size(): number {
    return this.pending.size + this.queued.length - this.queuedFrom;
  }

  private start(): void {
    const inbox = createInbox();
    this.prefix = `${inbox}.`;
    this.sub = this.nc.subscribe(`${inbox}.*`, {
      callback: (error, msg) => {
        if (error === null) this.settle(msg);
      },
    });
    // A quarter of the timeout: a publish is rejected at most 25 % late.
    this.sweeper = setInterval(() => this.sweep(), Math.max(10, this.timeoutMs / 4));
    this.sweeper.unref?.();
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const p = this.pending.get(token);
    if (p === undefined) return; // Timed out already; the caller retried.
    this.pending.delete(token);
    this.sendQueued();
    if (msg.data.length === 0 && msg.headers?.code === NO_RESPONDERS) {
      p.reject(new NoReplyError(p.subject));
      return;
    }
    let reply: unknown;
    try {
      reply = JSON.parse(this.decoder.decode(msg.data));
    } catch (error) {
      p.reject(new Error(`publish to ${p.subject}: the reply is not JSON`, { cause: error }));
      return;
    }
    p.resolve(reply);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(token);
      p.reject(
        new TimeoutError(`publish to ${p.subject}: NATS did not acknowledge in time; retry`),
      );
    }
    this.sendQueued();
  }
}
