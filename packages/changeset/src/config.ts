// The changeset worker's settings, from `DRIVECAST_*` environment variables (see the README).
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { commonConfig, ConfigError, settings, type CommonConfig, type Env } from "@drivecast/bus";
import { DEFAULT_CHANGESET_CONFIG, type ChangesetConfig } from "./changeset.js";

export interface ChangesetProcessConfig {
  common: CommonConfig;
  changeset: ChangesetConfig;
}

const MAX_WINDOW_MS = 30_000;

export function parseChangesetConfig(env: Env): ChangesetProcessConfig {
  const s = settings(env);
  const common = commonConfig(s, { adminPort: 9465 });
  const d = DEFAULT_CHANGESET_CONFIG;
  const defaultId = `${hostname().replace(/[^A-Za-z0-9_-]/g, "-")}-${randomUUID().slice(0, 8)}`;
  const workerId = s.string("DRIVECAST_WORKER_ID", defaultId);
  if (!/^[A-Za-z0-9_-]+$/.test(workerId)) {
    throw new ConfigError("DRIVECAST_WORKER_ID", "may contain only letters, digits, - and _");
  }
  const maxDelayMs = s.int("DRIVECAST_FLUSH_MAX_DELAY_MS", d.maxDelayMs, 1, MAX_WINDOW_MS);
  const leaseTtlMs = s.int("DRIVECAST_LEASE_TTL_MS", d.leaseTtlMs, 300, 300_000);
  const feedMaxAgeMs = s.int("DRIVECAST_FEED_MAX_AGE_MS", d.feedMaxAgeMs, 120_000);
  const changeset: ChangesetConfig = {
    workerId,
    shardCount: common.shardCount,
    naming: common.naming,
    replicas: common.replicas,
    leaseTtlMs,
    quietMs: s.int("DRIVECAST_FLUSH_QUIET_MS", d.quietMs, 0, MAX_WINDOW_MS),
    maxDelayMs,
    maxWindowMs: s.int("DRIVECAST_FLUSH_MAX_WINDOW_MS", d.maxWindowMs, maxDelayMs, MAX_WINDOW_MS),
    flushBudgetPerSecond: s.int("DRIVECAST_FLUSH_BUDGET", d.flushBudgetPerSecond, 1),
    changeLimit: s.int("DRIVECAST_CHANGE_LIMIT", d.changeLimit, 1, 1_000_000),
    feedMaxPerUser: s.int("DRIVECAST_FEED_MAX_PER_USER", d.feedMaxPerUser, 1),
    feedMaxAgeMs,
    batchSize: s.int("DRIVECAST_SHARD_BATCH", d.batchSize, 1, 10_000),
    ackWaitMs: s.int("DRIVECAST_EVENTS_ACK_WAIT_MS", d.ackWaitMs, 300, 600_000),
    maxAckPending: s.int("DRIVECAST_EVENTS_MAX_ACK_PENDING", d.maxAckPending, 1, 1_000_000),
    actorIdleMs: s.int("DRIVECAST_ACTOR_IDLE_MS", d.actorIdleMs, 1_000),
    maxActors: s.int("DRIVECAST_ACTORS_MAX", d.maxActors, 1),
    groupsTtlMs: s.int("DRIVECAST_GROUPS_TTL_MS", d.groupsTtlMs, 0),
    groupsCacheSize: s.int("DRIVECAST_GROUPS_CACHE_SIZE", d.groupsCacheSize, 1),
    releaseTimeoutMs: s.int("DRIVECAST_SHARD_RELEASE_TIMEOUT_MS", d.releaseTimeoutMs, 0),
    deviceMaxAgeMs: s.int("DRIVECAST_DEVICE_MAX_AGE_MS", feedMaxAgeMs, 60_000),
    deviceSweepMs: s.int("DRIVECAST_DEVICE_SWEEP_MS", d.deviceSweepMs, 0),
  };
  if (changeset.quietMs > changeset.maxDelayMs) {
    throw new ConfigError(
      "DRIVECAST_FLUSH_QUIET_MS",
      "must not exceed DRIVECAST_FLUSH_MAX_DELAY_MS",
    );
  }
  return { common, changeset };
}
