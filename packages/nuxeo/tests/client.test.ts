import { createSimulator, startRestServer } from "@drivecast/nuxeo-sim";
import type { RestServer, SimDocument, Simulator } from "@drivecast/nuxeo-sim";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  NuxeoHttpError,
  NuxeoNetworkError,
  NuxeoResponseError,
  NuxeoUnauthorizedError,
  createNuxeoClient,
  nxqlString,
} from "../src/mod.js";
import type { NuxeoClient, NuxeoClientOptions, RequestKind } from "../src/mod.js";

let sim: Simulator;
let server: RestServer;
let ws: SimDocument;
let file: SimDocument;
const sleeps: number[] = [];

function client(extra: Partial<NuxeoClientOptions> = {}): NuxeoClient {
  return createNuxeoClient({
    baseUrl: server.url,
    auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...extra,
  });
}

beforeEach(async () => {
  sleeps.length = 0;
  sim = createSimulator();
  sim.createUser("alice");
  sim.createUser("bob");
  await sim.createGroup("team", { members: ["alice"] });
  await sim.createGroup("company", { subGroups: ["team"], members: ["bob"] });
  ws = await sim.createWorkspace("/default-domain/workspaces", "Projects");
  await sim.grant(ws.uid, "team", "ReadWrite");
  file = await sim.createFile(ws.uid, "report.txt", { content: "hello world" });
  await sim.registerRoot("alice", ws.uid);
  server = await startRestServer(sim);
});

afterEach(async () => {
  await server.close();
  await sim.close();
});

describe("me", () => {
  it("me - authenticates with the client's token, not the service account", async () => {
    const c = client({ auth: { kind: "basic", user: "Administrator", password: "wrong" } });
    const me = await c.me(sim.tokenFor("alice"));
    expect(me).toEqual({
      id: "alice",
      groups: expect.arrayContaining(["team", "company"]),
      isAdministrator: false,
    });
    expect(me.groups).toHaveLength(2);
  });

  it("me - a revoked token is a NuxeoUnauthorizedError naming the call", async () => {
    const token = sim.tokenFor("alice");
    sim.revokeToken(token);
    const err = await client()
      .me(token)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NuxeoUnauthorizedError);
    expect((err as NuxeoUnauthorizedError).call).toBe("me");
    expect((err as NuxeoUnauthorizedError).retriable).toBe(false);
  });

  it("me - caches answers when asked to", async () => {
    const c = client({ meCacheTtlMs: 60_000 });
    const token = sim.tokenFor("bob");
    await c.me(token);
    await c.me(token);
    expect(c.requestCount.me).toBe(1);
  });
});

describe("users and groups", () => {
  it("user - transitive groups and the admin flag", async () => {
    const c = client();
    expect(await c.user("alice")).toEqual({
      id: "alice",
      groups: expect.arrayContaining(["team", "company"]),
      isAdministrator: false,
    });
    expect((await c.user("Administrator"))?.isAdministrator).toBe(true);
  });

  it("user - null for an unknown user", async () => {
    expect(await client().user("nobody")).toBeNull();
  });

  it("groupMembers - direct member users, null for an unknown group", async () => {
    const c = client();
    expect(await c.groupMembers("company")).toEqual(["bob"]);
    expect(await c.groupMembers("team")).toEqual(["alice"]);
    expect(await c.groupMembers("ghosts")).toBeNull();
  });

  it("groupMembers - transitive: the member users of the subgroups too", async () => {
    const c = client();
    expect((await c.groupMembers("company", { transitive: true }))?.sort()).toEqual([
      "alice",
      "bob",
    ]);
    expect(await c.groupMembers("team", { transitive: true })).toEqual(["alice"]);
    expect(await c.groupMembers("ghosts", { transitive: true })).toBeNull();
  });

  it("service account - wrong credentials are a NuxeoUnauthorizedError", async () => {
    const c = client({ auth: { kind: "basic", user: "Administrator", password: "nope" } });
    await expect(c.user("alice")).rejects.toBeInstanceOf(NuxeoUnauthorizedError);
  });

  it("service account - token auth works", async () => {
    const c = client({
      auth: { kind: "token", token: sim.tokenFor("Administrator", "drivecast") },
    });
    expect((await c.user("bob"))?.groups).toEqual(["company"]);
  });
});

describe("documents", () => {
  it("document - converts the snapshot and breadcrumb", async () => {
    const d = await client().document("default", file.uid);
    expect(d).not.toBeNull();
    const s = d!.snapshot;
    expect(s).toMatchObject({
      repository: "default",
      uid: file.uid,
      path: "/default-domain/workspaces/Projects/report.txt",
      parentUid: ws.uid,
      type: "File",
      title: "report.txt",
      isVersion: false,
      isProxy: false,
      isTrashed: false,
      creator: "Administrator",
      lastContributor: "Administrator",
      created: file.created,
      modified: file.modified,
      blob: {
        name: "report.txt",
        mimeType: "text/plain",
        digestAlgorithm: "MD5",
        digest: "5eb63bbbe01eeed093cb22bb8f5acdc3",
        length: 11,
      },
      subscriptions: [],
    });
    expect(s.acls[0]).toEqual({ name: "inherited", aces: expect.any(Array) });
    expect(s.acls[0]?.aces[0]).toEqual({
      username: "team",
      permission: "ReadWrite",
      granted: true,
      status: "effective",
    });
    expect(d!.breadcrumb.map((b) => b.path)).toEqual([
      "/default-domain",
      "/default-domain/workspaces",
      "/default-domain/workspaces/Projects",
      "/default-domain/workspaces/Projects/report.txt",
    ]);
    expect(d!.breadcrumb.at(-1)?.uid).toBe(file.uid);
  });

  it("document - the converted snapshot is the simulator's own snapshot", async () => {
    await sim.lock(file.uid);
    const folder = await sim.createFolder(ws.uid, "sub", { hidden: true });
    await sim.blockInheritance(folder.uid);
    await sim.setAces(folder.uid, [
      { username: "bob", permission: "Read", begin: Date.now() + 60_000 },
      { username: "Everyone", permission: "Everything", granted: false },
    ]);
    const c = client();
    for (const uid of [file.uid, ws.uid, folder.uid]) {
      expect((await c.document("default", uid))?.snapshot).toEqual(sim.snapshot(uid));
    }
  });

  it("document - a sync root carries its subscriptions and facet", async () => {
    const d = await client().document("default", ws.uid);
    expect(d?.snapshot.subscriptions).toEqual([{ username: "alice", enabled: true }]);
    expect(d?.snapshot.facets).toContain("DriveSynchronized");
    expect(d?.snapshot.blob).toBeNull();
  });

  it("document - null when gone (404)", async () => {
    await sim.remove(file.uid);
    const c = client();
    expect(await c.document("default", file.uid)).toBeNull();
    expect(c.requestCount.document).toBe(1);
  });

  it("documentsByIds - batches ecm:uuid IN queries and skips missing ids", async () => {
    const files: string[] = [];
    for (let i = 0; i < 7; i++)
      files.push((await sim.createFile(ws.uid, `f${i}.txt`, { content: `${i}` })).uid);
    await sim.remove(files[3] as string);
    const c = client({ batchSize: 3 });
    sim.resetRequestCount();
    const got = await c.documentsByIds("default", [...files, files[0] as string, "not-a-uid"]);
    expect([...got.keys()].sort()).toEqual(files.filter((_, i) => i !== 3).sort());
    expect(got.get(files[5] as string)?.snapshot.title).toBe("f5.txt");
    // 8 distinct ids, 3 per query → 3 queries
    expect(sim.requestCount.search).toBe(3);
    expect(c.requestCount.query).toBe(3);
  });
});

describe("query", () => {
  it("query - pages through results", async () => {
    for (let i = 0; i < 5; i++) await sim.createFile(ws.uid, `p${i}.txt`, { content: "x" });
    const nxql = `SELECT * FROM Document WHERE ecm:parentId = ${nxqlString(ws.uid)} ORDER BY dc:title`;
    const c = client();
    const first = await c.query(nxql, { pageSize: 4, currentPageIndex: 0 });
    expect(first.resultsCount).toBe(6);
    expect(first.isNextPageAvailable).toBe(true);
    expect(first.numberOfPages).toBe(2);
    expect(first.entries.map((e) => e.snapshot.title)).toEqual([
      "p0.txt",
      "p1.txt",
      "p2.txt",
      "p3.txt",
    ]);
    const pages = [];
    for await (const page of c.queryAll(nxql, 2))
      pages.push(page.entries.map((e) => e.snapshot.title));
    expect(pages).toEqual([
      ["p0.txt", "p1.txt"],
      ["p2.txt", "p3.txt"],
      ["p4.txt", "report.txt"],
    ]);
  });

  it("query - the root bootstrap query finds sync roots", async () => {
    const page = await client().query(
      "SELECT * FROM Document WHERE ecm:mixinType = 'DriveSynchronized' AND ecm:isTrashed = 0 AND ecm:isVersion = 0",
    );
    expect(page.entries.map((e) => e.snapshot.uid)).toEqual([ws.uid]);
  });

  it("query - an unsupported query is a non-retriable 400", async () => {
    const err = await client()
      .query("SELECT * FROM Document WHERE dc:title = 'a' OR dc:title = 'b'")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NuxeoHttpError);
    expect((err as NuxeoHttpError).status).toBe(400);
    expect((err as NuxeoHttpError).retriable).toBe(false);
    expect(sleeps).toEqual([]);
  });

  it("nxqlString - escapes quotes so an id cannot end the literal", () => {
    expect(nxqlString("a'b\\c")).toBe("'a\\'b\\\\c'");
  });
});

describe("retries", () => {
  it("retry - a 503 is retried with backoff, then succeeds", async () => {
    const seen: [RequestKind, number][] = [];
    const c = client({
      onRequest: (kind, _ms, status) => seen.push([kind, status]),
      random: () => 0.5,
    });
    sim.failNext(2, 503);
    expect((await c.user("alice"))?.id).toBe("alice");
    expect(seen).toEqual([
      ["user", 503],
      ["user", 503],
      ["user", 200],
    ]);
    expect(sleeps).toEqual([50, 100]);
  });

  it("retry - gives up after the configured retries with a retriable NuxeoHttpError", async () => {
    const c = client({ retries: 2 });
    sim.failNext(5, 503);
    const err = await c.document("default", file.uid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NuxeoHttpError);
    expect(err).toMatchObject({
      status: 503,
      retriable: true,
      call: `document default/${file.uid}`,
    });
    expect(c.requestCount.document).toBe(3);
  });

  it("retry - 429 is retried too", async () => {
    sim.failNext(1, 429);
    expect(await client().groupMembers("team")).toEqual(["alice"]);
  });

  it("retry - a reset connection is a retriable network error", async () => {
    sim.failNext(1, 0);
    const c = client();
    expect((await c.me(sim.tokenFor("alice"))).id).toBe("alice");
    sim.failNext(10, 0);
    const err = await client({ retries: 1 })
      .user("alice")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NuxeoNetworkError);
    expect((err as NuxeoNetworkError).retriable).toBe(true);
  });

  it("response - a body that is not JSON is a NuxeoResponseError", async () => {
    const c = client({
      fetch: async () => new Response("<html>login</html>", { status: 200 }),
    });
    await expect(c.user("alice")).rejects.toBeInstanceOf(NuxeoResponseError);
  });
});
