// Wire shapes of the NATS implementation, converted here once: JetStream ack subjects, the pull
// request body, the headers carrying a request handler's error, header maps and blocks.
import type { MsgHdrs } from "@nats-io/transport-node";

/** Header carrying the code of the error a request handler answered with. */
export const ERROR_CODE_HEADER = "Drivecast-Error-Code";
/** Header carrying the message of that error (CR/LF replaced by spaces). */
export const ERROR_MESSAGE_HEADER = "Drivecast-Error";
/** Code sent when a handler threw something other than a RemoteError. */
export const INTERNAL_ERROR_CODE = "internal";

export const ACK = new TextEncoder().encode("+ACK");
export const TERM = new TextEncoder().encode("+TERM");
export const WORKING = new TextEncoder().encode("+WPI");
const NAK = new TextEncoder().encode("-NAK");

export function nakPayload(delayMs?: number): Uint8Array {
  if (delayMs === undefined || delayMs <= 0) return NAK;
  return new TextEncoder().encode(`-NAK {"delay":${nanos(delayMs)}}`);
}

export function nanos(ms: number): number {
  return Math.round(ms * 1_000_000);
}

export function millis(ns: number): number {
  return Math.round(ns / 1_000_000);
}

/** What the JetStream ack subject of a delivered message tells. */
export interface AckInfo {
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSeq: number;
  consumerSeq: number;
  /** Time the stream stored the message, epoch ms. */
  timeMs: number;
  /** Messages left for the consumer after this one. */
  pending: number;
}

/**
 * Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>` (9 tokens), or
 * the form with domain and account hash (`$JS.ACK.<domain>.<hash>.<stream>…`, 11 or 12 tokens).
 */
export function parseAckSubject(reply: string): AckInfo | null {
  const t = reply.split(".");
  if (t[0] !== "$JS" || t[1] !== "ACK") return null;
  let o: number;
  if (t.length === 9) o = 2;
  else if (t.length >= 11) o = 4;
  else return null;
  const tm = t[o + 5]!;
  return {
    stream: t[o]!,
    consumer: t[o + 1]!,
    deliveryCount: Number(t[o + 2]),
    streamSeq: Number(t[o + 3]),
    consumerSeq: Number(t[o + 4]),
    // Nanoseconds overflow a double's exact range: the milliseconds are the digits before the
    // last six (no BigInt per delivered message).
    timeMs: tm.length > 6 ? Number(tm.slice(0, -6)) : 0,
    pending: Number(t[o + 6]),
  };
}

/** Body of `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`. */
export interface PullRequest {
  batch: number;
  /** ns */
  expires: number;
  /**
   * With `expires`: wait up to `expires` for the first message, then deliver what is available
   * and end the request with a 404 at once instead of waiting for the whole batch.
   */
  no_wait: boolean;
}

export function pullRequest(batch: number, expiresMs: number): Uint8Array {
  const body: PullRequest = { batch, expires: nanos(Math.max(1, expiresMs)), no_wait: true };
  return new TextEncoder().encode(JSON.stringify(body));
}

/** User headers of a message: JetStream's own (`Nats-*`) are left out. */
export function userHeaders(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (h === undefined) return out;
  for (const key of h.keys()) {
    if (key.toLowerCase().startsWith("nats-")) continue;
    out[key] = h.get(key);
  }
  return out;
}

/** Header values cannot carry CR or LF. */
export function headerValue(s: string): string {
  return s.replace(/[\r\n]+/g, " ");
}

/** Bytes of a base64 string (JetStream API replies), as a plain Uint8Array. */
export function fromBase64(s: string): Uint8Array {
  const b = Buffer.from(s, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * User headers of a NATS header block (`NATS/1.0[ status]\r\nKey: Value\r\n…\r\n`), the
 * first value of each key, JetStream's own (`Nats-*`) left out: what `userHeaders` gives for a
 * delivered message.
 */
export function parseHeaderBlock(block: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = new TextDecoder().decode(block).split("\r\n");
  if (!lines[0]?.startsWith("NATS/")) return out;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (key.toLowerCase().startsWith("nats-") || key in out) continue;
    out[key] = line.slice(colon + 1).trim();
  }
  return out;
}
