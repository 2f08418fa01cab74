// The audit entry carried in `Record.data` (NUXEO.md §1): Nuxeo's LogEntryJsonWriter output as
// UTF-8 JSON. Parsed once here into the domain AuditEntry; written back byte for byte as Nuxeo
// writes it (field order, Jackson's escaping, Joda's ISODateTimeFormat.dateTime() dates) for the
// simulator and the tests.

import { javaDouble } from "./avro-json.js";
import { InvalidAuditEntryError } from "./errors.js";
import { jacksonString } from "./json-exact.js";
import type { AuditEntry } from "./types.js";

/** The JSON Nuxeo writes for one audit entry (`"entity-type": "logEntry"`). */
export interface AuditEntryJson {
  "entity-type": "logEntry";
  /** Not assigned yet when the entry is on the stream: always 0. */
  id: number;
  category: string | null;
  principalName: string | null;
  comment: string | null;
  docLifeCycle: string | null;
  docPath: string | null;
  docType: string | null;
  docUUID: string | null;
  eventId: string;
  repositoryId: string | null;
  /** ISO-8601 with milliseconds and offset, e.g. `2026-11-22T10:15:30.123Z`. */
  eventDate: string;
  logDate: string | null;
  extended: Record<string, unknown>;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

// Joda's dateTime() writes `yyyy-MM-ddTHH:mm:ss.SSS` then `Z` or `±HH:mm`; java.time may write
// 0–9 fraction digits and `±HHmm`/`±HH`. All of them are accepted.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)$/;

/** The number written by `n` ASCII digits of `s` at `at`, or NaN if one is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    v = v * 10 + c;
  }
  return v;
}

/**
 * `yyyy-MM-ddTHH:mm:ss.SSSZ`, what Nuxeo writes when its JVM runs in UTC: read without the
 * regular expression (two dates per audit record, on the ingest's per-record path). NaN when
 * `text` has another shape or a field out of range (the general parser decides then).
 */
function parseUtcMillis(text: string): number {
  if (
    text.length !== 24 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 84 || // T
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58 ||
    text.charCodeAt(19) !== 46 || // .
    text.charCodeAt(23) !== 90 // Z
  ) {
    return NaN;
  }
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  // Days past the 28th need the calendar: the general parser checks them.
  if (!(month >= 1 && month <= 12 && day >= 1 && day <= 28)) return NaN;
  if (!(hour <= 23 && minute <= 59 && second <= 59)) return NaN;
  return Date.UTC(digits(text, 0, 4), month - 1, day, hour, minute, second, digits(text, 20, 3));
}

/** Epoch ms of an ISO-8601 date-time with offset, or null if it is not one. */
export function parseIsoDateTime(text: string): number | null {
  const fast = parseUtcMillis(text);
  if (!Number.isNaN(fast)) return fast;
  const m = ISO.exec(text);
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, frac = "", zone = "Z"] = m;
  const year = Number(y);
  const month = Number(mo) - 1;
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const ms = Number(frac.padEnd(3, "0").slice(0, 3));
  if (hour > 23 || minute > 59 || second > 59) return null;
  const local = Date.UTC(year, month, day, hour, minute, second, ms);
  if (month < 0 || month > 11 || day < 1) return null;
  if (day > 28 && new Date(local).getUTCDate() !== day) return null; // e.g. February 30th
  let offsetMin = 0;
  if (zone !== "Z") {
    const digits = zone.slice(1).replace(":", "");
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2) || "0");
    if (oh > 18 || om > 59) return null;
    offsetMin = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
  }
  return local - offsetMin * 60_000;
}

/**
 * `ms` as Nuxeo writes dates: `yyyy-MM-ddTHH:mm:ss.SSS` and `Z` for UTC or `±HH:mm`, in the
 * Nuxeo JVM's time zone (given here as a fixed offset in minutes).
 */
export function formatIsoDateTime(ms: number, offsetMinutes = 0): string {
  const iso = new Date(ms + offsetMinutes * 60_000).toISOString();
  if (offsetMinutes === 0) return iso;
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  return iso.slice(0, -1) + zone;
}

const STRING_FIELDS = [
  "category",
  "principalName",
  "comment",
  "docLifeCycle",
  "docPath",
  "docType",
  "docUUID",
  "repositoryId",
] as const;

/** "null", "an array", "a number", … for messages. */
function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/**
 * Parses `Record.data`. Throws InvalidAuditEntryError when it is not UTF-8, not JSON, not an
 * object, lacks `eventId` or a valid `eventDate`, or has a field of the wrong type.
 */
export function parseAuditEntry(data: Uint8Array | null): AuditEntry {
  if (data === null) throw new InvalidAuditEntryError("the record has no data");
  let text: string;
  try {
    text = utf8.decode(data);
  } catch (cause) {
    throw new InvalidAuditEntryError("the data is not valid UTF-8", cause);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new InvalidAuditEntryError(`the data is not JSON (${(cause as Error).message})`, cause);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new InvalidAuditEntryError(`the data is JSON but ${typeOf(json)}, not an object`);
  }
  const j = json as Partial<Record<keyof AuditEntryJson, unknown>>;
  if (j["entity-type"] !== undefined && j["entity-type"] !== "logEntry") {
    throw new InvalidAuditEntryError(
      `entity-type is ${JSON.stringify(j["entity-type"])}, not "logEntry"`,
    );
  }
  if (typeof j.eventId !== "string" || j.eventId === "") {
    throw new InvalidAuditEntryError("eventId is missing or not a non-empty string");
  }
  const strings = {} as Record<(typeof STRING_FIELDS)[number], string | null>;
  for (const f of STRING_FIELDS) {
    const v = j[f];
    if (v !== undefined && v !== null && typeof v !== "string") {
      throw new InvalidAuditEntryError(
        `${f} is ${typeOf(v)}, not a string or null (event ${j.eventId})`,
      );
    }
    strings[f] = v ?? null;
  }
  const eventDate = typeof j.eventDate === "string" ? parseIsoDateTime(j.eventDate) : null;
  if (eventDate === null) {
    throw new InvalidAuditEntryError(
      `eventDate ${JSON.stringify(j.eventDate)} is not an ISO-8601 date-time with offset (event ${j.eventId})`,
    );
  }
  let logDate: number | null = null;
  if (j.logDate !== undefined && j.logDate !== null) {
    logDate = typeof j.logDate === "string" ? parseIsoDateTime(j.logDate) : null;
    if (logDate === null) {
      throw new InvalidAuditEntryError(
        `logDate ${JSON.stringify(j.logDate)} is not an ISO-8601 date-time with offset (event ${j.eventId})`,
      );
    }
  }
  const ext = j.extended;
  if (ext !== undefined && ext !== null && (typeof ext !== "object" || Array.isArray(ext))) {
    throw new InvalidAuditEntryError(
      `extended is ${typeOf(ext)}, not an object (event ${j.eventId})`,
    );
  }
  return {
    eventId: j.eventId,
    category: strings.category,
    principalName: strings.principalName,
    comment: strings.comment,
    docLifeCycle: strings.docLifeCycle,
    docPath: strings.docPath,
    docType: strings.docType,
    docUUID: strings.docUUID,
    repositoryId: strings.repositoryId,
    eventDate,
    logDate,
    extended: (ext as Record<string, unknown> | null | undefined) ?? {},
  };
}

function jsonValue(v: unknown): string {
  switch (typeof v) {
    case "string":
      return jacksonString(v);
    case "number":
      // Nuxeo writes Long/Integer extended values as integers and Double ones via Double.toString.
      return Number.isInteger(v) && Math.abs(v) < 2 ** 63 ? v.toFixed(0) : javaDouble(v);
    case "bigint":
      return v.toString();
    case "boolean":
      return String(v);
    case "object":
      if (v === null) return "null";
      if (Array.isArray(v)) return `[${v.map(jsonValue).join(",")}]`;
      return `{${Object.entries(v)
        .map(([k, x]) => `${jacksonString(k)}:${jsonValue(x)}`)
        .join(",")}}`;
    default:
      return "null";
  }
}

export interface AuditEntryJsonOptions {
  /** UTC offset of the Nuxeo JVM's time zone, in minutes (dates are written in it). Default 0. */
  offsetMinutes?: number;
}

/** The UTF-8 JSON Nuxeo writes into `Record.data` for `entry` (with `id` 0). */
export function auditEntryJson(entry: AuditEntry, options: AuditEntryJsonOptions = {}): Uint8Array {
  const offset = options.offsetMinutes ?? 0;
  const str = (v: string | null): string => (v === null ? "null" : jacksonString(v));
  const text =
    `{"entity-type":"logEntry","id":0` +
    `,"category":${str(entry.category)}` +
    `,"principalName":${str(entry.principalName)}` +
    `,"comment":${str(entry.comment)}` +
    `,"docLifeCycle":${str(entry.docLifeCycle)}` +
    `,"docPath":${str(entry.docPath)}` +
    `,"docType":${str(entry.docType)}` +
    `,"docUUID":${str(entry.docUUID)}` +
    `,"eventId":${jacksonString(entry.eventId)}` +
    `,"repositoryId":${str(entry.repositoryId)}` +
    `,"eventDate":${jacksonString(formatIsoDateTime(entry.eventDate, offset))}` +
    `,"logDate":${entry.logDate === null ? "null" : jacksonString(formatIsoDateTime(entry.logDate, offset))}` +
    `,"extended":${jsonValue(entry.extended)}}`;
  return utf8Encoder.encode(text);
}
