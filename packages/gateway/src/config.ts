// Defaults of GatewayConfig (PROTOCOL.md limits) and their validation.
import { DEFAULT_NAMING, DEFAULT_SHARD_COUNT, Defaults } from "@drivecast/protocol";
import { GatewayConfigError } from "./errors.js";
import type { GatewayConfig } from "./types.js";

const DAY_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_GATEWAY_CONFIG: Readonly<GatewayConfig> = Object.freeze({
  host: "0.0.0.0",
  port: 8080,
  shardCount: DEFAULT_SHARD_COUNT,
  naming: DEFAULT_NAMING,
  heartbeatMs: Defaults.heartbeatMs,
  maxMessageBytes: Defaults.maxMessageBytes,
  maxBufferedBytes: 1024 * 1024,
  maxConnectionsPerUser: Defaults.maxConnectionsPerUser,
  rateLimit: { perSecond: 20, burst: 100 },
  maxLifetimeMs: 6 * 60 * 60 * 1000,
  lifetimeJitterMs: 30 * 60 * 1000,
  drainWindowMs: 10_000,
  feedMaxAgeMs: 7 * DAY_MS,
  authCacheTtlMs: 5 * 60 * 1000,
  authCacheMax: 100_000,
  serverVersion: "0.1.0",
  maxBatchSize: Defaults.maxBatchSize,
  scrollKeepAliveMs: Defaults.scrollKeepAliveMs,
  changeLimit: Defaults.changeLimit,
  rpcTimeoutMs: 30_000,
  replayBufferMax: 1000,
});

/** A full configuration: the defaults overridden by `overrides`, validated. */
export function gatewayConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  const c: GatewayConfig = { ...DEFAULT_GATEWAY_CONFIG, ...overrides };
  const positive: (keyof GatewayConfig)[] = [
    "shardCount",
    "heartbeatMs",
    "maxMessageBytes",
    "maxBufferedBytes",
    "maxConnectionsPerUser",
    "feedMaxAgeMs",
    "maxBatchSize",
    "changeLimit",
    "rpcTimeoutMs",
    "replayBufferMax",
  ];
  for (const key of positive) {
    const v = c[key];
    if (typeof v !== "number" || !(v > 0)) {
      throw new GatewayConfigError(key, `must be a positive number, got ${String(v)}`);
    }
  }
  const nonNegative: (keyof GatewayConfig)[] = [
    "port",
    "maxLifetimeMs",
    "lifetimeJitterMs",
    "drainWindowMs",
    "authCacheTtlMs",
    "scrollKeepAliveMs",
  ];
  for (const key of nonNegative) {
    const v = c[key];
    if (typeof v !== "number" || !(v >= 0)) {
      throw new GatewayConfigError(key, `must be a non-negative number, got ${String(v)}`);
    }
  }
  if (!(c.rateLimit.perSecond > 0) || !(c.rateLimit.burst >= 1)) {
    throw new GatewayConfigError("rateLimit", "perSecond must be > 0 and burst >= 1");
  }
  return c;
}
