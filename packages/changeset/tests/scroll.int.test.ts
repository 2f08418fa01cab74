// The remote scan against the real pieces: nuxeo-sim's REST server through @drivecast/nuxeo, and a
// real bus (in-memory, and nats-server through the testkit) with the gateway's request codec. The
// "gateways" are plain bus clients issuing `drive.rpc.<shard>` requests exactly as the gateway's
// context does; the scroll service runs on its own connection, as in a changeset worker.
import { connectNatsBus, createMemoryBus, RemoteError, type Bus } from "@drivecast/bus";
import { createNuxeoClient, type NuxeoClient } from "@drivecast/nuxeo";
import {
  createSimulator,
  startRestServer,
  type RestServer,
  type Simulator,
} from "@drivecast/nuxeo-sim";
import {
  ErrorCode,
  msgpackCodec,
  Names,
  shardOf,
  TOP_LEVEL_ID,
  type DocSnapshot,
  type FileSystemItem,
  type ScrollDescendantsReply,
  type ScrollDescendantsRequest,
} from "@drivecast/protocol";
import { randomName, startNatsServer, type NatsServerHandle } from "@drivecast/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fileSystemItemId,
  isFileSystemItemDoc,
  principalsOf,
  rootSetOf,
  scrollItem,
  syncRootItemId,
} from "../src/compute/index.js";
import { createScrollService, type ScrollService } from "../src/scroll.js";
import { FakeNuxeo, grant as fakeGrant, REPO as FAKE_REPO } from "./scroll-fixtures.js";

const SHARDS = 8;
const RPC_TIMEOUT_MS = 30_000;
const TOP = TOP_LEVEL_ID;
const requestCodec = msgpackCodec<ScrollDescendantsRequest>();
const replyCodec = msgpackCodec<ScrollDescendantsReply>();

interface World {
  sim: Simulator;
  rest: RestServer;
  nuxeo: NuxeoClient;
  /** /default-domain/workspaces/scan: alice's root (group team). */
  scan: string;
  /** scan/big: 10,000 files. */
  big: string;
  /** A second root of alice. */
  other: string;
  /** Documents under `scan`. */
  descendants: number;
}

/**
 * scan (team Read, root of alice)
 *   big/           10,000 files
 *   tree/t0..t9/s0..s4/  20 files each (1,000) and the 60 folders
 *   private/       blocked, bob only: 20 files
 *   hidden/        HiddenInNavigation: 5 files
 *   trashed.txt    in the trash
 * other (team Read, root of alice): 3 files
 */
async function buildWorld(): Promise<World> {
  const sim = createSimulator({ auditLogLimit: 100 });
  await sim.createGroup("team", { members: [] });
  sim.createUser("alice", { groups: ["team"] });
  sim.createUser("bob", { groups: ["team"] });
  const scan = await sim.createWorkspace(sim.workspacesUid, "scan");
  await sim.grant(scan.uid, "team", "ReadWrite");
  let descendants = 0;
  const big = await sim.createFolder(scan.uid, "big");
  descendants++;
  for (let i = 0; i < 10_000; i++, descendants++)
    await sim.createFile(big.uid, `file ${i}.txt`, { content: `big ${i}` });
  const tree = await sim.createFolder(scan.uid, "tree");
  descendants++;
  for (let t = 0; t < 10; t++) {
    const ft = await sim.createFolder(tree.uid, `t${t}`);
    descendants++;
    for (let s = 0; s < 5; s++) {
      const fs = await sim.createFolder(ft.uid, `s${s}`);
      descendants++;
      for (let f = 0; f < 20; f++, descendants++)
        await sim.createFile(fs.uid, `f${f}.bin`, { content: `${t}/${s}/${f}` });
    }
  }
  const priv = await sim.createFolder(scan.uid, "private");
  descendants++;
  await sim.blockInheritance(priv.uid);
  await sim.grant(priv.uid, "bob", "Read");
  for (let i = 0; i < 20; i++, descendants++)
    await sim.createFile(priv.uid, `p${i}.txt`, { content: "p" });
  const hidden = await sim.createFolder(scan.uid, "hidden", { hidden: true });
  descendants++;
  for (let i = 0; i < 5; i++, descendants++)
    await sim.createFile(hidden.uid, `h${i}.txt`, { content: "h" });
  const trashed = await sim.createFile(scan.uid, "trashed.txt", { content: "t" });
  descendants++;
  await sim.trash(trashed.uid);
  const other = await sim.createWorkspace(sim.workspacesUid, "other");
  await sim.grant(other.uid, "team", "Read");
  for (let i = 0; i < 3; i++) await sim.createFile(other.uid, `o${i}.txt`, { content: "o" });
  await sim.registerRoot("alice", scan.uid);
  await sim.registerRoot("alice", other.uid);
  await sim.registerRoot("bob", scan.uid);
  const rest = await startRestServer(sim);
  const nuxeo = createNuxeoClient({
    baseUrl: rest.url,
    auth: { kind: "basic", user: "Administrator", password: "Administrator" },
  });
  return { sim, rest, nuxeo, scan: scan.uid, big: big.uid, other: other.uid, descendants };
}

/** What the user's scan of `base` (or of the top level) must hold, from the simulator's state. */
function expected(sim: Simulator, user: string, base: string | null): Map<string, FileSystemItem> {
  const u = sim.user(user)!;
  const principals = principalsOf(user, u.extendedGroups, u.isAdministrator);
  const roots = sim.rootsOf(user);
  const rootSet = rootSetOf(roots.map((uid) => ({ repository: "default", uid })));
  const snap = (uid: string) => sim.snapshot(uid) as DocSnapshot;
  const ancestors = (uid: string): DocSnapshot[] => {
    const out: DocSnapshot[] = [];
    for (let p = sim.get(uid)!.parentUid; p !== null; p = sim.get(p)!.parentUid)
      out.unshift(snap(p));
    return out;
  };
  const under = (uid: string): string[] => {
    const out: string[] = [];
    const stack = sim.children(uid).map((c) => c.uid);
    while (stack.length > 0) {
      const d = stack.pop()!;
      out.push(d);
      stack.push(...sim.children(d).map((c) => c.uid));
    }
    return out;
  };
  const candidates = base === null ? roots.flatMap((r) => [r, ...under(r)]) : under(base);
  const items = new Map<string, FileSystemItem>();
  for (const uid of candidates) {
    const s = snap(uid);
    if (!isFileSystemItemDoc(s)) continue;
    const item = scrollItem(principals, s, ancestors(uid), rootSet);
    if (item !== null) items.set(item.id, item);
  }
  // A child of a folder that is no item (hidden) cannot be placed: not expected either.
  const placed = (item: FileSystemItem): boolean =>
    item.parentId === TOP ||
    (base !== null && item.parentId.endsWith(`#${base}`)) ||
    (items.has(item.parentId) && placed(items.get(item.parentId)!));
  for (const [id, item] of [...items]) if (!placed(item)) items.delete(id);
  return items;
}

function request(
  user: string,
  id: string,
  scrollId: string | null,
  batchSize: number,
  keepAliveMs = 60_000,
) {
  // What the gateway passes: the groups Nuxeo's /me gives for the token.
  const groups = world.sim.user(user)?.extendedGroups ?? [];
  const r: ScrollDescendantsRequest = {
    type: "scrollDescendants",
    user,
    groups,
    isAdministrator: false,
    id,
    scrollId,
    batchSize,
    keepAliveMs,
  };
  return r;
}

/** A gateway's side: `drive.rpc.<shard(user)>` request/reply with the gateway's codecs. */
function gateway(bus: Bus, names: Names) {
  return async (r: ScrollDescendantsRequest): Promise<ScrollDescendantsReply> =>
    replyCodec.decode(
      await bus.request(
        names.rpcSubject(shardOf(r.user, SHARDS)),
        requestCodec.encode(r),
        RPC_TIMEOUT_MS,
      ),
    );
}

type Gateway = ReturnType<typeof gateway>;

/** A whole scroll; batch k goes through gateways[k % n]. */
async function scrollThrough(gateways: Gateway[], user: string, id: string, batchSize: number) {
  const batches: FileSystemItem[][] = [];
  let reply = await gateways[0]!(request(user, id, null, batchSize));
  const scrollId = reply.scrollId;
  for (let k = 1; reply.fileSystemItems.length > 0; k++) {
    batches.push(reply.fileSystemItems);
    reply = await gateways[k % gateways.length]!(request(user, id, scrollId, batchSize));
    expect(reply.scrollId).toBe(scrollId);
  }
  return batches;
}

function expectParentsFirst(items: FileSystemItem[], scannedId: string | null): void {
  const seen = new Set<string>();
  for (const item of items) {
    const known = item.parentId === TOP || item.parentId === scannedId || seen.has(item.parentId);
    if (!known) expect.fail(`${item.id} (${item.name}) came before its parent ${item.parentId}`);
    if (seen.has(item.id)) expect.fail(`${item.id} delivered twice`);
    seen.add(item.id);
  }
}

let world: World;
beforeAll(async () => {
  world = await buildWorld();
}, 120_000);
afterAll(async () => {
  await world?.rest.close();
  await world?.sim.close();
});

for (const kind of ["memory", "nats"] as const) {
  describe(`scroll (${kind} bus)`, () => {
    let nats: NatsServerHandle | null = null;
    let names: Names;
    let workerBus: Bus;
    const gatewayBuses: Bus[] = [];
    let service: ScrollService;
    let clock = 0;

    beforeAll(async () => {
      names = new Names({ prefix: randomName("p"), subjectPrefix: randomName("s") });
      if (kind === "nats") {
        nats = await startNatsServer();
        workerBus = await connectNatsBus({ servers: nats.url });
        for (let i = 0; i < 2; i++) gatewayBuses.push(await connectNatsBus({ servers: nats.url }));
      } else {
        const memory = createMemoryBus();
        workerBus = memory;
        for (let i = 0; i < 2; i++) gatewayBuses.push(memory.connect());
      }
      service = createScrollService(
        {
          bus: workerBus,
          names,
          nuxeo: world.nuxeo,
          roots: (user) => world.sim.rootsOf(user).map((uid) => ({ repository: "default", uid })),
          now: () => clock,
        },
        // Batches full whatever the machine's load: a call may wait for the listing up to 20 s
        // (the gateway's RPC timeout here is 30 s).
        { batchWaitMs: 20_000 },
      );
      for (let s = 0; s < SHARDS; s++) service.serveShard(s);
      await workerBus.flush();
    }, 60_000);

    afterAll(async () => {
      service?.close();
      for (const b of gatewayBuses) await b.close();
      if (kind === "nats") await workerBus?.close();
      await nats?.stop();
    });

    it("scroll - 10,000 children in one folder, in batches of 1000, each the item a change would carry", async () => {
      const gw = gateway(gatewayBuses[0]!, names);
      const bigId = fileSystemItemId("default", world.big);
      const queries = world.nuxeo.requestCount.query;
      const batches = await scrollThrough([gw], "alice", bigId, 1000);
      expect(batches.map((b) => b.length)).toEqual(Array(10).fill(1000));
      const items = batches.flat();
      // Each reply fits NATS's default max_payload (1 MiB).
      const largest = Math.max(
        ...batches.map(
          (b) =>
            replyCodec.encode({ type: "scrollDescendants", scrollId: "x", fileSystemItems: b })
              .length,
        ),
      );
      expect(largest).toBeLessThan(1024 * 1024);
      expectParentsFirst(items, bigId);
      const want = expected(world.sim, "alice", world.big);
      expect(want.size).toBe(10_000);
      expect(new Map(items.map((i) => [i.id, i]))).toEqual(want);
      // Paged: 10 pages of 1000, plus the folder and its ancestors (two batched lookups).
      expect(world.nuxeo.requestCount.query - queries).toBe(12);
    }, 180_000);

    it("scroll - a scroll continued on other gateways returns the same items as on one", async () => {
      const [a, b] = gatewayBuses.map((bus) => gateway(bus, names));
      const rootId = syncRootItemId("default", world.scan);
      const one = (await scrollThrough([a!], "alice", rootId, 700)).flat();
      const alternating = (await scrollThrough([a!, b!], "alice", rootId, 700)).flat();
      expect(alternating).toEqual(one);
      expectParentsFirst(one, rootId);
      const want = expected(world.sim, "alice", world.scan);
      expect(new Map(one.map((i) => [i.id, i]))).toEqual(want);
      // Neither what alice may not see, nor what is hidden or trashed.
      const names_ = new Set(one.map((i) => i.name));
      for (const n of ["private", "p0.txt", "hidden", "h0.txt", "trashed.txt"])
        expect(names_.has(n)).toBe(false);
      expect(one.length).toBe(world.descendants - 1 - 20 - 1 - 5 - 1);
    }, 180_000);

    it("scroll - the top level: every root of the user and all their descendants", async () => {
      const gw = gateway(gatewayBuses[1]!, names);
      const items = (await scrollThrough([gw], "alice", TOP, 1000)).flat();
      expectParentsFirst(items, null);
      expect(
        items
          .filter((i) => i.parentId === TOP)
          .map((i) => i.id)
          .sort(),
      ).toEqual(
        [syncRootItemId("default", world.scan), syncRootItemId("default", world.other)].sort(),
      );
      expect(new Map(items.map((i) => [i.id, i]))).toEqual(expected(world.sim, "alice", null));
    }, 180_000);

    it("scroll - another user sees what that user may see", async () => {
      const gw = gateway(gatewayBuses[0]!, names);
      const rootId = syncRootItemId("default", world.scan);
      const items = (await scrollThrough([gw], "bob", rootId, 1000)).flat();
      expect(new Map(items.map((i) => [i.id, i]))).toEqual(expected(world.sim, "bob", world.scan));
      expect(items.some((i) => i.name === "p0.txt")).toBe(true);
    }, 180_000);

    it("scroll - errors cross the bus with their codes: scroll_expired, batch_too_large, not_found", async () => {
      const gw = gateway(gatewayBuses[0]!, names);
      const rootId = syncRootItemId("default", world.other);
      const codeOf = (p: Promise<unknown>) =>
        p.then(
          () => "no error",
          (e: unknown) => (e instanceof RemoteError ? `${e.code}: ${e.message}` : String(e)),
        );
      expect(await codeOf(gw(request("alice", rootId, null, 1001)))).toMatch(
        /^batch_too_large: .*1000/,
      );
      expect(
        await codeOf(gw(request("alice", fileSystemItemId("default", "nope"), null, 10))),
      ).toMatch(/^not_found: /);
      const first = await gw(request("alice", rootId, null, 1, 1000));
      expect(first.fileSystemItems).toHaveLength(1);
      clock += 2000;
      expect(await codeOf(gw(request("alice", rootId, first.scrollId, 1, 1000)))).toMatch(
        new RegExp(`^${ErrorCode.ScrollExpired}: `),
      );
    });

    it("scroll - after a shard moves to another worker, a continuation answers scroll_expired", async () => {
      const gw = gateway(gatewayBuses[0]!, names);
      const rootId = syncRootItemId("default", world.other);
      const first = await gw(request("alice", rootId, null, 1));
      const shard = shardOf("alice", SHARDS);
      // The lease moves: the old owner stops serving, a new one (own connection) starts.
      service.releaseShard(shard);
      const newBus =
        kind === "nats" ? await connectNatsBus({ servers: nats!.url }) : gatewayBuses[1]!;
      const next = createScrollService({
        bus: newBus,
        names,
        nuxeo: world.nuxeo,
        roots: (user) => world.sim.rootsOf(user).map((uid) => ({ repository: "default", uid })),
      });
      next.serveShard(shard);
      await newBus.flush();
      try {
        const err = await gw(request("alice", rootId, first.scrollId, 1)).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(RemoteError);
        expect((err as RemoteError).code).toBe(ErrorCode.ScrollExpired);
        // A new scroll works on the new owner.
        expect((await scrollThrough([gw], "alice", rootId, 10)).flat()).toHaveLength(3);
      } finally {
        next.close();
        if (kind === "nats") await newBus.close();
        service.serveShard(shard);
        await workerBus.flush();
      }
    });
  });
}

describe("scroll (nats bus, large)", () => {
  // The 100,000 descendants over a real nats-server. Nuxeo is the in-process fake here (its
  // pages cost nothing), so what is tested is the scroll service and the bus at that size: every
  // batch a NATS request/reply within the payload limit, parents first, every item once.
  let nats: NatsServerHandle;
  let workerBus: Bus;
  let gatewayBus: Bus;
  beforeAll(async () => {
    nats = await startNatsServer();
    workerBus = await connectNatsBus({ servers: nats.url });
    gatewayBus = await connectNatsBus({ servers: nats.url });
  });
  afterAll(async () => {
    await gatewayBus?.close();
    await workerBus?.close();
    await nats?.stop();
  });

  it("scroll - 100,000 descendants, in batches of 1000 through NATS, parents before children", async () => {
    const fake = new FakeNuxeo({ order: "shuffled", seed: 7 });
    const ws = fake.folder(fake.root, "ws", [fakeGrant("members")]);
    let n = 0;
    for (let a = 0; n < 100_000; a++) {
      const fa = fake.folder(ws, `a${a}`);
      n++;
      for (let b = 0; b < 10 && n < 100_000; b++) {
        const fb = fake.folder(fa, `b${b}`);
        n++;
        for (let f = 0; f < 99 && n < 100_000; f++, n++) fake.file(fb, `f${f}`);
      }
    }
    const names = new Names({ prefix: randomName("p"), subjectPrefix: randomName("s") });
    const service = createScrollService(
      {
        bus: workerBus,
        names,
        nuxeo: fake,
        roots: (user) => (user === "alice" ? [{ repository: FAKE_REPO, uid: ws.uid }] : []),
        now: () => 0,
      },
      { batchWaitMs: 20_000 },
    );
    try {
      for (let s = 0; s < SHARDS; s++) service.serveShard(s);
      await workerBus.flush();
      const rootId = syncRootItemId(FAKE_REPO, ws.uid);
      const ask = async (scrollId: string | null) => {
        const r: ScrollDescendantsRequest = {
          type: "scrollDescendants",
          user: "alice",
          groups: ["members"],
          isAdministrator: false,
          id: rootId,
          scrollId,
          batchSize: 1000,
          keepAliveMs: 60_000,
        };
        const bytes = await gatewayBus.request(
          names.rpcSubject(shardOf("alice", SHARDS)),
          requestCodec.encode(r),
          RPC_TIMEOUT_MS,
        );
        expect(bytes.length).toBeLessThan(1024 * 1024); // NATS's default max_payload
        return replyCodec.decode(bytes);
      };
      const items: FileSystemItem[] = [];
      let reply = await ask(null);
      const scrollId = reply.scrollId;
      while (reply.fileSystemItems.length > 0) {
        expect(reply.fileSystemItems.length).toBeLessThanOrEqual(1000);
        items.push(...reply.fileSystemItems);
        reply = await ask(scrollId);
        expect(reply.scrollId).toBe(scrollId);
      }
      expect(items).toHaveLength(100_000);
      expectParentsFirst(items, rootId);
      // Nuxeo paged, never asked for everything at once.
      expect(fake.maxPageSize).toBe(1000);
      expect(fake.requests.query).toBe(100);
    } finally {
      service.close();
    }
  }, 180_000);
});
