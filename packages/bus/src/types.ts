// The bus the roles meet through. Two implementations: NATS (JetStream + KV, production) and an
// in-memory one (embedded mode, single-package tests). One contract suite runs against both, so
// anything a role relies on is stated here and tested there.

/** A message on a core subject. */
export interface BusMessage {
  subject: string;
  data: Uint8Array;
}

export interface Subscription {
  unsubscribe(): void;
}

/** A request handler's reply; throw a BusError subclass to answer with an error. */
export type RequestHandler = (msg: BusMessage) => Promise<Uint8Array> | Uint8Array;

export interface StreamConfig {
  name: string;
  /** Subjects captured by the stream (NATS wildcards `*` and `>` allowed). */
  subjects: string[];
  /** Messages kept per subject; older ones are dropped first. 0 or absent: unlimited. */
  maxMsgsPerSubject?: number;
  /** Max age of a message in ms. 0 or absent: unlimited. */
  maxAgeMs?: number;
  /** Max bytes of the whole stream. 0 or absent: unlimited. */
  maxBytes?: number;
  /** Window in ms during which a repeated message id is ignored. Default 2 minutes. */
  duplicateWindowMs?: number;
  /** Free-form metadata kept with the stream. */
  metadata?: Record<string, string>;
  /** Number of replicas (NATS only; 1 in tests, 3 in production). */
  replicas?: number;
}

export interface StreamInfo {
  name: string;
  config: StreamConfig;
  /** Sequence of the first stored message (0 when empty). */
  firstSeq: number;
  /** Sequence of the last stored message (0 when none was ever stored). */
  lastSeq: number;
  messages: number;
  /** Creation time, epoch ms. */
  created: number;
}

export interface AppendOptions {
  /** Deduplication id: a second append with the same id within the window is not stored. */
  msgId?: string;
  /**
   * Compare-and-set on the subject: the append succeeds only if the last message stored on
   * this subject has this sequence (0: no message on the subject). Fails with
   * WrongLastSequenceError otherwise.
   */
  expectedLastSubjectSeq?: number;
  /** Extra headers (NATS only carries them; the memory bus keeps them too). */
  headers?: Record<string, string>;
}

export interface AppendResult {
  stream: string;
  seq: number;
  /** True when the msgId was seen within the window and nothing new was stored. */
  duplicate: boolean;
}

export interface StoredMessage {
  subject: string;
  seq: number;
  data: Uint8Array;
  /** Time the stream stored it, epoch ms. */
  time: number;
  headers: Record<string, string>;
}

export interface ConsumerConfig {
  stream: string;
  /** Durable name: the position survives consumer restarts and worker takeovers. */
  durable: string;
  filterSubjects: string[];
  /** How long a delivered message may stay unacknowledged before redelivery. Default 30 s. */
  ackWaitMs?: number;
  /** Max unacknowledged messages outstanding. Default 1000. */
  maxAckPending?: number;
}

/** A delivered stream message; exactly one of ack/nak/term settles it. */
export interface Delivery extends StoredMessage {
  /** 1 on first delivery. */
  deliveryCount: number;
  /** Acknowledges and waits for the server to confirm it recorded the ack. */
  ack(): Promise<void>;
  /**
   * Acknowledges without waiting for the confirmation: one publish instead of a request, for
   * the per-message hot path. An ack lost on the way (connection cut) means one redelivery after
   * the ack wait, so only for consumers that recognise messages they already handled.
   */
  ackNoWait(): void;
  /** Redeliver, after `delayMs` if given. */
  nak(delayMs?: number): void;
  /** Never redeliver. */
  term(): void;
  /** Extend the ack deadline (long work in progress). */
  working(): void;
}

export interface Consumer {
  readonly name: string;
  /**
   * Up to `max` messages, waiting at most `expiresMs` for the first one; an empty array when
   * none arrived in time.
   */
  fetch(max: number, expiresMs: number): Promise<Delivery[]>;
  /** Stop fetching; pending fetches resolve. The durable state stays on the server. */
  close(): Promise<void>;
}

export interface Streams {
  /** Create the stream, or update it to `config`. Idempotent. */
  ensure(config: StreamConfig): Promise<StreamInfo>;
  info(stream: string): Promise<StreamInfo | null>;
  delete(stream: string): Promise<void>;
  append(subject: string, data: Uint8Array, options?: AppendOptions): Promise<AppendResult>;
  /** The last message stored on `subject`, or null. */
  lastBySubject(stream: string, subject: string): Promise<StoredMessage | null>;
  /**
   * Stored messages whose subject matches `subject`, with sequence >= `fromSeq`, in order,
   * at most `max` of them (default: all). Used for replay.
   */
  read(stream: string, subject: string, fromSeq: number, max?: number): Promise<StoredMessage[]>;
  /** Create or bind a durable pull consumer. */
  consumer(config: ConsumerConfig): Promise<Consumer>;
  deleteConsumer(stream: string, durable: string): Promise<void>;
}

export interface KvEntry {
  key: string;
  value: Uint8Array;
  revision: number;
}

export interface KvWatchEvent {
  key: string;
  /** null when deleted or purged. */
  value: Uint8Array | null;
  revision: number;
}

export interface KvWatcher {
  stop(): void;
}

export interface KvConfig {
  bucket: string;
  /** Entries expire this long after their last write. 0 or absent: never. */
  ttlMs?: number;
  history?: number;
  replicas?: number;
}

export interface Kv {
  readonly bucket: string;
  get(key: string): Promise<KvEntry | null>;
  /** Unconditional write; returns the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Write only if the key does not exist (or was deleted); WrongRevisionError otherwise. */
  create(key: string, value: Uint8Array): Promise<number>;
  /** Write only if the key's last revision is `revision`; WrongRevisionError otherwise. */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Delete; with `revision`, only if it is still the last one (WrongRevisionError otherwise). */
  delete(key: string, revision?: number): Promise<void>;
  keys(): Promise<string[]>;
  /**
   * Calls `onEvent` for the current value of every key (initial state), then `onReady` once,
   * then for every later change, in revision order.
   */
  watch(onEvent: (event: KvWatchEvent) => void, onReady?: () => void): Promise<KvWatcher>;
}

export interface Bus {
  /** Core publish: fire and forget, delivered to current subscribers only. */
  publish(subject: string, data: Uint8Array): void;
  /** Core subscription (wildcards allowed). With `queue`, one member of the group gets each. */
  subscribe(subject: string, handler: (msg: BusMessage) => void, queue?: string): Subscription;
  /** Request/reply. Rejects with NoRespondersError, TimeoutError, or the RemoteError answered. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /** Serve requests on `subject` in queue group `queue`. */
  serve(subject: string, queue: string, handler: RequestHandler): Subscription;
  readonly streams: Streams;
  /** Open or create a KV bucket. */
  kv(config: KvConfig): Promise<Kv>;
  /** Resolves once every published message has left this process (NATS flush). */
  flush(): Promise<void>;
  /** True while connected (always true for memory). */
  isConnected(): boolean;
  /**
   * Calls `listener` after each reconnect of the underlying connection. Core messages published
   * while the connection was down were not delivered to this process: a subscriber that must not
   * miss any (the gateway's feed subscriptions) re-reads what it tracks from the streams then.
   * Core subscriptions are re-established by then (a `flush()` makes sure the server has them).
   * Optional: the memory bus never disconnects and never calls it.
   */
  onReconnect?(listener: () => void): Subscription;
  /** Drain subscriptions and close. */
  close(): Promise<void>;
}
