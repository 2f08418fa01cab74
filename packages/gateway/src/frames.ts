// Client frames on the WebSocket: decoded and validated once at the edge, encoded once per
// message. JSON text frames for `drivecast.v1.json`, msgpack binary frames for
// `drivecast.v1.msgpack` (PROTOCOL.md). Anything wrong is a ProtocolViolation (close 4000).
import { Decoder, Encoder } from "@msgpack/msgpack";
import { ProtocolViolation, Subprotocol, parseClientMessage } from "@drivecast/protocol";
import type { ClientMessage, ServerMessage } from "@drivecast/protocol";

const textDecoder = new TextDecoder("utf-8", { fatal: true });
// One encoder, reused: its internal buffer is copied out by encode(), see encodeServerMessage.
const msgpackEncoder = new Encoder({ ignoreUndefined: true });
const msgpackDecoder = new Decoder();

/** The subprotocol to answer for a `Sec-WebSocket-Protocol` request header, or null if none fits. */
export function chooseSubprotocol(header: string): Subprotocol | null {
  if (header.trim() === "") return Subprotocol.Json;
  const offered = header.split(",").map((s) => s.trim());
  // The client's order of preference decides (RFC 6455 §4.2.2).
  for (const p of offered) {
    if (p === Subprotocol.Json || p === Subprotocol.Msgpack) return p;
  }
  return null;
}

/**
 * Decodes and validates one client frame. `data` is only valid during the uWS callback: it is
 * read here, synchronously, and never kept.
 */
export function decodeClientFrame(
  data: ArrayBuffer,
  isBinary: boolean,
  protocol: Subprotocol,
  maxBytes: number,
): ClientMessage {
  if (data.byteLength > maxBytes) {
    throw new ProtocolViolation(
      `a message of ${data.byteLength} bytes exceeds the limit of ${maxBytes}`,
    );
  }
  let value: unknown;
  if (protocol === Subprotocol.Json) {
    if (isBinary) throw new ProtocolViolation(`${Subprotocol.Json} takes text frames only`);
    let text: string;
    try {
      text = textDecoder.decode(data);
    } catch {
      throw new ProtocolViolation("a text frame must be valid UTF-8");
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new ProtocolViolation("a text frame must hold one JSON object");
    }
  } else {
    if (!isBinary) throw new ProtocolViolation(`${Subprotocol.Msgpack} takes binary frames only`);
    try {
      value = msgpackDecoder.decode(new Uint8Array(data));
    } catch {
      throw new ProtocolViolation("a binary frame must hold one msgpack object");
    }
  }
  return parseClientMessage(value);
}

/** The frame for a server message: a string (text frame) or bytes (binary frame). */
export function encodeServerMessage(
  message: ServerMessage,
  protocol: Subprotocol,
): string | Uint8Array {
  if (protocol === Subprotocol.Json) return JSON.stringify(message);
  return msgpackEncoder.encode(message).slice();
}
