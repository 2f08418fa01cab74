#!/usr/bin/env node
// drivecast-ingest: config → wiring → start → drain on SIGTERM. The only file reading the env.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { connectNatsBus, createLogger, createRegistry, runWorker, type Bus } from "@drivecast/bus";
import { createNuxeoClient, serviceAuth } from "@drivecast/nuxeo";
import { createRecordDecoder } from "@drivecast/protocol";
import { parseIngestConfig } from "./config.js";
import { startIngest } from "./ingest.js";
import { createKafkaSource } from "./source-kafka.js";

const config = parseIngestConfig(process.env);
const logger = createLogger({ name: "ingest", level: config.common.logLevel });
const registry = createRegistry("ingest");
let bus: Bus | null = null;

async function schemas(dir: string | undefined): Promise<string[]> {
  if (!dir) return [];
  const files = (await readdir(dir)).filter((f) => f.endsWith(".avsc"));
  return Promise.all(files.map((f) => readFile(join(dir, f), "utf8")));
}

await runWorker({
  name: "ingest",
  logger,
  registry,
  admin: config.common.admin,
  async start() {
    bus = await connectNatsBus({ servers: config.common.natsUrl, name: "drivecast-ingest", logger });
    const decoder = createRecordDecoder({
      codec: config.codec,
      extraSchemas: await schemas(config.schemaDir),
    });
    const nuxeo = createNuxeoClient({
      baseUrl: config.common.nuxeo.url,
      auth: serviceAuth(config.common.nuxeo),
    });
    const source = createKafkaSource({
      ...config.kafka,
      onError: (error, context) => logger.warn({ err: error }, context),
    });
    return startIngest(config.ingest, { bus, source, nuxeo, decoder, logger, registry });
  },
  close: async () => {
    await bus?.close();
  },
});
