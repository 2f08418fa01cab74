import { describe, expect, it } from "vitest";
import { randomName } from "@drivecast/testkit";

describe("names", () => {
  it("randomName - prefixes a random suffix of letters and digits", () => {
    expect(randomName("stream")).toMatch(/^stream_[a-z0-9]{10}$/);
  });

  it("randomName - gives a different name each call", () => {
    const names = new Set(Array.from({ length: 1000 }, () => randomName("t")));
    expect(names.size).toBe(1000);
  });

  it("randomName - refuses a prefix that would make an invalid stream or topic name", () => {
    expect(() => randomName("a.b")).toThrow(TypeError);
    expect(() => randomName("a b")).toThrow(TypeError);
  });
});
