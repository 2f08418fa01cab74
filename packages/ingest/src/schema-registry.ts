// A Confluent-compatible schema registry, read-only: the writer schema of an id. Wire shape of
// `GET /schemas/ids/{id}`: `{"schema": "<schema JSON as a string>", "schemaType"?: "AVRO"|…}`,
// 404 (error_code 40403) when the id is unknown. Ids are immutable in such a registry, so the
// decoder caches what this returns forever; only misses and outages reach the network.
import { SchemaRegistryError } from "./errors.js";

export interface SchemaRegistryOptions {
  /** Base URL, e.g. `http://registry:8081`; `user:password@` in it becomes basic auth. */
  url: string;
  /** Per attempt. Default 5000 ms. */
  timeoutMs?: number;
  /** Retries of retriable failures within one call. Default 3. */
  retries?: number;
  /** First backoff, doubled each retry (full jitter). Default 200 ms. */
  backoffMs?: number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

export interface SchemaRegistry {
  readonly url: string;
  /** The schema text of `id`, or null when the registry does not know the id. */
  schemaById(id: number): Promise<string | null>;
}

interface WireSchemaById {
  schema?: unknown;
  schemaType?: unknown;
}

export function createSchemaRegistry(options: SchemaRegistryOptions): SchemaRegistry {
  const parsed = new URL(options.url);
  const headers: Record<string, string> = {
    accept: "application/vnd.schemaregistry.v1+json, application/json",
  };
  if (parsed.username !== "" || parsed.password !== "") {
    // fetch refuses URLs with credentials: move them to a header.
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    parsed.username = "";
    parsed.password = "";
  }
  const base = parsed.toString().replace(/\/+$/, "");
  const shown = base; // never log credentials
  const timeoutMs = options.timeoutMs ?? 5_000;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 200;
  const fetchFn = options.fetch ?? fetch;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  async function once(id: number): Promise<string | null> {
    let res: Response;
    let text: string;
    try {
      res = await fetchFn(`${base}/schemas/ids/${id}`, {
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (cause) {
      throw new SchemaRegistryError(
        id,
        `schema registry ${shown} did not answer for schema id ${id} (${cause instanceof Error ? cause.message : String(cause)}); check DRIVECAST_SCHEMA_REGISTRY_URL and that the registry is up`,
        { cause, retriable: true },
      );
    }
    if (res.status === 404) return null;
    if (res.status < 200 || res.status >= 300) {
      throw new SchemaRegistryError(
        id,
        `schema registry ${shown} answered ${res.status} for schema id ${id}: ${text.slice(0, 200)}`,
        { retriable: res.status === 429 || res.status >= 500, status: res.status },
      );
    }
    let body: WireSchemaById;
    try {
      body = JSON.parse(text) as WireSchemaById;
    } catch (cause) {
      throw new SchemaRegistryError(
        id,
        `schema registry ${shown} answered schema id ${id} with a body that is not JSON; check that the URL points at a Confluent-compatible registry`,
        { cause, retriable: false, status: res.status },
      );
    }
    if (body.schemaType !== undefined && body.schemaType !== "AVRO") {
      throw new SchemaRegistryError(
        id,
        `schema id ${id} is a ${String(body.schemaType)} schema, not Avro: the topic is not written by Nuxeo's avroConfluent codec`,
        { retriable: false, status: res.status },
      );
    }
    if (typeof body.schema !== "string") {
      throw new SchemaRegistryError(
        id,
        `schema registry ${shown} answered schema id ${id} without a "schema" string`,
        { retriable: false, status: res.status },
      );
    }
    return body.schema;
  }

  return {
    url: shown,
    async schemaById(id) {
      for (let attempt = 0; ; attempt++) {
        try {
          return await once(id);
        } catch (err) {
          if (!(err instanceof SchemaRegistryError) || !err.retriable || attempt >= retries) {
            throw err;
          }
          await sleep(Math.floor(Math.random() * backoffMs * 2 ** attempt));
        }
      }
    },
  };
}
