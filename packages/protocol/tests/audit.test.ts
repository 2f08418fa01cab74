import { describe, expect, it } from "vitest";
import {
  DecodeError,
  InvalidAuditEntryError,
  auditEntryJson,
  createRecordDecoder,
  encodeRecord,
  formatIsoDateTime,
  parseAuditEntry,
  parseIsoDateTime,
  watermarkOf,
  type AuditEntry,
} from "../src/mod.js";

const utf8 = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);

// As Nuxeo's LogEntryJsonWriter writes a move (JVM in UTC).
const MOVED =
  '{"entity-type":"logEntry","id":0,"category":"eventDocumentCategory","principalName":"jdoe",' +
  '"comment":"default:9b1e2c3d-0000-4000-8000-000000000001","docLifeCycle":"project",' +
  '"docPath":"/default-domain/workspaces/ws/report.pdf","docType":"File",' +
  '"docUUID":"5f0c1a2b-0000-4000-8000-0000000000aa","eventId":"documentMoved",' +
  '"repositoryId":"default","eventDate":"2026-11-22T10:15:30.123Z",' +
  '"logDate":"2026-11-22T10:15:30.456Z","extended":{"oldDigest":"abc","count":3,"flag":true,"none":null}}';

const MOVED_ENTRY: AuditEntry = {
  eventId: "documentMoved",
  category: "eventDocumentCategory",
  principalName: "jdoe",
  comment: "default:9b1e2c3d-0000-4000-8000-000000000001",
  docLifeCycle: "project",
  docPath: "/default-domain/workspaces/ws/report.pdf",
  docType: "File",
  docUUID: "5f0c1a2b-0000-4000-8000-0000000000aa",
  repositoryId: "default",
  eventDate: Date.UTC(2026, 10, 22, 10, 15, 30, 123),
  logDate: Date.UTC(2026, 10, 22, 10, 15, 30, 456),
  extended: { oldDigest: "abc", count: 3, flag: true, none: null },
};

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the call to throw, and it returned");
}

describe("audit entry", () => {
  it("audit - parses Nuxeo's JSON into the domain entry (dates as epoch ms)", () => {
    expect(parseAuditEntry(utf8.encode(MOVED))).toEqual(MOVED_ENTRY);
  });

  it("audit - writes exactly the JSON Nuxeo writes", () => {
    expect(text(auditEntryJson(MOVED_ENTRY))).toBe(MOVED);
  });

  it("audit - keeps nulls as null and defaults a missing extended to {}", () => {
    const group =
      '{"entity-type":"logEntry","id":0,"category":"userGroup","principalName":"Administrator",' +
      '"comment":null,"docLifeCycle":null,"docPath":null,"docType":null,"docUUID":null,' +
      '"eventId":"group_modified","repositoryId":null,"eventDate":"2026-01-01T00:00:00.000Z",' +
      '"logDate":null,"extended":{"id":"members"}}';
    const entry = parseAuditEntry(utf8.encode(group));
    expect(entry.docUUID).toBeNull();
    expect(entry.comment).toBeNull();
    expect(entry.logDate).toBeNull();
    expect(entry.extended).toEqual({ id: "members" });
    expect(text(auditEntryJson(entry))).toBe(group);

    const bare = parseAuditEntry(utf8.encode('{"eventId":"x","eventDate":"2026-01-01T00:00:00Z"}'));
    expect(bare).toEqual({
      eventId: "x",
      category: null,
      principalName: null,
      comment: null,
      docLifeCycle: null,
      docPath: null,
      docType: null,
      docUUID: null,
      repositoryId: null,
      eventDate: Date.UTC(2026, 0, 1),
      logDate: null,
      extended: {},
    });
  });

  it("audit - escapes strings as Jackson does and round-trips non-ASCII", () => {
    const entry: AuditEntry = {
      ...MOVED_ENTRY,
      comment: 'say "hi"\\ now\n\t\u0001\u001f/é 😀',
      docPath: "/ws/Zoë Ürban/用户",
      extended: { "k\u0000": "v\u007f" },
    };
    const json = text(auditEntryJson(entry));
    expect(json).toContain('"comment":"say \\"hi\\"\\\\ now\\n\\t\\u0001\\u001F/é 😀"');
    expect(json).toContain('"docPath":"/ws/Zoë Ürban/用户"');
    expect(json).toContain('"extended":{"k\\u0000":"v\u007f"}');
    expect(parseAuditEntry(auditEntryJson(entry))).toEqual(entry);
  });

  it("audit - writes dates in the JVM's offset when asked, and reads them back to the same instant", () => {
    const json = text(auditEntryJson(MOVED_ENTRY, { offsetMinutes: 60 }));
    expect(json).toContain('"eventDate":"2026-11-22T11:15:30.123+01:00"');
    expect(text(auditEntryJson(MOVED_ENTRY, { offsetMinutes: -330 }))).toContain(
      '"eventDate":"2026-11-22T04:45:30.123-05:30"',
    );
    expect(parseAuditEntry(utf8.encode(json))).toEqual(MOVED_ENTRY);
  });

  it("audit - reads every ISO-8601 date-time form Nuxeo versions write", () => {
    const ms = Date.UTC(2026, 10, 22, 10, 15, 30, 123);
    expect(parseIsoDateTime("2026-11-22T10:15:30.123Z")).toBe(ms);
    expect(parseIsoDateTime("2026-11-22T11:15:30.123+01:00")).toBe(ms);
    expect(parseIsoDateTime("2026-11-22T11:15:30.123+0100")).toBe(ms);
    expect(parseIsoDateTime("2026-11-22T11:15:30.123+01")).toBe(ms);
    expect(parseIsoDateTime("2026-11-22T10:15:30.123456789Z")).toBe(ms);
    expect(parseIsoDateTime("2026-11-22T10:15:30Z")).toBe(ms - 123);
    expect(parseIsoDateTime("2026-11-22T10:15:30.1Z")).toBe(ms - 23);
    expect(parseIsoDateTime("2028-02-29T00:00:00.000Z")).toBe(Date.UTC(2028, 1, 29));
    expect(parseIsoDateTime("2026-12-31T23:59:59.999Z")).toBe(
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
    );
    for (const bad of [
      "2026-02-30T00:00:00Z",
      "2026-13-01T00:00:00Z",
      "2026-11-00T00:00:00Z",
      "2026-04-31T00:00:00Z",
      "2026-11-22T24:00:00Z",
      // The 24-character UTC form Nuxeo writes most (read by a fast path): the same checks.
      "2026-02-30T00:00:00.000Z",
      "2026-11-22T24:00:00.000Z",
      "2026-11-22T10:60:00.000Z",
      "2026-00-22T10:15:30.123Z",
      "2026-1a-22T10:15:30.123Z",
      "2026-11-22T10:15:30.12aZ",
      "2026-11-22T10:15:30,123X",
      "2026-11-22 10:15:30Z",
      "2026-11-22T10:15:30",
      "yesterday",
      "",
    ]) {
      expect(parseIsoDateTime(bad)).toBeNull();
    }
    expect(formatIsoDateTime(ms)).toBe("2026-11-22T10:15:30.123Z");
  });

  it("audit - a Record carrying an audit entry survives encode, decode and parse", () => {
    const record = {
      watermark: watermarkOf(MOVED_ENTRY.eventDate),
      key: MOVED_ENTRY.docUUID as string,
      data: auditEntryJson(MOVED_ENTRY),
      flagsAsByte: 0,
      traceContext: null,
      appenderThread: null,
    };
    for (const codec of ["avro", "avroBinary", "avroJson"] as const) {
      const decoded = createRecordDecoder({ codec }).decode(encodeRecord(record, { codec }));
      expect(parseAuditEntry(decoded.data)).toEqual(MOVED_ENTRY);
    }
  });
});

describe("audit entry errors", () => {
  const cases: [string, Uint8Array | null, RegExp][] = [
    ["no data", null, /the record has no data/],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not valid UTF-8/],
    ["not JSON", utf8.encode('{"eventId":'), /not JSON/],
    ["a JSON array", utf8.encode("[1,2]"), /JSON but an array, not an object/],
    ["JSON null", utf8.encode("null"), /JSON but null, not an object/],
    ["no eventId", utf8.encode('{"eventDate":"2026-01-01T00:00:00Z"}'), /eventId is missing/],
    [
      "an empty eventId",
      utf8.encode('{"eventId":"","eventDate":"2026-01-01T00:00:00Z"}'),
      /eventId is missing/,
    ],
    [
      "no eventDate",
      utf8.encode('{"eventId":"documentCreated"}'),
      /eventDate undefined is not an ISO-8601/,
    ],
    [
      "an epoch eventDate",
      utf8.encode('{"eventId":"a","eventDate":1700000000000}'),
      /eventDate 1700000000000 is not/,
    ],
    [
      "a bad logDate",
      utf8.encode('{"eventId":"a","eventDate":"2026-01-01T00:00:00Z","logDate":"x"}'),
      /logDate "x"/,
    ],
    [
      "a numeric docUUID",
      utf8.encode('{"eventId":"a","eventDate":"2026-01-01T00:00:00Z","docUUID":5}'),
      /docUUID is a number/,
    ],
    [
      "an array extended",
      utf8.encode('{"eventId":"a","eventDate":"2026-01-01T00:00:00Z","extended":[]}'),
      /extended is an array/,
    ],
    [
      "another entity-type",
      utf8.encode('{"entity-type":"document","eventId":"a","eventDate":"2026-01-01T00:00:00Z"}'),
      /entity-type is "document"/,
    ],
  ];

  for (const [what, data, message] of cases) {
    it(`audit - rejects ${what} with InvalidAuditEntryError`, () => {
      const e = caught(() => parseAuditEntry(data));
      expect(e).toBeInstanceOf(InvalidAuditEntryError);
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.name).toBe("InvalidAuditEntryError");
      expect((e as InvalidAuditEntryError).reason).toBe("invalid_audit_entry");
      expect((e as InvalidAuditEntryError).retriable).toBe(false);
      expect(e.message).toMatch(/^Record data is not a Nuxeo audit entry: /);
      expect(e.message).toMatch(message);
    });
  }
});
