// The reference mirror (Node only): keeps a local folder equal to the user's remote tree, as
// directories and empty placeholder files with a `<name>.drivecast.json` sidecar each.
//
// Invariant: `.drivecast/state.json` holds a cursor c, the tree at c, and where each item is on
// disk; the disk matches that tree. It holds because the state file is written (atomically) only
// from the client's cursor store, which the client calls after `onUpdate` — and `onUpdate`
// reconciles the disk with the tree before returning.
//
// Reconciling (after each change set or rescan, and once at start):
// 1. `planLayout` gives every reachable item its path (deterministic collision naming).
// 2. Parents before children, each item is brought to its path: left alone, renamed from where
//    it is (a folder carries its subtree along: the recorded paths below it follow), adopted (an
//    unrecorded directory, or a file whose sidecar names it), or created. Whatever holds a path
//    meant for another item is first moved aside into `.drivecast/aside/` (it may be wanted
//    elsewhere further down the pass); a stranger there is moved to `.drivecast/orphans/`.
// 3. Recorded items that are no longer wanted are deleted (whatever was moved aside included).
// Failure cases: a crash between the disk changes and the state file leaves the disk ahead of the
// state; at the next start every recorded path is checked (missing ones are forgotten), the
// reconcile adopts what it finds in place, and a sweep moves anything unrecorded to orphans — the
// folder ends equal to the tree, and nothing a user put there is deleted.
import { lstat, mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import WebSocket from "ws";
import { createDriveClient } from "./client.js";
import { writeFileAtomic } from "./cursor-store-file.js";
import { ClientConfigError } from "./errors.js";
import { SIDECAR_SUFFIX, STATE_DIR, planLayout } from "./layout.js";
import { createDriveTree } from "./tree.js";
import type { TreeItem } from "./tree.js";
import type { DriveClient, DriveClientOptions, WebSocketConstructor } from "./types.js";

export const STATE_FILE = "state.json";

export interface MirrorOptions {
  /** The folder to mirror into (created if missing). */
  dir: string;
  url: string;
  token: string;
  deviceId: string;
  /** Default: the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Further client options (backoff, clock, format…). */
  client?: Partial<
    Omit<DriveClientOptions, "url" | "token" | "deviceId" | "tree" | "cursorStore" | "onUpdate">
  >;
  /** One line per notable event (default: nothing). */
  log?: (line: string) => void;
}

export interface Mirror {
  readonly dir: string;
  readonly client: DriveClient;
  /** Loads the state, repairs the folder, then starts the client. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once every change received so far is on disk and saved. */
  whenSynced(position?: number): Promise<number>;
}

/** What the sidecar of a placeholder file holds. */
export interface Sidecar {
  id: string;
  size: number | null;
  digest: string | null;
  digestAlgorithm: string | null;
}

interface Entry {
  path: string;
  folder: boolean;
}

interface StoredItem {
  id: string;
  parentId: string;
  name: string;
  folder: boolean;
  digest?: string;
  digestAlgorithm?: string;
  size?: number;
}

interface StateFile {
  version: 1;
  deviceId: string;
  url: string;
  cursor: number | null;
  items: StoredItem[];
  entries: Record<string, Entry>;
}

export function createMirror(options: MirrorOptions): Mirror {
  return new MirrorImpl(options);
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function sidecarOf(item: TreeItem): string {
  const sidecar: Sidecar = {
    id: item.id,
    size: item.size ?? null,
    digest: item.digest ?? null,
    digestAlgorithm: item.digestAlgorithm ?? null,
  };
  return `${JSON.stringify(sidecar, null, 2)}\n`;
}

function storedItem(item: TreeItem): StoredItem {
  const s: StoredItem = {
    id: item.id,
    parentId: item.parentId,
    name: item.name,
    folder: item.folder,
  };
  if (item.digest !== undefined) s.digest = item.digest;
  if (item.digestAlgorithm !== undefined) s.digestAlgorithm = item.digestAlgorithm;
  if (item.size !== undefined) s.size = item.size;
  return s;
}

class MirrorImpl implements Mirror {
  readonly dir: string;
  readonly client: DriveClient;
  private readonly tree = createDriveTree();
  private readonly statePath: string;
  private readonly log: (line: string) => void;
  private cursor: number | null = null;
  /** id → where the item is on disk. */
  private readonly entries = new Map<string, Entry>();
  /** path → id (the inverse of `entries`). */
  private readonly byPath = new Map<string, string>();
  /** id → the sidecar text on disk. */
  private readonly sidecars = new Map<string, string>();
  private asideSeq = 0;
  private readonly orphanStamp = new Date().toISOString().replace(/[:.]/g, "-");

  constructor(private readonly o: MirrorOptions) {
    this.dir = resolve(o.dir);
    this.statePath = join(this.dir, STATE_DIR, STATE_FILE);
    this.log = o.log ?? (() => undefined);
    this.client = createDriveClient({
      ...o.client,
      url: o.url,
      token: o.token,
      deviceId: o.deviceId,
      WebSocket: o.WebSocket ?? (WebSocket as unknown as WebSocketConstructor),
      tree: this.tree,
      cursorStore: {
        load: () => Promise.resolve(this.cursor),
        save: async (position) => {
          this.cursor = position;
          await this.writeState();
        },
      },
      onUpdate: async (update) => {
        await this.reconcile();
        if (update.kind === "rescan") {
          this.log(`rescan (${update.reason}): ${update.items} items at ${update.upperBound}`);
        } else if (update.applied.length > 0 || update.rescanned.length > 0) {
          this.log(
            `changes at ${update.upperBound}: ${update.applied.length} applied, ` +
              `${update.rescanned.length} folders rescanned`,
          );
        }
      },
    });
    this.client.on("state", (e) => this.log(`state ${e.state}`));
    this.client.on("error", (e) => this.log(`error ${e.name}: ${e.message}`));
  }

  async start(): Promise<void> {
    await mkdir(join(this.dir, STATE_DIR), { recursive: true });
    await this.loadState();
    await this.verify();
    await this.reconcile();
    await this.sweep();
    await this.writeState();
    await this.client.start();
  }

  stop(): Promise<void> {
    return this.client.stop();
  }

  whenSynced(position?: number): Promise<number> {
    return this.client.whenSynced(position);
  }

  // --- state file -----------------------------------------------------------------------------

  private async loadState(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.statePath, "utf8");
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    const state = JSON.parse(text) as StateFile;
    if (state.version !== 1) {
      throw new ClientConfigError(
        "dir",
        `${this.statePath} has an unknown version; use a new folder`,
      );
    }
    if (state.deviceId !== this.o.deviceId) {
      throw new ClientConfigError(
        "device",
        `${this.dir} mirrors device ${JSON.stringify(state.deviceId)}, not ` +
          `${JSON.stringify(this.o.deviceId)}; use one folder per device`,
      );
    }
    this.cursor = state.cursor;
    this.tree.clear();
    for (const item of state.items) this.tree.upsert(item);
    for (const [id, entry] of Object.entries(state.entries)) {
      this.setEntry(id, entry);
      const item = this.tree.get(id);
      if (item !== undefined && !item.folder) this.sidecars.set(id, sidecarOf(item));
    }
  }

  private async writeState(): Promise<void> {
    const items: StoredItem[] = [];
    for (const item of this.tree.items()) items.push(storedItem(item));
    const state: StateFile = {
      version: 1,
      deviceId: this.o.deviceId,
      url: this.o.url,
      cursor: this.cursor,
      items,
      entries: Object.fromEntries(this.entries),
    };
    await writeFileAtomic(this.statePath, JSON.stringify(state));
  }

  // --- bookkeeping ----------------------------------------------------------------------------

  private abs(rel: string): string {
    return join(this.dir, ...rel.split("/"));
  }

  private setEntry(id: string, entry: Entry): void {
    const old = this.entries.get(id);
    if (old !== undefined && this.byPath.get(old.path) === id) this.byPath.delete(old.path);
    this.entries.set(id, entry);
    this.byPath.set(entry.path, id);
  }

  private dropEntry(id: string): void {
    const old = this.entries.get(id);
    if (old === undefined) return;
    if (this.byPath.get(old.path) === id) this.byPath.delete(old.path);
    this.entries.delete(id);
    this.sidecars.delete(id);
  }

  /** `id` moved from `from` to `to`: it and everything recorded below it follow. */
  private moved(id: string, from: string, to: string, folder: boolean): void {
    this.setEntry(id, { path: to, folder });
    if (!folder) return;
    const prefix = `${from}/`;
    const below: [string, Entry][] = [];
    for (const [other, entry] of this.entries) {
      if (entry.path.startsWith(prefix)) below.push([other, entry]);
    }
    for (const [other, entry] of below) {
      this.setEntry(other, { path: to + entry.path.slice(from.length), folder: entry.folder });
    }
  }

  // --- reconcile ------------------------------------------------------------------------------

  private async reconcile(): Promise<void> {
    const desired = planLayout(this.tree);
    for (const [id, rel] of desired) {
      const item = this.tree.get(id) as TreeItem;
      let entry = this.entries.get(id);
      if (entry !== undefined && entry.folder !== item.folder) {
        await this.removeEntry(id);
        entry = undefined;
      }
      if (entry?.path === rel) {
        if (!item.folder) await this.writeSidecar(item, rel);
        continue;
      }
      const adopted = await this.clearSlot(rel, item, entry !== undefined);
      // Clearing may have moved this very item aside (it was inside the occupant).
      entry = this.entries.get(id);
      if (adopted) {
        this.setEntry(id, { path: rel, folder: item.folder });
        if (!item.folder) await this.writeSidecar(item, rel);
        continue;
      }
      if (entry !== undefined && (await this.renameEntry(entry, rel))) {
        this.moved(id, entry.path, rel, item.folder);
      } else {
        await this.create(item, rel);
      }
      if (!item.folder) await this.writeSidecar(item, rel);
    }
    for (const id of [...this.entries.keys()]) {
      if (!desired.has(id)) await this.removeEntry(id);
    }
    await rm(join(this.dir, STATE_DIR, "aside"), { recursive: true, force: true });
  }

  /**
   * Frees `rel` for `item`: an item recorded there is moved aside; an unrecorded entry is adopted
   * (returns true) when `item` has no recorded place and it fits, else moved to orphans.
   */
  private async clearSlot(rel: string, item: TreeItem, recorded: boolean): Promise<boolean> {
    const occupant = this.byPath.get(rel);
    if (occupant !== undefined && occupant !== item.id) {
      const entry = this.entries.get(occupant) as Entry;
      const aside = `${STATE_DIR}/aside/${++this.asideSeq}`;
      await mkdir(this.abs(`${STATE_DIR}/aside`), { recursive: true });
      if (await this.renameEntry(entry, aside)) {
        this.moved(occupant, rel, aside, entry.folder);
      } else {
        this.dropEntry(occupant);
      }
      return false;
    }
    let isDir: boolean;
    try {
      isDir = (await lstat(this.abs(rel))).isDirectory();
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    if (!recorded && item.folder && isDir) return true;
    if (!recorded && !item.folder && !isDir && (await this.sidecarId(rel)) === item.id) {
      this.sidecars.delete(item.id);
      return true;
    }
    await this.toOrphans(rel);
    return false;
  }

  /** Renames an entry (and a file's sidecar); false when it is not on disk any more. */
  private async renameEntry(entry: Entry, to: string): Promise<boolean> {
    try {
      await rename(this.abs(entry.path), this.abs(to));
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    if (!entry.folder) {
      try {
        await rename(this.abs(entry.path + SIDECAR_SUFFIX), this.abs(to + SIDECAR_SUFFIX));
      } catch (err) {
        if (!isMissing(err)) throw err;
        const id = this.byPath.get(entry.path);
        if (id !== undefined) this.sidecars.delete(id);
      }
    }
    return true;
  }

  private async create(item: TreeItem, rel: string): Promise<void> {
    if (item.folder) {
      await mkdir(this.abs(rel), { recursive: true });
    } else {
      await writeFile(this.abs(rel), "");
      this.sidecars.delete(item.id);
    }
    this.setEntry(item.id, { path: rel, folder: item.folder });
  }

  private async writeSidecar(item: TreeItem, rel: string): Promise<void> {
    const text = sidecarOf(item);
    if (this.sidecars.get(item.id) === text) return;
    await writeFile(this.abs(rel + SIDECAR_SUFFIX), text);
    this.sidecars.set(item.id, text);
  }

  private async sidecarId(rel: string): Promise<string | null> {
    try {
      const parsed = JSON.parse(await readFile(this.abs(rel + SIDECAR_SUFFIX), "utf8")) as {
        id?: unknown;
      };
      return typeof parsed.id === "string" ? parsed.id : null;
    } catch {
      return null;
    }
  }

  private async removeEntry(id: string): Promise<void> {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    await rm(this.abs(entry.path), { recursive: true, force: true });
    if (!entry.folder) {
      await rm(this.abs(entry.path + SIDECAR_SUFFIX), { force: true });
    } else {
      const prefix = `${entry.path}/`;
      for (const [other, e] of [...this.entries]) {
        if (e.path.startsWith(prefix)) this.dropEntry(other);
      }
    }
    this.dropEntry(id);
  }

  private async toOrphans(rel: string): Promise<void> {
    const target = `${STATE_DIR}/orphans/${this.orphanStamp}/${rel}`;
    await mkdir(dirname(this.abs(target)), { recursive: true });
    await rename(this.abs(rel), this.abs(target));
    this.log(`moved ${rel} (not a remote item) to ${target}`);
  }

  // --- start-up repair ------------------------------------------------------------------------

  /** Forgets recorded entries that are not on disk as recorded (a crash, or the user). */
  private async verify(): Promise<void> {
    for (const [id, entry] of [...this.entries]) {
      let ok: boolean;
      try {
        const st = await lstat(this.abs(entry.path));
        ok = entry.folder ? st.isDirectory() : st.isFile();
      } catch (err) {
        if (!isMissing(err)) throw err;
        ok = false;
      }
      if (!ok) this.dropEntry(id);
    }
  }

  /** Moves every unrecorded entry of the folder to orphans. */
  private async sweep(rel = ""): Promise<void> {
    const dirents = await readdir(this.abs(rel === "" ? "." : rel), { withFileTypes: true });
    for (const d of dirents) {
      const path = rel === "" ? d.name : `${rel}/${d.name}`;
      if (rel === "" && d.name === STATE_DIR) continue;
      const id = this.byPath.get(path);
      if (id !== undefined) {
        if ((this.entries.get(id) as Entry).folder && d.isDirectory()) await this.sweep(path);
        continue;
      }
      if (d.name.endsWith(SIDECAR_SUFFIX)) {
        const owner = this.byPath.get(path.slice(0, -SIDECAR_SUFFIX.length));
        if (owner !== undefined && !(this.entries.get(owner) as Entry).folder) continue;
      }
      await this.toOrphans(path);
    }
  }
}
