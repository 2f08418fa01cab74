// The gateway's settings from `DRIVECAST_*` environment variables (documented in the README).
import { commonConfig, settings, type CommonConfig, type Env } from "@drivecast/bus";
import { DEFAULT_GATEWAY_CONFIG, gatewayConfig } from "./config.js";
import type { GatewayConfig } from "./types.js";

export interface GatewayProcessConfig {
  common: CommonConfig;
  gateway: GatewayConfig;
}

export function parseGatewayConfig(env: Env): GatewayProcessConfig {
  const s = settings(env);
  const common = commonConfig(s, { adminPort: 9466 });
  const d = DEFAULT_GATEWAY_CONFIG;
  const gateway = gatewayConfig({
    host: s.string("DRIVECAST_GATEWAY_HOST", d.host),
    port: s.int("DRIVECAST_GATEWAY_PORT", d.port, 0, 65_535),
    shardCount: common.shardCount,
    naming: common.naming,
    heartbeatMs: s.int("DRIVECAST_HEARTBEAT_MS", d.heartbeatMs, 1_000, 600_000),
    maxMessageBytes: s.int(
      "DRIVECAST_MAX_MESSAGE_BYTES",
      d.maxMessageBytes,
      1_024,
      16 * 1024 * 1024,
    ),
    maxBufferedBytes: s.int("DRIVECAST_MAX_BUFFERED_BYTES", d.maxBufferedBytes, 1_024),
    maxConnectionsPerUser: s.int("DRIVECAST_MAX_CONNECTIONS_PER_USER", d.maxConnectionsPerUser, 1),
    rateLimit: {
      perSecond: s.int("DRIVECAST_RATE_PER_SECOND", d.rateLimit.perSecond, 1),
      burst: s.int("DRIVECAST_RATE_BURST", d.rateLimit.burst, 1),
    },
    maxLifetimeMs: s.int("DRIVECAST_MAX_LIFETIME_MS", d.maxLifetimeMs, 0),
    lifetimeJitterMs: s.int("DRIVECAST_LIFETIME_JITTER_MS", d.lifetimeJitterMs, 0),
    drainWindowMs: s.int("DRIVECAST_DRAIN_WINDOW_MS", d.drainWindowMs, 0),
    feedMaxAgeMs: s.int("DRIVECAST_FEED_MAX_AGE_MS", d.feedMaxAgeMs, 120_000),
    authCacheTtlMs: s.int("DRIVECAST_AUTH_CACHE_TTL_MS", d.authCacheTtlMs, 0),
    authCacheMax: s.int("DRIVECAST_AUTH_CACHE_SIZE", d.authCacheMax, 1),
    maxBatchSize: s.int("DRIVECAST_MAX_BATCH_SIZE", d.maxBatchSize, 1),
    scrollKeepAliveMs: s.int("DRIVECAST_SCROLL_KEEPALIVE_MS", d.scrollKeepAliveMs, 1_000),
    changeLimit: s.int("DRIVECAST_CHANGE_LIMIT", d.changeLimit, 1),
    rpcTimeoutMs: s.int("DRIVECAST_RPC_TIMEOUT_MS", d.rpcTimeoutMs, 100),
  });
  return { common, gateway };
}
