import { afterEach, describe, expect, it } from "vitest";
import { TOP_LEVEL_ID } from "@drivecast/protocol";
import {
  AuthenticationError,
  ContiguityError,
  ProtocolError,
  SilenceError,
  createDriveClient,
  createDriveTree,
  memoryCursorStore,
} from "../src/mod.js";
import type {
  ClientState,
  DriveClient,
  DriveClientError,
  DriveClientOptions,
  TreeUpdate,
} from "../src/mod.js";
import { FakeClock, FakeServer, settle } from "./fakes.js";
import { changed, file, folder, gone, itemId, rootId, syncRoot } from "./fixtures.js";

const clients: DriveClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.stop();
});

interface Rig {
  server: FakeServer;
  clock: FakeClock;
  client: DriveClient;
  store: ReturnType<typeof memoryCursorStore>;
  states: ClientState[];
  errors: DriveClientError[];
  updates: TreeUpdate[];
}

function rig(options: Partial<DriveClientOptions> = {}, cursor: number | null = null): Rig {
  const server = new FakeServer();
  const clock = new FakeClock();
  const store = memoryCursorStore(cursor);
  const updates: TreeUpdate[] = [];
  const client = createDriveClient({
    url: "ws://127.0.0.1:9",
    token: "tok",
    deviceId: "dev",
    WebSocket: server.WebSocket,
    cursorStore: store,
    clock,
    random: () => 0.5,
    onUpdate: (u) => {
      updates.push(u);
    },
    ...options,
  });
  clients.push(client);
  const states: ClientState[] = [];
  const errors: DriveClientError[] = [];
  client.on("state", (e) => states.push(e.state));
  client.on("error", (e) => errors.push(e));
  return { server, clock, client, store, states, errors, updates };
}

/** Starts the client and opens its first socket with a welcome. */
async function connected(r: Rig, heartbeatMs = 25_000): Promise<void> {
  await r.client.start();
  r.server.last.open();
  r.server.last.welcome(heartbeatMs);
  await settle();
}

describe("client - connecting", () => {
  it("client - sends the token and device id as headers, to the WebSocket path, json by default", async () => {
    const r = rig({ clientVersion: "t/1" });
    await r.client.start();
    expect(r.server.last.init).toEqual({
      url: "ws://127.0.0.1:9/drive/v1/ws",
      protocols: ["drivecast.v1.json"],
      headers: { "X-Authentication-Token": "tok", "X-Device-Id": "dev", "X-Client-Version": "t/1" },
    });
  });

  it("client - in query mode (browsers) the token and device id go in the URL", async () => {
    const r = rig({ credentials: "query", url: "https://gw.example:8443/" });
    await r.client.start();
    const url = new URL(r.server.last.init.url);
    expect(url.protocol).toBe("wss:");
    expect(url.pathname).toBe("/drive/v1/ws");
    expect(url.searchParams.get("token")).toBe("tok");
    expect(url.searchParams.get("deviceId")).toBe("dev");
    expect(r.server.last.init.headers).toEqual({});
  });

  it("client - rejects options that cannot work", () => {
    const server = new FakeServer();
    expect(() =>
      createDriveClient({ url: "ftp://x", token: "t", deviceId: "d", WebSocket: server.WebSocket }),
    ).toThrow(/url/);
    expect(() =>
      createDriveClient({ url: "ws://x", token: "", deviceId: "d", WebSocket: server.WebSocket }),
    ).toThrow(/token/);
    expect(() =>
      createDriveClient({
        url: "ws://x",
        token: "t",
        deviceId: "d",
        WebSocket: undefined as never,
      }),
    ).toThrow(/WebSocket/);
  });

  it("client - a socket that does not open in time is dropped and retried", async () => {
    const r = rig({ connectTimeoutMs: 1000 });
    await r.client.start();
    await r.clock.advance(1000);
    expect(r.server.last.closedByClient).not.toBeNull();
    expect(r.client.state).toBe("waiting");
    await r.clock.advance(1000);
    expect(r.server.sockets).toHaveLength(2);
  });
});

describe("client - first run and rescans", () => {
  it("client - first run subscribes from now, rescans the top level, saves and acks, then is live", async () => {
    const r = rig();
    r.server.items = [syncRoot("R"), folder("A", rootId("R")), file("f", itemId("A"))];
    await connected(r);
    const socket = r.server.last;
    expect(socket.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: null }]);
    socket.changes(0, 100);
    await settle();
    expect(r.client.state).toBe("live");
    expect(r.client.tree.snapshot().map((i) => i.id)).toEqual(
      [itemId("A"), itemId("f"), rootId("R")].sort(),
    );
    const scroll = socket.sentOf("scroll")[0];
    expect(scroll).toMatchObject({ id: TOP_LEVEL_ID, scrollId: null, batchSize: 1000 });
    expect(r.store.position).toBe(100);
    expect(socket.sentOf("ack")).toEqual([{ type: "ack", upperBound: 100 }]);
    expect(r.updates[0]).toMatchObject({ kind: "rescan", reason: "firstRun", items: 3 });
    expect(r.states).toEqual(["connecting", "syncing", "scanning", "syncing", "live"]);

    socket.changes(100, 200, [changed("documentCreated", file("g", rootId("R")), 1)]);
    await settle();
    expect(r.client.tree.has(itemId("g"))).toBe(true);
    expect(r.store.position).toBe(200);
    expect(socket.sentOf("ack").at(-1)).toEqual({ type: "ack", upperBound: 200 });
  });

  it("client - a scan spans batches until an empty one, with the server's maximum batch size", async () => {
    const r = rig({ scrollBatchSize: 500 });
    r.server.items = [
      syncRoot("R"),
      ...Array.from({ length: 5 }, (_, i) => file(`f${i}`, rootId("R"))),
    ];
    await r.client.start();
    r.server.last.open();
    r.server.last.welcome(25_000, 2);
    r.server.last.changes(0, 100);
    await settle();
    const scrolls = r.server.last.sentOf("scroll");
    expect(scrolls.map((s) => s.batchSize)).toEqual([2, 2, 2, 2]);
    expect(scrolls[0]?.scrollId).toBeNull();
    expect(scrolls[1]?.scrollId).toBe("s1");
    expect(r.client.tree.size).toBe(6);
  });

  it("client - hasTooManyChanges rescans: the tree becomes the scan, then sets continue", async () => {
    const r = rig({}, 50);
    r.client.tree.upsert(syncRoot("OLD"));
    r.server.items = [syncRoot("R"), file("f", rootId("R"))];
    await connected(r);
    const socket = r.server.last;
    expect(socket.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: 50 }]);
    const rescans: string[] = [];
    r.client.on("rescan", (e) => rescans.push(e.reason));
    socket.changes(50, 300, [], true);
    await settle();
    expect(rescans).toEqual(["tooManyChanges"]);
    expect(r.client.tree.has(rootId("OLD"))).toBe(false);
    expect(r.client.tree.has(itemId("f"))).toBe(true);
    expect(r.store.position).toBe(300);
    socket.changes(300, 400, [gone("deleted", "f", 1)]);
    await settle();
    expect(r.client.tree.has(itemId("f"))).toBe(false);
    expect(r.store.position).toBe(400);
  });

  it("client - a rescan marker behind the cursor (a cursor the feed never issued) is accepted", async () => {
    const r = rig({}, 10_000);
    await connected(r);
    r.server.last.changes(10_000, 500, [], true);
    await settle();
    expect(r.client.cursor).toBe(500);
    r.server.last.changes(500, 600);
    await settle();
    expect(r.client.cursor).toBe(600);
    expect(r.errors).toEqual([]);
  });

  it("client - sets arriving during a full rescan are applied after it, in order", async () => {
    const r = rig();
    r.server.items = [syncRoot("R"), file("f", rootId("R"), "scanned")];
    await connected(r);
    const socket = r.server.last;
    // Hold the scroll answers until the live sets have arrived.
    const held: (() => void)[] = [];
    socket.scroll = (m) => {
      held.push(() => socket.receive(r.server.answerScroll(m)));
      return null;
    };
    socket.changes(0, 100);
    await settle();
    socket.changes(100, 200, [changed("documentModified", file("f", rootId("R"), "live-1"), 1)]);
    socket.changes(200, 300, [changed("documentModified", file("f", rootId("R"), "live-2"), 2)]);
    await settle();
    expect(r.client.state).toBe("scanning");
    while (held.length > 0) {
      held.shift()?.();
      await settle();
    }
    expect(r.client.tree.get(itemId("f"))?.name).toBe("live-2");
    expect(r.updates.map((u) => [u.kind, u.upperBound])).toEqual([
      ["rescan", 100],
      ["changes", 200],
      ["changes", 300],
    ]);
    expect(r.client.state).toBe("live");
  });

  it("client - a folder that appears is scrolled and its descendants arrive with it", async () => {
    const r = rig({}, 10);
    r.client.tree.upsert(syncRoot("R"));
    r.server.items = [syncRoot("R"), folder("M", rootId("R")), file("inside", itemId("M"))];
    await connected(r);
    r.server.last.changes(10, 20, [changed("documentMoved", folder("M", rootId("R")), 1)]);
    await settle();
    expect(r.server.last.sentOf("scroll")[0]?.id).toBe(itemId("M"));
    expect(r.client.tree.reachable(itemId("inside"))).toBe(true);
    expect(r.updates[0]).toMatchObject({ kind: "changes", rescanned: [itemId("M")] });
  });

  it("client - a scroll_expired scroll starts over; a not_found folder is skipped", async () => {
    const r = rig({}, 10);
    r.client.tree.upsert(syncRoot("R"));
    r.server.items = [syncRoot("R"), folder("M", rootId("R")), file("inside", itemId("M"))];
    r.server.scrollErrors = ["scroll_expired"];
    await connected(r);
    r.server.last.changes(10, 20, [changed("documentMoved", folder("M", rootId("R")), 1)]);
    await settle();
    expect(r.client.tree.reachable(itemId("inside"))).toBe(true);
    r.server.scrollErrors = ["not_found"];
    r.server.last.changes(20, 30, [changed("securityUpdated", folder("M", rootId("R")), 2)]);
    await settle();
    expect(r.client.cursor).toBe(30);
    expect(r.client.tree.reachable(itemId("inside"))).toBe(true);
  });

  it("client - more folder rescans than the limit in one set become one full rescan", async () => {
    const r = rig({ maxFolderRescans: 2 }, 10);
    r.client.tree.upsert(syncRoot("R"));
    r.server.items = [
      syncRoot("R"),
      folder("a", rootId("R")),
      folder("b", rootId("R")),
      folder("c", rootId("R")),
    ];
    await connected(r);
    r.server.last.changes(
      10,
      20,
      ["a", "b", "c"].map((u, i) => changed("documentMoved", folder(u, rootId("R")), i)),
    );
    await settle();
    expect(r.server.last.sentOf("scroll").map((s) => s.id)).toEqual([TOP_LEVEL_ID, TOP_LEVEL_ID]);
    expect(r.updates[0]).toMatchObject({ kind: "rescan", reason: "folders" });
    expect(r.client.tree.size).toBe(4);
  });
});

describe("client - resume and contiguity", () => {
  it("client - resumes from the stored cursor without rescanning and applies the replay", async () => {
    const r = rig({}, 1000);
    r.client.tree.upsert(syncRoot("R"));
    await connected(r);
    const socket = r.server.last;
    expect(socket.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: 1000 }]);
    socket.changes(1000, 1100, [changed("documentCreated", file("a", rootId("R")), 1)]);
    socket.changes(1100, 1200, [changed("documentCreated", file("b", rootId("R")), 2)]);
    await settle();
    expect(socket.sentOf("scroll")).toEqual([]);
    expect(
      r.client.tree
        .children(rootId("R"))
        .map((i) => i.name)
        .sort(),
    ).toEqual(["a", "b"]);
    expect(r.store.position).toBe(1200);
  });

  it("client - a set that does not follow the previous one drops the connection and resumes from the saved cursor", async () => {
    const r = rig({}, 1000);
    r.client.tree.upsert(syncRoot("R"));
    await connected(r);
    const first = r.server.last;
    first.changes(1000, 1100, [changed("documentCreated", file("a", rootId("R")), 1)]);
    await settle();
    first.changes(1150, 1200, [changed("documentCreated", file("b", rootId("R")), 2)]);
    await settle();
    expect(r.errors.map((e) => e.name)).toEqual(["ContiguityError"]);
    const err = r.errors[0] as ContiguityError;
    expect([err.expected, err.received]).toEqual([1100, 1150]);
    expect(first.closedByClient?.code).toBe(1000);
    expect(r.client.tree.has(itemId("b"))).toBe(false);
    await r.clock.advance(r.clock.nextIn());
    const second = r.server.last;
    expect(second).not.toBe(first);
    second.open();
    expect(second.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: 1100 }]);
    second.changes(1100, 1200, [changed("documentCreated", file("b", rootId("R")), 2)]);
    await settle();
    expect(r.client.tree.has(itemId("b"))).toBe(true);
    expect(r.client.cursor).toBe(1200);
  });

  it("client - the first set after a resume must follow the cursor", async () => {
    const r = rig({}, 1000);
    await connected(r);
    r.server.last.changes(999, 1100);
    await settle();
    expect(r.errors[0]).toBeInstanceOf(ContiguityError);
    expect(r.client.cursor).toBe(1000);
  });

  it("client - a set whose upperBound does not move forward is refused", async () => {
    const r = rig({}, 1000);
    await connected(r);
    r.server.last.changes(1000, 1000);
    await settle();
    expect(r.errors[0]).toBeInstanceOf(ProtocolError);
    expect(r.client.cursor).toBe(1000);
  });

  it("client - a restarted client with the same store and tree resumes where the first stopped", async () => {
    const store = memoryCursorStore();
    const tree = createDriveTree();
    const a = rig({ cursorStore: store, tree });
    a.server.items = [syncRoot("R")];
    await connected(a);
    a.server.last.changes(0, 100);
    await settle();
    await a.client.stop();
    expect(a.server.last.closedByClient?.code).toBe(1000);
    const b = rig({ cursorStore: store, tree });
    await connected(b);
    expect(b.server.last.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: 100 }]);
    b.server.last.changes(100, 200, [changed("documentCreated", file("x", rootId("R")), 1)]);
    await settle();
    expect(tree.snapshot().map((i) => i.id)).toEqual([itemId("x"), rootId("R")]);
  });

  it("client - an onUpdate failure leaves the set unsaved; it is applied again after reconnecting", async () => {
    let fail = true;
    const r = rig(
      {
        onUpdate: () => {
          if (fail) throw new Error("disk full");
        },
      },
      1000,
    );
    r.client.tree.upsert(syncRoot("R"));
    await connected(r);
    r.server.last.changes(1000, 1100, [changed("documentCreated", file("a", rootId("R")), 1)]);
    await settle();
    expect(r.errors.map((e) => e.name)).toEqual(["ApplyError"]);
    expect(r.store.position).toBe(1000);
    fail = false;
    await r.clock.advance(r.clock.nextIn());
    r.server.last.open();
    expect(r.server.last.sentOf("subscribe")[0]?.lowerBound).toBe(1000);
    r.server.last.changes(1000, 1100, [changed("documentCreated", file("a", rootId("R")), 1)]);
    await settle();
    expect(r.store.position).toBe(1100);
  });

  it("client - after a resume with nothing to replay, the answer to the subscribe ping makes it live", async () => {
    const r = rig({}, 1000);
    await connected(r);
    const ping = r.server.last.sentOf("ping")[0];
    expect(ping?.t).toMatch(/^subscribed:/);
    expect(r.client.state).toBe("syncing");
    r.server.last.receive({ type: "pong", t: "something else" });
    await settle();
    expect(r.client.state).toBe("syncing");
    r.server.last.receive({ type: "pong", t: ping?.t });
    await settle();
    expect(r.client.state).toBe("live");
    expect(await r.client.whenSynced()).toBe(1000);
  });

  it("client - a stopped client can be started again and resumes from its cursor", async () => {
    const r = rig({}, 1000);
    await connected(r);
    r.server.last.changes(1000, 1100);
    await settle();
    await r.client.stop();
    await r.client.start();
    r.server.last.open();
    expect(r.server.sockets).toHaveLength(2);
    expect(r.server.last.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: 1100 }]);
  });

  it("client - whenSynced resolves once the given position is applied", async () => {
    const r = rig({}, 1000);
    await connected(r);
    const synced = r.client.whenSynced(1200);
    let done: number | null = null;
    void synced.then((n) => (done = n));
    r.server.last.changes(1000, 1100);
    await settle();
    expect(done).toBeNull();
    r.server.last.changes(1100, 1200);
    await settle();
    expect(done).toBe(1200);
    expect(await r.client.whenSynced()).toBe(1200);
  });
});

describe("client - heartbeat", () => {
  it("client - pings after a heartbeat of silence, and a pong keeps the connection", async () => {
    const r = rig({}, 1000);
    await connected(r, 1000);
    r.server.last.changes(1000, 1100);
    await settle();
    await r.clock.advance(1000);
    const heartbeats = r.server.last.sentOf("ping").filter((p) => typeof p.t === "number");
    expect(heartbeats).toHaveLength(1);
    r.server.last.receive({ type: "pong", t: 1 });
    await r.clock.advance(1500);
    expect(r.server.last.closedByClient).toBeNull();
    expect(r.server.sockets).toHaveLength(1);
  });

  it("client - nothing heard for twice the heartbeat: reconnects and resumes", async () => {
    const r = rig({}, 1000);
    await connected(r, 1000);
    r.server.last.changes(1000, 1100);
    await settle();
    await r.clock.advance(1999);
    expect(r.server.last.closedByClient).toBeNull();
    await r.clock.advance(300);
    expect(r.errors.at(-1)).toBeInstanceOf(SilenceError);
    expect(r.server.last.closedByClient).not.toBeNull();
    await r.clock.advance(r.clock.nextIn());
    expect(r.server.sockets).toHaveLength(2);
    r.server.last.open();
    expect(r.server.last.sentOf("subscribe")[0]?.lowerBound).toBe(1100);
  });

  it("client - the server's heartbeat from welcome replaces the assumed one", async () => {
    const r = rig({ heartbeatMs: 100_000 }, 1000);
    await connected(r, 500);
    await r.clock.advance(1200);
    expect(r.errors.at(-1)).toBeInstanceOf(SilenceError);
  });
});

describe("client - close codes and backoff", () => {
  async function closedWith(code: number, options: Partial<DriveClientOptions> = {}): Promise<Rig> {
    const r = rig({ backoff: { initialMs: 1000, longInitialMs: 20_000 }, ...options }, 1000);
    await connected(r);
    r.server.last.serverClose(code, "bye");
    await settle();
    return r;
  }

  it("client - 1000, 1001 and 4008 reconnect after a short jittered delay and resume", async () => {
    for (const code of [1000, 1001, 4008]) {
      const r = await closedWith(code);
      expect(r.client.state).toBe("waiting");
      expect(r.clock.nextIn()).toBeLessThanOrEqual(1000);
      await r.clock.advance(r.clock.nextIn());
      r.server.last.open();
      expect(r.server.sockets).toHaveLength(2);
      expect(r.server.last.sentOf("subscribe")[0]?.lowerBound).toBe(1000);
    }
  });

  it("client - 4009 and 4029 back off longer", async () => {
    for (const code of [4009, 4029]) {
      const r = await closedWith(code);
      expect(r.clock.nextIn()).toBeGreaterThanOrEqual(10_000);
      await r.clock.advance(9_999);
      expect(r.server.sockets).toHaveLength(1);
    }
  });

  it("client - 4000 stops without retrying", async () => {
    const r = await closedWith(4000);
    expect(r.client.state).toBe("stopped");
    expect(r.errors.at(-1)).toBeInstanceOf(ProtocolError);
    expect(r.errors.at(-1)?.retriable).toBe(false);
    await r.clock.advance(3_600_000);
    expect(r.server.sockets).toHaveLength(1);
    await expect(r.client.whenSynced()).rejects.toThrow(/stopped/);
  });

  it("client - 4001 asks for a new token and reconnects with it", async () => {
    const r = await closedWith(4001, { reauthenticate: () => Promise.resolve("fresh") });
    await settle();
    await r.clock.advance(r.clock.nextIn());
    expect(r.server.last.init.headers["X-Authentication-Token"]).toBe("fresh");
  });

  it("client - 4001 without a reauthenticate callback stops with an AuthenticationError", async () => {
    const r = await closedWith(4001);
    expect(r.client.state).toBe("stopped");
    expect(r.errors.at(-1)).toBeInstanceOf(AuthenticationError);
  });

  it("client - reauthenticate answering null stops", async () => {
    const r = await closedWith(4001, { reauthenticate: () => Promise.resolve(null) });
    await settle();
    expect(r.client.state).toBe("stopped");
    expect(r.errors.at(-1)).toBeInstanceOf(AuthenticationError);
  });

  it("client - an upgrade refused with HTTP 401 is a token refusal; 400 stops; 503 retries", async () => {
    const auth = rig({ reauthenticate: () => Promise.resolve("fresh") });
    await auth.client.start();
    auth.server.last.refuse(401);
    await settle();
    await auth.clock.advance(auth.clock.nextIn());
    expect(auth.server.last.init.headers["X-Authentication-Token"]).toBe("fresh");

    const bad = rig();
    await bad.client.start();
    bad.server.last.refuse(400);
    await settle();
    expect(bad.client.state).toBe("stopped");

    const busy = rig();
    await busy.client.start();
    busy.server.last.refuse(503);
    await settle();
    expect(busy.client.state).toBe("waiting");
  });

  it("client - delays grow with consecutive failures and start over once live", async () => {
    const r = rig({ backoff: { initialMs: 1000, maxMs: 8000 }, random: () => 0.999 }, 1000);
    await r.client.start();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      r.server.last.serverClose(1006);
      await settle();
      delays.push(r.clock.nextIn());
      await r.clock.advance(r.clock.nextIn());
    }
    expect(delays).toEqual([999, 1998, 3996, 7992, 7992]);
    r.server.last.open();
    r.server.last.changes(1000, 1100);
    await settle();
    expect(r.client.state).toBe("live");
    r.server.last.serverClose(1001);
    await settle();
    expect(r.clock.nextIn()).toBe(999);
  });

  it("client - stop closes the socket and nothing reconnects", async () => {
    const r = rig({}, 1000);
    await connected(r);
    await r.client.stop();
    expect(r.server.last.closedByClient?.code).toBe(1000);
    expect(r.client.state).toBe("idle");
    await r.clock.advance(3_600_000);
    expect(r.server.sockets).toHaveLength(1);
  });
});

describe("client - wire", () => {
  it("client - the msgpack format sends and receives binary frames", async () => {
    const r = rig({ format: "msgpack" }, 1000);
    r.client.tree.upsert(syncRoot("R"));
    await connected(r);
    expect(r.server.last.init.protocols).toEqual(["drivecast.v1.msgpack"]);
    expect(r.server.last.sentOf("subscribe")).toEqual([{ type: "subscribe", lowerBound: 1000 }]);
    r.server.last.changes(1000, 1100, [changed("documentCreated", file("a", rootId("R")), 1)]);
    await settle();
    expect(r.client.tree.has(itemId("a"))).toBe(true);
  });

  it("client - an undecodable frame drops the connection and it resumes", async () => {
    const r = rig({}, 1000);
    await connected(r);
    r.server.last.onmessage?.({ data: "{not json" });
    await settle();
    expect(r.errors.at(-1)).toBeInstanceOf(ProtocolError);
    expect(r.errors.at(-1)?.retriable).toBe(true);
    expect(r.client.state).toBe("waiting");
  });

  it("client - an error message without a request id is reported and the connection stays", async () => {
    const r = rig({}, 1000);
    await connected(r);
    r.server.last.receive({ type: "error", code: "bad_request", message: "already subscribed" });
    await settle();
    expect(r.errors.at(-1)?.message).toMatch(/already subscribed/);
    expect(r.server.last.closedByClient).toBeNull();
  });
});
