#!/usr/bin/env node
// drivecast-ingest: config → wiring → start → drain on SIGTERM. The only file reading the
// environment. `drivecast-ingest deadletters …` is the dead-letter command (cli.ts).
import { readFile } from "node:fs/promises";
import { connectNatsBus, createLogger, createRegistry, runWorker, type Bus } from "@drivecast/bus";
import { createNuxeoClient, serviceAuth } from "@drivecast/nuxeo";
import { RecordCodec } from "@drivecast/protocol";
import { DEAD_LETTER_USAGE, deadLetterCommand } from "./cli.js";
import { parseDeadLetterCliConfig, parseIngestConfig } from "./config.js";
import { createIngestDecoder } from "./decoder.js";
import { startIngest } from "./ingest.js";
import { createIngestMetrics } from "./metrics.js";
import { createSchemaRegistry } from "./schema-registry.js";
import { createKafkaSource } from "./source-kafka.js";

// `drivecast ingest …` imports this file with "ingest" as its first argument: skip it.
const argv = process.argv.slice(2);
if (argv[0] === "ingest") argv.shift();
const [command, ...args] = argv;

if (command === "deadletters") {
  const status = await deadLetterCommand(args, parseDeadLetterCliConfig(process.env), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
  process.exit(status);
} else if (command !== undefined && command !== "run") {
  process.stderr.write(
    `unknown command ${JSON.stringify(command)}\n\nusage: drivecast-ingest [run]\n${DEAD_LETTER_USAGE}\n`,
  );
  process.exit(2);
}

const config = parseIngestConfig(process.env);
const logger = createLogger({ name: "ingest", level: config.common.logLevel });
const registry = createRegistry("ingest");
const metrics = createIngestMetrics(registry);
let bus: Bus | null = null;

await runWorker({
  name: "ingest",
  logger,
  registry,
  admin: config.common.admin,
  drainTimeoutMs: config.drainTimeoutMs,
  async start() {
    const { codec } = config;
    const writerSchema =
      codec.writerSchema === "2023" || codec.writerSchema === "2021"
        ? codec.writerSchema
        : await readFile(codec.writerSchema, "utf8");
    const decoder = await createIngestDecoder({
      codec: codec.codec,
      schemaDir: codec.schemaDir,
      writerSchema,
      registry:
        codec.codec === RecordCodec.AvroConfluent && codec.schemaRegistryUrl !== undefined
          ? createSchemaRegistry({ url: codec.schemaRegistryUrl })
          : undefined,
      onSchemaEvent(event) {
        switch (event.type) {
          case "invalidFile":
            metrics.schemaEvent("dir", "invalid");
            logger.error({ file: event.file, err: event.error }, "schema file skipped");
            break;
          case "reloaded":
            metrics.schemaEvent(event.source, "loaded");
            logger.info({ source: event.source, known: event.known }, "writer schema loaded");
            break;
          case "unknown":
            metrics.schemaEvent(event.source, "unknown");
            logger.warn({ source: event.source, id: event.id }, "writer schema still unknown");
            break;
        }
      },
    });
    bus = await connectNatsBus({
      servers: config.common.natsUrl,
      name: "drivecast-ingest",
      logger,
    });
    const nuxeo = createNuxeoClient({
      baseUrl: config.common.nuxeo.url,
      auth: serviceAuth(config.common.nuxeo),
      timeoutMs: config.nuxeoTimeoutMs,
      batchSize: config.nuxeoBatchSize,
      onRequest: (kind, ms, status) => metrics.nuxeoRequest(kind, ms, status),
    });
    const source = createKafkaSource({
      ...config.kafka,
      drainGraceMs: Math.max(1_000, config.drainTimeoutMs - 5_000),
      onError: (error, context) => logger.warn({ err: error }, context),
      onFatal: (error) => {
        logger.fatal({ err: error }, "Kafka consumer stopped for good; exiting");
        process.exit(1);
      },
      onLag: (topic, partition, lag) => metrics.lag(topic, partition, lag),
      onAssignment: (assignment) => {
        metrics.assigned(assignment);
        logger.info({ assignment }, "Kafka partitions assigned");
      },
    });
    return startIngest(config.ingest, {
      bus,
      source,
      nuxeo,
      decoder,
      logger,
      registry,
      metrics,
    });
  },
  close: async () => {
    await bus?.close();
  },
});
