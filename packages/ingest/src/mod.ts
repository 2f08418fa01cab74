// @drivecast/ingest: the pre-processor. Kafka audit records → DocEvents on DRIVE_EVENTS.
export { startIngest, DEFAULT_INGEST_CONFIG, invalidationSubject } from "./ingest.js";
export type {
  BatchHandler,
  FetchedDocument,
  IngestConfig,
  IngestDecoder,
  IngestDeps,
  IngestHandle,
  IngestNuxeo,
  IngestReadiness,
  RecordSource,
  SourceRecord,
} from "./types.js";
export { parseIngestConfig, parseDeadLetterCliConfig } from "./config.js";
export type {
  CodecConfig,
  DeadLetterCliConfig,
  IngestProcessConfig,
  KafkaConfig,
} from "./config.js";
export { createIngestDecoder, ingestDecoderOf, readSchemaDir } from "./decoder.js";
export type { IngestDecoderOptions, SchemaEvent } from "./decoder.js";
export { createSchemaRegistry } from "./schema-registry.js";
export type { SchemaRegistry, SchemaRegistryOptions } from "./schema-registry.js";
export { createKafkaSource } from "./source-kafka.js";
export type { KafkaSourceOptions } from "./source-kafka.js";
export { createMemorySource } from "./source-memory.js";
export type { MemorySource, MemorySourceOptions } from "./source-memory.js";
export { createPipeline, FilterReason, PipelineFailure, noopPipelineMetrics } from "./pipeline.js";
export type { BatchPipeline, PipelineMetrics, PipelineOptions } from "./pipeline.js";
export { createBaker } from "./bake.js";
export type { Baked, Baker, BakerOptions, BakerStats, DocumentSource } from "./bake.js";
export { createPublisher } from "./publish.js";
export type { Publisher, PublisherOptions, PublishBatch, PublishKind } from "./publish.js";
export { createRootIndex, bootstrapRoots, subscribedUsers, BOOTSTRAP_KEY } from "./roots.js";
export type { RootIndex, RootIndexOptions, BootstrapOptions } from "./roots.js";
export { createIngestMetrics } from "./metrics.js";
export type { IngestMetrics } from "./metrics.js";
export {
  DeadLetterHeader,
  deadLetterMessage,
  listDeadLetters,
  replayDeadLetters,
  formatDeadLetter,
  deadLetterJson,
} from "./deadletters.js";
export type { DeadLetter, ListOptions, ReplayResult, ReplaySink } from "./deadletters.js";
export { deadLetterCommand, DEAD_LETTER_USAGE } from "./cli.js";
export type { CliIo } from "./cli.js";
export {
  classify,
  EventKind,
  DOCUMENT_EVENTS,
  ROOT_EVENTS,
  GROUP_EVENTS,
  ANCESTOR_EVENTS,
} from "./filter.js";
export {
  IngestError,
  BatchAbortedError,
  SchemaRegistryError,
  DeadLetterCommandError,
} from "./errors.js";
