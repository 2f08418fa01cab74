// Dependencies failing while records keep arriving. Nuxeo erring: batches fail and are retried,
// never committed nor dead-lettered. NATS down: the ingest stops committing (nothing is
// acknowledged), holds no more than the batch in hand, reports not ready, and once NATS is back
// resumes where it stopped. In the end every routed event is stored exactly once.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Bus } from "@drivecast/bus";
import type { RestServer } from "@drivecast/nuxeo-sim";
import { Names } from "@drivecast/protocol";
import { randomName, startNatsServer, type NatsServerHandle } from "@drivecast/testkit";
import {
  KafkaTool,
  metric,
  natsBus,
  spawnIngest,
  startSimRest,
  storedEvents,
  waitFor,
  type SpawnedIngest,
} from "./int-helpers.js";
import { expectedEvents, routingWorld, withOffsets, type WorkloadRecord } from "./world.js";

const SHARDS = 8;

let nats: NatsServerHandle;
let kafka: KafkaTool;
let rest: RestServer;
let ingest: SpawnedIngest | null = null;

beforeAll(async () => {
  // fsync every write: the server is killed below, and what it acknowledged must survive.
  nats = await startNatsServer({ syncAlways: true });
  kafka = new KafkaTool(inject("kafkaBrokers"));
});

afterAll(async () => {
  if (ingest !== null && ingest.child.exitCode === null) ingest.child.kill("SIGKILL");
  await kafka?.close();
  await rest?.close();
  await nats?.stop();
});

describe("backpressure", () => {
  it("backpressure - with Nuxeo erring or NATS down the ingest commits nothing, then resumes without loss", async () => {
    const world = await routingWorld(6);
    rest = await startSimRest(world.sim);
    const topic = await kafka.createTopic(1);
    const group = randomName("group");
    const prefix = "BP_";
    const names = new Names({ prefix, subjectPrefix: "bp." });
    const produced: WorkloadRecord[] = [];
    // Small sends: Kafka hands a consumer at least one whole producer batch per fetch.
    const produce = async (n: number) => {
      const batch = await world.generate(n, 1);
      produced.push(...batch);
      await kafka.produce(topic, batch, 20);
    };
    ingest = await spawnIngest({
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NUXEO_URL: rest.url,
      DRIVECAST_KAFKA_BROKERS: kafka.brokers.join(","),
      DRIVECAST_KAFKA_TOPICS: topic,
      DRIVECAST_KAFKA_GROUP: group,
      DRIVECAST_NAME_PREFIX: prefix,
      DRIVECAST_SUBJECT_PREFIX: "bp.",
      DRIVECAST_SHARDS: String(SHARDS),
      DRIVECAST_BATCH_SIZE: "50",
      // About 40 records per fetch, so what a stuck consumer holds is visible.
      DRIVECAST_KAFKA_MAX_BYTES_PER_PARTITION: "16384",
    });
    const proc = ingest;
    const fail = (e: Error) => {
      throw new Error(`${e.message}\n${proc.output()}`);
    };
    await produce(300);
    await waitFor(
      "the first records committed",
      () => kafka.caughtUp(group, topic),
      30_000,
      100,
    ).catch(fail);
    expect(await proc.readyz()).toBe(200);

    // Nuxeo failing for a while: the client retries, then the batch fails uncommitted and is
    // retried with backoff until Nuxeo answers again; nothing is dead-lettered or lost.
    world.sim.failNext(6, 503);
    await produce(50);
    await waitFor(
      "the records caught up after Nuxeo's errors",
      () => kafka.caughtUp(group, topic),
      30_000,
      100,
    ).catch(fail);
    const afterNuxeo = await proc.metrics();
    expect(metric(afterNuxeo, "drivecast_ingest_nuxeo_requests_total", { status: "503" })).toBe(6);
    expect(metric(afterNuxeo, "drivecast_ingest_batch_failures_total")).toBeGreaterThan(0);
    expect(metric(afterNuxeo, "drivecast_ingest_dead_letters_total")).toBe(0);

    const committedBefore = (await kafka.committed(group, topic)).get(0)!;
    const receivedBefore = metric(await proc.metrics(), "drivecast_ingest_records_in_total");

    await nats.kill();
    await produce(600);
    await waitFor("readiness to report NATS down", async () => (await proc.readyz()) === 503).catch(
      fail,
    );
    await waitFor(
      "the ingest to hold a batch it cannot publish",
      async () =>
        metric(await proc.metrics(), "drivecast_ingest_batch_failures_total") > 0 ||
        metric(await proc.metrics(), "drivecast_ingest_publish_retries_total") > 0,
    ).catch(fail);
    // Nothing acknowledged, nothing committed; and of the 600 records waiting it took no more
    // than one fetch: consumption paused instead of buffering.
    expect((await kafka.committed(group, topic)).get(0)).toBe(committedBefore);
    const held = metric(await proc.metrics(), "drivecast_ingest_records_in_total") - receivedBefore;
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(100);

    await nats.restart();
    await waitFor(
      "the ingest to resume and catch up",
      () => kafka.caughtUp(group, topic),
      60_000,
      100,
    ).catch(fail);
    await waitFor("readiness back", async () => (await proc.readyz()) === 200).catch(fail);

    const bus: Bus = await natsBus(nats.url);
    try {
      const expected = expectedEvents(world.sim, world.users, topic, withOffsets(produced), SHARDS);
      const seen = new Map<string, string[]>();
      const duplicates: string[] = [];
      for (const { shard, event } of await storedEvents(bus, names)) {
        const id = `${event.source}/${shard}`;
        if (seen.has(id)) duplicates.push(id);
        seen.set(id, [...event.users].sort());
      }
      expect(duplicates).toEqual([]);
      expect(seen.size).toBe(expected.size);
      for (const [id, users] of expected) expect(seen.get(id), id).toEqual(users);
    } finally {
      await bus.close();
    }
    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });
});
