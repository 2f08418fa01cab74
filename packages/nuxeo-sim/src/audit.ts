// Audit entries → the Kafka records Nuxeo's audit stream holds: the entry as Nuxeo's JSON in
// `Record.data` (auditEntryJson), the Record in the stream codec (encodeRecord), keyed by the
// document uuid (or the group name). Both encoders are @drivecast/protocol's, so the simulator
// writes byte for byte what the ingest's decoder is tested against.
import { auditEntryJson, encodeRecord, watermarkOf } from "@drivecast/protocol";
import type { AuditEntry, AuditRecord } from "./types.js";

export interface RecordEncoding {
  codec: "avro" | "avroBinary" | "avroJson";
  schema?: "2023" | "2021";
}

/** Nuxeo watermarks: event time << 17 | a sequence that tells apart entries of one ms. */
export interface WatermarkClock {
  lastMs: number;
  seq: number;
}

function nextWatermark(clock: WatermarkClock, ms: number): bigint {
  if (ms > clock.lastMs) {
    clock.lastMs = ms;
    clock.seq = 0;
  } else {
    // Same ms (or a clock step back): keep watermarks increasing within the stream.
    clock.seq++;
    if (clock.seq > 0xffff) {
      clock.lastMs++;
      clock.seq = 0;
    }
  }
  return watermarkOf(clock.lastMs, clock.seq);
}

export function recordKey(entry: AuditEntry): string {
  return entry.docUUID ?? entry.extended["id"] ?? entry.eventId;
}

export function encodeAuditEntries(
  entries: readonly AuditEntry[],
  clock: WatermarkClock,
  encoding: RecordEncoding,
): AuditRecord[] {
  return entries.map((entry) => {
    const key = recordKey(entry);
    const json = auditEntryJson(entry);
    const value = encodeRecord(
      {
        watermark: nextWatermark(clock, entry.eventDate),
        key,
        data: json,
        flagsAsByte: 0,
        traceContext: null,
        appenderThread: null,
      },
      { codec: encoding.codec, schema: encoding.schema ?? "2023" },
    );
    return { key, value };
  });
}
