// vitest globalSetup for the integration and e2e projects: provisions the servers if needed and
// starts ONE Kafka broker for the run (a JVM start is too slow to pay per test file), handed to
// tests as `inject("kafkaBrokers")`. nats-server starts in milliseconds, so each test file starts
// its own with startNatsServer().
//
// Both projects list this file, and vitest runs a project's global setup for each project, so
// the broker is reference-counted on globalThis: the first setup starts it, the last teardown
// stops it.

import type { TestProject } from "vitest/node";
import { startKafka } from "./kafka.js";
import { provision } from "./provision.js";
import type { KafkaHandle } from "./types.js";
import type {} from "./vitest-context.js";

interface Shared {
  users: number;
  kafka: Promise<KafkaHandle>;
}

const KEY = Symbol.for("drivecast.testkit.kafka");
const registry = globalThis as unknown as Record<symbol, Shared | undefined>;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let shared = registry[KEY];
  if (shared === undefined) {
    const kafka = provision().then(() => startKafka());
    shared = { users: 0, kafka };
    registry[KEY] = shared;
    // A failed start must not be reused by the next project's setup.
    kafka.catch(() => {
      if (registry[KEY] === shared) registry[KEY] = undefined;
    });
  }
  shared.users++;
  let kafka: KafkaHandle;
  try {
    kafka = await shared.kafka;
  } catch (err) {
    shared.users--;
    throw err;
  }
  project.provide("kafkaBrokers", kafka.brokers);

  let tornDown = false;
  return async () => {
    if (tornDown) return;
    tornDown = true;
    const current = shared;
    if (--current.users > 0) return;
    if (registry[KEY] === current) registry[KEY] = undefined;
    await kafka.stop();
  };
}
