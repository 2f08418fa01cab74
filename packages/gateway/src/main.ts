#!/usr/bin/env node
// drivecast-gateway: config → wiring → start → drain on SIGTERM. The only file reading the env.
import { connectNatsBus, createLogger, createRegistry, runWorker, type Bus } from "@drivecast/bus";
import { createNuxeoClient, serviceAuth } from "@drivecast/nuxeo";
import { nuxeoAuthenticator } from "./auth.js";
import { startGateway } from "./gateway.js";
import { parseGatewayConfig } from "./settings.js";

const config = parseGatewayConfig(process.env);
const logger = createLogger({ name: "gateway", level: config.common.logLevel });
const registry = createRegistry("gateway");
let bus: Bus | null = null;

await runWorker({
  name: "gateway",
  logger,
  registry,
  admin: config.common.admin,
  // Sockets close over the drain window; leave room for it.
  drainTimeoutMs: config.gateway.drainWindowMs + 20_000,
  async start() {
    bus = await connectNatsBus({
      servers: config.common.natsUrl,
      name: "drivecast-gateway",
      logger,
    });
    const nuxeo = createNuxeoClient({
      baseUrl: config.common.nuxeo.url,
      auth: serviceAuth(config.common.nuxeo),
    });
    const authenticate = nuxeoAuthenticator(nuxeo, {
      ttlMs: config.gateway.authCacheTtlMs,
      max: config.gateway.authCacheMax,
      registry,
    });
    return startGateway(config.gateway, { bus, authenticate, logger, registry });
  },
  close: async () => {
    await bus?.close();
  },
});
