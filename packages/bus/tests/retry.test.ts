import { describe, expect, it } from "vitest";
import {
  BusError,
  TimeoutError,
  WrongRevisionError,
  backoffDelay,
  isRetriableError,
  retry,
} from "../src/mod.js";

/** Records the waits instead of sleeping. */
function recorder() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

describe("retry", () => {
  it("retry - retries retriable errors and returns the first success", async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const result = await retry(
      async () => {
        calls++;
        if (calls < 3) throw new TimeoutError("slow");
        return "done";
      },
      { retries: 5, baseMs: 100, maxMs: 10_000, sleep, random: () => 0.5 },
    );
    expect(result).toBe("done");
    expect(calls).toBe(3);
    expect(waits).toEqual([50, 100]);
  });

  it("retry - a non-retriable error is thrown at once", async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const err = await retry(
      async () => {
        calls++;
        throw new WrongRevisionError("k");
      },
      { retries: 5, baseMs: 100, maxMs: 1_000, sleep },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongRevisionError);
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it("retry - gives up after `retries` retries with the last error", async () => {
    const { waits, sleep } = recorder();
    let calls = 0;
    const err = await retry(
      async () => {
        calls++;
        throw new BusError(`attempt ${calls}`, { retriable: true });
      },
      { retries: 3, baseMs: 10, maxMs: 1_000, sleep },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe("attempt 4");
    expect(calls).toBe(4);
    expect(waits).toHaveLength(3);
  });

  it("retry - stops when the signal aborts", async () => {
    const controller = new AbortController();
    let calls = 0;
    const err = await retry(
      async () => {
        calls++;
        if (calls === 2) controller.abort();
        throw new TimeoutError("slow");
      },
      { retries: Infinity, baseMs: 1, maxMs: 1, signal: controller.signal },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(calls).toBe(2);
  });

  it("retry - a custom isRetriable decides, and onRetry sees each retry", async () => {
    const { sleep } = recorder();
    const seen: number[] = [];
    let calls = 0;
    await retry(
      async () => {
        if (++calls < 3) throw new Error("plain");
      },
      {
        retries: 5,
        baseMs: 1,
        maxMs: 1,
        sleep,
        isRetriable: (e) => e instanceof Error && e.message === "plain",
        onRetry: (_err, attempt) => seen.push(attempt),
      },
    );
    expect(seen).toEqual([1, 2]);
  });

  it("backoffDelay - exponential cap, bounded by maxMs, jittered below the cap", () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1_000, top))).toEqual([
      99, 199, 399, 799, 999,
    ]);
    expect(backoffDelay(5, 100, 1_000, () => 0)).toBe(0);
  });

  it("isRetriableError - reads the retriable flag", () => {
    expect(isRetriableError(new TimeoutError("x"))).toBe(true);
    expect(isRetriableError(new WrongRevisionError("k"))).toBe(false);
    expect(isRetriableError({ retriable: true })).toBe(true);
    expect(isRetriableError(new Error("x"))).toBe(false);
    expect(isRetriableError(null)).toBe(false);
  });
});
