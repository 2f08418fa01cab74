// Client frames at the edge: encode ClientMessages, decode and check ServerMessages, for the
// `drivecast.v1.json` (text) and `drivecast.v1.msgpack` (binary) subprotocols. Browser-safe.
import { Decoder, Encoder } from "@msgpack/msgpack";
import { Subprotocol } from "@drivecast/protocol";
import type { ClientMessage, ServerMessage } from "@drivecast/protocol";
import { ProtocolError } from "./errors.js";
import type { WireFormat } from "./types.js";

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();
const textDecoder = new TextDecoder();

export function subprotocolOf(format: WireFormat): string {
  return format === "msgpack" ? Subprotocol.Msgpack : Subprotocol.Json;
}

export function encodeClientMessage(
  message: ClientMessage,
  format: WireFormat,
): string | Uint8Array {
  return format === "msgpack" ? encoder.encode(message) : JSON.stringify(message);
}

function isPosition(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function fail(what: string): never {
  throw new ProtocolError(`the server sent ${what}`, { retriable: true });
}

/** Decodes one server frame (string, ArrayBuffer or a byte view) and checks its shape. */
export function decodeServerFrame(data: unknown): ServerMessage {
  let value: unknown;
  try {
    if (typeof data === "string") {
      value = JSON.parse(data);
    } else if (data instanceof ArrayBuffer) {
      value = decoder.decode(new Uint8Array(data));
    } else if (ArrayBuffer.isView(data)) {
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      // A text frame delivered as bytes (some runtimes) starts with `{`; msgpack maps never do.
      value = bytes[0] === 0x7b ? JSON.parse(textDecoder.decode(bytes)) : decoder.decode(bytes);
    } else {
      fail("a frame of an unknown kind");
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError("the server sent an undecodable frame", {
      cause: err,
      retriable: true,
    });
  }
  return checkServerMessage(value);
}

export function checkServerMessage(value: unknown): ServerMessage {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail("a message that is not an object");
  }
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "welcome":
      if (typeof m.heartbeatMs !== "number" || !(m.heartbeatMs > 0)) {
        fail("a welcome without a positive heartbeatMs");
      }
      if (typeof m.maxBatchSize !== "number" || !(m.maxBatchSize > 0)) {
        fail("a welcome without a positive maxBatchSize");
      }
      return value as ServerMessage;
    case "changes": {
      if (!isPosition(m.lowerBound)) fail("a changes message without a lowerBound position");
      const s = m.summary as Record<string, unknown> | null | undefined;
      if (typeof s !== "object" || s === null) fail("a changes message without a summary");
      if (!isPosition(s.upperBound)) fail("a summary without an upperBound position");
      if (!Array.isArray(s.fileSystemChanges)) fail("a summary without fileSystemChanges");
      if (typeof s.hasTooManyChanges !== "boolean") fail("a summary without hasTooManyChanges");
      return value as ServerMessage;
    }
    case "scrollResult":
      if (typeof m.requestId !== "string") fail("a scrollResult without a requestId");
      if (typeof m.scrollId !== "string") fail("a scrollResult without a scrollId");
      if (!Array.isArray(m.fileSystemItems)) fail("a scrollResult without fileSystemItems");
      return value as ServerMessage;
    case "pong":
      return value as ServerMessage;
    case "error":
      if (typeof m.code !== "string") fail("an error without a code");
      return value as ServerMessage;
    default:
      fail(`a message of unknown type ${JSON.stringify(m.type)}`);
  }
}
