// The client protocol of spec/PROTOCOL.md: messages, close codes, error codes, defaults.
import type { FileSystemChangeSummary, FileSystemItem } from "./drive.js";

export const Subprotocol = {
  Json: "drivecast.v1.json",
  Msgpack: "drivecast.v1.msgpack",
} as const;
export type Subprotocol = (typeof Subprotocol)[keyof typeof Subprotocol];

export const Paths = {
  WebSocket: "/drive/v1/ws",
  Events: "/drive/v1/events",
  GetChangeSummary: "/api/v1/automation/NuxeoDrive.GetChangeSummary",
  ScrollDescendants: "/api/v1/automation/NuxeoDrive.ScrollDescendants",
} as const;

/** Close codes (PROTOCOL.md "Close codes"): what happened, and what the client does next. */
export const CloseCode = {
  /** Normal closure: reconnect and resume. */
  Normal: 1000,
  /** Server going away (drain, lifetime): reconnect and resume. */
  GoingAway: 1001,
  /** Malformed frame, unknown type, missing field, oversized message: fix the client. */
  ProtocolError: 4000,
  /** Token expired or revoked: re-authenticate. */
  TokenRevoked: 4001,
  /** The socket's buffer limit was exceeded: reconnect and resume from the cursor. */
  SlowConsumer: 4008,
  /** Too many connections for this user: back off. */
  TooManyConnections: 4009,
  /** Too many requests: back off. */
  RateLimited: 4029,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Error codes carried by `error` messages and HTTP error bodies. */
export const ErrorCode = {
  BadRequest: "bad_request",
  Unauthorized: "unauthorized",
  TooLarge: "too_large",
  RateLimited: "rate_limited",
  NotReady: "not_ready",
  ScrollExpired: "scroll_expired",
  BatchTooLarge: "batch_too_large",
  NotFound: "not_found",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const Defaults = {
  heartbeatMs: 25_000,
  maxMessageBytes: 64 * 1024,
  maxBatchSize: 1000,
  scrollKeepAliveMs: 60_000,
  maxConnectionsPerUser: 64,
  changeLimit: 1000,
} as const;

// Client → server

export interface SubscribeMessage {
  type: "subscribe";
  lowerBound: number | null;
}
export interface AckMessage {
  type: "ack";
  upperBound: number;
}
export interface ScrollRequestMessage {
  type: "scroll";
  requestId: string;
  id: string;
  scrollId: string | null;
  batchSize: number;
  keepAlive?: number;
}
export interface PingMessage {
  type: "ping";
  t: unknown;
}
export type ClientMessage = SubscribeMessage | AckMessage | ScrollRequestMessage | PingMessage;

// Server → client

export interface WelcomeMessage {
  type: "welcome";
  userId: string;
  deviceId: string;
  heartbeatMs: number;
  maxBatchSize: number;
  serverVersion: string;
}
export interface ChangesMessage {
  type: "changes";
  lowerBound: number;
  summary: FileSystemChangeSummary;
}
export interface ScrollResultMessage {
  type: "scrollResult";
  requestId: string;
  scrollId: string;
  fileSystemItems: FileSystemItem[];
}
export interface PongMessage {
  type: "pong";
  t: unknown;
}
export interface ErrorMessage {
  type: "error";
  code: ErrorCode;
  message: string;
  requestId?: string;
}
export type ServerMessage =
  WelcomeMessage | ChangesMessage | ScrollResultMessage | PongMessage | ErrorMessage;

export class ProtocolViolation extends Error {
  override readonly name = "ProtocolViolation";
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Validates a decoded client frame. Throws ProtocolViolation (close 4000) naming what is wrong.
 */
export function parseClientMessage(value: unknown): ClientMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ProtocolViolation("a message must be an object with a `type`");
  }
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "subscribe":
      if (!("lowerBound" in m) || (m.lowerBound !== null && !isInt(m.lowerBound))) {
        throw new ProtocolViolation("subscribe.lowerBound must be a non-negative integer or null");
      }
      return { type: "subscribe", lowerBound: m.lowerBound as number | null };
    case "ack":
      if (!isInt(m.upperBound)) {
        throw new ProtocolViolation("ack.upperBound must be a non-negative integer");
      }
      return { type: "ack", upperBound: m.upperBound };
    case "scroll": {
      if (typeof m.requestId !== "string" || m.requestId === "") {
        throw new ProtocolViolation("scroll.requestId must be a non-empty string");
      }
      if (typeof m.id !== "string" || m.id === "") {
        throw new ProtocolViolation("scroll.id must be a FileSystemItem id");
      }
      if (m.scrollId !== null && m.scrollId !== undefined && typeof m.scrollId !== "string") {
        throw new ProtocolViolation("scroll.scrollId must be a string or null");
      }
      if (!isInt(m.batchSize) || m.batchSize === 0) {
        throw new ProtocolViolation("scroll.batchSize must be a positive integer");
      }
      if (m.keepAlive !== undefined && m.keepAlive !== null && !isInt(m.keepAlive)) {
        throw new ProtocolViolation("scroll.keepAlive must be a non-negative integer (ms)");
      }
      const msg: ScrollRequestMessage = {
        type: "scroll",
        requestId: m.requestId,
        id: m.id,
        scrollId: (m.scrollId as string | null | undefined) ?? null,
        batchSize: m.batchSize,
      };
      if (typeof m.keepAlive === "number") msg.keepAlive = m.keepAlive;
      return msg;
    }
    case "ping":
      return { type: "ping", t: m.t };
    default:
      throw new ProtocolViolation(`unknown message type ${JSON.stringify(m.type)}`);
  }
}
