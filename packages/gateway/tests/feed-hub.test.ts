// The feed hub's bus-reconnect check, on the in-process bus (which never disconnects: the test
// calls what the gateway calls on the bus's reconnect signal).
import { describe, expect, it } from "vitest";
import { createMemoryBus } from "@drivecast/bus";
import { Names, msgpackCodec, nextPosition, shardOf } from "@drivecast/protocol";
import type { FeedEntry } from "@drivecast/protocol";
import { createFeedHub } from "../src/feed-hub.js";
import type { FeedListener } from "../src/feed-hub.js";
import { silent } from "./harness.js";

const codec = msgpackCodec<FeedEntry>();

function entry(user: string, lowerBound: number): FeedEntry {
  return {
    user,
    lowerBound,
    eventSeq: 0,
    summary: {
      fileSystemChanges: [],
      syncDate: 0,
      upperBound: nextPosition(lowerBound, Date.now()),
      hasTooManyChanges: false,
      activeSynchronizationRootDefinitions: "",
    },
  };
}

describe("feed hub", () => {
  it("resync - hands each subscribed user's newest stored set to its listeners, once per user", async () => {
    const bus = createMemoryBus();
    const names = new Names({ prefix: "t_", subjectPrefix: "t." });
    await bus.streams.ensure({ name: names.feedsStream, subjects: [names.feedsSubjects] });
    const hub = createFeedHub({ bus, names, shardCount: 4, logger: silent });
    const seen: string[] = [];
    const listener = (name: string): FeedListener => ({
      onLive: (e) => seen.push(`${name}:${e.summary.upperBound}`),
      onLost: (reason) => seen.push(`${name}:lost:${reason}`),
    });
    const a1 = entry("alice", 0);
    await hub.attach("alice", listener("laptop"));
    await hub.attach("alice", listener("phone"));
    await hub.attach("bob", listener("desk")); // nothing stored for bob
    await bus.streams.append(names.feed(shardOf("alice", 4), "alice"), codec.encode(a1));
    await bus.flush();
    seen.length = 0; // the live deliveries of the append
    expect(await hub.resync()).toBe(2);
    expect(seen.sort()).toEqual([
      `laptop:${a1.summary.upperBound}`,
      `phone:${a1.summary.upperBound}`,
    ]);
    hub.close();
    await bus.close();
  });

  it("read - decodes back from the newest set to the first one at or before `after`", async () => {
    const bus = createMemoryBus();
    const names = new Names({ prefix: "t_", subjectPrefix: "t." });
    await bus.streams.ensure({ name: names.feedsStream, subjects: [names.feedsSubjects] });
    const hub = createFeedHub({ bus, names, shardCount: 4, logger: silent });
    const subject = names.feed(shardOf("alice", 4), "alice");
    const sets: FeedEntry[] = [];
    let lower = 0;
    for (let i = 0; i < 5; i++) {
      // Positions 10 apart, so that a position between two sets exists.
      const e = entry("alice", lower);
      e.summary.upperBound = lower === 0 ? e.summary.upperBound : lower + 10;
      sets.push(e);
      lower = e.summary.upperBound;
      await bus.streams.append(subject, codec.encode(e));
    }
    const positions = (es: FeedEntry[]): number[] => es.map((e) => e.summary.upperBound);
    expect(positions(await hub.read("alice"))).toEqual(positions(sets));
    expect(positions(await hub.read("alice", sets[2]!.summary.upperBound))).toEqual(
      positions(sets.slice(2)),
    );
    // A cursor between two positions (not one of this feed): the set before it bounds the read.
    expect(positions(await hub.read("alice", sets[2]!.summary.upperBound + 1))).toEqual(
      positions(sets.slice(2)),
    );
    // Older than everything retained: all of it.
    expect(positions(await hub.read("alice", 1))).toEqual(positions(sets));
    hub.close();
    await bus.close();
  });

  it("resync - a user whose feed cannot be read is failed, so its devices resume elsewhere", async () => {
    const bus = createMemoryBus();
    const names = new Names({ prefix: "t_", subjectPrefix: "t." });
    await bus.streams.ensure({ name: names.feedsStream, subjects: [names.feedsSubjects] });
    const failing = Object.create(bus) as typeof bus;
    const hub = createFeedHub({
      bus: Object.assign(failing, {
        streams: Object.assign(Object.create(bus.streams) as typeof bus.streams, {
          lastBySubject: () => Promise.reject(new Error("stream unavailable")),
        }),
      }),
      names,
      shardCount: 4,
      logger: silent,
    });
    const lost: string[] = [];
    await hub.attach("alice", { onLive: () => undefined, onLost: (r) => lost.push(r) });
    expect(await hub.resync()).toBe(0);
    expect(lost).toEqual(["feed unavailable after a reconnect"]);
    hub.close();
    await bus.close();
  });
});
