import { describe, expect, it } from "vitest";
import { ConfigError } from "@drivecast/bus";
import { DEFAULT_INGEST_CONFIG, parseDeadLetterCliConfig, parseIngestConfig } from "../src/mod.js";

const base = { DRIVECAST_NUXEO_USER: "Administrator", DRIVECAST_NUXEO_PASSWORD: "Administrator" };

function configError(env: Record<string, string>): ConfigError {
  try {
    parseIngestConfig({ ...base, ...env });
  } catch (e) {
    return e as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("config", () => {
  it("config - defaults", () => {
    const c = parseIngestConfig(base);
    expect(c.kafka).toMatchObject({
      brokers: ["127.0.0.1:9092"],
      topics: ["nuxeo-audit-audit"],
      groupId: "drivecast-ingest",
      batchSize: 500,
      concurrency: 1,
      fromBeginning: true,
    });
    expect(c.codec).toEqual({
      codec: "avro",
      schemaDir: undefined,
      writerSchema: "2023",
      schemaRegistryUrl: undefined,
    });
    expect(c.ingest).toEqual({ ...DEFAULT_INGEST_CONFIG });
    expect(c.common.admin.port).toBe(9464);
  });

  it("config - reads every setting", () => {
    const c = parseIngestConfig({
      ...base,
      DRIVECAST_KAFKA_BROKERS: "k1:9092, k2:9092",
      DRIVECAST_KAFKA_TOPICS: "a,b",
      DRIVECAST_KAFKA_GROUP: "g",
      DRIVECAST_KAFKA_CONCURRENCY: "4",
      DRIVECAST_BATCH_SIZE: "100",
      DRIVECAST_CODEC: "avroConfluent",
      DRIVECAST_SCHEMA_REGISTRY_URL: "http://registry:8081",
      DRIVECAST_SHARDS: "16",
      DRIVECAST_REPOSITORIES: "default,other",
      DRIVECAST_FOLDER_CACHE_SIZE: "10",
      DRIVECAST_MAX_IN_FLIGHT: "32",
    });
    expect(c.kafka.brokers).toEqual(["k1:9092", "k2:9092"]);
    expect(c.kafka.topics).toEqual(["a", "b"]);
    expect(c.kafka.concurrency).toBe(4);
    expect(c.codec.codec).toBe("avroConfluent");
    expect(c.codec.schemaRegistryUrl).toBe("http://registry:8081");
    expect(c.ingest.shardCount).toBe(16);
    expect(c.ingest.repositories).toEqual(["default", "other"]);
    expect(c.ingest.folderCacheSize).toBe(10);
    expect(c.ingest.maxInFlightPublishes).toBe(32);
  });

  it("config - avroConfluent without a registry says what to set", () => {
    const e = configError({ DRIVECAST_CODEC: "avroConfluent" });
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.setting).toBe("DRIVECAST_SCHEMA_REGISTRY_URL");
    expect(e.message).toContain("required with DRIVECAST_CODEC=avroConfluent");
  });

  it("config - refuses an unknown codec and a duplicate window shorter than redelivery", () => {
    expect(configError({ DRIVECAST_CODEC: "legacy" }).setting).toBe("DRIVECAST_CODEC");
    const e = configError({
      DRIVECAST_DUPLICATE_WINDOW_MS: "30000",
      DRIVECAST_KAFKA_SESSION_TIMEOUT_MS: "30000",
    });
    expect(e.setting).toBe("DRIVECAST_DUPLICATE_WINDOW_MS");
  });

  it("config - the dead-letter command needs no Nuxeo account", () => {
    expect(parseDeadLetterCliConfig({ DRIVECAST_NAME_PREFIX: "T_" })).toEqual({
      natsUrl: "nats://127.0.0.1:4222",
      naming: { prefix: "T_", subjectPrefix: "" },
      kafkaBrokers: ["127.0.0.1:9092"],
    });
  });
});
