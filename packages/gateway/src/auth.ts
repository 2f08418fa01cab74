// Token → identity, through Nuxeo `GET /api/v1/me` with the client's token, cached: an idle
// connected device costs Nuxeo nothing after its token check (ARCHITECTURE.md "Guarantees").
// Concurrent lookups of one token share one call; rejections (401) are cached briefly so a
// client retrying a bad token in a loop does not turn into a Nuxeo load test. `invalidate`
// (an operator's revocation, see revoke.ts) drops what is cached about a token or a user, so the
// next use of a revoked token is asked to Nuxeo again.
import { LRUCache } from "lru-cache";
import { Counter } from "@drivecast/bus";
import type { Registry } from "@drivecast/bus";
import { NuxeoUnauthorizedError } from "@drivecast/nuxeo";
import type { NuxeoClient } from "@drivecast/nuxeo";
import type { Authenticator, Identity, Revocation } from "./types.js";

/** The part of @drivecast/nuxeo's client the authenticator uses. */
export type MeClient = Pick<NuxeoClient, "me">;

export interface NuxeoAuthenticatorOptions {
  /** How long a resolved token stays cached. */
  ttlMs: number;
  /** Tokens cached at most. */
  max: number;
  /** How long a rejected token stays rejected without asking again. Default min(ttlMs, 10 s). */
  negativeTtlMs?: number;
  /** Registers `drivecast_gateway_auth_cache_total` and `drivecast_gateway_nuxeo_calls_total`. */
  registry?: Registry;
}

export function nuxeoAuthenticator(
  client: MeClient,
  options: NuxeoAuthenticatorOptions,
): Authenticator {
  const negativeTtl = options.negativeTtlMs ?? Math.min(options.ttlMs, 10_000);
  const cache = new LRUCache<string, Identity | false>({
    max: Math.max(1, options.max),
    ttl: Math.max(1, options.ttlMs),
  });
  const inFlight = new Map<string, Promise<Identity | null>>();
  const registers = options.registry === undefined ? [] : [options.registry];
  const lookups = new Counter({
    name: "drivecast_gateway_auth_cache_total",
    help: "Token lookups, by result (hit, miss)",
    labelNames: ["result"],
    registers,
  });
  const calls = new Counter({
    name: "drivecast_gateway_nuxeo_calls_total",
    help: "Calls to Nuxeo /api/v1/me, by outcome (ok, unauthorized, error)",
    labelNames: ["outcome"],
    registers,
  });

  // Bumped by every invalidation: a lookup that started before it must not cache its answer,
  // which may predate the revocation.
  let epoch = 0;

  const authenticate = (token: string): Promise<Identity | null> => {
    const cached = cache.get(token);
    if (cached !== undefined) {
      lookups.inc({ result: "hit" });
      return Promise.resolve(cached === false ? null : cached);
    }
    const running = inFlight.get(token);
    if (running !== undefined) {
      lookups.inc({ result: "hit" });
      return running;
    }
    lookups.inc({ result: "miss" });
    const startedAt = epoch;
    const lookup = client.me(token).then(
      (me) => {
        calls.inc({ outcome: "ok" });
        const identity: Identity = {
          user: me.id,
          groups: me.groups,
          isAdministrator: me.isAdministrator,
        };
        if (epoch === startedAt) cache.set(token, identity);
        return identity;
      },
      (err: unknown) => {
        if (err instanceof NuxeoUnauthorizedError) {
          calls.inc({ outcome: "unauthorized" });
          if (epoch === startedAt) cache.set(token, false, { ttl: Math.max(1, negativeTtl) });
          return null;
        }
        calls.inc({ outcome: "error" });
        throw err;
      },
    );
    inFlight.set(token, lookup);
    const done = (): void => {
      inFlight.delete(token);
    };
    lookup.then(done, done);
    return lookup;
  };

  const invalidate = (revocation: Revocation): void => {
    epoch++;
    if (revocation.token !== undefined) {
      cache.delete(revocation.token);
      inFlight.delete(revocation.token);
    }
    if (revocation.user !== undefined) {
      // Rare (an operator's command): a scan of the cache is fine.
      for (const [token, identity] of cache.entries()) {
        if (identity !== false && identity.user === revocation.user) cache.delete(token);
      }
    }
  };

  return Object.assign(authenticate, { invalidate });
}
