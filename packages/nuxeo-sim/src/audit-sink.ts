// Audit sinks. The simulator hands each mutation's records to one `write` call, in mutation
// order, and waits for it before the next; a sink only has to keep that order.
import type { AuditRecord, AuditSink } from "./types.js";

/**
 * Hands the bytes straight to a function (embedded mode: the ingest decodes them as if they came
 * from Kafka). The function's promise is awaited, so backpressure reaches the mutation.
 */
export function callbackAuditSink(
  fn: (records: AuditRecord[], partitionKey?: string) => void | Promise<void>,
  onClose?: () => void | Promise<void>,
): AuditSink {
  return {
    write: async (records, partitionKey) => {
      await fn(records, partitionKey);
    },
    close: async () => {
      await onClose?.();
    },
  };
}

/** Keeps every record in memory (tests). */
export function memoryAuditSink(): AuditSink & { readonly records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  return {
    records,
    write: async (batch) => {
      records.push(...batch);
    },
    close: async () => undefined,
  };
}
