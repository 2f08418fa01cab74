import { describe, expect, it } from "vitest";
import { createMemorySource, type SourceRecord } from "../src/mod.js";

describe("memory source", () => {
  it("source - hands records over in order, per topic, and retries a failed batch first", async () => {
    const source = createMemorySource({ batchSize: 2, retryDelayMs: 1 });
    const seen: string[] = [];
    let failures = 1;
    await source.start(async (records: SourceRecord[]) => {
      if (records[0]!.offset === "2" && failures-- > 0) throw new Error("NATS down");
      for (const r of records)
        seen.push(`${r.topic}@${r.offset}:${new TextDecoder().decode(r.value!)}`);
    });
    const v = (s: string) => ({ key: null, value: new TextEncoder().encode(s) });
    source.push("a", [v("a0"), v("a1"), v("a2")]);
    source.push("b", [v("b0")]);
    source.push("a", [v("a3")]);
    await source.idle();
    expect(seen).toEqual(["a@0:a0", "a@1:a1", "a@2:a2", "b@0:b0", "a@3:a3"]);
    await source.stop();
    expect(source.isReady()).toBe(false);
  });
});
