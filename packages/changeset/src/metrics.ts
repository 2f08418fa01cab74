// The changeset worker's Prometheus metrics (names documented in the README).
import { Counter, Gauge, Histogram, type Registry } from "@drivecast/bus";

/**
 * An `inc(key, labels)` for `counter`. `counter.inc(labels)` hashes the label object on every
 * call, a visible share of a busy worker's allocations (once per DocEvent, per stored set, per
 * change); here the child of each label combination is made once, kept under `key`, and reused.
 */
function cachedInc<T extends string>(counter: Counter<T>) {
  const children = new Map<string, { inc(): void }>();
  return (key: string, labels: Partial<Record<T, string>>): void => {
    let child = children.get(key);
    if (child === undefined) children.set(key, (child = counter.labels(labels)));
    child.inc();
  };
}

export function createChangesetMetrics(registry: Registry) {
  const registers = [registry];
  const m = {
    shardsOwned: new Gauge({
      name: "drivecast_changeset_shards_owned",
      help: "Shards leased by this worker",
      registers,
    }),
    shardOwned: new Gauge({
      name: "drivecast_changeset_shard_owned",
      help: "1 for each shard this worker leases (absent otherwise)",
      labelNames: ["shard"],
      registers,
    }),
    leaseEvents: new Counter({
      name: "drivecast_changeset_lease_events_total",
      help: "Shard leases acquired, released and lost",
      labelNames: ["type"],
      registers,
    }),
    actorsActive: new Gauge({
      name: "drivecast_changeset_actors_active",
      help: "Active user actors",
      registers,
    }),
    activations: new Counter({
      name: "drivecast_changeset_actor_activations_total",
      help: "User actors activated",
      registers,
    }),
    passivations: new Counter({
      name: "drivecast_changeset_actor_passivations_total",
      help: "User actors passivated (idle, over the cap, or their shard stopped)",
      registers,
    }),
    events: new Counter({
      name: "drivecast_changeset_events_total",
      help: "DocEvents by outcome (changed, unchanged, malformed, failed)",
      labelNames: ["outcome"],
      registers,
    }),
    changes: new Counter({
      name: "drivecast_changeset_changes_total",
      help: "Changes stored in change sets, by eventId",
      labelNames: ["eventId"],
      registers,
    }),
    flushSize: new Histogram({
      name: "drivecast_changeset_flush_changes",
      help: "Changes per stored change set",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
      registers,
    }),
    flushes: new Counter({
      name: "drivecast_changeset_flushes_total",
      help: "Change sets stored, by what triggered the flush",
      labelNames: ["reason", "tooMany"],
      registers,
    }),
    windowScale: new Gauge({
      name: "drivecast_changeset_window_scale",
      help: "Flush window multiplier (1 = nominal; grows under overload)",
      registers,
    }),
    windowSeconds: new Gauge({
      name: "drivecast_changeset_flush_window_seconds",
      help: "Current flush windows (quiet period, maximum delay)",
      labelNames: ["window"],
      registers,
    }),
    lag: new Gauge({
      name: "drivecast_changeset_shard_lag_seconds",
      help: "Age of the newest DocEvent of the last fetch, per shard (0 when caught up)",
      labelNames: ["shard"],
      registers,
    }),
    inflight: new Gauge({
      name: "drivecast_changeset_shard_inflight",
      help: "Unacknowledged DocEvents in hand, per shard",
      labelNames: ["shard"],
      registers,
    }),
    devicesExpired: new Counter({
      name: "drivecast_changeset_devices_expired_total",
      help: "Device registrations deleted after the device max age",
      registers,
    }),
  };
  const events = cachedInc(m.events);
  const flushes = cachedInc(m.flushes);
  const changes = cachedInc(m.changes);
  return {
    ...m,
    countEvent: (outcome: string) => events(outcome, { outcome }),
    countFlush: (reason: string, tooMany: boolean) =>
      flushes(`${reason}/${tooMany}`, { reason, tooMany: String(tooMany) }),
    countChange: (eventId: string) => changes(eventId, { eventId }),
  };
}

export type ChangesetMetrics = ReturnType<typeof createChangesetMetrics>;
