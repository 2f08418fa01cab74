import { describe, expect, it } from "vitest";
import { createWindowController } from "@drivecast/changeset";

describe("flush windows", () => {
  it("windows - stay nominal while stored sets stay under the budget", () => {
    let t = 0;
    const w = createWindowController({ budgetPerSecond: 100, maxScale: 15, now: () => t });
    for (let s = 0; s < 5; s++) {
      for (let i = 0; i < 90; i++) w.recordFlush();
      t += 1000;
      expect(w.adjust()).toBe(1);
    }
  });

  it("windows - double under overload up to the maximum, then halve back when load falls", () => {
    let t = 0;
    const w = createWindowController({ budgetPerSecond: 100, maxScale: 15, now: () => t });
    const second = (sets: number) => {
      for (let i = 0; i < sets; i++) w.recordFlush();
      t += 1000;
      return w.adjust();
    };
    expect([second(500), second(500), second(500), second(500), second(500)]).toEqual([
      2, 4, 8, 15, 15,
    ]);
    expect(second(60)).toBe(15); // between a quarter of the budget and the budget: hold
    expect([second(10), second(10), second(10), second(10), second(10)]).toEqual([
      7.5, 3.75, 1.875, 1, 1,
    ]);
  });
});
