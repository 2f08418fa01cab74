// @drivecast/bus: the bus interfaces, their NATS and in-memory implementations, and the plumbing
// every worker shares (admin endpoint, logs, retries).
export type {
  Bus,
  BusMessage,
  Subscription,
  RequestHandler,
  StreamConfig,
  StreamInfo,
  AppendOptions,
  AppendResult,
  StoredMessage,
  ConsumerConfig,
  Delivery,
  Consumer,
  Streams,
  KvEntry,
  KvWatchEvent,
  KvWatcher,
  KvConfig,
  Kv,
} from "./types.js";
export {
  BusError,
  WrongRevisionError,
  WrongLastSequenceError,
  NoRespondersError,
  TimeoutError,
  DisconnectedError,
  RemoteError,
  StreamNotFoundError,
  ConsumerNotFoundError,
} from "./errors.js";
export { connectNatsBus } from "./bus-nats.js";
export type { NatsBusOptions } from "./bus-nats.js";
export { createMemoryBus } from "./bus-memory.js";
export type { MemoryBus, MemoryBusOptions } from "./bus-memory.js";
export { subjectMatches } from "./subject.js";
export { startAdminServer } from "./admin.js";
export type { AdminServer, AdminServerOptions, Readiness } from "./admin.js";
export { createLogger, silentLogger } from "./log.js";
export type { Logger, BusLogger, LoggerOptions, LogLevel } from "./log.js";
export { retry, backoffDelay, isRetriableError } from "./retry.js";
export type { RetryOptions } from "./retry.js";
export { settings, commonConfig, ConfigError } from "./config.js";
export type { Settings, Env, CommonConfig } from "./config.js";
export { createRegistry, Registry, Counter, Gauge, Histogram } from "./metrics.js";
export { runWorker } from "./worker.js";
export type { WorkerHandle, RunWorkerOptions } from "./worker.js";
