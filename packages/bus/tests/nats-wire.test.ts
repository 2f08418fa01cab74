import { describe, expect, it } from "vitest";
import { fromBase64, parseAckSubject, parseHeaderBlock } from "../src/nats-wire.js";

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

  it("ack subject - stream, consumer, counts and the storage time in exact milliseconds", () => {
    // 1795407495410123456 ns: beyond a double's exact range, its milliseconds are not.
    const info = parseAckSubject("$JS.ACK.DRIVE_EVENTS.shard-7.2.1234.1200.1795407495410123456.17");
    expect(info).toEqual({
      stream: "DRIVE_EVENTS",
      consumer: "shard-7",
      deliveryCount: 2,
      streamSeq: 1234,
      consumerSeq: 1200,
      timeMs: 1795407495410,
      pending: 17,
    });
    const domain = parseAckSubject("$JS.ACK.dom.hash.S.c.1.5.5.1795407495410999999.0.token");
    expect(domain?.timeMs).toBe(1795407495410);
    expect(domain?.stream).toBe("S");
    expect(parseAckSubject("_INBOX.x.y")).toBeNull();
  });
});
