import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import {
  createLogger,
  createMemoryBus,
  Registry,
  type Bus,
  type Consumer,
  type MemoryBus,
} from "@drivecast/bus";
import { msgpackCodec, Names, shardOf, type DocEvent, type FeedEntry } from "@drivecast/protocol";
import {
  DEFAULT_CHANGESET_CONFIG,
  feedCodec,
  startChangeset,
  type ChangesetConfig,
  type ChangesetHandle,
} from "@drivecast/changeset";
import { simNuxeo, waitFor } from "./helpers.js";
import { createLoad, publish, writeRoots, type Load } from "./load.js";
import { compareFeed, modelChanges, type SeqEvent } from "./model.js";

const names = new Names();
const eventCodec = msgpackCodec<DocEvent>();

const FAST: Partial<ChangesetConfig> = {
  leaseTtlMs: 600,
  ackWaitMs: 400,
  quietMs: 20,
  maxDelayMs: 100,
  releaseTimeoutMs: 2000,
  deviceSweepMs: 0,
};

interface Worker {
  id: string;
  bus: Bus;
  handle: ChangesetHandle;
  registry: Registry;
  logs: Record<string, unknown>[];
  nuxeo: ReturnType<typeof simNuxeo>;
}

const running: Worker[] = [];
afterEach(async () => {
  for (const w of running.splice(0)) await w.handle.drain().catch(() => undefined);
});

async function startWorker(
  bus: Bus,
  load: Load,
  id: string,
  config: Partial<ChangesetConfig> = {},
): Promise<Worker> {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split("\n"))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const registry = new Registry();
  const nuxeo = simNuxeo(load.sim);
  const handle = await startChangeset(
    { ...DEFAULT_CHANGESET_CONFIG, ...FAST, shardCount: 4, workerId: id, ...config },
    {
      bus,
      nuxeo,
      logger: createLogger({ name: "changeset", level: "info", destination }),
      registry,
    },
  );
  const w = { id, bus, handle, registry, logs, nuxeo };
  running.push(w);
  return w;
}

async function readFeed(bus: Bus, shard: number, user: string): Promise<FeedEntry[]> {
  return (await bus.streams.read(names.feedsStream, names.feed(shard, user), 1)).map((m) =>
    feedCodec.decode(m.data),
  );
}

async function metric(w: Worker, name: string, labels = ""): Promise<number> {
  const text = await w.registry.metrics();
  const line = text
    .split("\n")
    .find(
      (l) =>
        l.startsWith(`${name}${labels ? `{${labels}}` : ""} `) || l.startsWith(`${name}{${labels}`),
    );
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function setup(
  users: number,
  shardCount = 4,
): Promise<{ bus: MemoryBus; load: Load; published: SeqEvent[] }> {
  const bus = createMemoryBus();
  const load = await createLoad({ users, shardCount, seed: 42 });
  await writeRoots(bus, names, load.roots);
  return { bus, load, published: [] };
}

async function publishSteps(
  bus: Bus,
  load: Load,
  published: SeqEvent[],
  steps: number,
): Promise<void> {
  for (let i = 0; i < steps; i++) {
    for (const { shard, event } of await load.step())
      published.push(await publish(bus, names, shard, event));
  }
}

/** Compares every user's feed with the model; resolves with the problems (none = exact). */
async function problems(
  bus: Bus,
  load: Load,
  published: SeqEvent[],
  shardCount = 4,
): Promise<string[]> {
  const out: string[] = [];
  for (const u of load.users) {
    const feed = await readFeed(bus, shardOf(u.user, shardCount), u.user);
    const mine = published.filter((p) => p.event.users.includes(u.user));
    out.push(...compareFeed(u, mine, feed));
  }
  return out;
}

async function converged(
  bus: Bus,
  load: Load,
  published: SeqEvent[],
  shardCount = 4,
): Promise<void> {
  let last: string[] = [];
  await waitFor(
    async () => (last = await problems(bus, load, published, shardCount)).length === 0,
    () => `every feed to match the model; still:\n${last.slice(0, 5).join("\n")}`,
    20_000,
  );
}

describe("changeset worker (memory bus)", () => {
  it("changeset - every change reaches the feeds once, in sets matching the model", async () => {
    const { bus, load, published } = await setup(6);
    await startWorker(bus.connect(), load, "w1");
    await publishSteps(bus, load, published, 60);
    await converged(bus, load, published);
  });

  it("changeset - two concurrent DocEvents for a new user activate one actor", async () => {
    const { bus, load, published } = await setup(1, 1);
    const w = await startWorker(bus.connect(), load, "w1", { shardCount: 1 });
    await waitFor(
      () => w.handle.owned().length === 1,
      () => "the shard to be leased",
    );
    const user = load.users[0]!.user;
    // Two events in the stream before the shard fetches: one batch, two messages, one user.
    await publishSteps(bus, load, published, 2);
    await converged(bus, load, published, 1);
    expect(await metric(w, "drivecast_changeset_actor_activations_total")).toBe(1);
    expect(w.nuxeo.userCalls.get(user)).toBe(1);
  });

  it("changeset - a DocEvent is acknowledged only after every change set it contributed to is stored", async () => {
    const { bus, load, published } = await setup(4);
    const log: string[] = [];
    const spy = spyBus(bus.connect(), log);
    await startWorker(spy, load, "w1");
    await publishSteps(bus, load, published, 30);
    await converged(bus, load, published);
    await waitFor(
      () => log.filter((l) => l.startsWith("ack")).length >= published.length,
      () => "every event acknowledged",
    );
    // For each acknowledged event and each of its users for whom it has an effect (per the
    // model), a set covering it was stored before the ack.
    const effects = new Map<string, Set<number>>();
    for (const u of load.users) {
      const mine = published.filter((p) => p.event.users.includes(u.user));
      effects.set(
        u.user,
        new Set(
          modelChanges(u, mine)
            .filter((c) => c.changes.length > 0)
            .map((c) => c.seq),
        ),
      );
    }
    const storedUpTo = new Map<string, number>();
    let checked = 0;
    for (const line of log) {
      const [kind, a, b] = line.split(" ");
      if (kind === "stored") storedUpTo.set(a!, Math.max(storedUpTo.get(a!) ?? 0, Number(b)));
      if (kind !== "ack") continue;
      const seq = Number(a);
      for (const u of published.find((x) => x.seq === seq)!.event.users) {
        if (!effects.get(u)!.has(seq)) continue;
        checked++;
        expect(
          storedUpTo.get(u) ?? 0,
          `event ${seq} acknowledged before ${u}'s set was stored`,
        ).toBeGreaterThanOrEqual(seq);
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it("changeset - a crashed worker's events are redelivered to its successor: nothing lost, nothing twice", async () => {
    const { bus, load, published } = await setup(6);
    const c1 = bus.connect();
    const w1 = await startWorker(c1, load, "w1");
    await publishSteps(bus, load, published, 40);
    // Crash mid-load: some sets are stored, others pending in the debounce buffers.
    await waitFor(
      async () =>
        (await metric(w1, "drivecast_changeset_flushes_total", 'reason="quiet"')) > 0 ||
        (await metric(w1, "drivecast_changeset_flushes_total", 'reason="maxDelay"')) > 0,
      () => "a first flush",
    );
    await c1.close();
    await publishSteps(bus, load, published, 40);
    const w2 = await startWorker(bus.connect(), load, "w2");
    await publishSteps(bus, load, published, 20);
    await converged(bus, load, published);
    // w2 took the shards over after the grace period (not cleanly: w1 never released them).
    const started = w2.logs.filter((l) => l.msg === "shard processing started");
    expect(started.length).toBe(4);
    expect(started.every((l) => (l.graceMs as number) > 0)).toBe(true);
  });

  it("changeset - a crash after a set is stored but before its events are acknowledged duplicates nothing", async () => {
    const { bus, load, published } = await setup(6);
    const c1 = bus.connect();
    const log: string[] = [];
    // The crash hits right after the fifth stored set, before the acknowledgements it allows.
    const spy = spyBus(c1, log, (n) => {
      if (n === 5) void c1.close();
    });
    const w1 = await startWorker(spy, load, "w1");
    await waitFor(
      () => w1.handle.owned().length === 4,
      () => "w1 to own every shard",
    );
    // Paced so that sets are stored one flush at a time.
    while (c1.isConnected()) {
      const before = log.length;
      await publishSteps(bus, load, published, 2);
      await waitFor(
        () => log.length > before || !c1.isConnected(),
        () => "a set stored",
      );
    }
    await publishSteps(bus, load, published, 10);
    await startWorker(bus.connect(), load, "w2");
    await publishSteps(bus, load, published, 10);
    await converged(bus, load, published);
  });

  it("changeset - drain hands shards over cleanly: the successor starts without a grace period", async () => {
    const { bus, load, published } = await setup(4);
    const w1 = await startWorker(bus.connect(), load, "w1");
    await publishSteps(bus, load, published, 20);
    await waitFor(
      () => w1.handle.owned().length === 4,
      () => "w1 to own every shard",
    );
    await w1.handle.drain();
    running.splice(running.indexOf(w1), 1);
    const released = w1.logs.filter((l) => l.msg === "shard processing stopped");
    expect(released.map((l) => l.clean)).toEqual([true, true, true, true]);
    const w2 = await startWorker(bus.connect(), load, "w2");
    await publishSteps(bus, load, published, 20);
    await converged(bus, load, published);
    const started = w2.logs.filter((l) => l.msg === "shard processing started");
    expect(started.map((l) => l.graceMs)).toEqual([0, 0, 0, 0]);
  });

  it("changeset - a shard given back during its grace period is handed over as unclean", async () => {
    const { bus, load, published } = await setup(4);
    const c1 = bus.connect();
    const w1 = await startWorker(c1, load, "w1", { ackWaitMs: 2000 });
    await waitFor(
      () => w1.handle.owned().length === 4,
      () => "w1 to own every shard",
    );
    await publishSteps(bus, load, published, 10);
    await c1.close(); // crash: its deliveries stay pending for the ack wait
    const w2 = await startWorker(bus.connect(), load, "w2", { ackWaitMs: 2000 });
    await waitFor(
      () => w2.handle.owned().length === 4,
      () => "w2 to take every shard over",
      10_000,
    );
    await w2.handle.drain(); // still within the 2.5 s grace
    running.splice(running.indexOf(w2), 1);
    const stopped = w2.logs.filter((l) => l.msg === "shard processing stopped");
    expect(stopped.map((l) => l.clean)).toEqual([false, false, false, false]);
    const w3 = await startWorker(bus.connect(), load, "w3", { ackWaitMs: 2000 });
    await converged(bus, load, published);
    const started = w3.logs.filter((l) => l.msg === "shard processing started");
    expect(started.every((l) => (l.graceMs as number) > 0)).toBe(true);
  });

  it("changeset - a worker joining takes over shards gradually and the feeds stay exact", async () => {
    const { bus, load, published } = await setup(6);
    const w1 = await startWorker(bus.connect(), load, "w1");
    await waitFor(
      () => w1.handle.owned().length === 4,
      () => "w1 to own every shard",
    );
    await publishSteps(bus, load, published, 20);
    const w2 = await startWorker(bus.connect(), load, "w2");
    await publishSteps(bus, load, published, 20);
    await waitFor(
      () => w2.handle.owned().length === 2 && w1.handle.owned().length === 2,
      () => "two shards each",
    );
    await publishSteps(bus, load, published, 20);
    await converged(bus, load, published);
  });

  it("changeset - events held longer than the ack wait (wide windows) are kept alive, not redelivered", async () => {
    const { bus, load, published } = await setup(3, 1);
    const log: string[] = [];
    const spy = spyBus(bus.connect(), log);
    await startWorker(spy, load, "w1", {
      shardCount: 1,
      ackWaitMs: 400,
      quietMs: 1500,
      maxDelayMs: 1500,
    });
    await publishSteps(bus, load, published, 10);
    await converged(bus, load, published, 1);
    expect(log.filter((l) => l.startsWith("redelivered"))).toEqual([]);
    expect(log.filter((l) => l.startsWith("working")).length).toBeGreaterThan(0);
  });

  it("changeset - a worker that lost its leases (partitioned) gets them back and resumes", async () => {
    const { bus, load, published } = await setup(4);
    const client = bus.connect();
    let cut = false;
    // The lease bucket becomes unreachable for a while; the streams stay reachable.
    const partitioned: Bus = Object.assign(Object.create(client) as Bus, {
      kv: async (config: Parameters<Bus["kv"]>[0]) => {
        const kv = await client.kv(config);
        if (!config.bucket.endsWith("drive_shards")) return kv;
        const guard =
          <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
          (...a: A): Promise<R> =>
            cut ? Promise.reject(new Error("partitioned")) : f(...a);
        return Object.assign(Object.create(kv) as typeof kv, {
          put: guard(kv.put.bind(kv)),
          update: guard(kv.update.bind(kv)),
          create: guard(kv.create.bind(kv)),
        });
      },
    });
    const w = await startWorker(partitioned, load, "w1");
    await waitFor(
      () => w.handle.owned().length === 4,
      () => "every shard leased",
    );
    await publishSteps(bus, load, published, 20);
    cut = true;
    await waitFor(
      () => w.handle.owned().length === 0,
      () => "every lease lost",
      10_000,
    );
    await publishSteps(bus, load, published, 20);
    cut = false;
    await publishSteps(bus, load, published, 10);
    await converged(bus, load, published);
    expect(w.logs.filter((l) => l.msg === "lease lost").length).toBe(4);
  });

  it("changeset - a worker owning no shard (W > S) is ready", async () => {
    const { bus, load } = await setup(1, 1);
    const w1 = await startWorker(bus.connect(), load, "w1", { shardCount: 1 });
    const w2 = await startWorker(bus.connect(), load, "w2", { shardCount: 1 });
    await waitFor(
      () => w1.handle.owned().length + w2.handle.owned().length === 1,
      () => "the shard leased by one of them",
    );
    expect(w1.handle.ready()).toBe(true);
    expect(w2.handle.ready()).toBe(true);
  });

  it("changeset - an undecodable DocEvent is terminated and counted, and the shard goes on", async () => {
    const { bus, load, published } = await setup(1, 1);
    const w = await startWorker(bus.connect(), load, "w1", { shardCount: 1 });
    await bus.streams.append(names.events(0), new Uint8Array([0xc1, 0x00]));
    await bus.streams.append(
      names.events(0),
      eventCodec.encode({ nonsense: true } as unknown as DocEvent),
    );
    await publishSteps(bus, load, published, 3);
    await converged(bus, load, published, 1);
    expect(await metric(w, "drivecast_changeset_events_total", 'outcome="malformed"')).toBe(2);
  });

  it("changeset - DRIVE_FEEDS gets the configured retention", async () => {
    const { bus, load } = await setup(1, 1);
    await startWorker(bus.connect(), load, "w1", {
      shardCount: 1,
      feedMaxPerUser: 50,
      feedMaxAgeMs: 3_600_000,
    });
    const info = await bus.streams.info(names.feedsStream);
    expect(info?.config.maxMsgsPerSubject).toBe(50);
    expect(info?.config.maxAgeMs).toBe(3_600_000);
  });

  it("changeset - actors over the cap are passivated, least recently used first", async () => {
    const { bus, load, published } = await setup(6, 1);
    const w = await startWorker(bus.connect(), load, "w1", { shardCount: 1, maxActors: 2 });
    await publishSteps(bus, load, published, 30);
    await converged(bus, load, published, 1);
    await publishSteps(bus, load, published, 1); // one more fetch runs the housekeeping
    await converged(bus, load, published, 1);
    await waitFor(
      async () => (await metric(w, "drivecast_changeset_actors_active")) <= 2,
      () => "at most 2 active actors",
    );
    expect(await metric(w, "drivecast_changeset_actor_passivations_total")).toBeGreaterThan(0);
  });

  it("changeset - idle actors are passivated and come back on their next event", async () => {
    const { bus, load, published } = await setup(3, 1);
    const w = await startWorker(bus.connect(), load, "w1", { shardCount: 1, actorIdleMs: 300 });
    await publishSteps(bus, load, published, 10);
    await converged(bus, load, published, 1);
    await waitFor(
      async () => (await metric(w, "drivecast_changeset_actors_active")) === 0,
      () => "every actor passivated",
    );
    const activations = await metric(w, "drivecast_changeset_actor_activations_total");
    await publishSteps(bus, load, published, 10);
    await converged(bus, load, published, 1);
    expect(await metric(w, "drivecast_changeset_actor_activations_total")).toBeGreaterThan(
      activations,
    );
  });

  it("changeset - a group event re-reads the groups of the users it may concern", async () => {
    const { bus, load, published } = await setup(3, 1);
    const w = await startWorker(bus.connect(), load, "w1", { shardCount: 1 });
    await publishSteps(bus, load, published, 10);
    await converged(bus, load, published, 1);
    const users = load.users.map((u) => u.user);
    const before = users.map((u) => w.nuxeo.userCalls.get(u) ?? 0);
    expect(before.every((n) => n === 1)).toBe(true); // activation only: cached since
    const group: DocEvent = {
      ...published[0]!.event,
      eventId: "group_modified",
      category: "userGroup",
      docUuid: "",
      docPath: "",
      doc: null,
      ancestors: [],
      before: null,
      extended: { id: "everyone-here" },
      users: [users[0]!], // the current member the ingest knows of; the others held it in cache
    };
    await bus.streams.append(names.events(0), eventCodec.encode(group));
    await waitFor(
      () => users.every((u) => (w.nuxeo.userCalls.get(u) ?? 0) === 2),
      () => `every user's groups read again; calls ${JSON.stringify([...w.nuxeo.userCalls])}`,
    );
    await converged(bus, load, published, 1); // groups unchanged: no change at all
  });

  it("changeset - another writer's set covering part of a pending set makes the shard rewind", async () => {
    const { bus, load, published } = await setup(1, 1);
    const w = await startWorker(bus.connect(), load, "w1", {
      shardCount: 1,
      quietMs: 400,
      maxDelayMs: 2000,
    });
    await waitFor(
      () => w.handle.owned().length === 1,
      () => "the shard to be leased",
    );
    const user = load.users[0]!.user;
    await publishSteps(bus, load, published, 2);
    await waitFor(
      async () =>
        (await metric(w, "drivecast_changeset_shard_inflight", 'shard="0"')) >= published.length,
      () => "both events in hand",
    );
    // A stale writer stores a set covering the first event only.
    const first = published[0]!.seq;
    await bus.streams.append(
      names.feed(0, user),
      feedCodec.encode({
        user,
        lowerBound: 0,
        summary: {
          fileSystemChanges: [],
          syncDate: 0,
          upperBound: 1000,
          hasTooManyChanges: false,
          activeSynchronizationRootDefinitions: "",
        },
        eventSeq: first,
      }),
    );
    // The rewind waits out the events' ack wait before fetching again: allow for a loaded machine.
    await waitFor(
      () => w.logs.some((l) => l.msg === "shard processing started" && l.why === "rewind"),
      () => "the shard to rewind and start again",
      30_000,
    );
    await waitFor(
      async () => (await readFeed(bus, 0, user)).length === 2,
      () => "the rest stored after the rewind",
    );
    const feed = await readFeed(bus, 0, user);
    expect(feed[1]!.lowerBound).toBe(1000);
    const mine = published.filter((p) => p.event.users.includes(user) && p.seq > first);
    expect(feed[1]!.eventSeq).toBe(mine[mine.length - 1]!.seq);
    // Exactly the changes of the events after the stale writer's set.
    const model = compareFeed(load.users[0]!, mine, [{ ...feed[1]!, lowerBound: 0 }]);
    expect(model).toEqual([]);
  });

  it("changeset - metrics name shards, actors, outcomes, changes, flushes, windows and lag", async () => {
    const { bus, load, published } = await setup(2, 1);
    const w = await startWorker(bus.connect(), load, "w1", { shardCount: 1 });
    await publishSteps(bus, load, published, 5);
    await converged(bus, load, published, 1);
    await new Promise((r) => setTimeout(r, 1100)); // the window gauges update every second
    const text = await w.registry.metrics();
    for (const name of [
      "drivecast_changeset_shards_owned 1",
      'drivecast_changeset_shard_owned{shard="0"} 1',
      "drivecast_changeset_actors_active",
      'drivecast_changeset_events_total{outcome="changed"}',
      "drivecast_changeset_changes_total{eventId=",
      "drivecast_changeset_flush_changes_bucket",
      "drivecast_changeset_window_scale 1",
      'drivecast_changeset_flush_window_seconds{window="quiet"} 0.02',
      'drivecast_changeset_shard_lag_seconds{shard="0"}',
      'drivecast_changeset_shard_inflight{shard="0"}',
      'drivecast_changeset_lease_events_total{type="acquired"} 1',
    ]) {
      expect(text, name).toContain(name);
    }
  });
});

/** The bus with its consumers' acks and the feed appends written to `log`, in order. */
function spyBus(bus: Bus, log: string[], afterStore?: (stored: number) => void): Bus {
  const streams = bus.streams;
  const spied: Bus["streams"] = Object.create(streams) as Bus["streams"];
  let stored = 0;
  spied.append = async (subject, data, options) => {
    const res = await streams.append(subject, data, options);
    if (subject.startsWith("drive.feed.")) {
      const e = feedCodec.decode(data);
      log.push(`stored ${e.user} ${e.eventSeq}`);
      afterStore?.(++stored);
    }
    return res;
  };
  spied.consumer = async (config) => {
    const c = await streams.consumer(config);
    const wrapped: Consumer = {
      name: c.name,
      close: () => c.close(),
      fetch: async (max, expires) =>
        (await c.fetch(max, expires)).map((d) => {
          if (d.deliveryCount > 1) log.push(`redelivered ${d.seq}`);
          return Object.assign(Object.create(d) as typeof d, {
            ackNoWait: () => {
              log.push(`ack ${d.seq}`);
              d.ackNoWait();
            },
            working: () => {
              log.push(`working ${d.seq}`);
              d.working();
            },
          });
        }),
    };
    return wrapped;
  };
  return Object.assign(Object.create(bus) as Bus, { streams: spied });
}
