// A fake clock and a fake WebSocket server for the client's unit tests (our own interfaces: the
// client only sees `Clock` and `WebSocketLike`).
import { decode, encode } from "@msgpack/msgpack";
import { TOP_LEVEL_ID } from "@drivecast/protocol";
import type {
  ChangesMessage,
  ClientMessage,
  FileSystemItem,
  FileSystemItemChange,
  ServerMessage,
} from "@drivecast/protocol";
import type { Clock, WebSocketConstructor, WebSocketLike } from "../src/mod.js";

/** Lets promise continuations and queued callbacks run (no time passes on the fake clock). */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

export class FakeClock implements Clock {
  t = 1_000_000;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** The delay of the next pending timer (Infinity when none). */
  nextIn(): number {
    let min = Infinity;
    for (const t of this.timers.values()) min = Math.min(min, t.at - this.t);
    return min;
  }

  /** Moves time forward, firing due timers in order and settling after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      }
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

export interface Constructed {
  url: string;
  protocols: string[];
  headers: Record<string, string>;
}

/** The server side of one fake socket. */
export class FakeSocket implements WebSocketLike {
  binaryType = "blob";
  protocol = "";
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  readonly sent: ClientMessage[] = [];
  closedByClient: { code: number | undefined; reason: string | undefined } | null = null;
  /** Answers scroll requests (set by the server). */
  scroll: ((m: Extract<ClientMessage, { type: "scroll" }>) => ServerMessage | null) | null = null;

  constructor(
    readonly server: FakeServer,
    readonly init: Constructed,
  ) {
    this.protocol = init.protocols[0] ?? "";
  }

  get binary(): boolean {
    return this.protocol === "drivecast.v1.msgpack";
  }

  send(data: string | Uint8Array): void {
    if (this.closedByClient !== null) throw new Error("send after close");
    const m = (typeof data === "string" ? JSON.parse(data) : decode(data)) as ClientMessage;
    this.sent.push(m);
    if (m.type === "scroll" && this.scroll !== null) {
      const reply = this.scroll(m);
      if (reply !== null) queueMicrotask(() => this.receive(reply));
    }
  }

  close(code?: number, reason?: string): void {
    if (this.closedByClient !== null) return;
    this.closedByClient = { code, reason };
    // As a real socket: the close event comes later.
    queueMicrotask(() => this.onclose?.({ code: code ?? 1005, reason: reason ?? "" }));
  }

  open(): void {
    this.onopen?.({});
  }

  receive(message: ServerMessage): void {
    this.onmessage?.({ data: this.binary ? encode(message) : JSON.stringify(message) });
  }

  welcome(heartbeatMs = 25_000, maxBatchSize = 1000): void {
    this.receive({
      type: "welcome",
      userId: "alice",
      deviceId: "dev",
      heartbeatMs,
      maxBatchSize,
      serverVersion: "test",
    });
  }

  changes(
    lowerBound: number,
    upperBound: number,
    changes: FileSystemItemChange[] = [],
    hasTooManyChanges = false,
  ): ChangesMessage {
    const m: ChangesMessage = {
      type: "changes",
      lowerBound,
      summary: {
        fileSystemChanges: changes,
        syncDate: 0,
        upperBound,
        hasTooManyChanges,
        activeSynchronizationRootDefinitions: "",
      },
    };
    this.receive(m);
    return m;
  }

  /** The server closes the connection. */
  serverClose(code: number, reason = ""): void {
    this.onclose?.({ code, reason });
  }

  /** The upgrade is refused with an HTTP status, the way `ws` reports it. */
  refuse(status: number): void {
    this.onerror?.({ message: `Unexpected server response: ${status}` });
    this.onclose?.({ code: 1006, reason: "" });
  }

  sentOf<T extends ClientMessage["type"]>(type: T): Extract<ClientMessage, { type: T }>[] {
    return this.sent.filter((m) => m.type === type) as Extract<ClientMessage, { type: T }>[];
  }
}

/**
 * Every socket the client opened, and a scroll responder over an in-memory remote tree: scrolls
 * return the descendants of the requested folder (parents first) in batches.
 */
export class FakeServer {
  readonly sockets: FakeSocket[] = [];
  /** The remote tree the scroll answers from. */
  items: FileSystemItem[] = [];
  /** Error codes to answer the next scroll requests with (consumed in order). */
  scrollErrors: string[] = [];
  private scrolls = new Map<string, FileSystemItem[]>();
  private scrollSeq = 0;
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const open = (init: Constructed): FakeSocket => {
      const socket = new FakeSocket(this, init);
      socket.scroll = (m) => this.answerScroll(m);
      this.sockets.push(socket);
      return socket;
    };
    this.WebSocket = class {
      constructor(url: string, protocols: string[], options: { headers: Record<string, string> }) {
        return open({ url, protocols, headers: options.headers });
      }
    } as unknown as WebSocketConstructor;
  }

  get last(): FakeSocket {
    const s = this.sockets[this.sockets.length - 1];
    if (s === undefined) throw new Error("no socket was opened");
    return s;
  }

  descendants(id: string): FileSystemItem[] {
    const out: FileSystemItem[] = [];
    const queue = [id];
    for (let i = 0; i < queue.length; i++) {
      for (const item of this.items) {
        if (item.parentId === queue[i]) {
          out.push(item);
          if (item.folder) queue.push(item.id);
        }
      }
    }
    return out;
  }

  answerScroll(m: Extract<ClientMessage, { type: "scroll" }>): ServerMessage {
    const error = this.scrollErrors.shift();
    if (error !== undefined) {
      return { type: "error", code: error as never, message: error, requestId: m.requestId };
    }
    let scrollId = m.scrollId;
    if (scrollId === null) {
      scrollId = `s${++this.scrollSeq}`;
      const all =
        m.id === TOP_LEVEL_ID || this.items.some((i) => i.id === m.id)
          ? this.descendants(m.id)
          : null;
      if (all === null) {
        return {
          type: "error",
          code: "not_found",
          message: "no such folder",
          requestId: m.requestId,
        };
      }
      this.scrolls.set(scrollId, all);
    }
    const rest = this.scrolls.get(scrollId);
    if (rest === undefined) {
      return { type: "error", code: "scroll_expired", message: "gone", requestId: m.requestId };
    }
    const batch = rest.splice(0, m.batchSize);
    return { type: "scrollResult", requestId: m.requestId, scrollId, fileSystemItems: batch };
  }

  /** Scroll requests over every socket. */
  scrollRequests(): Extract<ClientMessage, { type: "scroll" }>[] {
    return this.sockets.flatMap((s) => s.sentOf("scroll"));
  }
}
