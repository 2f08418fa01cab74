import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { NativeUwsUnavailableError } from "../src/errors.js";
import { assertNativeUws, uWS } from "../src/uws.js";

describe("uWebSockets.js check", () => {
  it("native - accepts the native addon this package loads", () => {
    expect(assertNativeUws()).toMatch(/\.node$/);
  });

  it("fallback - refuses the JS shim the package falls back to", () => {
    const require = createRequire(import.meta.url);
    const main = require.resolve("uWebSockets.js");
    const shim: unknown = require(main.replace(/src[/\\]uws\.js$/, "dist/index.js"));
    expect(shim).not.toBe(uWS);
    expect(() => assertNativeUws(shim)).toThrow(NativeUwsUnavailableError);
    expect(() => assertNativeUws(shim)).toThrow(/Node\.js 20/);
  });

  it("fallback - refuses a module Node did not load from a .node file", () => {
    expect(() => assertNativeUws({ App() {} }, {})).toThrow(NativeUwsUnavailableError);
  });
});
