// The README's first command: `drivecast all` runs every role in one process with the simulator;
// a device connecting with a printed demo token sees a change set arrive after a simulated edit.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it } from "vitest";
import { freePort } from "@drivecast/testkit";
import { connectDevice, waitFor } from "./harness.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
let proc: ChildProcess | null = null;

afterAll(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc!.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
  }
});

it("e2e - embedded mode prints demo tokens and pushes simulated edits to a device", async () => {
  const [gatewayPort, nuxeoPort, adminPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  proc = spawn(process.execPath, [`${repo}/packages/drivecast/dist/main.js`, "all"], {
    env: {
      ...process.env,
      DRIVECAST_GATEWAY_PORT: String(gatewayPort),
      DRIVECAST_NUXEO_SIM_PORT: String(nuxeoPort),
      DRIVECAST_ADMIN_PORT: String(adminPort),
      DRIVECAST_ACTIVITY_MS: "300",
      DRIVECAST_LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let banner = "";
  proc.stderr!.on("data", (d) => (banner += d));
  proc.stdout!.on("data", (d) => (banner += d));
  await waitFor(
    () => /alice\s+token (\S+)/.test(banner),
    30_000,
    () => `the demo tokens in:\n${banner}`,
  );
  const token = /alice\s+token (\S+)/.exec(banner)![1]!;
  expect(banner).toContain(`ws://127.0.0.1:${gatewayPort}/drive/v1/ws`);

  const device = await connectDevice(`ws://127.0.0.1:${gatewayPort}/drive/v1/ws`, token, "readme");
  device.send({ type: "subscribe", lowerBound: null });
  const welcome = await device.next((m) => m.type === "welcome", "welcome");
  expect(welcome).toMatchObject({ userId: "alice", deviceId: "readme" });
  const first = await device.next((m) => m.type === "changes", "the first changes message");
  const live = await device.next(
    (m) =>
      m.type === "changes" &&
      m !== first &&
      (m.summary as { fileSystemChanges: unknown[] }).fileSystemChanges.length > 0,
    "a change set from a simulated edit",
  );
  const changes = (
    live.summary as {
      fileSystemChanges: { eventId: string; fileSystemItem: { userName: string } | null }[];
    }
  ).fileSystemChanges;
  expect(changes.length).toBeGreaterThan(0);
  for (const c of changes) if (c.fileSystemItem) expect(c.fileSystemItem.userName).toBe("alice");

  const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
  expect(ready.status).toBe(200);
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  expect(metrics).toMatch(/drivecast_ingest_records_total\{outcome="routed"/);
  device.close();
});
