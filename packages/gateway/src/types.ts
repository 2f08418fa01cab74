// Public interfaces of the gateway: its configuration, what it needs injected, what it returns.
import type { Bus } from "@drivecast/bus";
import type { Registry } from "@drivecast/bus";
import type { Naming } from "@drivecast/protocol";

/** Who a Nuxeo token belongs to (resolved by an Authenticator). */
export interface Identity {
  user: string;
  groups: string[];
  isAdministrator: boolean;
}

/**
 * What an operator revokes (message on `drive.auth.revoke`): one token, or every token of a user.
 * At least one of the two is set.
 */
export interface Revocation {
  token?: string;
  user?: string;
}

/**
 * Resolves a client's Nuxeo token to an identity; null when the token is unknown or revoked
 * (answered with 401). Throwing means "cannot tell now" (Nuxeo down): answered with 503.
 * A plain function fits; an authenticator with a cache also implements `invalidate`, so that a
 * revoked token is asked to Nuxeo again at its next use instead of being served from the cache.
 */
export interface Authenticator {
  (token: string): Promise<Identity | null>;
  /** Forgets what is cached about the revoked token or user. */
  invalidate?(revocation: Revocation): void;
}

/** The logging calls the gateway makes (a pino logger fits). */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

export interface RateLimit {
  /** Sustained client messages (or HTTP requests) per second. */
  perSecond: number;
  /** Messages allowed in a burst above the sustained rate. */
  burst: number;
}

export interface GatewayConfig {
  /** Interface to listen on, e.g. `0.0.0.0`. */
  host: string;
  /** Port to listen on; 0 picks a free one (see `Gateway.port`). */
  port: number;
  /** The cluster's shard budget S (must match the changeset role). */
  shardCount: number;
  /** Name prefixes of streams, subjects and buckets (empty in production). */
  naming: Naming;
  /** A ping or a message at least this often; a socket silent for twice this is closed. */
  heartbeatMs: number;
  /** Largest client frame accepted (4000 above it), and largest HTTP body (413). */
  maxMessageBytes: number;
  /** Bytes a socket may have waiting to be sent; above it the socket is closed with 4008. */
  maxBufferedBytes: number;
  /** Sockets (WebSocket + SSE) one user may hold on this process; above it: 4009. */
  maxConnectionsPerUser: number;
  /** Per socket (WebSocket messages) and per user (HTTP requests); above it: 4029 / 429. */
  rateLimit: RateLimit;
  /** Close a socket with 1001 after this long, plus a random jitter; 0 disables. */
  maxLifetimeMs: number;
  /** Upper bound of the random jitter added to `maxLifetimeMs`. */
  lifetimeJitterMs: number;
  /** Sockets are closed over a random spread of this window when draining. */
  drainWindowMs: number;
  /** Max age of the DRIVE_FEEDS stream (Infinity when unbounded); decides resumable cursors. */
  feedMaxAgeMs: number;
  /**
   * Cached token lifetime, used by `nuxeoAuthenticator`; also how long a WebSocket's token check
   * holds: past it, the socket's next request (ack, scroll) checks the token again (4001 if gone).
   */
  authCacheTtlMs: number;
  /** Cached tokens at most, used by `nuxeoAuthenticator`. */
  authCacheMax: number;
  /** Reported in `welcome`. */
  serverVersion: string;
  /** Largest scroll batch accepted (reported in `welcome`). */
  maxBatchSize: number;
  /** Default scroll keep-alive when the client gives none. */
  scrollKeepAliveMs: number;
  /** GetChangeSummary answers `hasTooManyChanges` above this many coalesced changes. */
  changeLimit: number;
  /** How long a request to an actor (scroll) may take. */
  rpcTimeoutMs: number;
  /** Live change sets buffered per socket while its history is read; above it: read again. */
  replayBufferMax: number;
}

export interface GatewayDeps {
  bus: Bus;
  authenticate: Authenticator;
  logger: Logger;
  registry: Registry;
  /** Wall clock, epoch ms (injected for tests). */
  now?: () => number;
  /** Uniform in [0, 1) (jitter); injected for tests. */
  random?: () => number;
}

export interface Gateway {
  /** The port actually listened on. */
  readonly port: number;
  /** Connected to the bus and accepting connections. */
  ready(): boolean;
  /** Stop accepting, close every socket with 1001 over `drainWindowMs`; resolves when all closed. */
  drain(): Promise<void>;
  /** Stop now: close the listener and every socket. Leaves the injected bus open. */
  close(): Promise<void>;
}
