// kafkajs implementation of RecordSource: one consumer group over the audit topics.
//
// Offsets are committed by hand, after the handler resolved, i.e. after every JetStream publish
// of the batch was acknowledged. A batch whose handler fails is retried in place (heartbeating,
// so the group does not evict us) until it succeeds, the partition is revoked, or we stop; a
// revoked partition's uncommitted batch is redelivered to its new owner. Nothing is skipped.
import { Kafka, logLevel, type Consumer, type EachBatchPayload } from "kafkajs";
import type { BatchHandler, RecordSource, SourceRecord } from "./source.js";

export interface KafkaSourceOptions {
  brokers: string[];
  topics: string[];
  groupId: string;
  clientId?: string;
  /** Start from the earliest offset when the group has none (default true). */
  fromBeginning?: boolean;
  /** Delay between retries of a failing batch. */
  retryDelayMs?: number;
  sessionTimeoutMs?: number;
  /** Called with errors the source recovers from (for logs). */
  onError?: (error: unknown, context: string) => void;
}

export function createKafkaSource(options: KafkaSourceOptions): RecordSource {
  const kafka = new Kafka({
    clientId: options.clientId ?? "drivecast-ingest",
    brokers: options.brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 200 },
  });
  const retryDelayMs = options.retryDelayMs ?? 500;
  let consumer: Consumer | null = null;
  let ready = false;
  let stopping = false;

  async function runBatch(handler: BatchHandler, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (batch.messages.length === 0) return;
    const records: SourceRecord[] = batch.messages.map((m) => ({
      topic: batch.topic,
      partition: batch.partition,
      offset: m.offset,
      key: m.key ?? null,
      value: m.value ?? null,
      timestamp: Number(m.timestamp),
    }));
    for (;;) {
      if (!payload.isRunning() || payload.isStale()) return;
      try {
        await handler(records);
        break;
      } catch (error) {
        options.onError?.(error, `batch ${batch.topic}/${batch.partition}@${batch.firstOffset()}`);
        await payload.heartbeat();
        await new Promise((r) => setTimeout(r, retryDelayMs));
      }
    }
    const last = batch.messages[batch.messages.length - 1]!.offset;
    payload.resolveOffset(last);
    // Kafka's committed offset is the next one to read.
    await consumer!.commitOffsets([
      { topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() },
    ]);
    await payload.heartbeat();
  }

  return {
    async start(handler) {
      consumer = kafka.consumer({
        groupId: options.groupId,
        sessionTimeout: options.sessionTimeoutMs ?? 30_000,
        allowAutoTopicCreation: false,
      });
      consumer.on(consumer.events.GROUP_JOIN, () => {
        ready = true;
      });
      consumer.on(consumer.events.CRASH, (e) => {
        ready = false;
        options.onError?.(e.payload.error, "consumer crashed; kafkajs restarts it");
      });
      consumer.on(consumer.events.DISCONNECT, () => {
        ready = false;
      });
      await consumer.connect();
      await consumer.subscribe({
        topics: options.topics,
        fromBeginning: options.fromBeginning ?? true,
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: async (payload) => {
          if (stopping) return;
          await runBatch(handler, payload);
        },
      });
    },
    async stop() {
      stopping = true;
      ready = false;
      // kafkajs' disconnect waits for the batch in flight, which commits before returning.
      await consumer?.disconnect();
    },
    isReady: () => ready,
  };
}
