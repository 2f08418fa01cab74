// The ingest's settings, from `DRIVECAST_*` environment variables (documented in the README).
import {
  ConfigError,
  commonConfig,
  settings,
  type CommonConfig,
  type Env,
  type Settings,
} from "@drivecast/bus";
import { RecordCodec, type Naming } from "@drivecast/protocol";
import { DEFAULT_INGEST_CONFIG } from "./ingest.js";
import type { IngestConfig } from "./types.js";

export interface KafkaConfig {
  brokers: string[];
  topics: string[];
  groupId: string;
  clientId: string;
  fromBeginning: boolean;
  sessionTimeoutMs: number;
  concurrency: number;
  maxBytesPerPartition: number;
  batchSize: number;
}

export interface CodecConfig {
  codec: RecordCodec;
  /** Folder of extra `*.avsc` writer schemas (codec avro). */
  schemaDir: string | undefined;
  /** avroBinary/avroJson: "2023", "2021", or the path of an .avsc file. */
  writerSchema: string;
  /** avroConfluent: Confluent-compatible schema registry. */
  schemaRegistryUrl: string | undefined;
}

export interface IngestProcessConfig {
  common: CommonConfig;
  ingest: IngestConfig;
  kafka: KafkaConfig;
  codec: CodecConfig;
  nuxeoTimeoutMs: number;
  /** Document uids per `ecm:uuid IN (…)` request. */
  nuxeoBatchSize: number;
  drainTimeoutMs: number;
}

const CODECS = [
  RecordCodec.Avro,
  RecordCodec.AvroBinary,
  RecordCodec.AvroJson,
  RecordCodec.AvroConfluent,
] as const;

function kafkaConfig(s: Settings): KafkaConfig {
  return {
    brokers: s.list("DRIVECAST_KAFKA_BROKERS", ["127.0.0.1:9092"]),
    topics: s.list("DRIVECAST_KAFKA_TOPICS", ["nuxeo-audit-audit"]),
    groupId: s.string("DRIVECAST_KAFKA_GROUP", "drivecast-ingest"),
    clientId: s.string("DRIVECAST_KAFKA_CLIENT_ID", "drivecast-ingest"),
    fromBeginning: s.bool("DRIVECAST_KAFKA_FROM_BEGINNING", true),
    sessionTimeoutMs: s.int("DRIVECAST_KAFKA_SESSION_TIMEOUT_MS", 30_000, 6_000, 300_000),
    concurrency: s.int("DRIVECAST_KAFKA_CONCURRENCY", 1, 1, 64),
    maxBytesPerPartition: s.int("DRIVECAST_KAFKA_MAX_BYTES_PER_PARTITION", 1_048_576, 1_024),
    batchSize: s.int("DRIVECAST_BATCH_SIZE", 500, 1, 100_000),
  };
}

function naming(s: Settings): Naming {
  return {
    prefix: s.string("DRIVECAST_NAME_PREFIX", ""),
    subjectPrefix: s.string("DRIVECAST_SUBJECT_PREFIX", ""),
  };
}

export function parseIngestConfig(env: Env): IngestProcessConfig {
  const s = settings(env);
  const common = commonConfig(s, { adminPort: 9464 });
  const d = DEFAULT_INGEST_CONFIG;
  const kafka = kafkaConfig(s);
  const codec: CodecConfig = {
    codec: s.oneOf("DRIVECAST_CODEC", CODECS, RecordCodec.Avro),
    schemaDir: s.optionalString("DRIVECAST_SCHEMA_DIR"),
    writerSchema: s.string("DRIVECAST_WRITER_SCHEMA", "2023"),
    schemaRegistryUrl: s.optionalString("DRIVECAST_SCHEMA_REGISTRY_URL"),
  };
  if (codec.codec === RecordCodec.AvroConfluent && codec.schemaRegistryUrl === undefined) {
    throw new ConfigError(
      "DRIVECAST_SCHEMA_REGISTRY_URL",
      "is required with DRIVECAST_CODEC=avroConfluent: set it to the Confluent-compatible schema " +
        "registry Nuxeo's avroConfluent codec writes to (e.g. http://registry:8081)",
    );
  }
  if (codec.schemaRegistryUrl !== undefined) s.url("DRIVECAST_SCHEMA_REGISTRY_URL");
  const duplicateWindowMs = s.int("DRIVECAST_DUPLICATE_WINDOW_MS", d.duplicateWindowMs, 1_000);
  if (duplicateWindowMs < 2 * kafka.sessionTimeoutMs) {
    throw new ConfigError(
      "DRIVECAST_DUPLICATE_WINDOW_MS",
      `must be at least twice DRIVECAST_KAFKA_SESSION_TIMEOUT_MS (${kafka.sessionTimeoutMs} ms): ` +
        "a crashed instance's batch is redelivered after its session expires, and the duplicate " +
        "window must still cover its first publishes then (default 600000)",
    );
  }
  const drainTimeoutMs = s.int("DRIVECAST_DRAIN_TIMEOUT_MS", 30_000, 1_000);
  return {
    common,
    ingest: {
      shardCount: common.shardCount,
      naming: common.naming,
      replicas: common.replicas,
      eventsMaxAgeMs: s.int("DRIVECAST_EVENTS_MAX_AGE_MS", d.eventsMaxAgeMs, 60_000),
      duplicateWindowMs,
      deadLetterMaxAgeMs: s.int("DRIVECAST_DEADLETTER_MAX_AGE_MS", d.deadLetterMaxAgeMs, 60_000),
      folderCacheSize: s.int("DRIVECAST_FOLDER_CACHE_SIZE", d.folderCacheSize, 1),
      folderTtlMs: s.int("DRIVECAST_FOLDER_TTL_MS", d.folderTtlMs, 1_000),
      bootstrapRoots: s.bool("DRIVECAST_BOOTSTRAP_ROOTS", d.bootstrapRoots),
      repositories: s.list("DRIVECAST_REPOSITORIES", d.repositories),
      bootstrapPageSize: s.int("DRIVECAST_BOOTSTRAP_PAGE_SIZE", d.bootstrapPageSize, 1, 1_000),
      maxInFlightPublishes: s.int("DRIVECAST_MAX_IN_FLIGHT", d.maxInFlightPublishes, 1),
      retryBaseMs: d.retryBaseMs,
      retryMaxMs: d.retryMaxMs,
    },
    kafka,
    codec,
    nuxeoTimeoutMs: s.int("DRIVECAST_NUXEO_TIMEOUT_MS", 10_000, 100),
    // 140 uuids make a ~6.5 KB request line: under the 8 KB Tomcat (and most proxies) accept by
    // default for the request line and headers together, with room for the headers. Each
    // request costs Nuxeo about the same whatever the count, so fewer, fuller ones are cheaper.
    nuxeoBatchSize: s.int("DRIVECAST_NUXEO_BATCH_SIZE", 140, 1, 1_000),
    drainTimeoutMs,
  };
}

/** What `drivecast-ingest deadletters …` needs: NATS, names, and Kafka for replays. */
export interface DeadLetterCliConfig {
  natsUrl: string;
  naming: Naming;
  kafkaBrokers: string[];
}

export function parseDeadLetterCliConfig(env: Env): DeadLetterCliConfig {
  const s = settings(env);
  return {
    natsUrl: s.url("DRIVECAST_NATS_URL", "nats://127.0.0.1:4222"),
    naming: naming(s),
    kafkaBrokers: s.list("DRIVECAST_KAFKA_BROKERS", ["127.0.0.1:9092"]),
  };
}
