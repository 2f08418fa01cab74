// Integration helpers: real NATS (testkit) and Kafka (the run's broker), the simulator's REST
// server as Nuxeo, the ingest in process or as `node packages/ingest/dist/main.js`.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connectNatsBus, silentLogger, type Bus, type StoredMessage } from "@drivecast/bus";
import { createNuxeoClient } from "@drivecast/nuxeo";
import { startRestServer, type RestServer, type Simulator } from "@drivecast/nuxeo-sim";
import { Names, msgpackCodec, type DocEvent, type RecordCodec } from "@drivecast/protocol";
import { freePort, randomName } from "@drivecast/testkit";
import { Kafka, logLevel, type Admin, type Producer } from "kafkajs";
import { createLogger, createRegistry } from "@drivecast/bus";
import {
  DEFAULT_INGEST_CONFIG,
  createIngestDecoder,
  createKafkaSource,
  startIngest,
  type IngestHandle,
  type SchemaRegistry,
} from "../src/mod.js";

export const eventCodec = msgpackCodec<DocEvent>();
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const MAIN = join(repoRoot, "packages/ingest/dist/main.js");

/** Polls `check` until it returns a value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class KafkaTool {
  readonly kafka: Kafka;
  private admin: Promise<Admin> | null = null;
  private producer: Promise<Producer> | null = null;

  constructor(readonly brokers: string[]) {
    this.kafka = new Kafka({ clientId: "ingest-tests", brokers, logLevel: logLevel.NOTHING });
  }

  private adminClient(): Promise<Admin> {
    // Memoised before the first await: concurrent callers share one connection.
    this.admin ??= (async () => {
      const a = this.kafka.admin();
      await a.connect();
      return a;
    })();
    return this.admin;
  }

  async createTopic(partitions = 1): Promise<string> {
    const topic = randomName("audit");
    const admin = await this.adminClient();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
    });
    await waitFor(`topic ${topic} to have a leader for each partition`, async () => {
      // Right after creation a loaded broker may still answer "does not host this
      // topic-partition": that is "not yet", not a failure.
      const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => null);
      const ps = meta?.topics[0]?.partitions ?? [];
      return ps.length === partitions && ps.every((p) => p.leader >= 0);
    });
    return topic;
  }

  async produce(
    topic: string,
    messages: { key: string | null; value: Uint8Array | null; partition?: number }[],
    perSend = 500,
  ): Promise<void> {
    this.producer ??= (async () => {
      const p = this.kafka.producer({ allowAutoTopicCreation: false });
      await p.connect();
      return p;
    })();
    const producer = await this.producer;
    for (let i = 0; i < messages.length; i += perSend) {
      const chunk = messages.slice(i, i + perSend).map((m) => ({
        key: m.key,
        value: m.value === null ? null : Buffer.from(m.value),
        partition: m.partition ?? 0,
      }));
      // A topic created a moment ago may not be in every broker cache yet: retry that case.
      await waitFor(`a send to ${topic}`, () =>
        producer.send({ topic, acks: -1, messages: chunk }).then(
          () => true,
          (error: { type?: string }) => {
            if (error.type === "UNKNOWN_TOPIC_OR_PARTITION") return false;
            throw error;
          },
        ),
      );
    }
  }

  /** True once the group committed every partition of `topic` up to its end. */
  async caughtUp(group: string, topic: string): Promise<boolean> {
    const admin = await this.adminClient();
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return ends.every((e) => {
      const c = committed?.partitions.find((p) => p.partition === e.partition);
      return c !== undefined && BigInt(c.offset) >= BigInt(e.high);
    });
  }

  /** Records of `topic` the group has not committed yet. */
  async lag(group: string, topic: string): Promise<number> {
    const admin = await this.adminClient();
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    let lag = 0;
    for (const e of ends) {
      const c = committed?.partitions.find((p) => p.partition === e.partition);
      const done = c === undefined || Number(c.offset) < 0 ? Number(e.low) : Number(c.offset);
      lag += Math.max(0, Number(e.high) - done);
    }
    return lag;
  }

  /** Committed offset of each partition (-1 when none). */
  async committed(group: string, topic: string): Promise<Map<number, bigint>> {
    const [c] = await (await this.adminClient()).fetchOffsets({ groupId: group, topics: [topic] });
    return new Map((c?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
  }

  async close(): Promise<void> {
    await (await this.producer)?.disconnect();
    await (await this.admin)?.disconnect();
  }
}

/** Every message of DRIVE_EVENTS (of `names`), with its shard. */
export async function storedEvents(
  bus: Bus,
  names: Names,
): Promise<{ shard: number; event: DocEvent; message: StoredMessage }[]> {
  if ((await bus.streams.info(names.eventsStream)) === null) return [];
  const msgs = await bus.streams.read(names.eventsStream, names.eventsSubjects, 1);
  return msgs.map((m) => ({
    shard: Number(m.subject.slice(m.subject.lastIndexOf(".") + 1)),
    event: eventCodec.decode(m.data),
    message: m,
  }));
}

export async function storedDeadLetters(bus: Bus, names: Names): Promise<StoredMessage[]> {
  if ((await bus.streams.info(names.deadLetterStream)) === null) return [];
  return (await bus.streams.read(names.deadLetterStream, names.deadLetterSubjects, 1)).filter(
    (m) => !m.subject.endsWith("._replayed"),
  );
}

export async function natsBus(url: string): Promise<Bus> {
  return connectNatsBus({ servers: url, name: "ingest-tests", logger: silentLogger });
}

export async function startSimRest(sim: Simulator): Promise<RestServer> {
  return startRestServer(sim, { port: 0 });
}

export interface InProcessOptions {
  natsUrl: string;
  brokers: string[];
  topic: string;
  nuxeoUrl: string;
  codec?: RecordCodec;
  schemaDir?: string;
  registry?: SchemaRegistry;
  prefix: string;
  shardCount?: number;
  group?: string;
}

/** The ingest in this process (what main.ts wires), on its own names prefix. */
export async function startInProcess(
  o: InProcessOptions,
): Promise<{ handle: IngestHandle; bus: Bus; names: Names; group: string; stop(): Promise<void> }> {
  const bus = await natsBus(o.natsUrl);
  const naming = { prefix: o.prefix, subjectPrefix: `${o.prefix.toLowerCase()}.` };
  const group = o.group ?? randomName("group");
  const handle = await startIngest(
    { ...DEFAULT_INGEST_CONFIG, naming, shardCount: o.shardCount ?? 8 },
    {
      bus,
      source: createKafkaSource({
        brokers: o.brokers,
        topics: [o.topic],
        groupId: group,
        sessionTimeoutMs: 6_000,
        retryBaseMs: 50,
        retryMaxMs: 1_000,
      }),
      nuxeo: createNuxeoClient({
        baseUrl: o.nuxeoUrl,
        auth: { kind: "basic", user: "Administrator", password: "Administrator" },
      }),
      decoder: await createIngestDecoder({
        codec: o.codec ?? "avro",
        schemaDir: o.schemaDir,
        registry: o.registry,
      }),
      logger: createLogger({ name: "ingest-test", level: "silent" }),
      registry: createRegistry("ingest-test"),
    },
  );
  return {
    handle,
    bus,
    group,
    names: new Names(naming),
    async stop() {
      await handle.drain();
      await bus.close();
    },
  };
}

export interface SpawnedIngest {
  child: ChildProcess;
  adminPort: number;
  output(): string;
  /** Resolves with the exit code (or signal) once the process ended. */
  exited: Promise<number | string>;
  metrics(): Promise<string>;
  readyz(): Promise<number>;
}

/** `node packages/ingest/dist/main.js [args]` with `env` on top of the defaults below. */
export async function spawnIngest(
  env: Record<string, string>,
  args: string[] = [],
): Promise<SpawnedIngest> {
  const adminPort = await freePort();
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      DRIVECAST_NUXEO_USER: "Administrator",
      DRIVECAST_NUXEO_PASSWORD: "Administrator",
      DRIVECAST_ADMIN_HOST: "127.0.0.1",
      DRIVECAST_ADMIN_PORT: String(adminPort),
      DRIVECAST_LOG_LEVEL: "info",
      DRIVECAST_KAFKA_SESSION_TIMEOUT_MS: "6000",
      DRIVECAST_DUPLICATE_WINDOW_MS: "600000",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  const base = `http://127.0.0.1:${adminPort}`;
  return {
    child,
    adminPort,
    output: () => out,
    exited,
    metrics: async () => (await fetch(`${base}/metrics`)).text(),
    readyz: async () => (await fetch(`${base}/readyz`)).status,
  };
}

/** The value of a Prometheus sample (summed over series matching every `labels`). */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== "{" && rest[0] !== " ") continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

/** Runs `drivecast-ingest deadletters …` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, "deadletters", ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { status, stdout, stderr };
}
