// The Nuxeo REST client. One method per call drivecast makes (spec/NUXEO.md §2); each attempt is
// timed and reported (`onRequest`), and retriable failures (5xx, 429, network, timeout) are
// retried with full-jitter exponential backoff, so a Nuxeo restart costs latency, not events.
import { LRUCache } from "lru-cache";
import { toDocument, toMemberGroups, toMembers, toPage, toPrincipal } from "./convert.js";
import {
  NuxeoError,
  NuxeoHttpError,
  NuxeoNetworkError,
  NuxeoResponseError,
  NuxeoTimeoutError,
  NuxeoUnauthorizedError,
} from "./errors.js";
import type {
  NuxeoAuth,
  NuxeoClient,
  NuxeoClientOptions,
  NuxeoDocument,
  NuxeoPage,
  NuxeoPrincipal,
  QueryOptions,
  RequestKind,
} from "./types.js";

/** Groups a transitive member lookup visits at most (a guard against a runaway hierarchy). */
const MAX_NESTED_GROUPS = 1_000;

/** Schemas and enrichers every document request asks for (what the snapshot needs). */
const DOCUMENT_HEADERS = {
  properties: "dublincore,file,driveroot",
  "enrichers-document": "acls,breadcrumb",
} as const;

/** An NXQL string literal: quotes and backslashes escaped, so a uid can never end the literal. */
export function nxqlString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

interface Attempt {
  kind: RequestKind;
  call: string;
  path: string;
  headers: Record<string, string>;
  /** Statuses that are an answer, not a failure (404 → null). */
  accept?: number[];
}

class NuxeoClientImpl implements NuxeoClient {
  readonly baseUrl: string;
  private readonly apiUrl: string;
  private readonly authHeaders: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly batchSize: number;
  private readonly fetchFn: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly onRequest: NuxeoClientOptions["onRequest"];
  private readonly meCache: LRUCache<string, NuxeoPrincipal> | null;
  private readonly counts: Record<RequestKind, number> = {
    me: 0,
    user: 0,
    group: 0,
    query: 0,
    document: 0,
  };

  constructor(o: NuxeoClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, "");
    this.apiUrl = `${this.baseUrl}/api/v1`;
    this.authHeaders =
      o.auth.kind === "basic"
        ? {
            authorization: `Basic ${Buffer.from(`${o.auth.user}:${o.auth.password}`).toString("base64")}`,
          }
        : { "x-authentication-token": o.auth.token };
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.retries = o.retries ?? 3;
    this.backoffMs = o.backoffMs ?? 100;
    this.maxBackoffMs = o.maxBackoffMs ?? 2_000;
    this.batchSize = Math.max(1, o.batchSize ?? 100);
    this.fetchFn = o.fetch ?? fetch;
    this.sleep = o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = o.random ?? Math.random;
    this.onRequest = o.onRequest;
    const ttl = o.meCacheTtlMs ?? 0;
    this.meCache = ttl > 0 ? new LRUCache({ max: o.meCacheMax ?? 10_000, ttl }) : null;
  }

  get requestCount(): Readonly<Record<RequestKind, number>> {
    return { ...this.counts };
  }

  /** One HTTP attempt: the parsed JSON body, or null for an accepted error status. */
  private async once(a: Attempt): Promise<unknown> {
    const started = performance.now();
    this.counts[a.kind]++;
    let status = 0;
    try {
      let res: Response;
      try {
        res = await this.fetchFn(`${this.apiUrl}${a.path}`, {
          headers: { accept: "application/json", ...a.headers },
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
          throw new NuxeoTimeoutError(a.call, this.timeoutMs, err);
        throw new NuxeoNetworkError(a.call, this.baseUrl, err);
      }
      status = res.status;
      let text: string;
      try {
        text = await res.text();
      } catch (err) {
        if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
          throw new NuxeoTimeoutError(a.call, this.timeoutMs, err);
        throw new NuxeoNetworkError(a.call, this.baseUrl, err);
      }
      if (a.accept?.includes(status)) return null;
      if (status === 401)
        throw new NuxeoUnauthorizedError(
          a.call,
          a.kind === "me"
            ? `${a.call}: Nuxeo refused the client's token (invalid or revoked); the device must authenticate again`
            : `${a.call}: Nuxeo refused the service account's credentials; check the configured user/password or token`,
        );
      if (status < 200 || status >= 300)
        throw new NuxeoHttpError(
          a.call,
          status,
          `${a.call}: Nuxeo answered ${status}: ${summary(text)}`,
        );
      try {
        return JSON.parse(text) as unknown;
      } catch (err) {
        throw new NuxeoResponseError(a.call, `body is not JSON: ${summary(text)}`, err);
      }
    } finally {
      this.onRequest?.(a.kind, performance.now() - started, status);
    }
  }

  private async request(a: Attempt): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(a);
      } catch (err) {
        if (!(err instanceof NuxeoError) || !err.retriable || attempt >= this.retries) throw err;
        const cap = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt);
        await this.sleep(Math.floor(this.random() * cap));
      }
    }
  }

  async me(clientToken: string): Promise<NuxeoPrincipal> {
    const cached = this.meCache?.get(clientToken);
    if (cached !== undefined) return cached;
    const call = "me";
    // The client's token alone: never the service account's credentials.
    const body = await this.request({
      kind: "me",
      call,
      path: "/me",
      headers: { "x-authentication-token": clientToken },
    });
    const principal = toPrincipal(call, body);
    this.meCache?.set(clientToken, principal);
    return principal;
  }

  async user(id: string): Promise<NuxeoPrincipal | null> {
    const call = `user ${id}`;
    const body = await this.request({
      kind: "user",
      call,
      path: `/user/${encodeURIComponent(id)}`,
      headers: this.authHeaders,
      accept: [404],
    });
    return body === null ? null : toPrincipal(call, body);
  }

  async groupMembers(
    name: string,
    options: { transitive?: boolean } = {},
  ): Promise<string[] | null> {
    if (options.transitive !== true) {
      const body = await this.group(name, "memberUsers");
      return body === null ? null : toMembers(`group ${name}`, body);
    }
    // Users of the subgroups too, each group asked once (a cycle or a diamond costs nothing more).
    const users = new Set<string>();
    const seen = new Set<string>([name]);
    const queue = [name];
    let found = false;
    for (let i = 0; i < queue.length && i < MAX_NESTED_GROUPS; i++) {
      const g = queue[i] as string;
      const body = await this.group(g, "memberUsers,memberGroups");
      if (body === null) continue; // deleted meanwhile: no members
      if (g === name) found = true;
      for (const u of toMembers(`group ${g}`, body)) users.add(u);
      for (const sub of toMemberGroups(`group ${g}`, body)) {
        if (!seen.has(sub)) {
          seen.add(sub);
          queue.push(sub);
        }
      }
    }
    return found ? [...users] : null;
  }

  private group(name: string, fetch: string): Promise<unknown> {
    return this.request({
      kind: "group",
      call: `group ${name}`,
      path: `/group/${encodeURIComponent(name)}`,
      headers: { ...this.authHeaders, "fetch-group": fetch },
      accept: [404],
    });
  }

  async query(nxql: string, options: QueryOptions = {}): Promise<NuxeoPage> {
    const params = new URLSearchParams({ query: nxql });
    if (options.pageSize !== undefined) params.set("pageSize", String(options.pageSize));
    if (options.currentPageIndex !== undefined)
      params.set("currentPageIndex", String(options.currentPageIndex));
    const prefix =
      options.repository === undefined ? "" : `/repo/${encodeURIComponent(options.repository)}`;
    const call = `query ${nxql.length > 120 ? nxql.slice(0, 117) + "..." : nxql}`;
    const body = await this.request({
      kind: "query",
      call,
      path: `${prefix}/search/lang/NXQL/execute?${params.toString()}`,
      headers: { ...this.authHeaders, ...DOCUMENT_HEADERS },
    });
    return toPage(call, body);
  }

  async *queryAll(
    nxql: string,
    pageSize = 100,
    options: { repository?: string } = {},
  ): AsyncIterable<NuxeoPage> {
    for (let index = 0; ; index++) {
      const page = await this.query(nxql, { ...options, pageSize, currentPageIndex: index });
      yield page;
      if (!page.isNextPageAvailable || page.entries.length === 0) return;
    }
  }

  async document(repository: string, uid: string): Promise<NuxeoDocument | null> {
    const call = `document ${repository}/${uid}`;
    const body = await this.request({
      kind: "document",
      call,
      path: `/repo/${encodeURIComponent(repository)}/id/${encodeURIComponent(uid)}`,
      headers: { ...this.authHeaders, ...DOCUMENT_HEADERS },
      accept: [404],
    });
    return body === null ? null : toDocument(call, body as never);
  }

  async documentsByIds(
    repository: string,
    uids: readonly string[],
  ): Promise<Map<string, NuxeoDocument>> {
    const out = new Map<string, NuxeoDocument>();
    const unique = [...new Set(uids)];
    for (let i = 0; i < unique.length; i += this.batchSize) {
      const chunk = unique.slice(i, i + this.batchSize);
      const nxql = `SELECT * FROM Document WHERE ecm:uuid IN (${chunk.map(nxqlString).join(",")})`;
      // One page holds the whole chunk; follow further pages anyway should a server cap it lower.
      for await (const page of this.queryAll(nxql, chunk.length, { repository })) {
        for (const d of page.entries) out.set(d.snapshot.uid, d);
      }
    }
    return out;
  }
}

function summary(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  try {
    const j = JSON.parse(t) as { message?: unknown };
    if (typeof j.message === "string") return j.message;
  } catch {
    // not JSON: show the start of the text
  }
  return t.length > 200 ? `${t.slice(0, 200)}…` : t || "(empty body)";
}

export function createNuxeoClient(options: NuxeoClientOptions): NuxeoClient {
  return new NuxeoClientImpl(options);
}

/**
 * The service account's auth from settings: a token when one is given, else basic auth.
 * Settings parsing (see @drivecast/bus `commonConfig`) guarantees one of them is complete.
 */
export function serviceAuth(settings: {
  token?: string | undefined;
  user?: string | undefined;
  password?: string | undefined;
}): NuxeoAuth {
  if (settings.token) return { kind: "token", token: settings.token };
  if (settings.user !== undefined && settings.password !== undefined) {
    return { kind: "basic", user: settings.user, password: settings.password };
  }
  throw new TypeError("a Nuxeo service account needs a token, or a user and a password");
}
