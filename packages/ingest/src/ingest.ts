// The ingest worker: wiring of source → pipeline → bus, plus the root index and operations.
import {
  Counter,
  Histogram,
  type Bus,
  type Logger,
  type Registry,
} from "@drivecast/bus";
import { Names, type Naming, type RecordDecoder, type DocSnapshot } from "@drivecast/protocol";
import { createBaker, type DocumentSource } from "./bake.js";
import { createPipeline, type GroupSource } from "./pipeline.js";
import { createRootIndex, type RootIndex } from "./roots.js";
import type { RecordSource } from "./source.js";

/** What the ingest needs from Nuxeo: a subset of @drivecast/nuxeo's client. */
export interface IngestNuxeo extends DocumentSource, GroupSource {
  queryAll(
    nxql: string,
    pageSize: number,
  ): AsyncIterable<{ entries: { snapshot: DocSnapshot }[] }>;
}

export interface IngestConfig {
  shardCount: number;
  naming: Naming;
  /** DRIVE_EVENTS retention: messages wait there until their shard acknowledges them. */
  eventsMaxAgeMs: number;
  /** Must cover a Kafka redelivery after a crash (session timeout + restart). */
  duplicateWindowMs: number;
  deadLetterMaxAgeMs: number;
  replicas: number;
  folderCacheSize: number;
  /** Bootstrap the root index from Nuxeo when the bucket is empty. */
  bootstrapRoots: boolean;
}

export const DEFAULT_INGEST_CONFIG: IngestConfig = {
  shardCount: 64,
  naming: { prefix: "", subjectPrefix: "" },
  eventsMaxAgeMs: 7 * 24 * 3600_000,
  duplicateWindowMs: 10 * 60_000,
  deadLetterMaxAgeMs: 30 * 24 * 3600_000,
  replicas: 1,
  folderCacheSize: 100_000,
  bootstrapRoots: true,
};

export interface IngestDeps {
  bus: Bus;
  source: RecordSource;
  nuxeo: IngestNuxeo;
  decoder: RecordDecoder;
  logger: Logger;
  registry: Registry;
}

export interface IngestHandle {
  ready(): boolean;
  readonly roots: RootIndex;
  /** Stop consuming, finish and commit the batch in flight, release resources. */
  drain(): Promise<void>;
}

const BOOTSTRAP_NXQL =
  "SELECT * FROM Document WHERE ecm:mixinType = 'DriveSynchronized' AND ecm:isTrashed = 0 AND ecm:isVersion = 0";

export async function startIngest(config: IngestConfig, deps: IngestDeps): Promise<IngestHandle> {
  const { bus, source, nuxeo, decoder, logger, registry } = deps;
  const names = new Names(config.naming);

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
  const kv = await bus.kv({ bucket: names.rootsBucket, history: 1, replicas: config.replicas });
  const roots = await createRootIndex(kv);
  await roots.ready();

  if (config.bootstrapRoots && roots.size() === 0) {
    let registered = 0;
    for await (const page of nuxeo.queryAll(BOOTSTRAP_NXQL, 500)) {
      for (const { snapshot } of page.entries) {
        for (const s of snapshot.subscriptions) {
          if (!s.enabled) continue;
          await roots.register(snapshot.repository, snapshot.uid, snapshot.path, s.username);
          registered++;
        }
      }
    }
    logger.info({ registered }, "root index bootstrapped from Nuxeo");
  }

  const records = new Counter({
    name: "drivecast_ingest_records_total",
    help: "Audit records by outcome (decoded, ignored, unrouted, routed, deadLetter)",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const deadLetters = new Counter({
    name: "drivecast_ingest_dead_letters_total",
    help: "Records sent to the dead-letter stream, by reason",
    labelNames: ["reason"],
    registers: [registry],
  });
  const publishes = new Counter({
    name: "drivecast_ingest_published_total",
    help: "DocEvents published to DRIVE_EVENTS (one per affected shard)",
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: "drivecast_ingest_batch_seconds",
    help: "Time to process one batch, decode to last publish acknowledged",
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [registry],
  });

  const baker = createBaker(nuxeo, { folderCacheSize: config.folderCacheSize });
  const pipeline = createPipeline({
    bus,
    names,
    shardCount: config.shardCount,
    decoder,
    baker,
    groups: nuxeo,
    roots,
    metrics: {
      record: (outcome, n = 1) => records.inc({ outcome }, n),
      deadLetter: (reason) => {
        records.inc({ outcome: "deadLetter" });
        deadLetters.inc({ reason });
      },
      published: (n) => publishes.inc(n),
    },
  });

  await source.start(async (batch) => {
    const end = batchSeconds.startTimer();
    try {
      await pipeline(batch);
    } catch (error) {
      logger.warn({ err: error, records: batch.length }, "batch failed; it will be retried");
      throw error;
    } finally {
      end();
    }
  });
  logger.info({ shards: config.shardCount, roots: roots.size() }, "ingest started");

  return {
    roots,
    ready: () => source.isReady() && bus.isConnected(),
    async drain() {
      await source.stop();
      roots.stop();
    },
  };
}
