// Loading uWebSockets.js, and refusing its silent fallback.
//
// The package (an alias of @trufflesuite/uws-js-unofficial, see README) loads a native addon
// `binaries/uws_<platform>_<arch>_<abi>.node`; when none matches this Node.js it logs a warning
// and returns a pure-JS shim built on `ws` — a different server with a fraction of the capacity
// and different backpressure behaviour. The gateway must not run on it unnoticed, so start-up
// checks that the module it got is the exports object of a loaded `.node` addon.
import { createRequire } from "node:module";
import uWS from "uWebSockets.js";
import { NativeUwsUnavailableError } from "./errors.js";

export { uWS };

interface LoadedModule {
  filename?: string;
  exports?: unknown;
}

/** Node's CommonJS module cache (the one `require` fills, including native addons). */
function moduleCache(): Record<string, LoadedModule | undefined> {
  return createRequire(import.meta.url).cache as Record<string, LoadedModule | undefined>;
}

/** The file the given module object was loaded from, if Node's module cache knows it. */
export function loadedFrom(
  module: unknown,
  cache: Record<string, LoadedModule | undefined> = moduleCache(),
): string | null {
  for (const entry of Object.values(cache)) {
    if (entry !== undefined && entry.exports === module && typeof entry.filename === "string") {
      if (entry.filename.endsWith(".node")) return entry.filename;
    }
  }
  for (const entry of Object.values(cache)) {
    if (entry !== undefined && entry.exports === module && typeof entry.filename === "string") {
      return entry.filename;
    }
  }
  return null;
}

/**
 * Throws NativeUwsUnavailableError unless `module` is the native uWebSockets.js addon.
 * Returns the path of the addon.
 */
export function assertNativeUws(
  module: unknown = uWS,
  cache: Record<string, LoadedModule | undefined> = moduleCache(),
): string {
  const file = loadedFrom(module, cache);
  if (file !== null && file.endsWith(".node")) return file;
  const abi = process.versions.modules;
  throw new NativeUwsUnavailableError(
    `uWebSockets.js has no native binary for Node.js ${process.version} ` +
      `(${process.platform}-${process.arch}, ABI ${abi}) and fell back to its JS shim` +
      (file === null ? "" : ` (${file})`) +
      `. The installed build (@trufflesuite/uws-js-unofficial) ships binaries for Node.js 20 ` +
      `(ABI 115) only: run the gateway on Node.js 20, or switch the "uWebSockets.js" alias in ` +
      `packages/gateway/package.json to the official build "github:uNetworking/uWebSockets.js#v20.<latest>" ` +
      `(a v20 release tag; needs glibc >= 2.38, e.g. Ubuntu 24.04) and reinstall; ` +
      `see packages/gateway/README.md.`,
  );
}
