// Remote scan (spec/PROTOCOL.md "Remote scan (scroll)"), served by the changeset worker that
// leases the user's shard, over request/reply on `drive.rpc.<shard>` (protocol/src/rpc.ts).
//
// Design. A scroll's state (the ordered snapshot of items and a cursor) lives in the process that
// answered its first call, in one LRU bounded by total bytes. Every request for a user goes to
// `drive.rpc.<shard(user)>`, which only the worker leasing that shard serves (queue group
// `changeset`), so whichever gateway a client talks to, its next call reaches the process that
// holds its scroll: any gateway continues any scroll.
//
// The listing (scroll-snapshot.ts) runs in the background from the first call on; a call waits
// for a full batch at most `batchWaitMs` (under the gateway's RPC timeout), then answers with the
// items released so far, at least one. So a scan of any size answers its first batch after about
// one NXQL page, and no call holds a gateway past its timeout while Nuxeo pages.
//
// Invariants:
// - A scroll id is answered for its own user only; another user's request with it gets
//   `scroll_expired` (the id's existence is not disclosed).
// - Calls on one scroll run one at a time (a chain per scroll), and a batch is rendered from the
//   snapshot without I/O, so the cursor only moves past items that go into a reply.
// - An expired, evicted or unknown scroll id answers `scroll_expired`, never an empty list: an
//   empty list means the scroll is over (listing done, every item delivered).
// - A scroll leaving the cache (expiry, eviction, shard released) stops its listing.
//
// Failure cases, and why they are acceptable:
// - The shard moves to another worker (lease lost, worker killed, rebalance): that worker has
//   none of the shard's scrolls, so a continuation answers `scroll_expired` and the client starts
//   its scan again. Scrolls are short-lived (keepAlive, default 60 s) and a takeover is rare;
//   replicating snapshots of up to millions of ids through the bus would cost more than the
//   occasional rescan. Both workers may serve the subject for a moment during a takeover; a
//   request reaching the new one answers `scroll_expired` the same way.
// - The cache is full: the least recently used scrolls are dropped first (`scroll_expired`).
// - Listings running at once are capped (`maxListings`): a burst of scans waits its turn
//   instead of piling up on Nuxeo.
// - The listing fails (Nuxeo down past the client's retries, folder too large): the next call
//   answers the error (`not_ready`, `too_large`) and the scroll is dropped; the client rescans.
// - A reply lost after the cursor moved (gateway timeout on a continuation) skips a batch, as
//   with Nuxeo's own scroll; the client sees the error and rescans.
import { randomUUID } from "node:crypto";
import {
  Counter,
  Gauge,
  RemoteError,
  type BusLogger,
  type Bus,
  type Registry,
  type Subscription,
} from "@drivecast/bus";
import {
  ErrorCode,
  FILE_SYSTEM_ITEM_FACTORY,
  msgpackCodec,
  SYNC_ROOT_FACTORY,
  TOP_LEVEL_ID,
  type Names,
  type RpcReply,
  type RpcRequest,
  type ScrollDescendantsReply,
  type ScrollDescendantsRequest,
} from "@drivecast/protocol";
import { LRUCache } from "lru-cache";
import { principalsOf } from "./compute/index.js";
import {
  ListingRefused,
  ScrollSnapshot,
  type ScrollNuxeo,
  type ScrollTarget,
} from "./scroll-snapshot.js";

export type { ScrollNuxeo } from "./scroll-snapshot.js";

export interface ScrollConfig {
  /** Largest batchSize accepted; above it: `batch_too_large` naming the limit. Default 1000. */
  maxBatchSize: number;
  /** keepAlive when the request gives none (or 0). Default 60 000 ms. */
  defaultKeepAliveMs: number;
  /** keepAlive is capped here, so an idle scroll cannot pin memory for long. Default 10 min. */
  maxKeepAliveMs: number;
  /** NXQL page size of the listing. Default 1000 (Nuxeo's default maxPageSize). */
  pageSize: number;
  /** Bytes of every open scroll together (estimate); LRU beyond. Default 256 MiB. */
  maxCacheBytes: number;
  /**
   * A reply stays under this many bytes (an upper-bound estimate of its msgpack size), whatever
   * batchSize asks: NATS refuses messages above its max_payload (1 MiB by default). Default
   * 1 000 000; lower it with the server's max_payload.
   */
  maxReplyBytes: number;
  /** First calls listing Nuxeo at once in this worker; more wait their turn. Default 4. */
  maxListings: number;
  /** Open scrolls per user; starting one more drops that user's oldest. Default 8. */
  maxScrollsPerUser: number;
  /** Listing passes when the result count moves under the pages. Default 3. */
  maxListingAttempts: number;
  /**
   * A call waits this long at most for a full batch while the listing runs, then answers with
   * what it has (at least one item). Keep it well under the gateway's RPC timeout (30 s).
   * Default 5 000 ms.
   */
  batchWaitMs: number;
  /** Queue group the workers serve `drive.rpc.<shard>` in. Default `changeset`. */
  queue: string;
}

export const DEFAULT_SCROLL_CONFIG: ScrollConfig = {
  maxBatchSize: 1000,
  defaultKeepAliveMs: 60_000,
  maxKeepAliveMs: 600_000,
  pageSize: 1000,
  maxCacheBytes: 256 * 1024 * 1024,
  maxReplyBytes: 1_000_000,
  maxListings: 4,
  maxScrollsPerUser: 8,
  maxListingAttempts: 3,
  batchWaitMs: 5_000,
  queue: "changeset",
};

export interface ScrollServiceDeps {
  bus: Bus;
  names: Names;
  nuxeo: ScrollNuxeo;
  /** The user's active sync roots (the worker's root index). */
  roots(user: string): readonly { repository: string; uid: string }[];
  /**
   * The user's current groups, as the actors see them (group events refresh them). Without it,
   * the request's groups are used: the gateway resolved those when the device connected, and a
   * membership change since makes them stale (a root registered afterwards would be scanned
   * with the old groups and come back empty).
   */
  principal?(user: string): Promise<{ groups: string[]; isAdministrator: boolean }>;
  logger?: BusLogger;
  registry?: Registry;
  /** Clock for keepAlive (epoch or monotonic ms). Default performance.now. */
  now?: () => number;
  /** Default randomUUID. */
  newScrollId?: () => string;
}

export interface ScrollService {
  /** Serve `drive.rpc.<shard>` (call when the shard is leased). Idempotent. */
  serveShard(shard: number): void;
  /** Stop serving the shard and drop its scrolls (call when the lease is released or lost). */
  releaseShard(shard: number): void;
  /** Shards served now. */
  served(): number[];
  /** Answers one request; what the bus handler runs. Errors are RemoteErrors with a client code. */
  scroll(request: ScrollDescendantsRequest, shard?: number): Promise<ScrollDescendantsReply>;
  stats(): { open: number; bytes: number };
  /** Stops serving every shard and drops every scroll. */
  close(): void;
}

interface ScrollContext {
  id: string;
  user: string;
  shard: number;
  /** null once the scroll has handed out its last item. */
  snapshot: ScrollSnapshot | null;
  /** Items delivered so far. */
  cursor: number;
  /** Stops the listing when the scroll leaves the cache. */
  abort: AbortController;
  /** The last call on this scroll: the next one runs after it. */
  chain: Promise<unknown>;
}

const requestCodec = msgpackCodec<RpcRequest>();
const replyCodec = msgpackCodec<RpcReply>();

const PARSE_FACTORIES = new Set<string>([SYNC_ROOT_FACTORY, FILE_SYSTEM_ITEM_FACTORY]);

function badRequest(message: string): RemoteError {
  return new RemoteError(ErrorCode.BadRequest, message);
}

/** The folder an item id names (spec §4 ids), or a client error. */
export function parseTarget(id: string): ScrollTarget {
  if (id === TOP_LEVEL_ID) return { kind: "top" };
  const parts = id.split("#");
  if (parts.length !== 3 || parts[1] === "" || parts[2] === "") {
    throw badRequest(
      `"${id}" is not a FileSystemItem id: expected <factory>#<repository>#<uuid> or ${TOP_LEVEL_ID}`,
    );
  }
  if (!PARSE_FACTORIES.has(parts[0]!)) {
    throw new RemoteError(ErrorCode.NotFound, `"${id}" is not a folder item drivecast can scan`);
  }
  return { kind: "folder", repository: parts[1]!, uid: parts[2]! };
}

class ScrollServiceImpl implements ScrollService {
  private readonly config: ScrollConfig;
  // Values are boxes, a new one per write: lru-cache re-sizes an entry only when its value
  // changes, and a scroll's snapshot grows while it lists.
  private readonly cache: LRUCache<string, { ctx: ScrollContext }>;
  private readonly byUser = new Map<string, Set<string>>();
  private readonly subs = new Map<number, Subscription>();
  private readonly newId: () => string;
  private listings = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly requests: Counter<"outcome"> | null = null;

  constructor(
    private readonly deps: ScrollServiceDeps,
    config: Partial<ScrollConfig>,
  ) {
    this.config = { ...DEFAULT_SCROLL_CONFIG, ...config };
    this.newId = deps.newScrollId ?? randomUUID;
    const now = deps.now ?? (() => performance.now());
    this.cache = new LRUCache<string, { ctx: ScrollContext }>({
      maxSize: this.config.maxCacheBytes,
      sizeCalculation: ({ ctx }) => Math.max(1, Math.ceil(ctx.snapshot?.bytes ?? 64)),
      // Replacing a box is an update, not a removal.
      noDisposeOnSet: true,
      ttl: this.config.defaultKeepAliveMs,
      // lru-cache reads a start time of 0 as "no TTL": keep an injected clock off 0.
      perf: { now: () => Math.max(1, now()) },
      // Read the clock on every check: lru-cache would otherwise cache it with a timer.
      ttlResolution: 0,
      updateAgeOnGet: false,
      dispose: ({ ctx }, id) => {
        this.unindex(ctx.user, id);
        ctx.abort.abort();
      },
    });
    if (deps.registry !== undefined) {
      const registers = [deps.registry];
      this.requests = new Counter({
        name: "drivecast_changeset_scroll_requests_total",
        help: "Scroll requests by outcome",
        labelNames: ["outcome"],
        registers,
      });
      const cache = this.cache;
      new Gauge({
        name: "drivecast_changeset_scrolls_open",
        help: "Open scroll contexts",
        registers,
        collect() {
          this.set(cache.size);
        },
      });
      new Gauge({
        name: "drivecast_changeset_scroll_cache_bytes",
        help: "Estimated bytes held by open scrolls",
        registers,
        collect() {
          this.set(cache.calculatedSize);
        },
      });
    }
  }

  serveShard(shard: number): void {
    if (this.subs.has(shard)) return;
    const sub = this.deps.bus.serve(
      this.deps.names.rpcSubject(shard),
      this.config.queue,
      async (msg) => {
        let request: RpcRequest;
        try {
          request = requestCodec.decode(msg.data);
        } catch {
          throw badRequest("the request is not a msgpack RpcRequest");
        }
        return replyCodec.encode(await this.scroll(request, shard));
      },
    );
    this.subs.set(shard, sub);
  }

  releaseShard(shard: number): void {
    this.subs.get(shard)?.unsubscribe();
    this.subs.delete(shard);
    for (const [id, { ctx }] of this.cache.entries())
      if (ctx.shard === shard) this.cache.delete(id);
  }

  served(): number[] {
    return [...this.subs.keys()].sort((a, b) => a - b);
  }

  stats(): { open: number; bytes: number } {
    this.cache.purgeStale();
    return { open: this.cache.size, bytes: this.cache.calculatedSize };
  }

  close(): void {
    for (const shard of [...this.subs.keys()]) this.releaseShard(shard);
    this.cache.clear();
  }

  async scroll(request: ScrollDescendantsRequest, shard = -1): Promise<ScrollDescendantsReply> {
    try {
      const reply = await this.answer(request, shard);
      const n = reply.fileSystemItems.length;
      this.count(request.scrollId === null ? "first" : n === 0 ? "end" : "next");
      return reply;
    } catch (err) {
      const remote = err instanceof RemoteError ? err : this.remoteOf(err);
      this.count(remote.code);
      throw remote;
    }
  }

  private async answer(
    request: ScrollDescendantsRequest,
    shard: number,
  ): Promise<ScrollDescendantsReply> {
    const r = this.validate(request);
    const keepAlive = this.keepAlive(r.keepAliveMs);
    // Expired scrolls leave (and stop listing) before new ones are sized against the bound.
    this.cache.purgeStale();
    if (r.scrollId !== null) {
      const ctx = this.cache.get(r.scrollId)?.ctx;
      if (ctx === undefined || ctx.user !== r.user) throw this.expired(r.scrollId);
      return this.serialized(ctx, () => this.next(ctx, r.batchSize, keepAlive, false));
    }
    const target = parseTarget(r.id);
    const current = this.deps.principal === undefined ? null : await this.deps.principal(r.user);
    const principals =
      current === null
        ? principalsOf(r.user, r.groups ?? [], r.isAdministrator === true)
        : principalsOf(r.user, current.groups, current.isAdministrator);
    const abort = new AbortController();
    let ctx: ScrollContext | null = null;
    const release = await this.listingSlot();
    let snapshot: ScrollSnapshot;
    try {
      snapshot = await ScrollSnapshot.start(
        {
          nuxeo: this.deps.nuxeo,
          principals,
          roots: this.deps.roots(r.user),
          target,
          pageSize: this.config.pageSize,
          // Room for the others: one scroll may take at most half the cache.
          maxBytes: Math.floor(this.config.maxCacheBytes / 2),
          maxListingAttempts: this.config.maxListingAttempts,
          onRestart: (attempt, base) =>
            this.deps.logger?.warn(
              { user: r.user, base, attempt },
              "scroll listing: the result count moved between pages; paging again",
            ),
          // The snapshot grew: let the cache re-size it (keeping its keepAlive).
          onProgress: () => {
            if (ctx !== null && this.cache.peek(ctx.id)?.ctx === ctx)
              this.cache.set(ctx.id, { ctx }, { noUpdateTTL: true });
          },
        },
        abort.signal,
      );
    } catch (err) {
      release();
      throw err;
    }
    void snapshot.settled.then(release);
    ctx = {
      id: this.newId(),
      user: r.user,
      shard,
      snapshot,
      cursor: 0,
      abort,
      chain: Promise.resolve(),
    };
    this.makeRoom(r.user);
    this.keep(ctx, keepAlive + this.config.batchWaitMs);
    const started = ctx;
    return this.serialized(started, () => this.next(started, r.batchSize, keepAlive, true));
  }

  /** Runs `call` after the scroll's previous call. */
  private serialized<T>(ctx: ScrollContext, call: () => Promise<T>): Promise<T> {
    const run = ctx.chain.then(call, call);
    ctx.chain = run.catch(() => undefined);
    return run;
  }

  /** (Re)stores a scroll with `ttl`, unless its shard was released meanwhile. */
  private keep(ctx: ScrollContext, ttl: number): void {
    // Released shard: the next call goes to its new owner anyway; answer this one, keep nothing.
    if (ctx.shard >= 0 && !this.subs.has(ctx.shard)) return;
    this.cache.set(ctx.id, { ctx }, { ttl });
    if (this.cache.peek(ctx.id)?.ctx === ctx) this.index(ctx);
  }

  /** The next batch; re-arms the keepAlive; frees the snapshot once the scroll is over. */
  private async next(
    ctx: ScrollContext,
    batchSize: number,
    keepAlive: number,
    first: boolean,
  ): Promise<ScrollDescendantsReply> {
    const live = () => this.cache.peek(ctx.id)?.ctx === ctx;
    let items: ScrollDescendantsReply["fileSystemItems"] = [];
    const snapshot = ctx.snapshot;
    if (snapshot !== null) {
      // Waiting must not expire it.
      if (live()) this.cache.set(ctx.id, { ctx }, { ttl: keepAlive + this.config.batchWaitMs });
      await snapshot.waitFor(ctx.cursor, batchSize, this.config.batchWaitMs);
      if (snapshot.error !== null) {
        // Dropped while this call waited (evicted, expired, shard released): its listing was
        // stopped; not the client's fault, nothing to resume either.
        const dropped = !live();
        this.cache.delete(ctx.id);
        ctx.abort.abort();
        if (!dropped) throw snapshot.error;
        if (!first) throw this.expired(ctx.id);
        throw new RemoteError(
          ErrorCode.NotReady,
          "the scroll was dropped while listing (its shard moved, or the cache is full); retry",
        );
      }
      const batch = snapshot.render(ctx.cursor, batchSize, this.config.maxReplyBytes, ctx.user);
      items = batch.items;
      ctx.cursor = batch.next;
      // Over: keep a small tombstone so a repeated call still answers the end, not an error.
      if (items.length === 0 && snapshot.done) ctx.snapshot = null;
    }
    if (live()) this.keep(ctx, keepAlive);
    // Not kept (dropped meanwhile, or its shard released): nobody can continue it.
    if (!live()) ctx.abort.abort();
    return { type: "scrollDescendants", scrollId: ctx.id, fileSystemItems: items };
  }

  private expired(scrollId: string): RemoteError {
    return new RemoteError(
      ErrorCode.ScrollExpired,
      `scroll ${scrollId} is unknown or expired (unused for longer than its keepAlive, ` +
        `or dropped); start a new scroll without scrollId`,
    );
  }

  /** Keeps at most maxScrollsPerUser scrolls per user: a user's scans never evict everyone's. */
  private makeRoom(user: string): void {
    const ids = this.byUser.get(user);
    while (ids !== undefined && ids.size >= this.config.maxScrollsPerUser) {
      // Insertion order: the first is the oldest. Deleting disposes, which unindexes it.
      const oldest = ids.values().next().value as string;
      if (!this.cache.delete(oldest)) ids.delete(oldest);
    }
  }

  private index(ctx: ScrollContext): void {
    let ids = this.byUser.get(ctx.user);
    if (ids === undefined) this.byUser.set(ctx.user, (ids = new Set()));
    ids.add(ctx.id);
  }

  private unindex(user: string, id: string): void {
    const ids = this.byUser.get(user);
    if (ids === undefined) return;
    ids.delete(id);
    if (ids.size === 0) this.byUser.delete(user);
  }

  /** Waits for a listing slot (fewer than maxListings running); returns its release. */
  private async listingSlot(): Promise<() => void> {
    while (this.listings >= this.config.maxListings) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.listings++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.listings--;
      this.waiting.shift()?.();
    };
  }

  private keepAlive(requested: number | undefined): number {
    if (requested === undefined || !Number.isFinite(requested) || requested <= 0)
      return this.config.defaultKeepAliveMs;
    return Math.min(Math.floor(requested), this.config.maxKeepAliveMs);
  }

  private validate(request: RpcRequest): ScrollDescendantsRequest {
    if (typeof request !== "object" || request === null || request.type !== "scrollDescendants")
      throw badRequest("unknown request type; expected scrollDescendants");
    const r = request;
    if (typeof r.user !== "string" || r.user === "") throw badRequest("user is required");
    if (r.scrollId !== null && typeof r.scrollId !== "string")
      throw badRequest("scrollId must be a string or null");
    if (r.scrollId === null && (typeof r.id !== "string" || r.id === ""))
      throw badRequest("id (the FileSystemItem id of the folder to scan) is required");
    if (!Number.isInteger(r.batchSize) || r.batchSize < 1)
      throw badRequest("batchSize must be a positive integer");
    if (r.batchSize > this.config.maxBatchSize) {
      throw new RemoteError(
        ErrorCode.BatchTooLarge,
        `batchSize ${r.batchSize} exceeds the maximum of ${this.config.maxBatchSize}`,
      );
    }
    if (r.groups !== undefined && !Array.isArray(r.groups))
      throw badRequest("groups must be a list of group names");
    return r;
  }

  private remoteOf(err: unknown): RemoteError {
    if (err instanceof ListingRefused) {
      const f = err.failure;
      return new RemoteError(
        f.kind === "notFound" ? ErrorCode.NotFound : ErrorCode.TooLarge,
        f.message,
      );
    }
    const retriable =
      typeof err === "object" &&
      err !== null &&
      (err as { retriable?: unknown }).retriable === true;
    if (retriable) {
      this.deps.logger?.warn({ err }, "scroll: Nuxeo unavailable");
      return new RemoteError(
        ErrorCode.NotReady,
        "Nuxeo is unavailable right now; retry the scroll",
      );
    }
    this.deps.logger?.error({ err }, "scroll failed");
    return new RemoteError(ErrorCode.Internal, "the scroll failed on the server; retry later");
  }

  private count(outcome: string): void {
    this.requests?.inc({ outcome });
  }
}

/**
 * The remote scan service of a changeset worker: call `serveShard` / `releaseShard` as shard
 * leases come and go.
 */
export function createScrollService(
  deps: ScrollServiceDeps,
  config: Partial<ScrollConfig> = {},
): ScrollService {
  return new ScrollServiceImpl(deps, config);
}
