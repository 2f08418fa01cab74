// A load of DocEvents built from the simulator's repository as the ingest would bake them:
// users with a personal workspace (a sync root each) and a shared workspace that is a root of
// every user, then random creations, modifications, renames, moves, trashes and removals below
// the roots. Each mutation's audit entries become one DocEvent per shard that has a user whose
// root contains the document's old or new location.
import type { Bus } from "@drivecast/bus";
import {
  msgpackCodec,
  Names,
  rootKey,
  shardOf,
  type DocEvent,
  type RootEntry,
} from "@drivecast/protocol";
import { createSimulator, type SimDocument, type Simulator } from "@drivecast/nuxeo-sim";
import { docEventOf } from "./helpers.js";
import type { SeqEvent, UserModel } from "./model.js";

const rootCodec = msgpackCodec<RootEntry>();
const eventCodec = msgpackCodec<DocEvent>();

export interface Load {
  sim: Simulator;
  users: UserModel[];
  roots: RootEntry[];
  /** Mutates the repository once; returns the DocEvents to publish, by shard. */
  step(): Promise<{ shard: number; event: DocEvent }[]>;
}

function within(path: string, base: string): boolean {
  return path === base || path.startsWith(`${base}/`);
}

export async function createLoad(options: {
  users: number;
  shardCount: number;
  seed?: number;
}): Promise<Load> {
  // Every audit entry gets its own millisecond: the model orders by eventDate like Nuxeo.
  let clock = 1_700_000_000_000;
  const sim = createSimulator({ now: () => (clock += 1) });
  let seed = options.seed ?? 1;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

  const ids = Array.from({ length: options.users }, (_, i) => `user${i}@example.com`);
  await sim.createGroup("everyone-here");
  for (const id of ids) sim.createUser(id, { groups: ["everyone-here"] });
  const shared = await sim.createWorkspace(sim.workspacesUid, "Shared");
  await sim.grant(shared.uid, "everyone-here", "ReadWrite");
  const personal = new Map<string, SimDocument>();
  for (const id of ids) {
    const ws = await sim.createWorkspace(sim.workspacesUid, `ws-${id.slice(0, 8)}`);
    await sim.grant(ws.uid, id, "ReadWrite");
    await sim.registerRoot(id, ws.uid);
    await sim.registerRoot(id, shared.uid);
    personal.set(id, ws);
  }
  const rootDocs = [shared, ...personal.values()];
  const roots: RootEntry[] = rootDocs.map((d) => ({
    repository: d.repository,
    uid: d.uid,
    path: d.path,
    users: d.uid === shared.uid ? [...ids] : ids.filter((u) => personal.get(u)!.uid === d.uid),
  }));
  const users: UserModel[] = ids.map((id) => ({
    user: id,
    groups: [...sim.user(id)!.extendedGroups],
    isAdministrator: false,
    roots: [shared, personal.get(id)!].map((d) => ({
      repository: d.repository,
      uid: d.uid,
      path: d.path,
    })),
  }));

  // Documents below the roots that the load may touch (folders and files).
  const folders: string[] = rootDocs.map((d) => d.uid);
  const files: string[] = [];
  let logged = sim.auditLog.length;
  let n = 0;

  function usersFor(paths: string[]): string[] {
    const out = new Set<string>();
    for (const r of roots)
      if (paths.some((p) => within(p, r.path))) for (const u of r.users) out.add(u);
    return [...out];
  }

  async function mutate(): Promise<void> {
    const r = random();
    const live = (uid: string) => sim.get(uid) !== undefined && !sim.get(uid)!.isTrashed;
    const fs = files.filter(live);
    const ds = folders.filter(live);
    if (r < 0.35 || fs.length < 3) {
      const f = await sim.createFile(pick(ds), `file-${n++}.txt`, { content: `v${n}` });
      files.push(f.uid);
    } else if (r < 0.55) {
      await sim.modify(pick(fs), { content: `v${n++}` });
    } else if (r < 0.65) {
      await sim.rename(pick(fs), `renamed-${n++}.txt`);
    } else if (r < 0.75) {
      // Moves stay below roots and never carry a root.
      await sim.move(pick(fs), pick(ds));
    } else if (r < 0.82) {
      const d = await sim.createFolder(pick(ds), `folder-${n++}`);
      folders.push(d.uid);
    } else if (r < 0.9) {
      await sim.trash(pick(fs));
    } else if (r < 0.95) {
      const uid = pick(fs);
      await sim.remove(uid);
    } else {
      // A folder that is not a root, with what it holds.
      const candidates = ds.filter((uid) => !rootDocs.some((d) => d.uid === uid));
      if (candidates.length === 0) return;
      await sim.trash(pick(candidates));
    }
  }

  return {
    sim,
    users,
    roots,
    async step() {
      await mutate();
      const out: { shard: number; event: DocEvent }[] = [];
      const entries = sim.auditLog.slice(logged);
      logged = sim.auditLog.length;
      for (const entry of entries) {
        const event = docEventOf(sim, entry, [], `load/0/${logged}`);
        const paths = [event.docPath];
        if (event.before !== null) {
          const parent = event.before.ancestors[event.before.ancestors.length - 1];
          if (parent) paths.push(parent.path);
        }
        const byShard = new Map<number, string[]>();
        for (const u of usersFor(paths)) {
          const s = shardOf(u, options.shardCount);
          byShard.set(s, [...(byShard.get(s) ?? []), u]);
        }
        for (const [shard, us] of byShard) out.push({ shard, event: { ...event, users: us } });
      }
      return out;
    },
  };
}

/** Writes the root index the way the ingest keeps it in KV `drive_roots`. */
export async function writeRoots(
  bus: Bus,
  names: Names,
  roots: readonly RootEntry[],
): Promise<void> {
  const kv = await bus.kv({ bucket: names.rootsBucket, history: 1 });
  for (const r of roots) await kv.put(rootKey(r.repository, r.uid), rootCodec.encode(r));
}

/** Publishes one DocEvent to its shard's subject; returns what the model needs. */
export async function publish(
  bus: Bus,
  names: Names,
  shard: number,
  event: DocEvent,
): Promise<SeqEvent> {
  const res = await bus.streams.append(names.events(shard), eventCodec.encode(event));
  return { seq: res.seq, event };
}
