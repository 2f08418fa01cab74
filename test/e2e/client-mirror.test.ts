// The `drivecast-mirror` CLI, as a process, against a real gateway (memory bus, stub scroll
// responder): first sync, live renames/moves/deletions/collisions, restart and resume.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, expect, it } from "vitest";
import type { ClientHarness, RemoteUser } from "./client-harness.js";
import { itemId, rootId, startClientHarness } from "./client-harness.js";
import { waitFor } from "./harness.js";

const cli = fileURLToPath(new URL("../../packages/client/dist/mirror-cli.js", import.meta.url));
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

interface MirrorProcess {
  proc: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

function startMirror(h: ClientHarness, remote: RemoteUser, dir: string): MirrorProcess {
  const proc = spawn(
    process.execPath,
    [cli, "--url", h.url, "--token", remote.token, "--device", "desktop", "--dir", dir],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const handle: MirrorProcess = {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      return exited;
    },
  };
  cleanup.push(async () => void (await handle.stop()));
  return handle;
}

type Listing = Record<string, unknown>;

/** Every entry under `dir` (its state folder aside): "dir", "" for a placeholder, sidecars parsed. */
async function listing(dir: string, rel = ""): Promise<Listing> {
  const out: Listing = {};
  for (const d of await readdir(join(dir, rel), { withFileTypes: true })) {
    const path = rel === "" ? d.name : `${rel}/${d.name}`;
    if (path === ".drivecast") continue;
    if (d.isDirectory()) {
      out[`${path}/`] = "dir";
      Object.assign(out, await listing(dir, path));
    } else if (d.name.endsWith(".drivecast.json")) {
      out[path] = JSON.parse(await readFile(join(dir, path), "utf8"));
    } else {
      out[path] = await readFile(join(dir, path), "utf8");
    }
  }
  return out;
}

function placeholder(path: string, id: string, remote: RemoteUser): Listing {
  const item = remote.items.get(id);
  if (item === undefined) throw new Error(`no remote item ${id}`);
  return {
    [path]: "",
    [`${path}.drivecast.json`]: {
      id,
      size: item.size,
      digest: item.digest,
      digestAlgorithm: item.digestAlgorithm,
    },
  };
}

async function expectDisk(dir: string, expected: Listing, mirror: MirrorProcess): Promise<void> {
  let last: Listing = {};
  await waitFor(
    async () => {
      try {
        last = await listing(dir);
      } catch {
        return false; // an entry vanished while listing: the mirror is busy, look again
      }
      return JSON.stringify(sorted(last)) === JSON.stringify(sorted(expected));
    },
    20_000,
    () =>
      `the mirror folder to be\n${JSON.stringify(sorted(expected), null, 1)}\nbut it is\n` +
      `${JSON.stringify(sorted(last), null, 1)}\nmirror output:\n${mirror.output()}`,
  );
}

function sorted(l: Listing): [string, unknown][] {
  return Object.entries(l).sort(([a], [b]) => (a < b ? -1 : 1));
}

it("mirror e2e - mirrors the remote tree, follows renames, moves, deletions and collisions, and resumes after a restart", async () => {
  const h = await startClientHarness();
  cleanup.push(() => h.close());
  const dir = await mkdtemp(join(tmpdir(), "drivecast-mirror-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));

  const remote = h.user();
  remote.root("R", "Projects");
  remote.folder("plans", rootId("R"), "Plans");
  remote.file("a", itemId("plans"), "a.txt");
  remote.file("r1", rootId("R"), "report.pdf");
  remote.file("r2", rootId("R"), "report.pdf");
  remote.root("P", "Photos");
  remote.file("p", rootId("P"), "p.jpg");
  await remote.append();

  const first = startMirror(h, remote, dir);
  await expectDisk(
    dir,
    {
      "Projects/": "dir",
      "Projects/Plans/": "dir",
      ...placeholder("Projects/Plans/a.txt", itemId("a"), remote),
      ...placeholder("Projects/report.pdf", itemId("r1"), remote),
      ...placeholder("Projects/report (2).pdf", itemId("r2"), remote),
      "Photos/": "dir",
      ...placeholder("Photos/p.jpg", itemId("p"), remote),
    },
    first,
  );
  expect(first.output()).toMatch(/rescan \(firstRun\)/);

  // Live: a rename, a folder moved to another root, a deletion that frees a name, a new folder,
  // a content edit.
  await remote.append([
    remote.rename(itemId("a"), "a2.txt"),
    remote.move(itemId("plans"), rootId("P")),
    remote.remove(itemId("r1")),
    remote.folder("docs", rootId("R"), "Docs"),
    remote.file("d", itemId("docs"), "d.txt"),
    remote.update(itemId("p"), { digest: "md5-edited", size: 99 }),
  ]);
  await expectDisk(
    dir,
    {
      "Projects/": "dir",
      ...placeholder("Projects/report.pdf", itemId("r2"), remote),
      "Projects/Docs/": "dir",
      ...placeholder("Projects/Docs/d.txt", itemId("d"), remote),
      "Photos/": "dir",
      "Photos/Plans/": "dir",
      ...placeholder("Photos/Plans/a2.txt", itemId("a"), remote),
      ...placeholder("Photos/p.jpg", itemId("p"), remote),
    },
    first,
  );
  expect(await first.stop()).toBe(0);

  // While the mirror is stopped: a root renamed, a folder deleted, a swap of two names.
  await remote.append([
    remote.file("s1", rootId("R"), "one.txt"),
    remote.file("s2", rootId("R"), "two.txt"),
  ]);
  const last = await remote.append([
    remote.rename(rootId("P"), "Pictures"),
    remote.remove(itemId("docs")),
    remote.rename(itemId("s1"), "two.txt"),
    remote.rename(itemId("s2"), "one.txt"),
  ]);

  const second = startMirror(h, remote, dir);
  await expectDisk(
    dir,
    {
      "Projects/": "dir",
      ...placeholder("Projects/report.pdf", itemId("r2"), remote),
      ...placeholder("Projects/two.txt", itemId("s1"), remote),
      ...placeholder("Projects/one.txt", itemId("s2"), remote),
      "Pictures/": "dir",
      "Pictures/Plans/": "dir",
      ...placeholder("Pictures/Plans/a2.txt", itemId("a"), remote),
      ...placeholder("Pictures/p.jpg", itemId("p"), remote),
    },
    second,
  );
  expect(second.output()).not.toMatch(/rescan \(/);
  await waitFor(
    async () => {
      const state = JSON.parse(await readFile(join(dir, ".drivecast", "state.json"), "utf8")) as {
        cursor: number;
      };
      return state.cursor === last.summary.upperBound;
    },
    10_000,
    () => `state.json to hold cursor ${last.summary.upperBound}`,
  );
  expect(await second.stop()).toBe(0);
});

it("mirror e2e - at start the folder is repaired to the saved tree; strangers go to .drivecast/orphans", async () => {
  const h = await startClientHarness();
  cleanup.push(() => h.close());
  const dir = await mkdtemp(join(tmpdir(), "drivecast-mirror-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const remote = h.user();
  remote.root("R", "Projects");
  remote.folder("plans", rootId("R"), "Plans");
  remote.file("a", itemId("plans"), "a.txt");
  remote.file("b", rootId("R"), "b.txt");
  await remote.append();
  const expected = (): Listing => ({
    "Projects/": "dir",
    "Projects/Plans/": "dir",
    ...placeholder("Projects/Plans/a.txt", itemId("a"), remote),
    ...placeholder("Projects/b.txt", itemId("b"), remote),
  });

  const first = startMirror(h, remote, dir);
  await expectDisk(dir, expected(), first);
  expect(await first.stop()).toBe(0);

  // As if a run had crashed half-way: an entry gone, a folder renamed, a stranger added.
  await rm(join(dir, "Projects", "b.txt"));
  await rename(join(dir, "Projects", "Plans"), join(dir, "Projects", "Plans-old"));
  await writeFile(join(dir, "Projects", "stranger.txt"), "mine");

  const second = startMirror(h, remote, dir);
  await expectDisk(dir, expected(), second);
  const orphans = await readdir(join(dir, ".drivecast", "orphans"), { recursive: true });
  expect(orphans.map((p) => p.split("\\").join("/")).sort()).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/Projects\/stranger\.txt$/),
      expect.stringMatching(/Projects\/Plans-old$/),
    ]),
  );
  expect(await second.stop()).toBe(0);
});
