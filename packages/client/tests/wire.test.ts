import { describe, expect, it } from "vitest";
import { encode } from "@msgpack/msgpack";
import { checkServerMessage, decodeServerFrame, encodeClientMessage } from "../src/wire.js";

const changes = {
  type: "changes",
  lowerBound: 1,
  summary: {
    fileSystemChanges: [],
    syncDate: 0,
    upperBound: 2,
    hasTooManyChanges: false,
    activeSynchronizationRootDefinitions: "",
  },
};

describe("wire", () => {
  it("wire - decodes JSON text, msgpack ArrayBuffers and byte views", () => {
    const bytes = encode(changes);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    expect(decodeServerFrame(JSON.stringify(changes))).toEqual(changes);
    expect(decodeServerFrame(buffer)).toEqual(changes);
    expect(decodeServerFrame(bytes)).toEqual(changes);
    expect(decodeServerFrame(new TextEncoder().encode(JSON.stringify(changes)))).toEqual(changes);
  });

  it("wire - encodes client messages per format", () => {
    expect(encodeClientMessage({ type: "ack", upperBound: 5 }, "json")).toBe(
      '{"type":"ack","upperBound":5}',
    );
    expect(encodeClientMessage({ type: "ack", upperBound: 5 }, "msgpack")).toBeInstanceOf(
      Uint8Array,
    );
  });

  it("wire - refuses messages missing what the client relies on", () => {
    const bad: unknown[] = [
      null,
      [],
      { type: "nope" },
      { type: "welcome", heartbeatMs: 0, maxBatchSize: 1 },
      { ...changes, lowerBound: -1 },
      { ...changes, summary: { ...changes.summary, upperBound: 1.5 } },
      { ...changes, summary: { ...changes.summary, fileSystemChanges: null } },
      { type: "scrollResult", requestId: "r", scrollId: "s" },
      { type: "error", message: "no code" },
    ];
    for (const m of bad)
      expect(() => checkServerMessage(m), JSON.stringify(m)).toThrow(/server sent/);
    expect(() => decodeServerFrame("{oops")).toThrow(/undecodable/);
  });
});
