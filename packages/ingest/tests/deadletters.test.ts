import { describe, expect, it } from "vitest";
import { createMemoryBus } from "@drivecast/bus";
import { Names } from "@drivecast/protocol";
import {
  DeadLetterCommandError,
  deadLetterMessage,
  formatDeadLetter,
  listDeadLetters,
  replayDeadLetters,
  type DeadLetter,
  type SourceRecord,
} from "../src/mod.js";

const names = new Names({ prefix: "", subjectPrefix: "" });

async function withLetters() {
  const bus = createMemoryBus();
  await bus.streams.ensure({ name: names.deadLetterStream, subjects: [names.deadLetterSubjects] });
  const records: SourceRecord[] = [
    {
      topic: "t",
      partition: 2,
      offset: "10",
      key: new Uint8Array([1, 2]),
      value: new Uint8Array([9]),
      timestamp: 5,
    },
    { topic: "t", partition: 0, offset: "11", key: null, value: null, timestamp: 6 },
    {
      topic: "u",
      partition: 1,
      offset: "12",
      key: null,
      value: new Uint8Array([7, 7]),
      timestamp: 7,
    },
  ];
  const reasons = ["unknown_schema", "empty_record", "unknown_schema"];
  for (const [i, r] of records.entries()) {
    const m = deadLetterMessage(names, r, reasons[i]!, `error ${i}\nsecond line`, "avro");
    await bus.streams.append(m.subject, m.data, m.options);
  }
  return { bus, records };
}

describe("dead letters", () => {
  it("deadletters - a letter keeps the bytes, key and origin of its record", async () => {
    const { bus } = await withLetters();
    const letters = await listDeadLetters(bus, names);
    expect(letters.map((l) => [l.reason, l.topic, l.partition, l.offset])).toEqual([
      ["unknown_schema", "t", 2, "10"],
      ["empty_record", "t", 0, "11"],
      ["unknown_schema", "u", 1, "12"],
    ]);
    expect(Array.from(letters[0]!.key!)).toEqual([1, 2]);
    expect(Array.from(letters[0]!.value!)).toEqual([9]);
    expect(letters[0]!.timestamp).toBe(5);
    expect(letters[0]!.codec).toBe("avro");
    expect(letters[0]!.error).toBe("error 0\nsecond line");
    expect(letters[1]!.key).toBeNull();
    expect(letters[1]!.value).toBeNull();
    expect(formatDeadLetter(letters[0]!)).toContain("unknown_schema t/2@10");
  });

  it("deadletters - a redelivered record does not make a second letter", async () => {
    const { bus, records } = await withLetters();
    const m = deadLetterMessage(names, records[0]!, "unknown_schema", "again", "avro");
    expect((await bus.streams.append(m.subject, m.data, m.options)).duplicate).toBe(true);
  });

  it("deadletters - list filters by reason, sequence, start and count", async () => {
    const { bus } = await withLetters();
    expect(
      (await listDeadLetters(bus, names, { reason: "unknown_schema" })).map((l) => l.seq),
    ).toEqual([1, 3]);
    expect((await listDeadLetters(bus, names, { seqs: [2] })).map((l) => l.reason)).toEqual([
      "empty_record",
    ]);
    expect((await listDeadLetters(bus, names, { fromSeq: 2, limit: 1 })).map((l) => l.seq)).toEqual(
      [2],
    );
    await expect(listDeadLetters(bus, names, { reason: "a.b" })).rejects.toBeInstanceOf(
      DeadLetterCommandError,
    );
    expect(await listDeadLetters(createMemoryBus(), names)).toEqual([]);
  });

  it("deadletters - replay hands each letter to the sink once, then marks it", async () => {
    const { bus } = await withLetters();
    const sent: DeadLetter[] = [];
    const sink = async (l: DeadLetter) => void sent.push(l);
    const first = await replayDeadLetters(bus, names, sink, { reason: "unknown_schema" });
    expect(first.replayed.map((l) => l.seq)).toEqual([1, 3]);
    expect(sent.map((l) => l.offset)).toEqual(["10", "12"]);
    const second = await replayDeadLetters(bus, names, sink);
    expect(second.replayed.map((l) => l.seq)).toEqual([2]);
    expect(second.skipped.map((l) => l.seq)).toEqual([1, 3]);
    const listed = await listDeadLetters(bus, names);
    expect(listed.every((l) => l.replayed !== null)).toBe(true);
    expect(await listDeadLetters(bus, names, { pendingOnly: true })).toEqual([]);
    const forced = await replayDeadLetters(bus, names, sink, { seqs: [1], force: true });
    expect(forced.replayed.map((l) => l.seq)).toEqual([1]);
    const dry = await replayDeadLetters(
      bus,
      names,
      async () => {
        throw new Error("a dry run must not send");
      },
      { force: true, dryRun: true },
    );
    expect(dry.replayed).toHaveLength(3);
  });

  it("deadletters - a letter the sink fails on stays pending", async () => {
    const { bus } = await withLetters();
    await expect(
      replayDeadLetters(bus, names, async (l) => {
        if (l.seq === 2) throw new Error("Kafka down");
      }),
    ).rejects.toThrow("Kafka down");
    expect((await listDeadLetters(bus, names, { pendingOnly: true })).map((l) => l.seq)).toEqual([
      2, 3,
    ]);
  });
});
