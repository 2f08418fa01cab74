// Changeset benchmark (one scenario: the changeset worker at 100,000 users and 200,000 roots).
//
// 1. DocEvents/s per worker, one core: 100,000 users with two personal roots each (200,000 root
//    documents) and 1,000 team roots of 100 members. A warm-up pass sends one event to every
//    user (100,000 actor activations: feed head + groups); the measured pass then sends 200,000
//    DocEvents at random (95 % of the audit events in one user's personal roots, 5 % in a team
//    folder, which reaches every member: one DocEvent per shard holding members). The figure is
//    DocEvents acknowledged per CPU-second of the worker process over the measured pass, so the
//    flush windows' tail does not count. Goal: >= 20,000/s.
//    The worker runs alone in its own process (nats-server on the other core); the events were
//    published before it started. Beside it, the CPU each DocEvent costs in process (decode,
//    change computation, change set build and encode), to show what the rest is: NATS requests
//    (one acknowledgement per DocEvent, one append per stored set).
// 2. RSS of that worker with every actor active (100,000 actors, 201,000 roots in its view),
//    after a full GC.
// 3. Shard takeover: two workers (64 shards, default lease TTL 10 s, ack wait 4 s), events
//    trickling into every shard; one is killed with SIGKILL. Time from the kill until the
//    survivor processes each of the dead worker's shards again. Goal: <= 2 × lease TTL.
//
// Prints the figures and rewrites the "changeset" section of test/bench/RESULTS.md.
// Run alone: `node test/bench/run.mjs changeset` (after `pnpm build`); BENCH_USERS and
// BENCH_EVENTS shrink the world and the measured pass for a quick try (RESULTS.md is still
// rewritten: do not commit such a run). BENCH_QUICK=1 stops after the throughput figure (RESULTS.md
// untouched); BENCH_WORKER_PROF=<dir> writes the worker's CPU profile of the measured pass there.
import { fork, type ChildProcess } from "node:child_process";
import { openSync } from "node:fs";
import { cpus, getPriority, loadavg, setPriority, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectNatsBus, type Bus } from "@drivecast/bus";
import {
  buildSummary,
  computeEvent,
  createDocEventDecoder,
  createPendingChanges,
  DEFAULT_CHANGESET_CONFIG,
  feedCodec,
  userContext,
  type UserContext,
} from "@drivecast/changeset";
import {
  msgpackCodec,
  Names,
  rootKey,
  type DocEvent,
  type FileSystemItemChange,
  type RootEntry,
} from "@drivecast/protocol";
import { randomName, startNatsServer } from "@drivecast/testkit";
import { groupsOf, rootEntries, worldEvents } from "./changeset-world.js";
import { updateResults } from "./results.js";

const here = dirname(fileURLToPath(import.meta.url));
const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const MEASURED = Number(process.env.BENCH_EVENTS ?? 200_000);
const SHARDS = 64;
const TEAM_SHARE = 0.05;
const TAKEOVER_RUNS = 3;
const eventCodec = msgpackCodec<DocEvent>();
const rootCodec = msgpackCodec<RootEntry>();

function log(text: string): void {
  console.log(`${new Date().toISOString().slice(11, 19)} ${text}`);
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function pool<T>(
  items: Iterable<T>,
  width: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  const inflight = new Set<Promise<unknown>>();
  for (const item of items) {
    const p = fn(item).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= width) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

async function writeWorld(bus: Bus, names: Names): Promise<{ roots: number }> {
  const kv = await bus.kv({ bucket: names.rootsBucket, history: 1 });
  let roots = 0;
  await pool(rootEntries(USERS), 500, (r) => {
    roots++;
    return kv.put(rootKey(r.repository, r.uid), rootCodec.encode(r));
  });
  await bus.streams.ensure({ name: names.eventsStream, subjects: [names.eventsSubjects] });
  return { roots };
}

/**
 * Publishes a pass of DocEvents: `sequential`, the warm-up (one audit event per user);
 * `random`, the measured load (`MEASURED` DocEvents). Returns how many were published.
 */
async function publishPass(
  bus: Bus,
  names: Names,
  order: "sequential" | "random",
): Promise<number> {
  const events = worldEvents({
    users: USERS,
    shardCount: SHARDS,
    teamShare: TEAM_SHARE,
    userOrder: order,
    seed: 11,
  });
  let n = 0;
  const until = order === "sequential" ? () => events.audit >= USERS : () => n >= MEASURED;
  function* gen() {
    while (!until()) {
      for (const e of events.next()) {
        n++;
        yield e;
      }
    }
  }
  await pool(gen(), 2000, ({ shard, event }) =>
    bus.streams.append(names.events(shard), eventCodec.encode(event)),
  );
  return n;
}

interface Stats {
  at: number;
  events: number;
  activations: number;
  cpuMicros: number;
  rss: number;
  heapUsed: number;
  owned: number;
}

/** 1a + 2: the worker in its own process on NATS. */
async function natsThroughput(natsUrl: string): Promise<{
  rate: number;
  wallRate: number;
  rss: number;
  heap: number;
  warmRate: number;
  roots: number;
  docEvents: number;
}> {
  const bus = await connectNatsBus({ servers: natsUrl, timeoutMs: 30_000 });
  const prefix = `${randomName("b")}_`;
  const names = new Names({ prefix, subjectPrefix: `${prefix}.` });
  log("NATS: writing 201,000 roots to KV");
  const { roots } = await writeWorld(bus, names);
  log("NATS: starting the worker");
  const child = fork(
    join(here, "changeset-worker.js"),
    [
      JSON.stringify({
        natsUrl,
        config: {
          workerId: "bench-1",
          shardCount: SHARDS,
          naming: { prefix, subjectPrefix: `${prefix}.` },
          // Every actor stays active through the run (which takes minutes at 100,000 users):
          // the figure is the steady state of that many active actors, not re-activations.
          actorIdleMs: 900_000,
        },
      }),
    ],
    {
      execArgv: [
        "--expose-gc",
        "--max-old-space-size=4096",
        // As the README recommends for changeset workers (and deploy/ sets).
        "--max-semi-space-size=64",
      ],
      // BENCH_WORKER_LOG=<file>: keep the worker's log lines there.
      stdio: [
        "ignore",
        process.env.BENCH_WORKER_LOG ? openSync(process.env.BENCH_WORKER_LOG, "a") : "ignore",
        "inherit",
        "ipc",
      ],
    },
  );
  let last: Stats | null = null;
  const next = (until: (m: Stats) => boolean): Promise<Stats> =>
    new Promise((resolve, reject) => {
      const exited = (code: number | null) =>
        reject(new Error(`the worker exited (code ${code}) before the benchmark's end`));
      const on = (m: { type: string } & Stats) => {
        if (m.type !== "stats") return;
        last = m;
        if (!until(m)) return;
        child.off("message", on);
        child.off("exit", exited);
        resolve(m);
      };
      child.on("message", on);
      child.once("exit", exited);
    });
  const progress = setInterval(() => {
    if (last)
      log(`NATS: ${last.events} DocEvents acknowledged, RSS ${Math.round(last.rss / 2 ** 20)} MiB`);
  }, 10_000);
  // The load is published only once the worker owns every shard: a worker leases its shards a
  // few at a time, and with a backlog waiting the first ones raced through their whole load
  // (activations and measured events) while the last were still being leased, so no window of
  // the run had every shard in steady state. The measured pass starts once every user's actor
  // is active; its events are published then, faster than the worker takes them, so it works
  // through a backlog as with a load published in advance.
  await next((m) => m.owned >= SHARDS);
  // This process only generates load: while it publishes, the worker and nats-server (started
  // before, at the usual priority) go first on the machine's two cores.
  const priority = getPriority();
  setPriority(19);
  log("NATS: the worker owns every shard; publishing the warm-up pass");
  const warm = await publishPass(bus, names, "sequential");
  const w = await next((m) => m.events >= warm && m.activations >= USERS);
  // BENCH_WORKER_PROF=<dir>: a V8 CPU profile of the worker's measured pass there.
  if (process.env.BENCH_WORKER_PROF) child.send({ type: "profile-start" });
  log(`NATS: ${warm} warm-up DocEvents handled, every actor active; publishing the measured load`);
  const measured = await publishPass(bus, names, "random");
  const e = await next((m) => m.events >= warm + measured);
  try {
    setPriority(priority);
  } catch {
    // Raising a priority back needs privileges: the rest of the run is measured by CPU time.
  }
  if (process.env.BENCH_WORKER_PROF) {
    child.send({ type: "profile-stop", dir: process.env.BENCH_WORKER_PROF });
  }
  clearInterval(progress);
  log(
    `NATS: measured from ${w.events} to ${e.events} DocEvents acknowledged; actors activated: ${w.activations} before, ${e.activations - w.activations} during`,
  );
  child.send({ type: "gc" });
  const after = await nextStats(child);
  child.send({ type: "stop" });
  await new Promise((r) => child.once("exit", r));
  await bus.close();
  return {
    rate: (e.events - w.events) / ((e.cpuMicros - w.cpuMicros) / 1e6),
    wallRate: (e.events - w.events) / ((e.at - w.at) / 1000),
    warmRate: w.events / (w.cpuMicros / 1e6),
    rss: after.rss,
    heap: after.heapUsed,
    roots,
    docEvents: warm + measured,
  };
}

function nextStats(child: ChildProcess): Promise<Stats> {
  return new Promise((resolve) => {
    const on = (m: { type: string } & Stats) => {
      if (m.type !== "stats") return;
      child.off("message", on);
      resolve(m);
    };
    child.on("message", on);
  });
}

/**
 * 1b: where a DocEvent's CPU goes, in process: decoding it (msgpack), computing its change for
 * each of its users, and building + encoding the change set a flush stores for it.
 */
function breakdown(): {
  decodeUs: number;
  computeUs: number;
  flushUs: number;
  /** Mean size of a DocEvent, and of the change set stored for one. */
  bytes: number;
  setBytes: number;
} {
  const events = worldEvents({
    users: USERS,
    shardCount: SHARDS,
    teamShare: TEAM_SHARE,
    userOrder: "random",
    seed: 5,
  });
  const encoded: Uint8Array[] = [];
  while (encoded.length < 50_000)
    for (const e of events.next()) encoded.push(eventCodec.encode(e.event));
  // The worker's decoder (it shares equal ancestors between events), warmed as in the worker.
  const decodeEvent = createDocEventDecoder();
  const contexts = new Map<string, UserContext>();
  const ctx = (u: string): UserContext => {
    let c = contexts.get(u);
    if (c === undefined) {
      const i = Number(u.slice(1, 7));
      c = userContext({
        user: u,
        groups: groupsOf(u),
        isAdministrator: false,
        roots: [
          { repository: "default", uid: `ws-${i}`, path: `/default-domain/workspaces/ws-${i}` },
          { repository: "default", uid: `proj-${i}`, path: `/default-domain/projects/proj-${i}` },
          {
            repository: "default",
            uid: `team-${Math.floor(i / 100)}`,
            path: `/default-domain/teams/team-${Math.floor(i / 100)}`,
          },
        ],
      });
      contexts.set(u, c);
    }
    return c;
  };
  const cpu = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const best = { decodeUs: Infinity, computeUs: Infinity, flushUs: Infinity };
  let setBytes = 0;
  for (let run = 0; run < 5; run++) {
    let t = cpu();
    const decoded = encoded.map((b) => decodeEvent(b));
    best.decodeUs = Math.min(best.decodeUs, (cpu() - t) / encoded.length);
    t = cpu();
    const changes: FileSystemItemChange[][] = [];
    for (const e of decoded) for (const u of e.users) changes.push(computeEvent(ctx(u), e).changes);
    best.computeUs = Math.min(best.computeUs, (cpu() - t) / encoded.length);
    t = cpu();
    decoded.forEach((e, k) => {
      const pending = createPendingChanges();
      for (const c of changes[k] ?? []) pending.add(c);
      const summary = buildSummary({
        changes: pending.take().changes,
        syncDate: 0,
        upperBound: 1,
        roots: ctx(e.users[0]!).roots,
      });
      setBytes += feedCodec.encode({
        user: e.users[0]!,
        lowerBound: 0,
        summary,
        eventSeq: 1,
      }).length;
    });
    best.flushUs = Math.min(best.flushUs, (cpu() - t) / encoded.length);
  }
  return {
    ...best,
    bytes: encoded.reduce((n, b) => n + b.length, 0) / encoded.length,
    setBytes: setBytes / (5 * encoded.length),
  };
}

/** 3: takeover time after SIGKILL, default lease settings. */
async function takeover(natsUrl: string): Promise<number[]> {
  const ttl = DEFAULT_CHANGESET_CONFIG.leaseTtlMs;
  const results: number[] = [];
  for (let run = 0; run < TAKEOVER_RUNS; run++) {
    const bus = await connectNatsBus({ servers: natsUrl });
    const prefix = `${randomName("k")}_`;
    const names = new Names({ prefix, subjectPrefix: `${prefix}.` });
    await bus.streams.ensure({ name: names.eventsStream, subjects: [names.eventsSubjects] });
    const kv = await bus.kv({ bucket: names.rootsBucket, history: 1 });
    const users = 2000;
    for (const r of rootEntries(users))
      await kv.put(rootKey(r.repository, r.uid), rootCodec.encode(r));
    const starts = new Map<string, { shard: number; at: number; graceMs: number }[]>();
    const spawnWorker = (id: string): ChildProcess => {
      const child = fork(
        join(here, "changeset-worker.js"),
        [
          JSON.stringify({
            natsUrl,
            config: {
              workerId: id,
              shardCount: SHARDS,
              naming: { prefix, subjectPrefix: `${prefix}.` },
            },
          }),
        ],
        { stdio: ["ignore", "pipe", "inherit", "ipc"] },
      );
      let buffered = "";
      starts.set(id, []);
      child.stdout!.on("data", (chunk: Buffer) => {
        buffered += chunk.toString();
        let i: number;
        while ((i = buffered.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffered.slice(0, i)) as {
            msg: string;
            shard: number;
            time: string;
            graceMs: number;
          };
          buffered = buffered.slice(i + 1);
          if (line.msg === "shard processing started") {
            starts
              .get(id)!
              .push({ shard: line.shard, at: Date.parse(line.time), graceMs: line.graceMs });
          }
        }
      });
      return child;
    };
    const a = spawnWorker("a");
    const b = spawnWorker("b");
    const owned = new Map<ChildProcess, number>();
    for (const c of [a, b])
      c.on(
        "message",
        (m: { type: string; owned: number }) => m.type === "stats" && owned.set(c, m.owned),
      );
    const deadline = Date.now() + 180_000;
    while (
      (owned.get(a) ?? 0) + (owned.get(b) ?? 0) !== SHARDS ||
      (owned.get(a) ?? 0) === 0 ||
      (owned.get(b) ?? 0) === 0
    ) {
      if (Date.now() > deadline) throw new Error("the two workers never split the shards");
      await new Promise((r) => setTimeout(r, 100));
    }
    // Events trickle into every shard while a dies.
    const events = worldEvents({
      users,
      shardCount: SHARDS,
      teamShare: 0,
      userOrder: "random",
      seed: run + 1,
    });
    let trickling = true;
    const trickle = (async () => {
      while (trickling) {
        for (const { shard, event } of events.next())
          await bus.streams.append(names.events(shard), eventCodec.encode(event));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 2000));
    const aShards = new Set(starts.get("a")!.map((s) => s.shard));
    const killedAt = Date.now();
    a.kill("SIGKILL");
    while (!(
      aShards.size > 0 &&
      [...aShards].every((s) => starts.get("b")!.some((x) => x.shard === s && x.at >= killedAt))
    )) {
      if (Date.now() > killedAt + 4 * ttl) throw new Error("b never took a's shards over");
      await new Promise((r) => setTimeout(r, 100));
    }
    const resumed = Math.max(
      ...starts
        .get("b")!
        .filter((x) => aShards.has(x.shard) && x.at >= killedAt)
        .map((x) => x.at),
    );
    results.push(resumed - killedAt);
    log(
      `takeover run ${run + 1}: ${aShards.size} shards processed again ${resumed - killedAt} ms after SIGKILL`,
    );
    trickling = false;
    await trickle;
    b.send({ type: "stop" });
    await new Promise((r) => b.once("exit", r));
    await bus.close();
  }
  return results;
}

/**
 * 1c: what the NATS client alone costs per DocEvent, nothing else in the process: pull the
 * event (the benchmark's size), append one stored set (the size the flush writes, with the
 * headers the feed writer sets), acknowledge the event. The floor under the worker's figure.
 */
async function natsFloor(natsUrl: string, eventBytes: number, setBytes: number): Promise<number> {
  const n = 60_000;
  const bus = await connectNatsBus({ servers: natsUrl, name: "floor" });
  const publisher = await connectNatsBus({ servers: natsUrl, name: "floor-publisher" });
  try {
    const root = randomName("floor");
    await bus.streams.ensure({ name: `${root}_EV`, subjects: [`${root}.ev.>`] });
    await bus.streams.ensure({ name: `${root}_FEED`, subjects: [`${root}.feed.>`] });
    const event = new Uint8Array(eventBytes).fill(7);
    const set = new Uint8Array(setBytes).fill(9);
    await pool(
      Array.from({ length: n }, (_, i) => i),
      2000,
      (i) => publisher.streams.append(`${root}.ev.${i % SHARDS}`, event),
    );
    const consumer = await bus.streams.consumer({
      stream: `${root}_EV`,
      durable: "floor",
      filterSubjects: [`${root}.ev.>`],
      maxAckPending: 4096,
    });
    const started = process.cpuUsage();
    let done = 0;
    while (done < n) {
      const batch = await consumer.fetch(256, 1000);
      await Promise.all(
        batch.map(async (d) => {
          const user = `u${d.seq % USERS}`;
          await bus.streams.append(`${root}.feed.${d.seq % SHARDS}.${user}`, set, {
            msgId: `${user}:${d.seq}`,
            headers: { "Drivecast-Writer": "floor" },
          });
          d.ackNoWait();
        }),
      );
      done += batch.length;
    }
    const used = process.cpuUsage(started);
    await consumer.close();
    return (used.user + used.system) / n;
  } finally {
    await publisher.close();
    await bus.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const loadAtStart = loadavg()[0]!;
const nats = await startNatsServer({ config: ["max_payload: 8MB"] });
try {
  const n = await natsThroughput(nats.url);
  log(
    `NATS: ${Math.round(n.rate)} DocEvents/CPU-s (${Math.round(n.wallRate)}/s wall), RSS ${Math.round(n.rss / 2 ** 20)} MiB`,
  );
  if (process.env.BENCH_QUICK === "1") process.exit(0); // the throughput alone, for A/B tries
  const b = breakdown();
  log(
    `per DocEvent: decode ${b.decodeUs.toFixed(1)} µs, compute ${b.computeUs.toFixed(1)} µs, flush ${b.flushUs.toFixed(1)} µs`,
  );
  const floorUs = await natsFloor(nats.url, Math.round(b.bytes), Math.round(b.setBytes));
  log(`NATS client alone: ${floorUs.toFixed(1)} µs of CPU per DocEvent (pull, append, ack)`);
  const t = await takeover(nats.url);
  const ttl = DEFAULT_CHANGESET_CONFIG.leaseTtlMs;
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}; load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0]!.toFixed(1)} at the end (the machine is shared)`;
  const verdict = (ok: boolean) => (ok ? "met" : "**not met**");
  console.log(
    `DocEvents/s per worker, one core: ${fmt(n.rate)} per CPU-second (${fmt(n.wallRate)}/s wall)`,
  );
  console.log(`RSS with ${USERS} active actors and ${n.roots} roots: ${fmt(n.rss / 2 ** 20)} MiB`);
  console.log(
    `takeover after SIGKILL: median ${fmt(median(t))} ms, max ${fmt(Math.max(...t))} ms (goal ≤ ${2 * ttl} ms)`,
  );
  updateResults(
    "changeset",
    `## Changeset

\`test/bench/changeset.bench.ts\` — ${new Date().toISOString().slice(0, 10)}, ${machine}.

| figure | result | goal |
| --- | --- | --- |
| DocEvents/s per worker, one core, NATS (worker process alone, nats-server on the other core) | ${fmt(n.rate)} /CPU-s (${fmt(n.wallRate)} /s wall) | ≥ 20,000: ${verdict(n.rate >= 20_000)} |
| CPU per DocEvent in process: msgpack decode / change computation / change set build + encode | ${b.decodeUs.toFixed(1)} / ${b.computeUs.toFixed(1)} / ${b.flushUs.toFixed(1)} µs (${fmt(b.bytes)} B DocEvents, ${fmt(b.setBytes)} B sets) | — |
| CPU per DocEvent of the NATS client alone, in the benchmark's own process (no actors): pull it, append one set, acknowledge it | ${floorUs.toFixed(1)} µs (at most ${fmt(1e6 / floorUs)} /CPU-s with nothing else to do) | — |
| RSS of that worker, ${fmt(USERS)} active actors, ${fmt(n.roots)} roots, after GC | ${fmt(n.rss / 2 ** 20)} MiB (heap ${fmt(n.heap / 2 ** 20)} MiB) | — |
| shard takeover after SIGKILL (lease TTL ${ttl / 1000} s, ack wait ${DEFAULT_CHANGESET_CONFIG.ackWaitMs / 1000} s) | median ${fmt(median(t))} ms, max ${fmt(Math.max(...t))} ms over ${t.length} runs | ≤ ${fmt(2 * ttl)} ms: ${verdict(Math.max(...t) <= 2 * ttl)} |

- World: ${fmt(USERS)} users, each with two personal sync roots (${fmt(2 * USERS)} root documents), and
  teams of 100 sharing a team root (${fmt(Math.ceil(USERS / 100))} more); ${SHARDS} shards, one worker owning them all.
- Load: the worker starts first and leases every shard; then a warm-up pass of one event per
  user (every actor activated: feed head read, groups), then, once every actor is active,
  ${fmt(MEASURED)} DocEvents at random: 95 % of the audit events in one user's personal roots, 5 % in a
  team folder (one DocEvent per shard holding members, ~1.6 users each), published faster than
  the worker takes them (it works through a backlog). The rate is DocEvents acknowledged (each
  one's change sets stored first) per CPU-second of the worker over that measured pass; the
  warm-up (activations) ran at ${fmt(n.warmRate)} /CPU-s. Default settings (and the recommended
  \`NODE_OPTIONS=--max-semi-space-size=64\`), except that actors stay active for the whole run:
  quiet period 250 ms, maximum delay 2 s, flush budget ${fmt(DEFAULT_CHANGESET_CONFIG.flushBudgetPerSecond)} sets/s.
  Earlier versions of this benchmark published the whole load before the worker started; as the
  worker leases its shards a few at a time, its first shards then ran through their whole load
  while the last were still being leased, so the figure mixed activations into the steady state.
- Where the CPU goes (V8 profile of the measured pass at 100,000 users, BENCH_WORKER_PROF): the
  NATS client 33 % (per DocEvent a pulled message and an acknowledgement, per stored set a
  publish and its PubAck: parsing, encoding protocol lines and headers, socket writes), garbage
  collection 21 %, DocEvent decoding 13 %, actors and shards 13 %, encoding stored sets 7 %,
  change computation 7 %. The same client work costs ${floorUs.toFixed(1)} µs outside the worker (row
  above) and, at 33 % of the worker's ${fmt(1e6 / n.rate)} µs per DocEvent, ~${fmt(0.33e6 / n.rate)} µs inside it (caches, collector,
  100,000 actors). Recent gains, same machine and measure: stored sets written by field
  (\`feedEntryCodec\`, flush 23 → 8 µs per DocEvent), short strings decoded flat (decode 39 → 18
  µs), PubAcks (and the feed-head reads of activations) through one reply subscription instead of
  a nats.js request each (no timer, no Error per publish), and a turn's publishes handed to the
  client together (one socket write).
- Under this load a worker once lost every lease: its appends (thousands at once) and the
  feed-head reads of 100,000 activations queued in nats-server in front of its lease renewals,
  which came back too late; the shards were re-acquired and the events redelivered (cheaply
  skipped, which flattered the rate). Now at most 1,024 requests per connection await their
  reply (the rest, feed-head reads included, wait unsent); the benchmark logs
  the activations of the measured pass, which re-leased shards would show.
- Takeover: two workers split the 64 shards, events trickle into every shard, one worker is
  killed; the figure is the time until the survivor processes the last of the dead worker's
  shards again: lease expiry observed (TTL), the next lease round (≤ TTL/3), then the grace of ack
  wait + 1 s so the dead worker's unacknowledged events are redelivered first, in order.`,
  );
} finally {
  await nats.stop();
}
