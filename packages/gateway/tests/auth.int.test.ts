// The authenticator against the Nuxeo simulator's real `GET /api/v1/me`, and the gateway using it.
import { afterEach, describe, expect, it } from "vitest";
import { createNuxeoClient } from "@drivecast/nuxeo";
import { createSimulator, startRestServer } from "@drivecast/nuxeo-sim";
import type { RestServer } from "@drivecast/nuxeo-sim";
import { createMemoryBus } from "@drivecast/bus";
import { gatewayConfig, nuxeoAuthenticator, startGateway } from "../src/mod.js";
import type { Gateway } from "../src/mod.js";
import { Registry } from "@drivecast/bus";
import { TestClient, metricValue, refusedUpgrade, silent } from "./harness.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function nuxeo(): Promise<{ rest: RestServer; token: string; revoke: () => void }> {
  const sim = createSimulator();
  await sim.createGroup("testers");
  sim.createUser("alice", { groups: ["testers"] });
  const token = sim.tokenFor("alice", "laptop");
  const rest = await startRestServer(sim, { host: "127.0.0.1", port: 0 });
  closers.push(() => rest.close());
  return { rest, token, revoke: () => sim.revokeToken(token) };
}

describe("nuxeoAuthenticator", () => {
  it("auth - resolves a token through /api/v1/me once, then from the cache", async () => {
    const { rest, token } = await nuxeo();
    const registry = new Registry();
    const client = createNuxeoClient({
      baseUrl: rest.url,
      auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    });
    const authenticate = nuxeoAuthenticator(client, { ttlMs: 60_000, max: 10, registry });
    const [a, b] = await Promise.all([authenticate(token), authenticate(token)]);
    expect(a).toEqual({
      user: "alice",
      groups: expect.arrayContaining(["testers"]),
      isAdministrator: false,
    });
    expect(b).toEqual(a);
    expect(await authenticate(token)).toEqual(a);
    expect(
      await metricValue(registry, "drivecast_gateway_nuxeo_calls_total", { outcome: "ok" }),
    ).toBe(1);
    expect(
      await metricValue(registry, "drivecast_gateway_auth_cache_total", { result: "hit" }),
    ).toBe(2);
  });

  it("auth - an unknown or revoked token resolves to null", async () => {
    const { rest, token, revoke } = await nuxeo();
    const client = createNuxeoClient({
      baseUrl: rest.url,
      auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    });
    const authenticate = nuxeoAuthenticator(client, { ttlMs: 60_000, max: 10 });
    expect(await authenticate("not-a-token")).toBeNull();
    revoke();
    expect(await authenticate(token)).toBeNull();
  });

  it("auth - the gateway admits a Nuxeo token and refuses a bad one with 401", async () => {
    const { rest, token } = await nuxeo();
    const bus = createMemoryBus();
    closers.push(() => bus.close());
    const client = createNuxeoClient({
      baseUrl: rest.url,
      auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    });
    const registry = new Registry();
    const gateway: Gateway = await startGateway(gatewayConfig({ host: "127.0.0.1", port: 0 }), {
      bus,
      registry,
      logger: silent,
      authenticate: nuxeoAuthenticator(client, { ttlMs: 60_000, max: 10, registry }),
    });
    closers.push(() => gateway.close());
    const url = `ws://127.0.0.1:${gateway.port}/drive/v1/ws`;
    const refused = await refusedUpgrade(`${url}?token=bad&deviceId=d`);
    expect(refused).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    const c = await TestClient.connect(`${url}?deviceId=laptop`, {
      headers: { "X-Authentication-Token": token },
    });
    closers.push(async () => c.close());
    expect(await c.expect("welcome")).toMatchObject({
      type: "welcome",
      userId: "alice",
      deviceId: "laptop",
    });
  });
});
