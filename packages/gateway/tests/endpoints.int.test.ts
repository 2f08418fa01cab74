import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer } from "@drivecast/testkit";
import type { NatsServerHandle } from "@drivecast/testkit";
import { RemoteError } from "@drivecast/bus";
import { Paths, msgpackCodec, shardOf } from "@drivecast/protocol";
import type { ChangesMessage, FileSystemChangeSummary } from "@drivecast/protocol";
import type { ScrollDescendantsReply, ScrollDescendantsRequest } from "@drivecast/protocol";
import {
  SHARDS,
  connectDevice,
  eventually,
  metricValue,
  startHarness,
  TestClient,
} from "./harness.js";
import type { BusKind, Harness } from "./harness.js";

let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

const open: Harness[] = [];
const clients: TestClient[] = [];
const aborts: AbortController[] = [];
afterEach(async () => {
  for (const a of aborts.splice(0)) a.abort();
  for (const c of clients.splice(0)) c.close();
  for (const h of open.splice(0)) await h.close();
});

async function harness(
  kind: BusKind,
  overrides: Parameters<typeof startHarness>[2] = {},
): Promise<Harness> {
  const h = await startHarness(kind, nats.url, overrides);
  open.push(h);
  return h;
}

interface SseEvent {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
}

/** Reads server-sent events from a streaming fetch body. */
class SseReader {
  private buffer = "";
  private readonly decoder = new TextDecoder();
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async next(what = "an event", timeoutMs = 10_000): Promise<SseEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const ev: SseEvent = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) ev.comment = line.slice(1).trim();
          else {
            const i = line.indexOf(":");
            const field = line.slice(0, i);
            const value = line.slice(i + 1).trimStart();
            if (field === "event" || field === "id" || field === "data") ev[field] = value;
          }
        }
        return ev;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${what} within ${timeoutMs} ms`);
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`expected ${what} within ${timeoutMs} ms`)), left),
        ),
      ]);
      if (chunk.done) throw new Error(`expected ${what}, but the stream ended`);
      this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  /** The next `changes` event, skipping `retry:` and comment blocks. */
  async changes(): Promise<{ id: string; message: ChangesMessage }> {
    for (;;) {
      const ev = await this.next("a changes event");
      if (ev.event === "changes")
        return { id: ev.id as string, message: JSON.parse(ev.data as string) as ChangesMessage };
    }
  }
}

async function openSse(
  h: Harness,
  headers: Record<string, string>,
  query: Record<string, string> = {},
): Promise<SseReader> {
  const abort = new AbortController();
  aborts.push(abort);
  const res = await fetch(h.httpUrl(Paths.Events, query), { headers, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  return new SseReader((res.body as ReadableStream<Uint8Array>).getReader());
}

async function post(
  h: Harness,
  path: string,
  token: string | null,
  body: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(h.httpUrl(path), {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token === null ? {} : { "X-Authentication-Token": token }),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const scrollRequests = msgpackCodec<ScrollDescendantsRequest>();
const scrollReplies = msgpackCodec<ScrollDescendantsReply>();

describe.each<BusKind>(["memory", "nats"])("endpoints on the %s bus", (kind) => {
  it("sse - Last-Event-ID wins over lowerBound and replays what follows it, ids are upperBounds", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const e2 = await feed.append();
    const e3 = await feed.append();
    const sse = await openSse(
      h,
      {
        "X-Authentication-Token": token,
        "X-Device-Id": "browser",
        "Last-Event-ID": String(e2.summary.upperBound),
      },
      { lowerBound: String(e1.summary.upperBound) },
    );
    const first = await sse.changes();
    expect(first.id).toBe(String(e3.summary.upperBound));
    expect(first.message).toMatchObject({ type: "changes", lowerBound: e2.summary.upperBound });
    expect(first.message.summary.upperBound).toBe(e3.summary.upperBound);
  });

  it("sse - resume with Last-Event-ID after a disconnect: the missed sets once each, then live; a revocation ends the stream", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append();
    const headers = { "X-Authentication-Token": token, "X-Device-Id": "browser" };
    const first = await openSse(h, headers, { lowerBound: String(e1.summary.upperBound) });
    const e2 = await feed.append();
    const got = await first.changes();
    expect(got.id).toBe(String(e2.summary.upperBound));
    expect(got.message.lowerBound).toBe(e1.summary.upperBound);
    (aborts.pop() as AbortController).abort();
    await eventually("the gateway to see the stream gone", async () =>
      (await metricValue(h.registry, "drivecast_gateway_connections", { protocol: "sse" })) === 0
        ? true
        : undefined,
    );
    const e3 = await feed.append();
    const e4 = await feed.append();
    // What EventSource sends on its own when it reconnects: the last id it saw.
    const second = await openSse(h, { ...headers, "Last-Event-ID": got.id });
    const e5Appending = feed.append();
    const resumed = [await second.changes(), await second.changes(), await second.changes()];
    const e5 = await e5Appending;
    expect(resumed.map((r) => [r.message.lowerBound, Number(r.id)])).toEqual([
      [e2.summary.upperBound, e3.summary.upperBound],
      [e3.summary.upperBound, e4.summary.upperBound],
      [e4.summary.upperBound, e5.summary.upperBound],
    ]);
    const e6 = await feed.append();
    const live = await second.changes();
    expect([live.message.lowerBound, Number(live.id)]).toEqual([
      e5.summary.upperBound,
      e6.summary.upperBound,
    ]);
    h.bus.publish(h.names.authRevoke, new TextEncoder().encode(JSON.stringify({ user })));
    await expect(second.changes()).rejects.toThrow("the stream ended");
  });

  it("sse - query lowerBound, stale position and `: ping` comments", async () => {
    const h = await harness(kind, { heartbeatMs: 200 });
    const { user, token } = h.user();
    const e1 = await h.feed(user).append();
    const fresh = await openSse(h, {}, { token, deviceId: "b1", lowerBound: "1" });
    const tooMany = await fresh.changes();
    expect(tooMany.message.summary).toMatchObject({
      hasTooManyChanges: true,
      upperBound: e1.summary.upperBound,
    });
    expect(tooMany.id).toBe(String(e1.summary.upperBound));
    for (;;) {
      const ev = await fresh.next("a ping comment");
      if (ev.comment === "ping") break;
    }
  });

  it("sse - 401 for an unknown token, 400 without a device id, JSON bodies", async () => {
    const h = await harness(kind);
    const bad = await fetch(h.httpUrl(Paths.Events, { token: "nope", deviceId: "d" }));
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ code: "unauthorized" });
    const { token } = h.user();
    const noDevice = await fetch(h.httpUrl(Paths.Events, { token }));
    expect(noDevice.status).toBe(400);
    expect(await noDevice.json()).toMatchObject({ code: "bad_request" });
  });

  it("getChangeSummary - answers the coalesced changes after lowerBound, and a rescan for a Nuxeo id", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append(["a"]);
    await feed.append(["b", "a"]);
    const e3 = await feed.append(["c"]);
    const r = await post(h, Paths.GetChangeSummary, token, {
      params: { lowerBound: e1.summary.upperBound },
    });
    expect(r.status).toBe(200);
    const summary = r.json as FileSystemChangeSummary;
    expect(summary.upperBound).toBe(e3.summary.upperBound);
    expect(summary.hasTooManyChanges).toBe(false);
    expect(summary.fileSystemChanges.map((c) => c.docUuid).sort()).toEqual(["a", "b", "c"]);
    const nuxeoId = await post(h, Paths.GetChangeSummary, token, { params: { lowerBound: 4242 } });
    expect(nuxeoId.json).toMatchObject({
      hasTooManyChanges: true,
      fileSystemChanges: [],
      upperBound: e3.summary.upperBound,
    });
    const empty = await post(h, Paths.GetChangeSummary, token, "");
    expect(empty).toMatchObject({ status: 200, json: { upperBound: e3.summary.upperBound } });
    const none = await post(h, Paths.GetChangeSummary, token, { params: {} });
    expect(none.json).toMatchObject({
      hasTooManyChanges: false,
      fileSystemChanges: [],
      upperBound: e3.summary.upperBound,
    });
  });

  it("getChangeSummary - a Drive client's request gets Nuxeo's exact JSON shape; an audit-log id gets one rescan", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const feed = h.feed(user);
    const e1 = await feed.append(["x"]);
    await feed.append(["a", "b"]);
    const e3 = await feed.append(["c", "a"]);
    // What Nuxeo Drive (nuxeo-python-client) sends for this operation.
    const drive = async (
      contentType: string,
      lowerBound: number,
    ): Promise<{ status: number; type: string | null; json: Record<string, unknown> }> => {
      const res = await fetch(h.httpUrl(Paths.GetChangeSummary), {
        method: "POST",
        headers: {
          "Content-Type": contentType,
          Accept: "application/json+nxentity, */*",
          "X-Authentication-Token": token,
          "X-Application-Name": "Nuxeo Drive",
          "X-Device-Id": "0c2b4a52d4a611ee9a0f0242ac120002",
          "X-Client-Version": "5.5.1",
          "User-Agent": "Nuxeo Drive/5.5.1 (Linux)",
        },
        body: JSON.stringify({ params: { lowerBound }, context: {} }),
      });
      return {
        status: res.status,
        type: res.headers.get("content-type"),
        json: (await res.json()) as Record<string, unknown>,
      };
    };
    const summaryKeys = [
      "fileSystemChanges",
      "syncDate",
      "upperBound",
      "hasTooManyChanges",
      "activeSynchronizationRootDefinitions",
    ];
    const changeKeys = [
      "repositoryId",
      "eventId",
      "eventDate",
      "docUuid",
      "fileSystemItem",
      "fileSystemItemId",
      "fileSystemItemName",
    ].sort();
    for (const contentType of ["application/json+nxrequest", "application/json"]) {
      const r = await drive(contentType, e1.summary.upperBound);
      expect(r.status).toBe(200);
      expect(r.type).toMatch(/^application\/json/);
      expect(Object.keys(r.json)).toEqual(summaryKeys);
      expect(r.json).toMatchObject({
        upperBound: e3.summary.upperBound,
        hasTooManyChanges: false,
        activeSynchronizationRootDefinitions: "default:root",
      });
      expect((r.json.syncDate as number) % 1000).toBe(0);
      const changes = r.json.fileSystemChanges as Record<string, unknown>[];
      // Coalesced per document ("a" twice → once), newest eventDate first.
      expect(changes.map((c) => c.docUuid).sort()).toEqual(["a", "b", "c"]);
      const dates = changes.map((c) => c.eventDate as number);
      expect(dates).toEqual([...dates].sort((x, y) => y - x));
      for (const c of changes) {
        expect(Object.keys(c).sort()).toEqual(changeKeys);
        expect(c).toMatchObject({
          repositoryId: "default",
          eventId: "documentModified",
          fileSystemItem: null,
          fileSystemItemId: `defaultFileSystemItemFactory#default#${c.docUuid as string}`,
        });
      }
    }
    // The client switches from Nuxeo to drivecast holding an audit-log id as its upperBound:
    // told to rescan, once — its next poll, from the position it was given, is a normal one.
    const switched = await drive("application/json+nxrequest", 184_467);
    expect(switched.json).toEqual({
      fileSystemChanges: [],
      syncDate: expect.any(Number),
      upperBound: e3.summary.upperBound,
      hasTooManyChanges: true,
      activeSynchronizationRootDefinitions: "default:root",
    });
    const next = await drive("application/json+nxrequest", switched.json.upperBound as number);
    expect(next.json).toMatchObject({
      fileSystemChanges: [],
      upperBound: e3.summary.upperBound,
      hasTooManyChanges: false,
    });
    const e4 = await feed.append(["d"]);
    const after = await drive("application/json", next.json.upperBound as number);
    expect(after.json).toMatchObject({
      upperBound: e4.summary.upperBound,
      hasTooManyChanges: false,
    });
    expect((after.json.fileSystemChanges as { docUuid: string }[]).map((c) => c.docUuid)).toEqual([
      "d",
    ]);
  });

  it("getChangeSummary - 401 without a valid token, 400 for bad JSON, 413 above the size limit", async () => {
    const h = await harness(kind, { maxMessageBytes: 1024 });
    const { token } = h.user();
    expect(await post(h, Paths.GetChangeSummary, null, { params: {} })).toMatchObject({
      status: 401,
      json: { code: "unauthorized" },
    });
    expect(await post(h, Paths.GetChangeSummary, "nope", { params: {} })).toMatchObject({
      status: 401,
    });
    expect(await post(h, Paths.GetChangeSummary, token, "{not json")).toMatchObject({
      status: 400,
      json: { code: "bad_request" },
    });
    expect(
      await post(h, Paths.GetChangeSummary, token, { params: { lowerBound: "x" } }),
    ).toMatchObject({ status: 400 });
    const big = await post(h, Paths.GetChangeSummary, token, { params: { pad: "x".repeat(4096) } });
    expect(big).toMatchObject({ status: 413, json: { code: "too_large" } });
  });

  it("http - too many requests from one user: 429", async () => {
    const h = await harness(kind, { rateLimit: { perSecond: 0.001, burst: 2 } });
    const { token } = h.user();
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await post(h, Paths.GetChangeSummary, token, { params: {} })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });

  it("scroll - forwarded to the user's actor over the bus, over HTTP and WebSocket", async () => {
    const h = await harness(kind);
    const { user, token } = h.user();
    const seen: ScrollDescendantsRequest[] = [];
    const sub = h.bus.serve(h.names.rpcSubject(shardOf(user, SHARDS)), "changeset", (msg) => {
      const req = scrollRequests.decode(msg.data);
      seen.push(req);
      if (req.scrollId === "old") throw new RemoteError("scroll_expired", "scroll old expired");
      return scrollReplies.encode({
        type: "scrollDescendants",
        scrollId: "s1",
        fileSystemItems: [],
      });
    });
    try {
      const r = await post(h, Paths.ScrollDescendants, token, {
        params: { id: "root#1", batchSize: 10 },
      });
      expect(r).toEqual({ status: 200, json: { scrollId: "s1", fileSystemItems: [] } });
      expect(seen[0]).toMatchObject({
        user,
        id: "root#1",
        scrollId: null,
        batchSize: 10,
        keepAliveMs: 60_000,
      });
      const expired = await post(h, Paths.ScrollDescendants, token, {
        params: { id: "root#1", scrollId: "old", batchSize: 10 },
      });
      expect(expired).toMatchObject({ status: 400, json: { code: "scroll_expired" } });
      const tooBig = await post(h, Paths.ScrollDescendants, token, {
        params: { id: "root#1", batchSize: 100_000 },
      });
      expect(tooBig).toMatchObject({ status: 400, json: { code: "batch_too_large" } });
      expect((tooBig.json as { message: string }).message).toContain("1000");

      const c = await connectDevice(h, token);
      clients.push(c);
      c.send({
        type: "scroll",
        requestId: "r1",
        id: "root#1",
        scrollId: null,
        batchSize: 5,
        keepAlive: 1000,
      });
      expect(await c.expect("scrollResult")).toEqual({
        type: "scrollResult",
        requestId: "r1",
        scrollId: "s1",
        fileSystemItems: [],
      });
      expect(seen.at(-1)).toMatchObject({ batchSize: 5, keepAliveMs: 1000 });
      c.send({ type: "scroll", requestId: "r2", id: "root#1", scrollId: "old", batchSize: 5 });
      expect(await c.expect("error")).toMatchObject({ code: "scroll_expired", requestId: "r2" });
    } finally {
      sub.unsubscribe();
    }
  });

  it("scroll - no changeset worker serving the shard: 503 not_ready", async () => {
    const h = await harness(kind, { rpcTimeoutMs: 2000 });
    const { token } = h.user();
    const r = await post(h, Paths.ScrollDescendants, token, {
      params: { id: "root#1", batchSize: 10 },
    });
    expect(r).toMatchObject({ status: 503, json: { code: "not_ready" } });
  });
});
