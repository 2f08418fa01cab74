import { describe, expect, it } from "vitest";
import { msgpackCodec, type DocEvent, type DocSnapshot } from "../src/mod.js";

const snapshot: DocSnapshot = {
  repository: "default",
  uid: "5f0c1a2b-0000-4000-8000-0000000000aa",
  path: "/default-domain/workspaces/ws/Zoë.pdf",
  parentUid: "9b1e2c3d-0000-4000-8000-000000000001",
  type: "File",
  title: "Zoë.pdf",
  facets: ["Downloadable", "Versionable"],
  isVersion: false,
  isProxy: false,
  isTrashed: false,
  creator: "jdoe",
  lastContributor: "asmith",
  created: Date.UTC(2026, 0, 1),
  modified: Date.UTC(2026, 10, 22, 10, 15, 30, 123),
  blob: {
    name: "Zoë.pdf",
    mimeType: "application/pdf",
    digestAlgorithm: "MD5",
    digest: "abc",
    length: 2 ** 40,
  },
  acls: [
    {
      name: "local",
      aces: [{ username: "jdoe", permission: "Everything", granted: true, status: "effective" }],
    },
  ],
  subscriptions: [{ username: "jdoe", enabled: true }],
};

const event: DocEvent = {
  source: "nuxeo-audit-audit/3/12345",
  eventId: "documentMoved",
  category: "eventDocumentCategory",
  repositoryId: "default",
  docUuid: snapshot.uid,
  docPath: snapshot.path,
  docType: "File",
  docLifeCycle: null,
  principalName: "jdoe",
  comment: "default:9b1e2c3d-0000-4000-8000-000000000001",
  eventDate: Date.UTC(2026, 10, 22, 10, 15, 30, 123),
  extended: { oldDigest: "abc" },
  doc: snapshot,
  ancestors: [{ ...snapshot, uid: "root", blob: null, facets: ["Folderish"] }],
  before: { parentUid: "9b1e2c3d-0000-4000-8000-000000000001", path: null, ancestors: [] },
  users: ["jdoe", "Zoë Ürban"],
};

describe("msgpack codec", () => {
  it("codec - a DocEvent round-trips unchanged", () => {
    const codec = msgpackCodec<DocEvent>();
    expect(codec.decode(codec.encode(event))).toEqual(event);
  });

  it("codec - encoded bytes stay valid after the next encode (the encoder reuses its buffer)", () => {
    const codec = msgpackCodec<DocEvent>();
    const first = codec.encode(event);
    const copy = first.slice();
    codec.encode({ ...event, eventId: "documentRemoved", doc: null, ancestors: [] });
    expect(first).toEqual(copy);
    expect(codec.decode(first)).toEqual(event);
  });

  it("codec - leaves out undefined optional fields", () => {
    const codec = msgpackCodec<{ a: number; b?: string }>();
    const decoded = codec.decode(codec.encode({ a: 1, b: undefined }));
    expect(decoded).toEqual({ a: 1 });
    expect("b" in decoded).toBe(false);
  });
});
