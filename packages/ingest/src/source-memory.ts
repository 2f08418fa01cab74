// In-process record source for embedded mode: the simulator hands over the very bytes it would
// write to Kafka, so the decode path is production's. One partition per topic, offsets counted
// here; a batch that fails is retried after a backoff, like a Kafka redelivery, and nothing
// after it runs before it succeeds.
import type { BatchHandler, RecordSource, SourceRecord } from "./types.js";

export interface MemorySource extends RecordSource {
  /** Appends records as one producer send (they stay together and in order). */
  push(topic: string, records: { key: string | null; value: Uint8Array }[]): void;
  /** Resolves once every record pushed so far was handled. */
  idle(): Promise<void>;
}

export interface MemorySourceOptions {
  /** Records per handler call (default 500). */
  batchSize?: number;
  /** Wait before retrying a failed batch (default 200 ms). */
  retryDelayMs?: number;
  onError?: (error: unknown, context: string) => void;
  now?: () => number;
}

export function createMemorySource(options: MemorySourceOptions = {}): MemorySource {
  const retryDelayMs = options.retryDelayMs ?? 200;
  const batchSize = Math.max(1, options.batchSize ?? 500);
  const now = options.now ?? Date.now;
  const queue: SourceRecord[] = [];
  const offsets = new Map<string, number>();
  const encoder = new TextEncoder();
  const stopController = new AbortController();
  let handler: BatchHandler | null = null;
  let running = false;
  let draining: Promise<void> | null = null;
  let idleWaiters: (() => void)[] = [];

  async function drain(): Promise<void> {
    while (running && queue.length > 0 && handler) {
      // One topic per call, as Kafka batches are per partition.
      const topic = queue[0]!.topic;
      let n = 0;
      while (n < batchSize && n < queue.length && queue[n]!.topic === topic) n++;
      const batch = queue.slice(0, n);
      try {
        await handler(batch, stopController.signal);
        queue.splice(0, batch.length);
      } catch (error) {
        if (stopController.signal.aborted) return;
        options.onError?.(error, `batch ${topic}@${batch[0]!.offset} failed; retrying`);
        await new Promise((r) => setTimeout(r, retryDelayMs));
      }
    }
  }

  function kick(): void {
    if (draining || !running) return;
    draining = drain().finally(() => {
      draining = null;
      if (running && queue.length > 0) kick();
      else if (queue.length === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }

  return {
    push(topic, records) {
      for (const r of records) {
        const next = offsets.get(topic) ?? 0;
        offsets.set(topic, next + 1);
        queue.push({
          topic,
          partition: 0,
          offset: String(next),
          key: r.key === null ? null : encoder.encode(r.key),
          value: r.value,
          timestamp: now(),
        });
      }
      kick();
    },
    idle() {
      if (queue.length === 0 && draining === null) return Promise.resolve();
      return new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async start(h) {
      handler = h;
      running = true;
      kick();
    },
    async stop() {
      running = false;
      await draining;
    },
    isReady: () => running,
  };
}
