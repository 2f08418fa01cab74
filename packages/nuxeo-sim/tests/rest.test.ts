import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createSimulator, startRestServer } from "../src/mod.js";
import type { RestServer, SimDocument, Simulator } from "../src/mod.js";

const WS = "/default-domain/workspaces";
const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const ISO0 = "2024-05-01T12:00:00.000Z";
const DOC_HEADERS = {
  properties: "dublincore,file,driveroot",
  "enrichers-document": "acls,breadcrumb",
};
const ADMIN = {
  authorization: `Basic ${Buffer.from("Administrator:Administrator").toString("base64")}`,
};

let sim: Simulator;
let server: RestServer;
let ws: SimDocument;
let file: SimDocument;

async function get(path: string, headers: Record<string, string> = ADMIN) {
  const res = await fetch(`${server.url}${path}`, { headers });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { entries?: Record<string, unknown>[] },
  };
}

beforeEach(async () => {
  sim = createSimulator({ now: () => T0 });
  sim.createUser("alice");
  sim.createUser("bob");
  await sim.createGroup("team", { members: ["alice"] });
  ws = await sim.createWorkspace(WS, "ws");
  await sim.grant(ws.uid, "team", "ReadWrite");
  file = await sim.createFile(ws.uid, "a.txt", { content: "hello world", principal: "alice" });
  await sim.registerRoot("alice", ws.uid);
  server = await startRestServer(sim);
});

afterEach(async () => {
  await server.close();
});

describe("rest auth", () => {
  it("auth - token header, token query parameter, basic auth", async () => {
    const token = sim.tokenFor("alice");
    expect((await get("/api/v1/me", { "X-Authentication-Token": token })).body["id"]).toBe("alice");
    expect((await get(`/api/v1/me?token=${token}`, {})).body["id"]).toBe("alice");
    const basic = { authorization: `Basic ${Buffer.from("bob:bob").toString("base64")}` };
    expect((await get("/api/v1/me", basic)).body["id"]).toBe("bob");
  });

  it("auth - 401 without credentials, with a bad password or a revoked token", async () => {
    expect((await get("/api/v1/me", {})).status).toBe(401);
    const bad = { authorization: `Basic ${Buffer.from("bob:nope").toString("base64")}` };
    expect((await get("/api/v1/me", bad)).status).toBe(401);
    const token = sim.tokenFor("alice");
    sim.revokeToken(token);
    const r = await get("/api/v1/me", { "X-Authentication-Token": token });
    expect(r).toEqual({
      status: 401,
      body: { "entity-type": "exception", status: 401, message: expect.any(String) },
    });
  });

  it("auth - served under the context path only", async () => {
    const res = await fetch(`${server.url.replace(/\/nuxeo$/, "")}/api/v1/me`, { headers: ADMIN });
    expect(res.status).toBe(404);
    const other = await startRestServer(sim, { contextPath: "/ctx" });
    try {
      expect(other.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ctx$/);
      const r = await fetch(`${other.url}/api/v1/me`, { headers: ADMIN });
      expect(((await r.json()) as { id: string }).id).toBe("Administrator");
    } finally {
      await other.close();
    }
  });
});

describe("rest users and groups", () => {
  it("user - Nuxeo's user entity with transitive extendedGroups", async () => {
    await sim.createGroup("all", { subGroups: ["team"] });
    const { status, body } = await get("/api/v1/user/alice");
    expect(status).toBe(200);
    expect(body).toEqual({
      "entity-type": "user",
      id: "alice",
      properties: expect.objectContaining({ username: "alice", groups: ["team"] }),
      extendedGroups: [
        { name: "team", label: "team", url: "group/team" },
        { name: "all", label: "all", url: "group/all" },
      ],
      isAdministrator: false,
      isAnonymous: false,
    });
    expect((await get("/api/v1/user/ghost")).status).toBe(404);
  });

  it("group - memberUsers only with fetch-group: memberUsers", async () => {
    const plain = await get("/api/v1/group/team");
    expect(plain.body).toEqual({
      "entity-type": "group",
      id: "team",
      groupname: "team",
      grouplabel: "team",
      properties: { groupname: "team", grouplabel: "team", description: null },
    });
    const full = await get("/api/v1/group/team", { ...ADMIN, "fetch-group": "memberUsers" });
    expect(full.body["memberUsers"]).toEqual(["alice"]);
    expect((await get("/api/v1/group/ghosts")).status).toBe(404);
  });
});

describe("rest documents", () => {
  it("document - the exact shape of §2", async () => {
    const { status, body } = await get(`/api/v1/repo/default/id/${file.uid}`, {
      ...ADMIN,
      ...DOC_HEADERS,
    });
    expect(status).toBe(200);
    const crumbs = [sim.byPath("/default-domain")!, sim.byPath(WS)!, ws, file];
    expect(body).toEqual({
      "entity-type": "document",
      repository: "default",
      uid: file.uid,
      path: `${WS}/ws/a.txt`,
      type: "File",
      state: "project",
      parentRef: ws.uid,
      isCheckedOut: true,
      isRecord: false,
      retainUntil: null,
      hasLegalHold: false,
      isUnderRetentionOrLegalHold: false,
      isVersion: false,
      isProxy: false,
      changeToken: "0-0",
      isTrashed: false,
      title: "a.txt",
      lastModified: ISO0,
      properties: {
        "dc:description": null,
        "dc:language": null,
        "dc:coverage": null,
        "dc:valid": null,
        "dc:creator": "alice",
        "dc:modified": ISO0,
        "dc:lastContributor": "alice",
        "dc:rights": null,
        "dc:expired": null,
        "dc:format": null,
        "dc:created": ISO0,
        "dc:title": "a.txt",
        "dc:issued": null,
        "dc:nature": null,
        "dc:subjects": [],
        "dc:contributors": ["alice"],
        "dc:source": null,
        "dc:publisher": null,
        "file:content": {
          name: "a.txt",
          "mime-type": "text/plain",
          encoding: null,
          digestAlgorithm: "MD5",
          digest: "5eb63bbbe01eeed093cb22bb8f5acdc3",
          length: "11",
          data: `${server.url}/nxfile/default/${file.uid}/file:content/a.txt?changeToken=0-0`,
          appLinks: [],
        },
      },
      facets: [
        "Downloadable",
        "Commentable",
        "Versionable",
        "Publishable",
        "NXTag",
        "HasRelatedText",
      ],
      schemas: [
        { name: "dublincore", prefix: "dc" },
        { name: "file", prefix: "file" },
      ],
      contextParameters: {
        acls: [
          {
            name: "inherited",
            aces: [
              {
                id: "team:ReadWrite:true:Administrator::",
                username: "team",
                externalUser: false,
                permission: "ReadWrite",
                granted: true,
                creator: "Administrator",
                begin: null,
                end: null,
                status: "effective",
              },
              expect.objectContaining({ username: "administrators", permission: "Everything" }),
              expect.objectContaining({ username: "Administrator", permission: "Everything" }),
              expect.objectContaining({ username: "members", permission: "Read" }),
            ],
          },
        ],
        breadcrumb: {
          "entity-type": "documents",
          entries: crumbs.map((c) =>
            expect.objectContaining({ "entity-type": "document", uid: c.uid, path: c.path }),
          ),
        },
      },
    });
    const entries = (
      body["contextParameters"] as { breadcrumb: { entries: Record<string, unknown>[] } }
    ).breadcrumb.entries;
    expect(entries[0]).not.toHaveProperty("contextParameters");
  });

  it("document - a sync root: drv:subscriptions, DriveSynchronized, a local ACL first", async () => {
    const { body } = await get(`/api/v1/repo/default/id/${ws.uid}`, { ...ADMIN, ...DOC_HEADERS });
    expect(body["facets"]).toContain("DriveSynchronized");
    const props = body["properties"] as Record<string, unknown>;
    expect(props["drv:subscriptions"]).toEqual([
      { username: "alice", enabled: true, lastChangeDate: ISO0 },
    ]);
    expect(props).not.toHaveProperty("file:content");
    const acls = (body["contextParameters"] as { acls: { name: string }[] }).acls;
    expect(acls.map((a) => a.name)).toEqual(["local", "inherited"]);
  });

  it("document - lock owner, trashed flag, headers select schemas and enrichers", async () => {
    await sim.lock(file.uid, { principal: "alice" });
    await sim.trash(file.uid);
    const { body } = await get(`/api/v1/repo/default/id/${file.uid}`, {
      ...ADMIN,
      properties: "file",
    });
    expect(body).toMatchObject({ lockOwner: "alice", lockCreated: ISO0, isTrashed: true });
    expect(Object.keys(body["properties"] as object)).toEqual(["file:content"]);
    expect(body).not.toHaveProperty("contextParameters");
  });

  it("document - 404 when gone, 403 when the caller cannot read it", async () => {
    const bob = { "X-Authentication-Token": sim.tokenFor("bob") };
    expect((await get(`/api/v1/repo/default/id/${file.uid}`, bob)).status).toBe(403);
    await sim.remove(file.uid);
    const r = await get(`/api/v1/repo/default/id/${file.uid}`);
    expect(r.status).toBe(404);
    expect(r.body["entity-type"]).toBe("exception");
    expect((await get(`/api/v1/repo/nope/id/${ws.uid}`)).status).toBe(404);
  });

  it("document - a malformed escape in the path is a 404, not a crash", async () => {
    expect((await get("/api/v1/repo/default/id/%E0%A4%A")).status).toBe(404);
    expect((await get("/api/v1/me")).status).toBe(200);
  });

  it("document - the breadcrumb stops where the caller cannot read", async () => {
    const alice = { "X-Authentication-Token": sim.tokenFor("alice"), ...DOC_HEADERS };
    const { body } = await get(`/api/v1/repo/default/id/${file.uid}`, alice);
    const entries = (body["contextParameters"] as { breadcrumb: { entries: { uid: string }[] } })
      .breadcrumb.entries;
    expect(entries.map((e) => e.uid)).toEqual([ws.uid, file.uid]);
  });
});

describe("rest search", () => {
  const q = (nxql: string, extra = "") =>
    `/api/v1/search/lang/NXQL/execute?query=${encodeURIComponent(nxql)}${extra}`;

  it("search - the paginable documents shape", async () => {
    for (let i = 0; i < 4; i++) await sim.createFile(ws.uid, `f${i}`, { content: "x" });
    const { status, body } = await get(
      q(
        `SELECT * FROM Document WHERE ecm:parentId = '${ws.uid}' ORDER BY dc:title DESC`,
        "&pageSize=2&currentPageIndex=1",
      ),
      { ...ADMIN, ...DOC_HEADERS },
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({
      "entity-type": "documents",
      resultsCount: 5,
      pageSize: 2,
      currentPageIndex: 1,
      numberOfPages: 3,
      isNextPageAvailable: true,
      isPreviousPageAvailable: true,
    });
    expect(body.entries?.map((e) => e["title"])).toEqual(["f1", "f0"]);
    expect(body.entries?.[0]).toHaveProperty("contextParameters.acls");
  });

  it("search - the three drivecast queries", async () => {
    const sub = await sim.createFolder(ws.uid, "sub");
    const hidden = await sim.createFolder(sub.uid, "hidden", { hidden: true });
    const trashed = await sim.createFile(sub.uid, "t.txt", { content: "t" });
    await sim.trash(trashed.uid);
    const ids = async (nxql: string) =>
      ((await get(q(nxql))).body.entries ?? []).map((e) => e["uid"] as string).sort();
    expect(
      await ids(`SELECT * FROM Document WHERE ecm:uuid IN ('${file.uid}', '${sub.uid}', 'nope')`),
    ).toEqual([file.uid, sub.uid].sort());
    expect(
      await ids(
        "SELECT * FROM Document WHERE ecm:mixinType = 'DriveSynchronized' AND ecm:isTrashed = 0 AND ecm:isVersion = 0",
      ),
    ).toEqual([ws.uid]);
    expect(
      await ids(
        `SELECT * FROM Document WHERE ecm:ancestorId = '${ws.uid}' AND ecm:isTrashed = 0 AND ecm:isVersion = 0 AND ecm:mixinType != 'HiddenInNavigation'`,
      ),
    ).toEqual([file.uid, sub.uid].sort());
    expect(hidden.facets).toContain("HiddenInNavigation");
    expect(await ids(`SELECT * FROM Document WHERE ecm:path STARTSWITH '${WS}/ws/sub'`)).toEqual(
      [hidden.uid, trashed.uid].sort(),
    );
    expect(
      await ids(
        "SELECT * FROM Document WHERE drv:subscriptions/*1/username = 'alice' AND drv:subscriptions/*1/enabled = 1",
      ),
    ).toEqual([ws.uid]);
  });

  it("search - only documents the caller may browse", async () => {
    const bobDoc = await sim.createFolder(WS, "bob's");
    await sim.grant(bobDoc.uid, "bob", "Read");
    const bob = { "X-Authentication-Token": sim.tokenFor("bob") };
    const r = await get(q("SELECT * FROM Document WHERE ecm:isTrashed = 0"), bob);
    expect(r.body.entries?.map((e) => e["uid"])).toEqual([bobDoc.uid]);
  });

  it("search - an unsupported query is a 400 that says why", async () => {
    const r = await get(q("SELECT * FROM Document WHERE dc:title = 'a' OR dc:title = 'b'"));
    expect(r.status).toBe(400);
    expect(r.body["message"]).toMatch(/unsupported NXQL/);
    expect((await get(q("DELETE FROM Document"))).status).toBe(400);
    expect((await get("/api/v1/search/lang/NXQL/execute")).status).toBe(400);
  });
});

describe("rest test knobs", () => {
  it("failNext - the next n requests fail with the status, then service resumes", async () => {
    sim.failNext(2, 503);
    expect((await get("/api/v1/me")).status).toBe(503);
    expect((await get("/api/v1/me")).status).toBe(503);
    expect((await get("/api/v1/me")).status).toBe(200);
  });

  it("failNext - status 0 resets the connection", async () => {
    sim.failNext(1, 0);
    await expect(fetch(`${server.url}/api/v1/me`, { headers: ADMIN })).rejects.toThrow();
    expect((await get("/api/v1/me")).status).toBe(200);
  });

  it("requestCount - counted per endpoint, resettable", async () => {
    sim.resetRequestCount();
    await get("/api/v1/me");
    await get("/api/v1/user/alice");
    await get("/api/v1/group/team");
    await get(`/api/v1/repo/default/id/${file.uid}`);
    await get(
      `/api/v1/search/lang/NXQL/execute?query=${encodeURIComponent("SELECT * FROM Document")}`,
    );
    await get(
      `/api/v1/repo/default/search/lang/NXQL/execute?query=${encodeURIComponent("SELECT * FROM Document")}`,
    );
    expect(sim.requestCount).toEqual({
      me: 1,
      user: 1,
      group: 1,
      search: 2,
      document: 1,
      other: 0,
      total: 6,
    });
  });
});
