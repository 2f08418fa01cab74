// The life of a worker process, shared by every role: connect, start, serve the admin endpoints,
// drain on SIGTERM/SIGINT, exit. Each role's main.ts only parses its config and wires its parts.
import type { Logger } from "./log.js";
import type { Registry } from "prom-client";
import { startAdminServer } from "./admin.js";

export interface WorkerHandle {
  ready(): boolean;
  /** Optional detail for `/readyz`: what is and is not ready (e.g. `{ kafka, nats }`). */
  readiness?(): Record<string, boolean>;
  /** Graceful stop: finish in-flight work, release what is held. */
  drain(): Promise<void>;
}

export interface RunWorkerOptions {
  name: string;
  logger: Logger;
  registry: Registry;
  admin: { host: string; port: number };
  /** Starts the role; its handle drives readiness and drain. */
  start(): Promise<WorkerHandle>;
  /** Closes connections after the drain (bus, Nuxeo agents…). */
  close?(): Promise<void>;
  /** A drain that takes longer than this exits anyway, with status 1. */
  drainTimeoutMs?: number;
  /** Injected for tests; defaults to process. */
  process?: Pick<NodeJS.Process, "on" | "exit">;
}

export async function runWorker(options: RunWorkerOptions): Promise<void> {
  const { logger, name } = options;
  const proc = options.process ?? process;
  let handle: WorkerHandle | null = null;
  let draining = false;
  const admin = await startAdminServer({
    host: options.admin.host,
    port: options.admin.port,
    registry: options.registry,
    readiness: () => {
      if (draining || handle === null) return false;
      return handle.readiness?.() ?? handle.ready();
    },
  });
  logger.info({ adminPort: admin.port }, `${name} admin endpoints on /healthz /readyz /metrics`);

  const stop = async (signal: string) => {
    if (draining) return;
    draining = true;
    logger.info({ signal }, `${name} draining`);
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: options.drainTimeoutMs }, `${name} drain timed out; exiting`);
      proc.exit(1);
    }, options.drainTimeoutMs ?? 30_000);
    timer.unref();
    try {
      await handle?.drain();
      await options.close?.();
      await admin.close();
      logger.info(`${name} stopped`);
      proc.exit(0);
    } catch (error) {
      logger.error({ err: error }, `${name} drain failed`);
      proc.exit(1);
    }
  };
  proc.on("SIGTERM", () => void stop("SIGTERM"));
  proc.on("SIGINT", () => void stop("SIGINT"));

  try {
    handle = await options.start();
  } catch (error) {
    logger.fatal({ err: error }, `${name} failed to start`);
    await admin.close();
    proc.exit(1);
  }
}
