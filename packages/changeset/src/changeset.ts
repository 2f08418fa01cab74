// The changeset worker: leases shards, runs a ShardProcessor per owned shard, and wires the
// actors to Nuxeo (groups, root states), the feeds, the flush-window controller and metrics.
import type { Bus, Kv, Logger, Registry } from "@drivecast/bus";
import { Names, type Naming } from "@drivecast/protocol";
import { LRUCache } from "lru-cache";
import { realTimers, type ActorEnv, type Principal, type Timers } from "./actor.js";
import type { UserRoot } from "./compute/index.js";
import { sweepDevices } from "./devices.js";
import { createFeedWriter } from "./feeds.js";
import { createLeaser, leaseBucketTtlMs, type Leaser } from "./leases.js";
import { createChangesetMetrics } from "./metrics.js";
import { loadRootStates, type RootDocumentSource } from "./root-states.js";
import { watchRoots } from "./roots-view.js";
import { createScrollService, type ScrollConfig, type ScrollNuxeo } from "./scroll.js";
import { ShardProcessor } from "./shard.js";
import { createWindowController } from "./window.js";

/** What the changeset needs from Nuxeo: a subset of @drivecast/nuxeo's client. */
export interface ChangesetNuxeo extends RootDocumentSource, ScrollNuxeo {
  user(id: string): Promise<{ id: string; groups: string[]; isAdministrator: boolean } | null>;
}

export interface ChangesetConfig {
  /** Unique per worker process (letters, digits, - and _). */
  workerId: string;
  /** S, fixed for a cluster. */
  shardCount: number;
  naming: Naming;
  replicas: number;
  leaseTtlMs: number;
  /** Flush after this long without a new change for the user. */
  quietMs: number;
  /** Flush at the latest this long after the first pending change. */
  maxDelayMs: number;
  /** Upper bound of widened windows under overload (the seed's "wait 30 s for more"). */
  maxWindowMs: number;
  /** Stored change sets per second per worker above which windows widen. */
  flushBudgetPerSecond: number;
  changeLimit: number;
  /** DRIVE_FEEDS retention: sets kept per user, and their max age. */
  feedMaxPerUser: number;
  feedMaxAgeMs: number;
  /** DocEvents fetched at once per shard. */
  batchSize: number;
  /** Ack wait of the shard consumers; deliveries in hand are kept alive every third of it. */
  ackWaitMs: number;
  /** Unacknowledged DocEvents per shard at most (actors flush early near it). */
  maxAckPending: number;
  actorIdleMs: number;
  /** Active actors per worker at most (shared among its shards). */
  maxActors: number;
  groupsTtlMs: number;
  groupsCacheSize: number;
  /** How long giving a shard back waits for in-flight work before nak'ing the rest. */
  releaseTimeoutMs: number;
  /** Device records not seen for this long are deleted (by the holder of shard 0). */
  deviceMaxAgeMs: number;
  /** How often the holder of shard 0 sweeps device records (0: never). */
  deviceSweepMs: number;
}

export const DEFAULT_CHANGESET_CONFIG: Omit<ChangesetConfig, "workerId"> = {
  shardCount: 64,
  naming: { prefix: "", subjectPrefix: "" },
  replicas: 1,
  leaseTtlMs: 10_000,
  quietMs: 250,
  maxDelayMs: 2_000,
  maxWindowMs: 30_000,
  flushBudgetPerSecond: 5_000,
  changeLimit: 1000,
  feedMaxPerUser: 1000,
  feedMaxAgeMs: 7 * 24 * 3600_000,
  batchSize: 256,
  ackWaitMs: 4_000,
  maxAckPending: 1_000,
  actorIdleMs: 120_000,
  maxActors: 200_000,
  groupsTtlMs: 300_000,
  groupsCacheSize: 200_000,
  releaseTimeoutMs: 10_000,
  deviceMaxAgeMs: 7 * 24 * 3600_000,
  deviceSweepMs: 3600_000,
};

export interface ChangesetDeps {
  bus: Bus;
  nuxeo: ChangesetNuxeo;
  logger: Logger;
  registry: Registry;
  /** Clock for positions, leases and windows. Default Date.now. */
  now?: () => number;
  /** Timers for debouncing and back-off. Default real (unref'd) timers. */
  timers?: Timers;
  /** Remote scan limits (batch size, keep-alive cap, cache size…). Default DEFAULT_SCROLL_CONFIG. */
  scroll?: Partial<ScrollConfig>;
}

export interface ChangesetHandle {
  /** Connected and leasing works (a worker owning no shard, W > S, is still ready). */
  ready(): boolean;
  owned(): number[];
  readonly leaser: Leaser;
  /** Give every shard back gracefully and stop. */
  drain(): Promise<void>;
}

/** Time after an unclean takeover before the first fetch: the old deliveries are then all due. */
export function graceMsFor(ackWaitMs: number): number {
  // The margin covers the server's redelivery timer, which runs a little after the deadline.
  return ackWaitMs + Math.min(1000, Math.floor(ackWaitMs / 2));
}

export async function startChangeset(
  config: ChangesetConfig,
  deps: ChangesetDeps,
): Promise<ChangesetHandle> {
  const { bus, nuxeo, logger } = deps;
  const now = deps.now ?? Date.now;
  const timers = deps.timers ?? realTimers;
  const names = new Names(config.naming);
  const metrics = createChangesetMetrics(deps.registry);

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
  const rootsKv = await bus.kv({
    bucket: names.rootsBucket,
    history: 1,
    replicas: config.replicas,
  });
  const roots = await watchRoots(rootsKv);
  await roots.ready();
  // Remote scans are served by the worker that owns the user's shard (`drive.rpc.<shard>`).
  const scroll = createScrollService(
    {
      bus,
      names,
      nuxeo,
      logger,
      registry: deps.registry,
      roots: (user) => roots.forUser(user),
      // The groups the actors use, not the ones the gateway saw when the device connected.
      principal: (user) => principalOf(user, false),
    },
    deps.scroll,
  );
  const leasesKv = await bus.kv({
    bucket: names.shardsBucket,
    ttlMs: leaseBucketTtlMs(config.leaseTtlMs, config.ackWaitMs),
    history: 1,
    replicas: config.replicas,
  });

  const principals = new LRUCache<string, Principal>({
    max: config.groupsCacheSize,
    ttl: config.groupsTtlMs > 0 ? config.groupsTtlMs : undefined,
  });
  const feeds = createFeedWriter(bus, names, config.workerId);
  const shards = new Map<number, ShardProcessor>();
  const windows = createWindowController({
    budgetPerSecond: config.flushBudgetPerSecond,
    maxScale: Math.max(1, config.maxWindowMs / config.maxDelayMs),
    now,
  });
  const graceMs = graceMsFor(config.ackWaitMs);
  // A fetch must end well within the lease's safety margin (TTL/3), see shard.ts.
  const fetchWaitMs = Math.max(50, Math.min(1000, Math.floor(config.leaseTtlMs / 6)));
  let activeActors = 0;

  async function principalOf(user: string, fresh: boolean | undefined): Promise<Principal> {
    const hit = fresh ? undefined : principals.get(user);
    if (hit) return hit;
    const u = await nuxeo.user(user);
    // An unknown user (deleted in Nuxeo) keeps only its own name and Everyone.
    const p = { groups: u?.groups ?? [], isAdministrator: u?.isAdministrator ?? false };
    principals.set(user, p);
    return p;
  }

  const actorEnvFor = (shard: number): Omit<ActorEnv, "valid" | "onConflict"> => ({
    shard,
    feeds,
    principal: principalOf,
    roots: (user): UserRoot[] =>
      roots.forUser(user).map((r) => ({ repository: r.repository, uid: r.uid, path: r.path })),
    rootStates: (list) => loadRootStates(nuxeo, list),
    quietMs: config.quietMs,
    maxDelayMs: config.maxDelayMs,
    maxWindowMs: config.maxWindowMs,
    changeLimit: config.changeLimit,
    windowScale: () => windows.scale(),
    now,
    timers,
    retryDelayMs: (attempt) => Math.min(30_000, 250 * 2 ** Math.min(attempt - 1, 7)),
    onFlush(info) {
      windows.recordFlush();
      metrics.flushSize.observe(info.changes.length);
      metrics.countFlush(info.reason, info.hasTooManyChanges);
      for (const c of info.changes) metrics.countChange(c.eventId);
    },
    onComputeError(error, event) {
      metrics.countEvent("failed");
      logger.error(
        { err: error, shard, eventId: event.eventId, docUuid: event.docUuid, source: event.source },
        "change computation failed; this user's effect of the event is skipped",
      );
    },
    onError: (error, context) => logger.warn({ err: error, shard }, context),
  });

  const leaser = createLeaser({
    kv: leasesKv,
    workerId: config.workerId,
    shardCount: config.shardCount,
    leaseTtlMs: config.leaseTtlMs,
    now,
    onError: (error, context) => logger.warn({ err: error }, context),
    onEvent(event) {
      metrics.leaseEvents.inc({ type: event.type });
      if (event.type === "lost")
        logger.warn({ shard: event.shard, reason: event.reason }, "lease lost");
      else logger.info(event, `lease ${event.type}`);
    },
    host: {
      async start(lease) {
        const shard = lease.shard;
        const consumer = await bus.streams.consumer({
          stream: names.eventsStream,
          durable: `${config.naming.prefix}shard_${shard}`,
          filterSubjects: [names.events(shard)],
          ackWaitMs: config.ackWaitMs,
          maxAckPending: config.maxAckPending,
        });
        const labels = { shard: String(shard) };
        shards.set(
          shard,
          new ShardProcessor({
            lease,
            consumer,
            actorEnv: actorEnvFor(shard),
            batchSize: config.batchSize,
            fetchWaitMs,
            ackWaitMs: config.ackWaitMs,
            graceMs,
            maxAckPending: config.maxAckPending,
            idleMs: config.actorIdleMs,
            maxActors: () => Math.ceil(config.maxActors / Math.max(1, shards.size)),
            releaseTimeoutMs: config.releaseTimeoutMs,
            now,
            timers,
            hooks: {
              event: (outcome) => metrics.countEvent(outcome),
              processing: (state, detail) =>
                logger.info({ shard, ...detail }, `shard processing ${state}`),
              actors(delta, kind) {
                activeActors += delta;
                metrics.actorsActive.set(activeActors);
                if (kind === "activated") metrics.activations.inc(delta);
                else metrics.passivations.inc(-delta);
              },
              lag: (seconds) => metrics.lag.set(labels, seconds),
              inflight: (count) => metrics.inflight.set(labels, count),
              groupChanged(group, users) {
                for (const u of users) principals.delete(u);
                const stale: string[] = [];
                principals.forEach((p, u) => {
                  if (p.groups.includes(group)) stale.push(u);
                });
                for (const u of stale) principals.delete(u);
              },
              error: (error, context) => logger.warn({ err: error, shard }, context),
            },
          }),
        );
        metrics.shardsOwned.set(shards.size);
        metrics.shardOwned.set(labels, 1);
        scroll.serveShard(shard);
      },
      async release(shard) {
        const s = shards.get(shard);
        if (!s) return true;
        try {
          return await s.release();
        } finally {
          forget(shard);
        }
      },
      abort(shard) {
        shards.get(shard)?.abort("lease lost");
        forget(shard);
      },
    },
  });

  function forget(shard: number): void {
    scroll.releaseShard(shard);
    shards.delete(shard);
    const labels = { shard: String(shard) };
    metrics.shardsOwned.set(shards.size);
    metrics.shardOwned.remove(labels);
    metrics.lag.remove(labels);
    metrics.inflight.remove(labels);
  }

  // Windows and the device sweep run on their own timers.
  const every = setInterval(() => {
    metrics.windowScale.set(windows.adjust());
    metrics.windowSeconds.set({ window: "quiet" }, (config.quietMs * windows.scale()) / 1000);
    metrics.windowSeconds.set(
      { window: "maxDelay" },
      Math.min(config.maxDelayMs * windows.scale(), config.maxWindowMs) / 1000,
    );
  }, 1000);
  every.unref();
  let devicesKv: Kv | null = null;
  let sweeping = false;
  const sweep =
    config.deviceSweepMs > 0
      ? setInterval(() => {
          if (sweeping || !shards.has(0)) return;
          sweeping = true;
          void (async () => {
            devicesKv ??= await bus.kv({ bucket: names.devicesBucket });
            const result = await sweepDevices(devicesKv, now(), config.deviceMaxAgeMs, () =>
              shards.has(0),
            );
            metrics.devicesExpired.inc(result.deleted);
            if (result.deleted > 0) logger.info(result, "expired device registrations deleted");
          })()
            .catch((error: unknown) => logger.warn({ err: error }, "device registry sweep"))
            .finally(() => (sweeping = false));
        }, config.deviceSweepMs)
      : null;
  sweep?.unref();

  await leaser.tick();
  leaser.start();
  logger.info(
    { workerId: config.workerId, shardCount: config.shardCount, leaseTtlMs: config.leaseTtlMs },
    "changeset started",
  );
  return {
    leaser,
    owned: () => leaser.owned(),
    ready: () => bus.isConnected() && leaser.healthy(),
    async drain() {
      clearInterval(every);
      if (sweep) clearInterval(sweep);
      await leaser.stop();
      scroll.close();
      roots.stop();
    },
  };
}
