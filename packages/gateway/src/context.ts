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
import { revokes } from "./revoke.js";
import type { Authenticator, GatewayConfig, Identity, Logger, Revocation } from "./types.js";

/** A client connection (WebSocket or SSE), as the process-wide bookkeeping sees it. */
export interface Connection {
  readonly user: string;
  /** The Nuxeo token the connection was opened with (what revocations match). */
  readonly token: string;
  /** Periodic: ping when nothing was sent for a while; close a peer that went silent. */
  tick(now: number): void;
  /** Close with "going away" (drain, max lifetime): the client reconnects and resumes. */
  goAway(reason: string): void;
  /** Close at once, without a goodbye (shutdown). */
  terminate(): void;
  /** The token was revoked or expired: WebSocket close 4001, SSE stream ended. */
  revoke(reason: string): void;
}

/** What checking a connection's token again found. */
export type TokenCheck = "ok" | "revoked" | "unknown";

export interface ScrollParams {
  id: string;
  scrollId: string | null;
  batchSize: number;
  keepAlive?: number | undefined;
}

/**
 * When a connection opened at `now` reaches its maximum lifetime (plus jitter); Infinity when
 * disabled. Checked by the connection's tick rather than a timer of its own: a timer per socket
 * costs memory and timer-list work for every idle device.
 */
export function lifetimeDeadline(config: GatewayConfig, now: number, random: () => number): number {
  if (config.maxLifetimeMs <= 0) return Infinity;
  return now + config.maxLifetimeMs + Math.floor(random() * config.lifetimeJitterMs);
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

  /**
   * Checks an open connection's token again (its check is older than the cache TTL): "revoked"
   * when Nuxeo no longer knows it (or it now names someone else), "unknown" when Nuxeo cannot
   * tell now — the connection stays, and is checked again at its next request.
   */
  async recheck(token: string, user: string): Promise<TokenCheck> {
    let identity: Identity | null;
    try {
      identity = await this.authenticate(token);
    } catch (err) {
      this.logger.warn({ err, user }, "token re-check failed; will retry at the next request");
      this.metrics.tokenRechecks.inc({ outcome: "error" });
      return "unknown";
    }
    if (identity === null || identity.user !== user) {
      this.metrics.tokenRechecks.inc({ outcome: "revoked" });
      return "revoked";
    }
    this.metrics.tokenRechecks.inc({ outcome: "ok" });
    return "ok";
  }

  /**
   * An operator's revocation (`drive.auth.revoke`): the authenticator forgets the token or user,
   * and every matching connection of this process is closed (4001). Returns how many were.
   */
  revoke(revocation: Revocation): number {
    this.authenticate.invalidate?.(revocation);
    let closed = 0;
    for (const c of [...this.connections]) {
      if (revokes(revocation, c.token, c.user)) {
        c.revoke("token revoked; re-authenticate");
        closed++;
      }
    }
    this.logger.info({ user: revocation.user, closed }, "revocation applied");
    return closed;
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
