// A CursorStore in a JSON file (Node only). Written to a temporary file and renamed over the old
// one, so a crash leaves the previous position or the new one, never a torn file.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { ApplyError } from "./errors.js";
import type { CursorStore } from "./types.js";

/** Writes `data` to `path` atomically (temporary file in the same folder, then rename). */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** Keeps the position in `path` as `{"position": n}`. A missing file is a first run. */
export function fileCursorStore(path: string): CursorStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw err;
      }
      let position: unknown;
      try {
        position = (JSON.parse(text) as { position?: unknown }).position;
      } catch (err) {
        throw new ApplyError(`${path} is not a cursor file; delete it to start over`, err);
      }
      if (position === null) return null;
      if (typeof position !== "number" || !Number.isSafeInteger(position) || position < 0) {
        throw new ApplyError(`${path} holds no valid position; delete it to start over`, position);
      }
      return position;
    },
    async save(position) {
      await writeFileAtomic(path, JSON.stringify({ position }));
    },
  };
}
