import { describe, expect, it } from "vitest";
import { createSchemaRegistry, SchemaRegistryError } from "../src/mod.js";

function fakeFetch(answers: (() => Response)[]) {
  const seen: { url: string; headers: Record<string, string> }[] = [];
  const fn = (async (url: string, init?: RequestInit) => {
    seen.push({ url, headers: { ...(init?.headers as Record<string, string>) } });
    const next = answers.shift();
    if (next === undefined) throw new TypeError("fetch failed");
    return next();
  }) as typeof fetch;
  return { fn, seen };
}

const json = (status: number, body: unknown) => () =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

describe("schema registry", () => {
  it("registry - reads the schema text of an id, credentials moved to a header", async () => {
    const f = fakeFetch([json(200, { schema: '{"type":"string"}' })]);
    const r = createSchemaRegistry({ url: "http://u%40x:p%3Aw@registry:8081/", fetch: f.fn });
    expect(await r.schemaById(42)).toBe('{"type":"string"}');
    expect(f.seen[0]!.url).toBe("http://registry:8081/schemas/ids/42");
    expect(f.seen[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from("u@x:p:w").toString("base64")}`,
    );
    expect(r.url).not.toContain("p%3Aw");
  });

  it("registry - an unknown id is null; outages are retried, then retriable errors", async () => {
    const sleep = async () => {};
    expect(
      await createSchemaRegistry({
        url: "http://r",
        fetch: fakeFetch([json(404, { error_code: 40403 })]).fn,
        sleep,
      }).schemaById(1),
    ).toBeNull();
    const flaky = fakeFetch([json(503, {}), json(200, { schema: "{}" })]);
    expect(
      await createSchemaRegistry({ url: "http://r", fetch: flaky.fn, sleep }).schemaById(2),
    ).toBe("{}");
    const down = createSchemaRegistry({
      url: "http://r",
      fetch: fakeFetch([]).fn,
      sleep,
      retries: 2,
    });
    const e = await down.schemaById(3).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SchemaRegistryError);
    expect((e as SchemaRegistryError).retriable).toBe(true);
  });

  it("registry - an answer that is not an Avro schema is not retriable", async () => {
    for (const answer of [
      () => new Response("<html>", { status: 200 }),
      json(200, { schema: "{}", schemaType: "PROTOBUF" }),
      json(200, { id: 1 }),
      json(401, { message: "unauthorized" }),
    ]) {
      const e = await createSchemaRegistry({ url: "http://r", fetch: fakeFetch([answer]).fn })
        .schemaById(5)
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SchemaRegistryError);
      expect((e as SchemaRegistryError).retriable).toBe(false);
    }
  });
});
