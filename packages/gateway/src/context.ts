// What every connection and endpoint of one gateway process shares.
import { LRUCache } from "lru-cache";
import { ErrorCode, Names, msgpackCodec, shardOf } from "@drivecast/protocol";
import type { Bus } from "@drivecast/bus";
import type { DeviceRegistry } from "./devices.js";
import { RequestError } from "./errors.js";
import type { FeedHub } from "./feed-hub.js";
import type { GatewayMetrics } from "./metrics.js";
import { TokenBucket } from "./rate.js";
import type { MergeOptions } from "./replay.js";
import type { ScrollDescendantsReply, ScrollDescendantsRequest } from "@drivecast/protocol";
import type { Authenticator, GatewayConfig, Identity, Logger } from "./types.js";

/** A client connection (WebSocket or SSE), as the process-wide bookkeeping sees it. */
export interface Connection {
  readonly user: string;
  /** Periodic: ping when nothing was sent for a while; close a peer that went silent. */
  tick(now: number): void;
  /** Close with "going away" (drain, max lifetime): the client reconnects and resumes. */
  goAway(reason: string): void;
  /** Close at once, without a goodbye (shutdown). */
  terminate(): void;
}

export interface ScrollParams {
  id: string;
  scrollId: string | null;
  batchSize: number;
  keepAlive?: number | undefined;
}

/** How often connections are ticked; a ping goes out when nothing was sent for heartbeat - this. */
export function tickIntervalMs(heartbeatMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(heartbeatMs / 4)));
}

const scrollRequestCodec = msgpackCodec<ScrollDescendantsRequest>();
const scrollReplyCodec = msgpackCodec<ScrollDescendantsReply>();

export class GatewayContext {
  readonly names: Names;
  readonly connections = new Set<Connection>();
  private readonly perUser = new Map<string, number>();
  private readonly httpLimiters: LRUCache<string, TokenBucket>;
  readonly mergeOptions: MergeOptions;
  draining = false;
  closed = false;
  private onEmpty: (() => void) | null = null;

  constructor(
    readonly config: GatewayConfig,
    readonly bus: Bus,
    readonly hub: FeedHub,
    readonly devices: DeviceRegistry,
    readonly metrics: GatewayMetrics,
    readonly logger: Logger,
    readonly authenticate: Authenticator,
    readonly now: () => number,
    readonly random: () => number,
  ) {
    this.names = new Names(config.naming);
    this.httpLimiters = new LRUCache({ max: 100_000, ttl: 10 * 60 * 1000 });
    this.mergeOptions = {
      maxAgeMs: config.feedMaxAgeMs,
      now,
      maxBuffered: config.replayBufferMax,
      maxRepairReads: 5,
    };
  }

  connectionsOf(user: string): number {
    return this.perUser.get(user) ?? 0;
  }

  /** Registers a connection; false (not registered) when the user is at the limit. */
  add(connection: Connection): boolean {
    const n = this.connectionsOf(connection.user);
    if (n >= this.config.maxConnectionsPerUser) return false;
    this.perUser.set(connection.user, n + 1);
    this.connections.add(connection);
    return true;
  }

  remove(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    const n = this.connectionsOf(connection.user) - 1;
    if (n <= 0) this.perUser.delete(connection.user);
    else this.perUser.set(connection.user, n);
    if (this.connections.size === 0 && this.onEmpty !== null) this.onEmpty();
  }

  /** Resolves once no connection is left. */
  whenEmpty(): Promise<void> {
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.onEmpty = () => {
        this.onEmpty = null;
        resolve();
      };
    });
  }

  /** Accepting work: not draining, not closed, connected to the bus. */
  ready(): boolean {
    return !this.draining && !this.closed && this.bus.isConnected();
  }

  /** Takes one HTTP request token of `user`; false over the rate limit. */
  httpAllowed(user: string): boolean {
    let bucket = this.httpLimiters.get(user);
    if (bucket === undefined) {
      bucket = new TokenBucket(
        this.config.rateLimit.perSecond,
        this.config.rateLimit.burst,
        this.now,
      );
      this.httpLimiters.set(user, bucket);
    }
    return bucket.take();
  }

  /** Resolves a token; RequestError 401 when unknown, 503 when Nuxeo cannot tell. */
  async identify(token: string): Promise<Identity> {
    if (token === "") {
      throw new RequestError(
        401,
        ErrorCode.Unauthorized,
        "a Nuxeo token is required: header X-Authentication-Token or query parameter token",
      );
    }
    let identity: Identity | null;
    try {
      identity = await this.authenticate(token);
    } catch (err) {
      this.logger.warn({ err }, "token check failed");
      throw new RequestError(
        503,
        ErrorCode.NotReady,
        "cannot check the token with Nuxeo now; retry",
        err,
      );
    }
    if (identity === null) {
      throw new RequestError(401, ErrorCode.Unauthorized, "unknown or revoked token");
    }
    return identity;
  }

  /** NuxeoDrive.ScrollDescendants, answered by the user's actor over the bus. */
  async scroll(identity: Identity, params: ScrollParams): Promise<ScrollDescendantsReply> {
    if (params.batchSize > this.config.maxBatchSize) {
      throw new RequestError(
        400,
        ErrorCode.BatchTooLarge,
        `batchSize ${params.batchSize} exceeds the maximum of ${this.config.maxBatchSize}`,
      );
    }
    const request: ScrollDescendantsRequest = {
      type: "scrollDescendants",
      user: identity.user,
      groups: identity.groups,
      isAdministrator: identity.isAdministrator,
      id: params.id,
      scrollId: params.scrollId,
      batchSize: params.batchSize,
      keepAliveMs: params.keepAlive ?? this.config.scrollKeepAliveMs,
    };
    const subject = this.names.rpcSubject(shardOf(identity.user, this.config.shardCount));
    const reply = await this.bus.request(
      subject,
      scrollRequestCodec.encode(request),
      this.config.rpcTimeoutMs,
    );
    const decoded = scrollReplyCodec.decode(reply);
    return {
      type: "scrollDescendants",
      scrollId: decoded.scrollId,
      fileSystemItems: decoded.fileSystemItems ?? [],
    };
  }
}
