// startKafka(): a single-node Apache Kafka 4 (KRaft, broker and controller in one JVM) on two
// free loopback ports, with its data in a temp dir.
//
// Kafka cannot be asked for "any free port" the way nats-server can (the controller quorum
// needs its port up front), so we pick two free ports and retry with new ones when the broker
// finds one taken in between. The JVM is kept small for a 2-core machine: SerialGC (no parallel
// GC threads competing with the tests), C1 only (C2's compiler threads cost more CPU during the
// first minute than they win back in a test run) and a 512 MiB heap.

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { appendFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { ServerStartError } from "./errors.js";
import { freePort } from "./names.js";
import { provisionKafka } from "./provision.js";
import { run, terminate, trackChild, trackDir, untrackDir } from "./processes.js";
import type { KafkaHandle, KafkaOptions } from "./types.js";
import { pollUntil, tail } from "./wait.js";

const PORT_ATTEMPTS = 3;

/** A KRaft cluster id: 16 random bytes, base64url (Kafka's Uuid.toString), never "-" first. */
function clusterId(): string {
  while (true) {
    const id = randomBytes(16).toString("base64url");
    // Kafka refuses ids that start with "-": they would read as a command-line option.
    if (!id.startsWith("-")) return id;
  }
}

function jvmOptions(maxHeap: string): string[] {
  return [
    `-Xmx${maxHeap}`,
    "-Xms128m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xshare:auto",
    "-Djava.awt.headless=true",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
    "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
  ];
}

function serverProperties(
  dir: string,
  port: number,
  controllerPort: number,
  options: KafkaOptions,
): string {
  const props: Record<string, string | number | boolean> = {
    "process.roles": "broker,controller",
    "node.id": 1,
    "controller.quorum.voters": `1@127.0.0.1:${controllerPort}`,
    // Loopback only: tests never expose a broker to the network.
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "log.dirs": join(dir, "data"),
    "num.partitions": options.numPartitions ?? 1,
    "auto.create.topics.enable": true,
    // One broker: every internal topic has a single replica.
    "offsets.topic.replication.factor": 1,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "share.coordinator.state.topic.replication.factor": 1,
    "share.coordinator.state.topic.min.isr": 1,
    // Creating __consumer_offsets with the default 50 partitions delays the first group join
    // by seconds on a small machine; tests do not need the spread.
    "offsets.topic.num.partitions": 1,
    "transaction.state.log.num.partitions": 1,
    // Tests join groups one consumer at a time; waiting 3 s for more members only slows them.
    "group.initial.rebalance.delay.ms": 0,
    "num.network.threads": 2,
    "num.io.threads": 4,
    "num.recovery.threads.per.data.dir": 1,
    ...options.properties,
  };
  return (
    Object.entries(props)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join("\n") + "\n"
  );
}

async function brokerAnswers(broker: string): Promise<true | undefined> {
  const kafka = new Kafka({
    clientId: "drivecast-testkit-probe",
    brokers: [broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.listTopics();
    // Asking for a group's coordinator creates __consumer_offsets and waits for it to load, so
    // the first test's consumer does not crash on "coordinator is loading" and restart.
    await admin.describeGroups(["drivecast-testkit-warmup"]);
    return true;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

class KafkaBroker implements KafkaHandle {
  private stopped = false;
  constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly brokers: string[],
    readonly logFile: string,
  ) {}

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await terminate(this.child, 10_000);
    await rm(this.dir, { recursive: true, force: true });
    untrackDir(this.dir);
  }
}

type Attempt = { broker: KafkaBroker } | { retryPorts: true; error: ServerStartError };

async function attempt(
  classpath: string,
  dir: string,
  options: KafkaOptions,
  attemptNo: number,
): Promise<Attempt> {
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const logFile = join(dir, "kafka.log");
  const dataDir = join(dir, "data");
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const config = join(dir, "server.properties");
  await writeFile(config, serverProperties(dir, port, controllerPort, options));
  const jvm = jvmOptions(options.maxHeap ?? "512m");
  const broker = `127.0.0.1:${port}`;
  await appendFile(logFile, `--- testkit: attempt ${attemptNo}, broker ${broker}\n`);

  // KRaft needs its log dir formatted with a cluster id before the first start.
  const format = await run("java", [
    ...jvm,
    "-cp",
    classpath,
    "kafka.tools.StorageTool",
    "format",
    "-t",
    clusterId(),
    "-c",
    config,
  ]);
  await appendFile(logFile, format.output);
  if (format.code !== 0) {
    throw new ServerStartError(
      "kafka",
      logFile,
      `kafka-storage format failed (exit ${format.code})`,
      {
        logTail: format.output,
      },
    );
  }

  const log = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn("java", [...jvm, "-cp", classpath, "kafka.Kafka", config], {
      stdio: ["ignore", log, log],
    });
  } finally {
    closeSync(log);
  }
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  spawnError.catch(() => {});
  trackChild(child);

  try {
    await Promise.race([
      spawnError,
      pollUntil(() => brokerAnswers(broker), {
        child,
        timeoutMs: options.startTimeoutMs ?? 90_000,
        intervalMs: 250,
        fail: (reason) => new Error(reason),
      }),
    ]);
  } catch (err) {
    await terminate(child, 2_000);
    const logTail = await tail(logFile);
    const reason = err instanceof Error ? err.message : String(err);
    const error = new ServerStartError("kafka", logFile, `Kafka did not start: ${reason}`, {
      logTail,
      cause: err,
    });
    if (/Address already in use|BindException/.test(logTail)) return { retryPorts: true, error };
    throw error;
  }
  return { broker: new KafkaBroker(child, dir, [broker], logFile) };
}

/**
 * Starts a single-node Kafka 4.1 broker (provisioned on first use) on free 127.0.0.1 ports and
 * resolves once it answers a metadata request and a consumer group can be coordinated. Slow (a JVM start: ~5 s), so a vitest run shares
 * one through `inject("kafkaBrokers")`. The process is killed and its data removed when the test
 * process ends, even if `stop()` is never called.
 */
export async function startKafka(options: KafkaOptions = {}): Promise<KafkaHandle> {
  const { libsDir } = await provisionKafka();
  const classpath = join(libsDir, "*");
  const dir = await mkdtemp(join(tmpdir(), "drivecast-kafka-"));
  trackDir(dir);
  try {
    for (let n = 1; ; n++) {
      const result = await attempt(classpath, dir, options, n);
      if ("broker" in result) return result.broker;
      if (n >= PORT_ATTEMPTS) throw result.error;
    }
  } catch (err) {
    // Keep the log named in the error; drop the data.
    await rm(join(dir, "data"), { recursive: true, force: true });
    untrackDir(dir);
    throw err;
  }
}
