import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../src/mod.js";

describe("log", () => {
  it("createLogger - one JSON object per line with name, level and message", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
        cb();
      },
    });
    const log = createLogger({
      name: "ingest",
      level: "info",
      destination,
      base: { worker: "w1" },
    });
    log.debug({ hidden: true }, "below the level");
    log.info({ shard: 3 }, "leased");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      name: "ingest",
      level: 30,
      msg: "leased",
      shard: 3,
      worker: "w1",
    });
    expect(typeof line.time).toBe("string");
  });
});
