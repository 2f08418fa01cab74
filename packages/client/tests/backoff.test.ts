import { describe, expect, it } from "vitest";
import { DEFAULT_BACKOFF, backoffDelay, closeAction, refusalAction } from "../src/mod.js";

describe("backoff", () => {
  it("backoff - ordinary delays are uniform in [0, cap] and the cap doubles up to the maximum", () => {
    const o = { ...DEFAULT_BACKOFF, initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, false, o, () => 0)).toBe(0);
    expect(backoffDelay(0, false, o, () => 0.5)).toBe(50);
    expect([0, 1, 2, 3, 4, 10, 1000].map((a) => backoffDelay(a, false, o, () => 1))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });

  it("backoff - long delays keep at least half their cap", () => {
    const o = { ...DEFAULT_BACKOFF, longInitialMs: 10_000, longMaxMs: 60_000 };
    expect(backoffDelay(0, true, o, () => 0)).toBe(5_000);
    expect(backoffDelay(0, true, o, () => 1)).toBe(10_000);
    expect(backoffDelay(5, true, o, () => 0)).toBe(30_000);
  });

  it("backoff - a random source outside [0, 1] is clamped", () => {
    expect(backoffDelay(0, false, DEFAULT_BACKOFF, () => 7)).toBe(DEFAULT_BACKOFF.initialMs);
    expect(backoffDelay(0, false, DEFAULT_BACKOFF, () => -1)).toBe(0);
  });

  it("backoff - close codes map to the PROTOCOL.md actions", () => {
    expect([1000, 1001, 4008, 1006, 1011].map(closeAction)).toEqual([
      "reconnect",
      "reconnect",
      "reconnect",
      "reconnect",
      "reconnect",
    ]);
    expect(closeAction(4000)).toBe("stop");
    expect(closeAction(4001)).toBe("reauthenticate");
    expect(closeAction(4009)).toBe("backoff");
    expect(closeAction(4029)).toBe("backoff");
  });

  it("backoff - refused upgrades map by HTTP status", () => {
    expect(refusalAction(401)).toBe("reauthenticate");
    expect(refusalAction(429)).toBe("backoff");
    expect(refusalAction(400)).toBe("stop");
    expect(refusalAction(503)).toBe("reconnect");
  });
});
