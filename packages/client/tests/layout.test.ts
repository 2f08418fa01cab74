import { describe, expect, it } from "vitest";
import { createDriveTree, nameChildren, numbered, planLayout, safeName } from "../src/mod.js";
import { file, folder, itemId, rootId, syncRoot } from "./fixtures.js";

describe("layout", () => {
  it("layout - sync roots are top folders and items nest under their parents", () => {
    const tree = createDriveTree([
      syncRoot("R", "Projects"),
      folder("A", rootId("R"), "Plans"),
      file("f", itemId("A"), "plan.txt"),
    ]);
    expect(Object.fromEntries(planLayout(tree))).toEqual({
      [rootId("R")]: "Projects",
      [itemId("A")]: "Projects/Plans",
      [itemId("f")]: "Projects/Plans/plan.txt",
    });
  });

  it("layout - siblings with the same name get numbered names, by id order", () => {
    const names = nameChildren([
      file("b", rootId("R"), "report.pdf"),
      file("a", rootId("R"), "report.pdf"),
      folder("c", rootId("R"), "report.pdf"),
    ]);
    expect(names.get(itemId("a"))).toBe("report.pdf");
    expect(names.get(itemId("b"))).toBe("report (2).pdf");
    expect(names.get(itemId("c"))).toBe("report.pdf (2)");
  });

  it("layout - names differing only by case collide (case-insensitive file systems)", () => {
    const names = nameChildren([file("a", rootId("R"), "Notes"), file("b", rootId("R"), "notes")]);
    expect(new Set(names.values())).toEqual(new Set(["Notes", "notes (2)"]));
  });

  it("layout - an item named like another file's sidecar does not take the sidecar's place", () => {
    const names = nameChildren([
      file("s", rootId("R"), "x.drivecast.json"),
      file("x", rootId("R"), "x"),
    ]);
    expect(names.get(itemId("x"))).toBe("x");
    expect(names.get(itemId("s"))).toBe("x.drivecast (2).json");
  });

  it("layout - a sync root named .drivecast does not take the state folder", () => {
    const tree = createDriveTree([syncRoot("R", ".drivecast")]);
    expect(planLayout(tree).get(rootId("R"))).toBe(".drivecast (2)");
  });

  it("layout - the same tree gives the same layout whatever order the items came in", () => {
    const items = [
      syncRoot("R", "R"),
      file("a", rootId("R"), "same"),
      file("b", rootId("R"), "same"),
      file("c", rootId("R"), "Same"),
    ];
    const one = planLayout(createDriveTree(items));
    const two = planLayout(createDriveTree([...items].reverse()));
    expect(Object.fromEntries(two)).toEqual(Object.fromEntries(one));
  });

  it("layout - names unsafe as path segments are made safe", () => {
    expect(safeName("a/b\\c")).toBe("a_b_c");
    expect(safeName("..")).toBe("_..");
    expect(safeName("")).toBe("_");
    expect(safeName("tab\there")).toBe("tab_here");
    expect(numbered(".bashrc", 2, false)).toBe(".bashrc (2)");
    expect(numbered("a.tar.gz", 3, false)).toBe("a.tar (3).gz");
  });
});
