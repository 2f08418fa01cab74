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
import { tickIntervalMs } from "./context.js";
import { RequestError } from "./errors.js";
import { chooseSubprotocol, decodeClientFrame, encodeServerMessage } from "./frames.js";
import { credentialsOf, requestErrorOf, sendError, track } from "./http-util.js";
import { TokenBucket } from "./rate.js";
import { FeedSession } from "./session.js";
import type { SessionSink } from "./session.js";
import type { Identity } from "./types.js";

export interface SocketData {
  identity: Identity;
  deviceId: string;
  protocol: Subprotocol;
  clientVersion: string | null;
  connection: WsConnection | null;
}

/** uWS send() results. */
const SEND_DROPPED = 2;

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
    // uWS's own idle timeout (whole seconds, at least 8) only backs that up.
    idleTimeout: Math.max(8, Math.ceil((config.heartbeatMs * 2) / 1000) + 4),
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
          const data: SocketData = {
            identity,
            deviceId: credentials.deviceId,
            protocol,
            clientVersion: credentials.clientVersion,
            connection: null,
          };
          state.done = true;
          res.cork(() => {
            // Echo a subprotocol only when the client offered one (RFC 6455 §4.2.2).
            res.upgrade(data, secKey, secProtocol === "" ? "" : protocol, secExtensions, context);
          });
        })
        .catch(failed);
    },

    open: (ws) => {
      const data = ws.getUserData();
      const connection = new WsConnection(ctx, ws, data);
      if (!ctx.add(connection)) {
        ws.end(CloseCode.TooManyConnections, "too many connections for this user");
        return;
      }
      data.connection = connection;
      connection.opened();
    },

    message: (ws, message, isBinary) => {
      ws.getUserData().connection?.onMessage(message, isBinary);
    },

    pong: (ws) => {
      ws.getUserData().connection?.onPong();
    },

    close: (ws, code) => {
      ctx.metrics.closes.inc({ code: String(code) });
      ws.getUserData().connection?.onClose();
    },
  };
}

export class WsConnection implements Connection, SessionSink {
  readonly user: string;
  private closed = false;
  private lastSent: number;
  private lastReceived: number;
  private readonly bucket: TokenBucket;
  private readonly session: FeedSession;
  private readonly binary: boolean;
  private lifetime: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly ws: WebSocket<SocketData>,
    private readonly data: SocketData,
  ) {
    this.user = data.identity.user;
    this.binary = data.protocol === Subprotocol.Msgpack;
    const now = ctx.now();
    this.lastSent = now;
    this.lastReceived = now;
    this.bucket = new TokenBucket(
      ctx.config.rateLimit.perSecond,
      ctx.config.rateLimit.burst,
      ctx.now,
    );
    this.session = new FeedSession(
      this.user,
      ctx.hub,
      ctx.mergeOptions,
      this,
      ctx.metrics,
      ctx.logger,
    );
  }

  /** Called from the open handler, once registered. */
  opened(): void {
    const { ctx, data } = this;
    ctx.metrics.connections.inc({ protocol: this.binary ? "msgpack" : "json" });
    ctx.devices.seen(this.user, data.deviceId, data.clientVersion);
    const { maxLifetimeMs, lifetimeJitterMs } = ctx.config;
    if (maxLifetimeMs > 0) {
      this.lifetime = setTimeout(
        () => this.goAway("maximum connection lifetime reached"),
        maxLifetimeMs + Math.floor(ctx.random() * lifetimeJitterMs),
      );
      this.lifetime.unref();
    }
    this.send({
      type: "welcome",
      userId: this.user,
      deviceId: data.deviceId,
      heartbeatMs: ctx.config.heartbeatMs,
      maxBatchSize: ctx.config.maxBatchSize,
      serverVersion: ctx.config.serverVersion,
    });
  }

  /** Sends one message, corked; closes with 4008 when the socket's buffer is over the limit. */
  send(message: ServerMessage): boolean {
    if (this.closed) return false;
    const frame = encodeServerMessage(message, this.data.protocol);
    let status = 0;
    this.ws.cork(() => {
      status = this.ws.send(frame, this.binary);
    });
    if (status === SEND_DROPPED || this.ws.getBufferedAmount() > this.ctx.config.maxBufferedBytes) {
      this.ctx.metrics.backpressureDrops.inc({ transport: "ws" });
      this.end(CloseCode.SlowConsumer, "slow consumer: send buffer limit exceeded");
      return false;
    }
    this.lastSent = this.ctx.now();
    this.ctx.metrics.messagesOut.inc({ type: message.type });
    return true;
  }

  sendChanges(message: ChangesMessage): boolean {
    return this.send(message);
  }

  fail(reason: string): void {
    this.end(CloseCode.GoingAway, reason);
  }

  onMessage(bytes: ArrayBuffer, isBinary: boolean): void {
    if (this.closed) return;
    this.lastReceived = this.ctx.now();
    if (!this.bucket.take()) {
      this.end(CloseCode.RateLimited, "rate limited: too many messages");
      return;
    }
    let message: ClientMessage;
    try {
      message = decodeClientFrame(
        bytes,
        isBinary,
        this.data.protocol,
        this.ctx.config.maxMessageBytes,
      );
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
        this.ctx.devices.acked(
          this.user,
          this.data.deviceId,
          message.upperBound,
          this.data.clientVersion,
        );
        return;
      case "ping":
        this.send({ type: "pong", t: message.t });
        return;
      case "scroll": {
        const { requestId } = message;
        this.ctx.scroll(this.data.identity, message).then(
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
            this.send({ type: "error", code: e.code as ErrorCode, message: e.message, requestId });
          },
        );
        return;
      }
    }
  }

  onPong(): void {
    this.lastReceived = this.ctx.now();
  }

  tick(now: number): void {
    if (this.closed) return;
    const { heartbeatMs } = this.ctx.config;
    if (now - this.lastReceived > 2 * heartbeatMs) {
      this.end(CloseCode.GoingAway, "heartbeat timeout: nothing received");
      return;
    }
    if (now - this.lastSent >= heartbeatMs - tickIntervalMs(heartbeatMs)) {
      let status = 0;
      this.ws.cork(() => {
        status = this.ws.ping();
      });
      if (
        status === SEND_DROPPED ||
        this.ws.getBufferedAmount() > this.ctx.config.maxBufferedBytes
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

  terminate(): void {
    if (this.closed) return;
    this.ws.close();
  }

  /** Closes with `code`; the close handler runs synchronously and cleans up. */
  private end(code: number, reason: string): void {
    if (this.closed) return;
    // Not corked: end() runs the close handler synchronously, and uncorking a closed socket is
    // invalid; a close frame is one write anyway.
    this.ws.end(code, reasonOf(reason));
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.lifetime !== null) clearTimeout(this.lifetime);
    this.session.close();
    this.ctx.metrics.connections.dec({ protocol: this.binary ? "msgpack" : "json" });
    this.ctx.remove(this);
  }
}
