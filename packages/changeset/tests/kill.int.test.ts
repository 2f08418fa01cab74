// Three changeset worker processes on real NATS; one is killed with SIGKILL mid-load and a fourth
// is started. Every user's feed must match the model exactly (each change once, sets chained),
// and each shard must be processed by one worker at a time, checked at sampled instants against
// the lease records and over the whole run against the workers' logged processing intervals.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsBus, type Bus } from "@drivecast/bus";
import { Names, shardOf, type FeedEntry } from "@drivecast/protocol";
import { startRestServer, type RestServer } from "@drivecast/nuxeo-sim";
import { startNatsServer, freePort, randomName, type NatsServerHandle } from "@drivecast/testkit";
import { decodeLeaseRecord, feedCodec, shardLeaseKey, WRITER_HEADER } from "@drivecast/changeset";
import { waitFor } from "./helpers.js";
import { createLoad, publish, writeRoots, type Load } from "./load.js";
import { compareFeed, type SeqEvent } from "./model.js";

const MAIN = fileURLToPath(new URL("../dist/main.js", import.meta.url));
const S = 8;
const TTL = 1500;

let nats: NatsServerHandle;
let rest: RestServer;
let load: Load;
beforeAll(async () => {
  nats = await startNatsServer();
  load = await createLoad({ users: 24, shardCount: S, seed: 2024 });
  rest = await startRestServer(load.sim, { port: 0 });
});
afterAll(async () => {
  for (const p of procs) p.proc.kill("SIGKILL");
  await rest?.close();
  await nats?.stop();
});

interface Proc {
  id: string;
  proc: ChildProcess;
  port: number;
  lines: Record<string, unknown>[];
  killedAt: number | null;
}

const procs: Proc[] = [];

async function startWorker(id: string, env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const proc = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      ...env,
      DRIVECAST_WORKER_ID: id,
      DRIVECAST_ADMIN_HOST: "127.0.0.1",
      DRIVECAST_ADMIN_PORT: String(port),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const p: Proc = { id, proc, port, lines: [], killedAt: null };
  let buffered = "";
  const take = (chunk: Buffer) => {
    buffered += chunk.toString();
    let i: number;
    while ((i = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, i);
      buffered = buffered.slice(i + 1);
      try {
        p.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        p.lines.push({ msg: line });
      }
    }
  };
  proc.stdout!.on("data", take);
  proc.stderr!.on("data", take);
  procs.push(p);
  await waitFor(
    async () => {
      if (proc.exitCode !== null)
        throw new Error(`${id} exited: ${JSON.stringify(p.lines.slice(-5))}`);
      const res = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
      return res?.status === 200;
    },
    () => `${id} ready on /readyz`,
    20_000,
  );
  return p;
}

interface Interval {
  worker: string;
  shard: number;
  from: number;
  to: number;
  /** The grace period waited before processing began. */
  graceMs: number;
}

/** Processing intervals from the workers' logs; a killed worker's end when it was killed. */
function intervals(): Interval[] {
  const out: Interval[] = [];
  for (const p of procs) {
    const open = new Map<number, { from: number; graceMs: number }>();
    for (const l of p.lines) {
      const shard = l.shard as number;
      const at = Date.parse(l.time as string);
      if (l.msg === "shard processing started")
        open.set(shard, { from: at, graceMs: l.graceMs as number });
      if (l.msg === "shard processing stopped" && open.has(shard)) {
        out.push({ worker: p.id, shard, ...open.get(shard)!, to: at });
        open.delete(shard);
      }
    }
    for (const [shard, o] of open) {
      out.push({ worker: p.id, shard, ...o, to: p.killedAt ?? Number.POSITIVE_INFINITY });
    }
  }
  return out;
}

describe("changeset workers on NATS", () => {
  it("kill - SIGKILL of one of three workers mid-load: every change set once, one owner per shard", async () => {
    const prefix = `${randomName("t")}_`;
    const names = new Names({ prefix, subjectPrefix: `${prefix}.` });
    const bus: Bus = await connectNatsBus({ servers: nats.url });
    await bus.streams.ensure({ name: names.eventsStream, subjects: [names.eventsSubjects] });
    await writeRoots(bus, names, load.roots);
    const env = {
      DRIVECAST_NATS_URL: nats.url,
      DRIVECAST_NUXEO_URL: rest.url,
      DRIVECAST_NUXEO_USER: "Administrator",
      DRIVECAST_NUXEO_PASSWORD: "Administrator",
      DRIVECAST_NAME_PREFIX: prefix,
      DRIVECAST_SUBJECT_PREFIX: `${prefix}.`,
      DRIVECAST_SHARDS: String(S),
      DRIVECAST_LEASE_TTL_MS: String(TTL),
      DRIVECAST_EVENTS_ACK_WAIT_MS: "1000",
      DRIVECAST_FLUSH_QUIET_MS: "50",
      DRIVECAST_FLUSH_MAX_DELAY_MS: "300",
      DRIVECAST_LOG_LEVEL: "info",
    };
    const [w1, w2, w3] = await Promise.all([
      startWorker("w1", env),
      startWorker("w2", env),
      startWorker("w3", env),
    ]);
    const kv = await bus.kv({ bucket: names.shardsBucket });
    const owners = async (): Promise<(string | null)[]> => {
      const out: (string | null)[] = [];
      for (let s = 0; s < S; s++) {
        const e = await kv.get(shardLeaseKey(s));
        const r = e === null ? null : decodeLeaseRecord(e.value);
        out.push(r?.state === "held" ? r.owner : null);
      }
      return out;
    };
    await waitFor(
      async () => (await owners()).every((o) => o !== null),
      () => "every shard leased",
      20_000,
    );

    // Sample the lease records while the load runs.
    const samples: { before: number; after: number; owners: (string | null)[] }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const before = Date.now();
        const o = await owners();
        samples.push({ before, after: Date.now(), owners: o });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const published: SeqEvent[] = [];
    const step = async (): Promise<void> => {
      for (const { shard, event } of await load.step())
        published.push(await publish(bus, names, shard, event));
      await new Promise((r) => setTimeout(r, 15)); // pacing the load, not waiting for anything
    };
    for (let i = 0; i < 60; i++) await step();
    w2.killedAt = Date.now();
    w2.proc.kill("SIGKILL");
    // The load goes on while the survivors take w2's shards over…
    const deadline = Date.now() + 30_000;
    while (!(await owners()).every((o) => o !== null && o !== "w2")) {
      if (Date.now() > deadline) throw new Error("the survivors never took w2's shards over");
      await step();
    }
    // …then w4 joins and gets some of theirs through the gradual rebalance, still under load.
    const w4 = await startWorker("w4", env);
    for (let i = 0; i < 40; i++) await step();
    while (!(await owners()).includes("w4")) {
      if (Date.now() > deadline) throw new Error("w4 never got a shard");
      await step();
    }
    for (let i = 0; i < 40; i++) await step();

    // Every feed converges to the model.
    const readFeed = async (
      user: string,
    ): Promise<{ entries: FeedEntry[]; writers: string[]; times: number[] }> => {
      const msgs = await bus.streams.read(names.feedsStream, names.feed(shardOf(user, S), user), 1);
      return {
        entries: msgs.map((m) => feedCodec.decode(m.data)),
        writers: msgs.map((m) => m.headers[WRITER_HEADER] ?? "?"),
        times: msgs.map((m) => m.time),
      };
    };
    let last: string[] = [];
    await waitFor(
      async () => {
        last = [];
        for (const u of load.users) {
          const mine = published.filter((p) => p.event.users.includes(u.user));
          last.push(...compareFeed(u, mine, (await readFeed(u.user)).entries));
        }
        return last.length === 0;
      },
      () => `every feed to match the model; still:\n${last.slice(0, 5).join("\n")}`,
      60_000,
    );
    sampling = false;
    await sampler;

    // One processor per shard over the whole run (the logs' intervals never overlap)…
    const all = intervals();
    for (let s = 0; s < S; s++) {
      const list = all.filter((i) => i.shard === s).sort((a, b) => a.from - b.from);
      for (let k = 1; k < list.length; k++) {
        expect(
          list[k]!.from,
          `shard ${s}: ${list[k]!.worker} started before ${list[k - 1]!.worker} stopped`,
        ).toBeGreaterThanOrEqual(list[k - 1]!.to);
      }
    }
    // …and at every sampled instant the lease holder is the only worker processing the shard.
    expect(samples.length).toBeGreaterThan(20);
    for (const sample of samples) {
      sample.owners.forEach((owner, s) => {
        const others = all.filter(
          (i) =>
            i.shard === s && i.worker !== owner && i.from < sample.before && i.to > sample.after,
        );
        expect(others.map((o) => `${o.worker} processes shard ${s} held by ${owner}`)).toEqual([]);
      });
    }
    // Every stored set was written by a worker while it processed that shard.
    for (const u of load.users) {
      const { writers, times } = await readFeed(u.user);
      const shard = shardOf(u.user, S);
      writers.forEach((w, k) => {
        const ok = all.some(
          (i) =>
            i.worker === w &&
            i.shard === shard &&
            i.from <= times[k]! + 5 &&
            times[k]! <= i.to + 500,
        );
        expect(
          ok,
          `set #${k} of ${u.user} written by ${w} outside its processing of shard ${shard}`,
        ).toBe(true);
      });
    }
    // The killed worker's shards moved on, and whoever processed them next waited the grace
    // period first (an unclean takeover: w2's deliveries were still pending).
    const w2Shards = new Set(all.filter((i) => i.worker === "w2").map((i) => i.shard));
    expect(w2Shards.size).toBeGreaterThan(0);
    for (const shard of w2Shards) {
      const next = all
        .filter((i) => i.shard === shard && i.from > w2.killedAt!)
        .sort((a, b) => a.from - b.from)[0];
      expect(next, `shard ${shard} processed again after w2's death`).toBeDefined();
      expect(next!.graceMs, `shard ${shard} taken over from w2 by ${next!.worker}`).toBeGreaterThan(
        0,
      );
    }
    expect(all.some((i) => i.worker === "w4")).toBe(true);
    const final = await owners();
    expect(final.every((o) => o !== null && o !== "w2")).toBe(true);

    for (const p of [w1, w3, w4]) {
      p.proc.kill("SIGTERM");
      await new Promise((r) => p.proc.once("exit", r));
    }
    await bus.close();
  });
});
