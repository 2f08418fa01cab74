import { describe, expect, it } from "vitest";
import {
  RECORD_SCHEMA_2021,
  UnknownSchemaIdError,
  encodeRecord,
  InvalidSchemaError,
} from "@drivecast/protocol";
import { createIngestDecoder, SchemaRegistryError, type SchemaRegistry } from "../src/mod.js";
import { auditEntry, nuxeoRecord } from "./helpers.js";

const record = nuxeoRecord(auditEntry({ eventId: "documentModified", docUUID: "u1" }));

function registry(schemas: Record<number, string | Error>): SchemaRegistry & { calls: number[] } {
  const calls: number[] = [];
  return {
    url: "http://registry",
    calls,
    async schemaById(id) {
      calls.push(id);
      const s = schemas[id];
      if (s instanceof Error) throw s;
      return s ?? null;
    },
  };
}

async function decodeOrRecover(d: Awaited<ReturnType<typeof createIngestDecoder>>, p: Uint8Array) {
  try {
    return d.decode(p);
  } catch (error) {
    if (await d.recover(error)) return d.decode(p);
    throw error;
  }
}

describe("ingest decoder", () => {
  it("decoder - avroConfluent fetches an unknown id once and keeps it", async () => {
    const r = registry({ 7: RECORD_SCHEMA_2021 });
    const d = await createIngestDecoder({ codec: "avroConfluent", registry: r });
    const bytes = encodeRecord(record, { codec: "avroConfluent", schema: "2021", schemaId: 7 });
    expect((await decodeOrRecover(d, bytes)).key).toBe("u1");
    expect((await decodeOrRecover(d, bytes)).key).toBe("u1");
    expect(r.calls).toEqual([7]);
  });

  it("decoder - an id the registry does not know stays unknown for a while", async () => {
    let now = 0;
    const r = registry({});
    const d = await createIngestDecoder({
      codec: "avroConfluent",
      registry: r,
      retryUnknownMs: 1_000,
      now: () => now,
    });
    const bytes = encodeRecord(record, { codec: "avroConfluent", schemaId: 9 });
    await expect(decodeOrRecover(d, bytes)).rejects.toBeInstanceOf(UnknownSchemaIdError);
    await expect(decodeOrRecover(d, bytes)).rejects.toBeInstanceOf(UnknownSchemaIdError);
    expect(r.calls).toEqual([9]);
    now = 1_001;
    await expect(decodeOrRecover(d, bytes)).rejects.toBeInstanceOf(UnknownSchemaIdError);
    expect(r.calls).toEqual([9, 9]);
  });

  it("decoder - an unreachable registry is a retriable failure, not a dead letter", async () => {
    const down = new SchemaRegistryError(3, "registry down", { retriable: true });
    const d = await createIngestDecoder({
      codec: "avroConfluent",
      registry: registry({ 3: down }),
    });
    const bytes = encodeRecord(record, { codec: "avroConfluent", schemaId: 3 });
    const error = await decodeOrRecover(d, bytes).catch((e: unknown) => e);
    expect(error).toBe(down);
    expect((error as SchemaRegistryError).retriable).toBe(true);
  });

  it("decoder - a registry schema that does not parse is a dead letter with its reason", async () => {
    const d = await createIngestDecoder({
      codec: "avroConfluent",
      registry: registry({ 4: '{"type": "nope"}' }),
    });
    const bytes = encodeRecord(record, { codec: "avroConfluent", schemaId: 4 });
    const error = await decodeOrRecover(d, bytes).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidSchemaError);
    expect((error as InvalidSchemaError).reason).toBe("invalid_schema");
  });

  it("decoder - without a schema folder an unknown fingerprint is not looked for", async () => {
    const d = await createIngestDecoder({ codec: "avro" });
    const bytes = new Uint8Array([0xc3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0]);
    let thrown: unknown;
    try {
      d.decode(bytes);
    } catch (e) {
      thrown = e;
    }
    expect(await d.recover(thrown)).toBe(false);
  });
});
