// The gateway's Prometheus metrics, registered once on the injected registry.
import { Counter, Gauge } from "@drivecast/bus";
import type { Registry } from "@drivecast/bus";

export interface GatewayMetrics {
  connections: Gauge<"protocol">;
  users: Gauge;
  messagesOut: Counter<"type">;
  /** `messagesOut` for one message of `type` (label children cached: a hot path). */
  messageSent(type: string): void;
  replayedChangeSets: Counter;
  closes: Counter<"code">;
  backpressureDrops: Counter<"transport">;
  httpRequests: Counter<"endpoint" | "status">;
  gapRepairs: Counter;
  tokenRechecks: Counter<"outcome">;
  reconnectResyncs: Counter;
}

/** Creates the gateway metrics on `registry` (once per registry). */
export function createGatewayMetrics(registry: Registry): GatewayMetrics {
  const registers = [registry];
  const messagesOut = new Counter({
    name: "drivecast_gateway_messages_out_total",
    help: "Messages sent to clients, by type",
    labelNames: ["type"],
    registers,
  });
  const byType = new Map<string, { inc(): void }>();
  return {
    messagesOut,
    messageSent(type) {
      let child = byType.get(type);
      if (child === undefined) {
        child = messagesOut.labels({ type });
        byType.set(type, child);
      }
      child.inc();
    },
    connections: new Gauge({
      name: "drivecast_gateway_connections",
      help: "Open client connections, by protocol (json, msgpack, sse)",
      labelNames: ["protocol"],
      registers,
    }),
    users: new Gauge({
      name: "drivecast_gateway_users",
      help: "Users with at least one connection on this process (one feed subscription each)",
      registers,
    }),
    replayedChangeSets: new Counter({
      name: "drivecast_gateway_replayed_change_sets_total",
      help: "Change sets sent from the retained history (not live)",
      registers,
    }),
    closes: new Counter({
      name: "drivecast_gateway_closes_total",
      help: "Connections closed, by close code",
      labelNames: ["code"],
      registers,
    }),
    backpressureDrops: new Counter({
      name: "drivecast_gateway_backpressure_drops_total",
      help: "Connections closed because their send buffer exceeded the limit",
      labelNames: ["transport"],
      registers,
    }),
    httpRequests: new Counter({
      name: "drivecast_gateway_http_requests_total",
      help: "HTTP requests, by endpoint and status",
      labelNames: ["endpoint", "status"],
      registers,
    }),
    gapRepairs: new Counter({
      name: "drivecast_gateway_gap_repairs_total",
      help: "Re-reads of a feed after a live change set did not follow a device's cursor",
      registers,
    }),
    tokenRechecks: new Counter({
      name: "drivecast_gateway_token_rechecks_total",
      help: "Tokens of open WebSockets checked again at a request after the cache TTL, by outcome (ok, revoked, error)",
      labelNames: ["outcome"],
      registers,
    }),
    reconnectResyncs: new Counter({
      name: "drivecast_gateway_reconnect_resyncs_total",
      help: "Users whose feed was checked against the stream after a reconnect of the bus",
      registers,
    }),
  };
}
