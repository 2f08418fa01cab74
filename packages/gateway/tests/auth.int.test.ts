// The authenticator against the Nuxeo simulator's real `GET /api/v1/me`, and the gateway using it.
import { afterEach, describe, expect, it } from "vitest";
import { createNuxeoClient } from "@drivecast/nuxeo";
import { createSimulator, startRestServer } from "@drivecast/nuxeo-sim";
import type { RestServer } from "@drivecast/nuxeo-sim";
import { connectNatsBus, createMemoryBus } from "@drivecast/bus";
import { Names } from "@drivecast/protocol";
import { randomName, startNatsServer } from "@drivecast/testkit";
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

  it("auth - invalidate forgets a token, or every token of a user: the next lookup asks Nuxeo", async () => {
    const { rest, token, revoke } = await nuxeo();
    const registry = new Registry();
    const client = createNuxeoClient({
      baseUrl: rest.url,
      auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    });
    const authenticate = nuxeoAuthenticator(client, { ttlMs: 60_000, max: 10, registry });
    const calls = (): Promise<number> =>
      metricValue(registry, "drivecast_gateway_nuxeo_calls_total");
    expect(await authenticate(token)).toMatchObject({ user: "alice" });
    expect(await authenticate(token)).toMatchObject({ user: "alice" });
    expect(await calls()).toBe(1);
    authenticate.invalidate?.({ user: "bob" });
    expect(await authenticate(token)).toMatchObject({ user: "alice" });
    expect(await calls()).toBe(1);
    authenticate.invalidate?.({ user: "alice" });
    expect(await authenticate(token)).toMatchObject({ user: "alice" });
    expect(await calls()).toBe(2);
    revoke();
    // Still cached: the revocation in Nuxeo is not seen until the entry expires...
    expect(await authenticate(token)).toMatchObject({ user: "alice" });
    // ...or is invalidated (what the operator's revocation message does).
    authenticate.invalidate?.({ token });
    expect(await authenticate(token)).toBeNull();
    expect(await calls()).toBe(3);
  });

  it("revoke - Nuxeo revokes, the operator publishes drive.auth.revoke: 4001, and the reconnect gets 401 within the cache TTL", async () => {
    const { rest, token, revoke } = await nuxeo();
    const nats = await startNatsServer();
    closers.push(() => nats.stop());
    const bus = await connectNatsBus({ servers: nats.url });
    closers.push(() => bus.close());
    const id = randomName("gw");
    const naming = { prefix: `${id}_`, subjectPrefix: `${id}.` };
    const client = createNuxeoClient({
      baseUrl: rest.url,
      auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    });
    const registry = new Registry();
    const gateway = await startGateway(gatewayConfig({ host: "127.0.0.1", port: 0, naming }), {
      bus,
      registry,
      logger: silent,
      authenticate: nuxeoAuthenticator(client, { ttlMs: 60_000, max: 10, registry }),
    });
    closers.push(() => gateway.close());
    const url = `ws://127.0.0.1:${gateway.port}/drive/v1/ws?deviceId=laptop&token=${token}`;
    const c = await TestClient.connect(url);
    closers.push(async () => c.close());
    await c.expect("welcome");
    revoke();
    bus.publish(new Names(naming).authRevoke, new TextEncoder().encode(JSON.stringify({ token })));
    expect((await c.waitClosed()).code).toBe(4001);
    expect((await refusedUpgrade(url)).status).toBe(401);
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
