import { describe, expect, it } from "vitest";
import { fromBase64, parseHeaderBlock } from "../src/nats-wire.js";

const block = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("nats wire", () => {
  it("header block - user headers, first value of each, JetStream's own left out", () => {
    const h = parseHeaderBlock(
      block(
        "NATS/1.0\r\nNats-Msg-Id: u:12\r\nDrivecast-Writer: w-1\r\nX-Url: http://h:8080/a\r\nX-Many: one\r\nX-Many: two\r\n\r\n",
      ),
    );
    expect(h).toEqual({ "Drivecast-Writer": "w-1", "X-Url": "http://h:8080/a", "X-Many": "one" });
  });

  it("header block - a status line is not a header; no headers is an empty map", () => {
    expect(parseHeaderBlock(block("NATS/1.0 503\r\n\r\n"))).toEqual({});
    expect(parseHeaderBlock(block("NATS/1.0\r\n\r\n"))).toEqual({});
    expect(parseHeaderBlock(block("not a header block"))).toEqual({});
  });

  it("base64 - decodes to a plain Uint8Array", () => {
    const b = fromBase64(Buffer.from([0, 1, 254, 255]).toString("base64"));
    expect(b.constructor).toBe(Uint8Array);
    expect([...b]).toEqual([0, 1, 254, 255]);
  });
});
