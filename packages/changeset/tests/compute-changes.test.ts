import { TOP_LEVEL_ID, type DocEvent } from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import {
  buildItem,
  changeFor,
  computeEvent,
  createPendingChanges,
  eventKind,
  groupOf,
  inScope,
  movedFromParent,
  principalsOf,
  Reevaluation,
  reevaluateRoots,
  rootEventUser,
  userContext,
  withRoots,
  type RootState,
  type UserContext,
} from "../src/compute/index.js";
import { ctxFor, deny, grant, REPO, Tree, uidOf } from "./compute-fixtures.js";

/**
 * /ws                  Everyone: Read
 *   /docs              alice's root
 *     /sub
 *       /a.txt
 *     /closed          deny alice Read
 *       /secret.txt
 *   /outside
 *     /o.txt
 *   /team              team: ReadWrite, deny Everyone Everything
 *     /t.txt
 */
function repo(): Tree {
  return new Tree()
    .folder("/ws", { acl: [grant("Everyone", "Read")] })
    .folder("/ws/docs")
    .folder("/ws/docs/sub")
    .file("/ws/docs/sub/a.txt")
    .folder("/ws/docs/closed", { acl: [deny("alice", "Read")] })
    .file("/ws/docs/closed/secret.txt")
    .folder("/ws/outside")
    .file("/ws/outside/o.txt")
    .folder("/ws/team", { acl: [grant("team", "ReadWrite"), deny("Everyone", "Everything")] })
    .file("/ws/team/t.txt");
}

const alice = (t: Tree, roots = ["/ws/docs"], groups: string[] = []) =>
  ctxFor(t, "alice", { roots, groups });

/** The item `ctx` should see for `path` now (the expectation built independently of changeFor). */
function expectedItem(ctx: UserContext, t: Tree, path: string) {
  const scope = inScope(ctx.principals, t.snapshot(path), t.ancestors(path), ctx.rootSet);
  if (scope === null) throw new Error(`${path} not in scope`);
  return buildItem(ctx.principals, scope);
}

function deleted(eventId: string, ev: DocEvent, uid = ev.docUuid) {
  return {
    repositoryId: REPO,
    eventId,
    eventDate: ev.eventDate,
    docUuid: uid,
    fileSystemItem: null,
    fileSystemItemId: `${REPO}#${uid}`,
    fileSystemItemName: null,
  };
}

describe("changes - documents updated (same eventId with the item)", () => {
  const ids: [string, string | null][] = [
    ["documentCreated", null],
    ["documentCreatedByCopy", null],
    ["documentModified", null],
    ["documentRestored", null],
    ["documentUntrashed", null],
    ["documentLocked", null],
    ["documentUnlocked", null],
    ["documentProxyPublished", null],
    ["blobDigestUpdated", null],
    ["lifecycle_transition_event", "approved"],
  ];

  it.each(ids)("update - %s in scope after gives the same eventId with the item", (eventId, lc) => {
    const t = repo();
    const ctx = alice(t);
    const ev = t.event(eventId, "/ws/docs/sub/a.txt", lc === null ? {} : { docLifeCycle: lc });
    const item = expectedItem(ctx, t, "/ws/docs/sub/a.txt");
    expect(changeFor(ctx, ev)).toEqual({
      repositoryId: REPO,
      eventId,
      eventDate: ev.eventDate,
      docUuid: "ws_docs_sub_a.txt",
      fileSystemItem: item,
      fileSystemItemId: item.id,
      fileSystemItemName: "a.txt",
    });
  });

  it.each(ids)("update - %s out of scope gives nothing", (eventId, lc) => {
    const t = repo();
    const extra = lc === null ? {} : { docLifeCycle: lc };
    // Outside the root, unreadable, and for a user without roots.
    expect(changeFor(alice(t), t.event(eventId, "/ws/outside/o.txt", extra))).toBeNull();
    expect(changeFor(alice(t), t.event(eventId, "/ws/docs/closed/secret.txt", extra))).toBeNull();
    expect(changeFor(alice(t, []), t.event(eventId, "/ws/docs/sub/a.txt", extra))).toBeNull();
  });

  it("update - blobDigestUpdated adds oldDigest to the item; other events never do", () => {
    const t = repo();
    const ev = t.event("blobDigestUpdated", "/ws/docs/sub/a.txt", {
      extended: { oldDigest: "old" },
    });
    const c = changeFor(alice(t), ev);
    expect(c?.fileSystemItem?.oldDigest).toBe("old");
    expect(c?.fileSystemItem?.digest).toBe("d-a.txt");
    const mod = t.event("documentModified", "/ws/docs/sub/a.txt", {
      extended: { oldDigest: "old" },
    });
    expect(changeFor(alice(t), mod)?.fileSystemItem).not.toHaveProperty("oldDigest");
  });

  it("update - a document gone by the time it was baked gives nothing", () => {
    const t = repo();
    const ev = { ...t.event("documentModified", "/ws/docs/sub/a.txt"), doc: null };
    expect(changeFor(alice(t), ev)).toBeNull();
  });

  it("update - files without blob, hidden documents, versions and proxies give nothing", () => {
    const t = repo()
      .file("/ws/docs/sub/empty", { blob: null })
      .file("/ws/docs/sub/hidden", { facets: ["HiddenInNavigation"] })
      .file("/ws/docs/sub/v", { isVersion: true })
      .file("/ws/docs/sub/p", { isProxy: true });
    for (const p of ["empty", "hidden", "v", "p"]) {
      expect(changeFor(alice(t), t.event("documentModified", `/ws/docs/sub/${p}`)), p).toBeNull();
    }
    expect(changeFor(alice(t), t.event("documentProxyPublished", "/ws/docs/sub/p"))).toBeNull();
  });

  it("update - a rename is documentModified with the new name, same ids and path", () => {
    const t = repo().folder("/ws/docs/sub/f", { title: "Old" });
    const before = changeFor(alice(t), t.event("documentModified", "/ws/docs/sub/f"));
    t.set("/ws/docs/sub/f", { title: "New" });
    const after = changeFor(alice(t), t.event("documentModified", "/ws/docs/sub/f"));
    expect(after?.eventId).toBe("documentModified");
    expect(after?.fileSystemItemName).toBe("New");
    expect(after?.fileSystemItem?.path).toBe(before?.fileSystemItem?.path);
    expect(after?.fileSystemItemId).toBe(before?.fileSystemItemId);
  });

  it("update - groups and Everyone grant scope", () => {
    const t = repo().subscribe("/ws/team", "alice");
    const ev = t.event("documentModified", "/ws/team/t.txt");
    expect(changeFor(alice(t, ["/ws/team"]), ev)).toBeNull();
    expect(changeFor(alice(t, ["/ws/team"], ["team"]), ev)?.eventId).toBe("documentModified");
  });

  it("update - administrators get changes for documents they could not otherwise read", () => {
    const t = repo();
    const admin = ctxFor(t, "admin", { admin: true, roots: ["/ws/docs"] });
    expect(
      changeFor(admin, t.event("documentModified", "/ws/docs/closed/secret.txt"))?.fileSystemItem
        ?.userName,
    ).toBe("admin");
  });

  it("update - nested roots: the item hangs under the deepest root", () => {
    const t = repo();
    const ctx = alice(t, ["/ws", "/ws/docs/sub"]);
    const c = changeFor(ctx, t.event("documentCreated", "/ws/docs/sub/a.txt"));
    expect(c?.fileSystemItem?.parentId).toBe(
      "defaultSyncRootFolderItemFactory#default#ws_docs_sub",
    );
  });
});

describe("changes - documentMoved", () => {
  it("move - within the root: documentMoved with the item at its new place", () => {
    const t = repo();
    const ctx = alice(t);
    const ev = t.moveEvent("/ws/docs/sub/a.txt", "/ws/docs/a.txt");
    const c = changeFor(ctx, ev);
    expect(c?.eventId).toBe("documentMoved");
    expect(c?.fileSystemItem).toEqual(expectedItem(ctx, t, "/ws/docs/a.txt"));
    expect(c?.fileSystemItem?.parentId).toBe("defaultSyncRootFolderItemFactory#default#ws_docs");
  });

  it("move - a move that renames within the same parent is a documentMoved too", () => {
    const t = repo();
    const c = changeFor(alice(t), t.moveEvent("/ws/docs/sub/a.txt", "/ws/docs/sub/b.txt"));
    expect(c?.eventId).toBe("documentMoved");
  });

  it("move - into scope from outside: documentMoved with the item", () => {
    const t = repo();
    const c = changeFor(alice(t), t.moveEvent("/ws/outside/o.txt", "/ws/docs/sub/o.txt"));
    expect(c?.eventId).toBe("documentMoved");
    expect(c?.fileSystemItem?.parentId).toBe("defaultFileSystemItemFactory#default#ws_docs_sub");
  });

  it("move - out of scope: deleted, no item, short id", () => {
    const t = repo();
    const ev = t.moveEvent("/ws/docs/sub/a.txt", "/ws/outside/a.txt");
    expect(changeFor(alice(t), ev)).toEqual(deleted("deleted", ev));
  });

  it("move - between two roots of the user: documentMoved under the new root", () => {
    const t = repo();
    const ctx = alice(t, ["/ws/docs", "/ws/outside"]);
    const c = changeFor(ctx, t.moveEvent("/ws/docs/sub/a.txt", "/ws/outside/a.txt"));
    expect(c?.eventId).toBe("documentMoved");
    expect(c?.fileSystemItem?.parentId).toBe("defaultSyncRootFolderItemFactory#default#ws_outside");
  });

  it("move - outside to outside gives nothing", () => {
    const t = repo();
    expect(changeFor(alice(t), t.moveEvent("/ws/outside/o.txt", "/ws/o.txt"))).toBeNull();
  });

  it("move - into an unreadable folder: deleted (the document was visible at its old place)", () => {
    const t = repo();
    const ev = t.moveEvent("/ws/docs/sub/a.txt", "/ws/docs/closed/a.txt");
    // After the move the document inherits the deny; before it did not.
    expect(changeFor(alice(t), ev)).toEqual(deleted("deleted", ev));
  });

  it("move - out of an unreadable folder into scope: documentMoved with the item", () => {
    const t = repo();
    const c = changeFor(
      alice(t),
      t.moveEvent("/ws/docs/closed/secret.txt", "/ws/docs/sub/secret.txt"),
    );
    expect(c?.eventId).toBe("documentMoved");
  });

  it("move - never visible (unreadable old place), moved out: nothing", () => {
    const t = repo();
    expect(
      changeFor(alice(t), t.moveEvent("/ws/docs/closed/secret.txt", "/ws/outside/s.txt")),
    ).toBeNull();
  });

  it("move - a document with its own deny, moved out, was never seen: nothing", () => {
    const t = repo().file("/ws/docs/sub/mine.txt", { acl: [deny("alice", "Read")] });
    expect(
      changeFor(alice(t), t.moveEvent("/ws/docs/sub/mine.txt", "/ws/outside/mine.txt")),
    ).toBeNull();
  });

  it("move - previous place unknown: deleted when the old parent (audit comment) is a root", () => {
    const t2 = repo().file("/ws/docs/f.txt");
    const ev2 = t2.moveEvent("/ws/docs/f.txt", "/ws/outside/f.txt", { knownBefore: false });
    expect(ev2.before).toBeNull();
    expect(changeFor(alice(t2), ev2)).toEqual(deleted("deleted", ev2));
    const ev3 = t2.moveEvent("/ws/docs/sub/a.txt", "/ws/outside/a.txt", { knownBefore: false });
    expect(changeFor(alice(t2), ev3)).toBeNull();
  });

  it("move - previous chain unknown but previous path known: the old path decides", () => {
    const t = repo();
    const ev = t.moveEvent("/ws/docs/sub/a.txt", "/ws/outside/a.txt");
    const pathOnly = { ...ev, before: { ...ev.before!, ancestors: [] } };
    expect(changeFor(alice(t), pathOnly)).toEqual(deleted("deleted", ev));
    const elsewhere = {
      ...ev,
      before: { ...ev.before!, path: "/ws/outside/z/a.txt", ancestors: [] },
    };
    expect(changeFor(alice(t), elsewhere)).toBeNull();
  });

  it("move - a moved document gone when baked, previously in scope: deleted", () => {
    const t = repo();
    const ev = { ...t.moveEvent("/ws/docs/sub/a.txt", "/ws/outside/a.txt"), doc: null };
    expect(changeFor(alice(t), ev)).toEqual(deleted("deleted", ev));
  });
});

describe("changes - deletions", () => {
  const cases: [string, Partial<DocEvent>][] = [
    ["documentTrashed", {}],
    ["documentRemoved", {}],
    ["lifecycle_transition_event", { docLifeCycle: "deleted" }],
  ];

  it.each(cases)(
    "delete - %s under a root of the user: deleted, no item, short id",
    (eventId, extra) => {
      const t = repo();
      if (eventId === "documentTrashed") t.set("/ws/docs/sub/a.txt", { isTrashed: true });
      if (eventId === "documentRemoved") t.remove("/ws/docs/sub/a.txt");
      const ev = t.event(eventId, "/ws/docs/sub/a.txt", extra);
      expect(changeFor(alice(t), ev)).toEqual(deleted("deleted", ev, "ws_docs_sub_a.txt"));
    },
  );

  it.each(cases)("delete - %s outside the user's roots: nothing", (eventId, extra) => {
    const t = repo();
    expect(changeFor(alice(t), t.event(eventId, "/ws/outside/o.txt", extra))).toBeNull();
    expect(changeFor(alice(t, []), t.event(eventId, "/ws/docs/sub/a.txt", extra))).toBeNull();
  });

  it("delete - before state unknown: a user whose root contains the old path may have seen it", () => {
    const t = repo().set("/ws/docs/closed/secret.txt", { isTrashed: true });
    const ev = t.event("documentTrashed", "/ws/docs/closed/secret.txt");
    expect(changeFor(alice(t), ev)?.eventId).toBe("deleted");
  });

  it("delete - trashing the root itself deletes it", () => {
    const t = repo().set("/ws/docs", { isTrashed: true });
    const ev = t.event("documentTrashed", "/ws/docs");
    expect(changeFor(alice(t), ev)).toEqual(deleted("deleted", ev, "ws_docs"));
  });

  it("delete - versions and proxies were never items", () => {
    const t = repo()
      .file("/ws/docs/sub/v", { isVersion: true })
      .file("/ws/docs/sub/p", { isProxy: true });
    expect(changeFor(alice(t), t.event("documentRemoved", "/ws/docs/sub/v"))).toBeNull();
    expect(changeFor(alice(t), t.event("documentRemoved", "/ws/docs/sub/p"))).toBeNull();
  });

  it("delete - lifecycle_transition_event to another state is not a deletion", () => {
    const t = repo();
    const ev = t.event("lifecycle_transition_event", "/ws/docs/sub/a.txt", {
      docLifeCycle: "obsolete",
    });
    expect(changeFor(alice(t), ev)?.eventId).toBe("lifecycle_transition_event");
    expect(changeFor(alice(t), ev)?.fileSystemItem).not.toBeNull();
  });
});

describe("changes - documentSecurityUpdated", () => {
  it("security - in scope after: securityUpdated with the item", () => {
    const t = repo();
    const ctx = alice(t);
    const ev = t.event("documentSecurityUpdated", "/ws/docs/sub");
    const item = expectedItem(ctx, t, "/ws/docs/sub");
    expect(changeFor(ctx, ev)).toEqual({
      repositoryId: REPO,
      eventId: "securityUpdated",
      eventDate: ev.eventDate,
      docUuid: "ws_docs_sub",
      fileSystemItem: item,
      fileSystemItemId: item.id,
      fileSystemItemName: "SUB",
    });
  });

  it("security - access lost: securityUpdated, no item, short id", () => {
    const t = repo().setAcl("/ws/docs/sub", [deny("alice", "Read")]);
    const ev = t.event("documentSecurityUpdated", "/ws/docs/sub");
    expect(changeFor(alice(t), ev)).toEqual(deleted("securityUpdated", ev));
  });

  it("security - access gained: securityUpdated with the item", () => {
    const t = repo().setAcl("/ws/docs/closed", [grant("alice", "Read")]);
    const c = changeFor(alice(t), t.event("documentSecurityUpdated", "/ws/docs/closed"));
    expect(c?.eventId).toBe("securityUpdated");
    expect(c?.fileSystemItem?.id).toBe("defaultFileSystemItemFactory#default#ws_docs_closed");
  });

  it("security - a deny added to an Everyone grant through a group", () => {
    const t = repo().setAcl("/ws/docs/sub", [deny("staff", "Read")]);
    const ev = t.event("documentSecurityUpdated", "/ws/docs/sub");
    expect(changeFor(alice(t, ["/ws/docs"], ["staff"]), ev)?.fileSystemItem).toBeNull();
    expect(changeFor(alice(t, ["/ws/docs"], []), ev)?.fileSystemItem).not.toBeNull();
  });

  it("security - pending ACEs do not grant yet", () => {
    const t = repo().setAcl("/ws/docs/closed", [
      grant("alice", "Read", "pending"),
      deny("alice", "Read"),
    ]);
    const ev = t.event("documentSecurityUpdated", "/ws/docs/closed");
    expect(changeFor(alice(t), ev)).toEqual(deleted("securityUpdated", ev));
  });

  it("security - outside the user's roots: nothing", () => {
    const t = repo();
    expect(changeFor(alice(t), t.event("documentSecurityUpdated", "/ws/outside"))).toBeNull();
  });
});

describe("changes - root registration", () => {
  it("rootRegistered - the impacted user gets rootRegistered with the sync root item", () => {
    const t = repo().subscribe("/ws/outside", "alice");
    const ev = t.event("rootRegistered", "/ws/outside", {
      category: "NuxeoDrive",
      principalName: "Administrator",
      extended: { impactedUserName: "alice" },
    });
    // Whether or not the actor added the root yet.
    for (const ctx of [alice(t), alice(t, ["/ws/docs", "/ws/outside"])]) {
      const c = changeFor(ctx, ev);
      expect(c?.eventId).toBe("rootRegistered");
      expect(c?.fileSystemItem?.id).toBe("defaultSyncRootFolderItemFactory#default#ws_outside");
      expect(c?.fileSystemItem?.parentId).toBe(TOP_LEVEL_ID);
      expect(c?.fileSystemItem?.canDelete).toBe(true);
    }
    expect(changeFor(ctxFor(t, "Administrator", { admin: true }), ev)).toBeNull();
    expect(changeFor(ctxFor(t, "bob", { roots: ["/ws"] }), ev)).toBeNull();
  });

  it("rootRegistered - without impactedUserName the principal is the user", () => {
    const t = repo();
    const ev = t.event("rootRegistered", "/ws/outside", { principalName: "alice" });
    expect(changeFor(alice(t), ev)?.eventId).toBe("rootRegistered");
    expect(rootEventUser(ev)).toBe("alice");
  });

  it("rootRegistered - a nested root gets its own sync-root item", () => {
    const t = repo();
    const ev = t.event("rootRegistered", "/ws/docs/sub", { principalName: "alice" });
    const c = changeFor(alice(t), ev);
    expect(c?.fileSystemItem?.id).toBe("defaultSyncRootFolderItemFactory#default#ws_docs_sub");
    expect(c?.fileSystemItem?.path).toBe(
      `/${TOP_LEVEL_ID}/defaultSyncRootFolderItemFactory#default#ws_docs_sub`,
    );
  });

  it("rootRegistered - an unreadable or trashed document gives nothing", () => {
    const t = repo().set("/ws/outside", { isTrashed: true });
    expect(
      changeFor(alice(t), t.event("rootRegistered", "/ws/docs/closed", { principalName: "alice" })),
    ).toBeNull();
    expect(
      changeFor(alice(t), t.event("rootRegistered", "/ws/outside", { principalName: "alice" })),
    ).toBeNull();
  });

  it("rootRegistered - computeEvent adds the root to the user's roots, once", () => {
    const t = repo();
    const ev = t.event("rootRegistered", "/ws/outside", { principalName: "alice" });
    expect(computeEvent(alice(t), ev).roots).toEqual([t.root("/ws/docs"), t.root("/ws/outside")]);
    expect(computeEvent(alice(t, ["/ws/docs", "/ws/outside"]), ev).roots).toBeNull();
    expect(computeEvent(ctxFor(t, "bob"), ev)).toEqual({
      changes: [],
      reevaluate: null,
      roots: null,
    });
  });

  it("rootUnregistered - the user gets deleted with the short id", () => {
    const t = repo();
    const ev = t.event("rootUnregistered", "/ws/docs", { extended: { impactedUserName: "alice" } });
    expect(changeFor(alice(t), ev)).toEqual(deleted("deleted", ev));
    expect(changeFor(alice(t, []), ev)).toEqual(deleted("deleted", ev));
    expect(changeFor(ctxFor(t, "bob", { roots: ["/ws/docs"] }), ev)).toBeNull();
  });

  it("rootUnregistered - still in scope through another root: securityUpdated with its item", () => {
    const t = repo();
    const ev = t.event("rootUnregistered", "/ws/docs", { principalName: "alice" });
    for (const ctx of [alice(t, ["/ws", "/ws/docs"]), alice(t, ["/ws"])]) {
      const c = changeFor(ctx, ev);
      expect(c?.eventId).toBe("securityUpdated");
      expect(c?.fileSystemItem?.id).toBe("defaultFileSystemItemFactory#default#ws_docs");
      expect(c?.fileSystemItem?.parentId).toBe("defaultSyncRootFolderItemFactory#default#ws");
    }
  });

  it("rootUnregistered - computeEvent drops the root from the user's roots", () => {
    const t = repo();
    const ev = t.event("rootUnregistered", "/ws/docs", { principalName: "alice" });
    expect(computeEvent(alice(t, ["/ws/outside", "/ws/docs"]), ev).roots).toEqual([
      t.root("/ws/outside"),
    ]);
    expect(computeEvent(alice(t, ["/ws/outside"]), ev).roots).toBeNull();
  });
});

describe("changes - events on an ancestor of a root", () => {
  it("ancestor - trashing it deletes the root (short id of the root)", () => {
    const t = repo().set("/ws", { isTrashed: true });
    const ev = t.event("documentTrashed", "/ws");
    const fx = computeEvent(alice(t), ev);
    expect(fx.changes).toEqual([deleted("deleted", ev, "ws_docs")]);
    expect(fx.reevaluate).toBeNull();
    expect(fx.roots).toBeNull();
  });

  it("ancestor - a lifecycle transition to deleted deletes the root", () => {
    const t = repo();
    const ev = t.event("lifecycle_transition_event", "/ws", { docLifeCycle: "deleted" });
    expect(computeEvent(alice(t), ev).changes).toEqual([deleted("deleted", ev, "ws_docs")]);
  });

  it("ancestor - removing it deletes the root and forgets it", () => {
    const t = repo().folder("/other");
    const ctx = alice(t, ["/ws/docs", "/other"]);
    t.remove("/ws");
    const ev = t.event("documentRemoved", "/ws", { docUuid: "ws" });
    const fx = computeEvent(ctx, ev);
    expect(fx.changes).toEqual([deleted("deleted", ev, "ws_docs")]);
    expect(fx.roots?.map((r) => r.path)).toEqual(["/other"]);
  });

  it("ancestor - only roots strictly beneath it, in its repository, on whole path segments", () => {
    const t = repo().folder("/ws/docs2");
    const ctx = userContext({
      user: "alice",
      groups: [],
      isAdministrator: false,
      roots: [
        t.root("/ws/docs2"),
        { repository: "other", uid: "x", path: "/ws/docs/x" },
        t.root("/ws/docs"),
      ],
    });
    const ev = t.event("documentTrashed", "/ws/docs");
    // /ws/docs itself gets its own deletion; /ws/docs2 and the other repository are untouched.
    expect(computeEvent(ctx, ev).changes).toEqual([deleted("deleted", ev, "ws_docs")]);
  });

  it("ancestor - a security update asks to re-evaluate the roots beneath", () => {
    const t = repo();
    const ev = t.event("documentSecurityUpdated", "/ws");
    const fx = computeEvent(alice(t, ["/ws/docs", "/ws/outside"]), ev);
    expect(fx.changes).toEqual([]);
    expect(fx.reevaluate).toEqual({
      reason: "security",
      roots: [t.root("/ws/docs"), t.root("/ws/outside")],
    });
  });

  it("ancestor - untrash and restore ask to re-evaluate; other updates do not", () => {
    const t = repo();
    for (const id of ["documentUntrashed", "documentRestored"]) {
      expect(computeEvent(alice(t), t.event(id, "/ws")).reevaluate).toEqual({
        reason: "untrash",
        roots: [t.root("/ws/docs")],
      });
    }
    for (const id of ["documentModified", "documentLocked", "documentCreated"]) {
      expect(computeEvent(alice(t), t.event(id, "/ws")).reevaluate).toBeNull();
    }
  });

  it("ancestor - a move updates the root's path and asks to re-evaluate it", () => {
    const t = repo()
      .folder("/archive", { acl: [grant("Everyone", "Read")] })
      .folder("/other");
    const ctx = alice(t, ["/ws/docs", "/other"]);
    const ev = t.moveEvent("/ws", "/archive/ws");
    const fx = computeEvent(ctx, ev);
    expect(fx.changes).toEqual([]);
    expect(fx.reevaluate).toEqual({
      reason: "move",
      roots: [{ repository: REPO, uid: "ws_docs", path: "/ws/docs" }],
    });
    expect(fx.roots).toEqual([
      { repository: REPO, uid: "ws_docs", path: "/archive/ws/docs" },
      { repository: REPO, uid: "other", path: "/other" },
    ]);
    // The same event seen by a context that already learnt the new path.
    const learnt = computeEvent(withRoots(ctx, fx.roots!), ev);
    expect(learnt.reevaluate?.roots.map((r) => r.uid)).toEqual(["ws_docs"]);
    expect(learnt.roots).toBeNull();
  });

  it("ancestor - a root beneath a document inside another root: both the document and the root", () => {
    const t = repo();
    const ctx = alice(t, ["/ws", "/ws/docs/sub"]);
    const ev = t.event("documentSecurityUpdated", "/ws/docs");
    const fx = computeEvent(ctx, ev);
    expect(fx.changes.map((c) => [c.eventId, c.fileSystemItemId])).toEqual([
      ["securityUpdated", "defaultFileSystemItemFactory#default#ws_docs"],
    ]);
    expect(fx.reevaluate?.roots).toEqual([t.root("/ws/docs/sub")]);
  });
});

function stateOf(t: Tree, path: string): RootState {
  return { root: t.root(path), doc: t.snapshot(path), ancestors: t.ancestors(path) };
}

describe("changes - reevaluateRoots", () => {
  it("reevaluate - still in scope after a security change: securityUpdated with the root item", () => {
    const t = repo();
    const ctx = alice(t);
    const out = reevaluateRoots(ctx, [stateOf(t, "/ws/docs")], Reevaluation.Security, 42);
    expect(out).toEqual([
      {
        repositoryId: REPO,
        eventId: "securityUpdated",
        eventDate: 42,
        docUuid: "ws_docs",
        fileSystemItem: expectedItem(ctx, t, "/ws/docs"),
        fileSystemItemId: "defaultSyncRootFolderItemFactory#default#ws_docs",
        fileSystemItemName: "DOCS",
      },
    ]);
  });

  it("reevaluate - no longer visible, or gone: deleted with the root's short id", () => {
    const t = repo().setAcl("/ws", [deny("alice", "Read"), grant("Everyone", "Read")]);
    const gone: RootState = { root: t.root("/ws/outside"), doc: null, ancestors: [] };
    const out = reevaluateRoots(
      alice(t, ["/ws/docs", "/ws/outside"]),
      [stateOf(t, "/ws/docs"), gone],
      "security",
      7,
    );
    expect(out.map((c) => [c.eventId, c.fileSystemItemId, c.fileSystemItem])).toEqual([
      ["deleted", "default#ws_docs", null],
      ["deleted", "default#ws_outside", null],
    ]);
  });

  it("reevaluate - untrash brings the root back with its item", () => {
    const t = repo();
    const out = reevaluateRoots(alice(t), [stateOf(t, "/ws/docs")], Reevaluation.Untrash, 1);
    expect(out.map((c) => c.eventId)).toEqual(["securityUpdated"]);
  });

  it("reevaluate - a move that keeps the root in scope changes nothing; one that hides it deletes", () => {
    const t = repo().folder("/private", { acl: [deny("alice", "Everything")] });
    const ctx = alice(t);
    t.move("/ws", "/private/ws");
    // /ws's own grant to Everyone still comes first.
    expect(reevaluateRoots(ctx, [stateOf(t, "/private/ws/docs")], Reevaluation.Move, 1)).toEqual(
      [],
    );
    t.setAcl("/private/ws", []);
    const out = reevaluateRoots(ctx, [stateOf(t, "/private/ws/docs")], Reevaluation.Move, 1);
    expect(out.map((c) => [c.eventId, c.fileSystemItemId])).toEqual([
      ["deleted", "default#ws_docs"],
    ]);
  });

  it("reevaluate - a trashed root is out of scope", () => {
    const t = repo().set("/ws/docs", { isTrashed: true });
    const out = reevaluateRoots(alice(t), [stateOf(t, "/ws/docs")], Reevaluation.Security, 1);
    expect(out.map((c) => c.eventId)).toEqual(["deleted"]);
  });

  it("reevaluate - group: unchanged principals change nothing", () => {
    const t = repo().subscribe("/ws/team", "alice");
    const ctx = alice(t, ["/ws/team"], ["team"]);
    expect(
      reevaluateRoots(
        ctx,
        [stateOf(t, "/ws/team")],
        Reevaluation.Group,
        1,
        principalsOf("alice", ["team"], false),
      ),
    ).toEqual([]);
  });

  it("reevaluate - group: joining a group that opens a root gives its item; leaving it deletes", () => {
    const t = repo();
    const before = principalsOf("alice", [], false);
    const joined = alice(t, ["/ws/team"], ["team"]);
    const gained = reevaluateRoots(joined, [stateOf(t, "/ws/team")], Reevaluation.Group, 5, before);
    expect(gained.map((c) => [c.eventId, c.fileSystemItemId])).toEqual([
      ["securityUpdated", "defaultSyncRootFolderItemFactory#default#ws_team"],
    ]);
    const left = alice(t, ["/ws/team"], []);
    const lost = reevaluateRoots(
      left,
      [stateOf(t, "/ws/team")],
      Reevaluation.Group,
      6,
      joined.principals,
    );
    expect(lost.map((c) => [c.eventId, c.fileSystemItemId])).toEqual([
      ["deleted", "default#ws_team"],
    ]);
  });

  it("reevaluate - group: a root out of scope before and after gives nothing; in scope both, a rescan", () => {
    const t = repo();
    const ctx = alice(t, ["/ws/team", "/ws/docs"], ["other"]);
    const out = reevaluateRoots(
      ctx,
      [stateOf(t, "/ws/team"), stateOf(t, "/ws/docs")],
      Reevaluation.Group,
      1,
      principalsOf("alice", [], false),
    );
    expect(out.map((c) => [c.eventId, c.docUuid])).toEqual([["securityUpdated", "ws_docs"]]);
  });

  it("reevaluate - a root missing from the context's keys is still evaluated as a root", () => {
    const t = repo();
    const out = reevaluateRoots(
      alice(t, []),
      [stateOf(t, "/ws/outside")],
      Reevaluation.Security,
      1,
    );
    expect(out[0]?.fileSystemItemId).toBe("defaultSyncRootFolderItemFactory#default#ws_outside");
  });
});

describe("changes - other events", () => {
  it("other - unknown or irrelevant event ids give nothing", () => {
    const t = repo();
    for (const id of ["loginSuccess", "documentCheckedIn", "download", "documentCheckedOut"]) {
      expect(computeEvent(alice(t), t.event(id, "/ws/docs/sub/a.txt"))).toEqual({
        changes: [],
        reevaluate: null,
        roots: null,
      });
    }
  });

  it("other - group events give nothing by themselves (the actor refreshes groups)", () => {
    const t = repo();
    for (const id of ["group_created", "group_modified", "group_deleted"]) {
      const ev = t.event(id, "/", {
        docUuid: "",
        docPath: "",
        doc: null,
        ancestors: [],
        extended: { id: "team" },
      });
      expect(computeEvent(alice(t), ev)).toEqual({ changes: [], reevaluate: null, roots: null });
      expect(groupOf(ev)).toBe("team");
      expect(eventKind(ev)).toBe("group");
    }
    expect(groupOf(t.event("documentModified", "/ws"))).toBeNull();
  });

  it("other - helpers read the audit conventions", () => {
    expect(movedFromParent("default:abc-123")).toBe("abc-123");
    expect(movedFromParent(null)).toBeNull();
    expect(movedFromParent("default:")).toBeNull();
    expect(rootEventUser({ principalName: "p", extended: {} })).toBe("p");
    expect(rootEventUser({ principalName: "p", extended: { impactedUserName: "u" } })).toBe("u");
  });

  it("other - withRoots keeps the principals and rebuilds the keys", () => {
    const t = repo();
    const ctx = withRoots(alice(t, [], ["g"]), [t.root("/ws/outside")]);
    expect(ctx.principals.names.has("g")).toBe(true);
    expect(ctx.rootSet.has(REPO, uidOf("/ws/outside"))).toBe(true);
    expect(ctx.rootSet.has("other", uidOf("/ws/outside"))).toBe(false);
  });
});

describe("changes - one event, several users", () => {
  it("users - the same event means something different to each user", () => {
    const t = repo().setAcl("/ws/docs/sub", [deny("alice", "Read")]);
    const ev = t.event("documentSecurityUpdated", "/ws/docs/sub");
    const bob = ctxFor(t, "bob", { roots: ["/ws/docs"] });
    const carol = ctxFor(t, "carol", { roots: ["/ws/outside"] });
    expect(changeFor(alice(t), ev)).toEqual(deleted("securityUpdated", ev));
    expect(changeFor(bob, ev)?.fileSystemItem?.userName).toBe("bob");
    expect(changeFor(carol, ev)).toBeNull();
  });

  it("users - a root registered by one user gives nothing to a user who does not hold it", () => {
    const t = repo().subscribe("/ws/docs", "bob");
    const ev = t.event("rootRegistered", "/ws/docs", { principalName: "bob" });
    expect(changeFor(alice(t), ev)).toBeNull();
    expect(changeFor(ctxFor(t, "bob"), ev)?.eventId).toBe("rootRegistered");
  });

  it("users - rootRegistered for a document gone before it was baked gives nothing", () => {
    const t = repo();
    const ev = {
      ...t.event("rootRegistered", "/ws/outside", { principalName: "alice" }),
      doc: null,
    };
    expect(changeFor(alice(t), ev)).toBeNull();
  });
});

describe("changes - change sets from events", () => {
  function flush(ctx: UserContext, events: DocEvent[]) {
    const pending = createPendingChanges();
    for (const ev of events) for (const c of computeEvent(ctx, ev).changes) pending.add(c);
    return pending.take().changes;
  }

  it("set - created, modified then trashed within one set: nothing to send", () => {
    const t = repo();
    const ctx = alice(t);
    t.file("/ws/docs/sub/new.txt");
    const created = t.event("documentCreated", "/ws/docs/sub/new.txt");
    const modified = t.event("documentModified", "/ws/docs/sub/new.txt");
    t.set("/ws/docs/sub/new.txt", { isTrashed: true });
    const trashed = t.event("documentTrashed", "/ws/docs/sub/new.txt");
    expect(flush(ctx, [created, modified, trashed])).toEqual([]);
  });

  it("set - moved out then back in: documentMoved with the final item", () => {
    const t = repo();
    const ctx = alice(t);
    const out = t.moveEvent("/ws/docs/sub/a.txt", "/ws/outside/a.txt");
    const back = t.moveEvent("/ws/outside/a.txt", "/ws/docs/a.txt");
    const changes = flush(ctx, [out, back]);
    expect(changes.map((c) => [c.eventId, c.fileSystemItem?.parentId])).toEqual([
      ["documentMoved", "defaultSyncRootFolderItemFactory#default#ws_docs"],
    ]);
  });

  it("set - moved then modified: documentMoved with the modified item", () => {
    const t = repo();
    const ctx = alice(t);
    const moved = t.moveEvent("/ws/docs/sub/a.txt", "/ws/docs/a.txt");
    t.set("/ws/docs/a.txt", { title: "Renamed", blob: { name: "renamed.txt", length: 9 } });
    const modified = t.event("documentModified", "/ws/docs/a.txt");
    const changes = flush(ctx, [moved, modified]);
    expect(changes.map((c) => [c.eventId, c.fileSystemItemName, c.fileSystemItem?.size])).toEqual([
      ["documentMoved", "renamed.txt", 9],
    ]);
  });

  it("set - an ancestor trashed: the root and a document inside it, latest first", () => {
    const t = repo();
    const ctx = alice(t, ["/ws/docs/sub"]);
    const modified = t.event("documentModified", "/ws/docs/sub/a.txt");
    t.set("/ws/docs", { isTrashed: true });
    const trashed = t.event("documentTrashed", "/ws/docs");
    const changes = flush(ctx, [modified, trashed]);
    expect(changes.map((c) => [c.eventId, c.fileSystemItemId])).toEqual([
      ["deleted", "default#ws_docs_sub"],
      ["documentModified", "defaultFileSystemItemFactory#default#ws_docs_sub_a.txt"],
    ]);
  });
});
