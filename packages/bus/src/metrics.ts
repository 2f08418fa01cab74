// Prometheus metrics for the workers. Re-exported from prom-client so roles, which may import
// only protocol and bus, share one metrics library and one registry per process.
export { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from "prom-client";

import { Registry, collectDefaultMetrics } from "prom-client";

/** A registry with the process metrics (CPU, memory, event loop lag) and a `role` label. */
export function createRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: "drivecast_" });
  return registry;
}
