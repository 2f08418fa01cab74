import { createRecordDecoder, parseAuditEntry } from "@drivecast/protocol";
import { randomName } from "@drivecast/testkit";
import { Kafka, logLevel } from "kafkajs";
import { describe, expect, inject, it } from "vitest";
import { createSimulator, kafkaAuditSink } from "../src/mod.js";

describe("kafka audit sink", () => {
  it("kafka - writes Nuxeo's records to a topic it creates, one mutation on one partition", async () => {
    const brokers = inject("kafkaBrokers");
    const topic = randomName("audit");
    const sink = await kafkaAuditSink({ brokers, topic, partitions: 3 });
    const sim = createSimulator({ audit: sink });
    sim.createUser("alice");
    const a = await sim.createFolder("/default-domain/workspaces", "a");
    const b = await sim.createFolder(a.uid, "b");
    await sim.registerRoot("alice", b.uid);
    await sim.registerRoot("alice", a.uid); // rootUnregistered(b) + rootRegistered(a): one write
    await sim.modify(a.uid, { title: "A" });
    await sim.close();

    const kafka = new Kafka({ clientId: "nuxeo-sim-test", brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: randomName("group") });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const seen: { partition: number; offset: string; key: string; value: Buffer }[] = [];
    const expected = 6;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`expected ${expected} records on ${topic}, got ${seen.length}`)),
        30_000,
      );
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          seen.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? "",
            value: message.value as Buffer,
          });
          if (seen.length >= expected) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    try {
      await done;
    } finally {
      await consumer.disconnect();
    }

    const decoder = createRecordDecoder({ codec: "avro" });
    for (const m of seen) {
      expect(m.value.subarray(0, 10).toString("hex")).toBe("c3018bc5017f38f1825d");
      expect(decoder.decode(m.value).key).toBe(m.key);
    }
    const entries = seen.map((m) => ({
      ...m,
      entry: parseAuditEntry(decoder.decode(m.value).data),
    }));
    // The two entries of one mutation: adjacent, on the partition of its subject (a).
    const unreg = entries.find((e) => e.entry.eventId === "rootUnregistered");
    const reg = entries.find(
      (e) => e.entry.eventId === "rootRegistered" && e.entry.docUUID === a.uid,
    );
    expect(unreg?.entry.docUUID).toBe(b.uid);
    expect(unreg?.partition).toBe(reg?.partition);
    expect(BigInt(unreg!.offset) + 1n).toBe(BigInt(reg!.offset));
    // Mutations about one document share its partition, in order.
    const ofA = entries.filter((e) => e.entry.docUUID === a.uid);
    expect(new Set(ofA.map((e) => e.partition)).size).toBe(1);
    expect(
      ofA.sort((x, y) => Number(BigInt(x.offset) - BigInt(y.offset))).map((e) => e.entry.eventId),
    ).toEqual(["documentCreated", "rootRegistered", "documentModified"]);
  });
});
