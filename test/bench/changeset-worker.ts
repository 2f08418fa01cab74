// Child process of changeset.bench.ts: one changeset worker on NATS, Nuxeo answered in process
// (groups from the synthetic world; no root re-evaluations happen in the benchmark's load), so
// the process measures the worker alone. Reports its counters, CPU and memory over IPC.
// argv[2]: JSON `{ natsUrl, config }` (config: a partial ChangesetConfig).
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { connectNatsBus, createLogger, Registry, type Counter } from "@drivecast/bus";
import {
  DEFAULT_CHANGESET_CONFIG,
  startChangeset,
  type ChangesetConfig,
} from "@drivecast/changeset";
import { groupsOf } from "./changeset-world.js";

const { natsUrl, config } = JSON.parse(process.argv[2]!) as {
  natsUrl: string;
  config: Partial<ChangesetConfig> & { workerId: string };
};
const bus = await connectNatsBus({ servers: natsUrl, name: config.workerId });
const registry = new Registry();
const handle = await startChangeset(
  { ...DEFAULT_CHANGESET_CONFIG, deviceSweepMs: 0, ...config },
  {
    bus,
    nuxeo: {
      user: async (id) => ({ id, groups: groupsOf(id), isAdministrator: false }),
      documentsByIds: async () => new Map(),
      // No remote scan in this benchmark.
      // eslint-disable-next-line require-yield
      queryAll: async function* () {
        throw new Error("no remote scans in this benchmark");
      },
    },
    logger: createLogger({ name: "changeset", level: "info" }),
    registry,
  },
);

async function total(name: string): Promise<number> {
  const metric = registry.getSingleMetric(name) as Counter | undefined;
  if (!metric) return 0;
  return (await metric.get()).values.reduce((n, v) => n + v.value, 0);
}

async function report(): Promise<void> {
  const m = process.memoryUsage();
  process.send?.({
    type: "stats",
    at: Date.now(),
    events: await total("drivecast_changeset_events_total"),
    activations: await total("drivecast_changeset_actor_activations_total"),
    cpuMicros: process.cpuUsage().user + process.cpuUsage().system,
    rss: m.rss,
    heapUsed: m.heapUsed,
    owned: handle.owned().length,
  });
}

setInterval(() => void report(), 100);
// The measured pass's CPU profile (BENCH_WORKER_PROF): started and stopped by the benchmark.
const profiler = new Session();
process.on("message", (m: { type: string; dir?: string }) => {
  if (m.type === "profile-start") {
    profiler.connect();
    void profiler.post("Profiler.enable").then(() => profiler.post("Profiler.start"));
  }
  if (m.type === "profile-stop") {
    void profiler.post("Profiler.stop").then(({ profile }) => {
      writeFileSync(join(m.dir!, `worker-${Date.now()}.cpuprofile`), JSON.stringify(profile));
    });
  }
  if (m.type === "gc") {
    (globalThis as { gc?: () => void }).gc?.();
    void report();
  }
  if (m.type === "stop") {
    void handle
      .drain()
      .then(() => bus.close())
      .then(() => process.exit(0));
  }
});
process.send?.({ type: "ready" });
