import { Counter, Registry } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { startAdminServer, type AdminServer, type Readiness } from "../src/mod.js";

// node:http on loopback: the admin endpoint is plumbing, tested in the unit project.

let server: AdminServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(readiness: () => Readiness | Promise<Readiness>, registry = new Registry()) {
  server = await startAdminServer({ port: 0, readiness, registry });
  return `http://127.0.0.1:${server.port}`;
}

describe("admin server", () => {
  it("healthz - 200 ok while the process is alive, whatever readiness says", async () => {
    const base = await start(() => false);
    const res = await fetch(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok\n");
  });

  it("readyz - 200 when ready", async () => {
    const base = await start(async () => ({ nats: true, kafka: true }));
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready" });
  });

  it("readyz - 503 naming what is not ready", async () => {
    let natsUp = false;
    const base = await start(() => ({ nats: natsUp, kafka: false, shards: true }));
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ status: "not ready", failing: ["nats", "kafka"] });
    natsUp = true;
    const later = await fetch(`${base}/readyz`);
    expect(await later.json()).toEqual({ status: "not ready", failing: ["kafka"] });
  });

  it("readyz - a plain false, and a readiness check that throws, are 503", async () => {
    const base = await start(() => false);
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ status: "not ready", failing: ["worker"] });
    await server!.close();
    const base2 = await start(() => {
      throw new Error("bus gone");
    });
    const res2 = await fetch(`${base2}/readyz`);
    expect(res2.status).toBe(503);
    expect((await res2.json()).failing[0]).toContain("bus gone");
  });

  it("metrics - the registry in Prometheus text format", async () => {
    const registry = new Registry();
    const counter = new Counter({
      name: "drivecast_test_events_total",
      help: "events seen by the test",
      registers: [registry],
    });
    counter.inc(3);
    const base = await start(() => true, registry);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("# TYPE drivecast_test_events_total counter");
    expect(text).toContain("drivecast_test_events_total 3");
  });

  it("routes - 404 for an unknown path, 405 for a write", async () => {
    const base = await start(() => true);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: "POST" })).status).toBe(405);
  });

  it("close - stops listening, and port 0 picked a real port", async () => {
    const base = await start(() => true);
    expect(server!.port).toBeGreaterThan(0);
    await server!.close();
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
