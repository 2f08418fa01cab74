// @drivecast/testkit: dev only. Provisions and starts real nats-server and Apache Kafka on free
// loopback ports for integration and end-to-end tests.

export { startNatsServer } from "./nats-server.js";
export { startKafka } from "./kafka.js";
export { freePort, randomName } from "./names.js";
export {
  KAFKA_VERSION,
  NATS_SERVER_MIN_VERSION,
  NATS_SERVER_VERSION,
  cacheDir,
  provision,
  provisionKafka,
  provisionNatsServer,
} from "./provision.js";
export { MissingToolError, ProvisionError, ServerStartError, TestkitError } from "./errors.js";

export type {
  KafkaDistribution,
  KafkaHandle,
  KafkaOptions,
  NatsServerBinary,
  NatsServerHandle,
  NatsServerOptions,
  Provisioned,
  ProvisionSource,
} from "./types.js";
// Also carries the `declare module "vitest"` augmentation typing inject("kafkaBrokers").
export type { TestkitProvidedContext } from "./vitest-context.js";
