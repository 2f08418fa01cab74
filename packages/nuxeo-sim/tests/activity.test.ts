import { describe, expect, it } from "vitest";
import { createSimulator, memoryAuditSink, seedDemo, startActivity } from "../src/mod.js";

describe("demo and activity", () => {
  it("demo - seeds users with tokens and roots", async () => {
    const sim = createSimulator();
    const demo = await seedDemo(sim, { users: ["alice", "bob"] });
    expect(demo.users.map((u) => u.id)).toEqual(["alice", "bob"]);
    for (const u of demo.users) {
      expect(sim.rootsOf(u.id).sort()).toEqual([u.workspaceUid, demo.sharedUid].sort());
      expect(sim.can(u.id, "ReadWrite", u.workspaceUid)).toBe(true);
    }
    expect(sim.can("bob", "Read", demo.users[0]!.workspaceUid)).toBe(false);
  });

  it("activity - each step changes something under a user's roots, acting as that user", async () => {
    const sink = memoryAuditSink();
    const sim = createSimulator({ audit: sink });
    await seedDemo(sim);
    const before = sink.records.length;
    const activity = startActivity(sim, {
      users: ["alice", "bob"],
      intervalMs: 3_600_000,
      seed: 42,
    });
    try {
      let done = 0;
      for (let i = 0; i < 40; i++) if ((await activity.step()) !== null) done++;
      expect(done).toBeGreaterThan(20);
      expect(activity.operations).toBe(done);
      expect(sink.records.length - before).toBe(done);
      const actors = new Set(sim.auditLog.slice(-done).map((e) => e.principalName));
      expect([...actors].every((a) => a === "alice" || a === "bob")).toBe(true);
    } finally {
      await activity.stop();
    }
  });
});
