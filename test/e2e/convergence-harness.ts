// Support for the convergence test: the whole pipeline as processes (ingest, changeset, gateway)
// on real NATS and Kafka, fed by a simulator, and the two questions the test asks of it: "has
// everything written so far gone all the way through?" and "what is each user's last position?".
//
// Drained means, in pipeline order: every audit record the simulator wrote is committed by the
// ingest's Kafka consumer group (the ingest commits only once JetStream acknowledged what the
// record produced), and every shard consumer of DRIVE_EVENTS has nothing pending nor unacked (the
// changeset acknowledges an event only once the change sets it contributed to are stored). After
// that the feeds are final until the simulator writes again.
import { createRequire } from "node:module";
import { connectNatsBus, NoRespondersError } from "@drivecast/bus";
import type { Bus } from "@drivecast/bus";
import { Names, msgpackCodec, shardOf } from "@drivecast/protocol";
import type { DocEvent, FeedEntry, RootEntry, RpcReply, RpcRequest } from "@drivecast/protocol";
import {
  createSimulator,
  kafkaAuditSink,
  startRestServer,
  type RestServer,
  type Simulator,
} from "@drivecast/nuxeo-sim";
import { freePort, randomName } from "@drivecast/testkit";
import { startRole, waitFor, type RoleProcess } from "./harness.js";

/** The few kafkajs admin calls used here (kafkajs is a dependency of the simulator package). */
interface KafkaAdmin {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  fetchTopicOffsets(topic: string): Promise<{ partition: number; offset: string }[]>;
  fetchOffsets(options: {
    groupId: string;
    topics: string[];
  }): Promise<{ topic: string; partitions: { partition: number; offset: string }[] }[]>;
}

function kafkaAdmin(brokers: string[]): KafkaAdmin {
  // The root package does not depend on kafkajs; the simulator package does.
  const require = createRequire(new URL("../../packages/nuxeo-sim/package.json", import.meta.url));
  const { Kafka, logLevel } = require("kafkajs") as {
    Kafka: new (config: object) => { admin(): KafkaAdmin };
    logLevel: { NOTHING: number };
  };
  return new Kafka({
    clientId: randomName("convergence"),
    brokers,
    logLevel: logLevel.NOTHING,
  }).admin();
}

export interface Pipeline {
  sim: Simulator;
  rest: RestServer;
  roles: RoleProcess[];
  names: Names;
  shards: number;
  /** The gateway's WebSocket base URL. */
  url: string;
  /** True once everything the simulator wrote so far went through to the feeds. */
  drained(): Promise<boolean>;
  /** Waits for `drained()`, failing after `timeoutMs` with what is still in flight. */
  drain(timeoutMs: number): Promise<void>;
  /**
   * For a mismatch report: the DocEvents about `uuid` still in DRIVE_EVENTS (event, shard, users
   * routed) and the changes about it in `user`'s retained feed.
   */
  trace(
    user: string,
    uuid: string,
    name: (uuid: string) => string,
  ): Promise<{ events: string[]; feed: string[] }>;
  /** A whole scroll of folder `id` for `user` (with the user's current groups), as ids. */
  scroll(user: string, id: string): Promise<string[]>;
  /**
   * Where the ingest's root index (KV drive_roots) disagrees with the simulator about the
   * given roots and users: path, or users subscribed (among `users`).
   */
  rootIndexDiff(users: readonly string[], name: (uuid: string) => string): Promise<string[]>;
  /** Each user's last feed position (null: nothing in their feed). */
  lastPositions(users: readonly string[]): Promise<Map<string, number | null>>;
  close(): Promise<void>;
}

export interface PipelineOptions {
  natsUrl: string;
  brokers: string[];
  shards: number;
  /** Extra DRIVECAST_* settings for every role. */
  env?: Record<string, string>;
}

const feedCodec = msgpackCodec<FeedEntry>();
const eventCodec = msgpackCodec<DocEvent>();
const rootCodec = msgpackCodec<RootEntry>();
const rpcRequestCodec = msgpackCodec<RpcRequest>();
const rpcReplyCodec = msgpackCodec<RpcReply>();
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

interface ConsumerInfoJson {
  name: string;
  num_pending: number;
  num_ack_pending: number;
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const topic = randomName("audit");
  const groupId = randomName("group");
  const sim = createSimulator({
    audit: await kafkaAuditSink({ brokers: options.brokers, topic }),
    // The workload writes thousands of entries; the test never reads them back.
    auditLogLimit: 100,
  });
  const rest = await startRestServer(sim, { host: "127.0.0.1", port: 0 });
  const prefix = randomName("C");
  const naming = { prefix: `${prefix}_`, subjectPrefix: `${prefix}.` };
  const names = new Names(naming);
  const gatewayPort = await freePort();
  const env = {
    DRIVECAST_NATS_URL: options.natsUrl,
    DRIVECAST_NUXEO_URL: rest.url,
    DRIVECAST_NUXEO_USER: "Administrator",
    DRIVECAST_NUXEO_PASSWORD: "Administrator",
    DRIVECAST_KAFKA_BROKERS: options.brokers.join(","),
    DRIVECAST_KAFKA_TOPICS: topic,
    DRIVECAST_KAFKA_GROUP: groupId,
    DRIVECAST_NAME_PREFIX: naming.prefix,
    DRIVECAST_SUBJECT_PREFIX: naming.subjectPrefix,
    DRIVECAST_SHARDS: String(options.shards),
    DRIVECAST_GATEWAY_HOST: "127.0.0.1",
    DRIVECAST_GATEWAY_PORT: String(gatewayPort),
    DRIVECAST_LOG_LEVEL: "warn",
    ...options.env,
  };
  const roles: RoleProcess[] = [];
  const bus: Bus = await connectNatsBus({ servers: options.natsUrl, name: "convergence-test" });
  const admin = kafkaAdmin(options.brokers);
  await admin.connect();
  try {
    // Sequential starts: the changeset creates DRIVE_FEEDS, which the gateway reads.
    roles.push(await startRole("ingest", env));
    roles.push(await startRole("changeset", env));
    roles.push(await startRole("gateway", env));
  } catch (err) {
    for (const r of roles.reverse()) await r.kill("SIGTERM");
    await Promise.allSettled([admin.disconnect(), bus.close(), rest.close(), sim.close()]);
    throw err;
  }

  // Devices started before the changeset leased every shard would only collect `not_ready`
  // scroll answers: wait until each shard's RPC subject has a responder.
  for (let shard = 0; shard < options.shards; shard++) {
    await waitFor(
      () =>
        bus.request(names.rpcSubject(shard), utf8.encode("?"), 2_000).then(
          () => true,
          (err: unknown) => !(err instanceof NoRespondersError),
        ),
      60_000,
      () => `a changeset worker serving drive.rpc.${shard}`,
    );
  }

  const jsApi = async <T>(subject: string): Promise<T> =>
    JSON.parse(fromUtf8.decode(await bus.request(subject, utf8.encode("{}"), 5_000))) as T;

  /** What is still in flight, or null when drained. */
  const inFlight = async (): Promise<string | null> => {
    await sim.flush();
    const high = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const done = new Map(committed?.partitions.map((p) => [p.partition, Number(p.offset)]));
    for (const p of high) {
      const at = done.get(p.partition) ?? -1;
      // A partition never written to has high watermark 0 and no committed offset (-1).
      if (Number(p.offset) > 0 && at < Number(p.offset)) {
        return `kafka partition ${p.partition}: committed ${at} of ${p.offset}`;
      }
    }
    const list = await jsApi<{ consumers?: ConsumerInfoJson[]; error?: { description: string } }>(
      `$JS.API.CONSUMER.LIST.${names.eventsStream}`,
    );
    if (list.error !== undefined) return `consumer list: ${list.error.description}`;
    for (const c of list.consumers ?? []) {
      if (c.num_pending > 0 || c.num_ack_pending > 0) {
        return `consumer ${c.name}: ${c.num_pending} pending, ${c.num_ack_pending} unacked`;
      }
    }
    return null;
  };

  return {
    sim,
    rest,
    roles,
    names,
    shards: options.shards,
    url: `ws://127.0.0.1:${gatewayPort}`,
    drained: async () => (await inFlight()) === null,
    async drain(timeoutMs) {
      let last: string | null = "not checked yet";
      await waitFor(
        async () => (last = await inFlight()) === null,
        timeoutMs,
        () => `the pipeline to drain; still in flight: ${last}`,
      );
    },
    async trace(user, uuid, name) {
      const events: string[] = [];
      // The user's own shard: the stream its actor reads, in order.
      for (const shard of [shardOf(user, options.shards)]) {
        for (let seq = 1; ;) {
          const batch = await bus.streams.read(names.eventsStream, names.events(shard), seq, 256);
          if (batch.length === 0) break;
          for (const m of batch) {
            const e = eventCodec.decode(m.data);
            if (e.docUuid !== uuid) continue;
            events.push(
              `${e.eventId}@#${m.seq} t${String(e.eventDate).slice(-6)} ${e.users.includes(user) ? "for" : "NOT for"} ${user}` +
                ` parent ${e.doc?.parentUid == null ? "-" : name(e.doc.parentUid)}${e.doc?.isTrashed ? " trashed" : ""}` +
                `${e.before === null ? "" : ` before ${name(e.before.parentUid)}`}`,
            );
          }
          seq = (batch[batch.length - 1] as { seq: number }).seq + 1;
        }
      }
      // Events on the documents above it (where it was last seen), on the user's shard.
      let lastPath: string | null = null;
      const shard = shardOf(user, options.shards);
      const above: string[] = [];
      for (let pass = 0; pass < 2; pass++) {
        for (let seq = 1; ;) {
          const batch = await bus.streams.read(names.eventsStream, names.events(shard), seq, 256);
          if (batch.length === 0) break;
          for (const m of batch) {
            const e = eventCodec.decode(m.data);
            if (pass === 0) {
              if (e.docUuid === uuid && e.doc !== null) lastPath = e.doc.path;
              continue;
            }
            if (lastPath === null || e.docUuid === uuid) continue;
            if (e.docPath === "" || !lastPath.startsWith(`${e.docPath}/`)) continue;
            if (e.eventId === "documentCreated" || e.eventId === "documentModified") continue;
            above.push(
              `${e.eventId} on ${name(e.docUuid)}@s${shard}#${m.seq} ${e.users.includes(user) ? "for" : "NOT for"} ${user}`,
            );
          }
          seq = (batch[batch.length - 1] as { seq: number }).seq + 1;
        }
      }
      events.push(...above.slice(-4).map((a) => `above: ${a}`));
      const feed: string[] = [];
      const subject = names.feed(shardOf(user, options.shards), user);
      for (let seq = 1; ;) {
        const batch = await bus.streams.read(names.feedsStream, subject, seq, 256);
        if (batch.length === 0) break;
        for (const m of batch) {
          const entry = feedCodec.decode(m.data);
          const at = String(entry.summary.upperBound).slice(-9, -3);
          if (entry.summary.hasTooManyChanges) feed.push(`${at}: tooMany`);
          for (const c of entry.summary.fileSystemChanges) {
            if (c.docUuid !== uuid) continue;
            feed.push(
              `${at}: ${c.eventId} ${c.fileSystemItem === null ? "null" : `parent ${name(uuidOf(c.fileSystemItem.parentId))}`}`,
            );
          }
        }
        seq = (batch[batch.length - 1] as { seq: number }).seq + 1;
      }
      return { events, feed };
    },
    async scroll(user, id) {
      const info = sim.user(user);
      const out: string[] = [];
      let scrollId: string | null = null;
      for (;;) {
        const request: RpcRequest = {
          type: "scrollDescendants",
          user,
          groups: info?.extendedGroups ?? [],
          isAdministrator: info?.isAdministrator ?? false,
          id,
          scrollId,
          batchSize: 1000,
          keepAliveMs: 60_000,
        };
        const reply = rpcReplyCodec.decode(
          await bus.request(
            names.rpcSubject(shardOf(user, options.shards)),
            rpcRequestCodec.encode(request),
            10_000,
          ),
        );
        if (reply.fileSystemItems.length === 0) return out;
        for (const item of reply.fileSystemItems) out.push(item.id);
        scrollId = reply.scrollId;
      }
    },
    async rootIndexDiff(users, name) {
      const kv = await bus.kv({ bucket: names.rootsBucket });
      const indexed = new Map<string, RootEntry>();
      for (const key of await kv.keys()) {
        const e = await kv.get(key);
        if (e === null) continue;
        const entry = rootCodec.decode(e.value);
        if (entry.uid !== "") indexed.set(entry.uid, entry);
      }
      const truth = new Map<string, Set<string>>();
      for (const user of users) {
        for (const uid of sim.rootsOf(user)) {
          let set = truth.get(uid);
          if (set === undefined) truth.set(uid, (set = new Set()));
          set.add(user);
        }
      }
      const out: string[] = [];
      for (const [uid, expected] of truth) {
        const entry = indexed.get(uid);
        const path = sim.get(uid)?.path;
        if (entry === undefined) {
          out.push(`${name(uid)}: not indexed (users ${[...expected].join(",")})`);
          continue;
        }
        if (entry.path !== path) out.push(`${name(uid)}: path ${entry.path} ≠ ${path}`);
        const got = entry.users.filter((u) => users.includes(u));
        const want = [...expected].sort();
        if (got.join() !== want.join())
          out.push(`${name(uid)}: users ${got.join()} ≠ ${want.join()}`);
      }
      return out;
    },
    async lastPositions(users) {
      const out = new Map<string, number | null>();
      for (const user of users) {
        const subject = names.feed(shardOf(user, options.shards), user);
        const m = await bus.streams.lastBySubject(names.feedsStream, subject);
        out.set(user, m === null ? null : feedCodec.decode(m.data).summary.upperBound);
      }
      return out;
    },
    async close() {
      for (const r of [...roles].reverse()) await r.kill("SIGTERM");
      await Promise.allSettled([admin.disconnect(), bus.close(), rest.close()]);
      await sim.close();
    },
  };
}

/** One row of a device's tree or of the expected tree (DriveTree.snapshot's shape). */
export interface Row {
  id: string;
  parentId: string;
  name: string;
  folder: boolean;
  digest?: string;
}

export interface TreeDiff {
  missing: Row[];
  extra: Row[];
  changed: { expected: Row; actual: Row }[];
}

export function diffTrees(actual: readonly Row[], expected: readonly Row[]): TreeDiff {
  const a = new Map(actual.map((r) => [r.id, r]));
  const e = new Map(expected.map((r) => [r.id, r]));
  const diff: TreeDiff = { missing: [], extra: [], changed: [] };
  for (const [id, row] of e) {
    const got = a.get(id);
    if (got === undefined) diff.missing.push(row);
    else if (JSON.stringify(got) !== JSON.stringify(row))
      diff.changed.push({ expected: row, actual: got });
  }
  for (const [id, row] of a) if (!e.has(id)) diff.extra.push(row);
  return diff;
}

export const uuidOf = (id: string): string => id.slice(id.lastIndexOf("#") + 1);
