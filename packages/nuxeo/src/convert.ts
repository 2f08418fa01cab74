// Nuxeo JSON → domain types, once, at the edge. Nuxeo's quirks are absorbed here: ISO dates become
// epoch ms, the blob length string becomes a number, ACE principals may be objects, optional
// schemas may be absent (a folder has no `file:content`, a non-root no `drv:subscriptions`).
import { parseIsoDateTime } from "@drivecast/protocol";
import type { Ace, Acl, BlobInfo, DocSnapshot, Subscription } from "@drivecast/protocol";
import { NuxeoResponseError } from "./errors.js";
import type { NuxeoDocument, NuxeoPage, NuxeoPrincipal } from "./types.js";
import type { WireAce, WireBlob, WireDocument, WireDocuments, WireUser } from "./wire.js";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function date(value: unknown): number | null {
  return typeof value === "string" ? parseIsoDateTime(value) : null;
}

function blob(b: WireBlob | null | undefined): BlobInfo | null {
  if (!isObject(b)) return null;
  const length = typeof b.length === "number" ? b.length : Number(b.length ?? 0);
  const out: BlobInfo = {
    name: typeof b.name === "string" ? b.name : "",
    length: Number.isFinite(length) ? length : 0,
  };
  if (typeof b["mime-type"] === "string") out.mimeType = b["mime-type"];
  if (typeof b.digestAlgorithm === "string") out.digestAlgorithm = b.digestAlgorithm;
  if (typeof b.digest === "string") out.digest = b.digest;
  return out;
}

function aceUsername(u: WireAce["username"]): string {
  if (typeof u === "string") return u;
  return u.id ?? u.username ?? u.groupname ?? "";
}

function acls(raw: unknown): Acl[] {
  if (!Array.isArray(raw)) return [];
  return raw.filter(isObject).map((acl) => ({
    name: String(acl["name"] ?? ""),
    aces: (Array.isArray(acl["aces"]) ? (acl["aces"] as WireAce[]) : []).map((a) => {
      const ace: Ace = {
        username: aceUsername(a.username),
        permission: a.permission,
        granted: a.granted === true,
      };
      if (typeof a.status === "string") ace.status = a.status;
      return ace;
    }),
  }));
}

function subscriptions(raw: unknown): Subscription[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter(isObject)
    .filter((s) => typeof s["username"] === "string")
    .map((s) => ({ username: s["username"] as string, enabled: s["enabled"] === true }));
}

export function toSnapshot(call: string, d: WireDocument): DocSnapshot {
  if (!isObject(d) || typeof d.uid !== "string" || typeof d.path !== "string")
    throw new NuxeoResponseError(call, "a document without uid or path");
  const p = isObject(d.properties) ? d.properties : {};
  const creator = typeof p["dc:creator"] === "string" ? p["dc:creator"] : "";
  const modified = date(p["dc:modified"]) ?? date(d.lastModified) ?? 0;
  return {
    repository: d.repository,
    uid: d.uid,
    path: d.path,
    parentUid: typeof d.parentRef === "string" ? d.parentRef : null,
    type: d.type,
    title:
      typeof d.title === "string"
        ? d.title
        : typeof p["dc:title"] === "string"
          ? p["dc:title"]
          : "",
    facets: Array.isArray(d.facets) ? [...d.facets] : [],
    isVersion: d.isVersion === true,
    isProxy: d.isProxy === true,
    isTrashed: d.isTrashed === true,
    creator,
    lastContributor:
      typeof p["dc:lastContributor"] === "string" ? p["dc:lastContributor"] : creator,
    created: date(p["dc:created"]) ?? modified,
    modified,
    blob: blob(p["file:content"]),
    acls: acls(d.contextParameters?.acls),
    subscriptions: subscriptions(p["drv:subscriptions"]),
  };
}

export function toDocument(call: string, d: WireDocument): NuxeoDocument {
  const snapshot = toSnapshot(call, d);
  const entries = d.contextParameters?.breadcrumb?.entries;
  const breadcrumb = Array.isArray(entries)
    ? entries
        .filter((e) => isObject(e) && typeof e.uid === "string" && typeof e.path === "string")
        .map((e) => ({ uid: e.uid, path: e.path }))
    : [];
  return { snapshot, breadcrumb };
}

export function toPage(call: string, body: unknown): NuxeoPage {
  if (!isObject(body) || !Array.isArray(body["entries"]))
    throw new NuxeoResponseError(call, "no `entries` in a documents response");
  const w = body as unknown as WireDocuments;
  const entries = w.entries.map((e) => toDocument(call, e));
  const resultsCount = w.resultsCount ?? w.totalSize ?? entries.length;
  return {
    entries,
    resultsCount,
    pageSize: w.pageSize ?? entries.length,
    currentPageIndex: w.currentPageIndex ?? 0,
    numberOfPages: w.numberOfPages ?? 1,
    isNextPageAvailable: w.isNextPageAvailable === true,
  };
}

export function toPrincipal(call: string, body: unknown): NuxeoPrincipal {
  if (!isObject(body) || typeof body["id"] !== "string")
    throw new NuxeoResponseError(call, "a user without id");
  const u = body as unknown as WireUser;
  const groups = Array.isArray(u.extendedGroups)
    ? u.extendedGroups.map((g) => g.name).filter((n) => typeof n === "string")
    : (u.properties?.groups ?? []);
  return { id: u.id, groups, isAdministrator: u.isAdministrator === true };
}

export function toMembers(call: string, body: unknown): string[] {
  if (!isObject(body)) throw new NuxeoResponseError(call, "a group that is not an object");
  const m = body["memberUsers"];
  return Array.isArray(m) ? m.filter((x): x is string => typeof x === "string") : [];
}

/** The subgroups of a group fetched with `fetch-group: memberGroups` (names). */
export function toMemberGroups(call: string, body: unknown): string[] {
  if (!isObject(body)) throw new NuxeoResponseError(call, "a group that is not an object");
  const m = body["memberGroups"];
  return Array.isArray(m) ? m.filter((x): x is string => typeof x === "string") : [];
}
