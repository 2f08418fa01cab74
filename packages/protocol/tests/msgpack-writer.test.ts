import { describe, expect, it } from "vitest";
import { MsgpackWriter, msgpackCodec } from "../src/mod.js";

const codec = msgpackCodec<unknown>();

describe("msgpack writer", () => {
  it("msgpack writer - the writer encodes values as the protocol codec reads them", () => {
    const values: unknown[] = [
      0,
      1,
      127,
      128,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      Number.MAX_SAFE_INTEGER,
      -1,
      -32,
      -33,
      -128,
      -129,
      -32768,
      -32769,
      -(2 ** 31),
      -(2 ** 31) - 1,
      Number.MIN_SAFE_INTEGER,
      0.5,
      -1.25,
      1e300,
      true,
      false,
      null,
      "",
      "a".repeat(31),
      "a".repeat(32),
      "é".repeat(200),
      "a".repeat(255),
      "a".repeat(256),
      "a".repeat(100) + "é",
      "x".repeat(70_000),
      "emoji 😀 beyond the BMP ".repeat(20),
      new Uint8Array([1, 2, 3]),
      new Uint8Array(300),
      [],
      [1, [2, [3]]],
      Array.from({ length: 70_000 }, (_, i) => i % 7),
      { a: 1, b: undefined, c: { d: "e" } },
    ];
    const w = new MsgpackWriter(8);
    for (const v of values) {
      w.reset().value(v);
      let decoded = codec.decode(w.bytes());
      if (decoded instanceof Uint8Array) decoded = new Uint8Array(decoded);
      const expected =
        v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Uint8Array)
          ? JSON.parse(JSON.stringify(v))
          : v;
      expect(decoded).toEqual(expected);
    }
  });

  it("msgpack writer - a lone surrogate is written as U+FFFD, as TextEncoder does", () => {
    const w = new MsgpackWriter(64);
    w.reset().value(["\ud800x", "a\udc00", "é\ud83d"]);
    expect(codec.decode(w.bytes())).toEqual(["\ufffdx", "a\ufffd", "é\ufffd"]);
  });

  it("msgpack writer - messages stay valid while later ones fill and overflow slabs", () => {
    // A tiny slab: nearly every message moves to a new one midway, keys included.
    const w = new MsgpackWriter(32);
    const values = Array.from({ length: 50 }, (_, i) => ({
      [`key-${i % 7}`]: "v".repeat(i),
      n: i,
      nested: { [`key-${i % 7}`]: [i, "é"] },
    }));
    const out = values.map((v) => {
      w.reset().value(v);
      return w.bytes();
    });
    expect(out.map((b) => codec.decode(b))).toEqual(values);
  });

  it("msgpack writer - repeatPrefix starts the next message with the last one's first bytes", () => {
    const w = new MsgpackWriter(16);
    w.reset().arrayHeader(3);
    w.string("shared prefix, longer than a slab");
    const prefix = w.length;
    w.value(1);
    w.value("a");
    const first = w.bytes();
    w.repeatPrefix(prefix);
    w.value(2);
    w.value("b");
    const second = w.bytes();
    expect(codec.decode(first)).toEqual(["shared prefix, longer than a slab", 1, "a"]);
    expect(codec.decode(second)).toEqual(["shared prefix, longer than a slab", 2, "b"]);
  });
});
