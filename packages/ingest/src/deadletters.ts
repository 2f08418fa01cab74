// Dead letters: Kafka records the ingest could not read, kept in DRIVE_DEADLETTER on
// `drive.dl.<reason>` with their exact bytes and where they came from, so that an operator can
// see them, fix the cause (add a schema file, change the codec) and replay them.
//
// Wire shape (converted here, once): the message data is the Kafka value as received; headers
// carry the rest. A replay writes the bytes back to their Kafka topic and partition with their
// key, so they run through the whole pipeline again with the fixed configuration, and records a
// marker on `drive.dl._replayed` (header Drivecast-Replayed-Seq) so a second replay skips them.
// A crash between the Kafka write and the marker replays that letter again: replay is
// at-least-once, like everything upstream of the DRIVE_EVENTS deduplication.
import type { AppendOptions, Bus, StoredMessage } from "@drivecast/bus";
import type { Names } from "@drivecast/protocol";
import { DeadLetterCommandError } from "./errors.js";
import type { SourceRecord } from "./types.js";

export const DeadLetterHeader = {
  Reason: "Drivecast-Reason",
  Error: "Drivecast-Error",
  Topic: "Drivecast-Topic",
  Partition: "Drivecast-Partition",
  Offset: "Drivecast-Offset",
  /** base64 of the Kafka key; absent for a null key. */
  Key: "Drivecast-Key",
  Timestamp: "Drivecast-Timestamp",
  /** "null" when the Kafka value was null (the data is then empty). */
  Value: "Drivecast-Value",
  Codec: "Drivecast-Codec",
  ReplayedSeq: "Drivecast-Replayed-Seq",
} as const;

/** Subject token of replay markers (not a reason: reasons never start with `_`). */
const REPLAYED = "_replayed";
const MAX_ERROR_LENGTH = 2048;

/** The publish of one dead letter: subject, bytes, headers and a message id from its origin. */
export function deadLetterMessage(
  names: Names,
  record: SourceRecord,
  reason: string,
  error: string,
  codec: string,
): { subject: string; data: Uint8Array; options: AppendOptions } {
  const headers: Record<string, string> = {
    [DeadLetterHeader.Reason]: reason,
    [DeadLetterHeader.Error]:
      error.length > MAX_ERROR_LENGTH ? `${error.slice(0, MAX_ERROR_LENGTH)}…` : error,
    [DeadLetterHeader.Topic]: record.topic,
    [DeadLetterHeader.Partition]: String(record.partition),
    [DeadLetterHeader.Offset]: record.offset,
    [DeadLetterHeader.Timestamp]: String(record.timestamp),
    [DeadLetterHeader.Codec]: codec,
  };
  if (record.key !== null)
    headers[DeadLetterHeader.Key] = Buffer.from(record.key).toString("base64");
  if (record.value === null) headers[DeadLetterHeader.Value] = "null";
  return {
    subject: names.deadLetter(reason),
    data: record.value ?? new Uint8Array(0),
    options: { msgId: `dl/${record.topic}/${record.partition}/${record.offset}`, headers },
  };
}

/** One dead letter as read back. */
export interface DeadLetter {
  /** Sequence in DRIVE_DEADLETTER: what `replay --seq` takes. */
  seq: number;
  /** When it was stored, epoch ms. */
  time: number;
  reason: string;
  error: string;
  topic: string;
  partition: number;
  offset: string;
  key: Uint8Array | null;
  /** null when the Kafka value was null. */
  value: Uint8Array | null;
  /** Kafka timestamp, epoch ms. */
  timestamp: number;
  codec: string;
  /** Sequence of its replay marker, when replayed. */
  replayed: number | null;
}

function toDeadLetter(m: StoredMessage, replayed: Map<number, number>): DeadLetter {
  const h = m.headers;
  const key = h[DeadLetterHeader.Key];
  return {
    seq: m.seq,
    time: m.time,
    reason: h[DeadLetterHeader.Reason] ?? m.subject.slice(m.subject.lastIndexOf(".") + 1),
    error: h[DeadLetterHeader.Error] ?? "",
    topic: h[DeadLetterHeader.Topic] ?? "",
    partition: Number(h[DeadLetterHeader.Partition] ?? -1),
    offset: h[DeadLetterHeader.Offset] ?? "",
    key: key === undefined ? null : new Uint8Array(Buffer.from(key, "base64")),
    value: h[DeadLetterHeader.Value] === "null" ? null : m.data,
    timestamp: Number(h[DeadLetterHeader.Timestamp] ?? 0),
    codec: h[DeadLetterHeader.Codec] ?? "",
    replayed: replayed.get(m.seq) ?? null,
  };
}

export interface ListOptions {
  /** Only this reason (`drive.dl.<reason>`). */
  reason?: string;
  /** Only these sequences. */
  seqs?: readonly number[];
  /** From this sequence on (default 1). */
  fromSeq?: number;
  /** At most this many (default all). */
  limit?: number;
  /** Leave out the ones already replayed. */
  pendingOnly?: boolean;
}

const REASON = /^[A-Za-z0-9_]+$/;

/** Dead letters in sequence order. */
export async function listDeadLetters(
  bus: Pick<Bus, "streams">,
  names: Names,
  options: ListOptions = {},
): Promise<DeadLetter[]> {
  if (options.reason !== undefined && !REASON.test(options.reason)) {
    throw new DeadLetterCommandError(
      `reason ${JSON.stringify(options.reason)} is not a reason code (letters, digits, _)`,
    );
  }
  const stream = names.deadLetterStream;
  if ((await bus.streams.info(stream)) === null) return [];
  const replayed = new Map<number, number>();
  for (const m of await bus.streams.read(stream, names.deadLetter(REPLAYED), 1)) {
    const seq = Number(m.headers[DeadLetterHeader.ReplayedSeq]);
    if (Number.isInteger(seq) && !replayed.has(seq)) replayed.set(seq, m.seq);
  }
  const subject =
    options.reason === undefined ? names.deadLetterSubjects : names.deadLetter(options.reason);
  const wanted = options.seqs === undefined ? null : new Set(options.seqs);
  const out: DeadLetter[] = [];
  for (const m of await bus.streams.read(stream, subject, Math.max(1, options.fromSeq ?? 1))) {
    if (m.subject === names.deadLetter(REPLAYED)) continue;
    if (wanted !== null && !wanted.has(m.seq)) continue;
    const letter = toDeadLetter(m, replayed);
    if (options.pendingOnly && letter.replayed !== null) continue;
    out.push(letter);
    if (options.limit !== undefined && out.length >= options.limit) break;
  }
  return out;
}

/** Writes one letter back where it came from (e.g. a Kafka producer). */
export type ReplaySink = (letter: DeadLetter) => Promise<void>;

export interface ReplayResult {
  replayed: DeadLetter[];
  /** Selected but already replayed (without `force`). */
  skipped: DeadLetter[];
}

/**
 * Replays the selected dead letters in sequence order through `sink`, marking each once the
 * sink resolved. Without `force`, letters already replayed are skipped. A null-valued letter
 * (a Kafka tombstone) is replayed as is.
 */
export async function replayDeadLetters(
  bus: Pick<Bus, "streams">,
  names: Names,
  sink: ReplaySink,
  options: ListOptions & { force?: boolean; dryRun?: boolean } = {},
): Promise<ReplayResult> {
  const letters = await listDeadLetters(bus, names, { ...options, pendingOnly: false });
  const result: ReplayResult = { replayed: [], skipped: [] };
  for (const letter of letters) {
    if (letter.replayed !== null && !options.force) {
      result.skipped.push(letter);
      continue;
    }
    if (!options.dryRun) {
      await sink(letter);
      await bus.streams.append(names.deadLetter(REPLAYED), new Uint8Array(0), {
        headers: { [DeadLetterHeader.ReplayedSeq]: String(letter.seq) },
      });
    }
    result.replayed.push(letter);
  }
  return result;
}

/** One line per letter, for a terminal. */
export function formatDeadLetter(letter: DeadLetter): string {
  const key = letter.key === null ? "-" : new TextDecoder().decode(letter.key);
  const size = letter.value === null ? "null" : `${letter.value.length}B`;
  const state = letter.replayed === null ? "" : ` [replayed #${letter.replayed}]`;
  return (
    `#${letter.seq} ${new Date(letter.time).toISOString()} ${letter.reason} ` +
    `${letter.topic}/${letter.partition}@${letter.offset} key=${key} ${size}${state}\n` +
    `    ${letter.error}`
  );
}

/** JSON form (bytes as base64), for scripts. */
export function deadLetterJson(letter: DeadLetter): Record<string, unknown> {
  return {
    ...letter,
    key: letter.key === null ? null : Buffer.from(letter.key).toString("base64"),
    value: letter.value === null ? null : Buffer.from(letter.value).toString("base64"),
  };
}
