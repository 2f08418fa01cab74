#!/usr/bin/env node
// drivecast-changeset: config → wiring → start → drain on SIGTERM. The only file reading the env.
import { connectNatsBus, createLogger, createRegistry, runWorker, type Bus } from "@drivecast/bus";
import { createNuxeoClient, serviceAuth } from "@drivecast/nuxeo";
import { startChangeset } from "./changeset.js";
import { parseChangesetConfig } from "./config.js";

const config = parseChangesetConfig(process.env);
const logger = createLogger({
  name: "changeset",
  level: config.common.logLevel,
  base: { workerId: config.changeset.workerId },
});
const registry = createRegistry("changeset");
let bus: Bus | null = null;

await runWorker({
  name: "changeset",
  logger,
  registry,
  admin: config.common.admin,
  async start() {
    bus = await connectNatsBus({
      servers: config.common.natsUrl,
      name: "drivecast-changeset",
      logger,
    });
    const nuxeo = createNuxeoClient({
      baseUrl: config.common.nuxeo.url,
      auth: serviceAuth(config.common.nuxeo),
    });
    return startChangeset(config.changeset, {
      bus,
      nuxeo,
      logger,
      registry,
    });
  },
  close: async () => {
    await bus?.close();
  },
});
