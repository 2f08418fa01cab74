#!/usr/bin/env node
// drivecast: `all` (default) runs every role in one process with the simulator (embedded mode);
// `ingest`, `changeset`, `gateway` run one role against NATS (each reads its DRIVECAST_* settings);
// `tail` connects to a gateway and prints what it pushes. The only file here reading the env.
import { parseArgs } from "node:util";
import { createLogger, createRegistry, runWorker, settings } from "@drivecast/bus";
import { startEmbedded } from "./embedded.js";
import { tail } from "./tail.js";

const USAGE = `usage: drivecast [all | ingest | changeset | gateway | tail] [options]

  all        every role in one process, in-memory bus, Nuxeo simulator with demo users (default)
  ingest     the ingest role (Kafka → DRIVE_EVENTS); settings: DRIVECAST_* (README)
  changeset  the changeset role (DRIVE_EVENTS → DRIVE_FEEDS)
  gateway    the gateway role (WebSocket, SSE, HTTP for Drive clients)
  tail       print what a gateway pushes to one device:
               --url ws://127.0.0.1:8080/drive/v1/ws --token TOKEN [--device ID] [--from POSITION]`;

const command = process.argv[2] ?? "all";

switch (command) {
  case "ingest":
    await import("@drivecast/ingest/main");
    break;
  case "changeset":
    await import("@drivecast/changeset/main");
    break;
  case "gateway":
    await import("@drivecast/gateway/main");
    break;
  case "tail": {
    const { values } = parseArgs({
      args: process.argv.slice(3),
      options: {
        url: { type: "string", default: "ws://127.0.0.1:8080/drive/v1/ws" },
        token: { type: "string" },
        device: { type: "string", default: "tail" },
        from: { type: "string" },
      },
    });
    if (!values.token) {
      console.error(
        "drivecast tail: --token is required (a Nuxeo token; `drivecast all` prints demo ones)",
      );
      process.exit(2);
    }
    await tail({
      url: values.url,
      token: values.token,
      deviceId: values.device,
      lowerBound: values.from === undefined ? null : Number(values.from),
      print: (line) => console.log(line),
    });
    break;
  }
  case "all": {
    const s = settings(process.env);
    const logLevel = s.oneOf(
      "DRIVECAST_LOG_LEVEL",
      ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const,
      "info",
    );
    const host = s.string("DRIVECAST_HOST", "127.0.0.1");
    const options = {
      host,
      gatewayPort: s.int("DRIVECAST_GATEWAY_PORT", 8080, 0, 65_535),
      nuxeoPort: s.int("DRIVECAST_NUXEO_SIM_PORT", 8081, 0, 65_535),
      shardCount: s.int("DRIVECAST_SHARDS", 64, 1, 65_536),
      activityMs: s.int("DRIVECAST_ACTIVITY_MS", 5_000, 0),
      demoUsers: s.list("DRIVECAST_DEMO_USERS", ["alice", "bob"]),
    };
    const admin = { host, port: s.int("DRIVECAST_ADMIN_PORT", 9464, 0, 65_535) };
    const logger = createLogger({ name: "drivecast", level: logLevel });
    const registry = createRegistry("all");
    await runWorker({
      name: "drivecast",
      logger,
      registry,
      admin,
      async start() {
        const embedded = await startEmbedded({ ...options, logger, registry });
        const ws = `ws://${host}:${embedded.gatewayPort}/drive/v1/ws`;
        const lines = [
          "",
          `drivecast is running (embedded: every role, in-memory bus, Nuxeo simulator at ${embedded.nuxeoUrl})`,
          `  WebSocket  ${ws}`,
          `  SSE        http://${host}:${embedded.gatewayPort}/drive/v1/events`,
          `  admin      http://${admin.host}:${admin.port}/metrics`,
          "",
          "Demo users (the simulator edits their files every few seconds):",
          ...embedded.demo.users.map((u) => `  ${u.id.padEnd(8)} token ${u.token}`),
          "",
          "Watch a device receive change sets:",
          `  node packages/drivecast/dist/main.js tail --url ${ws} --token ${embedded.demo.users[0]!.token}`,
          "",
        ];
        process.stderr.write(lines.join("\n") + "\n");
        return embedded;
      },
    });
    break;
  }
  case "help":
  case "--help":
  case "-h":
    console.log(USAGE);
    break;
  default:
    console.error(`drivecast: unknown command "${command}"\n${USAGE}`);
    process.exit(2);
}
