// @drivecast/ingest: the pre-processor. Kafka audit records → DocEvents on DRIVE_EVENTS.
export { startIngest, DEFAULT_INGEST_CONFIG } from "./ingest.js";
export type { IngestConfig, IngestDeps, IngestHandle, IngestNuxeo } from "./ingest.js";
export { parseIngestConfig } from "./config.js";
export type { IngestProcessConfig } from "./config.js";
export { createKafkaSource } from "./source-kafka.js";
export type { KafkaSourceOptions } from "./source-kafka.js";
export { createMemorySource } from "./source-memory.js";
export type { MemorySource } from "./source-memory.js";
export type { RecordSource, SourceRecord, BatchHandler } from "./source.js";
export { classify, DOCUMENT_EVENTS, ROOT_EVENTS, GROUP_EVENTS } from "./filter.js";
export type { RootIndex } from "./roots.js";
