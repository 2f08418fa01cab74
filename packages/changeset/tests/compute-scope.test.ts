import { describe, expect, it } from "vitest";
import {
  activeRootsOf,
  inScope,
  isActiveRootFor,
  pathStrictlyWithin,
  pathWithin,
  principalsOf,
  rootSetOf,
  someRootContains,
  type RootSet,
} from "../src/compute/index.js";
import { deny, grant, REPO, Tree, uidOf } from "./compute-fixtures.js";

const alice = principalsOf("alice", ["members"], false);

/**
 * /ws                 Everyone: Read
 *   /docs             (alice's root)
 *     /sub
 *       /a.txt
 *       /empty        file without blob
 *       /hidden.txt   HiddenInNavigation
 *     /closed         deny alice Read
 *       /inner
 *         /b.txt
 *     /mine           members: ReadWrite, deny Everyone Everything (blocks inheritance)
 *       /c.txt
 * /other              nobody but admins
 *   /x.txt
 */
function repo(): Tree {
  return new Tree()
    .folder("/ws", { acl: [grant("Everyone", "Read")] })
    .folder("/ws/docs")
    .folder("/ws/docs/sub")
    .file("/ws/docs/sub/a.txt")
    .file("/ws/docs/sub/empty", { blob: null })
    .file("/ws/docs/sub/hidden.txt", { facets: ["HiddenInNavigation"] })
    .folder("/ws/docs/closed", { acl: [deny("alice", "Read")] })
    .folder("/ws/docs/closed/inner", { acl: [grant("alice", "Read")] })
    .file("/ws/docs/closed/inner/b.txt")
    .folder("/ws/docs/mine", {
      acl: [grant("members", "ReadWrite"), deny("Everyone", "Everything")],
    })
    .file("/ws/docs/mine/c.txt")
    .folder("/other")
    .file("/other/x.txt");
}

function keys(_t: Tree, ...paths: string[]): RootSet {
  return rootSetOf(paths.map((p) => ({ repository: REPO, uid: uidOf(p) })));
}

function scopeOf(t: Tree, path: string, roots: RootSet, who = alice) {
  const s = inScope(who, t.snapshot(path), t.ancestors(path), roots);
  return s === null ? null : { root: s.root.path, chain: s.chain.map((d) => d.path) };
}

describe("scope - inScope", () => {
  it("scope - a readable file under a root is in scope through it, chain from the root down", () => {
    const t = repo();
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws/docs"))).toEqual({
      root: "/ws/docs",
      chain: ["/ws/docs", "/ws/docs/sub", "/ws/docs/sub/a.txt"],
    });
  });

  it("scope - a root is in scope through itself", () => {
    const t = repo();
    expect(scopeOf(t, "/ws/docs", keys(t, "/ws/docs"))).toEqual({
      root: "/ws/docs",
      chain: ["/ws/docs"],
    });
  });

  it("scope - nested roots: the deepest root wins", () => {
    const t = repo();
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws", "/ws/docs", "/ws/docs/sub"))).toEqual({
      root: "/ws/docs/sub",
      chain: ["/ws/docs/sub", "/ws/docs/sub/a.txt"],
    });
    expect(scopeOf(t, "/ws/docs", keys(t, "/ws", "/ws/docs/sub"))?.root).toBe("/ws");
  });

  it("scope - documents outside every root are out of scope", () => {
    const t = repo();
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws/docs/mine"))).toBeNull();
    expect(scopeOf(t, "/ws/docs/sub/a.txt", rootSetOf([]))).toBeNull();
  });

  it("scope - an unreadable intermediate folder hides what is beneath it", () => {
    const t = repo();
    // b.txt and inner are readable, but the way from the root crosses `closed`.
    expect(scopeOf(t, "/ws/docs/closed/inner/b.txt", keys(t, "/ws/docs"))).toBeNull();
    expect(scopeOf(t, "/ws/docs/closed", keys(t, "/ws/docs"))).toBeNull();
  });

  it("scope - a root beneath the unreadable folder still gives scope; an outer one does not help", () => {
    const t = repo();
    expect(
      scopeOf(t, "/ws/docs/closed/inner/b.txt", keys(t, "/ws/docs", "/ws/docs/closed/inner")),
    ).toEqual({
      root: "/ws/docs/closed/inner",
      chain: ["/ws/docs/closed/inner", "/ws/docs/closed/inner/b.txt"],
    });
  });

  it("scope - visibility above the root does not matter", () => {
    const t = repo();
    // alice cannot read /ws/docs/closed, but a root inside it is fine.
    expect(scopeOf(t, "/ws/docs/closed/inner", keys(t, "/ws/docs/closed/inner"))?.root).toBe(
      "/ws/docs/closed/inner",
    );
  });

  it("scope - a document the user cannot read is out of scope", () => {
    const t = repo().setAcl("/ws/docs/sub/a.txt", [deny("alice", "Read")]);
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws/docs"))).toBeNull();
    expect(scopeOf(t, "/other/x.txt", keys(t, "/other"))).toBeNull();
  });

  it("scope - groups and blocked inheritance decide through the ACL", () => {
    const t = repo();
    expect(scopeOf(t, "/ws/docs/mine/c.txt", keys(t, "/ws/docs"))?.root).toBe("/ws/docs");
    const bob = principalsOf("bob", [], false);
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws/docs"), bob)?.root).toBe("/ws/docs");
    expect(scopeOf(t, "/ws/docs/mine/c.txt", keys(t, "/ws/docs"), bob)).toBeNull();
  });

  it("scope - administrators see every document under their roots", () => {
    const t = repo();
    const admin = principalsOf("admin", [], true);
    expect(scopeOf(t, "/other/x.txt", keys(t, "/other"), admin)?.root).toBe("/other");
    expect(scopeOf(t, "/ws/docs/closed/inner/b.txt", keys(t, "/ws/docs"), admin)?.root).toBe(
      "/ws/docs",
    );
  });

  it("scope - a file without a blob is not an item; a folder without one is", () => {
    const t = repo();
    expect(scopeOf(t, "/ws/docs/sub/empty", keys(t, "/ws/docs"))).toBeNull();
    expect(scopeOf(t, "/ws/docs/sub", keys(t, "/ws/docs"))?.root).toBe("/ws/docs");
  });

  it("scope - HiddenInNavigation, versions, proxies and trashed documents are never items", () => {
    const t = repo()
      .file("/ws/docs/sub/v1", { isVersion: true })
      .file("/ws/docs/sub/proxy", { isProxy: true })
      .file("/ws/docs/sub/trashed", { isTrashed: true });
    for (const p of ["hidden.txt", "v1", "proxy", "trashed"]) {
      expect(scopeOf(t, `/ws/docs/sub/${p}`, keys(t, "/ws/docs")), p).toBeNull();
    }
  });

  it("scope - a trashed root is not active: an outer root takes over, or nothing", () => {
    const t = repo().set("/ws/docs/sub", { isTrashed: true });
    // a.txt itself is not trashed in this model; its trashed root gives no scope.
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws/docs/sub"))).toBeNull();
    expect(scopeOf(t, "/ws/docs/sub/a.txt", keys(t, "/ws/docs", "/ws/docs/sub"))?.root).toBe(
      "/ws/docs",
    );
  });
});

describe("scope - roots", () => {
  it("roots - active roots are enabled subscriptions of the user, not trashed, not versions", () => {
    const t = repo().subscribe("/ws/docs", "alice", "bob").subscribe("/ws/docs/sub", "bob");
    const docs = t.snapshot("/ws/docs");
    expect(isActiveRootFor("alice", docs)).toBe(true);
    expect(isActiveRootFor("carol", docs)).toBe(false);
    expect(
      isActiveRootFor("alice", { ...docs, subscriptions: [{ username: "alice", enabled: false }] }),
    ).toBe(false);
    expect(isActiveRootFor("alice", { ...docs, isTrashed: true })).toBe(false);
    expect(isActiveRootFor("alice", { ...docs, isVersion: true })).toBe(false);
    const all = ["/ws", "/ws/docs", "/ws/docs/sub"].map((p) => t.snapshot(p));
    expect(activeRootsOf("bob", all)).toEqual([t.root("/ws/docs"), t.root("/ws/docs/sub")]);
  });

  it("roots - path containment works on whole segments and from the repository root", () => {
    expect(pathWithin("/ws/docs", "/ws/docs")).toBe(true);
    expect(pathWithin("/ws/docs/a", "/ws/docs")).toBe(true);
    expect(pathWithin("/ws/docs2/a", "/ws/docs")).toBe(false);
    expect(pathStrictlyWithin("/ws/docs", "/ws/docs")).toBe(false);
    expect(pathStrictlyWithin("/ws", "/")).toBe(true);
    expect(pathStrictlyWithin("/", "/")).toBe(false);
    expect(pathStrictlyWithin("/ws", "")).toBe(false);
  });

  it("roots - someRootContains checks the repository too", () => {
    const roots = [{ repository: REPO, uid: "r", path: "/ws/docs" }];
    expect(someRootContains(roots, REPO, "/ws/docs/a")).toBe(true);
    expect(someRootContains(roots, "other", "/ws/docs/a")).toBe(false);
    expect(someRootContains(roots, REPO, "/ws")).toBe(false);
  });
});
