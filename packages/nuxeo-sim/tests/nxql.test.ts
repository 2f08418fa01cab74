import { describe, expect, it } from "vitest";
import { NxqlSyntaxError } from "../src/mod.js";
import { indexedCandidates, parseNxql } from "../src/nxql.js";

describe("nxql", () => {
  it("nxql - parses AND-ed conditions, IN lists, STARTSWITH and ORDER BY", () => {
    const q = parseNxql(
      "select ecm:uuid from Document where ecm:uuid in ('a', 'b''c', \"d\\'e\") and ecm:path startswith '/x' " +
        "AND ecm:isTrashed = 0 AND ecm:mixinType <> 'HiddenInNavigation' ORDER BY dc:modified DESC, ecm:path",
    );
    expect(q.types).toBeNull();
    expect(q.conditions).toEqual([
      { field: "ecm:uuid", op: "IN", values: ["a", "b'c", "d'e"] },
      { field: "ecm:path", op: "STARTSWITH", values: ["/x"] },
      { field: "ecm:isTrashed", op: "=", values: [0] },
      { field: "ecm:mixinType", op: "!=", values: ["HiddenInNavigation"] },
    ]);
    expect(q.orderBy).toEqual([
      { field: "dc:modified", desc: true },
      { field: "ecm:path", desc: false },
    ]);
  });

  it("nxql - FROM a list of types", () => {
    expect([...(parseNxql("SELECT * FROM Folder, File").types ?? [])]).toEqual(["Folder", "File"]);
  });

  it("nxql - rejects OR, unknown fields, trailing garbage and unterminated strings", () => {
    for (const bad of [
      "SELECT * FROM Document WHERE ecm:uuid = 'a' OR ecm:uuid = 'b'",
      "SELECT * FROM Document WHERE foo:bar = 'a'",
      "SELECT * FROM Document WHERE ecm:uuid = 'a' LIMIT 3",
      "SELECT * FROM Document WHERE ecm:uuid = 'a",
      "UPDATE Document",
    ]) {
      expect(() => parseNxql(bad), bad).toThrow(NxqlSyntaxError);
    }
  });

  it("nxql - indexed conditions narrow the candidates to the smallest set; none means all", () => {
    const children = (uid: string) => (uid === "f" ? ["a", "b", "c"] : []);
    const descendants = (uid: string) => (uid === "f" ? ["a", "b", "c", "d", "e"] : []);
    const of = (q: string) => {
      const c = indexedCandidates(parseNxql(q), children, descendants);
      return c === null ? null : [...c].sort();
    };
    expect(of("SELECT * FROM Document WHERE ecm:ancestorId = 'f'")).toEqual([
      "a",
      "b",
      "c",
      "d",
      "e",
    ]);
    expect(of("SELECT * FROM Document WHERE ecm:ancestorId = 'f' AND ecm:parentId = 'f'")).toEqual([
      "a",
      "b",
      "c",
    ]);
    expect(
      of("SELECT * FROM Document WHERE ecm:parentId = 'f' AND ecm:uuid IN ('x', 'y')"),
    ).toEqual(["x", "y"]);
    expect(of("SELECT * FROM Document WHERE ecm:ancestorId = 'gone'")).toEqual([]);
    // Not indexed: every document is a candidate.
    expect(of("SELECT * FROM Document WHERE ecm:uuid != 'x' AND ecm:isTrashed = 0")).toBeNull();
  });
});
