// Reconnect delays and what each close code means for the client (PROTOCOL.md "Close codes").
// Pure: the random source is injected.
import { CloseCode } from "@drivecast/protocol";

export interface BackoffOptions {
  /** Cap of the first delay; each failed attempt doubles the cap. Default 1 000 ms. */
  initialMs: number;
  /** Largest cap of an ordinary delay. Default 30 000 ms. */
  maxMs: number;
  /** Cap of the first delay after "too many connections" / "rate limited". Default 15 000 ms. */
  longInitialMs: number;
  /** Largest cap of a long delay. Default 300 000 ms. */
  longMaxMs: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialMs: 1_000,
  maxMs: 30_000,
  longInitialMs: 15_000,
  longMaxMs: 300_000,
});

/** What to do after a connection ended. */
export type CloseAction =
  /** Reconnect after an ordinary jittered delay and resume from the cursor. */
  | "reconnect"
  /** Reconnect after a long jittered delay (the server asked us to back off). */
  | "backoff"
  /** Get a new token (the `reauthenticate` callback), then reconnect; stop without one. */
  | "reauthenticate"
  /** Stop: retrying would fail the same way (protocol error). */
  | "stop";

/** The action for a WebSocket close code (1006 and unknown codes: an ordinary reconnect). */
export function closeAction(code: number): CloseAction {
  switch (code) {
    case CloseCode.ProtocolError:
      return "stop";
    case CloseCode.TokenRevoked:
      return "reauthenticate";
    case CloseCode.TooManyConnections:
    case CloseCode.RateLimited:
      return "backoff";
    default:
      // 1000, 1001, 4008 (resume from the cursor) and network failures alike.
      return "reconnect";
  }
}

/** The action for an HTTP status refusing the upgrade. */
export function refusalAction(status: number): CloseAction {
  if (status === 401 || status === 403) return "reauthenticate";
  if (status === 429) return "backoff";
  if (status === 400 || status === 404 || status === 413) return "stop";
  return "reconnect";
}

/**
 * Delay before attempt `attempt` (0 for the first retry). Ordinary delays use full jitter
 * (uniform in [0, cap]): after a server drain or lifetime close, thousands of devices reconnect
 * spread over the whole window instead of in waves. Long delays keep at least half the cap: the
 * server said it is overloaded for this user, so coming back early is what it asked us not to do.
 */
export function backoffDelay(
  attempt: number,
  long: boolean,
  options: BackoffOptions,
  random: () => number,
): number {
  const initial = long ? options.longInitialMs : options.initialMs;
  const max = long ? options.longMaxMs : options.maxMs;
  // 2^attempt overflows nothing below 2^30; beyond, the cap is max anyway.
  const cap = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(long ? cap / 2 + (r * cap) / 2 : r * cap);
}
