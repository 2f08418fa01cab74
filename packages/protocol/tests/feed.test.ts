import { describe, expect, it } from "vitest";
import {
  CLOCK_SKEW_MS,
  MAX_POSITION,
  currentWithoutHistory,
  follows,
  nextPosition,
  positionAt,
} from "../src/mod.js";

const NOW = Date.UTC(2026, 10, 22, 10, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe("feed positions", () => {
  it("nextPosition - is time-like: now in ms times 1000 after a long pause", () => {
    expect(nextPosition(0, NOW)).toBe(NOW * 1000);
    expect(nextPosition(positionAt(NOW - HOUR), NOW)).toBe(NOW * 1000);
    expect(nextPosition(0, NOW + 0.7)).toBe(NOW * 1000);
  });

  it("nextPosition - is strictly increasing, even within one ms or when the clock goes back", () => {
    const clock = [NOW, NOW, NOW, NOW + 1, NOW - 5_000, NOW - 5_000, NOW + 2, NOW + 10_000, NOW];
    let previous = 0;
    for (const now of clock) {
      const next = nextPosition(previous, now);
      expect(next).toBeGreaterThan(previous);
      expect(Number.isSafeInteger(next)).toBe(true);
      previous = next;
    }
  });

  it("nextPosition - stays below 2^53 for centuries", () => {
    expect(nextPosition(0, Date.UTC(2200, 0, 1))).toBeLessThan(MAX_POSITION);
  });

  it("follows - a set follows the cursor it records as its lowerBound", () => {
    const entry = { lowerBound: 5_000, upperBound: 9_000 };
    expect(follows(entry, 5_000, DAY)).toBe(true);
    expect(follows(entry, 4_999, DAY)).toBe(false);
    expect(follows(entry, 5_001, DAY)).toBe(false);
    expect(follows(entry, 9_000, DAY)).toBe(false);
  });

  it("follows - a set written without history follows a cursor issued within max age before it", () => {
    const upperBound = positionAt(NOW);
    const entry = { lowerBound: 0, upperBound };
    const window = (DAY - CLOCK_SKEW_MS) * 1000;
    expect(follows(entry, upperBound - 1, DAY)).toBe(true);
    expect(follows(entry, upperBound - window, DAY)).toBe(true);
    // Older than the retained window: a set may have been missed.
    expect(follows(entry, upperBound - window - 1, DAY)).toBe(false);
    // Ahead of (or at) the set: another feed store, or a bogus cursor.
    expect(follows(entry, upperBound, DAY)).toBe(false);
    expect(follows(entry, upperBound + 1, DAY)).toBe(false);
    // A Nuxeo audit-log id (small integer) is never taken for a position.
    expect(follows(entry, 12_345, DAY)).toBe(false);
    expect(follows(entry, -1, DAY)).toBe(false);
  });

  it("follows - with a max age within the clock skew, only an exact lowerBound continues", () => {
    const entry = { lowerBound: 0, upperBound: positionAt(NOW) };
    expect(follows(entry, positionAt(NOW) - 1, CLOCK_SKEW_MS)).toBe(false);
    expect(follows({ lowerBound: 7, upperBound: 9 }, 7, CLOCK_SKEW_MS)).toBe(true);
  });

  it("follows - with unbounded retention, a set without history follows any earlier position", () => {
    const entry = { lowerBound: 0, upperBound: positionAt(NOW) };
    expect(follows(entry, positionAt(NOW - 365 * DAY), Infinity)).toBe(true);
    expect(follows(entry, positionAt(NOW), Infinity)).toBe(false);
  });

  it("currentWithoutHistory - accepts a cursor within max age (and clock skew ahead)", () => {
    const window = (DAY - CLOCK_SKEW_MS) * 1000;
    expect(currentWithoutHistory(positionAt(NOW), NOW, DAY)).toBe(true);
    expect(currentWithoutHistory(positionAt(NOW) - window, NOW, DAY)).toBe(true);
    expect(currentWithoutHistory(positionAt(NOW) - window - 1, NOW, DAY)).toBe(false);
    expect(currentWithoutHistory(positionAt(NOW + CLOCK_SKEW_MS), NOW, DAY)).toBe(true);
    expect(currentWithoutHistory(positionAt(NOW + CLOCK_SKEW_MS) + 1, NOW, DAY)).toBe(false);
    expect(currentWithoutHistory(0, NOW, DAY)).toBe(false);
    expect(currentWithoutHistory(-5, NOW, DAY)).toBe(false);
    expect(currentWithoutHistory(positionAt(NOW), NOW, CLOCK_SKEW_MS)).toBe(false);
  });
});
