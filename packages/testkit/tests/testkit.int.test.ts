import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  freePort,
  NATS_SERVER_MIN_VERSION,
  randomName,
  startNatsServer,
  type NatsServerHandle,
} from "@drivecast/testkit";

const CLI = fileURLToPath(new URL("../dist/provision-cli.js", import.meta.url));

/** Resolves with `promise`, or rejects after `ms` saying what was expected. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`expected ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function jsRequest(nc: NatsConnection, subject: string, body: unknown = {}) {
  const reply = await nc.request(subject, JSON.stringify(body), { timeout: 5_000 });
  return reply.json<Record<string, unknown> & { error?: { description: string } }>();
}

describe("nats-server", () => {
  let server: NatsServerHandle;
  beforeAll(async () => {
    server = await startNatsServer({ http: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("startNatsServer - listens on loopback with JetStream enabled", async () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    const nc = await connect({ servers: server.url });
    try {
      const info = await jsRequest(nc, "$JS.API.INFO");
      expect(info.error).toBeUndefined();
      expect(info.type).toBe("io.nats.jetstream.api.v1.account_info_response");
    } finally {
      await nc.close();
    }
  });

  it("restart - keeps the port and the JetStream data, and clients reconnect", async () => {
    const stream = randomName("STREAM");
    const subject = `${stream}.events`;
    const nc = await connect({
      servers: server.url,
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
    });
    try {
      const created = await jsRequest(nc, `$JS.API.STREAM.CREATE.${stream}`, {
        name: stream,
        subjects: [subject],
        storage: "file",
      });
      expect(created.error).toBeUndefined();
      const ack = await jsRequest(nc, subject, "hello");
      expect(ack).toMatchObject({ stream, seq: 1 });

      const reconnected = (async () => {
        for await (const s of nc.status()) if (s.type === "reconnect") return;
      })();
      const port = server.port;
      await server.restart();
      expect(server.port).toBe(port);
      await within(10_000, "the client to reconnect after restart()", reconnected);

      const info = await jsRequest(nc, `$JS.API.STREAM.INFO.${stream}`);
      expect(info).toMatchObject({ state: { messages: 1, last_seq: 1 } });
    } finally {
      await nc.close();
    }
  });

  it("kill - the server goes away like a crash and restart() brings its data back", async () => {
    const stream = randomName("STREAM");
    let nc = await connect({ servers: server.url });
    await jsRequest(nc, `$JS.API.STREAM.CREATE.${stream}`, { name: stream, subjects: [stream] });
    await jsRequest(nc, stream, "kept");
    await nc.close();

    await server.kill();
    expect(server.running).toBe(false);
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow();

    await server.restart();
    expect(server.running).toBe(true);
    nc = await connect({ servers: server.url });
    try {
      const info = await jsRequest(nc, `$JS.API.STREAM.INFO.${stream}`);
      expect(info).toMatchObject({ state: { messages: 1 } });
    } finally {
      await nc.close();
    }
  });

  it("options - syncAlways and extra config lines reach the server", async () => {
    const other = await startNatsServer({
      http: true,
      syncAlways: true,
      config: ["max_payload: 2MB"],
    });
    try {
      const res = await fetch(`${other.httpUrl}/varz`);
      const varz = (await res.json()) as {
        max_payload: number;
        jetstream: { config: { sync_always?: boolean } };
      };
      expect(varz.max_payload).toBe(2 * 1024 * 1024);
      expect(varz.jetstream.config.sync_always).toBe(true);
    } finally {
      await other.stop();
    }
  });

  it("options - jetstream: false starts a core-only server", async () => {
    const other = await startNatsServer({ jetstream: false });
    const nc = await connect({ servers: other.url });
    try {
      await expect(nc.request("$JS.API.INFO", "", { timeout: 2_000 })).rejects.toThrow();
    } finally {
      await nc.close();
      await other.stop();
    }
  });

  it("stop - the server is gone and its port is free again", async () => {
    const other = await startNatsServer();
    await other.stop();
    expect(other.running).toBe(false);
    const bound = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(other.port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    expect(bound).toBe(true);
    await expect(other.restart()).rejects.toThrow(/after stop/);
  });
});

describe("kafka", () => {
  it("global setup - the injected broker produces and consumes with kafkajs", async () => {
    const brokers = inject("kafkaBrokers");
    expect(brokers).toEqual([expect.stringMatching(/^127\.0\.0\.1:\d+$/)]);
    const kafka = new Kafka({ clientId: "testkit-test", brokers, logLevel: logLevel.WARN });
    const topic = randomName("topic");
    const admin = kafka.admin();
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const consumer = kafka.consumer({ groupId: randomName("group") });
    try {
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
      await producer.connect();
      await producer.send({ topic, messages: [{ key: "k", value: "hello kafka 4" }] });

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received = new Promise<{ key: string; value: string; offset: string }>((resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            resolve({
              key: message.key?.toString() ?? "",
              value: message.value?.toString() ?? "",
              offset: message.offset,
            });
          },
        });
      });
      const message = await within(30_000, "the produced message to be consumed", received);
      expect(message).toEqual({ key: "k", value: "hello kafka 4", offset: "0" });
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.disconnect();
    }
  });

  it("auto.create.topics.enable - producing to an unknown topic creates it", async () => {
    const kafka = new Kafka({
      clientId: "testkit-test",
      brokers: inject("kafkaBrokers"),
      logLevel: logLevel.NOTHING,
    });
    const topic = randomName("topic");
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    const admin = kafka.admin();
    try {
      await producer.connect();
      const [meta] = await producer.send({ topic, messages: [{ value: "x" }] });
      expect(meta).toMatchObject({ topicName: topic, errorCode: 0 });
      await admin.connect();
      expect(await admin.listTopics()).toContain(topic);
    } finally {
      await producer.disconnect();
      await admin.disconnect();
    }
  });
});

describe("names", () => {
  it("freePort - returns a loopback port nobody listens on", async () => {
    const port = await freePort();
    const bound = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    expect(bound).toBe(true);
  });
});

describe("provision-cli", () => {
  function runCli(env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI], { env, stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (d: Buffer) => (output += d.toString()));
      child.stderr.on("data", (d: Buffer) => (output += d.toString()));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, output }));
    });
  }

  let scratch: string;
  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "testkit-cli-"));
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("provision-cli - reports the nats-server and Kafka it found", async () => {
    const { code, output } = await runCli(process.env);
    expect(code).toBe(0);
    expect(output).toMatch(/nats-server \d+\.\d+\.\d+/);
    expect(output).toMatch(/Apache Kafka 4\.1\.1/);
  });

  it("provision-cli - rejects a DRIVECAST_NATS_SERVER older than the minimum", async () => {
    const fake = join(scratch, "old-nats-server");
    await writeFile(fake, "#!/bin/sh\necho 'nats-server: v2.9.25'\n");
    await chmod(fake, 0o755);
    const { code, output } = await runCli({ ...process.env, DRIVECAST_NATS_SERVER: fake });
    expect(code).not.toBe(0);
    expect(output).toContain(`older than ${NATS_SERVER_MIN_VERSION}`);
  });

  it("provision-cli - says to install Go when nats-server is missing and go is not on PATH", async () => {
    const { code, output } = await runCli({
      ...process.env,
      DRIVECAST_NATS_SERVER: "",
      DRIVECAST_CACHE_DIR: join(scratch, "empty-cache"),
      PATH: join(scratch, "no-tools-here"),
    });
    expect(code).not.toBe(0);
    expect(output).toMatch(/install Go/);
  });
});
