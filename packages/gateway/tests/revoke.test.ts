import { describe, expect, it } from "vitest";
import { parseRevocation } from "../src/mod.js";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("parseRevocation", () => {
  it("revocation - a token, a user, or both", () => {
    expect(parseRevocation(bytes('{"token":"t1"}'))).toEqual({ token: "t1" });
    expect(parseRevocation(bytes('{"user":"alice@example.com"}'))).toEqual({
      user: "alice@example.com",
    });
    expect(parseRevocation(bytes('{"user":"a","token":"t","extra":1}'))).toEqual({
      user: "a",
      token: "t",
    });
  });

  it("revocation - anything else is not one (null): ignored, never a wildcard", () => {
    for (const text of [
      "",
      "{not json",
      "[]",
      "null",
      '"alice"',
      "{}",
      '{"user":""}',
      '{"token":5}',
    ]) {
      expect(parseRevocation(bytes(text))).toBeNull();
    }
    expect(parseRevocation(new Uint8Array([0xff, 0xfe]))).toBeNull();
  });
});
