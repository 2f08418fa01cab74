// kafkajs implementation of RecordSource: one consumer group over the audit topics.
//
// Invariant: an offset is committed only after the handler resolved for every record before it,
// i.e. after every JetStream publish derived from them was acknowledged. Hence at-least-once:
// whatever happens (crash, kill -9, rebalance, broker or NATS outage), a record is either
// committed with all its effects stored, or redelivered — to this process or to the partition's
// next owner — and its effects are published again under the same message ids.
//
// How it holds:
// - autoCommit is off and offsets are resolved by hand, after the handler; kafkajs fetches a
//   partition again from its last resolved offset, so returning without resolving redelivers.
// - A failing batch is retried in place with exponential backoff (capped), the consumer
//   heartbeating meanwhile so the group keeps it; no later batch of the partition runs before.
// - Heartbeats run on a timer while the handler works. When one fails (the group is
//   rebalancing: the partition may now be someone else's) the handler's signal aborts, the batch
//   is dropped uncommitted, and kafkajs rejoins. A commit after losing the partition is refused by
//   the coordinator (stale generation) and the batch goes to the new owner.
// - Backpressure comes for free: kafkajs fetches the next batch from a broker only once the
//   previous fetch's batches were handled, so at most one fetch response (bounded by maxBytes)
//   waits in memory while NATS or Nuxeo is slow or down.
// - stop() lets the batch in flight finish and commit; past `drainGraceMs` it aborts it (left
//   uncommitted, redelivered) so a shutdown during an outage still ends.
import { Kafka, logLevel, type Consumer, type EachBatchPayload } from "kafkajs";
import type { BatchHandler, RecordSource, SourceRecord } from "./types.js";
import { abortableSleep } from "./abortable-sleep.js";

export interface KafkaSourceOptions {
  brokers: string[];
  topics: string[];
  groupId: string;
  clientId?: string;
  /** Start from the earliest offset when the group has none (default true). */
  fromBeginning?: boolean;
  /** Records handed to the handler at once; a larger Kafka batch is split (default 500). */
  batchSize?: number;
  /** Partitions processed concurrently by this process (default 1). */
  concurrency?: number;
  /** Backoff of a failing batch: first and largest wait (default 200 ms, 30 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Bytes fetched per partition per request (default 1 MiB); bounds memory per batch. */
  maxBytesPerPartition?: number;
  /** How long stop() waits for the batch in flight before abandoning it (default 15 s). */
  drainGraceMs?: number;
  /** A broker silent for longer than this makes the source not ready (default 30 s). */
  staleAfterMs?: number;
  /** Errors the source recovers from (logs). */
  onError?: (error: unknown, context: string) => void;
  /** The consumer crashed for good (kafkajs will not restart it): the process should exit. */
  onFatal?: (error: unknown) => void;
  /** Consumer lag of a partition after each handled batch (high watermark − next offset). */
  onLag?: (topic: string, partition: number, lag: number) => void;
  /** Partitions assigned to this member after a (re)join. */
  onAssignment?: (assignment: Record<string, number[]>) => void;
  now?: () => number;
}

function backoff(attempt: number, baseMs: number, maxMs: number): number {
  return Math.floor(Math.random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 20)));
}

export function createKafkaSource(options: KafkaSourceOptions): RecordSource {
  const kafka = new Kafka({
    clientId: options.clientId ?? "drivecast-ingest",
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 200 },
  });
  const now = options.now ?? Date.now;
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const retryBaseMs = options.retryBaseMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 30_000;
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 3_000;
  const staleAfterMs = options.staleAfterMs ?? 30_000;
  let consumer: Consumer | null = null;
  let joined = false;
  let crashed = false;
  let lastContact = 0;
  let stopping = false;
  /** Aborts every batch in flight (stop() past its grace period). */
  const stopController = new AbortController();

  async function runBatch(handler: BatchHandler, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const messages = batch.messages;
    for (let start = 0; start < messages.length; start += batchSize) {
      const chunk = messages.slice(start, start + batchSize);
      const records: SourceRecord[] = chunk.map((m) => ({
        topic,
        partition,
        offset: m.offset,
        key: m.key ?? null,
        value: m.value ?? null,
        timestamp: Number(m.timestamp),
      }));
      for (let attempt = 0; ; attempt++) {
        if (!payload.isRunning() || payload.isStale() || stopController.signal.aborted) return;
        const controller = new AbortController();
        const onStop = () => controller.abort();
        stopController.signal.addEventListener("abort", onStop, { once: true });
        const heartbeat = setInterval(() => {
          payload.heartbeat().then(
            () => {
              lastContact = now();
            },
            (error: unknown) => {
              // Rebalancing (or the coordinator is gone): the partition may not be ours now.
              options.onError?.(
                error,
                `heartbeat during ${topic}/${partition}; abandoning the batch`,
              );
              controller.abort();
            },
          );
        }, heartbeatIntervalMs);
        try {
          await handler(records, controller.signal);
          break;
        } catch (error) {
          if (controller.signal.aborted) return;
          options.onError?.(
            error,
            `batch ${topic}/${partition}@${chunk[0]!.offset} failed (attempt ${attempt + 1}); retrying`,
          );
          await abortableSleep(backoff(attempt, retryBaseMs, retryMaxMs), controller.signal);
          if (controller.signal.aborted) return;
          await payload.heartbeat();
        } finally {
          clearInterval(heartbeat);
          stopController.signal.removeEventListener("abort", onStop);
        }
      }
      const last = chunk[chunk.length - 1]!.offset;
      payload.resolveOffset(last);
      const next = (BigInt(last) + 1n).toString();
      // Kafka's committed offset is the next one to read. A stale generation makes this throw:
      // kafkajs rejoins and the partition's new owner resumes from the previous commit.
      await consumer!.commitOffsets([{ topic, partition, offset: next }]);
      lastContact = now();
      options.onLag?.(topic, partition, Number(BigInt(batch.highWatermark) - BigInt(next)));
    }
    if (!stopping) await payload.heartbeat();
  }

  return {
    async start(handler) {
      consumer = kafka.consumer({
        groupId: options.groupId,
        sessionTimeout: options.sessionTimeoutMs ?? 30_000,
        heartbeatInterval: heartbeatIntervalMs,
        maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
        allowAutoTopicCreation: false,
      });
      const c = consumer;
      const touch = () => {
        lastContact = now();
      };
      c.on(c.events.GROUP_JOIN, (e) => {
        joined = true;
        crashed = false;
        touch();
        options.onAssignment?.(e.payload.memberAssignment);
      });
      c.on(c.events.HEARTBEAT, touch);
      c.on(c.events.FETCH, touch);
      c.on(c.events.COMMIT_OFFSETS, touch);
      c.on(c.events.REBALANCING, () => {
        joined = false;
      });
      c.on(c.events.CRASH, (e) => {
        joined = false;
        if (e.payload.restart) {
          options.onError?.(e.payload.error, "Kafka consumer crashed; kafkajs restarts it");
        } else {
          crashed = true;
          options.onFatal?.(e.payload.error);
        }
      });
      c.on(c.events.DISCONNECT, () => {
        joined = false;
      });
      await c.connect();
      await c.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
      // Resolves once the group is joined; consumption goes on in the background.
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, options.concurrency ?? 1),
        eachBatch: async (payload) => {
          if (stopping) return;
          await runBatch(handler, payload);
        },
      });
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      joined = false;
      const grace = setTimeout(() => stopController.abort(), options.drainGraceMs ?? 15_000);
      try {
        // kafkajs' disconnect waits for the batch in flight (which commits), then leaves the
        // group so the partitions move to the other members at once.
        await consumer?.disconnect();
      } finally {
        clearTimeout(grace);
      }
    },
    isReady: () => joined && !crashed && !stopping && now() - lastContact < staleAfterMs,
  };
}
