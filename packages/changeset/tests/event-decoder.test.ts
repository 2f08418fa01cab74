import { msgpackCodec, type DocEvent, type DocSnapshot } from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import { createDocEventDecoder } from "../src/event-decoder.js";
import { deny, grant, Tree } from "./compute-fixtures.js";

// A small repository (compute-fixtures' Tree): non-ASCII names, a blob, ACLs with statuses.
const tree = new Tree()
  .folder("/ws", { acl: [grant("team", "ReadWrite", "effective"), deny("Everyone", "Write")] })
  .folder("/ws/Zoë", { title: "Zoë Ürban's" })
  .file("/ws/Zoë/a.pdf", { blob: { name: "résumé.pdf", length: 2 ** 40 } });
const event: DocEvent = {
  ...tree.event("documentModified", "/ws/Zoë/a.pdf"),
  extended: { oldDigest: "abc" },
  users: ["jdoe", "Zoë Ürban"],
};
const moved = tree.moveEvent("/ws/Zoë/a.pdf", "/ws/a.pdf");
const snapshot: DocSnapshot = event.doc!;

describe("event decoder", () => {
  const codec = msgpackCodec<DocEvent>();

  it("event decoder - decodes what the generic codec decodes", () => {
    const decode = createDocEventDecoder();
    for (const e of [event, moved, { ...event, doc: null, ancestors: [], before: null }]) {
      expect(decode(codec.encode(e))).toEqual(codec.decode(codec.encode(e)));
    }
  });

  it("event decoder - every msgpack form the encoder writes reads back the same", () => {
    const decode = createDocEventDecoder();
    const values = {
      ints: [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1],
      negatives: [
        -1,
        -32,
        -33,
        -128,
        -129,
        -32_768,
        -32_769,
        -(2 ** 31),
        -(2 ** 31) - 1,
        -(2 ** 53) + 1,
      ],
      floats: [0.5, -1.25, 1e300],
      strings: ["", "a", "x".repeat(31), "x".repeat(32), "é".repeat(200), "y".repeat(70_000)],
      bin: new Uint8Array([1, 2, 3]),
      bools: [true, false, null],
      big: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
      long: Array.from({ length: 20 }, (_, i) => i),
    };
    expect(decode(msgpackCodec<typeof values>().encode(values))).toEqual(values);
  });

  it("event decoder - equal ancestors decode to one shared, frozen object", () => {
    const decode = createDocEventDecoder();
    const a = decode(codec.encode(event));
    const b = decode(codec.encode({ ...event, source: "other/0/1", before: null }));
    expect(b.ancestors[0]).toBe(a.ancestors[0]);
    expect(Object.isFrozen(a.ancestors[0])).toBe(true);
    expect(Object.isFrozen(a.ancestors[0]!.acls[0]!.aces)).toBe(true);
    // The document itself is not shared, and a changed ancestor is a new object.
    expect(b.doc).not.toBe(a.doc);
    const renamed = { ...event.ancestors[0]!, title: "renamed" };
    const c = decode(codec.encode({ ...event, ancestors: [renamed] }));
    expect(c.ancestors[0]).not.toBe(a.ancestors[0]);
    expect(c.ancestors[0]).toEqual(renamed);
  });

  it("event decoder - the memo is bounded; items still in use stay in it", () => {
    const decode = createDocEventDecoder({ maxShared: 2 });
    const [root, a, b, c] = ["root", "a", "b", "c"].map((uid) => ({ ...snapshot, uid }));
    const first = decode(codec.encode({ ...event, ancestors: [root!, a!] }));
    decode(codec.encode({ ...event, ancestors: [root!, b!] })); // a out
    const third = decode(codec.encode({ ...event, ancestors: [root!, c!] })); // b out
    // The folder every event shares stayed; a user's folder seen once did not.
    expect(third.ancestors[0]).toBe(first.ancestors[0]);
    const again = decode(codec.encode({ ...event, ancestors: [root!, a!] }));
    expect(again.ancestors[1]).not.toBe(first.ancestors[1]);
    expect(again.ancestors).toEqual([root, a]);
  });

  it("event decoder - truncated input, extra bytes and a __proto__ key are errors", () => {
    const decode = createDocEventDecoder();
    const bytes = codec.encode(event);
    expect(() => decode(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(() => decode(new Uint8Array([...bytes, 0]))).toThrow(/extra byte/);
    // { "__proto__": 1 } would set the prototype of the decoded object.
    const proto = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x01]);
    expect(() => decode(proto)).toThrow(/__proto__/);
  });
});
