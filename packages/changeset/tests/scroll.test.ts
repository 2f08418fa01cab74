import { createMemoryBus, NoRespondersError, RemoteError } from "@drivecast/bus";
import {
  ErrorCode,
  msgpackCodec,
  Names,
  TOP_LEVEL_ID,
  type FileSystemItem,
  type ScrollDescendantsReply,
  type ScrollDescendantsRequest,
} from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import { fileSystemItemId, principalsOf, syncRootItemId } from "../src/compute/index.js";
import { createScrollService, parseTarget, type ScrollConfig } from "../src/scroll.js";
import {
  deferred,
  deny,
  expectedItems,
  FakeNuxeo,
  grant,
  REPO,
  uidOfItem,
  type Order,
} from "./scroll-fixtures.js";

const names = new Names({ prefix: "", subjectPrefix: "" });
const TOP = "org.nuxeo.drive.service.impl.DefaultTopLevelFolderItemFactory#";

/**
 * /ws (members Read) ─ docs (alice's root) ─ a ─ a1 ─ f1..f3
 *                                         │    └ f.txt
 *                                         ├ secret (blocked: nobody but bob)
 *                                         │    └ hidden.txt
 *                                         ├ nav (HiddenInNavigation) ─ lost.txt
 *                                         └ b ─ denied.txt (deny alice)
 */
function sampleTree(order: Order = "natural") {
  const fake = new FakeNuxeo({ order, seed: 7 });
  const ws = fake.folder(fake.root, "ws", [grant("members", "ReadWrite")]);
  const docs = fake.folder(ws, "docs");
  const a = fake.folder(docs, "a");
  const a1 = fake.folder(a, "a1");
  for (const n of ["f1", "f2", "f3"]) fake.file(a1, n);
  fake.file(a, "f.txt");
  const secret = fake.folder(docs, "secret", [grant("bob")]);
  fake.block(secret);
  fake.file(secret, "hidden.txt");
  const nav = fake.folder(docs, "nav");
  nav.facets.push("HiddenInNavigation");
  fake.file(nav, "lost.txt");
  const b = fake.folder(docs, "b");
  const denied = fake.file(b, "denied.txt", [deny("alice")]);
  return { fake, ws, docs, a, a1, secret, nav, b, denied };
}

function request(
  user: string,
  id: string,
  scrollId: string | null,
  batchSize = 100,
  keepAliveMs = 60_000,
  groups = ["members"],
): ScrollDescendantsRequest {
  return {
    type: "scrollDescendants",
    user,
    groups,
    isAdministrator: false,
    id,
    scrollId,
    batchSize,
    keepAliveMs,
  };
}

function service(
  fake: FakeNuxeo,
  roots: Record<string, { repository: string; uid: string }[]>,
  config: Partial<ScrollConfig> = {},
  now: () => number = () => 0,
) {
  return createScrollService(
    {
      bus: createMemoryBus(),
      names,
      nuxeo: fake,
      roots: (user) => roots[user] ?? [],
      now,
    },
    config,
  );
}

type Service = ReturnType<typeof service>;

/** Runs a scroll to its end; returns every batch. */
async function scrollAll(
  svc: Service,
  user: string,
  id: string,
  batchSize: number,
  groups = ["members"],
): Promise<FileSystemItem[][]> {
  const batches: FileSystemItem[][] = [];
  let reply = await svc.scroll(request(user, id, null, batchSize, 60_000, groups));
  const scrollId = reply.scrollId;
  while (reply.fileSystemItems.length > 0) {
    batches.push(reply.fileSystemItems);
    expect(reply.scrollId).toBe(scrollId);
    reply = await svc.scroll(request(user, id, scrollId, batchSize, 60_000, groups));
  }
  return batches;
}

/** Every item's parent is the scanned folder, the top level, or an item delivered before. */
function expectParentsFirst(items: FileSystemItem[], scannedId: string | null): void {
  const seen = new Set<string>();
  for (const item of items) {
    const known = item.parentId === TOP || item.parentId === scannedId || seen.has(item.parentId);
    expect(known, `${item.id} came before its parent ${item.parentId}`).toBe(true);
    expect(seen.has(item.id), `${item.id} delivered twice`).toBe(false);
    seen.add(item.id);
  }
}

async function expectRemote(p: Promise<unknown>, code: string): Promise<RemoteError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected a RemoteError ${code}`).toBeInstanceOf(RemoteError);
  expect((err as RemoteError).code).toBe(code);
  return err as RemoteError;
}

const alice = principalsOf("alice", ["members"], false);

describe("scroll - content", () => {
  for (const order of ["natural", "reverse", "shuffled"] as const) {
    it(`content - parents before children and the items a change would carry (${order} NXQL order)`, async () => {
      const t = sampleTree(order);
      const svc = service(t.fake, { alice: [{ repository: REPO, uid: t.docs.uid }] });
      const docsId = syncRootItemId(REPO, t.docs.uid);
      const items = (await scrollAll(svc, "alice", docsId, 2)).flat();
      expectParentsFirst(items, docsId);
      const expected = expectedItems(t.fake, alice, [t.docs], t.docs);
      expect(new Map(items.map((i) => [uidOfItem(i.id), i]))).toEqual(expected);
      // What the user may not see, or could not place, is not there.
      const names = items.map((i) => i.name);
      expect(names).not.toContain("hidden.txt");
      expect(names).not.toContain("secret");
      expect(names).not.toContain("denied.txt.bin");
      expect(names).not.toContain("lost.txt.bin");
      expect(names).toEqual(expect.arrayContaining(["a", "a1", "f1.bin", "f.txt.bin", "b"]));
    });
  }

  it("content - another user's scan follows that user's permissions", async () => {
    const t = sampleTree();
    const roots = {
      alice: [{ repository: REPO, uid: t.docs.uid }],
      bob: [{ repository: REPO, uid: t.docs.uid }],
    };
    const svc = service(t.fake, roots);
    const docsId = syncRootItemId(REPO, t.docs.uid);
    const bobItems = (await scrollAll(svc, "bob", docsId, 50)).flat();
    const bob = principalsOf("bob", ["members"], false);
    expect(new Map(bobItems.map((i) => [uidOfItem(i.id), i]))).toEqual(
      expectedItems(t.fake, bob, [t.docs], t.docs),
    );
    expect(bobItems.map((i) => i.name)).toEqual(
      expect.arrayContaining(["secret", "hidden.txt.bin", "denied.txt.bin"]),
    );
    expect(bobItems.every((i) => i.userName === "bob")).toBe(true);
  });

  it("content - a folder item id scans that folder only, with paths under the root", async () => {
    const t = sampleTree();
    const svc = service(t.fake, { alice: [{ repository: REPO, uid: t.docs.uid }] });
    const aId = fileSystemItemId(REPO, t.a.uid);
    const items = (await scrollAll(svc, "alice", aId, 100)).flat();
    expect(items.map((i) => i.name).sort()).toEqual([
      "a1",
      "f.txt.bin",
      "f1.bin",
      "f2.bin",
      "f3.bin",
    ]);
    expectParentsFirst(items, aId);
    const f1 = items.find((i) => i.name === "f1.bin")!;
    expect(f1.path).toBe(
      `/${TOP}/${syncRootItemId(REPO, t.docs.uid)}/${aId}/${fileSystemItemId(REPO, t.a1.uid)}/${f1.id}`,
    );
  });

  it("content - the top level scans every sync root of the user as sync root items", async () => {
    const t = sampleTree();
    const other = t.fake.folder(t.ws, "other");
    t.fake.file(other, "o.txt");
    const gone = t.fake.folder(t.ws, "gone", [deny("alice")]);
    const svc = service(t.fake, {
      alice: [
        { repository: REPO, uid: t.docs.uid },
        { repository: REPO, uid: other.uid },
        { repository: REPO, uid: gone.uid },
      ],
    });
    const items = (await scrollAll(svc, "alice", TOP_LEVEL_ID, 3)).flat();
    expectParentsFirst(items, null);
    const roots = items.filter((i) => i.parentId === TOP);
    expect(roots.map((r) => r.id).sort()).toEqual(
      [syncRootItemId(REPO, t.docs.uid), syncRootItemId(REPO, other.uid)].sort(),
    );
    expect(roots.every((r) => r.canDelete && r.folder)).toBe(true);
    const expected = new Map([...expectedItems(t.fake, alice, [t.docs, other], null)]);
    expect(new Map(items.map((i) => [uidOfItem(i.id), i]))).toEqual(expected);
  });

  it("content - a sync root nested under a folder the user cannot see comes as a sync root item", async () => {
    const fake = new FakeNuxeo();
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    const closed = fake.folder(ws, "closed");
    fake.block(closed);
    const inner = fake.folder(closed, "inner", [grant("alice")]);
    fake.file(inner, "x.txt");
    const svc = service(fake, {
      alice: [
        { repository: REPO, uid: ws.uid },
        { repository: REPO, uid: inner.uid },
      ],
    });
    const items = (await scrollAll(svc, "alice", syncRootItemId(REPO, ws.uid), 10)).flat();
    expectParentsFirst(items, syncRootItemId(REPO, ws.uid));
    expect(items.map((i) => [i.name, i.parentId])).toEqual([
      ["inner", TOP],
      ["x.txt.bin", syncRootItemId(REPO, inner.uid)],
    ]);
  });

  it("content - no limit on children: 10,000 in one folder", async () => {
    const fake = new FakeNuxeo({ order: "shuffled", seed: 3 });
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    const big = fake.folder(ws, "big");
    for (let i = 0; i < 10_000; i++) fake.file(big, `f${i}`);
    const svc = service(fake, { alice: [{ repository: REPO, uid: ws.uid }] });
    const batches = await scrollAll(svc, "alice", syncRootItemId(REPO, ws.uid), 1000);
    const items = batches.flat();
    expect(items).toHaveLength(10_001);
    expect(items[0]!.name).toBe("big");
    expect(new Set(items.map((i) => i.id)).size).toBe(10_001);
    expect(batches.every((b) => b.length <= 1000)).toBe(true);
  });

  it("content - 100,000 descendants, parents before children, every one once", async () => {
    const fake = new FakeNuxeo();
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    let n = 0;
    for (let a = 0; a < 10; a++) {
      const fa = fake.folder(ws, `a${a}`);
      n++;
      for (let b = 0; b < 10; b++) {
        const fb = fake.folder(fa, `b${b}`);
        n++;
        for (let c = 0; c < 10; c++) {
          const fc = fake.folder(fb, `c${c}`);
          n++;
          for (let d = 0; d < 89; d++, n++) fake.file(fc, `f${d}`);
        }
      }
    }
    expect(n).toBe(90_110);
    // Top it up to 100,000 with one flat folder.
    const flat = fake.folder(ws, "flat");
    n++;
    while (n < 100_000) {
      fake.file(flat, `g${n}`);
      n++;
    }
    const svc = service(fake, { alice: [{ repository: REPO, uid: ws.uid }] });
    const rootId = syncRootItemId(REPO, ws.uid);
    const items = (await scrollAll(svc, "alice", rootId, 1000)).flat();
    expect(items).toHaveLength(100_000);
    expectParentsFirst(items, rootId);
    // Paged: one request per 1000 descendants.
    expect(fake.maxPageSize).toBe(1000);
    expect(fake.requests.query).toBe(100);
  }, 180_000);
});

describe("scroll - batches", () => {
  it("batches - at most batchSize items, then an empty list, and the end stays the end", async () => {
    const t = sampleTree();
    const svc = service(t.fake, { alice: [{ repository: REPO, uid: t.docs.uid }] });
    const id = syncRootItemId(REPO, t.docs.uid);
    const first = await svc.scroll(request("alice", id, null, 3));
    expect(first.fileSystemItems).toHaveLength(3);
    let total = 3;
    for (;;) {
      const r = await svc.scroll(request("alice", id, first.scrollId, 3));
      expect(r.fileSystemItems.length).toBeLessThanOrEqual(3);
      if (r.fileSystemItems.length === 0) break;
      total += r.fileSystemItems.length;
    }
    expect(total).toBe(expectedItems(t.fake, alice, [t.docs], t.docs).size);
    const again = await svc.scroll(request("alice", id, first.scrollId, 3));
    expect(again.fileSystemItems).toEqual([]);
  });

  it("batches - a batchSize above the maximum is refused, naming the limit", async () => {
    const t = sampleTree();
    const svc = service(t.fake, { alice: [{ repository: REPO, uid: t.docs.uid }] });
    const id = syncRootItemId(REPO, t.docs.uid);
    const err = await expectRemote(
      svc.scroll(request("alice", id, null, 1001)),
      ErrorCode.BatchTooLarge,
    );
    expect(err.message).toContain("1000");
    const small = service(
      t.fake,
      { alice: [{ repository: REPO, uid: t.docs.uid }] },
      { maxBatchSize: 5 },
    );
    const e5 = await expectRemote(
      small.scroll(request("alice", id, null, 6)),
      ErrorCode.BatchTooLarge,
    );
    expect(e5.message).toContain("maximum of 5");
    expect((await small.scroll(request("alice", id, null, 5))).fileSystemItems).toHaveLength(5);
    await expectRemote(svc.scroll(request("alice", id, null, 0)), ErrorCode.BadRequest);
  });

  it("batches - a reply stays under maxReplyBytes: smaller batches, same items", async () => {
    const t = sampleTree();
    const roots = { alice: [{ repository: REPO, uid: t.docs.uid }] };
    const id = syncRootItemId(REPO, t.docs.uid);
    const whole = (await scrollAll(service(t.fake, roots), "alice", id, 100)).flat();
    const capped = await scrollAll(
      service(t.fake, roots, { maxReplyBytes: 1500 }),
      "alice",
      id,
      100,
    );
    expect(capped.length).toBeGreaterThan(1);
    expect(capped.flat()).toEqual(whole);
    const codec = msgpackCodec<ScrollDescendantsReply>();
    for (const b of capped) {
      if (b.length === 1) continue;
      const bytes = codec.encode({ type: "scrollDescendants", scrollId: "x", fileSystemItems: b });
      expect(bytes.length).toBeLessThanOrEqual(1500);
    }
  });
});

describe("scroll - expiry", () => {
  it("expiry - a scroll unused for keepAlive answers scroll_expired; a used one lives on", async () => {
    const t = sampleTree();
    let clock = 0;
    const svc = service(
      t.fake,
      { alice: [{ repository: REPO, uid: t.docs.uid }] },
      {},
      () => clock,
    );
    const id = syncRootItemId(REPO, t.docs.uid);
    const first = await svc.scroll(request("alice", id, null, 1, 1000));
    clock += 900;
    expect(
      (await svc.scroll(request("alice", id, first.scrollId, 1, 1000))).fileSystemItems,
    ).toHaveLength(1);
    clock += 900; // 1800 since the start, 900 since the last use
    expect(
      (await svc.scroll(request("alice", id, first.scrollId, 1, 1000))).fileSystemItems,
    ).toHaveLength(1);
    clock += 1001;
    const err = await expectRemote(
      svc.scroll(request("alice", id, first.scrollId, 1, 1000)),
      ErrorCode.ScrollExpired,
    );
    expect(err.message).toContain(first.scrollId);
    expect(svc.stats().open).toBe(0);
  });

  it("expiry - the default keepAlive is 60 s when none is given", async () => {
    const t = sampleTree();
    let clock = 0;
    const svc = service(
      t.fake,
      { alice: [{ repository: REPO, uid: t.docs.uid }] },
      {},
      () => clock,
    );
    const id = syncRootItemId(REPO, t.docs.uid);
    const first = await svc.scroll(request("alice", id, null, 1, 0));
    clock += 59_000;
    await svc.scroll(request("alice", id, first.scrollId, 1, 0));
    clock += 60_001;
    await expectRemote(
      svc.scroll(request("alice", id, first.scrollId, 1, 0)),
      ErrorCode.ScrollExpired,
    );
  });

  it("expiry - an unknown scroll id, or another user's, answers scroll_expired", async () => {
    const t = sampleTree();
    const roots = {
      alice: [{ repository: REPO, uid: t.docs.uid }],
      bob: [{ repository: REPO, uid: t.docs.uid }],
    };
    const svc = service(t.fake, roots);
    const id = syncRootItemId(REPO, t.docs.uid);
    await expectRemote(
      svc.scroll(request("alice", id, "no-such-scroll", 1)),
      ErrorCode.ScrollExpired,
    );
    const mine = await svc.scroll(request("alice", id, null, 1));
    await expectRemote(svc.scroll(request("bob", id, mine.scrollId, 1)), ErrorCode.ScrollExpired);
    expect((await svc.scroll(request("alice", id, mine.scrollId, 1))).fileSystemItems).toHaveLength(
      1,
    );
  });
});

describe("scroll - bounds", () => {
  it("bounds - the cache holds scrolls up to its size; the least recently used go first", async () => {
    const fake = new FakeNuxeo();
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    for (let i = 0; i < 200; i++) fake.file(ws, `f${i}`);
    const roots = { alice: [{ repository: REPO, uid: ws.uid }] };
    const id = syncRootItemId(REPO, ws.uid);
    const probe = service(fake, roots);
    await probe.scroll(request("alice", id, null, 1));
    const one = probe.stats().bytes;
    expect(one).toBeGreaterThan(200 * 50);
    // Room for three such scrolls, not four.
    const max = Math.floor(one * 3.5);
    const svc = service(fake, roots, { maxCacheBytes: max });
    const s1 = await svc.scroll(request("alice", id, null, 1));
    const s2 = await svc.scroll(request("alice", id, null, 1));
    const s3 = await svc.scroll(request("alice", id, null, 1));
    await svc.scroll(request("alice", id, s1.scrollId, 1)); // s1 is now the most recent
    const s4 = await svc.scroll(request("alice", id, null, 1));
    expect(svc.stats().open).toBe(3);
    expect(svc.stats().bytes).toBeLessThanOrEqual(max);
    await expectRemote(svc.scroll(request("alice", id, s2.scrollId, 1)), ErrorCode.ScrollExpired);
    for (const s of [s1, s3, s4])
      expect((await svc.scroll(request("alice", id, s.scrollId, 1))).fileSystemItems).toHaveLength(
        1,
      );
  });

  it("bounds - a folder too large for one scroll answers too_large, naming the size", async () => {
    const fake = new FakeNuxeo();
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    for (let i = 0; i < 3000; i++) fake.file(ws, `f${i}`);
    const svc = service(
      fake,
      { alice: [{ repository: REPO, uid: ws.uid }] },
      { maxCacheBytes: 200_000, pageSize: 100 },
    );
    const err = await expectRemote(
      svc.scroll(request("alice", syncRootItemId(REPO, ws.uid), null, 10)),
      ErrorCode.TooLarge,
    );
    expect(err.message).toContain("100000 bytes");
    // It stopped listing once over the bound, not at the end.
    expect(fake.requests.query).toBeLessThan(30);
  });

  it("bounds - a user holds at most maxScrollsPerUser scrolls; the oldest goes", async () => {
    const t = sampleTree();
    const svc = service(
      t.fake,
      { alice: [{ repository: REPO, uid: t.docs.uid }] },
      { maxScrollsPerUser: 2 },
    );
    const id = syncRootItemId(REPO, t.docs.uid);
    const s1 = await svc.scroll(request("alice", id, null, 1));
    const s2 = await svc.scroll(request("alice", id, null, 1));
    const s3 = await svc.scroll(request("alice", id, null, 1));
    await expectRemote(svc.scroll(request("alice", id, s1.scrollId, 1)), ErrorCode.ScrollExpired);
    await svc.scroll(request("alice", id, s2.scrollId, 1));
    await svc.scroll(request("alice", id, s3.scrollId, 1));
    expect(svc.stats().open).toBe(2);
  });
});

describe("scroll - listing", () => {
  it("listing - Nuxeo is paged, and a document deleted between pages makes no other one missed", async () => {
    const fake = new FakeNuxeo();
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    const files: ReturnType<FakeNuxeo["file"]>[] = [];
    for (let i = 0; i < 250; i++) files.push(fake.file(ws, `f${i}`));
    let deleted = false;
    fake.beforePage = (index) => {
      // After the first page, delete a document it returned: every later one shifts back.
      if (index === 1 && !deleted) {
        deleted = true;
        fake.remove(files[3]!);
      }
    };
    const svc = service(fake, { alice: [{ repository: REPO, uid: ws.uid }] }, { pageSize: 100 });
    const items = (await scrollAll(svc, "alice", syncRootItemId(REPO, ws.uid), 1000)).flat();
    const names = new Set(items.map((i) => i.name));
    for (const f of files.slice(4))
      expect(names.has(`${f.name}.bin`), `${f.name} missed`).toBe(true);
    expect(items).toHaveLength(new Set(items.map((i) => i.id)).size);
    expect(fake.maxPageSize).toBe(100);
  });

  it("listing - a folder that is not in the user's scope answers not_found", async () => {
    const t = sampleTree();
    const svc = service(t.fake, { alice: [{ repository: REPO, uid: t.docs.uid }] });
    // Not under a root of alice, not visible, a file, gone.
    await expectRemote(
      svc.scroll(request("alice", fileSystemItemId(REPO, t.ws.uid), null, 1)),
      ErrorCode.NotFound,
    );
    await expectRemote(
      svc.scroll(request("alice", fileSystemItemId(REPO, t.secret.uid), null, 1)),
      ErrorCode.NotFound,
    );
    await expectRemote(
      svc.scroll(request("alice", fileSystemItemId(REPO, t.denied.uid), null, 1)),
      ErrorCode.NotFound,
    );
    await expectRemote(
      svc.scroll(request("alice", fileSystemItemId(REPO, "nope"), null, 1)),
      ErrorCode.NotFound,
    );
    await expectRemote(svc.scroll(request("alice", "garbage", null, 1)), ErrorCode.BadRequest);
    await expectRemote(
      svc.scroll(request("alice", `otherFactory#${REPO}#${t.a.uid}`, null, 1)),
      ErrorCode.NotFound,
    );
  });

  it("listing - Nuxeo unavailable answers not_ready and keeps nothing", async () => {
    const t = sampleTree();
    const svc = service(t.fake, { alice: [{ repository: REPO, uid: t.docs.uid }] });
    t.fake.failNext = 1;
    await expectRemote(
      svc.scroll(request("alice", syncRootItemId(REPO, t.docs.uid), null, 1)),
      ErrorCode.NotReady,
    );
    expect(svc.stats().open).toBe(0);
  });

  it("listing - parseTarget reads the three kinds of folder ids", () => {
    expect(parseTarget(TOP_LEVEL_ID)).toEqual({ kind: "top" });
    expect(parseTarget("defaultSyncRootFolderItemFactory#default#u1")).toEqual({
      kind: "folder",
      repository: "default",
      uid: "u1",
    });
    expect(parseTarget("defaultFileSystemItemFactory#other#u2")).toEqual({
      kind: "folder",
      repository: "other",
      uid: "u2",
    });
  });
});

describe("scroll - streaming", () => {
  /** ws with 250 files, listed 100 a page; page k (k >= 1) waits for holds[k]. */
  function held(pages = 3) {
    const fake = new FakeNuxeo();
    const ws = fake.folder(fake.root, "ws", [grant("members")]);
    for (let i = 0; i < 250; i++) fake.file(ws, `f${i}`);
    const holds = Array.from({ length: pages }, () => deferred());
    const asked: number[] = [];
    fake.gate = (index) => {
      asked.push(index);
      return index === 0 ? Promise.resolve() : holds[index]!.promise;
    };
    return { fake, ws, holds, asked, id: syncRootItemId(REPO, ws.uid) };
  }

  it("streaming - a call answers with what is listed so far after batchWaitMs, never holding a gateway for the whole listing", async () => {
    const h = held();
    const svc = service(
      h.fake,
      { alice: [{ repository: REPO, uid: h.ws.uid }] },
      {
        pageSize: 100,
        batchWaitMs: 50,
      },
    );
    // Page 0 is listed, page 1 held: a full batch comes at once, then what is left of page 0.
    const first = await svc.scroll(request("alice", h.id, null, 60));
    expect(first.fileSystemItems).toHaveLength(60);
    const second = await svc.scroll(request("alice", h.id, first.scrollId, 1000));
    expect(second.fileSystemItems).toHaveLength(40);
    expect(h.asked).toEqual([0, 1]);
    h.holds[1]!.resolve();
    h.holds[2]!.resolve();
    const items = [...first.fileSystemItems, ...second.fileSystemItems];
    for (;;) {
      const r = await svc.scroll(request("alice", h.id, first.scrollId, 1000));
      if (r.fileSystemItems.length === 0) break;
      items.push(...r.fileSystemItems);
    }
    expect(new Set(items.map((i) => i.id)).size).toBe(250);
    expectParentsFirst(items, h.id);
  });

  it("streaming - a scroll that expires stops its listing: no further page is asked", async () => {
    const h = held();
    let clock = 1000;
    const svc = service(
      h.fake,
      { alice: [{ repository: REPO, uid: h.ws.uid }] },
      { pageSize: 100, batchWaitMs: 20 },
      () => clock,
    );
    const first = await svc.scroll(request("alice", h.id, null, 10, 1000));
    clock += 5000;
    await expectRemote(
      svc.scroll(request("alice", h.id, first.scrollId, 10)),
      ErrorCode.ScrollExpired,
    );
    h.holds[1]!.resolve();
    h.holds[2]!.resolve();
    // Another scroll lists to its end, so the dropped one had every chance to ask for page 2.
    const other = await scrollAll(svc, "alice", h.id, 1000);
    expect(other.flat()).toHaveLength(250);
    expect(h.asked.filter((i) => i === 2)).toHaveLength(1);
  });

  it("streaming - a listing failing midway answers not_ready on the next call and drops the scroll", async () => {
    const h = held();
    const svc = service(
      h.fake,
      { alice: [{ repository: REPO, uid: h.ws.uid }] },
      {
        pageSize: 100,
        batchWaitMs: 20,
      },
    );
    const first = await svc.scroll(request("alice", h.id, null, 10));
    h.fake.failNext = 5;
    h.holds[1]!.resolve();
    await expectRemote(
      svc.scroll(request("alice", h.id, first.scrollId, 1000)),
      ErrorCode.NotReady,
    );
    await expectRemote(
      svc.scroll(request("alice", h.id, first.scrollId, 10)),
      ErrorCode.ScrollExpired,
    );
    expect(svc.stats().open).toBe(0);
  });

  it("streaming - listings beyond maxListings wait for a running one to end", async () => {
    const h = held();
    const svc = service(
      h.fake,
      { alice: [{ repository: REPO, uid: h.ws.uid }] },
      {
        pageSize: 100,
        batchWaitMs: 20,
        maxListings: 1,
      },
    );
    const a = await svc.scroll(request("alice", h.id, null, 10));
    let bAnswered = false;
    const b = svc.scroll(request("alice", h.id, null, 10)).then((r) => {
      bAnswered = true;
      return r;
    });
    // A holds the only slot, held at page 1: B has not listed anything.
    await svc.scroll(request("alice", h.id, a.scrollId, 10));
    expect(bAnswered).toBe(false);
    expect(h.asked).toEqual([0, 1]);
    h.holds[1]!.resolve();
    h.holds[2]!.resolve();
    expect((await b).fileSystemItems).toHaveLength(10);
  });
});

describe("scroll - bus", () => {
  it("bus - served on the shard's rpc subject while leased, answering errors with their code", async () => {
    const t = sampleTree();
    const bus = createMemoryBus();
    const svc = createScrollService({
      bus,
      names,
      nuxeo: t.fake,
      roots: () => [{ repository: REPO, uid: t.docs.uid }],
    });
    const reqCodec = msgpackCodec<ScrollDescendantsRequest>();
    const replyCodec = msgpackCodec<ScrollDescendantsReply>();
    const subject = names.rpcSubject(3);
    const id = syncRootItemId(REPO, t.docs.uid);
    const ask = async (r: ScrollDescendantsRequest) =>
      replyCodec.decode(await bus.request(subject, reqCodec.encode(r), 5000));

    await expect(ask(request("alice", id, null, 2))).rejects.toBeInstanceOf(NoRespondersError);
    svc.serveShard(3);
    svc.serveShard(3);
    expect(svc.served()).toEqual([3]);
    const first = await ask(request("alice", id, null, 2));
    expect(first.fileSystemItems).toHaveLength(2);
    const next = await ask(request("alice", id, first.scrollId, 2));
    expect(next.fileSystemItems[0]!.id).not.toBe(first.fileSystemItems[0]!.id);
    await expectRemote(ask(request("alice", id, null, 5000)), ErrorCode.BatchTooLarge);

    // Released (lease lost): not served, and its scrolls are gone with it.
    svc.releaseShard(3);
    await expect(ask(request("alice", id, first.scrollId, 2))).rejects.toBeInstanceOf(
      NoRespondersError,
    );
    svc.serveShard(3);
    await expectRemote(ask(request("alice", id, first.scrollId, 2)), ErrorCode.ScrollExpired);
    svc.close();
    expect(svc.served()).toEqual([]);
    await bus.close();
  });
});
