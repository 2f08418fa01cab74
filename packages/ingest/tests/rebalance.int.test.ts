// Two ingest processes in one consumer group over a multi-partition topic, joining and leaving
// while records keep coming: the rebalances lose and duplicate nothing downstream.
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

const SHARDS = 16;
const PARTITIONS = 4;

let nats: NatsServerHandle;
let kafka: KafkaTool;
let rest: RestServer;
let bus: Bus;
const processes: SpawnedIngest[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
  kafka = new KafkaTool(inject("kafkaBrokers"));
  bus = await natsBus(nats.url);
});

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  await bus?.close();
  await kafka?.close();
  await rest?.close();
  await nats?.stop();
});

describe("rebalance", () => {
  it("rebalance - two processes in one group share the partitions; joining and leaving lose and duplicate nothing", async () => {
    const world = await routingWorld(10);
    rest = await startSimRest(world.sim);
    const topic = await kafka.createTopic(PARTITIONS);
    const prefix = "REB_";
    const names = new Names({ prefix, subjectPrefix: "reb." });
    const group = randomName("group");
    const env = {
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NUXEO_URL: rest.url,
      DRIVECAST_KAFKA_BROKERS: kafka.brokers.join(","),
      DRIVECAST_KAFKA_TOPICS: topic,
      DRIVECAST_KAFKA_GROUP: group,
      DRIVECAST_NAME_PREFIX: prefix,
      DRIVECAST_SUBJECT_PREFIX: "reb.",
      DRIVECAST_SHARDS: String(SHARDS),
      DRIVECAST_BATCH_SIZE: "50",
    };
    const produced: WorkloadRecord[] = [];
    const produce = async (n: number) => {
      const batch = await world.generate(n, PARTITIONS);
      produced.push(...batch);
      await kafka.produce(topic, batch);
    };
    const fail = (p: SpawnedIngest) => (e: Error) => {
      throw new Error(`${e.message}\n${p.output()}`);
    };

    // A alone.
    const a = await spawnIngest(env);
    processes.push(a);
    await produce(600);
    await waitFor(
      "A to consume the first records",
      () => kafka.caughtUp(group, topic),
      30_000,
      100,
    ).catch(fail(a));
    // Records keep coming from here on, while the group changes.
    let stopProducing = false;
    const producing = (async () => {
      while (!stopProducing) {
        await produce(40);
        // Paced by the consumers, so the backlog stays small whatever the machine's speed.
        await waitFor(
          "the group to keep up",
          async () => (await kafka.lag(group, topic)) < 200,
          30_000,
          20,
        );
      }
    })();
    const consumed = async (p: SpawnedIngest) =>
      metric(await p.metrics(), "drivecast_ingest_records_in_total");
    // B joins: the group rebalances, each process ends up with two partitions.
    const b = await spawnIngest(env);
    processes.push(b);
    await waitFor("B to consume records", async () => (await consumed(b)) > 0, 30_000, 100).catch(
      fail(b),
    );
    const aBefore = await consumed(a);
    await waitFor(
      "A to keep consuming besides B",
      async () => (await consumed(a)) > aBefore,
      30_000,
      100,
    ).catch(fail(a));
    // A leaves gracefully: it finishes and commits its batch, B takes every partition over.
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    const bAlone = await consumed(b);
    await waitFor(
      "B to consume after A left",
      async () => (await consumed(b)) > bAlone + 200,
      30_000,
      100,
    ).catch(fail(b));
    stopProducing = true;
    await producing;
    await waitFor("B to catch up alone", () => kafka.caughtUp(group, topic), 30_000, 100).catch(
      fail(b),
    );

    // Kafka offsets of what was produced, partition by partition, in produce order.
    const records = withOffsets(produced);
    const expected = expectedEvents(world.sim, world.users, topic, records, SHARDS);
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
    b.child.kill("SIGTERM");
    expect(await b.exited).toBe(0);
  });
});
