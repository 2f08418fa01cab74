// In-process record source for embedded mode: the simulator hands over the very bytes it would
// write to Kafka, so the decode path is production's. One partition per topic, offsets counted
// here; a batch that fails is retried, like a Kafka redelivery.
import type { BatchHandler, RecordSource, SourceRecord } from "./source.js";

export interface MemorySource extends RecordSource {
  /** Appends records as one producer send (they stay together and in order). */
  push(topic: string, records: { key: string | null; value: Uint8Array }[]): void;
}

export function createMemorySource(options: { retryDelayMs?: number } = {}): MemorySource {
  const retryDelayMs = options.retryDelayMs ?? 200;
  const queue: SourceRecord[] = [];
  const offsets = new Map<string, number>();
  const encoder = new TextEncoder();
  let handler: BatchHandler | null = null;
  let running = false;
  let draining: Promise<void> | null = null;

  async function drain(): Promise<void> {
    while (running && queue.length > 0 && handler) {
      const batch = queue.slice(0, 500);
      try {
        await handler(batch);
        queue.splice(0, batch.length);
      } catch {
        await new Promise((r) => setTimeout(r, retryDelayMs));
      }
    }
  }

  function kick(): void {
    if (draining || !running) return;
    draining = drain().finally(() => {
      draining = null;
      if (running && queue.length > 0) kick();
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
          timestamp: Date.now(),
        });
      }
      kick();
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
