// The changeset worker: leases shards, runs a ShardProcessor per owned shard.
import {
  Counter,
  Gauge,
  Histogram,
  type Bus,
  type Logger,
  type Registry,
} from "@drivecast/bus";
import { Names, type Naming } from "@drivecast/protocol";
import { LRUCache } from "lru-cache";
import type { ActorEnv, Principal } from "./actor.js";
import type { UserRoot } from "./compute/index.js";
import { createFeedWriter } from "./feeds.js";
import { createLeaser, type Leaser } from "./leases.js";
import { loadRootStates, type RootDocumentSource } from "./root-states.js";
import { watchRoots } from "./roots-view.js";
import { ShardProcessor } from "./shard.js";

/** What the changeset needs from Nuxeo: a subset of @drivecast/nuxeo's client. */
export interface ChangesetNuxeo extends RootDocumentSource {
  user(id: string): Promise<{ id: string; groups: string[]; isAdministrator: boolean } | null>;
}

export interface ChangesetConfig {
  workerId: string;
  shardCount: number;
  naming: Naming;
  leaseTtlMs: number;
  quietMs: number;
  maxDelayMs: number;
  /** Upper bound for widened windows under overload (the seed's "wait 30 s for more"). */
  maxWindowMs: number;
  changeLimit: number;
  feedMaxPerUser: number;
  feedMaxAgeMs: number;
  replicas: number;
  batchSize: number;
  actorIdleMs: number;
  groupsTtlMs: number;
  groupsCacheSize: number;
  ackWaitMs: number;
}

export const DEFAULT_CHANGESET_CONFIG: Omit<ChangesetConfig, "workerId"> = {
  shardCount: 64,
  naming: { prefix: "", subjectPrefix: "" },
  leaseTtlMs: 10_000,
  quietMs: 250,
  maxDelayMs: 2_000,
  maxWindowMs: 30_000,
  changeLimit: 1000,
  feedMaxPerUser: 1000,
  feedMaxAgeMs: 7 * 24 * 3600_000,
  replicas: 1,
  batchSize: 256,
  actorIdleMs: 120_000,
  groupsTtlMs: 300_000,
  groupsCacheSize: 100_000,
  ackWaitMs: 60_000,
};

export interface ChangesetDeps {
  bus: Bus;
  nuxeo: ChangesetNuxeo;
  logger: Logger;
  registry: Registry;
  now?: () => number;
}

export interface ChangesetHandle {
  ready(): boolean;
  owned(): number[];
  readonly leaser: Leaser;
  drain(): Promise<void>;
}

export async function startChangeset(
  config: ChangesetConfig,
  deps: ChangesetDeps,
): Promise<ChangesetHandle> {
  const { bus, nuxeo, logger, registry } = deps;
  const now = deps.now ?? Date.now;
  const names = new Names(config.naming);

  await bus.streams.ensure({
    name: names.feedsStream,
    subjects: [names.feedsSubjects],
    maxMsgsPerSubject: config.feedMaxPerUser,
    maxAgeMs: config.feedMaxAgeMs,
    replicas: config.replicas,
    duplicateWindowMs: 10 * 60_000,
  });
  if (!(await bus.streams.info(names.eventsStream))) {
    // The ingest owns this stream's settings; create it with the same defaults if we are first.
    await bus.streams.ensure({
      name: names.eventsStream,
      subjects: [names.eventsSubjects],
      maxAgeMs: 7 * 24 * 3600_000,
      duplicateWindowMs: 10 * 60_000,
      replicas: config.replicas,
    });
  }
  const rootsKv = await bus.kv({ bucket: names.rootsBucket, history: 1, replicas: config.replicas });
  const roots = await watchRoots(rootsKv);
  await roots.ready();
  const leasesKv = await bus.kv({
    bucket: names.shardsBucket,
    ttlMs: config.leaseTtlMs,
    history: 1,
    replicas: config.replicas,
  });

  const owned = new Gauge({ name: "drivecast_changeset_shards_owned", help: "Shards leased by this worker", registers: [registry] });
  const actorsActive = new Gauge({ name: "drivecast_changeset_actors_active", help: "Active user actors", registers: [registry] });
  const events = new Counter({ name: "drivecast_changeset_events_total", help: "DocEvents by outcome", labelNames: ["outcome"], registers: [registry] });
  const changes = new Counter({ name: "drivecast_changeset_changes_total", help: "Changes emitted, by eventId", labelNames: ["eventId"], registers: [registry] });
  const flushSize = new Histogram({ name: "drivecast_changeset_flush_changes", help: "Changes per stored change set", buckets: [1, 2, 5, 10, 50, 100, 500, 1000], registers: [registry] });
  const windowScaleGauge = new Gauge({ name: "drivecast_changeset_window_scale", help: "Flush window multiplier (1 = nominal; grows under overload)", registers: [registry] });
  const backlogGauge = new Gauge({ name: "drivecast_changeset_backlog", help: "Unacknowledged DocEvents per shard", labelNames: ["shard"], registers: [registry] });

  const principals = new LRUCache<string, Principal>({
    max: config.groupsCacheSize,
    ttl: config.groupsTtlMs,
  });
  const feeds = createFeedWriter(bus, names);
  const shards = new Map<number, ShardProcessor>();

  function totalBacklog(): number {
    let n = 0;
    for (const s of shards.values()) n += s.backlog();
    return n;
  }

  // Under overload the windows widen: more coalescing, fewer sets, bounded cost.
  function windowScale(): number {
    const perShard = totalBacklog() / Math.max(1, shards.size);
    const scale = Math.min(config.maxWindowMs / config.maxDelayMs, Math.max(1, perShard / config.batchSize));
    windowScaleGauge.set(scale);
    return scale;
  }

  const actorEnvFor = (shard: number): ActorEnv => ({
    shard,
    feeds,
    async principal(user, fresh) {
      const hit = fresh ? undefined : principals.get(user);
      if (hit) return hit;
      const u = await nuxeo.user(user);
      // An unknown user (deleted in Nuxeo) keeps only its own name and Everyone.
      const p = { groups: u?.groups ?? [], isAdministrator: u?.isAdministrator ?? false };
      principals.set(user, p);
      return p;
    },
    roots: (user): UserRoot[] =>
      roots.forUser(user).map((r) => ({ repository: r.repository, uid: r.uid, path: r.path })),
    rootStates: (list) => loadRootStates(nuxeo, list),
    quietMs: config.quietMs,
    maxDelayMs: config.maxDelayMs,
    changeLimit: config.changeLimit,
    windowScale,
    now,
    onFlush(summary) {
      flushSize.observe(summary.fileSystemChanges.length);
      for (const c of summary.fileSystemChanges) changes.inc({ eventId: c.eventId });
    },
    onError: (error, context) => logger.warn({ err: error, shard }, context),
  });

  const leaser = createLeaser({
    kv: leasesKv,
    workerId: config.workerId,
    shardCount: config.shardCount,
    leaseTtlMs: config.leaseTtlMs,
    onError: (error, context) => logger.warn({ err: error }, context),
    host: {
      async start(shard) {
        const consumer = await bus.streams.consumer({
          stream: names.eventsStream,
          durable: `${config.naming.prefix}shard_${shard}`,
          filterSubjects: [names.events(shard)],
          ackWaitMs: config.ackWaitMs,
          maxAckPending: 10_000,
        });
        shards.set(
          shard,
          new ShardProcessor({
            shard,
            consumer,
            actorEnv: actorEnvFor(shard),
            batchSize: config.batchSize,
            idleMs: config.actorIdleMs,
            retryDelayMs: 1000,
            onEvent: (outcome) => events.inc({ outcome }),
            onError: (error, context) => logger.warn({ err: error, shard }, context),
          }),
        );
        owned.set(shards.size);
        logger.info({ shard }, "shard acquired");
      },
      async stop(shard) {
        const s = shards.get(shard);
        shards.delete(shard);
        owned.set(shards.size);
        if (s) await s.stop().catch((e) => logger.warn({ err: e, shard }, "stopping shard"));
        logger.info({ shard }, "shard released");
      },
    },
  });
  await leaser.tick();

  const gauges = setInterval(() => {
    let n = 0;
    for (const [shard, s] of shards) {
      n += s.actors.size;
      backlogGauge.set({ shard: String(shard) }, s.backlog());
    }
    actorsActive.set(n);
  }, 5_000);
  gauges.unref();

  logger.info({ workerId: config.workerId, owned: leaser.owned().length }, "changeset started");
  return {
    leaser,
    owned: () => leaser.owned(),
    ready: () => bus.isConnected() && leaser.owned().length > 0,
    async drain() {
      clearInterval(gauges);
      await leaser.stop();
      roots.stop();
    },
  };
}
