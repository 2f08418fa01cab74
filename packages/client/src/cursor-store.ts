// The in-memory CursorStore (browser-safe). The file store for Node is in cursor-store-file.ts.
import type { CursorStore } from "./types.js";

export interface MemoryCursorStore extends CursorStore {
  /** The saved position (null before the first save). */
  readonly position: number | null;
}

/** Keeps the position in memory; share one between client instances to simulate a restart. */
export function memoryCursorStore(initial: number | null = null): MemoryCursorStore {
  let position = initial;
  return {
    get position() {
      return position;
    },
    load: () => Promise.resolve(position),
    save: (n) => {
      position = n;
      return Promise.resolve();
    },
  };
}
