// Public shapes of testkit.

/** Where provisioning found or put something: the env override, the cache, or a fresh install. */
export type ProvisionSource = "env" | "cache" | "installed";

export interface NatsServerBinary {
  path: string;
  /** e.g. "2.12.15" */
  version: string;
  source: ProvisionSource;
}

export interface KafkaDistribution {
  /** Folder of the broker's jars; the JVM classpath is `<libsDir>/*`. */
  libsDir: string;
  version: string;
  /** `java -version`'s version string, e.g. "17.0.15". */
  java: string;
  source: Exclude<ProvisionSource, "env">;
}

export interface Provisioned {
  nats: NatsServerBinary;
  kafka: KafkaDistribution;
}

export interface NatsServerOptions {
  /** Enable JetStream with a store in the server's temp dir. Default true. */
  jetstream?: boolean;
  /** `sync_interval: always`: fsync every JetStream write (crash-durability tests). Default false. */
  syncAlways?: boolean;
  /** Open the monitoring HTTP port (`http: 127.0.0.1:-1`); see `httpUrl`. Default false. */
  http?: boolean;
  /** Extra lines appended to the generated server config, e.g. `["max_payload: 2MB"]`. */
  config?: readonly string[];
  /** How long to wait for the server to accept connections. Default 20 000 ms. */
  startTimeoutMs?: number;
}

export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** `http://127.0.0.1:<port>` of the monitoring endpoint when `http: true`, else undefined. */
  readonly httpUrl: string | undefined;
  /** JetStream's store_dir (kept across `kill()`/`restart()`, removed by `stop()`). */
  readonly storeDir: string;
  /** The server's stdout/stderr. */
  readonly logFile: string;
  /** Whether the server process is currently up. */
  readonly running: boolean;
  /** Stops the server for good (SIGTERM, SIGKILL after 5 s) and removes its temp dir. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL, like a crash; the store is kept, so `restart()` brings the same server back. */
  kill(): Promise<void>;
  /**
   * Stops the server if it is up (SIGTERM), then starts it again on the same port with the same
   * store, and resolves once it accepts connections. Works after `kill()` too.
   */
  restart(): Promise<void>;
}

export interface KafkaOptions {
  /** `num.partitions` for auto-created topics. Default 1. */
  numPartitions?: number;
  /** Extra `server.properties` lines (`key=value`); they override testkit's defaults. */
  properties?: Readonly<Record<string, string | number | boolean>>;
  /** JVM max heap. Default "512m". */
  maxHeap?: string;
  /** How long to wait for the broker to answer a metadata request. Default 90 000 ms. */
  startTimeoutMs?: number;
}

export interface KafkaHandle {
  /** `["127.0.0.1:<port>"]` for kafkajs' `brokers`. */
  readonly brokers: string[];
  /** The broker's stdout/stderr (kept after `stop()` only if the start failed). */
  readonly logFile: string;
  /** Stops the broker (SIGTERM, SIGKILL after 10 s) and removes its data. Idempotent. */
  stop(): Promise<void>;
}
