// The production Bus: one NATS connection per process, JetStream for streams and durable
// consumers, KV buckets for state.
//
// Design notes (what the roles rely on and why it holds):
// - Reconnect forever (maxReconnectAttempts -1): a NATS restart is an outage to wait out, never
//   a reason for a worker to die. While disconnected, core publishes are buffered by the client,
//   and every JetStream operation either completes after the reconnect or rejects with a
//   retriable error (TimeoutError, DisconnectedError, BusError{retriable}). Nothing is dropped
//   silently: an append that timed out may still have been stored, so appends carry a msgId and
//   the retry is deduplicated by the server.
// - Appends are JetStream publishes whose PubAcks come back through one wildcard reply
//   subscription (publish-mux.ts), not one nats.js request each (a timer and an Error apiece).
// - Compare-and-set appends use Nats-Expected-Last-Subject-Sequence, written for any number
//   including 0, which the server reads as "no message on this subject".
//   Error 10071 (wrong last sequence) becomes WrongLastSequenceError. The server runs that check
//   before the msgId one, so the retry of a CAS append whose ack was lost would look like a
//   conflict: when the subject's last message carries the same msgId, it is reported as the
//   duplicate it is.
// - Durable consumers are pulled with `no_wait` + `expires`: the server holds the pull until the
//   first message, then sends what it has and ends the request (404). That is what `fetch(max,
//   expiresMs)` promises, which the client's own fetch (wait for the whole batch) does not.
//   Messages the server sent after a fetch gave up are not lost: unacknowledged, they are
//   redelivered after ack wait.
// - `read` (replay) uses a throw-away consumer (ack none, memory storage) whose creation reply
//   gives the number of matching messages; reading stops there, so it never waits for new ones.
//   Consumer sequences must be contiguous; a gap (messages lost in transit) fails the read with
//   a retriable error instead of returning a history with holes.
// - KV watch uses an ordered push consumer (last value per key) whose creation reply gives the
//   size of the initial state; `onReady` fires once that many entries arrived (or the server
//   reports nothing pending). The ordered consumer re-creates itself from the last sequence seen
//   after a gap or a reconnect, so updates continue in revision order.
import {
  connect,
  createInbox,
  errors as natsErrors,
  headers as natsHeaders,
  Empty,
  RequestError,
  nuid,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription as NatsSubscription,
} from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  JetStreamError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig as NatsStreamConfig,
  type StreamInfo as NatsStreamInfo,
  type ConsumerConfig as NatsConsumerConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import {
  BusError,
  ConsumerNotFoundError,
  DisconnectedError,
  NoRespondersError,
  RemoteError,
  StreamNotFoundError,
  TimeoutError,
  WrongLastSequenceError,
  WrongRevisionError,
} from "./errors.js";
import { silentLogger, type BusLogger } from "./log.js";
import {
  NoReplyError,
  Outbox,
  PublishMux,
  type ApiErrorReply,
  type MsgGetReply,
  type PubAckReply,
} from "./publish-mux.js";
import {
  ACK,
  ERROR_CODE_HEADER,
  ERROR_MESSAGE_HEADER,
  INTERNAL_ERROR_CODE,
  TERM,
  WORKING,
  headerValue,
  millis,
  nakPayload,
  nanos,
  fromBase64,
  parseAckSubject,
  parseHeaderBlock,
  pullRequest,
  userHeaders,
} from "./nats-wire.js";
import type {
  AppendOptions,
  AppendResult,
  Bus,
  BusMessage,
  Consumer,
  ConsumerConfig,
  Delivery,
  Kv,
  KvConfig,
  KvEntry,
  KvWatchEvent,
  KvWatcher,
  RequestHandler,
  StoredMessage,
  StreamConfig,
  StreamInfo,
  Streams,
  Subscription,
} from "./types.js";

export interface NatsBusOptions {
  servers: string | string[];
  /** Connection name shown by the server (monitoring). */
  name?: string;
  user?: string;
  pass?: string;
  token?: string;
  logger?: BusLogger;
  /** Timeout of JetStream API calls, appends and acks, ms. Default 5000. */
  timeoutMs?: number;
  /** Wait between reconnect attempts, ms. Default 250. */
  reconnectTimeWaitMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1000;
/** Pulls are bounded by the server's `expires`; this margin covers a pull lost in a disconnect. */
const PULL_GRACE_MS = 2_000;
/** Largest batch asked of the server in one replay pull. */
const READ_BATCH = 256;
const KV_OPERATION_HEADER = "KV-Operation";
const MSG_ID_HEADER = "Nats-Msg-Id";
const JS_API_PREFIX = "$JS.API";
const utf8 = new TextEncoder();
const EXPECTED_LAST_SUBJECT_SEQ_HEADER = "Nats-Expected-Last-Subject-Sequence";

/** Connects to NATS (reconnecting forever) and returns the Bus over that one connection. */
export async function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  const log = options.logger ?? silentLogger;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: options.name,
      user: options.user,
      pass: options.pass,
      token: options.token,
      maxReconnectAttempts: -1,
      // Otherwise every request allocates Errors with stack traces up front, in case it fails
      // (a fifth of a changeset worker's CPU); our errors name the operation instead.
      noAsyncTraces: true,
      reconnectTimeWait: options.reconnectTimeWaitMs ?? 250,
    });
  } catch (err) {
    throw new DisconnectedError(
      `cannot connect to NATS at ${String(options.servers)}: ${errorMessage(err)}; check the address and that the server runs`,
      err,
    );
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    const jsm = await jetstreamManager(nc, { timeout: timeoutMs });
    const js = jetstream(nc, { timeout: timeoutMs });
    return new NatsBus(nc, js, jsm, log, timeoutMs);
  } catch (err) {
    await nc.close().catch(() => {});
    throw mapError(err, "enable JetStream");
  }
}

class NatsBus implements Bus {
  readonly streams: NatsStreams;
  private connected = true;
  private closing: Promise<void> | null = null;
  private readonly kvm: Kvm;
  private readonly served = new Set<NatsSubscription>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly reconnectListeners = new Set<() => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    jsm: JetStreamManager,
    private readonly log: BusLogger,
    private readonly timeoutMs: number,
  ) {
    this.streams = new NatsStreams(nc, jsm, log, timeoutMs);
    this.kvm = new Kvm(js);
    void this.followStatus();
  }

  private async followStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case "disconnect":
          this.connected = false;
          this.log.warn({ server: s.server }, "bus: disconnected from NATS, reconnecting");
          break;
        case "reconnect":
          this.connected = true;
          this.log.info({ server: s.server }, "bus: reconnected to NATS");
          for (const listener of [...this.reconnectListeners]) {
            try {
              listener();
            } catch (err) {
              this.log.error({ err }, "bus: reconnect listener threw");
            }
          }
          break;
        case "close":
          this.connected = false;
          this.streams.mux.close();
          break;
        case "error":
          this.log.error({ err: s.error }, "bus: NATS reported an error");
          break;
        case "slowConsumer":
          this.log.warn({ subject: s.sub.getSubject(), pending: s.pending }, "bus: slow consumer");
          break;
        default:
          break;
      }
    }
  }

  onReconnect(listener: () => void): Subscription {
    // A wrapper per registration, so registering one function twice gives two independent handles.
    const entry = (): void => listener();
    this.reconnectListeners.add(entry);
    return {
      unsubscribe: () => {
        this.reconnectListeners.delete(entry);
      },
    };
  }

  publish(subject: string, data: Uint8Array): void {
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      throw mapError(err, `publish to ${subject}`);
    }
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, queue?: string): Subscription {
    let sub: NatsSubscription;
    try {
      sub = this.nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.log.error({ err, subject }, "bus: subscription failed");
            return;
          }
          try {
            handler({ subject: msg.subject, data: msg.data });
          } catch (handlerErr) {
            this.log.error({ err: handlerErr, subject: msg.subject }, "bus: subscriber threw");
          }
        },
      });
    } catch (err) {
      throw mapError(err, `subscribe to ${subject}`);
    }
    return new CoreSubscription(sub);
  }

  async request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    let reply: Msg;
    try {
      reply = await this.nc.request(subject, data, { timeout: timeoutMs });
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders()) {
        throw new NoRespondersError(subject, err);
      }
      if (err instanceof natsErrors.TimeoutError) {
        throw new TimeoutError(`no reply on ${subject} within ${timeoutMs} ms`, err);
      }
      throw mapError(err, `request on ${subject}`);
    }
    const code = reply.headers?.get(ERROR_CODE_HEADER);
    if (code) throw new RemoteError(code, reply.headers?.get(ERROR_MESSAGE_HEADER) ?? "");
    return reply.data;
  }

  serve(subject: string, queue: string, handler: RequestHandler): Subscription {
    let sub: NatsSubscription;
    try {
      sub = this.nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.log.error({ err, subject }, "bus: service subscription failed");
            return;
          }
          const p = this.answer(msg, handler);
          this.inFlight.add(p);
          void p.finally(() => this.inFlight.delete(p));
        },
      });
    } catch (err) {
      throw mapError(err, `serve ${subject}`);
    }
    this.served.add(sub);
    return {
      unsubscribe: () => {
        this.served.delete(sub);
        safeUnsubscribe(sub);
      },
    };
  }

  private async answer(msg: Msg, handler: RequestHandler): Promise<void> {
    let data: Uint8Array;
    let h: MsgHdrs | undefined;
    try {
      data = await handler({ subject: msg.subject, data: msg.data });
    } catch (err) {
      const code = err instanceof RemoteError ? err.code : INTERNAL_ERROR_CODE;
      if (!(err instanceof RemoteError)) {
        this.log.error({ err, subject: msg.subject }, "bus: request handler failed");
      }
      h = natsHeaders();
      h.set(ERROR_CODE_HEADER, headerValue(code));
      h.set(ERROR_MESSAGE_HEADER, headerValue(errorMessage(err)));
      data = Empty;
    }
    try {
      msg.respond(data, h === undefined ? undefined : { headers: h });
    } catch (err) {
      // The requester times out and retries; nothing else can be done with a closed connection.
      this.log.warn({ err, subject: msg.subject }, "bus: could not send a reply");
    }
  }

  async kv(config: KvConfig): Promise<Kv> {
    try {
      const kv = await this.kvm.create(config.bucket, {
        history: config.history ?? 1,
        ttl: config.ttlMs ?? 0,
        replicas: config.replicas ?? 1,
        timeout: this.timeoutMs,
      });
      return new NatsKv(config.bucket, kv, this.js, this.log);
    } catch (err) {
      throw mapError(err, `open KV bucket ${config.bucket}`);
    }
  }

  async flush(): Promise<void> {
    try {
      await this.nc.flush();
    } catch (err) {
      throw mapError(err, "flush");
    }
  }

  isConnected(): boolean {
    return this.connected && !this.nc.isClosed();
  }

  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    if (this.nc.isClosed()) return;
    // Stop taking requests, let the handlers already running answer, then drain the rest.
    await Promise.allSettled([...this.served].map((s) => s.drain()));
    await Promise.allSettled([...this.inFlight]);
    this.streams.closeAll();
    this.streams.outbox.flush();
    await this.streams.appendsSettled();
    try {
      await this.nc.drain();
    } catch {
      await this.nc.close().catch(() => {});
    }
    this.streams.mux.close();
  }
}

class NatsStreams implements Streams {
  private readonly consumers = new Set<NatsConsumer>();
  /** Appends and their acknowledgements (publish-mux.ts). */
  readonly mux: PublishMux;
  /** Appends and message acknowledgements, written together once per loop turn. */
  readonly outbox: Outbox;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly log: BusLogger,
    private readonly timeoutMs: number,
  ) {
    this.outbox = new Outbox(nc);
    this.mux = new PublishMux(nc, this.outbox, timeoutMs);
  }

  /** Waits (at most the bus timeout) until every append sent has its acknowledgement. */
  async appendsSettled(): Promise<void> {
    const until = Date.now() + this.timeoutMs;
    while (this.mux.size > 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  async ensure(config: StreamConfig): Promise<StreamInfo> {
    const sc = toNatsStreamConfig(config);
    try {
      let si: NatsStreamInfo;
      try {
        si = await this.jsm.streams.add(sc);
      } catch (err) {
        // Already there (maybe created a moment ago by another worker): bring it to `config`.
        if (!(err instanceof JetStreamApiError) || err.code !== STREAM_NAME_IN_USE) throw err;
        si = await this.jsm.streams.update(config.name, sc);
      }
      return toStreamInfo(si);
    } catch (err) {
      throw mapError(err, `ensure stream ${config.name}`);
    }
  }

  async info(stream: string): Promise<StreamInfo | null> {
    try {
      return toStreamInfo(await this.jsm.streams.info(stream));
    } catch (err) {
      if (isStreamNotFound(err)) return null;
      throw mapError(err, `info of stream ${stream}`);
    }
  }

  async delete(stream: string): Promise<void> {
    try {
      await this.jsm.streams.delete(stream);
    } catch (err) {
      if (isStreamNotFound(err)) return;
      throw mapError(err, `delete stream ${stream}`);
    }
  }

  async append(subject: string, data: Uint8Array, options?: AppendOptions): Promise<AppendResult> {
    // The headers JetStream reads, as nats.js's publish would set them (append: the map is
    // new, and set() would first search it for each key).
    let h: MsgHdrs | undefined;
    if (
      options?.headers ||
      options?.msgId !== undefined ||
      options?.expectedLastSubjectSeq !== undefined
    ) {
      h = natsHeaders();
      if (options.headers) {
        for (const [k, v] of Object.entries(options.headers)) h.append(k, headerValue(v));
      }
      if (options.msgId !== undefined) h.append(MSG_ID_HEADER, options.msgId);
      if (options.expectedLastSubjectSeq !== undefined) {
        h.append(EXPECTED_LAST_SUBJECT_SEQ_HEADER, String(options.expectedLastSubjectSeq));
      }
    }
    let reply: PubAckReply;
    try {
      reply = (await this.mux.request(subject, data, h)) as PubAckReply;
    } catch (err) {
      if (err instanceof NoReplyError) {
        throw new BusError(
          `append to ${subject}: nothing answered (no stream stores that subject, or JetStream is restarting); check the stream, then retry`,
          { cause: err, retriable: true },
        );
      }
      throw mapError(err, `append to ${subject}`);
    }
    if (reply.error !== undefined) {
      const err = apiError(reply.error);
      if (isWrongLastSequence(err)) {
        const stored =
          options?.msgId === undefined ? null : await this.storedAsLast(subject, options.msgId);
        if (stored !== null) return stored;
        throw new WrongLastSequenceError(subject, undefined, err);
      }
      throw mapError(err, `append to ${subject}`);
    }
    if (typeof reply.stream !== "string" || reply.stream === "" || typeof reply.seq !== "number") {
      throw new BusError(`append to ${subject}: the server's acknowledgement is not a PubAck`, {
        retriable: true,
      });
    }
    return { stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true };
  }

  /**
   * The server checks the expected sequence before the msgId, so the retry of a CAS append that
   * was stored (its ack lost) fails the check: if the subject's last message carries the same
   * msgId, the retry is reported as the duplicate it is.
   */
  private async storedAsLast(subject: string, msgId: string): Promise<AppendResult | null> {
    try {
      const stream = await this.jsm.streams.find(subject);
      const last = await this.jsm.streams.getMessage(stream, { last_by_subj: subject });
      if (last === null || last.header.get(MSG_ID_HEADER) !== msgId) return null;
      return { stream, seq: last.seq, duplicate: true };
    } catch {
      return null; // cannot tell: report the conflict
    }
  }

  async lastBySubject(stream: string, subject: string): Promise<StoredMessage | null> {
    // The leader answers (not a direct get from any replica), so a message just appended is
    // seen: CAS loops read, then append with the sequence read. Through the mux: every actor
    // activation reads its feed head so, and for a user without history the client's request
    // built two Errors (the request's and the 404's).
    if (!/^[^.*>\s]+$/.test(stream)) {
      throw new BusError(`read the last message of ${subject}: "${stream}" is not a stream name`);
    }
    let reply: MsgGetReply;
    try {
      reply = (await this.mux.request(
        `${JS_API_PREFIX}.STREAM.MSG.GET.${stream}`,
        utf8.encode(JSON.stringify({ last_by_subj: subject })),
      )) as MsgGetReply;
    } catch (err) {
      if (err instanceof NoReplyError) {
        throw new BusError(
          `read the last message of ${subject} in ${stream}: JetStream did not answer (restarting?); retry`,
          { cause: err, retriable: true },
        );
      }
      throw mapError(err, `read the last message of ${subject} in ${stream}`);
    }
    if (reply.error !== undefined) {
      // No message on the subject: the common answer (a user without history), no Error built.
      if (reply.error.err_code === JetStreamApiCodes.NoMessageFound) return null;
      const err = apiError(reply.error);
      if (isStreamNotFound(err)) throw new StreamNotFoundError(stream, err);
      throw mapError(err, `read the last message of ${subject} in ${stream}`);
    }
    const m = reply.message;
    if (m === undefined) {
      throw new BusError(
        `read the last message of ${subject} in ${stream}: no message in the reply`,
        {
          retriable: true,
        },
      );
    }
    return {
      subject: m.subject,
      seq: m.seq,
      data: m.data === undefined ? new Uint8Array(0) : fromBase64(m.data),
      time: Date.parse(m.time),
      headers: m.hdrs === undefined ? {} : parseHeaderBlock(fromBase64(m.hdrs)),
    };
  }

  async read(
    stream: string,
    subject: string,
    fromSeq: number,
    max = Number.POSITIVE_INFINITY,
  ): Promise<StoredMessage[]> {
    if (max <= 0) return [];
    const name = `read_${nuid.next()}`;
    let pending: number;
    try {
      const ci = await this.jsm.consumers.add(stream, {
        name,
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: Math.max(1, fromSeq),
        filter_subject: subject,
        inactive_threshold: nanos(60_000),
        mem_storage: true,
        num_replicas: 1,
      });
      pending = ci.num_pending;
    } catch (err) {
      if (isStreamNotFound(err)) throw new StreamNotFoundError(stream, err);
      throw mapError(err, `read ${subject} from ${stream}`);
    }
    try {
      const want = Math.min(max, pending);
      const out: StoredMessage[] = [];
      while (out.length < want) {
        const batch = Math.min(want - out.length, READ_BATCH);
        const msgs = await pull(this.nc, stream, name, batch, this.timeoutMs);
        if (msgs.length === 0) break; // the rest aged out or was dropped by the limits meanwhile
        let last = -1;
        for (const m of msgs) {
          const info = parseAckSubject(m.reply ?? "");
          if (info === null) continue;
          if (info.consumerSeq !== out.length + 1) {
            throw new BusError(
              `replay of ${subject} lost messages in transit (expected delivery ${out.length + 1}, got ${info.consumerSeq}); read again`,
              { retriable: true },
            );
          }
          out.push({
            subject: m.subject,
            seq: info.streamSeq,
            data: m.data,
            time: info.timeMs,
            headers: userHeaders(m.headers),
          });
          last = info.pending;
          if (out.length >= want) break;
        }
        if (last === 0) break;
      }
      return out;
    } finally {
      this.jsm.consumers.delete(stream, name).catch(() => {
        // inactive_threshold removes it anyway
      });
    }
  }

  async consumer(config: ConsumerConfig): Promise<Consumer> {
    const cc: Partial<NatsConsumerConfig> = {
      durable_name: config.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: nanos(config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS),
      max_ack_pending: config.maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
      filter_subjects: config.filterSubjects,
      max_deliver: -1,
    };
    try {
      try {
        await this.jsm.consumers.info(config.stream, config.durable);
        await this.jsm.consumers.update(config.stream, config.durable, {
          ack_wait: cc.ack_wait,
          max_ack_pending: cc.max_ack_pending,
          filter_subjects: cc.filter_subjects,
        });
      } catch (err) {
        if (
          !(err instanceof JetStreamApiError) ||
          err.code !== JetStreamApiCodes.ConsumerNotFound
        ) {
          throw err;
        }
        try {
          await this.jsm.consumers.add(config.stream, cc);
        } catch (addErr) {
          // Another worker created it between our info and add: update to our config.
          if (!(addErr instanceof JetStreamApiError) || addErr.code !== CONSUMER_EXISTS)
            throw addErr;
          await this.jsm.consumers.update(config.stream, config.durable, {
            ack_wait: cc.ack_wait,
            max_ack_pending: cc.max_ack_pending,
            filter_subjects: cc.filter_subjects,
          });
        }
      }
    } catch (err) {
      if (isStreamNotFound(err)) throw new StreamNotFoundError(config.stream, err);
      throw mapError(err, `bind consumer ${config.durable} on ${config.stream}`);
    }
    const c = new NatsConsumer(
      this.nc,
      this.outbox,
      this.jsm,
      config.stream,
      config.durable,
      this.timeoutMs,
      () => this.consumers.delete(c),
    );
    this.consumers.add(c);
    return c;
  }

  async deleteConsumer(stream: string, durable: string): Promise<void> {
    try {
      await this.jsm.consumers.delete(stream, durable);
    } catch (err) {
      if (isStreamNotFound(err)) return;
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) {
        return;
      }
      throw mapError(err, `delete consumer ${durable} on ${stream}`);
    }
  }

  closeAll(): void {
    for (const c of this.consumers) void c.close();
  }
}

class NatsConsumer implements Consumer {
  private closed = false;
  private readonly pulls = new Set<() => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly outbox: Outbox,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    readonly name: string,
    private readonly timeoutMs: number,
    private readonly onClose: () => void,
  ) {}

  async fetch(max: number, expiresMs: number): Promise<Delivery[]> {
    if (this.closed || max <= 0) return [];
    let msgs: Msg[];
    try {
      msgs = await pull(this.nc, this.stream, this.name, max, expiresMs, this.pulls);
    } catch (err) {
      if (err instanceof PullNoResponders && (await this.isMissing())) {
        throw new ConsumerNotFoundError(this.stream, this.name, err);
      }
      throw err;
    }
    const out: Delivery[] = [];
    for (const m of msgs) {
      const info = parseAckSubject(m.reply ?? "");
      if (info === null) continue;
      out.push(
        new NatsDelivery(
          this.nc,
          this.outbox,
          m,
          info.streamSeq,
          info.timeMs,
          info.deliveryCount,
          this.timeoutMs,
        ),
      );
    }
    return out;
  }

  private async isMissing(): Promise<boolean> {
    try {
      await this.jsm.consumers.info(this.stream, this.name);
      return false;
    } catch (err) {
      return (
        err instanceof JetStreamApiError &&
        (err.code === JetStreamApiCodes.ConsumerNotFound ||
          err.code === JetStreamApiCodes.StreamNotFound)
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of this.pulls) stop();
    this.onClose();
  }
}

class NatsDelivery implements Delivery {
  readonly subject: string;
  readonly data: Uint8Array;
  private userHeaders: Record<string, string> | null = null;
  private settled = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly outbox: Outbox,
    private readonly msg: Msg,
    readonly seq: number,
    readonly time: number,
    readonly deliveryCount: number,
    private readonly timeoutMs: number,
  ) {
    this.subject = msg.subject;
    this.data = msg.data;
  }

  /** Read when asked: the changeset's hot path never looks at them. */
  get headers(): Record<string, string> {
    this.userHeaders ??= userHeaders(this.msg.headers);
    return this.userHeaders;
  }

  async ack(): Promise<void> {
    // A double ack: the server answers once it recorded the ack, so "acked" means stored.
    // Retrying after a timeout is safe (acks are idempotent), hence not marked settled before.
    try {
      await this.nc.request(this.msg.reply!, ACK, { timeout: this.timeoutMs });
      this.settled = true;
    } catch (err) {
      if (err instanceof RequestError && err.isNoResponders()) {
        // Nobody takes acks on that subject: the consumer is gone (deleted meanwhile).
        const info = parseAckSubject(this.msg.reply!);
        throw new ConsumerNotFoundError(info?.stream ?? "", info?.consumer ?? "", err);
      }
      if (err instanceof natsErrors.TimeoutError) {
        throw new TimeoutError(
          `no confirmation of the ack of ${this.subject} #${this.seq} within ${this.timeoutMs} ms; ack again`,
          err,
        );
      }
      throw mapError(err, `ack ${this.subject} #${this.seq}`);
    }
  }

  ackNoWait(): void {
    this.settle(ACK);
  }

  nak(delayMs?: number): void {
    this.settle(nakPayload(delayMs));
  }

  term(): void {
    this.settle(TERM);
  }

  working(): void {
    if (this.settled) return;
    this.send(WORKING);
  }

  private settle(payload: Uint8Array): void {
    if (this.settled) return;
    this.settled = true;
    this.send(payload);
  }

  private send(payload: Uint8Array): void {
    // Through the outbox: a turn's acknowledgements leave in one write, in the order given
    // (naks in sequence order stay so). If the connection closed meanwhile, the server
    // redelivers after ack wait, which is what nak asks anyway.
    this.outbox.publish(this.msg.reply!, payload);
  }
}

/**
 * One pull request (`no_wait` + `expires`): resolves with the messages that arrived, at most
 * `batch`, as soon as the server ends the request; never rejects for an empty result.
 */
function pull(
  nc: NatsConnection,
  stream: string,
  consumer: string,
  batch: number,
  expiresMs: number,
  active?: Set<() => void>,
): Promise<Msg[]> {
  return new Promise<Msg[]>((resolve, reject) => {
    const out: Msg[] = [];
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let sub: NatsSubscription | undefined;
    const finish = (err?: BusError): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      if (sub !== undefined) safeUnsubscribe(sub);
      active?.delete(stop);
      if (err !== undefined && out.length === 0) reject(err);
      else resolve(out);
    };
    const stop = (): void => finish();
    try {
      const inbox = createInbox();
      sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (done) return;
          if (err) {
            finish(mapError(err, `fetch from ${consumer}`));
            return;
          }
          const code = msg.headers?.code ?? 0;
          if (code >= 100 && msg.data.length === 0 && !msg.reply) {
            finish(pullStatusError(code, msg.headers?.description ?? "", stream, consumer));
            return;
          }
          out.push(msg);
          if (out.length >= batch) finish();
        },
      });
      active?.add(stop);
      timer = setTimeout(stop, expiresMs + PULL_GRACE_MS);
      nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, pullRequest(batch, expiresMs), {
        reply: inbox,
      });
    } catch (err) {
      finish(mapError(err, `fetch from ${consumer}`));
    }
  });
}

/** What a status message ending a pull means; undefined when it just ends the batch. */
function pullStatusError(
  code: number,
  description: string,
  stream: string,
  consumer: string,
): BusError | undefined {
  const d = description.toLowerCase();
  switch (code) {
    case 404: // no (more) messages
    case 408: // expired
      return undefined;
    case 409:
      if (d.includes("consumer deleted") || d.includes("consumer not found")) {
        return new ConsumerNotFoundError(stream, consumer);
      }
      // leadership change, max waiting exceeded…: end this batch; the next fetch pulls again
      return undefined;
    case 503:
      // Also what a pull on a consumer that does not exist gets: the caller tells them apart.
      return new PullNoResponders(
        `JetStream did not answer the fetch from ${consumer} on ${stream}; it may be restarting, retry`,
      );
    default:
      return new BusError(`fetch from ${consumer} on ${stream} failed: ${code} ${description}`, {
        retriable: code >= 500,
      });
  }
}

class PullNoResponders extends BusError {
  override name = "PullNoResponders";
  constructor(message: string) {
    super(message, { retriable: true });
  }
}

class NatsKv implements Kv {
  private readonly prefix: string;

  constructor(
    readonly bucket: string,
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly log: BusLogger,
  ) {
    this.prefix = `$KV.${bucket}.`;
  }

  async get(key: string): Promise<KvEntry | null> {
    try {
      const e = await this.kv.get(key);
      if (e === null || e.operation !== "PUT") return null;
      return { key, value: e.value, revision: e.revision };
    } catch (err) {
      throw mapError(err, `get ${key} from ${this.bucket}`);
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.kv.put(key, value);
    } catch (err) {
      throw mapError(err, `put ${key} in ${this.bucket}`);
    }
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    try {
      return await this.kv.create(key, value);
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new WrongRevisionError(key, `key ${key} already exists in ${this.bucket}`, err);
      }
      throw mapError(err, `create ${key} in ${this.bucket}`);
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    // Revision 0 means "the key has no value": that is a create (the client rejects 0).
    if (revision <= 0) return this.create(key, value);
    try {
      return await this.kv.update(key, value, revision);
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new WrongRevisionError(
          key,
          `key ${key} in ${this.bucket} is no longer at revision ${revision}; read it again`,
          err,
        );
      }
      throw mapError(err, `update ${key} in ${this.bucket}`);
    }
  }

  async delete(key: string, revision?: number): Promise<void> {
    try {
      await this.kv.delete(key, revision === undefined ? undefined : { previousSeq: revision });
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new WrongRevisionError(
          key,
          `key ${key} in ${this.bucket} is no longer at revision ${revision}; read it again`,
          err,
        );
      }
      throw mapError(err, `delete ${key} from ${this.bucket}`);
    }
  }

  async keys(): Promise<string[]> {
    try {
      const out: string[] = [];
      for await (const k of await this.kv.keys()) out.push(k);
      return out;
    } catch (err) {
      throw mapError(err, `list the keys of ${this.bucket}`);
    }
  }

  async watch(onEvent: (event: KvWatchEvent) => void, onReady?: () => void): Promise<KvWatcher> {
    const prefix = this.prefix;
    const log = this.log;
    try {
      const oc = await this.js.consumers.getPushConsumer(`KV_${this.bucket}`, {
        filter_subjects: [`${prefix}>`],
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      const initial = (await oc.info(true)).num_pending;
      let ready = false;
      let seen = 0;
      const markReady = (): void => {
        if (ready) return;
        ready = true;
        try {
          onReady?.();
        } catch (err) {
          log.error({ err }, "bus: KV watch onReady threw");
        }
      };
      if (initial === 0) queueMicrotask(markReady);
      const iter = await oc.consume({
        callback: (m) => {
          const op = m.headers?.get(KV_OPERATION_HEADER);
          const deleted = op === "DEL" || op === "PURGE";
          if (!ready) seen++;
          // The initial state is the current values: a key whose last entry is a tombstone has
          // none, so it is left out there (it is reported as null once live).
          if (ready || !deleted) {
            try {
              onEvent({
                key: m.subject.substring(prefix.length),
                value: deleted ? null : m.data,
                revision: m.seq,
              });
            } catch (err) {
              log.error({ err }, "bus: KV watch handler threw");
            }
          }
          if (!ready && (seen >= initial || m.info.pending === 0)) markReady();
        },
      });
      return {
        stop: () => {
          iter.stop();
        },
      };
    } catch (err) {
      throw mapError(err, `watch ${this.bucket}`);
    }
  }
}

// JetStream API error codes not named by the client.
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_EXISTS = 10148;

function isStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
}

function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** Turns a client error into a BusError whose `retriable` flag the caller's retry logic reads. */
function mapError(err: unknown, what: string): BusError {
  if (err instanceof BusError) return err;
  if (err instanceof natsErrors.TimeoutError) {
    return new TimeoutError(`${what}: NATS did not answer in time; retry`, err);
  }
  if (
    err instanceof natsErrors.ClosedConnectionError ||
    err instanceof natsErrors.DrainingConnectionError
  ) {
    return new DisconnectedError(`${what}: the bus connection is closed`, err);
  }
  if (err instanceof RequestError) {
    if (err.isNoResponders()) {
      return new BusError(
        `${what}: nothing answered (no stream stores that subject, or JetStream is restarting); check the stream, then retry`,
        { cause: err, retriable: true },
      );
    }
    return new DisconnectedError(`${what}: ${err.message}`, err);
  }
  if (err instanceof JetStreamApiError) {
    if (err.code === JetStreamApiCodes.StreamNotFound) {
      return new BusError(`${what}: stream not found; ensure it first`, { cause: err });
    }
    return new BusError(`${what}: ${err.message} (JetStream error ${err.code})`, {
      cause: err,
      retriable: err.status >= 500,
    });
  }
  if (
    err instanceof JetStreamError ||
    (err instanceof Error && err.name === "JetStreamNotEnabled")
  ) {
    return new BusError(`${what}: ${err.message}; JetStream may be restarting, retry`, {
      cause: err,
      retriable: true,
    });
  }
  return new BusError(`${what}: ${errorMessage(err)}`, { cause: err, retriable: false });
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A core subscription's handle: a class rather than a closure, since a gateway holds one per
 * connected user and idle memory is what limits it. */
class CoreSubscription implements Subscription {
  constructor(private readonly sub: NatsSubscription) {}

  unsubscribe(): void {
    safeUnsubscribe(this.sub);
  }
}

function safeUnsubscribe(sub: NatsSubscription): void {
  try {
    sub.unsubscribe();
  } catch {
    // already closed with the connection
  }
}

function toNatsStreamConfig(c: StreamConfig): Partial<NatsStreamConfig> & { name: string } {
  const maxAgeMs = c.maxAgeMs ?? 0;
  let dupMs = c.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  // The server refuses a duplicate window longer than the max age.
  if (maxAgeMs > 0 && dupMs > maxAgeMs) dupMs = maxAgeMs;
  const sc: Partial<NatsStreamConfig> & { name: string } = {
    name: c.name,
    subjects: c.subjects,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_msgs_per_subject: c.maxMsgsPerSubject && c.maxMsgsPerSubject > 0 ? c.maxMsgsPerSubject : -1,
    max_age: nanos(maxAgeMs),
    max_bytes: c.maxBytes && c.maxBytes > 0 ? c.maxBytes : -1,
    duplicate_window: nanos(dupMs),
    num_replicas: c.replicas ?? 1,
    allow_direct: true,
  };
  // Always sent, so ensure() sets the metadata to exactly what is given (as it does the limits).
  sc.metadata = c.metadata ?? {};
  return sc;
}

function toStreamInfo(si: NatsStreamInfo): StreamInfo {
  const c = si.config;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.metadata ?? {})) {
    if (!k.startsWith("_nats.")) metadata[k] = v; // the server's own bookkeeping
  }
  const config: StreamConfig = {
    name: c.name,
    subjects: c.subjects ?? [],
    maxMsgsPerSubject: c.max_msgs_per_subject > 0 ? c.max_msgs_per_subject : 0,
    maxAgeMs: millis(c.max_age),
    maxBytes: c.max_bytes > 0 ? c.max_bytes : 0,
    duplicateWindowMs: millis(c.duplicate_window),
    metadata,
    replicas: c.num_replicas,
  };
  const s = si.state;
  return {
    name: c.name,
    config,
    firstSeq: s.messages === 0 ? 0 : s.first_seq,
    lastSeq: s.last_seq,
    messages: s.messages,
    created: Date.parse(si.created),
  };
}

/** A JetStream API error reply as the client's own error, which mapError knows. */
function apiError(e: ApiErrorReply): JetStreamApiError {
  return new JetStreamApiError({
    code: e.code,
    err_code: e.err_code ?? 0,
    description: e.description ?? "",
  });
}
