// The audit sink that writes to Kafka the way Nuxeo's audit stream does. Nuxeo chooses the
// partition itself and puts all entries of one transaction on one partition, in order
// (spec/NUXEO.md §1); here one mutation is one transaction: its records go in one `send` to one
// partition, chosen from the mutation's subject (its document's uuid, or the group name), and
// the Kafka message key is each Record's key. The simulator awaits each write before the next,
// so the entries of mutations about one document keep their order on that document's partition.
// An entry about a second document of a mutation (the nested root a registration unregisters,
// a copy's source, the ancestors an untrash restores) travels on the subject's partition, so it
// may overtake or trail that document's other entries, as it can with Nuxeo: consumers must not
// assume a document's entries share a partition.
import { fnv1a32 } from "@drivecast/protocol";
import { Kafka, Partitioners, logLevel } from "kafkajs";
import type { Producer } from "kafkajs";
import type { AuditRecord, AuditSink } from "./types.js";

export interface KafkaAuditSinkOptions {
  brokers: string[];
  /** Default `nuxeo-audit-audit` (Nuxeo stream `audit/audit`, topic prefix `nuxeo-`). */
  topic?: string;
  clientId?: string;
  /** Partitions when the topic has to be created (default 4). */
  partitions?: number;
  /** Replication factor when the topic has to be created (default 1). */
  replicationFactor?: number;
}

const DEFAULT_TOPIC = "nuxeo-audit-audit";

class KafkaAuditSink implements AuditSink {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly partitionCount: number,
  ) {}

  async write(records: AuditRecord[], partitionKey?: string): Promise<void> {
    const first = records[0];
    if (first === undefined) return;
    const partition = fnv1a32(partitionKey ?? first.key) % this.partitionCount;
    await this.producer.send({
      topic: this.topic,
      // acks=-1: a resolved mutation is durable in Kafka, so a test can rely on it.
      acks: -1,
      messages: records.map((r) => ({
        key: r.key,
        value: Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        partition,
      })),
    });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

/** Connects, creates the topic when missing, and returns a sink writing to it. */
export async function kafkaAuditSink(options: KafkaAuditSinkOptions): Promise<AuditSink> {
  const topic = options.topic ?? DEFAULT_TOPIC;
  const kafka = new Kafka({
    clientId: options.clientId ?? "nuxeo-sim",
    brokers: options.brokers,
    logLevel: logLevel.WARN,
  });
  const admin = kafka.admin();
  await admin.connect();
  let partitionCount: number;
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: options.partitions ?? 4,
          replicationFactor: options.replicationFactor ?? 1,
        },
      ],
    });
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    partitionCount = meta.topics[0]?.partitions.length ?? 1;
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    // One request in flight keeps the order of writes through retries.
    maxInFlightRequests: 1,
  });
  await producer.connect();
  return new KafkaAuditSink(producer, topic, Math.max(1, partitionCount));
}
