// The admin endpoint every worker exposes on its own port: liveness for the orchestrator's
// restart decision, readiness for its routing decision, Prometheus metrics. Plain node:http:
// three fixed routes do not justify a framework.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

/**
 * `true`/`false`, or one flag per dependency (e.g. `{ nats: true, kafka: false }`): ready when all
 * are true, and the 503 body names the others.
 */
export type Readiness = boolean | Record<string, boolean>;

export interface AdminServerOptions {
  /** Default 127.0.0.1; 0.0.0.0 in a container. */
  host?: string;
  /** 0: an ephemeral port (see `port` on the result). */
  port: number;
  readiness: () => Readiness | Promise<Readiness>;
  registry: Registry;
}

export interface AdminServer {
  /** The bound port. */
  readonly port: number;
  close(): Promise<void>;
}

interface ReadyzBody {
  status: "ready" | "not ready";
  /** What is not ready. */
  failing?: string[];
}

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const server = createServer((req, res) => {
    void handle(req, res, options).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | null = null;
  return {
    port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Scrapers keep connections alive; do not wait for them to go away on their own.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: AdminServerOptions) {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    res.end("method not allowed\n");
    return;
  }
  switch (path) {
    case "/healthz":
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
      res.end("ok\n");
      return;
    case "/readyz": {
      const body = await readiness(options);
      res.writeHead(body.status === "ready" ? 200 : 503, {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
      });
      res.end(JSON.stringify(body));
      return;
    }
    case "/metrics": {
      const text = await options.registry.metrics();
      res.writeHead(200, { "content-type": options.registry.contentType });
      res.end(text);
      return;
    }
    default:
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("not found\n");
  }
}

async function readiness(options: AdminServerOptions): Promise<ReadyzBody> {
  let r: Readiness;
  try {
    r = await options.readiness();
  } catch (err) {
    return {
      status: "not ready",
      failing: [`readiness check failed: ${err instanceof Error ? err.message : String(err)}`],
    };
  }
  if (typeof r === "boolean")
    return r ? { status: "ready" } : { status: "not ready", failing: ["worker"] };
  const failing = Object.entries(r)
    .filter(([, ok]) => !ok)
    .map(([name]) => name);
  return failing.length === 0 ? { status: "ready" } : { status: "not ready", failing };
}
