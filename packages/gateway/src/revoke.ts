// The wire shape of an operator's revocation on `<subjectPrefix>drive.auth.revoke` (a core
// subject every gateway subscribes to), converted here once: a UTF-8 JSON object naming a token,
// a user, or both, e.g.
//   nats pub drive.auth.revoke '{"user":"alice"}'
//   nats pub drive.auth.revoke '{"token":"5c2b…"}'
// Every gateway closes the matching WebSockets with 4001 (SSE streams are ended) and makes its
// authenticator forget the cached answer, so a reconnect is checked with Nuxeo again.
import type { Revocation } from "./types.js";

const decoder = new TextDecoder("utf-8", { fatal: true });

/** The revocation a message carries, or null when it is not one (logged and ignored). */
export function parseRevocation(data: Uint8Array): Revocation | null {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const { token, user } = value as { token?: unknown; user?: unknown };
  const revocation: Revocation = {};
  if (typeof token === "string" && token !== "") revocation.token = token;
  if (typeof user === "string" && user !== "") revocation.user = user;
  if (revocation.token === undefined && revocation.user === undefined) return null;
  return revocation;
}

/** Whether a connection authenticated with `token` as `user` falls under `revocation`. */
export function revokes(revocation: Revocation, token: string, user: string): boolean {
  return revocation.token === token || revocation.user === user;
}
