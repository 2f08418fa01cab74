// Where each item of a tree goes in a mirror folder: pure, deterministic, collision-free.
//
// The top level is the mirror folder itself; sync roots are its directories. Within a folder,
// children are taken in (case-folded name, id) order and each gets the first free name among
// `name`, `name (2)`, `name (3)`… (the number before the extension for files). A name is taken
// when a sibling holds it ignoring case (so the layout also works on case-insensitive file
// systems), or when it is a file's sidecar `<name>.drivecast.json`. The same tree always yields
// the same layout, whatever order its items arrived in.
import { TOP_LEVEL_ID } from "@drivecast/protocol";
import type { DriveTree, TreeItem } from "./tree.js";

/** Suffix of the metadata file beside each placeholder file. */
export const SIDECAR_SUFFIX = ".drivecast.json";
/** The mirror's own folder (state file), directly in the mirror folder. */
export const STATE_DIR = ".drivecast";

/** A path segment safe on POSIX and Windows file systems (slashes, NUL, control chars, dots). */
export function safeName(name: string): string {
  let s = "";
  for (const ch of name) s += ch === "/" || ch === "\\" || ch.charCodeAt(0) < 0x20 ? "_" : ch;
  if (s === "" || s === "." || s === "..") s = `_${s}`;
  return s;
}

function fold(name: string): string {
  return name.normalize("NFC").toLowerCase();
}

/** `name (n)`, the number before the extension for files (`a (2).txt`). */
export function numbered(name: string, n: number, folder: boolean): string {
  if (n <= 1) return name;
  const dot = folder ? -1 : name.lastIndexOf(".");
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

/** Names for the children of one folder: id → name. `reserved` names are never given. */
export function nameChildren(
  children: readonly TreeItem[],
  reserved: readonly string[] = [],
): Map<string, string> {
  const sorted = children
    .map((item) => ({ item, base: safeName(item.name) }))
    .sort((a, b) => {
      const fa = fold(a.base);
      const fb = fold(b.base);
      if (fa !== fb) return fa < fb ? -1 : 1;
      return a.item.id < b.item.id ? -1 : a.item.id > b.item.id ? 1 : 0;
    });
  const taken = new Set(reserved.map(fold));
  const out = new Map<string, string>();
  for (const { item, base } of sorted) {
    for (let n = 1; ; n++) {
      const name = numbered(base, n, item.folder);
      const key = fold(name);
      if (taken.has(key)) continue;
      if (!item.folder && taken.has(fold(name + SIDECAR_SUFFIX))) continue;
      taken.add(key);
      if (!item.folder) taken.add(fold(name + SIDECAR_SUFFIX));
      out.set(item.id, name);
      break;
    }
  }
  return out;
}

/**
 * The relative path (`/`-separated) of every item reachable from the top level, parents before
 * children.
 */
export function planLayout(tree: DriveTree): Map<string, string> {
  const out = new Map<string, string>();
  const queue: { id: string; path: string }[] = [{ id: TOP_LEVEL_ID, path: "" }];
  for (let i = 0; i < queue.length; i++) {
    const { id, path } = queue[i] as { id: string; path: string };
    const children = tree.children(id);
    if (children.length === 0) continue;
    const names = nameChildren(children, path === "" ? [STATE_DIR] : []);
    for (const child of children) {
      const childPath =
        path === "" ? (names.get(child.id) as string) : `${path}/${names.get(child.id)}`;
      out.set(child.id, childPath);
      if (child.folder) queue.push({ id: child.id, path: childPath });
    }
  }
  return out;
}
