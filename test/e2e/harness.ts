// Runs drivecast roles as separate processes, the way they run in production: built entry
// points, DRIVECAST_* settings, readiness polled on the admin port.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { freePort } from "@drivecast/testkit";
import WebSocket from "ws";

const repo = fileURLToPath(new URL("../..", import.meta.url));

export type Role = "ingest" | "changeset" | "gateway";

export interface RoleProcess {
  role: Role;
  adminPort: number;
  proc: ChildProcess;
  /** Everything the process wrote (JSON log lines). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startRole(role: Role, env: Record<string, string>): Promise<RoleProcess> {
  const adminPort = await freePort();
  const proc = spawn(process.execPath, [`${repo}/packages/${role}/dist/main.js`], {
    env: {
      ...process.env,
      ...env,
      DRIVECAST_ADMIN_PORT: String(adminPort),
      DRIVECAST_ADMIN_HOST: "127.0.0.1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const handle: RoleProcess = {
    role,
    adminPort,
    proc,
    output: () => out,
    async kill(signal = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  await waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`${role} exited with ${proc.exitCode}:\n${out}`);
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null);
      return res?.status === 200;
    },
    30_000,
    () => `${role} to become ready (GET /readyz = 200); output so far:\n${out}`,
  );
  return handle;
}

/** Polls `check` until it returns true; the failure message says what was expected. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A device: a WebSocket client that records every message it receives. */
export interface Device {
  messages: Record<string, unknown>[];
  send(msg: unknown): void;
  /** The first message (in arrival order) that satisfies `pred`, waiting for it. */
  next(
    pred: (m: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  close(): void;
}

export async function connectDevice(url: string, token: string, deviceId: string): Promise<Device> {
  const ws = new WebSocket(url, ["drivecast.v1.json"], {
    headers: { "X-Authentication-Token": token, "X-Device-Id": deviceId },
  });
  const messages: Record<string, unknown>[] = [];
  ws.on("message", (data) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  return {
    messages,
    send: (msg) => ws.send(JSON.stringify(msg)),
    async next(pred, what, timeoutMs = 30_000) {
      let found: Record<string, unknown> | undefined;
      await waitFor(
        () => (found = messages.find(pred)) !== undefined,
        timeoutMs,
        () => `${deviceId}: ${what}; received ${JSON.stringify(messages).slice(0, 2000)}`,
      );
      return found!;
    },
    close: () => ws.close(),
  };
}
