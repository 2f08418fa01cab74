// The ingest's settings, from `DRIVECAST_*` environment variables (documented in the README).
import { commonConfig, settings, type CommonConfig, type Env } from "@drivecast/bus";
import { DEFAULT_INGEST_CONFIG, type IngestConfig } from "./ingest.js";

export interface IngestProcessConfig {
  common: CommonConfig;
  ingest: IngestConfig;
  kafka: { brokers: string[]; topics: string[]; groupId: string; clientId: string };
  codec: "avro" | "avroBinary" | "avroJson";
  schemaDir: string | undefined;
}

export function parseIngestConfig(env: Env): IngestProcessConfig {
  const s = settings(env);
  const common = commonConfig(s, { adminPort: 9464 });
  const d = DEFAULT_INGEST_CONFIG;
  return {
    common,
    ingest: {
      shardCount: common.shardCount,
      naming: common.naming,
      replicas: common.replicas,
      eventsMaxAgeMs: s.int("DRIVECAST_EVENTS_MAX_AGE_MS", d.eventsMaxAgeMs, 60_000),
      duplicateWindowMs: s.int("DRIVECAST_DUPLICATE_WINDOW_MS", d.duplicateWindowMs, 1_000),
      deadLetterMaxAgeMs: s.int("DRIVECAST_DEADLETTER_MAX_AGE_MS", d.deadLetterMaxAgeMs, 60_000),
      folderCacheSize: s.int("DRIVECAST_FOLDER_CACHE_SIZE", d.folderCacheSize, 0),
      bootstrapRoots: s.bool("DRIVECAST_BOOTSTRAP_ROOTS", d.bootstrapRoots),
    },
    kafka: {
      brokers: s.list("DRIVECAST_KAFKA_BROKERS", ["127.0.0.1:9092"]),
      topics: s.list("DRIVECAST_KAFKA_TOPICS", ["nuxeo-audit-audit"]),
      groupId: s.string("DRIVECAST_KAFKA_GROUP", "drivecast-ingest"),
      clientId: s.string("DRIVECAST_KAFKA_CLIENT_ID", "drivecast-ingest"),
    },
    codec: s.oneOf("DRIVECAST_CODEC", ["avro", "avroBinary", "avroJson"] as const, "avro"),
    schemaDir: s.optionalString("DRIVECAST_SCHEMA_DIR"),
  };
}
