// Every codec of spec/NUXEO.md §1 decodes its fixture, end to end: Kafka topic → ingest →
// DRIVE_EVENTS, with the simulator as Nuxeo. Also: a schema added to the schema folder after
// start is picked up on the next unknown fingerprint.
import { createServer, type Server } from "node:http";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createSimulator, type Simulator, type SimDocument } from "@drivecast/nuxeo-sim";
import type { RestServer } from "@drivecast/nuxeo-sim";
import { RECORD_SCHEMA_2021, encodeRecord, type RecordCodec } from "@drivecast/protocol";
import { startNatsServer, type NatsServerHandle } from "@drivecast/testkit";
import { createSchemaRegistry } from "../src/mod.js";
import { auditEntry, evolvedRecord, nuxeoRecord } from "./helpers.js";
import {
  KafkaTool,
  startInProcess,
  startSimRest,
  storedDeadLetters,
  storedEvents,
  tempDir,
  waitFor,
} from "./int-helpers.js";

let nats: NatsServerHandle;
let kafka: KafkaTool;
let sim: Simulator;
let rest: RestServer;
let file: SimDocument;
let registry: Server;
let registryUrl: string;
const registryCalls: string[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  kafka = new KafkaTool(inject("kafkaBrokers"));
  sim = createSimulator();
  sim.createUser("alice");
  const ws = await sim.createWorkspace("/default-domain/workspaces", "Codecs");
  await sim.grant(ws.uid, "alice", "ReadWrite");
  await sim.registerRoot("alice", ws.uid);
  file = await sim.createFile(ws.uid, "fixture.txt", { content: "hello" });
  rest = await startSimRest(sim);
  // A Confluent-compatible registry that knows id 42 (Nuxeo 2021's Record schema).
  registry = createServer((req, res) => {
    registryCalls.push(req.url ?? "");
    if (req.url === "/schemas/ids/42") {
      res.writeHead(200, { "content-type": "application/vnd.schemaregistry.v1+json" });
      res.end(JSON.stringify({ schema: RECORD_SCHEMA_2021 }));
    } else {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error_code: 40403, message: "Schema not found" }));
    }
  });
  await new Promise<void>((r) => registry.listen(0, "127.0.0.1", r));
  const address = registry.address();
  registryUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

afterAll(async () => {
  await kafka?.close();
  await rest?.close();
  await nats?.stop();
  await new Promise((r) => registry?.close(r));
});

function fixture(eventId = "documentModified") {
  return nuxeoRecord(
    auditEntry({
      eventId,
      docUUID: file.uid,
      docPath: file.path,
      principalName: "alice",
    }),
  );
}

describe("codecs", () => {
  const cases: { name: string; codec: RecordCodec; bytes: () => Uint8Array }[] = [
    {
      name: "avro (2023 schema)",
      codec: "avro",
      bytes: () => encodeRecord(fixture(), { codec: "avro" }),
    },
    {
      name: "avro (2021 schema)",
      codec: "avro",
      bytes: () => encodeRecord(fixture(), { codec: "avro", schema: "2021" }),
    },
    {
      name: "avroBinary",
      codec: "avroBinary",
      bytes: () => encodeRecord(fixture(), { codec: "avroBinary" }),
    },
    {
      name: "avroJson",
      codec: "avroJson",
      bytes: () => encodeRecord(fixture(), { codec: "avroJson" }),
    },
    {
      name: "avroConfluent",
      codec: "avroConfluent",
      bytes: () =>
        encodeRecord(fixture(), { codec: "avroConfluent", schema: "2021", schemaId: 42 }),
    },
  ];

  it("codecs - every codec decodes its fixture into the DocEvent of alice's shard", async () => {
    await Promise.all(
      cases.map(async (c, i) => {
        const topic = await kafka.createTopic();
        // Two records: the second one proves the registry schema is cached.
        await kafka.produce(topic, [
          { key: file.uid, value: c.bytes() },
          { key: file.uid, value: c.bytes() },
        ]);
        const ingest = await startInProcess({
          natsUrl: nats.url,
          brokers: kafka.brokers,
          topic,
          nuxeoUrl: rest.url,
          codec: c.codec,
          registry:
            c.codec === "avroConfluent" ? createSchemaRegistry({ url: registryUrl }) : undefined,
          prefix: `C${i}_`,
        });
        try {
          const events = await waitFor(`two DocEvents decoded with ${c.name}`, async () => {
            const e = await storedEvents(ingest.bus, ingest.names);
            return e.length >= 2 ? e : undefined;
          });
          for (const { event } of events) {
            expect(event.eventId, c.name).toBe("documentModified");
            expect(event.docUuid).toBe(file.uid);
            expect(event.users).toEqual(["alice"]);
            expect(event.doc?.blob?.name).toBe("fixture.txt");
          }
          expect(await storedDeadLetters(ingest.bus, ingest.names)).toEqual([]);
        } finally {
          await ingest.stop();
        }
      }),
    );
    expect(registryCalls.filter((u) => u === "/schemas/ids/42")).toHaveLength(1);
  });

  it("codecs - a schema file added after start is loaded on the next unknown fingerprint", async () => {
    const dir = await tempDir("schemas");
    const evolved = evolvedRecord(fixture("documentLocked"));
    const topic = await kafka.createTopic();
    const ingest = await startInProcess({
      natsUrl: nats.url,
      brokers: kafka.brokers,
      topic,
      nuxeoUrl: rest.url,
      schemaDir: dir,
      prefix: "S_",
    });
    try {
      await kafka.produce(topic, [{ key: file.uid, value: evolved.value }]);
      const letters = await waitFor("the record of an unknown schema dead-lettered", async () => {
        const l = await storedDeadLetters(ingest.bus, ingest.names);
        return l.length === 1 ? l : undefined;
      });
      expect(letters[0]!.subject).toBe("s_.drive.dl.unknown_schema");
      expect(letters[0]!.headers["Drivecast-Error"]).toContain(evolved.fingerprintHex);

      await writeFile(join(dir, `Record-${evolved.fingerprintHex}.avsc`), evolved.schemaText);
      await kafka.produce(topic, [{ key: file.uid, value: evolved.value }]);
      const events = await waitFor(
        "the same record decoded once the schema file exists",
        async () => {
          const e = await storedEvents(ingest.bus, ingest.names);
          return e.length === 1 ? e : undefined;
        },
      );
      expect(events[0]!.event.eventId).toBe("documentLocked");
      expect(await storedDeadLetters(ingest.bus, ingest.names)).toHaveLength(1);
    } finally {
      await ingest.stop();
    }
  });
});
