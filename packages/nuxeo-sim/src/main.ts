#!/usr/bin/env node
// nuxeo-sim: a Nuxeo stand-in process. Configuration from flags, else NUXEO_SIM_* environment
// variables (README lists them). Starts the REST server, optionally writes audit records to Kafka,
// seeds demo users and optionally keeps generating activity; drains on SIGTERM/SIGINT.
import { parseArgs } from "node:util";
import { pino } from "pino";
import { startActivity } from "./activity.js";
import type { Activity } from "./activity.js";
import { kafkaAuditSink } from "./audit-sink-kafka.js";
import { seedDemo } from "./demo.js";
import { startRestServer } from "./rest.js";
import { createSimulator } from "./simulator.js";

const env = process.env;
const { values } = parseArgs({
  options: {
    port: { type: "string" },
    host: { type: "string" },
    "context-path": { type: "string" },
    "kafka-brokers": { type: "string" },
    topic: { type: "string" },
    partitions: { type: "string" },
    users: { type: "string" },
    "no-demo": { type: "boolean" },
    "activity-ms": { type: "string" },
    seed: { type: "string" },
    "record-schema": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  process.stdout.write(
    "nuxeo-sim [--port 8080] [--host 127.0.0.1] [--context-path /nuxeo]\n" +
      "          [--kafka-brokers host:port,...] [--topic nuxeo-audit-audit] [--partitions 4]\n" +
      "          [--users alice,bob] [--no-demo] [--activity-ms 0] [--seed 1] [--record-schema 2023]\n" +
      "Environment: NUXEO_SIM_PORT, NUXEO_SIM_HOST, NUXEO_SIM_CONTEXT_PATH, NUXEO_SIM_KAFKA_BROKERS,\n" +
      "  NUXEO_SIM_TOPIC, NUXEO_SIM_PARTITIONS, NUXEO_SIM_USERS, NUXEO_SIM_DEMO, NUXEO_SIM_ACTIVITY_MS,\n" +
      "  NUXEO_SIM_SEED, NUXEO_SIM_RECORD_SCHEMA, NUXEO_SIM_LOG_LEVEL\n",
  );
  process.exit(0);
}

function list(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function int(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(
      `nuxeo-sim: ${name} must be a non-negative integer, got ${JSON.stringify(text)}\n`,
    );
    process.exit(2);
  }
  return n;
}

const config = {
  port: int("port", values.port ?? env["NUXEO_SIM_PORT"], 8080),
  host: values.host ?? env["NUXEO_SIM_HOST"] ?? "127.0.0.1",
  contextPath: values["context-path"] ?? env["NUXEO_SIM_CONTEXT_PATH"] ?? "/nuxeo",
  brokers: list(values["kafka-brokers"] ?? env["NUXEO_SIM_KAFKA_BROKERS"]),
  topic: values.topic ?? env["NUXEO_SIM_TOPIC"] ?? "nuxeo-audit-audit",
  partitions: int("partitions", values.partitions ?? env["NUXEO_SIM_PARTITIONS"], 4),
  users: list(values.users ?? env["NUXEO_SIM_USERS"] ?? "alice,bob"),
  demo: !(values["no-demo"] ?? env["NUXEO_SIM_DEMO"] === "false"),
  activityMs: int("activity-ms", values["activity-ms"] ?? env["NUXEO_SIM_ACTIVITY_MS"], 0),
  seed: int("seed", values.seed ?? env["NUXEO_SIM_SEED"], 1),
  recordSchema: (values["record-schema"] ?? env["NUXEO_SIM_RECORD_SCHEMA"] ?? "2023") as
    "2023" | "2021",
};
if (config.recordSchema !== "2023" && config.recordSchema !== "2021") {
  process.stderr.write(`nuxeo-sim: record schema must be 2023 or 2021\n`);
  process.exit(2);
}

const log = pino({ name: "nuxeo-sim", level: env["NUXEO_SIM_LOG_LEVEL"] ?? "info" });

async function main(): Promise<void> {
  const sim = createSimulator({ recordCodec: { codec: "avro", schema: config.recordSchema } });
  if (config.brokers.length > 0) {
    sim.setAuditSink(
      await kafkaAuditSink({
        brokers: config.brokers,
        topic: config.topic,
        partitions: config.partitions,
      }),
    );
    log.info({ brokers: config.brokers, topic: config.topic }, "writing audit records to Kafka");
  } else {
    log.warn("no Kafka brokers configured: audit records are not written anywhere");
  }
  const server = await startRestServer(sim, {
    port: config.port,
    host: config.host,
    contextPath: config.contextPath,
  });
  log.info({ url: server.url, serviceAccount: "Administrator/Administrator" }, "Nuxeo REST API up");
  if (config.demo) {
    const demo = await seedDemo(sim, { users: config.users });
    for (const u of demo.users)
      log.info(
        { user: u.id, password: u.password, token: u.token, workspace: u.workspaceUid },
        "demo user",
      );
  }
  let activity: Activity | null = null;
  if (config.activityMs > 0) {
    activity = startActivity(sim, {
      users: config.users,
      intervalMs: config.activityMs,
      seed: config.seed,
      onError: (err) => log.warn({ err }, "activity step failed"),
    });
    log.info({ intervalMs: config.activityMs }, "generating activity");
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    await activity?.stop();
    await server.close();
    await sim.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((err: unknown) => {
  log.fatal({ err }, "nuxeo-sim failed to start");
  process.exit(1);
});
