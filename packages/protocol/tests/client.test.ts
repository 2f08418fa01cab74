import { describe, expect, it } from "vitest";
import { ProtocolViolation, parseClientMessage } from "../src/mod.js";

function violation(value: unknown): ProtocolViolation {
  try {
    parseClientMessage(value);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolViolation);
    return e as ProtocolViolation;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

describe("client messages", () => {
  it("parseClientMessage - accepts subscribe with a position or null", () => {
    expect(parseClientMessage({ type: "subscribe", lowerBound: 1_795_000_000_000_000 })).toEqual({
      type: "subscribe",
      lowerBound: 1_795_000_000_000_000,
    });
    expect(parseClientMessage({ type: "subscribe", lowerBound: null })).toEqual({
      type: "subscribe",
      lowerBound: null,
    });
    expect(parseClientMessage({ type: "subscribe", lowerBound: 0 })).toEqual({
      type: "subscribe",
      lowerBound: 0,
    });
  });

  it("parseClientMessage - accepts ack, scroll and ping, dropping unknown fields", () => {
    expect(parseClientMessage({ type: "ack", upperBound: 42, extra: 1 })).toEqual({
      type: "ack",
      upperBound: 42,
    });
    expect(
      parseClientMessage({
        type: "scroll",
        requestId: "r1",
        id: "defaultSyncRootFolderItemFactory#default#u",
        batchSize: 100,
      }),
    ).toEqual({
      type: "scroll",
      requestId: "r1",
      id: "defaultSyncRootFolderItemFactory#default#u",
      scrollId: null,
      batchSize: 100,
    });
    expect(
      parseClientMessage({
        type: "scroll",
        requestId: "r2",
        id: "x",
        scrollId: "s",
        batchSize: 1,
        keepAlive: 30_000,
      }),
    ).toEqual({
      type: "scroll",
      requestId: "r2",
      id: "x",
      scrollId: "s",
      batchSize: 1,
      keepAlive: 30_000,
    });
    expect(
      parseClientMessage({
        type: "scroll",
        requestId: "r3",
        id: "x",
        scrollId: null,
        batchSize: 5,
        keepAlive: null,
      }),
    ).toEqual({ type: "scroll", requestId: "r3", id: "x", scrollId: null, batchSize: 5 });
    expect(parseClientMessage({ type: "ping", t: { any: ["thing"] } })).toEqual({
      type: "ping",
      t: { any: ["thing"] },
    });
    expect(parseClientMessage({ type: "ping" })).toEqual({ type: "ping", t: undefined });
  });

  const malformed: [string, unknown, RegExp][] = [
    ["null", null, /must be an object/],
    ["a string", "subscribe", /must be an object/],
    ["an array", [{ type: "ack" }], /must be an object/],
    ["no type", { lowerBound: 1 }, /unknown message type undefined/],
    ["an unknown type", { type: "hello" }, /unknown message type "hello"/],
    ["subscribe without lowerBound", { type: "subscribe" }, /subscribe.lowerBound/],
    [
      "subscribe with a negative lowerBound",
      { type: "subscribe", lowerBound: -1 },
      /subscribe.lowerBound/,
    ],
    [
      "subscribe with a fractional lowerBound",
      { type: "subscribe", lowerBound: 1.5 },
      /subscribe.lowerBound/,
    ],
    [
      "subscribe with a string lowerBound",
      { type: "subscribe", lowerBound: "12" },
      /subscribe.lowerBound/,
    ],
    [
      "subscribe with an unsafe lowerBound",
      { type: "subscribe", lowerBound: 2 ** 53 },
      /subscribe.lowerBound/,
    ],
    ["ack without upperBound", { type: "ack" }, /ack.upperBound/],
    ["ack with a negative upperBound", { type: "ack", upperBound: -3 }, /ack.upperBound/],
    ["ack with a null upperBound", { type: "ack", upperBound: null }, /ack.upperBound/],
    ["scroll without requestId", { type: "scroll", id: "x", batchSize: 1 }, /scroll.requestId/],
    [
      "scroll with an empty requestId",
      { type: "scroll", requestId: "", id: "x", batchSize: 1 },
      /scroll.requestId/,
    ],
    ["scroll without id", { type: "scroll", requestId: "r", batchSize: 1 }, /scroll.id/],
    [
      "scroll with a numeric scrollId",
      { type: "scroll", requestId: "r", id: "x", scrollId: 3, batchSize: 1 },
      /scroll.scrollId/,
    ],
    [
      "scroll with batchSize 0",
      { type: "scroll", requestId: "r", id: "x", batchSize: 0 },
      /scroll.batchSize/,
    ],
    ["scroll without batchSize", { type: "scroll", requestId: "r", id: "x" }, /scroll.batchSize/],
    [
      "scroll with a negative keepAlive",
      { type: "scroll", requestId: "r", id: "x", batchSize: 1, keepAlive: -1 },
      /scroll.keepAlive/,
    ],
    [
      "scroll with a string keepAlive",
      { type: "scroll", requestId: "r", id: "x", batchSize: 1, keepAlive: "1m" },
      /scroll.keepAlive/,
    ],
  ];

  for (const [what, value, message] of malformed) {
    it(`parseClientMessage - rejects ${what} with ProtocolViolation`, () => {
      const e = violation(value);
      expect(e.name).toBe("ProtocolViolation");
      expect(e.message).toMatch(message);
    });
  }
});
