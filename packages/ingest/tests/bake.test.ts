import { describe, expect, it } from "vitest";
import { createSimulator } from "@drivecast/nuxeo-sim";
import { createBaker } from "../src/mod.js";
import { simNuxeo } from "./helpers.js";

async function tree() {
  const sim = createSimulator();
  const a = await sim.createFolder("/default-domain/workspaces", "A");
  const b = await sim.createFolder(a.uid, "B");
  const c = await sim.createFolder(b.uid, "C");
  const f = await sim.createFile(c.uid, "f.txt", { content: "x" });
  const g = await sim.createFile(b.uid, "g.txt", { content: "y" });
  const nuxeo = simNuxeo(sim);
  return { sim, a, b, c, f, g, nuxeo, baker: createBaker(nuxeo) };
}

describe("baker", () => {
  it("bake - one call for the documents, one for the missing ancestors, none once cached", async () => {
    const { f, g, nuxeo, baker } = await tree();
    const first = await baker.bake("default", [f.uid, g.uid, f.uid]);
    expect(nuxeo.calls.documents).toBe(2);
    expect(first.get(f.uid)!.ancestors.map((s) => s.title)).toEqual([
      "Domain",
      "Workspaces",
      "A",
      "B",
      "C",
    ]);
    expect(first.get(g.uid)!.ancestors.at(-1)!.title).toBe("B");
    await baker.bake("default", [f.uid, g.uid]);
    expect(nuxeo.calls.documents).toBe(3);
    expect(baker.stats.hits).toBeGreaterThan(0);
  });

  it("bake - a document that no longer exists bakes to null", async () => {
    const { sim, f, baker } = await tree();
    await sim.remove(f.uid);
    expect((await baker.bake("default", [f.uid])).get(f.uid)).toEqual({ doc: null, ancestors: [] });
  });

  it("bake - invalidating a folder drops it and every cached folder beneath, by ancestry", async () => {
    const { sim, a, b, c, f, nuxeo, baker } = await tree();
    await baker.bake("default", [f.uid]);
    expect(baker.peekPath("default", c.uid)).toBe(`${b.path}/C`);
    // B moves: C's cached path is stale; the ancestry (not the path) finds it.
    await sim.move(b.uid, "/default-domain/workspaces");
    expect(baker.invalidateSubtrees("default", [b.uid])).toBe(2);
    expect(baker.peekPath("default", c.uid)).toBeUndefined();
    expect(baker.peekPath("default", a.uid)).toBe(a.path);
    const calls = nuxeo.calls.documents;
    const again = await baker.bake("default", [f.uid]);
    expect(nuxeo.calls.documents).toBe(calls + 2);
    expect(again.get(f.uid)!.ancestors.at(-1)!.path).toBe("/default-domain/workspaces/B/C");
  });

  it("bake - a previous parent's chain comes from the cache when it is there", async () => {
    const { c, f, nuxeo, baker } = await tree();
    await baker.bake("default", [f.uid]);
    const calls = nuxeo.calls.documents;
    const chain = (await baker.chains("default", [c.uid])).get(c.uid);
    expect(chain!.map((s) => s.title)).toEqual(["Domain", "Workspaces", "A", "B", "C"]);
    expect(nuxeo.calls.documents).toBe(calls);
    const cold = createBaker(nuxeo);
    const coldChains = await cold.chains("default", [c.uid, "no-such-uid"]);
    expect(coldChains.get(c.uid)!.map((s) => s.title)).toEqual(chain!.map((s) => s.title));
    expect(coldChains.get("no-such-uid")).toBeNull();
    expect(nuxeo.calls.documents).toBe(calls + 2);
  });
});
