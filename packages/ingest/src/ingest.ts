// The ingest worker: wiring of source → pipeline → bus, plus the root index and operations.
import { randomUUID } from "node:crypto";
import { type Subscription } from "@drivecast/bus";
import { Names, msgpackCodec } from "@drivecast/protocol";
import { createBaker } from "./bake.js";
import { ingestDecoderOf } from "./decoder.js";
import { createIngestMetrics, type IngestMetrics } from "./metrics.js";
import { createPipeline } from "./pipeline.js";
import { createPublisher } from "./publish.js";
import { bootstrapRoots, createRootIndex } from "./roots.js";
import type { IngestConfig, IngestDeps, IngestHandle } from "./types.js";

export const DEFAULT_INGEST_CONFIG: IngestConfig = {
  shardCount: 64,
  naming: { prefix: "", subjectPrefix: "" },
  eventsMaxAgeMs: 7 * 24 * 3600_000,
  duplicateWindowMs: 10 * 60_000,
  deadLetterMaxAgeMs: 30 * 24 * 3600_000,
  replicas: 1,
  folderCacheSize: 50_000,
  folderTtlMs: 10 * 60_000,
  bootstrapRoots: true,
  repositories: ["default"],
  bootstrapPageSize: 500,
  maxInFlightPublishes: 1024,
  retryBaseMs: 100,
  retryMaxMs: 5_000,
};

/** Folders one instance saw change, for the others' caches (core NATS, best effort). */
interface InvalidationMessage {
  origin: string;
  repository: string;
  uids: string[];
}
const invalidationCodec = msgpackCodec<InvalidationMessage>();

/**
 * Subject of folder-cache invalidations between ingest instances. Ingest-internal (no other
 * role reads it), hence defined here rather than in the protocol's Names. Losing one only
 * leaves a folder snapshot stale until its TTL.
 */
export function invalidationSubject(naming: IngestConfig["naming"]): string {
  return `${naming.subjectPrefix}drive.ingest.invalidate`;
}

export async function startIngest(
  config: IngestConfig,
  deps: IngestDeps & { metrics?: IngestMetrics },
): Promise<IngestHandle> {
  const { bus, source, nuxeo, logger } = deps;
  const decoder = ingestDecoderOf(deps.decoder);
  const instanceId = deps.instanceId ?? randomUUID();
  const names = new Names(config.naming);
  const metrics = deps.metrics ?? createIngestMetrics(deps.registry);

  async function ensureStreams(): Promise<void> {
    await bus.streams.ensure({
      name: names.eventsStream,
      subjects: [names.eventsSubjects],
      maxAgeMs: config.eventsMaxAgeMs,
      duplicateWindowMs: config.duplicateWindowMs,
      replicas: config.replicas,
    });
    await bus.streams.ensure({
      name: names.deadLetterStream,
      subjects: [names.deadLetterSubjects],
      maxAgeMs: config.deadLetterMaxAgeMs,
      duplicateWindowMs: config.duplicateWindowMs,
      replicas: config.replicas,
    });
  }
  await ensureStreams();

  const kv = await bus.kv({ bucket: names.rootsBucket, history: 1, replicas: config.replicas });
  const roots = await createRootIndex(kv, {
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
  });
  await roots.ready();
  if (config.bootstrapRoots) {
    await bootstrapRoots(kv, roots, nuxeo, {
      repositories: config.repositories,
      pageSize: config.bootstrapPageSize,
      owner: instanceId,
      logger,
    });
  }
  metrics.roots(roots.size());

  const baker = createBaker(nuxeo, {
    folderCacheSize: config.folderCacheSize,
    folderTtlMs: config.folderTtlMs,
  });
  const subject = invalidationSubject(config.naming);
  let invalidations: Subscription | null = bus.subscribe(subject, (msg) => {
    const m = invalidationCodec.decode(msg.data);
    if (m.origin !== instanceId) baker.invalidateSubtrees(m.repository, m.uids);
  });

  const publisher = createPublisher({
    streams: bus.streams,
    maxInFlight: config.maxInFlightPublishes,
    retryBaseMs: config.retryBaseMs,
    retryMaxMs: config.retryMaxMs,
    ensureStreams,
    onPublished: (kind, seconds, duplicate) => metrics.published(kind, seconds, duplicate),
    onRetry: (error, attempt) => {
      metrics.publishRetried();
      if (attempt === 1 || attempt % 20 === 0) {
        logger.warn(
          { err: error, attempt },
          "JetStream publish failed; retrying (NATS slow or down)",
        );
      }
    },
  });
  const pipeline = createPipeline({
    names,
    shardCount: config.shardCount,
    decoder,
    baker,
    nuxeo,
    roots,
    publisher,
    metrics: metrics.pipeline,
    logger,
    onInvalidate(repository, uids) {
      try {
        bus.publish(subject, invalidationCodec.encode({ origin: instanceId, repository, uids }));
      } catch (error) {
        logger.warn({ err: error }, "could not tell other ingest instances about changed folders");
      }
    },
  });

  let lastStats = { hits: 0, misses: 0 };
  await source.start(async (batch, signal) => {
    const started = performance.now();
    let ok = false;
    try {
      await pipeline(batch, signal);
      ok = true;
    } finally {
      metrics.batch((performance.now() - started) / 1000, ok);
      const s = baker.stats;
      metrics.folderCache(s.hits - lastStats.hits, s.misses - lastStats.misses, baker.size);
      lastStats = { hits: s.hits, misses: s.misses };
      metrics.roots(roots.size());
    }
  });
  logger.info(
    { instanceId, shards: config.shardCount, roots: roots.size(), codec: decoder.codec },
    "ingest started",
  );

  const readiness = () => ({ kafka: source.isReady(), nats: bus.isConnected() });
  return {
    readiness,
    ready() {
      const r = readiness();
      return r.kafka && r.nats;
    },
    rootCount: () => roots.size(),
    async drain() {
      await source.stop();
      invalidations?.unsubscribe();
      invalidations = null;
      roots.stop();
    },
  };
}
