import { describe, expect, it } from "vitest";
import {
  DisconnectedError,
  StreamNotFoundError,
  type AppendOptions,
  type AppendResult,
} from "@drivecast/bus";
import { BatchAbortedError, createPublisher } from "../src/mod.js";

interface Call {
  subject: string;
  resolve(r?: Partial<AppendResult>): void;
  reject(e: unknown): void;
}

/** A stream whose appends the test settles by hand. */
function manualStreams() {
  const calls: Call[] = [];
  return {
    calls,
    streams: {
      append(subject: string, _data: Uint8Array, _o?: AppendOptions): Promise<AppendResult> {
        return new Promise((resolve, reject) => {
          calls.push({
            subject,
            resolve: (r) => resolve({ stream: "S", seq: calls.length, duplicate: false, ...r }),
            reject,
          });
        });
      },
    },
  };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("publisher", () => {
  it("publish - holds at most maxInFlight appends and waits for a slot", async () => {
    const m = manualStreams();
    const p = createPublisher({
      streams: m.streams,
      maxInFlight: 2,
      retryBaseMs: 1,
      retryMaxMs: 1,
      ensureStreams: async () => {},
    });
    const batch = p.begin(new AbortController().signal);
    expect(batch.append("events", "a", new Uint8Array(1), {})).toBeNull();
    expect(batch.append("events", "b", new Uint8Array(1), {})).toBeNull();
    const third = batch.append("events", "c", new Uint8Array(1), {});
    expect(third).not.toBeNull();
    let started = false;
    void third!.then(() => (started = true));
    await tick();
    expect(started).toBe(false);
    expect(p.inFlight()).toBe(2);
    m.calls[0]!.resolve();
    await third;
    expect(m.calls.map((c) => c.subject)).toEqual(["a", "b", "c"]);
    let done = false;
    const finished = batch.done().then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    m.calls[1]!.resolve();
    m.calls[2]!.resolve();
    await finished;
    expect(p.inFlight()).toBe(0);
  });

  it("publish - retries while NATS is away, and recreates a stream that vanished", async () => {
    const m = manualStreams();
    let ensured = 0;
    const retried: unknown[] = [];
    const p = createPublisher({
      streams: m.streams,
      maxInFlight: 4,
      retryBaseMs: 1,
      retryMaxMs: 2,
      ensureStreams: async () => {
        ensured++;
      },
      onRetry: (e) => retried.push(e),
    });
    const batch = p.begin(new AbortController().signal);
    batch.append("events", "a", new Uint8Array(1), {});
    m.calls[0]!.reject(new DisconnectedError());
    await expect.poll(() => m.calls.length).toBe(2);
    m.calls[1]!.reject(new StreamNotFoundError("S"));
    await expect.poll(() => m.calls.length).toBe(3);
    expect(ensured).toBe(1);
    m.calls[2]!.resolve();
    await batch.done();
    expect(retried).toHaveLength(2);
  });

  it("publish - a failure retrying cannot fix fails the batch", async () => {
    const m = manualStreams();
    const p = createPublisher({
      streams: m.streams,
      maxInFlight: 4,
      retryBaseMs: 1,
      retryMaxMs: 1,
      ensureStreams: async () => {},
    });
    const batch = p.begin(new AbortController().signal);
    batch.append("events", "a", new Uint8Array(1), {});
    batch.append("events", "b", new Uint8Array(1), {});
    const bad = new Error("maximum payload exceeded");
    m.calls[0]!.reject(bad);
    m.calls[1]!.resolve();
    await expect(batch.done()).rejects.toBe(bad);
    expect(() => batch.append("events", "c", new Uint8Array(1), {})).toThrow(bad);
  });

  it("publish - an abandoned batch stops retrying and waiting", async () => {
    const m = manualStreams();
    const p = createPublisher({
      streams: m.streams,
      maxInFlight: 1,
      retryBaseMs: 1_000,
      retryMaxMs: 1_000,
      ensureStreams: async () => {},
    });
    const abort = new AbortController();
    const batch = p.begin(abort.signal);
    batch.append("events", "a", new Uint8Array(1), {});
    const waiting = batch.append("events", "b", new Uint8Array(1), {});
    m.calls[0]!.reject(new DisconnectedError());
    await tick();
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(BatchAbortedError);
    await expect(batch.done()).rejects.toBeInstanceOf(BatchAbortedError);
    expect(p.inFlight()).toBe(0);
    // The slot it held is free for the next batch.
    const next = p.begin(new AbortController().signal);
    expect(next.append("events", "c", new Uint8Array(1), {})).toBeNull();
  });
});
