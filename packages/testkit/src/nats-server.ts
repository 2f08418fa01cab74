// startNatsServer(): a real nats-server on a free loopback port, JetStream in a temp dir.
//
// Like nats.js' NatsServer test helper, the config asks for `port: -1` (the server picks a free
// port, so no race between choosing and binding) and `ports_file_dir` makes the server write the
// ports it bound to a file we read back. restart() pins the ports it got the first time, so
// clients reconnect to the same URL, and reuses the store, so JetStream data survives.

import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ServerStartError } from "./errors.js";
import { provisionNatsServer } from "./provision.js";
import { exited, terminate, trackChild, trackDir, untrackDir } from "./processes.js";
import type { NatsServerHandle, NatsServerOptions } from "./types.js";
import { pollUntil, tail } from "./wait.js";

interface PortsFile {
  nats?: string[];
  monitoring?: string[];
}

/** Resolves when a TCP client on `port` receives the server's INFO line. */
function readsInfo(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let seen = "";
    const done = (err?: Error): void => {
      socket.destroy();
      if (err === undefined) resolve(true);
      else reject(err);
    };
    socket.setTimeout(2_000, () => done(new Error(`no INFO from 127.0.0.1:${port} within 2 s`)));
    socket.on("data", (chunk) => {
      seen += chunk.toString("latin1");
      if (seen.startsWith("INFO ")) done();
      else if (seen.length >= 5) done(new Error(`unexpected greeting ${JSON.stringify(seen)}`));
    });
    socket.once("error", (err) => done(err));
  });
}

function portOf(url: string | undefined): number | undefined {
  if (url === undefined) return undefined;
  const port = Number(new URL(url).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

class NatsServer implements NatsServerHandle {
  private child: ChildProcess | undefined;
  private port_ = 0;
  private httpPort: number | undefined;
  private stopped = false;

  constructor(
    private readonly binary: string,
    private readonly dir: string,
    private readonly options: NatsServerOptions,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port_}`;
  }
  get port(): number {
    return this.port_;
  }
  get httpUrl(): string | undefined {
    return this.httpPort === undefined ? undefined : `http://127.0.0.1:${this.httpPort}`;
  }
  get storeDir(): string {
    return join(this.dir, "jetstream");
  }
  get logFile(): string {
    return join(this.dir, "nats-server.log");
  }
  get running(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  private config(): string {
    const o = this.options;
    const lines = [
      // Loopback only: tests never expose a server to the network.
      `listen: 127.0.0.1:${this.port_ === 0 ? -1 : this.port_}`,
      `ports_file_dir: ${JSON.stringify(this.dir)}`,
    ];
    if (o.http === true) lines.push(`http: 127.0.0.1:${this.httpPort ?? -1}`);
    if (o.jetstream !== false) {
      lines.push(
        "jetstream {",
        `  store_dir: ${JSON.stringify(this.storeDir)}`,
        ...(o.syncAlways === true ? ["  sync_interval: always"] : []),
        "}",
      );
    }
    lines.push(...(o.config ?? []));
    return lines.join("\n") + "\n";
  }

  async start(): Promise<void> {
    const configFile = join(this.dir, "nats-server.conf");
    await writeFile(configFile, this.config());
    const log = openSync(this.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(this.binary, ["-c", configFile], { stdio: ["ignore", log, log] });
    } finally {
      closeSync(log);
    }
    this.child = child;
    const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
    spawnError.catch(() => {});
    trackChild(child);
    const pid = child.pid;

    const timeoutMs = this.options.startTimeoutMs ?? 20_000;
    const fail = (reason: string): Error => new Error(reason);
    try {
      const ports = await Promise.race([
        spawnError,
        pollUntil(
          async () => {
            // The server writes `<exe>_<pid>.ports` once its listeners are bound.
            const name = (await readdir(this.dir)).find((f) => f.endsWith(`_${pid}.ports`));
            if (name === undefined) return undefined;
            const text = await readFile(join(this.dir, name), "utf8");
            return text === "" ? undefined : (JSON.parse(text) as PortsFile);
          },
          { child, timeoutMs, intervalMs: 20, fail },
        ),
      ]);
      const port = portOf(ports.nats?.[0]);
      if (port === undefined)
        throw fail(`its ports file has no client URL: ${JSON.stringify(ports)}`);
      this.port_ = port;
      this.httpPort = portOf(ports.monitoring?.[0]);
      await pollUntil(() => readsInfo(port), { child, timeoutMs, intervalMs: 20, fail });
    } catch (err) {
      await terminate(child, 1_000);
      const reason = err instanceof Error ? err.message : String(err);
      throw new ServerStartError(
        "nats-server",
        this.logFile,
        `nats-server did not start: ${reason}`,
        { logTail: await tail(this.logFile), cause: err },
      );
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.child !== undefined) await terminate(this.child, 5_000);
    await rm(this.dir, { recursive: true, force: true });
    untrackDir(this.dir);
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill("SIGKILL");
    await exited(child);
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error("restart() after stop(): the server and its store are gone");
    if (this.child !== undefined) await terminate(this.child, 5_000);
    await this.start();
  }
}

/**
 * Starts nats-server (provisioned on first use) on a free 127.0.0.1 port with JetStream, and
 * resolves once it accepts connections. The process is killed and its temp dir removed when the
 * test process ends, even if `stop()` is never called.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const { path } = await provisionNatsServer();
  const dir = await mkdtemp(join(tmpdir(), "drivecast-nats-"));
  trackDir(dir);
  const server = new NatsServer(path, dir, options);
  try {
    await server.start();
  } catch (err) {
    // Keep the log for the error message's reader; the store is useless.
    await rm(server.storeDir, { recursive: true, force: true });
    untrackDir(dir);
    throw err;
  }
  return server;
}
