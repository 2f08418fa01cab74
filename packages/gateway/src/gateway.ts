// startGateway: wires the uWS app (WebSocket, SSE, Automation-compatible HTTP) to the bus.
import { ErrorCode, Names, Paths } from "@drivecast/protocol";
import type { us_listen_socket } from "uWebSockets.js";
import { automationHandler, getChangeSummary, scrollDescendants } from "./compat.js";
import { GatewayContext, tickIntervalMs } from "./context.js";
import { createDeviceRegistry } from "./devices.js";
import { ListenError } from "./errors.js";
import { createFeedHub } from "./feed-hub.js";
import { sendError, track } from "./http-util.js";
import { createGatewayMetrics } from "./metrics.js";
import { parseRevocation } from "./revoke.js";
import { sseHandler } from "./sse.js";
import { assertNativeUws, uWS } from "./uws.js";
import { webSocketBehavior } from "./ws.js";
import type { Gateway, GatewayConfig, GatewayDeps } from "./types.js";

/** Time given to sockets to go after the drain window, before they are cut. */
const DRAIN_GRACE_MS = 5_000;

/**
 * Starts listening. Throws NativeUwsUnavailableError when uWebSockets.js fell back to its JS shim,
 * ListenError when the port cannot be bound.
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  assertNativeUws();
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const names = new Names(config.naming);
  const metrics = createGatewayMetrics(deps.registry);
  const hub = createFeedHub({
    bus: deps.bus,
    names,
    shardCount: config.shardCount,
    logger: deps.logger,
    onUsersChanged: (n) => metrics.users.set(n),
  });
  const devices = createDeviceRegistry(deps.bus, names, now, deps.logger);
  const ctx = new GatewayContext(
    config,
    deps.bus,
    hub,
    devices,
    metrics,
    deps.logger,
    deps.authenticate,
    now,
    random,
  );

  const app = uWS.App();
  app.ws(Paths.WebSocket, webSocketBehavior(ctx));
  app.get(Paths.Events, sseHandler(ctx));
  app.post(Paths.GetChangeSummary, automationHandler(ctx, "getChangeSummary", getChangeSummary));
  app.post(Paths.ScrollDescendants, automationHandler(ctx, "scrollDescendants", scrollDescendants));
  app.any("/*", (res, req) => {
    const path = req.getUrl();
    const state = track(res);
    sendError(res, state, 404, ErrorCode.NotFound, `no endpoint ${path}`);
  });

  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    app.listen(config.host, config.port, (socket) => {
      if (socket === false) reject(new ListenError(config.host, config.port));
      else resolve(socket);
    });
  });
  const port = uWS.us_socket_local_port(listenSocket as never);
  let listening = true;
  const stopListening = (): void => {
    if (!listening) return;
    listening = false;
    uWS.us_listen_socket_close(listenSocket);
  };

  // Operators revoke tokens or users on one core subject; every gateway obeys (4001).
  const revocations = deps.bus.subscribe(names.authRevoke, (msg) => {
    const revocation = parseRevocation(msg.data);
    if (revocation === null) {
      deps.logger.warn({ subject: msg.subject }, "ignored a malformed revocation message");
      return;
    }
    ctx.revoke(revocation);
  });
  // Live sets published while the bus was disconnected were lost: check every feed (feed-hub.ts).
  const reconnects = deps.bus.onReconnect?.(() => {
    hub.resync().then(
      (users) => {
        metrics.reconnectResyncs.inc(users);
        deps.logger.info({ users }, "feeds checked after a bus reconnect");
      },
      (err: unknown) => deps.logger.warn({ err }, "feed check after a bus reconnect failed"),
    );
  });

  const ticker = setInterval(() => {
    const t = now();
    for (const c of ctx.connections) c.tick(t);
  }, tickIntervalMs(config.heartbeatMs));
  ticker.unref();

  deps.logger.info({ host: config.host, port }, "gateway listening");

  let draining: Promise<void> | null = null;
  const drain = (): Promise<void> => {
    if (draining !== null) return draining;
    ctx.draining = true;
    stopListening();
    draining = (async () => {
      const timers: NodeJS.Timeout[] = [];
      for (const c of [...ctx.connections]) {
        timers.push(
          setTimeout(
            () => c.goAway("server draining"),
            Math.floor(random() * config.drainWindowMs),
          ),
        );
      }
      let deadline: NodeJS.Timeout | undefined;
      const cut = new Promise<void>((resolve) => {
        deadline = setTimeout(() => {
          for (const c of [...ctx.connections]) c.terminate();
          resolve();
        }, config.drainWindowMs + DRAIN_GRACE_MS);
      });
      await Promise.race([ctx.whenEmpty(), cut]);
      clearTimeout(deadline);
      for (const t of timers) clearTimeout(t);
      await devices.flush();
      deps.logger.info({}, "gateway drained");
    })();
    return draining;
  };

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    if (closing !== null) return closing;
    ctx.closed = true;
    ctx.draining = true;
    stopListening();
    clearInterval(ticker);
    revocations.unsubscribe();
    reconnects?.unsubscribe();
    for (const c of [...ctx.connections]) c.terminate();
    hub.close();
    closing = Promise.resolve();
    return closing;
  };

  return {
    port,
    ready: () => listening && ctx.ready(),
    drain,
    close,
  };
}
