// Nuxeo's JSON, as its marshallers write it (DocumentModelJsonWriter, ACLJsonEnricher,
// BreadcrumbJsonEnricher, NuxeoPrincipalJsonWriter, NuxeoGroupJsonWriter, the paginable
// documents list). spec/NUXEO.md §2 lists what drivecast reads; the rest is here so that a client
// tested against the simulator also copes with what a real server adds.
import type { DocState, Repository } from "./repository.js";
import { Facet } from "./repository.js";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface RenderContext {
  repo: Repository;
  /** `http://host:port/nuxeo`, for blob URLs. */
  baseUrl: string;
  /** The calling user (breadcrumb stops at a folder they cannot read, as Nuxeo's does). */
  user: string;
  /** Schemas from the `properties` header; `*` = all. */
  schemas: ReadonlySet<string> | "*";
  /** Document enrichers from the `enrichers-document` header. */
  enrichers: ReadonlySet<string>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

const SCHEMA_PREFIX: Record<string, string> = {
  dublincore: "dc",
  file: "file",
  driveroot: "drv",
};

function schemasOf(doc: DocState): string[] {
  const out = ["dublincore"];
  if (doc.hasFileSchema) out.push("file");
  if (doc.facets.includes(Facet.DriveSynchronized)) out.push("driveroot");
  return out;
}

function properties(ctx: RenderContext, doc: DocState): Record<string, Json> {
  const props: Record<string, Json> = {};
  for (const schema of schemasOf(doc)) {
    if (ctx.schemas !== "*" && !ctx.schemas.has(schema)) continue;
    if (schema === "dublincore") {
      Object.assign(props, {
        "dc:description": null,
        "dc:language": null,
        "dc:coverage": null,
        "dc:valid": null,
        "dc:creator": doc.creator,
        "dc:modified": iso(doc.modified),
        "dc:lastContributor": doc.lastContributor,
        "dc:rights": null,
        "dc:expired": null,
        "dc:format": null,
        "dc:created": iso(doc.created),
        "dc:title": doc.title,
        "dc:issued": null,
        "dc:nature": null,
        "dc:subjects": [],
        "dc:contributors": [...doc.contributors],
        "dc:source": null,
        "dc:publisher": null,
      });
    } else if (schema === "file") {
      const b = doc.blob;
      props["file:content"] =
        b === null
          ? null
          : {
              name: b.name,
              "mime-type": b.mimeType,
              encoding: null,
              digestAlgorithm: b.digestAlgorithm,
              digest: b.digest,
              // Nuxeo's blob writer gives the length as a string.
              length: String(b.length),
              data: `${ctx.baseUrl}/nxfile/${doc.repository}/${doc.uid}/file:content/${encodeURIComponent(b.name)}?changeToken=${ctx.repo.changeToken(doc)}`,
              appLinks: [],
            };
    } else if (schema === "driveroot") {
      props["drv:subscriptions"] = doc.subscriptions.map((s) => ({
        username: s.username,
        enabled: s.enabled,
        lastChangeDate: iso(s.lastChangeDate),
      }));
    }
  }
  return props;
}

function acls(ctx: RenderContext, doc: DocState): Json {
  return ctx.repo.acls(doc).map((acl) => ({
    name: acl.name,
    aces: acl.aces.map((a) => ({
      id: a.id,
      username: a.username,
      externalUser: false,
      permission: a.permission,
      granted: a.granted,
      creator: a.creator,
      begin: a.begin === null ? null : iso(a.begin),
      end: a.end === null ? null : iso(a.end),
      status: a.status,
    })),
  }));
}

/**
 * CoreSession.getParentDocuments: from the top (the repository root excluded) down to and
 * including the document, stopping at the first folder (going up) the caller cannot read.
 */
export function breadcrumb(ctx: RenderContext, doc: DocState): DocState[] {
  const out: DocState[] = [];
  for (
    let d: DocState | undefined = doc;
    d !== undefined && d.parentUid !== null;
    d = ctx.repo.parentOf(d)
  ) {
    if (!ctx.repo.can(ctx.user, "Read", d)) break;
    out.push(d);
  }
  return out.reverse();
}

export function renderDocument(ctx: RenderContext, doc: DocState, nested = false): Json {
  const out: Record<string, Json> = {
    "entity-type": "document",
    repository: doc.repository,
    uid: doc.uid,
    path: doc.path,
    type: doc.type,
    state: doc.state,
    parentRef: doc.parentUid,
    isCheckedOut: true,
    isRecord: false,
    retainUntil: null,
    hasLegalHold: false,
    isUnderRetentionOrLegalHold: false,
    isVersion: doc.isVersion,
    isProxy: doc.isProxy,
    changeToken: ctx.repo.changeToken(doc),
    isTrashed: doc.isTrashed,
    title: doc.title,
    lastModified: iso(doc.modified),
  };
  if (doc.lock !== null) {
    out["lockOwner"] = doc.lock.owner;
    out["lockCreated"] = iso(doc.lock.created);
  }
  out["properties"] = properties(ctx, doc);
  out["facets"] = [...doc.facets];
  out["schemas"] = schemasOf(doc).map((name) => ({ name, prefix: SCHEMA_PREFIX[name] ?? name }));
  // Enrichers run at the top level only (Nuxeo's default depth): breadcrumb entries carry none.
  if (!nested && ctx.enrichers.size > 0) {
    const params: Record<string, Json> = {};
    for (const e of ctx.enrichers) {
      if (e === "acls") params["acls"] = acls(ctx, doc);
      else if (e === "breadcrumb")
        params["breadcrumb"] = {
          "entity-type": "documents",
          entries: breadcrumb(ctx, doc).map((d) => renderDocument(ctx, d, true)),
        };
    }
    out["contextParameters"] = params;
  }
  return out;
}

export interface Page {
  entries: DocState[];
  resultsCount: number;
  pageSize: number;
  maxPageSize: number;
  currentPageIndex: number;
}

export function renderDocumentPage(ctx: RenderContext, page: Page): Json {
  const pages = page.pageSize === 0 ? 1 : Math.ceil(page.resultsCount / page.pageSize);
  const next = page.currentPageIndex + 1 < pages;
  return {
    "entity-type": "documents",
    isPaginable: true,
    resultsCount: page.resultsCount,
    pageSize: page.pageSize,
    maxPageSize: page.maxPageSize,
    resultsCountLimit: -1,
    currentPageSize: page.entries.length,
    currentPageIndex: page.currentPageIndex,
    currentPageOffset: page.currentPageIndex * page.pageSize,
    numberOfPages: pages,
    isPreviousPageAvailable: page.currentPageIndex > 0,
    isNextPageAvailable: next,
    isLastPageAvailable: next,
    isSortable: true,
    hasError: false,
    errorMessage: null,
    totalSize: page.resultsCount,
    pageIndex: page.currentPageIndex,
    pageCount: pages,
    entries: page.entries.map((d) => renderDocument(ctx, d)),
  };
}

export function renderUser(repo: Repository, id: string): Json {
  const u = repo.userView(id);
  if (u === undefined) return null;
  return {
    "entity-type": "user",
    id,
    properties: {
      firstName: null,
      lastName: null,
      password: "",
      groups: u.groups,
      company: null,
      email: null,
      username: id,
      tenantId: null,
    },
    extendedGroups: u.extendedGroups.map((g) => ({
      name: g,
      label: repo.groupView(g)?.label ?? g,
      url: `group/${g}`,
    })),
    isAdministrator: u.isAdministrator,
    isAnonymous: false,
  };
}

/** `memberUsers`/`memberGroups` only when asked (`fetch-group`), as Nuxeo does. */
export function renderGroup(repo: Repository, name: string, fetch: ReadonlySet<string>): Json {
  const g = repo.groupView(name);
  if (g === undefined) return null;
  const out: Record<string, Json> = {
    "entity-type": "group",
    id: name,
    groupname: name,
    grouplabel: g.label,
    properties: { groupname: name, grouplabel: g.label, description: null },
  };
  if (fetch.has("memberUsers")) out["memberUsers"] = g.memberUsers;
  if (fetch.has("memberGroups")) out["memberGroups"] = g.memberGroups;
  if (fetch.has("parentGroups")) out["parentGroups"] = g.parentGroups;
  return out;
}

export function renderError(status: number, message: string): Json {
  return { "entity-type": "exception", status, message };
}
