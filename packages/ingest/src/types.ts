// Public interfaces of the ingest: where records come from, what it needs from Nuxeo, its
// configuration and the handle of a running ingest.
import type { Bus, Logger, Registry } from "@drivecast/bus";
import type { DocSnapshot, Naming, RecordDecoder, SchemaInfo } from "@drivecast/protocol";
import type { NuxeoRecord } from "@drivecast/protocol";

/** One Kafka record as the pipeline sees it. */
export interface SourceRecord {
  topic: string;
  partition: number;
  /** Kafka offset, as a decimal string (64-bit). */
  offset: string;
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** Broker timestamp, epoch ms. */
  timestamp: number;
}

/**
 * Handles one batch of one partition, in offset order. Resolves once every effect of the batch
 * is durable (every publish acknowledged); the source then commits past it. Rejecting makes the
 * source retry the batch after a backoff, without committing: at-least-once. `signal` aborts when
 * the batch must be abandoned (partition revoked, shutdown grace over): the handler then rejects
 * as soon as it can, and the batch is redelivered to whoever owns the partition.
 */
export type BatchHandler = (records: SourceRecord[], signal: AbortSignal) => Promise<void>;

export interface RecordSource {
  /** Starts consuming; resolves once the source is running. */
  start(handler: BatchHandler): Promise<void>;
  /** Stops fetching, lets the batch in flight finish and commit, then disconnects. */
  stop(): Promise<void>;
  /** True while connected, part of the group, and talking to the brokers. */
  isReady(): boolean;
}

/** A document as the Nuxeo client returns it: snapshot plus ancestry (top-down, itself last). */
export interface FetchedDocument {
  snapshot: DocSnapshot;
  breadcrumb: { uid: string; path: string }[];
}

/** What the ingest needs from Nuxeo: a subset of `@drivecast/nuxeo`'s client. */
export interface IngestNuxeo {
  /** The documents that exist among `uids`, by uid (batched NXQL `ecm:uuid IN (…)`). */
  documentsByIds(
    repository: string,
    uids: readonly string[],
  ): Promise<Map<string, FetchedDocument>>;
  /**
   * A group's member users (with `transitive`, those of its subgroups too); null when the group
   * does not exist.
   */
  groupMembers(name: string, options?: { transitive?: boolean }): Promise<string[] | null>;
  /** Every page of a query (root bootstrap). */
  queryAll(
    nxql: string,
    pageSize?: number,
    options?: { repository?: string },
  ): AsyncIterable<{ entries: FetchedDocument[] }>;
}

/**
 * The Record decoder of the ingest: the protocol's synchronous decoder, plus the I/O that
 * completes it (schema folder reload, schema registry fetch) when a record names a writer
 * schema it does not know yet.
 */
export interface IngestDecoder {
  readonly codec: RecordDecoder["codec"];
  /** Synchronous fast path; throws the protocol's DecodeError subclasses. */
  decode(payload: Uint8Array): NuxeoRecord;
  /**
   * Called with what `decode` threw. For an unknown fingerprint (reloads the schema folder) or
   * an unknown registry id (fetches it): resolves true when the schema is now known and the
   * payload should be decoded again, false when it stays unknown (a dead letter). Rejects with
   * a retriable error when the registry cannot be reached (the batch is retried), or with a
   * DecodeError when the registry's schema is unusable.
   */
  recover(error: unknown): Promise<boolean>;
  schemas(): SchemaInfo[];
}

export interface IngestConfig {
  shardCount: number;
  naming: Naming;
  /** DRIVE_EVENTS retention: messages wait there until their shard acknowledges them. */
  eventsMaxAgeMs: number;
  /**
   * JetStream duplicate window of DRIVE_EVENTS and DRIVE_DEADLETTER. Must cover the longest
   * time between a publish and the redelivery of its record (session timeout + restart).
   */
  duplicateWindowMs: number;
  deadLetterMaxAgeMs: number;
  replicas: number;
  /** Folder snapshots kept in the cache. */
  folderCacheSize: number;
  /** How long a cached folder snapshot is trusted when no event invalidated it. */
  folderTtlMs: number;
  /** Bootstrap the root index from Nuxeo when the bucket was never bootstrapped. */
  bootstrapRoots: boolean;
  /** Repositories whose sync roots the bootstrap reads. */
  repositories: string[];
  /** NXQL page size of the bootstrap. */
  bootstrapPageSize: number;
  /** Publishes in flight at most (per process): bounds memory when NATS is slow. */
  maxInFlightPublishes: number;
  /** Backoff of retried publishes and KV writes while NATS is away. */
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface IngestDeps {
  bus: Bus;
  source: RecordSource;
  nuxeo: IngestNuxeo;
  /** A bare protocol decoder is accepted too: it then looks for no schema it does not know. */
  decoder: IngestDecoder | RecordDecoder;
  logger: Logger;
  registry: Registry;
  /** Identifies this process in logs and cache-invalidation messages. Default: random. */
  instanceId?: string;
}

export type IngestReadiness = {
  kafka: boolean;
  nats: boolean;
};

export interface IngestHandle {
  /** Kafka and NATS both up (the admin endpoint's /readyz). */
  ready(): boolean;
  readiness(): IngestReadiness;
  /** Sync roots known to this instance. */
  rootCount(): number;
  /** Stop consuming, finish and commit the batch in flight, release resources. */
  drain(): Promise<void>;
}
