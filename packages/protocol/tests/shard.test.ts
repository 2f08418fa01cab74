import { describe, expect, it } from "vitest";
import { DEFAULT_SHARD_COUNT, fnv1a32, shardOf } from "../src/mod.js";

// Reference FNV-1a 32 over bytes, written independently (BigInt, no Math.imul).
function referenceFnv(bytes: Uint8Array): number {
  let h = 0x811c9dc5n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x01000193n) & 0xffffffffn;
  return Number(h);
}

describe("shard", () => {
  it("fnv1a32 - matches the published FNV-1a 32 test vectors", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
  });

  it("fnv1a32 - hashes the UTF-8 bytes and returns an unsigned 32-bit integer", () => {
    for (const s of ["é", "Zoë Ürban", "用户", "😀", "jean.dupont@example.com"]) {
      const h = fnv1a32(s);
      expect(h).toBe(referenceFnv(new TextEncoder().encode(s)));
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    }
  });

  it("shardOf - is fnv1a32 mod the shard count, the same in every role", () => {
    expect(shardOf("a", 64)).toBe(0xe40c292c % 64);
    expect(shardOf("a", 64)).toBe(44);
    expect(shardOf("foobar", 7)).toBe(0xbf9cf968 % 7);
    expect(DEFAULT_SHARD_COUNT).toBe(64);
  });

  it("shardOf - stays in range and spreads users over every shard", () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 4000; i++) {
      const s = shardOf(`user${i}`, 16);
      expect(s >= 0 && s < 16).toBe(true);
      counts[s] = (counts[s] ?? 0) + 1;
    }
    // 250 expected per shard; a broken hash (e.g. signed, or mod of a constant) fails this.
    for (const c of counts) expect(c).toBeGreaterThan(150);
  });
});
