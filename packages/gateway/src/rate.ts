// Token buckets: `burst` tokens, refilled at `perSecond`. One per socket (client messages: the
// state lives in the connection itself, two numbers, since every idle socket carries one) and one
// per user (HTTP requests: TokenBucket).
import type { RateLimit } from "./types.js";

/** The state of one bucket: tokens left, as of `tokensAt` (epoch ms). */
export interface Bucket {
  tokens: number;
  tokensAt: number;
}

/** Takes one token from `bucket` at time `now`; false when none is left (rate exceeded). */
export function takeToken(bucket: Bucket, limit: RateLimit, now: number): boolean {
  bucket.tokens = Math.min(
    limit.burst,
    bucket.tokens + ((now - bucket.tokensAt) / 1000) * limit.perSecond,
  );
  bucket.tokensAt = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

export class TokenBucket implements Bucket {
  tokens: number;
  tokensAt: number;
  private readonly limit: RateLimit;

  constructor(
    perSecond: number,
    burst: number,
    private readonly now: () => number,
  ) {
    this.limit = { perSecond, burst };
    this.tokens = burst;
    this.tokensAt = now();
  }

  /** Takes one token; false when none is left (rate exceeded). */
  take(): boolean {
    return takeToken(this, this.limit, this.now());
  }
}
