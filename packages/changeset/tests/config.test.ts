import { describe, expect, it } from "vitest";
import { ConfigError } from "@drivecast/bus";
import { DEFAULT_CHANGESET_CONFIG, parseChangesetConfig } from "@drivecast/changeset";

const base = { DRIVECAST_NUXEO_USER: "svc", DRIVECAST_NUXEO_PASSWORD: "secret" };

describe("changeset config", () => {
  it("config - defaults match DEFAULT_CHANGESET_CONFIG", () => {
    const { changeset, common } = parseChangesetConfig({ ...base, DRIVECAST_WORKER_ID: "w1" });
    expect(changeset).toEqual({ ...DEFAULT_CHANGESET_CONFIG, workerId: "w1" });
    expect(common.admin.port).toBe(9465);
  });

  it("config - every setting is read from its DRIVECAST_* variable", () => {
    const { changeset } = parseChangesetConfig({
      ...base,
      DRIVECAST_WORKER_ID: "worker_2",
      DRIVECAST_SHARDS: "16",
      DRIVECAST_REPLICAS: "3",
      DRIVECAST_NAME_PREFIX: "T_",
      DRIVECAST_SUBJECT_PREFIX: "t.",
      DRIVECAST_LEASE_TTL_MS: "5000",
      DRIVECAST_FLUSH_QUIET_MS: "100",
      DRIVECAST_FLUSH_MAX_DELAY_MS: "1000",
      DRIVECAST_FLUSH_MAX_WINDOW_MS: "20000",
      DRIVECAST_FLUSH_BUDGET: "300",
      DRIVECAST_CHANGE_LIMIT: "50",
      DRIVECAST_FEED_MAX_PER_USER: "200",
      DRIVECAST_FEED_MAX_AGE_MS: "86400000",
      DRIVECAST_SHARD_BATCH: "64",
      DRIVECAST_EVENTS_ACK_WAIT_MS: "3000",
      DRIVECAST_EVENTS_MAX_ACK_PENDING: "5000",
      DRIVECAST_ACTOR_IDLE_MS: "60000",
      DRIVECAST_ACTORS_MAX: "1000",
      DRIVECAST_GROUPS_TTL_MS: "1000",
      DRIVECAST_GROUPS_CACHE_SIZE: "10",
      DRIVECAST_SHARD_RELEASE_TIMEOUT_MS: "2000",
      DRIVECAST_DEVICE_MAX_AGE_MS: "3600000",
      DRIVECAST_DEVICE_SWEEP_MS: "0",
    });
    expect(changeset).toEqual({
      workerId: "worker_2",
      shardCount: 16,
      replicas: 3,
      naming: { prefix: "T_", subjectPrefix: "t." },
      leaseTtlMs: 5000,
      quietMs: 100,
      maxDelayMs: 1000,
      maxWindowMs: 20000,
      flushBudgetPerSecond: 300,
      changeLimit: 50,
      feedMaxPerUser: 200,
      feedMaxAgeMs: 86_400_000,
      batchSize: 64,
      ackWaitMs: 3000,
      maxAckPending: 5000,
      actorIdleMs: 60000,
      maxActors: 1000,
      groupsTtlMs: 1000,
      groupsCacheSize: 10,
      releaseTimeoutMs: 2000,
      deviceMaxAgeMs: 3_600_000,
      deviceSweepMs: 0,
    });
  });

  it("config - the device max age defaults to the feeds' max age", () => {
    const { changeset } = parseChangesetConfig({ ...base, DRIVECAST_FEED_MAX_AGE_MS: "7200000" });
    expect(changeset.deviceMaxAgeMs).toBe(7_200_000);
  });

  it("config - windows are capped at 30 s and the quiet period within the maximum delay", () => {
    expect(() => parseChangesetConfig({ ...base, DRIVECAST_FLUSH_MAX_DELAY_MS: "31000" })).toThrow(
      ConfigError,
    );
    expect(() => parseChangesetConfig({ ...base, DRIVECAST_FLUSH_MAX_WINDOW_MS: "60000" })).toThrow(
      ConfigError,
    );
    expect(() => parseChangesetConfig({ ...base, DRIVECAST_FLUSH_QUIET_MS: "3000" })).toThrow(
      /must not exceed/,
    );
    expect(() =>
      parseChangesetConfig({
        ...base,
        DRIVECAST_FLUSH_MAX_DELAY_MS: "30000",
        DRIVECAST_FLUSH_MAX_WINDOW_MS: "30000",
      }),
    ).not.toThrow();
  });

  it("config - a worker id with other characters is refused, naming the setting", () => {
    expect(() => parseChangesetConfig({ ...base, DRIVECAST_WORKER_ID: "a.b" })).toThrow(
      /DRIVECAST_WORKER_ID/,
    );
  });

  it("config - the default worker id is unique per process and subject-safe", () => {
    const a = parseChangesetConfig(base).changeset.workerId;
    const b = parseChangesetConfig(base).changeset.workerId;
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
