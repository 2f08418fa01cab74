// The REST subset of Nuxeo that drivecast calls (spec/NUXEO.md §2), on node:http, under a context
// path (default `/nuxeo`, so a client's baseUrl is `http://127.0.0.1:<port>/nuxeo`).
//
// Auth, as Nuxeo's authentication chain: `X-Authentication-Token` header (or `token` query
// parameter), else basic auth; anything else is 401. Injected failures (`sim.failNext`) are
// served before auth so a client sees them whatever it sends.
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { NxqlSyntaxError } from "./errors.js";
import { indexedCandidates, matcher, parseNxql, sorter } from "./nxql.js";
import {
  renderDocument,
  renderDocumentPage,
  renderError,
  renderGroup,
  renderUser,
} from "./render.js";
import type { Json, RenderContext } from "./render.js";
import type { DocState } from "./repository.js";
import { simInternals } from "./simulator.js";
import type { SimInternals } from "./simulator.js";
import type { RestEndpoint, Simulator } from "./types.js";

export interface RestServerOptions {
  /** 0 = any free port. */
  port?: number;
  host?: string;
  /** Default `/nuxeo`. */
  contextPath?: string;
  /** Default page size of NXQL searches (Nuxeo's page providers default to 50 here). */
  defaultPageSize?: number;
  /** Largest page a search returns (Nuxeo's default `maxPageSize`, 1000). */
  maxPageSize?: number;
}

export interface RestServer {
  /** `http://<host>:<port><contextPath>`: a client's baseUrl. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function headerList(req: IncomingMessage, ...names: string[]): string[] {
  for (const n of names) {
    const v = req.headers[n];
    if (typeof v === "string" && v.trim() !== "")
      return v
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
  }
  return [];
}

function authenticate(internals: SimInternals, req: IncomingMessage, url: URL): string {
  const repo = internals.repo;
  const token = req.headers["x-authentication-token"] ?? url.searchParams.get("token") ?? undefined;
  if (typeof token === "string") {
    const user = repo.userForToken(token);
    if (user === undefined || !repo.hasUser(user))
      throw new HttpFailure(401, "invalid or revoked authentication token");
    return user;
  }
  const auth = req.headers["authorization"];
  if (typeof auth === "string" && auth.startsWith("Basic ")) {
    const decoded = Buffer.from(auth.slice(6), "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    const user = decoded.slice(0, colon);
    if (colon > 0 && repo.checkPassword(user, decoded.slice(colon + 1))) return user;
    throw new HttpFailure(401, "bad user name or password");
  }
  throw new HttpFailure(401, "authentication required");
}

/** A malformed escape stays as sent (it then names nothing) rather than failing the request. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function endpointOf(parts: string[]): RestEndpoint {
  // parts after `api/v1`
  const [a, , c] = parts;
  if (a === "me") return "me";
  if (a === "user") return "user";
  if (a === "group") return "group";
  if (a === "search" || (a === "repo" && c === "search")) return "search";
  if (a === "repo" || a === "id" || a === "path") return "document";
  return "other";
}

export async function startRestServer(
  sim: Simulator,
  options: RestServerOptions = {},
): Promise<RestServer> {
  const internals = simInternals(sim);
  const repo = internals.repo;
  const contextPath = (options.contextPath ?? "/nuxeo").replace(/\/$/, "");
  const host = options.host ?? "127.0.0.1";
  const defaultPageSize = options.defaultPageSize ?? 50;
  const maxPageSize = options.maxPageSize ?? 1000;
  let baseUrl = "";

  const renderContext = (req: IncomingMessage, user: string): RenderContext => {
    const props = headerList(req, "properties", "x-nxproperties", "x-nxdocumentproperties");
    return {
      repo,
      baseUrl,
      user,
      schemas: props.length === 0 || props.includes("*") ? "*" : new Set(props),
      enrichers: new Set(headerList(req, "enrichers-document", "enrichers.document")),
    };
  };

  const documentResponse = (
    req: IncomingMessage,
    user: string,
    doc: DocState | undefined,
    ref: string,
  ) => {
    if (doc === undefined) throw new HttpFailure(404, `Failed to get document ${ref}: not found`);
    if (!repo.can(user, "Read", doc))
      throw new HttpFailure(403, `Privilege 'Read' is not granted to '${user}'`);
    return renderDocument(renderContext(req, user), doc);
  };

  const search = (req: IncomingMessage, user: string, url: URL, repository: string): Json => {
    const query = url.searchParams.get("query");
    if (query === null || query.trim() === "")
      throw new HttpFailure(400, "query parameter is required");
    let compiled;
    try {
      compiled = parseNxql(query);
    } catch (err) {
      if (err instanceof NxqlSyntaxError) throw new HttpFailure(400, err.message);
      throw err;
    }
    const pageSizeParam = Number(url.searchParams.get("pageSize") ?? defaultPageSize);
    const pageIndex = Math.max(
      0,
      Math.floor(Number(url.searchParams.get("currentPageIndex") ?? 0)) || 0,
    );
    const pageSize =
      !Number.isFinite(pageSizeParam) || pageSizeParam <= 0
        ? maxPageSize
        : Math.min(Math.floor(pageSizeParam), maxPageSize);
    const match = matcher(compiled, (d) => repo.ancestorsOf(d));
    const only = indexedCandidates(
      compiled,
      (uid) => repo.find(uid)?.children ?? [],
      (uid) => {
        const doc = repo.find(uid);
        return doc === undefined ? [] : repo.subtree(doc).map((d) => d.uid);
      },
    );
    // Nuxeo filters query results by the Browse permission of the caller (admins see all).
    // Results keep creation order whichever way the candidates were found.
    const hits: DocState[] = [];
    for (const d of repo.all()) {
      if (d.repository !== repository) continue;
      if (only !== null && !only.has(d.uid)) continue;
      if (match(d) && repo.can(user, "Browse", d)) hits.push(d);
    }
    const sort = sorter(compiled);
    if (sort !== null) hits.sort(sort);
    return renderDocumentPage(renderContext(req, user), {
      entries: hits.slice(pageIndex * pageSize, (pageIndex + 1) * pageSize),
      resultsCount: hits.length,
      pageSize,
      maxPageSize,
      currentPageIndex: pageIndex,
    });
  };

  const route = (req: IncomingMessage, url: URL, parts: string[], user: string): Json => {
    const [a, b, c, d] = parts;
    if (a === "me" && parts.length === 1) return renderUser(repo, user);
    if (a === "user" && b !== undefined && parts.length === 2) {
      const u = renderUser(repo, b);
      if (u === null) throw new HttpFailure(404, `user ${b} not found`);
      return u;
    }
    if (a === "group" && b !== undefined && parts.length === 2) {
      const g = renderGroup(repo, b, new Set(headerList(req, "fetch-group", "fetch.group")));
      if (g === null) throw new HttpFailure(404, `group ${b} not found`);
      return g;
    }
    if (a === "search" && b === "lang" && c === "NXQL" && d === "execute" && parts.length === 4)
      return search(req, user, url, repo.defaultRepository);
    if (a === "repo" && b !== undefined && c === "search" && parts.length === 6) {
      if (!repo.hasRepository(b)) throw new HttpFailure(404, `repository ${b} not found`);
      return search(req, user, url, b);
    }
    if (a === "id" && b !== undefined && parts.length === 2)
      return documentResponse(req, user, uidLookup(b, repo.defaultRepository), b);
    if (a === "repo" && b !== undefined && c === "id" && d !== undefined && parts.length === 4) {
      if (!repo.hasRepository(b)) throw new HttpFailure(404, `repository ${b} not found`);
      return documentResponse(req, user, uidLookup(d, b), d);
    }
    if (a === "path") {
      const path = "/" + parts.slice(1).join("/");
      return documentResponse(req, user, repo.find(path, repo.defaultRepository), path);
    }
    throw new HttpFailure(404, `no such endpoint: ${url.pathname}`);
  };

  const uidLookup = (uid: string, repository: string): DocState | undefined => {
    const doc = uid.startsWith("/") ? undefined : repo.find(uid);
    return doc?.repository === repository ? doc : undefined;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const prefix = `${contextPath}/api/v1/`;
    const parts = url.pathname.startsWith(prefix)
      ? url.pathname
          .slice(prefix.length)
          .split("/")
          .filter((p) => p !== "")
          .map(safeDecode)
      : null;
    internals.count(parts === null ? "other" : endpointOf(parts));
    const failure = internals.takeFailure();
    if (failure !== null) {
      if (failure === 0) {
        req.socket.destroy();
        return;
      }
      send(res, failure, renderError(failure, `injected failure (sim.failNext)`));
      return;
    }
    try {
      if (parts === null) throw new HttpFailure(404, `no such endpoint: ${url.pathname}`);
      if (req.method !== "GET") throw new HttpFailure(405, `${req.method} is not supported here`);
      const user = authenticate(internals, req, url);
      send(res, 200, route(req, url, parts, user));
    } catch (err) {
      if (err instanceof HttpFailure) {
        if (err.status === 401) res.setHeader("www-authenticate", 'Basic realm="Nuxeo"');
        send(res, err.status, renderError(err.status, err.message));
      } else {
        send(res, 500, renderError(500, err instanceof Error ? err.message : String(err)));
      }
    }
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${host.includes(":") ? `[${host}]` : host}:${port}${contextPath}`;
  return {
    url: baseUrl,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
