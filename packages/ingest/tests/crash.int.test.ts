// kill -9 of an ingest process in the middle of a stream of thousands of events, then a restart:
// every shard receives every routed event exactly once. The kill is aimed at a moment when
// events of records not yet committed are already stored, so the restart must redeliver them
// and JetStream's deduplication must absorb them (the test checks that this happened).
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
import { expectedEvents, routingWorld, withOffsets } from "./world.js";

const SHARDS = 16;
const PARTITIONS = 3;

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

describe("crash", () => {
  it("crash - after kill -9 mid-stream and a restart, each shard has every routed event exactly once", async () => {
    const world = await routingWorld(12);
    rest = await startSimRest(world.sim);
    const topic = await kafka.createTopic(PARTITIONS);
    const records = withOffsets(await world.generate(3_000, PARTITIONS));
    const expected = expectedEvents(world.sim, world.users, topic, records, SHARDS);
    expect(expected.size).toBeGreaterThan(2_000);
    // Partition by partition, so each record's offset is its index within its partition.
    for (let p = 0; p < PARTITIONS; p++) {
      await kafka.produce(
        topic,
        records.filter((r) => r.partition === p),
      );
    }

    const prefix = "KILL_";
    const names = new Names({ prefix, subjectPrefix: "kill." });
    const group = randomName("group");
    const env = {
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NUXEO_URL: rest.url,
      DRIVECAST_KAFKA_BROKERS: kafka.brokers.join(","),
      DRIVECAST_KAFKA_TOPICS: topic,
      DRIVECAST_KAFKA_GROUP: group,
      DRIVECAST_NAME_PREFIX: prefix,
      DRIVECAST_SUBJECT_PREFIX: "kill.",
      DRIVECAST_SHARDS: String(SHARDS),
      DRIVECAST_BATCH_SIZE: "50",
      DRIVECAST_BOOTSTRAP_PAGE_SIZE: "4",
    };

    // Start, and kill -9 as soon as a batch's first events are stored: its other publishes are
    // then still in flight, so its records are not committed. Checking first that a stored
    // event's record is uncommitted took three requests, long enough for a fast batch to commit
    // meanwhile; so the kill is immediate and the check comes after it (and the kill is tried
    // again, further in the stream, if it came too late).
    let redelivered = 0;
    for (let attempt = 0; attempt < 10 && redelivered === 0; attempt++) {
      const seen = (await bus.streams.info(names.eventsStream))?.lastSeq ?? 0;
      const victim = await spawnIngest(env);
      processes.push(victim);
      await waitFor(
        "new events stored",
        async () => ((await bus.streams.info(names.eventsStream))?.lastSeq ?? 0) > seen,
        60_000,
        1,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${victim.output()}`);
      });
      victim.child.kill("SIGKILL");
      await victim.exited;
      // Events stored for records the group has not committed: the restart redelivers them.
      const committed = await kafka.committed(group, topic);
      redelivered = (await storedEvents(bus, names)).filter(({ event }) => {
        const [, p, o] = event.source.split("/");
        return BigInt(o!) >= (committed.get(Number(p)) ?? -1n);
      }).length;
      if (await kafka.caughtUp(group, topic)) break;
    }
    expect(redelivered, "the kill left stored events of uncommitted records").toBeGreaterThan(0);

    const survivor = await spawnIngest(env);
    processes.push(survivor);
    await waitFor(
      "the restarted ingest to catch up",
      () => kafka.caughtUp(group, topic),
      60_000,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${survivor.output()}`);
    });

    const stored = await storedEvents(bus, names);
    const seen = new Map<string, string[]>();
    const duplicates: string[] = [];
    for (const { shard, event } of stored) {
      const id = `${event.source}/${shard}`;
      if (seen.has(id)) duplicates.push(id);
      seen.set(id, [...event.users].sort());
    }
    expect(duplicates).toEqual([]);
    expect(seen.size).toBe(expected.size);
    for (const [id, users] of expected) expect(seen.get(id), id).toEqual(users);
    // Per shard, as the changeset sees it.
    const perShard = (m: Map<string, unknown>) => {
      const counts = new Array<number>(SHARDS).fill(0);
      for (const id of m.keys()) counts[Number(id.slice(id.lastIndexOf("/") + 1))]!++;
      return counts;
    };
    expect(perShard(seen)).toEqual(perShard(expected));
    // The redelivered records were published again and dropped by JetStream as duplicates.
    const m = await survivor.metrics();
    expect(metric(m, "drivecast_ingest_published_total", { duplicate: "true" })).toBeGreaterThan(0);
    survivor.child.kill("SIGTERM");
    expect(await survivor.exited).toBe(0);
  });
});
