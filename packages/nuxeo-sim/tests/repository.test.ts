import { describe, expect, it } from "vitest";
import {
  SimInvalidOperationError,
  SimNotFoundError,
  createSimulator,
  includesPermission,
} from "../src/mod.js";

const WS = "/default-domain/workspaces";

function clock(start = Date.UTC(2024, 0, 1)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("tree", () => {
  it("tree - starts with Nuxeo's default domain", () => {
    const sim = createSimulator();
    expect(sim.byPath("/")?.type).toBe("Root");
    expect(sim.byPath("/default-domain")?.type).toBe("Domain");
    expect(sim.byPath(WS)?.type).toBe("WorkspaceRoot");
    expect(sim.workspacesUid).toBe(sim.byPath(WS)?.uid);
    expect(sim.byPath(WS)?.uid).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it("tree - names come from titles as Nuxeo's path segment service makes them", async () => {
    const c = clock();
    const sim = createSimulator({ now: c.now });
    const a = await sim.createFolder(WS, "  Q3/Q4 reports \\ drafts and more words ");
    expect(a.name).toBe("Q3-Q4 reports - drafts a");
    expect(a.path).toBe(`${WS}/Q3-Q4 reports - drafts a`);
    const b = await sim.createFolder(WS, "Q3/Q4 reports \\ drafts and more");
    expect(b.name).toBe(`Q3-Q4 reports - drafts a.${c.now()}`);
    const weird = await sim.createFolder(WS, "...");
    expect(weird.name).not.toBe("...");
  });

  it("tree - parents are uids or paths; a file cannot hold children", async () => {
    const sim = createSimulator();
    const ws = await sim.createWorkspace(WS, "ws");
    const f = await sim.createFile(`${WS}/ws`, "a.txt", { content: "a" });
    expect(f.parentUid).toBe(ws.uid);
    await expect(sim.createFile(f.uid, "b.txt")).rejects.toBeInstanceOf(SimInvalidOperationError);
    await expect(sim.createFile("/nowhere", "b.txt")).rejects.toBeInstanceOf(SimNotFoundError);
  });

  it("blob - md5 digest, length, mime type and name", async () => {
    const sim = createSimulator();
    const f = await sim.createFile(WS, "Report", {
      name: "report.pdf",
      content: new Uint8Array([1, 2, 3]),
    });
    expect(f.blob).toEqual({
      name: "report.pdf",
      mimeType: "application/pdf",
      digestAlgorithm: "MD5",
      digest: "5289df737df57326fcdd22597afb1fac",
      length: 3,
    });
    const empty = await sim.createFile(WS, "empty");
    expect(empty.blob).toBeNull();
    const m = await sim.modify(f.uid, { content: "hello world" });
    expect(m.blob).toMatchObject({
      name: "report.pdf",
      digest: "5eb63bbbe01eeed093cb22bb8f5acdc3",
      length: 11,
    });
  });

  it("move - updates the paths of the whole subtree", async () => {
    const sim = createSimulator();
    const a = await sim.createFolder(WS, "a");
    const b = await sim.createFolder(WS, "b");
    const sub = await sim.createFolder(a.uid, "sub");
    const f = await sim.createFile(sub.uid, "f.txt", { content: "x" });
    await sim.move(sub.uid, b.uid);
    expect(sim.get(f.uid)?.path).toBe(`${WS}/b/sub/f.txt`);
    expect(sim.byPath(`${WS}/b/sub/f.txt`)?.uid).toBe(f.uid);
    expect(sim.byPath(`${WS}/a/sub`)).toBeUndefined();
    expect(sim.get(sub.uid)?.parentUid).toBe(b.uid);
    await expect(sim.move(b.uid, sub.uid)).rejects.toBeInstanceOf(SimInvalidOperationError);
  });

  it("copy - new uids for the subtree, no sync root state, documentCreatedByCopy", async () => {
    const sim = createSimulator();
    sim.createUser("u");
    const a = await sim.createFolder(WS, "a");
    await sim.createFile(a.uid, "f.txt", { content: "x" });
    await sim.registerRoot("u", a.uid);
    const c = await sim.copy(a.uid, WS);
    expect(c.uid).not.toBe(a.uid);
    expect(c.name).toMatch(/^a\.\d+$/);
    expect(c.facets).not.toContain("DriveSynchronized");
    expect(c.subscriptions).toEqual([]);
    expect(sim.children(c.uid).map((d) => d.title)).toEqual(["f.txt"]);
    expect(sim.rootsOf("u")).toEqual([a.uid]);
  });

  it("trash - flags descendants; untrash restores trashed ancestors too", async () => {
    const sim = createSimulator();
    const a = await sim.createFolder(WS, "a");
    const b = await sim.createFolder(a.uid, "b");
    const f = await sim.createFile(b.uid, "f.txt", { content: "x" });
    await sim.trash(a.uid);
    expect(sim.get(f.uid)?.isTrashed).toBe(true);
    await sim.untrash(b.uid);
    expect(sim.get(a.uid)?.isTrashed).toBe(false);
    expect(sim.get(f.uid)?.isTrashed).toBe(false);
  });

  it("remove - the subtree is gone", async () => {
    const sim = createSimulator();
    const a = await sim.createFolder(WS, "a");
    const f = await sim.createFile(a.uid, "f.txt", { content: "x" });
    await sim.remove(a.uid);
    expect(sim.get(a.uid)).toBeUndefined();
    expect(sim.get(f.uid)).toBeUndefined();
    expect(sim.byPath(`${WS}/a`)).toBeUndefined();
  });

  it("lock - owner and time; another user cannot take it", async () => {
    const c = clock();
    const sim = createSimulator({ now: c.now });
    const f = await sim.createFile(WS, "f.txt", { content: "x" });
    const locked = await sim.lock(f.uid, { principal: "Administrator" });
    expect(locked.lock).toEqual({ owner: "Administrator", created: c.now() });
    sim.createUser("bob");
    await expect(sim.lock(f.uid, { principal: "bob" })).rejects.toBeInstanceOf(
      SimInvalidOperationError,
    );
    expect((await sim.unlock(f.uid)).lock).toBeNull();
  });
});

describe("principals", () => {
  it("groups - extendedGroups are transitive, memberUsers are direct", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    await sim.createGroup("devs", { members: ["alice"] });
    await sim.createGroup("eng", { subGroups: ["devs"] });
    await sim.createGroup("staff", { subGroups: ["eng"] });
    expect(sim.user("alice")?.extendedGroups.sort()).toEqual(["devs", "eng", "staff"]);
    expect(sim.user("alice")?.groups).toEqual(["devs"]);
    expect(sim.group("staff")?.memberUsers).toEqual([]);
    expect(sim.group("eng")?.parentGroups).toEqual(["staff"]);
    await sim.removeFromGroup("eng", { groups: ["devs"] });
    expect(sim.user("alice")?.extendedGroups).toEqual(["devs"]);
  });

  it("groups - a cycle is refused", async () => {
    const sim = createSimulator();
    await sim.createGroup("a");
    await sim.createGroup("b", { subGroups: ["a"] });
    await expect(sim.addToGroup("a", { groups: ["b"] })).rejects.toBeInstanceOf(
      SimInvalidOperationError,
    );
  });

  it("admin - the administrators group makes an administrator", () => {
    const sim = createSimulator();
    expect(sim.user("Administrator")?.isAdministrator).toBe(true);
    expect(sim.createUser("root2", { admin: true }).isAdministrator).toBe(true);
    expect(sim.createUser("plain").isAdministrator).toBe(false);
  });

  it("tokens - one per (user, device), revocable", () => {
    const sim = createSimulator();
    sim.createUser("alice");
    const t1 = sim.tokenFor("alice");
    expect(sim.tokenFor("alice")).toBe(t1);
    expect(sim.tokenFor("alice", "laptop")).not.toBe(t1);
    sim.revokeToken(t1);
    expect(sim.tokenFor("alice")).not.toBe(t1);
  });
});

describe("security", () => {
  it("permissions - Nuxeo's inclusion table", () => {
    expect(includesPermission("Everything", "Remove")).toBe(true);
    expect(includesPermission("ReadWrite", "Browse")).toBe(true);
    expect(includesPermission("ReadWrite", "RemoveChildren")).toBe(true);
    expect(includesPermission("Read", "Write")).toBe(false);
    expect(includesPermission("ReadRemove", "WriteLifeCycle")).toBe(true);
    expect(includesPermission("ReadRemove", "WriteProperties")).toBe(false);
    expect(includesPermission("Version", "WriteProperties")).toBe(true);
    expect(includesPermission("Write", "Read")).toBe(false);
  });

  it("acls - local first, then inherited from the parent up", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    const a = await sim.createFolder(WS, "a");
    await sim.grant(a.uid, "alice", "Read");
    const b = await sim.createFolder(a.uid, "b");
    await sim.grant(b.uid, "alice", "ReadWrite");
    const acls = sim.acls(b.uid);
    expect(acls.map((l) => l.name)).toEqual(["local", "inherited"]);
    expect(acls[0]?.aces.map((x) => `${x.username}:${x.permission}`)).toEqual(["alice:ReadWrite"]);
    expect(acls[1]?.aces.map((x) => `${x.username}:${x.permission}`)).toEqual([
      "alice:Read",
      "administrators:Everything",
      "Administrator:Everything",
      "members:Read",
    ]);
    expect(sim.can("alice", "Write", b.uid)).toBe(true);
    expect(sim.can("alice", "Write", a.uid)).toBe(false);
    expect(sim.can("alice", "Read", a.uid)).toBe(true);
  });

  it("acls - a deny before a grant wins, through groups too", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    await sim.createGroup("team", { members: ["alice"] });
    const a = await sim.createFolder(WS, "a");
    await sim.grant(a.uid, "team", "Read");
    const b = await sim.createFolder(a.uid, "b");
    await sim.deny(b.uid, "alice", "Read");
    expect(sim.can("alice", "Read", a.uid)).toBe(true);
    expect(sim.can("alice", "Read", b.uid)).toBe(false);
  });

  it("acls - blocking inheritance appends Everyone/Everything denied and cuts inherited ACEs", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    sim.createUser("bob");
    const a = await sim.createFolder(WS, "a");
    await sim.grant(a.uid, "alice", "Read");
    await sim.grant(a.uid, "bob", "Read");
    const b = await sim.createFolder(a.uid, "b");
    await sim.blockInheritance(b.uid);
    await sim.grant(b.uid, "bob", "Read");
    const local = sim.acls(b.uid)[0]?.aces.map((x) => `${x.username}:${x.permission}:${x.granted}`);
    expect(local).toEqual([
      "Administrator:Everything:true",
      "bob:Read:true",
      "Everyone:Everything:false",
    ]);
    expect(sim.acls(b.uid).map((l) => l.name)).toEqual(["local"]);
    expect(sim.can("alice", "Read", b.uid)).toBe(false);
    expect(sim.can("bob", "Read", b.uid)).toBe(true);
    const c = await sim.createFolder(b.uid, "c");
    expect(sim.acls(c.uid)).toEqual([{ name: "inherited", aces: sim.acls(b.uid)[0]?.aces }]);
    expect(sim.can("alice", "Read", c.uid)).toBe(false);
    await sim.unblockInheritance(b.uid);
    expect(sim.can("alice", "Read", c.uid)).toBe(true);
  });

  it("acls - pending and archived ACEs do not count", async () => {
    const c = clock();
    const sim = createSimulator({ now: c.now });
    sim.createUser("alice");
    const a = await sim.createFolder(WS, "a");
    await sim.setAces(a.uid, [
      { username: "alice", permission: "Read", begin: c.now() + 60_000 },
      { username: "alice", permission: "Write", end: c.now() - 1 },
      { username: "alice", permission: "Browse", status: "archived" },
    ]);
    expect(sim.acls(a.uid)[0]?.aces.map((x) => x.status)).toEqual([
      "pending",
      "archived",
      "archived",
    ]);
    expect(sim.can("alice", "Read", a.uid)).toBe(false);
    c.advance(120_000);
    expect(sim.can("alice", "Read", a.uid)).toBe(true);
  });

  it("acls - ACE ids are Nuxeo's username:permission:granted:creator:begin:end", async () => {
    const sim = createSimulator();
    const a = await sim.createFolder(WS, "a");
    await sim.grant(a.uid, "alice", "Read", { principal: "Administrator" });
    expect(sim.acls(a.uid)[0]?.aces[0]?.id).toBe("alice:Read:true:Administrator::");
  });
});

describe("sync roots", () => {
  it("roots - register, unregister, trashed roots are not active", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    const a = await sim.createFolder(WS, "a");
    const reg = await sim.registerRoot("alice", a.uid);
    expect(reg.facets).toContain("DriveSynchronized");
    expect(reg.subscriptions).toMatchObject([{ username: "alice", enabled: true }]);
    expect(sim.rootsOf("alice")).toEqual([a.uid]);
    await sim.trash(a.uid);
    expect(sim.rootsOf("alice")).toEqual([]);
    await sim.untrash(a.uid);
    const un = await sim.unregisterRoot("alice", a.uid);
    expect(un.subscriptions).toMatchObject([{ username: "alice", enabled: false }]);
    expect(sim.rootsOf("alice")).toEqual([]);
  });

  it("roots - a folder under a root is not registered; a parent replaces nested roots", async () => {
    const sim = createSimulator();
    sim.createUser("alice");
    const a = await sim.createFolder(WS, "a");
    await sim.grant(a.uid, "alice", "Read");
    const b = await sim.createFolder(a.uid, "b");
    const c = await sim.createFolder(b.uid, "c");
    await sim.registerRoot("alice", b.uid);
    await sim.registerRoot("alice", c.uid);
    expect(sim.rootsOf("alice")).toEqual([b.uid]);
    await sim.registerRoot("alice", a.uid);
    expect(sim.rootsOf("alice")).toEqual([a.uid]);
    // Nested registration is allowed when the user cannot read a folder in between.
    await sim.blockInheritance(b.uid);
    await sim.registerRoot("alice", c.uid);
    expect(sim.rootsOf("alice").sort()).toEqual([a.uid, c.uid].sort());
  });
});
