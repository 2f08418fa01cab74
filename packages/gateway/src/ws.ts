// WebSocket `GET /drive/v1/ws` (PROTOCOL.md): authentication before the upgrade, then `welcome`,
// and the client's `subscribe` / `ack` / `scroll` / `ping`. Close codes are the protocol's table.
//
// uWebSockets.js rules followed here: everything needed from the upgrade request is copied out
// before the first await and `onAborted` is registered; every send made outside a uWS callback
// (NATS handlers, timers, promise continuations) is corked; `send()`'s result and the buffered
// amount are checked after every send, and a socket over its limit is closed with 4008 — a
// dropped message is never ignored, since the next one would break contiguity.
import { CloseCode, ErrorCode, ProtocolViolation, Subprotocol } from "@drivecast/protocol";
import type { ChangesMessage, ClientMessage, ServerMessage } from "@drivecast/protocol";
import uWS from "uWebSockets.js";
import type { WebSocket, WebSocketBehavior } from "uWebSockets.js";
import type { Connection, GatewayContext } from "./context.js";
import { lifetimeDeadline, tickIntervalMs } from "./context.js";
import { RequestError } from "./errors.js";
import { chooseSubprotocol, decodeClientFrame, encodeServerMessage } from "./frames.js";
import { credentialsOf, requestErrorOf, sendError, track } from "./http-util.js";
import { takeToken } from "./rate.js";
import type { Bucket } from "./rate.js";
import { FeedSession } from "./session.js";
import type { SessionSink } from "./session.js";
import type { Identity } from "./types.js";

/** uWS send() results. */
const SEND_DROPPED = 2;

// One closure for every corked send (sends happen outside uWS callbacks: NATS handlers, timers),
// fed through these variables: cork() runs it synchronously, and a closure per send would be
// garbage on the fan-out's hot path.
let corkSocket: WebSocket<SocketData> | null = null;
let corkFrame: string | Uint8Array = "";
let corkBinary = false;
let corkStatus = 0;
const corkedSend = (): void => {
  corkStatus = (corkSocket as WebSocket<SocketData>).send(corkFrame, corkBinary);
};
const corkedPing = (): void => {
  corkStatus = (corkSocket as WebSocket<SocketData>).ping();
};

/**
 * The socket's uWS user data. uWS keeps a copy of the object given to `upgrade` (own properties
 * only, not the prototype), so the connection is held by reference here.
 */
export interface SocketData {
  connection: WsConnection;
}

/** Connection states: upgraded (not yet registered), open, closed. */
const UPGRADED = 0;
const OPEN = 1;
const CLOSED = 2;

/** A WebSocket close reason is at most 123 bytes. */
function reasonOf(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  return bytes.length <= 123 ? text : bytes.subarray(0, 120).toString("utf8") + "...";
}

export function webSocketBehavior(ctx: GatewayContext): WebSocketBehavior<SocketData> {
  const { config } = ctx;
  return {
    compression: uWS.DISABLED,
    // Frames up to twice the limit reach our own check (answered with 4000 and a reason);
    // beyond that uWS drops the connection itself, so a hostile peer cannot make us buffer more.
    maxPayloadLength: config.maxMessageBytes * 2,
    // Our limit, not uWS's: over its maxBackpressure uWS drops every send, the close frame
    // included, and the client would see 1006 instead of 4008. With 0 (no limit) uWS queues
    // everything and `send` checks the buffered amount after each message, so the buffer is
    // bounded by maxBufferedBytes plus one message, and the 4008 close frame always goes out.
    maxBackpressure: 0,
    // Heartbeats are ours (tick): pings every heartbeatMs, close after 2 × heartbeatMs of silence.
    // uWS's own idle timeout (whole seconds, 8 to 960 — it throws above) only backs that up;
    // our pings (every heartbeatMs, at most 600 s by the settings) reset it.
    idleTimeout: Math.min(960, Math.max(8, Math.ceil((config.heartbeatMs * 2) / 1000) + 4)),
    sendPingsAutomatically: false,

    upgrade: (res, req, context) => {
      const secKey = req.getHeader("sec-websocket-key");
      const secProtocol = req.getHeader("sec-websocket-protocol");
      const secExtensions = req.getHeader("sec-websocket-extensions");
      const credentials = credentialsOf(req);
      const state = track(res);
      if (!ctx.ready()) {
        sendError(
          res,
          state,
          503,
          ErrorCode.NotReady,
          "the gateway is not accepting connections; retry",
        );
        return;
      }
      const protocol = chooseSubprotocol(secProtocol);
      const failed = (err: unknown): void => {
        const e = requestErrorOf(err, ctx.logger);
        ctx.metrics.httpRequests.inc({ endpoint: "ws", status: String(e.status) });
        sendError(res, state, e.status, e.code, e.message);
      };
      ctx
        .identify(credentials.token)
        .then((identity) => {
          if (state.done) return;
          if (protocol === null) {
            throw new RequestError(
              400,
              ErrorCode.BadRequest,
              `unsupported subprotocol; offer ${Subprotocol.Json} or ${Subprotocol.Msgpack}`,
            );
          }
          if (credentials.deviceId === "") {
            throw new RequestError(
              400,
              ErrorCode.BadRequest,
              "a device id is required: header X-Device-Id or query parameter deviceId",
            );
          }
          const connection = new WsConnection(
            ctx,
            identity,
            credentials.token,
            credentials.deviceId,
            protocol,
            credentials.clientVersion,
          );
          state.done = true;
          res.cork(() => {
            // Echo a subprotocol only when the client offered one (RFC 6455 §4.2.2).
            res.upgrade(
              { connection },
              secKey,
              secProtocol === "" ? "" : protocol,
              secExtensions,
              context,
            );
          });
        })
        .catch(failed);
    },

    open: (ws) => {
      const connection = ws.getUserData().connection;
      if (!ctx.add(connection)) {
        // Never opened: its message and close handlers ignore it.
        ws.end(CloseCode.TooManyConnections, "too many connections for this user");
        return;
      }
      connection.opened(ws);
    },

    message: (ws, message, isBinary) => {
      ws.getUserData().connection.onMessage(message, isBinary);
    },

    pong: (ws) => {
      ws.getUserData().connection.onPong();
    },

    close: (ws, code) => {
      ctx.metrics.closes.inc({ code: String(code) });
      ws.getUserData().connection.onClose();
    },
  };
}

/**
 * One WebSocket, from the upgrade on (SocketData holds it). Every idle device holds
 * one, so its fields are kept few and flat: the rate-limit bucket lives here (Bucket), the
 * lifetime is a deadline checked by `tick`, not a timer.
 */
export class WsConnection implements Connection, SessionSink, Bucket {
  readonly user: string;
  private ws: WebSocket<SocketData> | null = null;
  private state = UPGRADED;
  /** When the token was last known good (the upgrade, then each re-check). */
  private tokenCheckedAt: number;
  private tokenCheck: Promise<boolean> | null = null;
  private lastSent: number;
  private lastReceived: number;
  /** Closed with 1001 at this time (tick): the maximum lifetime plus jitter. */
  private expiresAt = Infinity;
  /** Rate limit of client messages (Bucket). */
  tokens: number;
  tokensAt: number;
  private readonly session: FeedSession;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly identity: Identity,
    /** The token checked at the upgrade, checked again lazily (see tokenStillValid). */
    readonly token: string,
    private readonly deviceId: string,
    private readonly protocol: Subprotocol,
    private readonly clientVersion: string | null,
  ) {
    this.user = identity.user;
    const now = ctx.now();
    this.lastSent = now;
    this.lastReceived = now;
    this.tokenCheckedAt = now;
    this.tokens = ctx.config.rateLimit.burst;
    this.tokensAt = now;
    this.session = new FeedSession(this.user, ctx, this);
  }

  private get binary(): boolean {
    return this.protocol === Subprotocol.Msgpack;
  }

  private get closed(): boolean {
    return this.state !== OPEN;
  }

  /** Called from the open handler, once registered. */
  opened(ws: WebSocket<SocketData>): void {
    const { ctx } = this;
    this.ws = ws;
    this.state = OPEN;
    ctx.metrics.connections.inc({ protocol: this.binary ? "msgpack" : "json" });
    ctx.devices.seen(this.user, this.deviceId, this.clientVersion);
    this.expiresAt = lifetimeDeadline(ctx.config, ctx.now(), ctx.random);
    this.send({
      type: "welcome",
      userId: this.user,
      deviceId: this.deviceId,
      heartbeatMs: ctx.config.heartbeatMs,
      maxBatchSize: ctx.config.maxBatchSize,
      serverVersion: ctx.config.serverVersion,
    });
  }

  /** Sends one message, corked; closes with 4008 when the socket's buffer is over the limit. */
  send(message: ServerMessage): boolean {
    if (this.closed) return false;
    const ws = this.ws as WebSocket<SocketData>;
    corkSocket = ws;
    corkFrame = encodeServerMessage(message, this.protocol);
    corkBinary = this.binary;
    ws.cork(corkedSend);
    corkSocket = null;
    corkFrame = "";
    if (corkStatus === SEND_DROPPED || ws.getBufferedAmount() > this.ctx.config.maxBufferedBytes) {
      this.ctx.metrics.backpressureDrops.inc({ transport: "ws" });
      this.end(CloseCode.SlowConsumer, "slow consumer: send buffer limit exceeded");
      return false;
    }
    this.lastSent = this.ctx.now();
    this.ctx.metrics.messageSent(message.type);
    return true;
  }

  sendChanges(messages: readonly ChangesMessage[]): number {
    if (messages.length === 1) return this.send(messages[0] as ChangesMessage) ? 1 : 0;
    if (this.closed) return 0;
    // Several messages (a replay): one cork, so they leave in a few large writes rather than a
    // syscall each. A socket over its limit is closed after the cork (closing inside it is not
    // allowed: uWS would uncork a closed socket).
    const ws = this.ws as WebSocket<SocketData>;
    const { maxBufferedBytes } = this.ctx.config;
    let sent = 0;
    let slow = false;
    ws.cork(() => {
      for (const m of messages) {
        const status = ws.send(encodeServerMessage(m, this.protocol), this.binary);
        if (status === SEND_DROPPED || ws.getBufferedAmount() > maxBufferedBytes) {
          slow = true;
          return;
        }
        sent++;
      }
    });
    for (let i = 0; i < sent; i++) this.ctx.metrics.messageSent("changes");
    if (slow) {
      this.ctx.metrics.backpressureDrops.inc({ transport: "ws" });
      this.end(CloseCode.SlowConsumer, "slow consumer: send buffer limit exceeded");
      return sent;
    }
    this.lastSent = this.ctx.now();
    return sent;
  }

  fail(reason: string): void {
    this.end(CloseCode.GoingAway, reason);
  }

  onMessage(bytes: ArrayBuffer, isBinary: boolean): void {
    if (this.closed) return;
    this.lastReceived = this.ctx.now();
    if (!takeToken(this, this.ctx.config.rateLimit, this.lastReceived)) {
      this.end(CloseCode.RateLimited, "rate limited: too many messages");
      return;
    }
    let message: ClientMessage;
    try {
      message = decodeClientFrame(bytes, isBinary, this.protocol, this.ctx.config.maxMessageBytes);
    } catch (err) {
      const reason = err instanceof ProtocolViolation ? err.message : "malformed message";
      this.end(CloseCode.ProtocolError, reason);
      return;
    }
    switch (message.type) {
      case "subscribe":
        if (this.session.subscribed) {
          this.send({ type: "error", code: ErrorCode.BadRequest, message: "already subscribed" });
          return;
        }
        this.session.subscribe(message.lowerBound);
        return;
      case "ack":
        // An ack reveals nothing: recorded at once; the token check (when due) runs alongside.
        void this.tokenStillValid();
        this.ctx.devices.acked(this.user, this.deviceId, message.upperBound, this.clientVersion);
        return;
      case "ping":
        this.send({ type: "pong", t: message.t });
        return;
      case "scroll": {
        const { requestId } = message;
        const valid = this.tokenStillValid();
        const checked: Promise<boolean> = valid === true ? Promise.resolve(true) : valid;
        checked
          .then((ok) => {
            if (!ok) {
              throw new RequestError(
                503,
                ErrorCode.NotReady,
                "cannot check the token with Nuxeo now; retry",
              );
            }
            return this.ctx.scroll(this.identity, message);
          })
          .then(
            (reply) => {
              this.send({
                type: "scrollResult",
                requestId,
                scrollId: reply.scrollId,
                fileSystemItems: reply.fileSystemItems,
              });
            },
            (err: unknown) => {
              const e = requestErrorOf(err, this.ctx.logger);
              this.send({
                type: "error",
                code: e.code as ErrorCode,
                message: e.message,
                requestId,
              });
            },
          );
        return;
      }
    }
  }

  /**
   * The token check of this socket, done again once `authCacheTtlMs` has passed since the last
   * one, and only when the socket makes a request (ack, scroll): an idle device costs Nuxeo
   * nothing after its upgrade, and a revoked token stops working at its next request at the
   * latest (the operator's revocation subject closes it at once). True (synchronously) while the
   * last check holds; else a promise of the outcome — false when revoked (the socket is then
   * closed with 4001) or when Nuxeo cannot tell now (the socket stays; checked again next time).
   */
  private tokenStillValid(): true | Promise<boolean> {
    if (this.ctx.now() - this.tokenCheckedAt < this.ctx.config.authCacheTtlMs) return true;
    if (this.tokenCheck === null) {
      this.tokenCheck = this.ctx.recheck(this.token, this.user).then((outcome) => {
        this.tokenCheck = null;
        if (outcome === "ok") {
          this.tokenCheckedAt = this.ctx.now();
          return true;
        }
        if (outcome === "revoked") this.revoke("token expired or revoked; re-authenticate");
        return false;
      });
    }
    return this.tokenCheck;
  }

  onPong(): void {
    this.lastReceived = this.ctx.now();
  }

  tick(now: number): void {
    if (this.closed) return;
    if (now >= this.expiresAt) {
      this.goAway("maximum connection lifetime reached");
      return;
    }
    const { heartbeatMs } = this.ctx.config;
    if (now - this.lastReceived > 2 * heartbeatMs) {
      this.end(CloseCode.GoingAway, "heartbeat timeout: nothing received");
      return;
    }
    if (now - this.lastSent >= heartbeatMs - tickIntervalMs(heartbeatMs)) {
      const ws = this.ws as WebSocket<SocketData>;
      corkSocket = ws;
      ws.cork(corkedPing);
      corkSocket = null;
      if (
        corkStatus === SEND_DROPPED ||
        ws.getBufferedAmount() > this.ctx.config.maxBufferedBytes
      ) {
        this.ctx.metrics.backpressureDrops.inc({ transport: "ws" });
        this.end(CloseCode.SlowConsumer, "slow consumer: send buffer limit exceeded");
        return;
      }
      this.lastSent = now;
    }
  }

  goAway(reason: string): void {
    this.end(CloseCode.GoingAway, reason);
  }

  revoke(reason: string): void {
    this.end(CloseCode.TokenRevoked, reason);
  }

  terminate(): void {
    if (this.closed) return;
    (this.ws as WebSocket<SocketData>).close();
  }

  /** Closes with `code`; the close handler runs synchronously and cleans up. */
  private end(code: number, reason: string): void {
    if (this.closed) return;
    // Not corked: end() runs the close handler synchronously, and uncorking a closed socket is
    // invalid; a close frame is one write anyway.
    (this.ws as WebSocket<SocketData>).end(code, reasonOf(reason));
  }

  onClose(): void {
    const wasOpen = this.state === OPEN;
    this.state = CLOSED;
    if (!wasOpen) return;
    this.session.close();
    this.ctx.metrics.connections.dec({ protocol: this.binary ? "msgpack" : "json" });
    this.ctx.remove(this);
  }
}
