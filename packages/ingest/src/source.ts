// Where audit records come from. The pipeline sees batches of raw records and says when a
// batch is done; the source commits offsets only then. kafkajs is one implementation; embedded
// mode uses an in-process one. Keeping this interface small keeps a switch of Kafka client cheap.

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
 * is durable; the source then commits past it. Rejecting makes the source retry the batch (after
 * a backoff) without committing: at-least-once.
 */
export type BatchHandler = (records: SourceRecord[]) => Promise<void>;

export interface RecordSource {
  /** Starts consuming; resolves once the source is running. */
  start(handler: BatchHandler): Promise<void>;
  /** Stops fetching, lets the batch in flight finish and commit, then disconnects. */
  stop(): Promise<void>;
  /** True while connected and part of the group. */
  isReady(): boolean;
}
