import type { ChildProcess } from "node:child_process";
import { open } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";

/**
 * Calls `attempt` every `intervalMs` until it returns a value, `child` exits, or `timeoutMs`
 * passes. Rejects with `Error(describe(reason))` in the last two cases, where reason tells which.
 */
export async function pollUntil<T>(
  attempt: () => Promise<T | undefined>,
  options: {
    child: ChildProcess;
    timeoutMs: number;
    intervalMs: number;
    fail: (reason: string) => Error;
  },
): Promise<T> {
  const { child, timeoutMs, intervalMs, fail } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw fail(`the process exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    }
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const last = lastError === undefined ? "" : `; last attempt: ${String(lastError)}`;
      throw fail(`not ready after ${timeoutMs} ms${last}`);
    }
    await delay(intervalMs);
  }
}

/** The last `bytes` of a log file, for error messages ("" if it cannot be read). */
export async function tail(path: string, bytes = 4096): Promise<string> {
  try {
    const file = await open(path, "r");
    try {
      const { size } = await file.stat();
      const start = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - start);
      await file.read(buf, 0, buf.length, start);
      return buf.toString("utf8");
    } finally {
      await file.close();
    }
  } catch {
    return "";
  }
}
