// Public types of the Nuxeo client.
import type { DocSnapshot } from "@drivecast/protocol";

export type NuxeoAuth =
  { kind: "basic"; user: string; password: string } | { kind: "token"; token: string };

/** What a request was, for metrics (`onRequest`) and `requestCount`. */
export type RequestKind = "me" | "user" | "group" | "query" | "document";

export interface NuxeoClientOptions {
  /** Nuxeo's context URL, e.g. `http://nuxeo:8080/nuxeo` (no trailing `/api/v1`). */
  baseUrl: string;
  /** The service account (every call but `me`). */
  auth: NuxeoAuth;
  /** Per attempt (default 10 000 ms). */
  timeoutMs?: number;
  /** Retries after the first attempt for retriable failures (default 3). */
  retries?: number;
  /** First backoff step (default 100 ms); doubles each retry, full jitter, capped by maxBackoffMs. */
  backoffMs?: number;
  /** Default 2 000 ms. */
  maxBackoffMs?: number;
  /** uids per `ecm:uuid IN (…)` query in documentsByIds (default 100: keeps the URL under 8 KB). */
  batchSize?: number;
  /** Injected for tests; default the global fetch. */
  fetch?: typeof fetch;
  /** Injected for tests; default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Injected for tests; default Math.random. */
  random?: () => number;
  /** Called after every HTTP attempt: status 0 when no response arrived. */
  onRequest?: (kind: RequestKind, ms: number, status: number) => void;
  /**
   * Cache successful `me(token)` answers for this long (default 0: no cache). A revoked token
   * keeps working until its entry expires.
   */
  meCacheTtlMs?: number;
  /** Cache size bound for `me` (default 10 000 tokens). */
  meCacheMax?: number;
}

export interface NuxeoPrincipal {
  id: string;
  /** Transitive groups (Nuxeo's `extendedGroups[].name`). */
  groups: string[];
  isAdministrator: boolean;
}

export interface NuxeoDocument {
  snapshot: DocSnapshot;
  /** Ancestors top-down, the document included (the repository root is not listed by Nuxeo). */
  breadcrumb: { uid: string; path: string }[];
}

export interface NuxeoPage {
  entries: NuxeoDocument[];
  resultsCount: number;
  pageSize: number;
  currentPageIndex: number;
  numberOfPages: number;
  isNextPageAvailable: boolean;
}

export interface QueryOptions {
  pageSize?: number;
  currentPageIndex?: number;
  /** Default: the server's default repository. */
  repository?: string;
}

export interface NuxeoClient {
  readonly baseUrl: string;
  /** Authenticates a device: the CLIENT's token. 401 → NuxeoUnauthorizedError. */
  me(clientToken: string): Promise<NuxeoPrincipal>;
  /** null when the user does not exist. */
  user(id: string): Promise<NuxeoPrincipal | null>;
  /**
   * Direct member users of a group (Nuxeo's `memberUsers`); with `transitive`, the member users
   * of its subgroups too (`memberGroups`, recursively). null when the group does not exist.
   */
  groupMembers(name: string, options?: { transitive?: boolean }): Promise<string[] | null>;
  query(nxql: string, options?: QueryOptions): Promise<NuxeoPage>;
  /** Every page of a query, in order. */
  queryAll(
    nxql: string,
    pageSize?: number,
    options?: { repository?: string },
  ): AsyncIterable<NuxeoPage>;
  /** null when the document does not exist (404). */
  document(repository: string, uid: string): Promise<NuxeoDocument | null>;
  /** The documents that exist among `uids`, by uid, fetched `batchSize` at a time. */
  documentsByIds(repository: string, uids: readonly string[]): Promise<Map<string, NuxeoDocument>>;
  /** HTTP attempts so far, per kind. */
  readonly requestCount: Readonly<Record<RequestKind, number>>;
}
