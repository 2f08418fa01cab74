import { describe, expect, it } from "vitest";
import { TokenBucket } from "../src/rate.js";

describe("TokenBucket", () => {
  it("rate - allows a burst, then refills at the sustained rate", () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    now += 500; // one token back at 2/s
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
  });
});
