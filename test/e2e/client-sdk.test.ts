// The client SDK against a real gateway (memory bus, stub scroll responder): first run, resume,
// rescans, contiguity repair, both wire formats and both ways of passing credentials.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import WebSocket from "ws";
import { msgpackCodec } from "@drivecast/protocol";
import type { DeviceRecord, FileSystemItem } from "@drivecast/protocol";
import { ContiguityError, createDriveTree, memoryCursorStore } from "@drivecast/client";
import type { DriveClient, DriveClientError, DriveTree, RescanEvent } from "@drivecast/client";
import { createNodeDriveClient, fileCursorStore } from "@drivecast/client/node";
import type { ClientHarness, RemoteUser } from "./client-harness.js";
import { itemId, rootId, startClientHarness, startDropProxy } from "./client-harness.js";
import { waitFor } from "./harness.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function harness(): Promise<ClientHarness> {
  const h = await startClientHarness();
  cleanup.push(() => h.close());
  return h;
}

interface Device {
  client: DriveClient;
  rescans: RescanEvent[];
  errors: DriveClientError[];
}

function device(
  h: ClientHarness,
  remote: RemoteUser,
  options: Partial<Parameters<typeof createNodeDriveClient>[0]> = {},
): Device {
  const client = createNodeDriveClient({
    url: h.url,
    token: remote.token,
    deviceId: "laptop",
    backoff: { initialMs: 50, maxMs: 500 },
    ...options,
  });
  const rescans: RescanEvent[] = [];
  const errors: DriveClientError[] = [];
  client.on("rescan", (e) => rescans.push(e));
  client.on("error", (e) => errors.push(e));
  cleanup.push(() => client.stop());
  return { client, rescans, errors };
}

/** A user with root Projects ⊃ (Plans ⊃ a.txt, b.txt) and root Photos ⊃ p.jpg, one set in the feed. */
async function seeded(h: ClientHarness): Promise<RemoteUser> {
  const remote = h.user();
  remote.root("R", "Projects");
  remote.folder("plans", rootId("R"), "Plans");
  remote.file("a", itemId("plans"), "a.txt");
  remote.file("b", rootId("R"), "b.txt");
  remote.root("P", "Photos");
  remote.file("p", rootId("P"), "p.jpg");
  await remote.append();
  return remote;
}

function expectTree(tree: DriveTree, remote: RemoteUser): void {
  expect(tree.snapshot()).toEqual(remote.snapshot());
}

it("client e2e - first run rescans the remote tree, then applies live change sets and acks them", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const d = device(h, remote);
  await d.client.start();
  await d.client.whenSynced();
  expect(d.rescans.map((r) => r.reason)).toEqual(["firstRun"]);
  expect(remote.scrollRequests[0]?.id).toBe(
    "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#",
  );
  expectTree(d.client.tree, remote);

  const e = await remote.append([
    remote.file("c", itemId("plans"), "c.txt"),
    remote.rename(itemId("a"), "a-renamed.txt"),
    remote.move(itemId("b"), rootId("P")),
    remote.remove(itemId("p")),
  ]);
  expect(await d.client.whenSynced(e.summary.upperBound)).toBe(e.summary.upperBound);
  expectTree(d.client.tree, remote);
  expect(d.rescans).toHaveLength(1);

  // The ack reached the gateway's device registry.
  const kv = await h.bus.kv({ bucket: h.names.devicesBucket });
  const key = h.names.deviceKey(remote.user, "laptop");
  await waitFor(
    async () => {
      const entry = await kv.get(key);
      return (
        entry !== null &&
        msgpackCodec<DeviceRecord>().decode(entry.value).lastAckedPosition === e.summary.upperBound
      );
    },
    10_000,
    () => `device record ${key} with lastAckedPosition ${e.summary.upperBound}`,
  );
});

it("client e2e - a restarted device resumes from its stored cursor, without a rescan", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const dir = await mkdtemp(join(tmpdir(), "drivecast-client-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const store = fileCursorStore(join(dir, "cursor.json"));
  const tree = createDriveTree();

  const first = device(h, remote, { cursorStore: store, tree });
  await first.client.start();
  const position = await first.client.whenSynced();
  await first.client.stop();
  expect(await store.load()).toBe(position);
  const scrollsBefore = remote.scrollRequests.length;

  // While the device is away.
  await remote.append([remote.rename(itemId("plans"), "Plans 2025")]);
  await remote.append([remote.remove(itemId("a")), remote.file("d", rootId("P"), "d.txt")]);
  const last = await remote.append([remote.move(itemId("d"), itemId("plans"))]);

  const second = device(h, remote, { cursorStore: store, tree });
  await second.client.start();
  await second.client.whenSynced(last.summary.upperBound);
  expect(second.rescans).toEqual([]);
  expect(remote.scrollRequests.length).toBe(scrollsBefore);
  expectTree(tree, remote);
  expect(await store.load()).toBe(last.summary.upperBound);
});

it("client e2e - hasTooManyChanges makes the device rescan, then it continues live", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const d = device(h, remote, { cursorStore: memoryCursorStore() });
  await d.client.start();
  await d.client.whenSynced();

  // More changes than the actor's limit: the set says "rescan" instead of listing them.
  remote.remove(rootId("P"));
  remote.root("N", "New root");
  remote.file("n", rootId("N"), "n.txt");
  const marker = await remote.append([], true);
  await d.client.whenSynced(marker.summary.upperBound);
  expect(d.rescans.map((r) => r.reason)).toEqual(["firstRun", "tooManyChanges"]);
  expectTree(d.client.tree, remote);

  const live = await remote.append([remote.rename(itemId("n"), "n2.txt")]);
  await d.client.whenSynced(live.summary.upperBound);
  expectTree(d.client.tree, remote);
  expect(d.rescans).toHaveLength(2);
});

it("client e2e - a folder moved into a root arrives with its descendants (folder rescan)", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const d = device(h, remote);
  await d.client.start();
  await d.client.whenSynced();

  // Archive (and its content) was outside every root; one event for the folder only.
  const plans = remote.items.get(itemId("plans")) as FileSystemItem;
  const a = remote.items.get(itemId("a")) as FileSystemItem;
  remote.appear({ ...plans, id: itemId("archive"), name: "Archive" });
  remote.appear(
    ...["x", "y"].map((u) => ({
      ...a,
      id: itemId(u),
      parentId: itemId("archive"),
      name: `${u}.txt`,
      digest: `md5-${u}`,
    })),
  );
  const e = await remote.append([remote.move(itemId("archive"), rootId("P"))]);
  await d.client.whenSynced(e.summary.upperBound);
  expect(remote.scrollRequests.at(-1)?.id).toBe(itemId("archive"));
  expectTree(d.client.tree, remote);
});

it("client e2e - a change set lost in transit breaks contiguity: the device reconnects and resumes", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const proxy = await startDropProxy(h.gateway.port);
  cleanup.push(() => proxy.close());
  const d = device(h, remote, { url: `ws://127.0.0.1:${proxy.port}` });
  await d.client.start();
  await d.client.whenSynced();
  expect(d.client.connections).toBe(1);

  const dropped = proxy.dropNext((text) => text.includes('"type":"changes"'));
  const lost = await remote.append([remote.file("lost", rootId("R"), "lost.txt")]);
  expect(await dropped).toContain(String(lost.summary.upperBound));
  const next = await remote.append([remote.file("next", rootId("R"), "next.txt")]);

  await d.client.whenSynced(next.summary.upperBound);
  const breaks = d.errors.filter((e) => e instanceof ContiguityError) as ContiguityError[];
  expect(breaks).toHaveLength(1);
  expect(breaks[0]?.received).toBe(lost.summary.upperBound);
  expect(d.client.connections).toBe(2);
  expectTree(d.client.tree, remote);
});

it("client e2e - msgpack frames, and credentials in the query as a browser sends them", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const d = device(h, remote, { format: "msgpack", credentials: "query" });
  await d.client.start();
  await d.client.whenSynced();
  const e = await remote.append([remote.rename(itemId("b"), "b2.txt")]);
  await d.client.whenSynced(e.summary.upperBound);
  expectTree(d.client.tree, remote);
});

it("client e2e - a revoked token stops the client with an AuthenticationError", async () => {
  const h = await harness();
  const remote = await seeded(h);
  const d = device(h, { ...remote, token: "not-a-token" } as RemoteUser, {
    WebSocket: WebSocket as never,
  });
  const stopped = new Promise<void>((resolve) =>
    d.client.on("state", (s) => {
      if (s.state === "stopped") resolve();
    }),
  );
  await d.client.start();
  await stopped;
  expect(d.errors.at(-1)?.name).toBe("AuthenticationError");
});
