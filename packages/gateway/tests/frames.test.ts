import { describe, expect, it } from "vitest";
import { encode } from "@msgpack/msgpack";
import { ProtocolViolation, Subprotocol } from "@drivecast/protocol";
import { chooseSubprotocol, decodeClientFrame, encodeServerMessage } from "../src/frames.js";

const LIMIT = 1024;

function text(value: string): ArrayBuffer {
  const bytes = new TextEncoder().encode(value);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function binary(value: unknown): ArrayBuffer {
  const bytes = encode(value);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

describe("frames", () => {
  it("json - decodes a subscribe text frame", () => {
    expect(
      decodeClientFrame(
        text('{"type":"subscribe","lowerBound":null}'),
        false,
        Subprotocol.Json,
        LIMIT,
      ),
    ).toEqual({
      type: "subscribe",
      lowerBound: null,
    });
  });

  it("msgpack - decodes an ack binary frame", () => {
    expect(
      decodeClientFrame(
        binary({ type: "ack", upperBound: 2 ** 52 }),
        true,
        Subprotocol.Msgpack,
        LIMIT,
      ),
    ).toEqual({
      type: "ack",
      upperBound: 2 ** 52,
    });
  });

  it("json - rejects malformed JSON, binary frames and invalid UTF-8", () => {
    expect(() => decodeClientFrame(text("{nope"), false, Subprotocol.Json, LIMIT)).toThrow(
      ProtocolViolation,
    );
    expect(() => decodeClientFrame(text("{}"), true, Subprotocol.Json, LIMIT)).toThrow(
      /text frames/,
    );
    const bad = new Uint8Array([0xff, 0xfe]).buffer;
    expect(() => decodeClientFrame(bad, false, Subprotocol.Json, LIMIT)).toThrow(/UTF-8/);
  });

  it("msgpack - rejects text frames and garbage", () => {
    expect(() => decodeClientFrame(text("{}"), false, Subprotocol.Msgpack, LIMIT)).toThrow(
      /binary frames/,
    );
    expect(() =>
      decodeClientFrame(new Uint8Array([0xc1]).buffer, true, Subprotocol.Msgpack, LIMIT),
    ).toThrow(ProtocolViolation);
  });

  it("validation - unknown type and missing fields are protocol violations", () => {
    expect(() =>
      decodeClientFrame(text('{"type":"hello"}'), false, Subprotocol.Json, LIMIT),
    ).toThrow(/unknown message type/);
    expect(() => decodeClientFrame(text('{"type":"ack"}'), false, Subprotocol.Json, LIMIT)).toThrow(
      /upperBound/,
    );
    expect(() => decodeClientFrame(text("[1]"), false, Subprotocol.Json, LIMIT)).toThrow(/object/);
  });

  it("size - a frame over the limit is refused with the limit named", () => {
    const big = text(JSON.stringify({ type: "ping", t: "x".repeat(LIMIT) }));
    expect(() => decodeClientFrame(big, false, Subprotocol.Json, LIMIT)).toThrow(/limit of 1024/);
  });

  it("subprotocol - the client's first supported offer wins; none offered means JSON", () => {
    expect(chooseSubprotocol("")).toBe(Subprotocol.Json);
    expect(chooseSubprotocol("drivecast.v1.msgpack, drivecast.v1.json")).toBe(Subprotocol.Msgpack);
    expect(chooseSubprotocol("other, drivecast.v1.json")).toBe(Subprotocol.Json);
    expect(chooseSubprotocol("other")).toBeNull();
  });

  it("encode - JSON as text, msgpack as an independent byte copy", () => {
    expect(encodeServerMessage({ type: "pong", t: 1 }, Subprotocol.Json)).toBe(
      '{"type":"pong","t":1}',
    );
    const a = encodeServerMessage({ type: "pong", t: 1 }, Subprotocol.Msgpack) as Uint8Array;
    const b = encodeServerMessage({ type: "pong", t: 2 }, Subprotocol.Msgpack) as Uint8Array;
    expect(a).not.toEqual(b);
    expect(a).toEqual(encode({ type: "pong", t: 1 }));
  });
});
