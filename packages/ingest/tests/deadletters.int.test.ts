// Bad input on a real topic, through the ingest process: each class lands in DRIVE_DEADLETTER
// with its reason, bytes and origin while the good records around it flow; the CLI lists the
// letters and, after the fix (the schema file added), replays one through Kafka. Also the
// process's operations: readiness, metrics, and a graceful exit on SIGTERM.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Bus } from "@drivecast/bus";
import { createSimulator, type RestServer, type SimDocument } from "@drivecast/nuxeo-sim";
import { Names, encodeRecord, watermarkOf } from "@drivecast/protocol";
import { randomName, startNatsServer, type NatsServerHandle } from "@drivecast/testkit";
import { auditEntry, auditValue, evolvedRecord, nuxeoRecord } from "./helpers.js";
import {
  KafkaTool,
  metric,
  natsBus,
  runCli,
  spawnIngest,
  startSimRest,
  storedDeadLetters,
  storedEvents,
  tempDir,
  waitFor,
  type SpawnedIngest,
} from "./int-helpers.js";

let nats: NatsServerHandle;
let kafka: KafkaTool;
let rest: RestServer;
let bus: Bus;
let file: SimDocument;
let ingest: SpawnedIngest | null = null;

beforeAll(async () => {
  nats = await startNatsServer();
  kafka = new KafkaTool(inject("kafkaBrokers"));
  const sim = createSimulator();
  sim.createUser("alice");
  const ws = await sim.createWorkspace("/default-domain/workspaces", "Letters");
  await sim.grant(ws.uid, "alice", "ReadWrite");
  await sim.registerRoot("alice", ws.uid);
  file = await sim.createFile(ws.uid, "ok.txt", { content: "fine" });
  rest = await startSimRest(sim);
  bus = await natsBus(nats.url);
});

afterAll(async () => {
  if (ingest !== null && ingest.child.exitCode === null) ingest.child.kill("SIGKILL");
  await bus?.close();
  await kafka?.close();
  await rest?.close();
  await nats?.stop();
});

const utf8 = new TextEncoder();

function withData(data: string): Uint8Array {
  return encodeRecord(
    {
      watermark: watermarkOf(Date.now()),
      key: "k",
      data: utf8.encode(data),
      flagsAsByte: 0,
      traceContext: null,
      appenderThread: null,
    },
    { codec: "avro" },
  );
}

describe("dead letters", () => {
  it("dead letters - each bad input class is kept with its reason while good records flow, and replays after the fix", async () => {
    const topic = await kafka.createTopic();
    const schemaDir = await tempDir("schemas");
    const prefix = "DL_";
    const names = new Names({ prefix, subjectPrefix: "dl." });
    const good = (eventId: string) =>
      auditValue({ eventId, docUUID: file.uid, docPath: file.path, principalName: "alice" });
    const evolved = evolvedRecord(
      nuxeoRecord(auditEntry({ eventId: "documentLocked", docUUID: file.uid, docPath: file.path })),
    );
    const corrupt = good("documentModified").slice();
    corrupt[12] = 0x7f; // a union index no schema has
    const records = [
      { key: file.uid, value: good("documentModified") },
      { key: "fp", value: evolved.value },
      { key: "bytes", value: corrupt },
      { key: "json", value: withData('{"entity-type":"logEntry","eventId":') },
      { key: "entry", value: withData('{"entity-type":"logEntry","id":0,"category":"x"}') },
      { key: "nodoc", value: auditValue({ eventId: "documentCreated", docPath: file.path }) },
      {
        key: "other",
        value: auditValue({ eventId: "download", docUUID: file.uid, docPath: file.path }),
      },
      { key: "java", value: new Uint8Array([0xac, 0xed, 0x00, 0x05, 0x73, 0x72, 0x00, 0x2d]) },
      { key: file.uid, value: good("documentUnlocked") },
    ];
    await kafka.produce(topic, records);

    const group = randomName("group");
    const env = {
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NUXEO_URL: rest.url,
      DRIVECAST_KAFKA_BROKERS: kafka.brokers.join(","),
      DRIVECAST_KAFKA_TOPICS: topic,
      DRIVECAST_KAFKA_GROUP: group,
      DRIVECAST_NAME_PREFIX: prefix,
      DRIVECAST_SUBJECT_PREFIX: "dl.",
      DRIVECAST_SHARDS: "4",
      DRIVECAST_SCHEMA_DIR: schemaDir,
    };
    ingest = await spawnIngest(env);
    const proc = ingest;
    await waitFor(
      "the ingest to consume the topic",
      () => kafka.caughtUp(group, topic),
      30_000,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.output()}`);
    });

    // Good records before and after the bad ones went through.
    const events = await storedEvents(bus, names);
    expect(events.map((e) => e.event.eventId)).toEqual(["documentModified", "documentUnlocked"]);
    // Each bad class, in order, with its reason, origin and exact bytes; "download" is not one.
    const letters = await storedDeadLetters(bus, names);
    const expected = [
      [1, "unknown_schema"],
      [2, "corrupt_record"],
      [3, "invalid_audit_entry"],
      [4, "invalid_audit_entry"],
      [5, "incomplete_entry"],
      [7, "legacy_codec"],
    ] as const;
    expect(letters.map((l) => l.headers["Drivecast-Reason"])).toEqual(expected.map((e) => e[1]));
    letters.forEach((l, i) => {
      const [index, reason] = expected[i]!;
      expect(l.subject).toBe(`dl.drive.dl.${reason}`);
      expect(l.headers["Drivecast-Topic"]).toBe(topic);
      expect(l.headers["Drivecast-Partition"]).toBe("0");
      expect(l.headers["Drivecast-Offset"]).toBe(String(index));
      expect(Buffer.from(l.headers["Drivecast-Key"]!, "base64").toString()).toBe(
        records[index]!.key,
      );
      expect(Buffer.from(l.data).equals(Buffer.from(records[index]!.value))).toBe(true);
    });
    expect(letters[5]!.headers["Drivecast-Error"]).toContain("nuxeo.stream.audit.log.codec=avro");

    // Operations: ready, and the metrics say what happened.
    expect(await proc.readyz()).toBe(200);
    const m = await proc.metrics();
    expect(metric(m, "drivecast_ingest_records_in_total", { topic })).toBe(9);
    expect(metric(m, "drivecast_ingest_dead_letters_total")).toBe(6);
    expect(
      metric(m, "drivecast_ingest_dead_letters_total", { reason: "invalid_audit_entry" }),
    ).toBe(2);
    expect(metric(m, "drivecast_ingest_records_filtered_total", { reason: "event" })).toBe(1);
    expect(metric(m, "drivecast_ingest_records_total", { outcome: "routed" })).toBe(2);
    expect(metric(m, "drivecast_ingest_records_total", { outcome: "dead_letter" })).toBe(6);
    // Decoded: the two good ones, the one without docUUID, the download.
    expect(metric(m, "drivecast_ingest_records_total", { outcome: "decoded" })).toBe(4);
    expect(metric(m, "drivecast_ingest_consumer_lag", { topic })).toBe(0);
    expect(metric(m, "drivecast_ingest_nuxeo_requests_total")).toBeGreaterThan(0);

    // The CLI lists them.
    const cliEnv = {
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NAME_PREFIX: prefix,
      DRIVECAST_SUBJECT_PREFIX: "dl.",
      DRIVECAST_KAFKA_BROKERS: kafka.brokers.join(","),
    };
    const list = await runCli(["list", "--json"], cliEnv);
    expect(list.status, list.stderr).toBe(0);
    const listed = list.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(listed.map((l) => l.reason)).toEqual(expected.map((e) => e[1]));
    expect(listed[0]).toMatchObject({ topic, partition: 0, offset: "1", replayed: null });
    const text = await runCli(["list", "--reason", "legacy_codec"], cliEnv);
    expect(text.stdout).toContain(`legacy_codec ${topic}/0@7`);

    // The fix: Nuxeo's new schema file. Replaying the unknown_schema letter now routes it.
    await writeFile(join(schemaDir, `Record-${evolved.fingerprintHex}.avsc`), evolved.schemaText);
    const replay = await runCli(["replay", "--reason", "unknown_schema"], cliEnv);
    expect(replay.status, replay.stderr).toBe(0);
    expect(replay.stderr).toContain("replayed 1 dead letter(s)");
    const after = await waitFor("the replayed record routed", async () => {
      const e = await storedEvents(bus, names);
      return e.length === 3 ? e : undefined;
    });
    expect(after[2]!.event.eventId).toBe("documentLocked");
    expect(await storedDeadLetters(bus, names)).toHaveLength(6);
    const again = await runCli(["replay", "--reason", "unknown_schema"], cliEnv);
    expect(again.stderr).toContain("replayed 0 dead letter(s); skipped 1 already replayed");
    const pending = await runCli(["list", "--pending", "--json"], cliEnv);
    expect(pending.stdout.trim().split("\n")).toHaveLength(5);

    // SIGTERM: drain, commit, exit 0.
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(await kafka.caughtUp(group, topic)).toBe(true);
  });
});
