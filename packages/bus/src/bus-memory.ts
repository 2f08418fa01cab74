// The in-process Bus: embedded mode (`drivecast all`) and single-package tests. It behaves like
// the NATS one on everything the contract suite checks, so code tested here runs the same on
// NATS.
//
// Design notes:
// - One "server" (MemoryServer) holds subjects, streams, durable consumers and buckets; each Bus
//   handle is a client of it (createMemoryBus() gives the first, `connect()` more), so closing
//   one role's bus leaves the others' state alone, as closing a NATS connection would.
// - Everything is delivered asynchronously (setImmediate, FIFO), never inside the caller's
//   publish/append/put: a handler that publishes cannot re-enter the code that called it, and
//   per-subscriber order is the publish order.
// - Time: message timestamps, max age, duplicate windows and KV TTLs read the injected clock
//   (`now`), applied lazily on every write and read. Waiting (fetch expiry, ack wait, nak delay,
//   request timeout) uses real timers, because it is about when code runs, not what it sees.
// - Durable consumers keep their state (position, unacknowledged deliveries) in the stream, so
//   a consumer closed and bound again by name resumes where it was; a delivery not acknowledged
//   within ackWaitMs becomes due again and is redelivered, before any new message.
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
import { isLiteralSubject, isSubjectPattern, subjectMatches } from "./subject.js";
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

export interface MemoryBusOptions {
  /** Clock for timestamps, max age, duplicate windows and TTLs (epoch ms). Default Date.now. */
  now?: () => number;
  logger?: BusLogger;
}

/** The in-memory Bus; `connect()` opens another client of the same in-process server. */
export interface MemoryBus extends Bus {
  connect(): Bus;
}

export function createMemoryBus(options: MemoryBusOptions = {}): MemoryBus {
  const server = new MemoryServer(options.now ?? Date.now, options.logger ?? silentLogger);
  return new MemoryClient(server);
}

const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1000;
/** Per-message overhead counted against maxBytes, as the NATS file store does. */
const MESSAGE_OVERHEAD_BYTES = 16;
const INTERNAL_ERROR_CODE = "internal";

type Replier = (data: Uint8Array | null, error?: RemoteError) => void;

interface SubEntry {
  pattern: string;
  queue: string | undefined;
  client: MemoryClient;
  active: boolean;
  onMessage(msg: BusMessage, reply: Replier | undefined): void;
}

class MemoryServer {
  readonly subs = new Set<SubEntry>();
  readonly streams = new Map<string, MemStream>();
  readonly buckets = new Map<string, MemBucket>();
  private readonly roundRobin = new Map<string, number>();

  constructor(
    readonly now: () => number,
    readonly log: BusLogger,
  ) {}

  /** Routes a core message; returns how many subscriptions will receive it. */
  route(subject: string, data: Uint8Array, reply: Replier | undefined): number {
    const groups = new Map<string, SubEntry[]>();
    let count = 0;
    for (const s of this.subs) {
      if (!s.active || !subjectMatches(s.pattern, subject)) continue;
      if (s.queue === undefined) {
        this.deliver(s, subject, data, reply);
        count++;
      } else {
        const key = `${s.pattern} ${s.queue}`;
        const members = groups.get(key);
        if (members === undefined) groups.set(key, [s]);
        else members.push(s);
      }
    }
    for (const [key, members] of groups) {
      const n = this.roundRobin.get(key) ?? 0;
      this.roundRobin.set(key, n + 1);
      this.deliver(members[n % members.length]!, subject, data, reply);
      count++;
    }
    return count;
  }

  private deliver(s: SubEntry, subject: string, data: Uint8Array, reply: Replier | undefined) {
    setImmediate(() => {
      if (!s.active) return;
      try {
        s.onMessage({ subject, data }, reply);
      } catch (err) {
        this.log.error({ err, subject }, "bus: subscriber threw");
      }
    });
  }

  streamFor(subject: string): MemStream | undefined {
    for (const st of this.streams.values()) {
      if (st.config.subjects.some((p) => subjectMatches(p, subject))) return st;
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Client (the Bus handle)

class MemoryClient implements MemoryBus {
  readonly streams: MemStreams;
  private closed = false;
  private readonly mySubs = new Set<SubEntry>();
  private readonly inFlight = new Set<Promise<void>>();
  readonly watchers = new Set<MemWatcher>();
  readonly consumers = new Set<MemConsumer>();

  constructor(readonly server: MemoryServer) {
    this.streams = new MemStreams(this);
  }

  connect(): Bus {
    return new MemoryClient(this.server);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  check(): void {
    if (this.closed) throw new DisconnectedError("the bus is closed");
  }

  publish(subject: string, data: Uint8Array): void {
    this.check();
    if (!isLiteralSubject(subject)) throw new BusError(`invalid subject "${subject}"`);
    this.server.route(subject, data.slice(), undefined);
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void, queue?: string): Subscription {
    return this.addSub(subject, queue, (msg) => handler(msg));
  }

  private addSub(
    subject: string,
    queue: string | undefined,
    onMessage: SubEntry["onMessage"],
  ): Subscription {
    this.check();
    if (!isSubjectPattern(subject)) throw new BusError(`invalid subject "${subject}"`);
    const entry: SubEntry = { pattern: subject, queue, client: this, active: true, onMessage };
    this.server.subs.add(entry);
    this.mySubs.add(entry);
    return {
      unsubscribe: () => {
        entry.active = false;
        this.server.subs.delete(entry);
        this.mySubs.delete(entry);
      },
    };
  }

  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      this.check();
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        reject(new TimeoutError(`no reply on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      const reply: Replier = (answer, error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (error !== undefined) reject(error);
        else resolve(answer ?? new Uint8Array(0));
      };
      const receivers = this.server.route(subject, data.slice(), reply);
      if (receivers === 0) {
        // NATS answers "no responders" at once; the rejection still comes asynchronously.
        done = true;
        clearTimeout(timer);
        setImmediate(() => reject(new NoRespondersError(subject)));
      }
    });
  }

  serve(subject: string, queue: string, handler: RequestHandler): Subscription {
    return this.addSub(subject, queue, (msg, reply) => {
      const p = answer(msg, handler, reply, this.server.log);
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    });
  }

  async kv(config: KvConfig): Promise<Kv> {
    this.check();
    if (!/^[-\w]+$/.test(config.bucket)) {
      throw new BusError(`invalid bucket name "${config.bucket}": letters, digits, - and _ only`);
    }
    let bucket = this.server.buckets.get(config.bucket);
    if (bucket === undefined) {
      bucket = new MemBucket(config, this.server);
      this.server.buckets.set(config.bucket, bucket);
    }
    return new MemKv(bucket, this);
  }

  flush(): Promise<void> {
    // Deliveries are queued with setImmediate: once this one runs, those before it have left.
    return new Promise((resolve) => setImmediate(resolve));
  }

  isConnected(): boolean {
    return !this.closed;
  }

  /** In process: never disconnected, so never reconnected either. */
  onReconnect(_listener: () => void): Subscription {
    return { unsubscribe: () => undefined };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.mySubs) {
      s.active = false;
      this.server.subs.delete(s);
    }
    this.mySubs.clear();
    await Promise.allSettled([...this.inFlight]);
    for (const c of this.consumers) await c.close();
    for (const w of this.watchers) w.stop();
  }
}

async function answer(
  msg: BusMessage,
  handler: RequestHandler,
  reply: Replier | undefined,
  log: BusLogger,
): Promise<void> {
  try {
    const data = await handler(msg);
    reply?.(data.slice());
  } catch (err) {
    if (!(err instanceof RemoteError))
      log.error({ err, subject: msg.subject }, "bus: request handler failed");
    // A new error, as if it crossed the wire: the requester never shares the handler's object.
    const code = err instanceof RemoteError ? err.code : INTERNAL_ERROR_CODE;
    reply?.(null, new RemoteError(code, err instanceof Error ? err.message : String(err)));
  }
}

// ---------------------------------------------------------------------------------------------
// Streams

interface MemMessage extends StoredMessage {
  size: number;
  msgId: string | undefined;
}

function normalizeStreamConfig(c: StreamConfig): StreamConfig {
  const maxAgeMs = c.maxAgeMs && c.maxAgeMs > 0 ? c.maxAgeMs : 0;
  let dup = c.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
  // Same rule as the NATS server: the duplicate window never outlives the messages.
  if (maxAgeMs > 0 && dup > maxAgeMs) dup = maxAgeMs;
  return {
    name: c.name,
    subjects: [...c.subjects],
    maxMsgsPerSubject: c.maxMsgsPerSubject && c.maxMsgsPerSubject > 0 ? c.maxMsgsPerSubject : 0,
    maxAgeMs,
    maxBytes: c.maxBytes && c.maxBytes > 0 ? c.maxBytes : 0,
    duplicateWindowMs: dup,
    metadata: { ...c.metadata },
    replicas: c.replicas ?? 1,
  };
}

class MemStream {
  config: StreamConfig;
  readonly created: number;
  /** seq → message, in sequence order (a Map keeps insertion order). */
  readonly msgs = new Map<number, MemMessage>();
  /** subject → sequences of its stored messages, ascending. */
  readonly bySubject = new Map<string, number[]>();
  lastSeq = 0;
  bytes = 0;
  readonly dedupe = new Map<string, { seq: number; time: number }>();
  readonly durables = new Map<string, MemDurable>();

  constructor(
    config: StreamConfig,
    readonly server: MemoryServer,
  ) {
    this.config = normalizeStreamConfig(config);
    this.created = server.now();
  }

  /** Applies max age and byte limits as of now (called on every write and read). */
  prune(): void {
    const maxAge = this.config.maxAgeMs ?? 0;
    if (maxAge > 0) {
      const cutoff = this.server.now() - maxAge;
      for (const m of this.msgs.values()) {
        if (m.time > cutoff) break;
        this.remove(m);
      }
    }
    const maxBytes = this.config.maxBytes ?? 0;
    if (maxBytes > 0) {
      for (const m of this.msgs.values()) {
        if (this.bytes <= maxBytes) break;
        this.remove(m);
      }
    }
  }

  /** Keeps at most maxMsgsPerSubject messages on `subject` (all subjects when undefined). */
  limitPerSubject(subject?: string): void {
    const limit = this.config.maxMsgsPerSubject ?? 0;
    if (limit <= 0) return;
    const lists =
      subject === undefined ? [...this.bySubject.values()] : [this.bySubject.get(subject)];
    for (const seqs of lists) {
      while (seqs !== undefined && seqs.length > limit) this.remove(this.msgs.get(seqs[0]!)!);
    }
  }

  remove(m: MemMessage): void {
    this.msgs.delete(m.seq);
    this.bytes -= m.size;
    const seqs = this.bySubject.get(m.subject);
    if (seqs !== undefined) {
      const i = seqs.indexOf(m.seq);
      if (i >= 0) seqs.splice(i, 1);
      if (seqs.length === 0) this.bySubject.delete(m.subject);
    }
  }

  append(subject: string, data: Uint8Array, options: AppendOptions | undefined): AppendResult {
    this.prune();
    const now = this.server.now();
    const window = this.config.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS;
    for (const [id, d] of this.dedupe) {
      if (d.time + window > now) break;
      this.dedupe.delete(id);
    }
    // Same order as the NATS bus: the sequence check first, except that a retry whose msgId is
    // the subject's last message is the duplicate of a stored append; then the msgId check.
    if (options?.expectedLastSubjectSeq !== undefined) {
      const seqs = this.bySubject.get(subject);
      const last = seqs === undefined ? 0 : seqs[seqs.length - 1]!;
      if (last !== options.expectedLastSubjectSeq) {
        const lastMsg = this.msgs.get(last);
        if (options.msgId !== undefined && lastMsg?.msgId === options.msgId) {
          return { stream: this.config.name, seq: last, duplicate: true };
        }
        throw new WrongLastSequenceError(
          subject,
          `the last message on ${subject} is #${last}, not #${options.expectedLastSubjectSeq}`,
        );
      }
    }
    if (options?.msgId !== undefined) {
      const d = this.dedupe.get(options.msgId);
      if (d !== undefined) return { stream: this.config.name, seq: d.seq, duplicate: true };
    }
    const headers = { ...options?.headers };
    let size = subject.length + data.length + MESSAGE_OVERHEAD_BYTES;
    for (const [k, v] of Object.entries(headers)) size += k.length + v.length + 4;
    const seq = ++this.lastSeq;
    const m: MemMessage = {
      subject,
      seq,
      data: data.slice(),
      time: now,
      headers,
      size,
      msgId: options?.msgId,
    };
    this.msgs.set(seq, m);
    this.bytes += size;
    const seqs = this.bySubject.get(subject);
    if (seqs === undefined) this.bySubject.set(subject, [seq]);
    else seqs.push(seq);
    if (options?.msgId !== undefined) this.dedupe.set(options.msgId, { seq, time: now });
    this.limitPerSubject(subject);
    this.prune();
    for (const d of this.durables.values()) {
      if (d.matches(subject)) d.schedule();
    }
    return { stream: this.config.name, seq, duplicate: false };
  }

  info(): StreamInfo {
    this.prune();
    const first = this.msgs.keys().next();
    return {
      name: this.config.name,
      config: {
        ...this.config,
        subjects: [...this.config.subjects],
        metadata: { ...this.config.metadata },
      },
      firstSeq: first.done ? 0 : first.value,
      lastSeq: this.lastSeq,
      messages: this.msgs.size,
      created: this.created,
    };
  }
}

function toStored(m: MemMessage): StoredMessage {
  return { subject: m.subject, seq: m.seq, data: m.data, time: m.time, headers: { ...m.headers } };
}

class MemStreams implements Streams {
  constructor(private readonly client: MemoryClient) {}

  private get server(): MemoryServer {
    return this.client.server;
  }

  private stream(name: string): MemStream {
    this.client.check();
    const st = this.server.streams.get(name);
    if (st === undefined) throw new StreamNotFoundError(name);
    return st;
  }

  async ensure(config: StreamConfig): Promise<StreamInfo> {
    this.client.check();
    if (!/^[^.*>\s/\\]+$/.test(config.name)) {
      throw new BusError(`invalid stream name "${config.name}"`);
    }
    for (const p of config.subjects) {
      if (!isSubjectPattern(p))
        throw new BusError(`invalid subject "${p}" in stream ${config.name}`);
    }
    for (const other of this.server.streams.values()) {
      if (other.config.name === config.name) continue;
      const clash = config.subjects.find((p) =>
        other.config.subjects.some((q) => patternsOverlap(p, q)),
      );
      if (clash !== undefined) {
        throw new BusError(
          `stream ${config.name}: subject ${clash} overlaps with stream ${other.config.name}`,
        );
      }
    }
    let st = this.server.streams.get(config.name);
    if (st === undefined) {
      st = new MemStream(config, this.server);
      this.server.streams.set(config.name, st);
    } else {
      st.config = normalizeStreamConfig(config);
      st.limitPerSubject();
    }
    return st.info();
  }

  async info(stream: string): Promise<StreamInfo | null> {
    this.client.check();
    return this.server.streams.get(stream)?.info() ?? null;
  }

  async delete(stream: string): Promise<void> {
    this.client.check();
    const st = this.server.streams.get(stream);
    if (st === undefined) return;
    this.server.streams.delete(stream);
    for (const d of st.durables.values()) d.destroy();
  }

  async append(subject: string, data: Uint8Array, options?: AppendOptions): Promise<AppendResult> {
    this.client.check();
    if (!isLiteralSubject(subject)) throw new BusError(`invalid subject "${subject}"`);
    const st = this.server.streamFor(subject);
    if (st === undefined) {
      throw new BusError(
        `append to ${subject}: nothing answered (no stream stores that subject, or JetStream is restarting); check the stream, then retry`,
        { retriable: true },
      );
    }
    // As on NATS, a JetStream publish is a core publish too: core subscribers of the subject
    // receive it, whatever the stream then decides (stored, duplicate, or refused by a CAS).
    this.server.route(subject, data.slice(), undefined);
    return st.append(subject, data, options);
  }

  async lastBySubject(stream: string, subject: string): Promise<StoredMessage | null> {
    const st = this.stream(stream);
    st.prune();
    let best: number | undefined;
    if (isLiteralSubject(subject)) {
      const seqs = st.bySubject.get(subject);
      best = seqs?.[seqs.length - 1];
    } else {
      for (const [s, seqs] of st.bySubject) {
        if (!subjectMatches(subject, s)) continue;
        const last = seqs[seqs.length - 1]!;
        if (best === undefined || last > best) best = last;
      }
    }
    return best === undefined ? null : toStored(st.msgs.get(best)!);
  }

  async read(
    stream: string,
    subject: string,
    fromSeq: number,
    max = Number.POSITIVE_INFINITY,
  ): Promise<StoredMessage[]> {
    const st = this.stream(stream);
    st.prune();
    const out: StoredMessage[] = [];
    if (max <= 0) return out;
    if (isLiteralSubject(subject)) {
      for (const seq of st.bySubject.get(subject) ?? []) {
        if (seq < fromSeq) continue;
        out.push(toStored(st.msgs.get(seq)!));
        if (out.length >= max) break;
      }
      return out;
    }
    for (const m of st.msgs.values()) {
      if (m.seq < fromSeq || !subjectMatches(subject, m.subject)) continue;
      out.push(toStored(m));
      if (out.length >= max) break;
    }
    return out;
  }

  async consumer(config: ConsumerConfig): Promise<Consumer> {
    const st = this.stream(config.stream);
    let d = st.durables.get(config.durable);
    if (d === undefined) {
      d = new MemDurable(st, config.durable, config);
      st.durables.set(config.durable, d);
    } else {
      d.configure(config);
    }
    const c = new MemConsumer(d, this.client);
    this.client.consumers.add(c);
    d.schedule();
    return c;
  }

  async deleteConsumer(stream: string, durable: string): Promise<void> {
    this.client.check();
    const st = this.server.streams.get(stream);
    const d = st?.durables.get(durable);
    if (st === undefined || d === undefined) return;
    st.durables.delete(durable);
    d.destroy();
  }
}

/** True when some subject matches both patterns. */
function patternsOverlap(a: string, b: string): boolean {
  const x = a.split(".");
  const y = b.split(".");
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i];
    const q = y[i];
    if (p === ">" || q === ">") return p !== undefined && q !== undefined;
    if (p === undefined || q === undefined) return false;
    if (p !== "*" && q !== "*" && p !== q) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Durable consumers

interface PendingDelivery {
  deliveries: number;
  /** Due for redelivery (ack wait elapsed or nak). */
  due: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

interface FetchWaiter {
  max: number;
  owner: MemConsumer;
  resolve(deliveries: Delivery[]): void;
  reject(err: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

class MemDurable {
  private filters: string[] = [];
  private ackWaitMs = DEFAULT_ACK_WAIT_MS;
  private maxAckPending = DEFAULT_MAX_ACK_PENDING;
  /** Highest stream sequence already considered for a first delivery. */
  private cursor = 0;
  readonly pending = new Map<number, PendingDelivery>();
  readonly waiters: FetchWaiter[] = [];
  private scheduled = false;
  deleted = false;

  constructor(
    readonly stream: MemStream,
    readonly name: string,
    config: ConsumerConfig,
  ) {
    this.configure(config);
  }

  configure(config: ConsumerConfig): void {
    this.filters = [...config.filterSubjects];
    this.ackWaitMs = config.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    this.maxAckPending = config.maxAckPending ?? DEFAULT_MAX_ACK_PENDING;
  }

  matches(subject: string): boolean {
    return this.filters.some((f) => subjectMatches(f, subject));
  }

  /** Serves waiting fetches soon (never inside the caller). */
  schedule(): void {
    if (this.scheduled || this.deleted) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.serve();
    });
  }

  private serve(): void {
    if (this.deleted) return;
    this.stream.prune();
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      const batch = this.take(w.max, w.owner);
      if (batch.length === 0) return;
      this.waiters.shift();
      clearTimeout(w.timer);
      w.resolve(batch);
    }
  }

  private take(max: number, owner: MemConsumer): Delivery[] {
    const out: Delivery[] = [];
    // Redeliveries first, oldest first: a message nobody acknowledged is not starved by new ones.
    const due = [...this.pending.entries()].filter(([, p]) => p.due).sort((a, b) => a[0] - b[0]);
    for (const [seq, p] of due) {
      if (out.length >= max) return out;
      const m = this.stream.msgs.get(seq);
      if (m === undefined) {
        this.pending.delete(seq); // aged out or dropped by a limit meanwhile
        continue;
      }
      out.push(this.deliver(m, p, owner));
    }
    while (out.length < max && this.pending.size < this.maxAckPending) {
      const m = this.nextNew();
      if (m === undefined) break;
      const p: PendingDelivery = { deliveries: 0, due: false, timer: undefined };
      this.pending.set(m.seq, p);
      out.push(this.deliver(m, p, owner));
    }
    return out;
  }

  private nextNew(): MemMessage | undefined {
    while (this.cursor < this.stream.lastSeq) {
      this.cursor++;
      const m = this.stream.msgs.get(this.cursor);
      if (m !== undefined && this.matches(m.subject)) return m;
    }
    return undefined;
  }

  private deliver(m: MemMessage, p: PendingDelivery, owner: MemConsumer): Delivery {
    p.deliveries++;
    p.due = false;
    this.arm(m.seq, p, this.ackWaitMs);
    return new MemDelivery(this, owner.client, m, p.deliveries);
  }

  private arm(seq: number, p: PendingDelivery, ms: number): void {
    if (p.timer !== undefined) clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (this.pending.get(seq) !== p) return;
      p.due = true;
      this.schedule();
    }, ms);
    // Server-side housekeeping: it must not keep an otherwise finished process alive.
    p.timer.unref?.();
  }

  settle(
    seq: number,
    deliveryCount: number,
    action: "ack" | "nak" | "term" | "working",
    delayMs?: number,
  ): void {
    const p = this.pending.get(seq);
    if (p === undefined) return;
    switch (action) {
      case "ack":
      case "term":
        if (p.timer !== undefined) clearTimeout(p.timer);
        this.pending.delete(seq);
        this.schedule(); // room under maxAckPending
        return;
      case "nak":
        if (p.deliveries !== deliveryCount) return; // a stale delivery's nak
        if (delayMs !== undefined && delayMs > 0) {
          this.arm(seq, p, delayMs);
        } else {
          if (p.timer !== undefined) clearTimeout(p.timer);
          p.timer = undefined;
          p.due = true;
          this.schedule();
        }
        return;
      case "working":
        if (p.deliveries !== deliveryCount || p.due) return;
        this.arm(seq, p, this.ackWaitMs);
        return;
    }
  }

  fetch(max: number, expiresMs: number, owner: MemConsumer): Promise<Delivery[]> {
    return new Promise<Delivery[]>((resolve, reject) => {
      if (this.deleted) {
        setImmediate(() => reject(new ConsumerNotFoundError(this.stream.config.name, this.name)));
        return;
      }
      // Nothing queued ahead: what is available now is returned now (like a pull with no_wait).
      if (this.waiters.length === 0) {
        this.stream.prune();
        const batch = this.take(max, owner);
        if (batch.length > 0) {
          resolve(batch);
          return;
        }
      }
      const w: FetchWaiter = {
        max,
        owner,
        resolve,
        reject,
        timer: setTimeout(
          () => {
            const i = this.waiters.indexOf(w);
            if (i >= 0) this.waiters.splice(i, 1);
            resolve([]);
          },
          Math.max(0, expiresMs),
        ),
      };
      this.waiters.push(w);
      this.schedule();
    });
  }

  release(owner: MemConsumer): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.owner !== owner) continue;
      this.waiters.splice(i, 1);
      clearTimeout(w.timer);
      w.resolve([]);
    }
  }

  destroy(): void {
    this.deleted = true;
    for (const p of this.pending.values()) if (p.timer !== undefined) clearTimeout(p.timer);
    this.pending.clear();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new ConsumerNotFoundError(this.stream.config.name, this.name));
    }
  }
}

class MemConsumer implements Consumer {
  private closed = false;

  constructor(
    private readonly durable: MemDurable,
    readonly client: MemoryClient,
  ) {}

  get name(): string {
    return this.durable.name;
  }

  async fetch(max: number, expiresMs: number): Promise<Delivery[]> {
    if (this.closed || max <= 0) return [];
    this.client.check();
    return this.durable.fetch(max, expiresMs, this);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.durable.release(this);
    this.client.consumers.delete(this);
  }
}

class MemDelivery implements Delivery {
  readonly subject: string;
  readonly seq: number;
  readonly data: Uint8Array;
  readonly time: number;
  readonly headers: Record<string, string>;
  private settled = false;

  constructor(
    private readonly durable: MemDurable,
    private readonly client: MemoryClient,
    m: MemMessage,
    readonly deliveryCount: number,
  ) {
    this.subject = m.subject;
    this.seq = m.seq;
    this.data = m.data;
    this.time = m.time;
    this.headers = { ...m.headers };
  }

  async ack(): Promise<void> {
    this.client.check();
    if (this.durable.deleted)
      throw new ConsumerNotFoundError(this.durable.stream.config.name, this.durable.name);
    this.settled = true;
    this.durable.settle(this.seq, this.deliveryCount, "ack");
  }

  ackNoWait(): void {
    // Closed or deleted: nothing recorded, as when a real ack is lost on the way.
    if (this.settled || this.durable.deleted || this.client.isClosed) return;
    this.settled = true;
    this.durable.settle(this.seq, this.deliveryCount, "ack");
  }

  nak(delayMs?: number): void {
    if (this.settled) return;
    this.settled = true;
    this.durable.settle(this.seq, this.deliveryCount, "nak", delayMs);
  }

  term(): void {
    if (this.settled) return;
    this.settled = true;
    this.durable.settle(this.seq, this.deliveryCount, "term");
  }

  working(): void {
    if (this.settled) return;
    this.durable.settle(this.seq, this.deliveryCount, "working");
  }
}

// ---------------------------------------------------------------------------------------------
// KV

interface MemKvEntry {
  /** null: a tombstone (deleted). */
  value: Uint8Array | null;
  revision: number;
  time: number;
}

const KV_KEY = /^[-/_=.a-zA-Z0-9]+$/;

function checkKey(key: string): void {
  if (!KV_KEY.test(key) || key.startsWith(".") || key.endsWith(".")) {
    throw new BusError(`invalid key "${key}": letters, digits and - / _ = . only`);
  }
}

class MemBucket {
  private revision = 0;
  readonly entries = new Map<string, MemKvEntry>();
  readonly watchers = new Set<MemWatcher>();

  constructor(
    readonly config: KvConfig,
    private readonly server: MemoryServer,
  ) {}

  /** Drops entries older than the TTL (as max age does on NATS: silently, no event). */
  prune(): void {
    const ttl = this.config.ttlMs ?? 0;
    if (ttl <= 0) return;
    const cutoff = this.server.now() - ttl;
    for (const [k, e] of this.entries) if (e.time <= cutoff) this.entries.delete(k);
  }

  write(key: string, value: Uint8Array | null): number {
    const revision = ++this.revision;
    // Re-insert so the Map stays in revision order (watch's initial state relies on it).
    this.entries.delete(key);
    this.entries.set(key, { value, revision, time: this.server.now() });
    const event: KvWatchEvent = { key, value, revision };
    for (const w of this.watchers) w.push(event);
    return revision;
  }
}

class MemKv implements Kv {
  constructor(
    private readonly b: MemBucket,
    private readonly client: MemoryClient,
  ) {}

  get bucket(): string {
    return this.b.config.bucket;
  }

  private current(key: string): MemKvEntry | undefined {
    this.client.check();
    checkKey(key);
    this.b.prune();
    return this.b.entries.get(key);
  }

  async get(key: string): Promise<KvEntry | null> {
    const e = this.current(key);
    if (e === undefined || e.value === null) return null;
    return { key, value: e.value, revision: e.revision };
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.current(key);
    return this.b.write(key, value.slice());
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    const e = this.current(key);
    if (e !== undefined && e.value !== null) {
      throw new WrongRevisionError(key, `key ${key} already exists in ${this.bucket}`);
    }
    return this.b.write(key, value.slice());
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    if (revision <= 0) return this.create(key, value);
    const e = this.current(key);
    if ((e?.revision ?? 0) !== revision) {
      throw new WrongRevisionError(
        key,
        `key ${key} in ${this.bucket} is no longer at revision ${revision}; read it again`,
      );
    }
    return this.b.write(key, value.slice());
  }

  async delete(key: string, revision?: number): Promise<void> {
    const e = this.current(key);
    // Like the NATS client, revision 0 means "no condition".
    if (revision !== undefined && revision > 0 && (e?.revision ?? 0) !== revision) {
      throw new WrongRevisionError(
        key,
        `key ${key} in ${this.bucket} is no longer at revision ${revision}; read it again`,
      );
    }
    this.b.write(key, null);
  }

  async keys(): Promise<string[]> {
    this.client.check();
    this.b.prune();
    const out: string[] = [];
    for (const [k, e] of this.b.entries) if (e.value !== null) out.push(k);
    return out;
  }

  async watch(onEvent: (event: KvWatchEvent) => void, onReady?: () => void): Promise<KvWatcher> {
    this.client.check();
    this.b.prune();
    const w = new MemWatcher(this.b, this.client, onEvent, onReady);
    for (const [key, e] of this.b.entries) {
      if (e.value !== null) w.push({ key, value: e.value, revision: e.revision });
    }
    w.pushReady();
    this.b.watchers.add(w);
    this.client.watchers.add(w);
    return w;
  }
}

const READY = Symbol("ready");

class MemWatcher implements KvWatcher {
  private readonly queue: (KvWatchEvent | typeof READY)[] = [];
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly bucket: MemBucket,
    private readonly client: MemoryClient,
    private readonly onEvent: (event: KvWatchEvent) => void,
    private readonly onReady: (() => void) | undefined,
  ) {}

  push(event: KvWatchEvent): void {
    this.queue.push(event);
    this.schedule();
  }

  pushReady(): void {
    this.queue.push(READY);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (!this.stopped && this.queue.length > 0) {
        const e = this.queue.shift()!;
        try {
          if (e === READY) this.onReady?.();
          else this.onEvent(e);
        } catch (err) {
          this.client.server.log.error({ err }, "bus: KV watch handler threw");
        }
      }
    });
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.bucket.watchers.delete(this);
    this.client.watchers.delete(this);
  }
}
