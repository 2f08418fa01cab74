import { describe, expect, it } from "vitest";
import {
  Buckets,
  DEFAULT_NAMING,
  Names,
  Streams,
  rootKey,
  userFromToken,
  userToken,
} from "../src/mod.js";

const USERS = [
  "",
  "alice",
  "Administrator",
  "jean.dupont@example.com",
  "a.b.c",
  "Zoë Ürban",
  "用户",
  "😀 emoji",
  "with space*and>wild",
  "ends-with-padding?",
  "x".repeat(300),
];

describe("subjects", () => {
  it("userToken - round-trips any user id, including dots and non-ASCII", () => {
    for (const u of USERS) expect(userFromToken(userToken(u))).toBe(u);
  });

  it("userToken - is exactly base64url of the UTF-8 bytes, every length and alphabet", () => {
    const ids = [...USERS, "", "a", "ab", "abc", "abcd", "é", "éa", "\u007f", "~~~", ">>?"];
    for (let n = 0; n < 12; n++) ids.push("ÿz".repeat(n), "q".repeat(n));
    for (const u of ids) expect(userToken(u), u).toBe(Buffer.from(u, "utf8").toString("base64url"));
  });

  it("userToken - is a single NATS subject token (base64url, no padding)", () => {
    for (const u of USERS) expect(userToken(u)).toMatch(/^[A-Za-z0-9_-]*$/);
    expect(userToken("alice")).toBe("YWxpY2U");
    expect(userToken("a.b.c")).toBe("YS5iLmM");
    // Distinct users, distinct tokens.
    expect(new Set(USERS.map(userToken)).size).toBe(USERS.length);
  });

  it("Names - default names and subjects", () => {
    const n = new Names();
    expect(n.eventsStream).toBe(Streams.Events);
    expect(n.eventsStream).toBe("DRIVE_EVENTS");
    expect(n.feedsStream).toBe("DRIVE_FEEDS");
    expect(n.deadLetterStream).toBe("DRIVE_DEADLETTER");
    expect(n.rootsBucket).toBe(Buckets.Roots);
    expect(n.shardsBucket).toBe("drive_shards");
    expect(n.devicesBucket).toBe("drive_devices");
    expect(n.events(3)).toBe("drive.ev.3");
    expect(n.eventsSubjects).toBe("drive.ev.*");
    expect(n.feed(5, "alice")).toBe("drive.feed.5.YWxpY2U");
    expect(n.feedsSubjects).toBe("drive.feed.*.*");
    expect(n.rpcSubject(12)).toBe("drive.rpc.12");
    expect(n.deadLetter("unknown_schema")).toBe("drive.dl.unknown_schema");
    expect(n.deadLetterSubjects).toBe("drive.dl.>");
    expect(n.authRevoke).toBe("drive.auth.revoke");
    expect(rootKey("default", "5f0c1a2b-0000-4000-8000-0000000000aa")).toBe(
      "default.5f0c1a2b-0000-4000-8000-0000000000aa",
    );
    expect(n.deviceKey("a.b", "dev 1")).toBe(`${userToken("a.b")}.${userToken("dev 1")}`);
    expect(n.shardKey(7)).toBe("shard.7");
    expect(new Names(DEFAULT_NAMING).feed(1, "x")).toBe(n.feed(1, "x"));
  });

  it("Names - a prefix isolates streams, buckets and subjects", () => {
    const n = new Names({ prefix: "T1_", subjectPrefix: "t1." });
    expect(n.eventsStream).toBe("T1_DRIVE_EVENTS");
    expect(n.feedsStream).toBe("T1_DRIVE_FEEDS");
    expect(n.deadLetterStream).toBe("T1_DRIVE_DEADLETTER");
    expect(n.rootsBucket).toBe("T1_drive_roots");
    expect(n.events(0)).toBe("t1.drive.ev.0");
    expect(n.eventsSubjects).toBe("t1.drive.ev.*");
    expect(n.feed(2, "bob")).toBe(`t1.drive.feed.2.${userToken("bob")}`);
    expect(n.feedsSubjects).toBe("t1.drive.feed.*.*");
    expect(n.rpcSubject(1)).toBe("t1.drive.rpc.1");
    expect(n.deadLetterSubjects).toBe("t1.drive.dl.>");
    expect(n.authRevoke).toBe("t1.drive.auth.revoke");
  });

  it("Names - a user's feed subject has exactly the tokens its wildcard expects", () => {
    const n = new Names();
    for (const u of USERS.filter((x) => x !== "")) {
      const tokens = n.feed(9, u).split(".");
      expect(tokens).toHaveLength(4);
      expect(tokens.every((t) => t !== "" && !/[\s*>]/.test(t))).toBe(true);
    }
  });
});
