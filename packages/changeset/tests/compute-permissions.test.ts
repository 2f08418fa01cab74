import type { Acl } from "@drivecast/protocol";
import { describe, expect, it } from "vitest";
import { can, includes, Permission, principalsOf, samePrincipals } from "../src/compute/index.js";
import { deny, grant } from "./compute-fixtures.js";

const P = Permission;
const alice = principalsOf("alice", ["members", "team"], false);

function acls(...lists: Acl["aces"][]): Acl[] {
  return lists.map((aces, i) => ({ name: i === 0 ? "local" : "inherited", aces }));
}

describe("permissions - lattice", () => {
  // [held, asked, expected]: Nuxeo's default compound permissions, transitively.
  const table: [string, string, boolean][] = [
    [P.Everything, P.Read, true],
    [P.Everything, P.WriteProperties, true],
    [P.Everything, P.RemoveChildren, true],
    [P.Everything, "SomeCustomPermission", true],
    [P.ReadWrite, P.Read, true],
    [P.ReadWrite, P.Write, true],
    [P.ReadWrite, P.Browse, true],
    [P.ReadWrite, P.WriteProperties, true],
    [P.ReadWrite, P.RemoveChildren, true],
    [P.ReadWrite, P.Everything, false],
    [P.Read, P.Browse, true],
    [P.Read, P.ReadVersion, true],
    [P.Read, P.ReadProperties, true],
    [P.Read, P.ReadChildren, true],
    [P.Read, P.ReadLifeCycle, true],
    [P.Read, P.ReadSecurity, true],
    [P.Read, P.ReviewParticipant, true],
    [P.Read, P.Write, false],
    [P.Read, P.WriteProperties, false],
    [P.ReadProperties, P.Browse, true],
    [P.ReadProperties, P.Read, false],
    [P.Browse, P.Read, false],
    [P.Write, P.AddChildren, true],
    [P.Write, P.WriteProperties, true],
    [P.Write, P.Remove, true],
    [P.Write, P.RemoveChildren, true],
    [P.Write, P.ManageWorkflows, true],
    [P.Write, P.WriteLifeCycle, true],
    [P.Write, P.WriteVersion, true],
    [P.Write, P.Read, false],
    [P.WriteVersion, P.WriteProperties, true],
    [P.WriteProperties, P.WriteVersion, false],
    [P.Remove, P.RemoveChildren, true],
    [P.Remove, P.WriteLifeCycle, true],
    [P.Remove, P.WriteProperties, false],
    [P.ReadRemove, P.Read, true],
    [P.ReadRemove, P.Browse, true],
    [P.ReadRemove, P.Remove, true],
    [P.ReadRemove, P.RemoveChildren, true],
    [P.ReadRemove, P.WriteProperties, false],
    [P.Version, P.ReadVersion, true],
    [P.Version, P.WriteVersion, true],
    [P.Version, P.WriteProperties, true],
    [P.Version, P.Read, false],
    [P.RemoveChildren, P.Remove, false],
    ["SomeCustomPermission", "SomeCustomPermission", true],
    ["SomeCustomPermission", P.Read, false],
  ];
  it.each(table)("lattice - %s includes %s: %s", (held, asked, expected) => {
    expect(includes(held, asked)).toBe(expected);
  });

  it("lattice - every permission includes itself", () => {
    for (const p of Object.values(P)) expect(includes(p, p)).toBe(true);
  });
});

describe("permissions - can", () => {
  it("can - a grant to the user decides", () => {
    expect(can(alice, P.Read, acls([grant("alice", P.Read)]))).toBe(true);
  });

  it("can - no matching ACE is a refusal", () => {
    expect(can(alice, P.Read, [])).toBe(false);
    expect(can(alice, P.Read, acls([grant("bob", P.Everything)]))).toBe(false);
    expect(can(alice, P.Write, acls([grant("alice", P.Read)]))).toBe(false);
  });

  it("can - a grant to one of the user's groups counts", () => {
    expect(can(alice, P.Read, acls([grant("team", P.Read)]))).toBe(true);
    expect(can(alice, P.Read, acls([grant("other-group", P.Read)]))).toBe(false);
  });

  it("can - Everyone is a principal of every user", () => {
    expect(can(alice, P.Read, acls([grant("Everyone", P.Read)]))).toBe(true);
    expect(can(principalsOf("nobody", [], false), P.Read, acls([grant("Everyone", P.Read)]))).toBe(
      true,
    );
  });

  it("can - the first matching ACE decides: a local deny beats an inherited grant", () => {
    const list = acls([deny("alice", P.Read)], [grant("alice", P.Everything)]);
    expect(can(alice, P.Read, list)).toBe(false);
  });

  it("can - the first matching ACE decides: a local grant beats an inherited deny", () => {
    const list = acls([grant("alice", P.Read)], [deny("Everyone", P.Everything)]);
    expect(can(alice, P.Read, list)).toBe(true);
  });

  it("can - ACE order inside one ACL matters", () => {
    expect(can(alice, P.Read, acls([deny("team", P.Read), grant("alice", P.Read)]))).toBe(false);
    expect(can(alice, P.Read, acls([grant("alice", P.Read), deny("team", P.Read)]))).toBe(true);
  });

  it("can - a deny on a compound permission denies what it includes", () => {
    const list = acls([deny("alice", P.ReadWrite)], [grant("alice", P.Browse)]);
    expect(can(alice, P.Browse, list)).toBe(false);
  });

  it("can - a deny that does not include the asked permission is skipped", () => {
    const list = acls([deny("alice", P.Write)], [grant("alice", P.Read)]);
    expect(can(alice, P.Read, list)).toBe(true);
    expect(can(alice, P.WriteProperties, list)).toBe(false);
  });

  it("can - blocked inheritance (deny Everything to Everyone) stops at the block", () => {
    const list = acls(
      [grant("alice", P.Read), deny("Everyone", P.Everything)],
      [grant("bob", P.Read), grant("Everyone", P.ReadWrite)],
    );
    expect(can(alice, P.Read, list)).toBe(true);
    expect(can(principalsOf("bob", [], false), P.Read, list)).toBe(false);
  });

  it("can - pending and archived ACEs are ignored; absent or effective status counts", () => {
    expect(can(alice, P.Read, acls([grant("alice", P.Read, "pending")]))).toBe(false);
    expect(can(alice, P.Read, acls([grant("alice", P.Read, "archived")]))).toBe(false);
    expect(can(alice, P.Read, acls([grant("alice", P.Read, "effective")]))).toBe(true);
    const archivedDeny = acls(
      [{ ...deny("alice", P.Read), status: "archived" }],
      [grant("alice", P.Read)],
    );
    expect(can(alice, P.Read, archivedDeny)).toBe(true);
  });

  it("can - a null status (after a msgpack round trip) counts as effective", () => {
    const list = [
      { name: "local", aces: [{ ...grant("alice", P.Read), status: null as unknown as string }] },
    ];
    expect(can(alice, P.Read, list)).toBe(true);
  });

  it("can - administrators hold every permission, even against a deny", () => {
    const admin = principalsOf("root", [], true);
    expect(can(admin, P.Everything, [])).toBe(true);
    expect(can(admin, P.Read, acls([deny("root", P.Everything)]))).toBe(true);
  });

  it("can - a user named like a group of another user is not that group", () => {
    const bob = principalsOf("bob", [], false);
    expect(can(bob, P.Read, acls([grant("team", P.Read)]))).toBe(false);
  });
});

describe("permissions - principals", () => {
  it("principals - hold the user, its groups and Everyone", () => {
    expect([...alice.names].sort()).toEqual(["Everyone", "alice", "members", "team"]);
  });

  it("principals - sameness ignores group order, sees group and admin changes", () => {
    expect(samePrincipals(alice, principalsOf("alice", ["team", "members"], false))).toBe(true);
    expect(samePrincipals(alice, principalsOf("alice", ["team"], false))).toBe(false);
    expect(samePrincipals(alice, principalsOf("alice", ["team", "x"], false))).toBe(false);
    expect(samePrincipals(alice, principalsOf("alice", ["members", "team"], true))).toBe(false);
    expect(samePrincipals(alice, principalsOf("bob", ["members", "team"], false))).toBe(false);
  });
});
