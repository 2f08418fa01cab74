// Server-sent events `GET /drive/v1/events` (PROTOCOL.md): the WebSocket's feed for clients that
// cannot hold one. One event per change set: `event: changes`, `id: <upperBound>` (so a browser's
// EventSource resumes with `Last-Event-ID`), `data: <the changes message as JSON>`; `: ping`
// comments keep proxies from timing the stream out. Same replay rules (session.ts, replay.ts).
//
// Backpressure: uWS `write()` returns false once the response has bytes it could not send; we
// count what is written while the socket stays congested and cut the stream above the limit
// (the client reconnects with its last event id) rather than buffering without bound.
import { ErrorCode } from "@drivecast/protocol";
import type { ChangesMessage } from "@drivecast/protocol";
import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import type { Connection, GatewayContext } from "./context.js";
import { lifetimeDeadline, tickIntervalMs } from "./context.js";
import { RequestError } from "./errors.js";
import { credentialsOf, requestErrorOf, sendError, track } from "./http-util.js";
import type { ResponseState } from "./http-util.js";
import { FeedSession } from "./session.js";
import type { SessionSink } from "./session.js";
import type { Identity } from "./types.js";

/** The position to resume from: `Last-Event-ID` wins over `lowerBound`; none → null (from now). */
export function resumePosition(lastEventId: string, lowerBound: string): number | null {
  const raw = lastEventId.trim() !== "" ? lastEventId.trim() : lowerBound.trim();
  if (raw === "") return null;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new RequestError(
      400,
      ErrorCode.BadRequest,
      "lowerBound / Last-Event-ID must be a non-negative integer",
    );
  }
  return Number(raw);
}

export function sseHandler(ctx: GatewayContext): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    const credentials = credentialsOf(req);
    const lastEventId = req.getHeader("last-event-id");
    const lowerBoundParam = req.getQuery("lowerBound") ?? "";
    const state = track(res);
    const fail = (err: unknown): void => {
      const e = requestErrorOf(err, ctx.logger);
      ctx.metrics.httpRequests.inc({ endpoint: "sse", status: String(e.status) });
      sendError(res, state, e.status, e.code, e.message);
    };
    if (!ctx.ready()) {
      fail(
        new RequestError(
          503,
          ErrorCode.NotReady,
          "the gateway is not accepting connections; retry",
        ),
      );
      return;
    }
    ctx
      .identify(credentials.token)
      .then((identity) => {
        if (state.done) return;
        if (credentials.deviceId === "") {
          throw new RequestError(
            400,
            ErrorCode.BadRequest,
            "a device id is required: header X-Device-Id or query parameter deviceId",
          );
        }
        const lowerBound = resumePosition(lastEventId, lowerBoundParam);
        const connection = new SseConnection(
          ctx,
          res,
          state,
          identity,
          credentials.token,
          credentials.deviceId,
        );
        if (!ctx.add(connection)) {
          throw new RequestError(429, ErrorCode.RateLimited, "too many connections for this user");
        }
        ctx.devices.seen(identity.user, credentials.deviceId, credentials.clientVersion);
        connection.start(lowerBound);
      })
      .catch(fail);
  };
}

class SseConnection implements Connection, SessionSink {
  readonly user: string;
  private closed = false;
  private lastSent: number;
  /** Bytes written since the socket last reported itself writable. */
  private congested = 0;
  private readonly session: FeedSession;
  /** Closed with 1001 at this time (tick): the maximum lifetime plus jitter. */
  private expiresAt = Infinity;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly res: HttpResponse,
    private readonly state: ResponseState,
    identity: Identity,
    readonly token: string,
    readonly deviceId: string,
  ) {
    this.user = identity.user;
    this.lastSent = ctx.now();
    this.session = new FeedSession(this.user, ctx, this);
  }

  start(lowerBound: number | null): void {
    const { ctx, res } = this;
    // From here on the response is ours to end; onAborted (registered by track) still flags it.
    this.state.done = true;
    res.onAborted(() => this.cleanup());
    res.onWritable(() => {
      this.congested = 0;
      return true;
    });
    res.cork(() => {
      res
        .writeStatus("200 OK")
        .writeHeader("content-type", "text/event-stream; charset=utf-8")
        .writeHeader("cache-control", "no-store")
        .writeHeader("x-accel-buffering", "no")
        .write(`retry: 1000\n\n`);
    });
    ctx.metrics.connections.inc({ protocol: "sse" });
    this.expiresAt = lifetimeDeadline(ctx.config, ctx.now(), ctx.random);
    this.session.subscribe(lowerBound);
  }

  private write(chunk: string): boolean {
    if (this.closed) return false;
    let ok = true;
    this.res.cork(() => {
      ok = this.res.write(chunk);
    });
    if (!ok) {
      this.congested += Buffer.byteLength(chunk);
      if (this.congested > this.ctx.config.maxBufferedBytes) {
        this.ctx.metrics.backpressureDrops.inc({ transport: "sse" });
        this.ctx.metrics.closes.inc({ code: "slow" });
        this.terminate();
        return false;
      }
    }
    this.lastSent = this.ctx.now();
    return true;
  }

  sendChanges(messages: readonly ChangesMessage[]): number {
    // One write for the batch: a replay is one syscall, not one per event.
    let chunk = "";
    for (const m of messages) {
      chunk += `event: changes\nid: ${m.summary.upperBound}\ndata: ${JSON.stringify(m)}\n\n`;
    }
    if (!this.write(chunk)) return 0;
    for (let i = 0; i < messages.length; i++) this.ctx.metrics.messageSent("changes");
    return messages.length;
  }

  fail(_reason: string): void {
    this.goAway(_reason);
  }

  tick(now: number): void {
    if (this.closed) return;
    if (now >= this.expiresAt) {
      this.goAway("maximum connection lifetime reached");
      return;
    }
    const { heartbeatMs } = this.ctx.config;
    if (now - this.lastSent >= heartbeatMs - tickIntervalMs(heartbeatMs)) this.write(": ping\n\n");
  }

  /**
   * SSE has no close codes: the stream is ended, and the client's reconnect (EventSource does it
   * on its own) meets the token check, which answers 401.
   */
  revoke(reason: string): void {
    this.end("sse_revoked", reason);
  }

  goAway(reason: string): void {
    this.end("sse_end", reason);
  }

  private end(code: string, _reason: string): void {
    if (this.closed) return;
    this.ctx.metrics.closes.inc({ code });
    this.res.cork(() => {
      this.res.end();
    });
    this.cleanup();
  }

  terminate(): void {
    if (this.closed) return;
    this.res.close(); // runs onAborted → cleanup
    this.cleanup();
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
    this.ctx.metrics.connections.dec({ protocol: "sse" });
    this.ctx.remove(this);
  }
}
