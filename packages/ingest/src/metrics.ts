// The ingest's Prometheus metrics. Label children are looked up once per batch, not per record:
// prom-client hashes label values on every `inc({…})`, which shows on the per-record path.
import { Counter, Gauge, Histogram, type Registry } from "@drivecast/bus";
import type { FilterReason, PipelineMetrics } from "./pipeline.js";
import type { PublishKind } from "./publish.js";

export interface IngestMetrics {
  pipeline: PipelineMetrics;
  published(kind: PublishKind, seconds: number, duplicate: boolean): void;
  publishRetried(): void;
  batch(seconds: number, ok: boolean): void;
  lag(topic: string, partition: number, lag: number): void;
  /** Keeps lag series only for the partitions this member owns. */
  assigned(assignment: Record<string, number[]>): void;
  nuxeoRequest(kind: string, ms: number, status: number): void;
  schemaEvent(source: "dir" | "registry", outcome: "loaded" | "unknown" | "invalid"): void;
  folderCache(hits: number, misses: number, size: number): void;
  roots(n: number): void;
}

const PREFIX = "drivecast_ingest_";

export function createIngestMetrics(registry: Registry): IngestMetrics {
  const registers = [registry];
  const recordsIn = new Counter({
    name: `${PREFIX}records_in_total`,
    help: "Kafka records received, by topic and partition",
    labelNames: ["topic", "partition"],
    registers,
  });
  const outcomes = new Counter({
    name: `${PREFIX}records_total`,
    help: "Records by outcome: decoded (into an audit entry), then filtered, routed or dead_letter",
    labelNames: ["outcome"],
    registers,
  });
  const filtered = new Counter({
    name: `${PREFIX}records_filtered_total`,
    help: "Decoded records that produced no DocEvent, by reason (event, no_path, no_root, version, proxy)",
    labelNames: ["reason"],
    registers,
  });
  const routedEvents = new Counter({
    name: `${PREFIX}events_routed_total`,
    help: "DocEvents routed (one per record and affected shard)",
    registers,
  });
  const deadLetters = new Counter({
    name: `${PREFIX}dead_letters_total`,
    help: "Records sent to DRIVE_DEADLETTER, by reason",
    labelNames: ["reason"],
    registers,
  });
  const published = new Counter({
    name: `${PREFIX}published_total`,
    help: "JetStream appends acknowledged, by stream kind and whether the server saw a duplicate (a redelivery)",
    labelNames: ["stream", "duplicate"],
    registers,
  });
  const publishSeconds = new Histogram({
    name: `${PREFIX}publish_seconds`,
    help: "JetStream append latency, publish to acknowledgement",
    labelNames: ["stream"],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
    registers,
  });
  const publishRetries = new Counter({
    name: `${PREFIX}publish_retries_total`,
    help: "JetStream appends retried (NATS slow or down)",
    registers,
  });
  const batchSeconds = new Histogram({
    name: `${PREFIX}batch_seconds`,
    help: "Time to handle one batch, first decode to last acknowledgement",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const batchFailures = new Counter({
    name: `${PREFIX}batch_failures_total`,
    help: "Batches that failed and will be retried uncommitted (Nuxeo or NATS unavailable)",
    registers,
  });
  const lag = new Gauge({
    name: `${PREFIX}consumer_lag`,
    help: "Records behind the partition's high watermark after the last committed batch",
    labelNames: ["topic", "partition"],
    registers,
  });
  const nuxeoRequests = new Counter({
    name: `${PREFIX}nuxeo_requests_total`,
    help: "Nuxeo REST requests (attempts), by kind and HTTP status (0: no response)",
    labelNames: ["kind", "status"],
    registers,
  });
  const nuxeoSeconds = new Histogram({
    name: `${PREFIX}nuxeo_request_seconds`,
    help: "Nuxeo REST request latency, by kind",
    labelNames: ["kind"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const schemaLoads = new Counter({
    name: `${PREFIX}schema_loads_total`,
    help: "Writer schema lookups after an unknown fingerprint or registry id, by source and outcome",
    labelNames: ["source", "outcome"],
    registers,
  });
  const cacheLookups = new Counter({
    name: `${PREFIX}folder_cache_lookups_total`,
    help: "Ancestor folder snapshots looked up, by result (hit, miss)",
    labelNames: ["result"],
    registers,
  });
  const cacheSize = new Gauge({
    name: `${PREFIX}folder_cache_size`,
    help: "Folder snapshots cached",
    registers,
  });
  const rootsGauge = new Gauge({
    name: `${PREFIX}roots`,
    help: "Sync roots in this instance's view of the root index",
    registers,
  });

  const decodedOutcome = outcomes.labels("decoded");
  const filteredOutcome = outcomes.labels("filtered");
  const routedOutcome = outcomes.labels("routed");
  const deadLetterOutcome = outcomes.labels("dead_letter");
  const inChildren = new Map<string, ReturnType<typeof recordsIn.labels>>();
  const filteredChildren = new Map<string, ReturnType<typeof filtered.labels>>();
  let owned = new Set<string>();

  return {
    pipeline: {
      recordsIn(topic, partition, n) {
        const k = `${topic}\u0000${partition}`;
        let c = inChildren.get(k);
        if (c === undefined) inChildren.set(k, (c = recordsIn.labels(topic, String(partition))));
        c.inc(n);
      },
      decoded: (n) => decodedOutcome.inc(n),
      filtered(reason: FilterReason, n) {
        let c = filteredChildren.get(reason);
        if (c === undefined) filteredChildren.set(reason, (c = filtered.labels(reason)));
        c.inc(n);
        filteredOutcome.inc(n);
      },
      routed(records, events) {
        routedOutcome.inc(records);
        routedEvents.inc(events);
      },
      deadLettered(reason) {
        deadLetters.inc({ reason });
        deadLetterOutcome.inc();
      },
    },
    published(kind, seconds, duplicate) {
      published.inc({ stream: kind, duplicate: String(duplicate) });
      publishSeconds.observe({ stream: kind }, seconds);
    },
    publishRetried: () => publishRetries.inc(),
    batch(seconds, ok) {
      batchSeconds.observe(seconds);
      if (!ok) batchFailures.inc();
    },
    lag(topic, partition, n) {
      lag.set({ topic, partition: String(partition) }, n);
    },
    assigned(assignment) {
      const next = new Set<string>();
      for (const [topic, partitions] of Object.entries(assignment)) {
        for (const p of partitions) next.add(`${topic}\u0000${p}`);
      }
      for (const k of owned) {
        if (next.has(k)) continue;
        const [topic, partition] = k.split("\u0000") as [string, string];
        lag.remove({ topic, partition });
      }
      owned = next;
    },
    nuxeoRequest(kind, ms, status) {
      nuxeoRequests.inc({ kind, status: String(status) });
      nuxeoSeconds.observe({ kind }, ms / 1000);
    },
    schemaEvent(source, outcome) {
      schemaLoads.inc({ source, outcome });
    },
    folderCache(hits, misses, size) {
      if (hits > 0) cacheLookups.inc({ result: "hit" }, hits);
      if (misses > 0) cacheLookups.inc({ result: "miss" }, misses);
      cacheSize.set(size);
    },
    roots: (n) => rootsGauge.set(n),
  };
}
