// From one routed audit event to the Drive changes of one user (spec/NUXEO.md §5).
//
// "After" is the event's baked snapshot (`doc` + `ancestors`). "Before" is known only for moves
// (`event.before`: the previous parent chain); for every other event the spec says to assume
// that every user whose root contains the old location (the audit `docPath`) may have seen the
// document. That errs towards sending a deletion for an id a client never had (which it
// ignores) rather than leaving a stale file on a device, and it holds even when the snapshot
// was baked after later changes to the document.
//
// Events on a strict ancestor of a root ρ change ρ without naming it. Trash and removal of the
// ancestor take ρ out of scope outright. For moves, security and untrash the outcome depends on
// ρ's own ACL after the event (inherited ACLs change with the ancestor), which the event does
// not carry: `computeEvent` names those roots, the caller fetches their snapshots and passes them
// to `reevaluateRoots`. Group changes go through `reevaluateRoots` as well.
import {
  DriveEventId,
  type DocEvent,
  type DocSnapshot,
  type FileSystemItem,
  type FileSystemItemChange,
} from "@drivecast/protocol";
import type { UserContext } from "./context.js";
import { buildItem, shortId } from "./item.js";
import { samePrincipals, type Principals } from "./permissions.js";
import {
  inScope,
  pathStrictlyWithin,
  pathWithin,
  rootSetOf,
  someRootContains,
  type RootSet,
  type Scope,
  type UserRoot,
} from "./scope.js";

/** Audit event ids the change computation reads (spec §5). */
export const AuditEventId = {
  DocumentCreated: "documentCreated",
  DocumentCreatedByCopy: "documentCreatedByCopy",
  DocumentModified: "documentModified",
  DocumentRestored: "documentRestored",
  DocumentUntrashed: "documentUntrashed",
  DocumentLocked: "documentLocked",
  DocumentUnlocked: "documentUnlocked",
  DocumentProxyPublished: "documentProxyPublished",
  BlobDigestUpdated: "blobDigestUpdated",
  LifecycleTransition: "lifecycle_transition_event",
  DocumentMoved: "documentMoved",
  DocumentTrashed: "documentTrashed",
  DocumentRemoved: "documentRemoved",
  DocumentSecurityUpdated: "documentSecurityUpdated",
  RootRegistered: "rootRegistered",
  RootUnregistered: "rootUnregistered",
  GroupCreated: "group_created",
  GroupModified: "group_modified",
  GroupDeleted: "group_deleted",
} as const;
export type AuditEventId = (typeof AuditEventId)[keyof typeof AuditEventId];

/** `docLifeCycle` of a `lifecycle_transition_event` that deletes (pre-trash-service Nuxeo). */
export const DELETED_LIFECYCLE_STATE = "deleted";

const A = AuditEventId;

/** Which row of the §5 table an event falls in. */
export const EventKind = {
  /** In scope after → same eventId with the item. */
  Update: "update",
  Move: "move",
  Delete: "delete",
  Security: "security",
  RootRegistered: "rootRegistered",
  RootUnregistered: "rootUnregistered",
  Group: "group",
  Other: "other",
} as const;
export type EventKind = (typeof EventKind)[keyof typeof EventKind];

const UPDATE_IDS: ReadonlySet<string> = new Set([
  A.DocumentCreated,
  A.DocumentCreatedByCopy,
  A.DocumentModified,
  A.DocumentRestored,
  A.DocumentUntrashed,
  A.DocumentLocked,
  A.DocumentUnlocked,
  A.DocumentProxyPublished,
  A.BlobDigestUpdated,
]);

export function eventKind(event: Pick<DocEvent, "eventId" | "docLifeCycle">): EventKind {
  const id = event.eventId;
  if (UPDATE_IDS.has(id)) return EventKind.Update;
  switch (id) {
    case A.LifecycleTransition:
      return event.docLifeCycle === DELETED_LIFECYCLE_STATE ? EventKind.Delete : EventKind.Update;
    case A.DocumentMoved:
      return EventKind.Move;
    case A.DocumentTrashed:
    case A.DocumentRemoved:
      return EventKind.Delete;
    case A.DocumentSecurityUpdated:
      return EventKind.Security;
    case A.RootRegistered:
      return EventKind.RootRegistered;
    case A.RootUnregistered:
      return EventKind.RootUnregistered;
    case A.GroupCreated:
    case A.GroupModified:
    case A.GroupDeleted:
      return EventKind.Group;
    default:
      return EventKind.Other;
  }
}

/** The user a `rootRegistered` / `rootUnregistered` is about: `impactedUserName`, else the actor. */
export function rootEventUser(event: Pick<DocEvent, "extended" | "principalName">): string {
  return event.extended?.impactedUserName || event.principalName;
}

/** The group a `group_*` event is about (`extended.id`), or null. */
export function groupOf(event: Pick<DocEvent, "eventId" | "extended">): string | null {
  if (eventKind({ eventId: event.eventId, docLifeCycle: null }) !== EventKind.Group) return null;
  return event.extended?.id || null;
}

/** The previous parent's uuid from a `documentMoved` comment (`<repositoryId>:<uuid>`). */
export function movedFromParent(comment: string | null): string | null {
  if (!comment) return null;
  const i = comment.indexOf(":");
  const uid = i < 0 ? comment : comment.slice(i + 1);
  return uid === "" ? null : uid;
}

// --- change shapes --------------------------------------------------------------------------

/** A change carrying an item: `fileSystemItemId`/`Name` are the item's. */
export function itemChange(
  eventId: string,
  eventDate: number,
  docUuid: string,
  item: FileSystemItem,
  repositoryId: string,
): FileSystemItemChange {
  return {
    repositoryId,
    eventId,
    eventDate,
    docUuid,
    fileSystemItem: item,
    fileSystemItemId: item.id,
    fileSystemItemName: item.name,
  };
}

/** A change without item (deletions, lost access): the short id `<repo>#<uuid>`, no name. */
export function nullChange(
  eventId: string,
  eventDate: number,
  repositoryId: string,
  docUuid: string,
): FileSystemItemChange {
  return {
    repositoryId,
    eventId,
    eventDate,
    docUuid,
    fileSystemItem: null,
    fileSystemItemId: shortId(repositoryId, docUuid),
    fileSystemItemName: null,
  };
}

// --- the change for the event's own document -------------------------------------------------

/**
 * The change of the event's own document for `ctx.user` (the rows of §5 that name the
 * document), or null. Effects on roots beneath the document: see `computeEvent`.
 */
export function changeFor(ctx: UserContext, event: DocEvent): FileSystemItemChange | null {
  const kind = eventKind(event);
  const doc = event.doc;
  const repo = doc?.repository ?? event.repositoryId;
  const uuid = event.docUuid;
  const at = event.eventDate;
  switch (kind) {
    case EventKind.Update: {
      const scope = scopeAfter(ctx, event, ctx.rootSet);
      if (scope === null) return null;
      const item = buildItem(ctx.principals, scope);
      const oldDigest = event.extended?.oldDigest;
      if (event.eventId === A.BlobDigestUpdated && oldDigest) item.oldDigest = oldDigest;
      return itemChange(event.eventId, at, uuid, item, repo);
    }
    case EventKind.Move: {
      const scope = scopeAfter(ctx, event, ctx.rootSet);
      if (scope !== null) {
        return itemChange(
          DriveEventId.DocumentMoved,
          at,
          uuid,
          buildItem(ctx.principals, scope),
          repo,
        );
      }
      return inScopeBeforeMove(ctx, event)
        ? nullChange(DriveEventId.Deleted, at, repo, uuid)
        : null;
    }
    case EventKind.Delete:
      return seenAtOldLocation(ctx, event, event.docPath)
        ? nullChange(DriveEventId.Deleted, at, repo, uuid)
        : null;
    case EventKind.Security: {
      const scope = scopeAfter(ctx, event, ctx.rootSet);
      if (scope !== null) {
        const item = buildItem(ctx.principals, scope);
        return itemChange(DriveEventId.SecurityUpdated, at, uuid, item, repo);
      }
      return seenAtOldLocation(ctx, event, event.docPath)
        ? nullChange(DriveEventId.SecurityUpdated, at, repo, uuid)
        : null;
    }
    case EventKind.RootRegistered: {
      if (rootEventUser(event) !== ctx.user) return null;
      // The actor may or may not have added the root yet: decide with it in.
      const scope = scopeAfter(ctx, event, withRoot(ctx, repo, uuid, true));
      if (scope === null) return null;
      return itemChange(
        DriveEventId.RootRegistered,
        at,
        uuid,
        buildItem(ctx.principals, scope),
        repo,
      );
    }
    case EventKind.RootUnregistered: {
      if (rootEventUser(event) !== ctx.user) return null;
      // Still in scope through another root: the client must re-place it there.
      const scope = scopeAfter(ctx, event, withRoot(ctx, repo, uuid, false));
      if (scope !== null) {
        const item = buildItem(ctx.principals, scope);
        return itemChange(DriveEventId.SecurityUpdated, at, uuid, item, repo);
      }
      return nullChange(DriveEventId.Deleted, at, repo, uuid);
    }
    default:
      return null;
  }
}

function scopeAfter(ctx: UserContext, event: DocEvent, roots: RootSet): Scope | null {
  return event.doc === null ? null : inScope(ctx.principals, event.doc, event.ancestors, roots);
}

/** The user's roots with one root surely in or out (root events, re-evaluations: rare). */
function withRoot(ctx: UserContext, repository: string, uid: string, present: boolean): RootSet {
  if (ctx.rootSet.has(repository, uid) === present) return ctx.rootSet;
  const others = ctx.roots.filter((r) => !(r.repository === repository && r.uid === uid));
  return rootSetOf(present ? [...others, { repository, uid }] : others);
}

/**
 * Before state unknown: some root of the user contains the old location. A version or a proxy
 * was never an item, whatever the path says.
 */
function seenAtOldLocation(ctx: UserContext, event: DocEvent, oldPath: string | null): boolean {
  const doc = event.doc;
  if (doc !== null && (doc.isVersion || doc.isProxy)) return false;
  const path = oldPath || doc?.path;
  if (!path) return false;
  return someRootContains(ctx.roots, event.repositoryId, path);
}

/** The inherited ACL's name in Nuxeo's `acls` enricher output. */
const INHERITED_ACL = "inherited";

/**
 * In scope before a move. With the previous parent chain, exactly: the document at its old
 * place, its own ACLs followed by what it inherited there (the old parent's ACLs merged, as
 * Nuxeo builds the `inherited` ACL). Without a chain, by the old path; without an old path,
 * whether the old parent was one of the user's roots.
 */
function inScopeBeforeMove(ctx: UserContext, event: DocEvent): boolean {
  const before = event.before;
  const repo = event.repositoryId;
  if (before === null) {
    const parent = movedFromParent(event.comment);
    return parent !== null && ctx.rootSet.has(repo, parent);
  }
  const doc = event.doc;
  const oldPath = previousPath(event);
  const parent = before.ancestors[before.ancestors.length - 1];
  if (doc !== null && parent !== undefined && parent.uid === before.parentUid) {
    const local = doc.acls.filter((acl) => acl.name !== INHERITED_ACL);
    const inherited = parent.acls.flatMap((acl) => acl.aces);
    // The snapshots are baked after the event: a trash that came later (the document's new
    // parent, or the old chain) is no proof that the user did not have it before the move. Left
    // out, as for any unknown before state: err towards the deletion.
    const atOldPlace: DocSnapshot = {
      ...doc,
      isTrashed: false,
      path: oldPath ?? doc.path,
      parentUid: before.parentUid,
      acls: inherited.length > 0 ? [...local, { name: INHERITED_ACL, aces: inherited }] : local,
    };
    const chain = before.ancestors.map((a) => (a.isTrashed ? { ...a, isTrashed: false } : a));
    return inScope(ctx.principals, atOldPlace, chain, ctx.rootSet) !== null;
  }
  if (oldPath !== null) return seenAtOldLocation(ctx, event, oldPath);
  return ctx.rootSet.has(repo, before.parentUid);
}

/** The moved document's previous path: `before.path`, else old parent's path + its name. */
function previousPath(event: DocEvent): string | null {
  const before = event.before;
  if (before === null) return null;
  if (before.path) return before.path;
  const parent = before.ancestors[before.ancestors.length - 1];
  if (parent === undefined || parent.uid !== before.parentUid) return null;
  const name = event.docPath.slice(event.docPath.lastIndexOf("/") + 1);
  if (name === "") return null;
  return parent.path === "/" ? `/${name}` : `${parent.path}/${name}`;
}

// --- effects on roots beneath the event's document -----------------------------------------

/** Why a root is re-evaluated: decides what a root that stays in scope yields. */
export const Reevaluation = {
  /** ACL changed on an ancestor: securityUpdated with the root's item. */
  Security: "security",
  /** The user's groups changed: securityUpdated with the root's item. */
  Group: "group",
  /** An ancestor came back (untrashed, restored): securityUpdated with the root's item. */
  Untrash: "untrash",
  /** An ancestor moved: no change while the root stays in scope. */
  Move: "move",
} as const;
export type Reevaluation = (typeof Reevaluation)[keyof typeof Reevaluation];

export interface EventEffects {
  /**
   * Changes to record, in order: the event document's own change (if any), then deletions of
   * roots that the event took out of scope for sure (an ancestor trashed or removed).
   */
  changes: FileSystemItemChange[];
  /**
   * Roots strictly beneath the event's document whose fate depends on their state after the
   * event: fetch their snapshots (with ancestors) and pass them to `reevaluateRoots` with this
   * reason and the event's date. Null when there are none.
   */
  reevaluate: { reason: Reevaluation; roots: UserRoot[] } | null;
  /**
   * The user's root list after the event when the event changed it (a root registered or
   * unregistered for this user, removed, or moved with an ancestor), else null. Rebuild the
   * context with `withRoots`.
   */
  roots: UserRoot[] | null;
}

/**
 * Everything one event means for one user: `changeFor` plus the effects on the user's roots
 * (spec §5, the ancestor row). Group events yield nothing here: refresh the user's groups and,
 * when they changed, call `reevaluateRoots` with `Reevaluation.Group`.
 */
export function computeEvent(ctx: UserContext, event: DocEvent): EventEffects {
  const changes: FileSystemItemChange[] = [];
  const own = changeFor(ctx, event);
  if (own !== null) changes.push(own);
  const kind = eventKind(event);
  const repo = event.repositoryId;
  let roots: UserRoot[] | null = null;
  let reevaluate: EventEffects["reevaluate"] = null;

  if (kind === EventKind.RootRegistered || kind === EventKind.RootUnregistered) {
    if (rootEventUser(event) === ctx.user) roots = rootsAfterRegistration(ctx, event, kind);
    return { changes, reevaluate, roots };
  }
  // Only these events reach roots beneath their document; skip the scan for the rest.
  const reachesRoots =
    kind === EventKind.Delete ||
    kind === EventKind.Move ||
    kind === EventKind.Security ||
    event.eventId === A.DocumentUntrashed ||
    event.eventId === A.DocumentRestored;
  if (!reachesRoots || ctx.roots.length === 0) return { changes, reevaluate, roots };

  const oldPath = kind === EventKind.Move ? previousPath(event) : null;
  const beneath = ctx.roots.filter(
    (r) =>
      r.repository === repo &&
      r.uid !== event.docUuid &&
      (pathStrictlyWithin(r.path, event.docPath) ||
        (oldPath !== null && pathStrictlyWithin(r.path, oldPath))),
  );

  switch (kind) {
    case EventKind.Delete:
      for (const r of beneath) {
        changes.push(nullChange(DriveEventId.Deleted, event.eventDate, r.repository, r.uid));
      }
      if (event.eventId === A.DocumentRemoved) {
        // Removed documents never come back: forget the roots that were in them.
        const gone = ctx.roots.filter(
          (r) =>
            r.repository === repo && (r.uid === event.docUuid || pathWithin(r.path, event.docPath)),
        );
        if (gone.length > 0) roots = ctx.roots.filter((r) => !gone.includes(r));
      }
      break;
    case EventKind.Move:
      if (beneath.length > 0) reevaluate = { reason: Reevaluation.Move, roots: beneath };
      roots = rootsAfterMove(ctx, event, oldPath);
      break;
    case EventKind.Security:
      if (beneath.length > 0) reevaluate = { reason: Reevaluation.Security, roots: beneath };
      break;
    default: // untrashed, restored
      if (beneath.length > 0) reevaluate = { reason: Reevaluation.Untrash, roots: beneath };
      break;
  }
  return { changes, reevaluate, roots };
}

function rootsAfterRegistration(
  ctx: UserContext,
  event: DocEvent,
  kind: EventKind,
): UserRoot[] | null {
  const repo = event.doc?.repository ?? event.repositoryId;
  const uid = event.docUuid;
  const known = ctx.rootSet.has(repo, uid);
  if (kind === EventKind.RootUnregistered) {
    return known ? ctx.roots.filter((r) => !(r.repository === repo && r.uid === uid)) : null;
  }
  if (known) return null;
  return [...ctx.roots, { repository: repo, uid, path: event.doc?.path ?? event.docPath }];
}

/** Roots at or beneath the moved document get its new path as prefix. */
function rootsAfterMove(
  ctx: UserContext,
  event: DocEvent,
  oldPath: string | null,
): UserRoot[] | null {
  if (oldPath === null || oldPath === event.docPath) return null;
  let changed = false;
  const roots = ctx.roots.map((r) => {
    if (r.repository !== event.repositoryId || !pathWithin(r.path, oldPath)) return r;
    changed = true;
    return { ...r, path: event.docPath + r.path.slice(oldPath.length) };
  });
  return changed ? roots : null;
}

// --- re-evaluating roots ---------------------------------------------------------------------

/** A root's state after the event: its snapshot (null when gone) and its ancestors. */
export interface RootState {
  root: UserRoot;
  doc: DocSnapshot | null;
  /** From the repository root down to the root's parent. */
  ancestors: readonly DocSnapshot[];
}

/**
 * Re-evaluate roots after an event that changed them without naming them (spec §5, the ancestor
 * and group rows): a root no longer in scope → `deleted` with its short id; a root still in
 * scope → `securityUpdated` with its item (the client rescans it), except after a move, which
 * changes nothing a client sees.
 *
 * For `Reevaluation.Group`, pass the principals the user had before the change: when they are
 * the same nothing can have changed; a root out of scope both before and after yields nothing.
 */
export function reevaluateRoots(
  ctx: UserContext,
  states: readonly RootState[],
  reason: Reevaluation,
  eventDate: number,
  previous?: Principals,
): FileSystemItemChange[] {
  if (previous !== undefined && samePrincipals(previous, ctx.principals)) return [];
  const changes: FileSystemItemChange[] = [];
  for (const state of states) {
    const { root, doc, ancestors } = state;
    const keys = withRoot(ctx, root.repository, root.uid, true);
    const scope = doc === null ? null : inScope(ctx.principals, doc, ancestors, keys);
    if (scope === null) {
      if (previous !== undefined) {
        const was = doc === null ? null : inScope(previous, doc, ancestors, keys);
        if (was === null) continue;
      }
      changes.push(nullChange(DriveEventId.Deleted, eventDate, root.repository, root.uid));
      continue;
    }
    if (reason === Reevaluation.Move) continue;
    const item = buildItem(ctx.principals, scope);
    changes.push(
      itemChange(DriveEventId.SecurityUpdated, eventDate, root.uid, item, root.repository),
    );
  }
  return changes;
}
