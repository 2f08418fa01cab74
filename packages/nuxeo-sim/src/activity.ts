// A demo workload: keeps creating, modifying, renaming and moving files and folders under the
// given users' sync roots, acting as those users, so `drivecast all` has something to push.
// Deterministic for a seed (mulberry32), apart from the timing of ticks.
import type { SimDocument, Simulator } from "./types.js";
import { seededRandom } from "./random.js";

export interface ActivityOptions {
  /** Users whose roots get activity; users without roots are skipped. */
  users: string[];
  /** Time between operations (default 1000 ms). */
  intervalMs?: number;
  seed?: number;
  /** Called when an operation fails (default: ignored, the next tick goes on). */
  onError?: (err: unknown) => void;
  /** Bounded tree: no folder gets more than this many children (default 20). */
  maxChildren?: number;
}

export interface Activity {
  /** Performs one operation now; resolves to what it did, or null when there was nothing to do. */
  step(): Promise<string | null>;
  readonly operations: number;
  stop(): Promise<void>;
}

const WORDS = ["report", "notes", "budget", "draft", "plan", "photo", "minutes", "spec", "todo"];

export function startActivity(sim: Simulator, options: ActivityOptions): Activity {
  const random = seededRandom(options.seed ?? 1);
  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[Math.floor(random() * items.length)];
  const maxChildren = options.maxChildren ?? 20;
  let operations = 0;
  let counter = 0;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> = Promise.resolve();

  const subtree = (root: SimDocument): SimDocument[] => {
    const out: SimDocument[] = [];
    const stack = [root];
    while (stack.length > 0 && out.length < 500) {
      const d = stack.pop() as SimDocument;
      if (d.isTrashed) continue;
      out.push(d);
      if (d.facets.includes("Folderish")) stack.push(...sim.children(d.uid));
    }
    return out;
  };

  const step = async (): Promise<string | null> => {
    const user = pick(options.users);
    if (user === undefined) return null;
    const rootUid = pick(sim.rootsOf(user));
    const root = rootUid === undefined ? undefined : sim.get(rootUid);
    if (root === undefined) return null;
    const docs = subtree(root);
    const folders = docs.filter((d) => d.facets.includes("Folderish"));
    const files = docs.filter((d) => d.blob !== null);
    const as = { principal: user };
    const name = () => `${pick(WORDS)}-${++counter}`;
    const roomy = folders.filter((f) => sim.children(f.uid).length < maxChildren);
    const r = random();
    const folder = pick(roomy);
    let done: string;
    if ((r < 0.35 || files.length === 0) && folder !== undefined) {
      const title = `${name()}.txt`;
      await sim.createFile(folder.uid, title, { content: `${title} by ${user}\n`, ...as });
      done = `create file ${title}`;
    } else if (r < 0.65 && files.length > 0) {
      const f = pick(files) as SimDocument;
      await sim.modify(f.uid, { content: `${f.title} edited ${counter++} by ${user}\n` }, as);
      done = `modify ${f.path}`;
    } else if (r < 0.75 && folder !== undefined && folders.length < 30) {
      const title = name();
      await sim.createFolder(folder.uid, title, as);
      done = `create folder ${title}`;
    } else if (r < 0.88 && files.length > 0) {
      const f = pick(files) as SimDocument;
      const title = `${name()}.txt`;
      await sim.rename(f.uid, title, as);
      done = `rename ${f.path} → ${title}`;
    } else if (files.length > 0 && folder !== undefined) {
      const f = pick(files) as SimDocument;
      if (f.parentUid === folder.uid) return null;
      await sim.move(f.uid, folder.uid, as);
      done = `move ${f.path} → ${folder.path}`;
    } else {
      return null;
    }
    operations++;
    return done;
  };

  const tick = () => {
    if (stopped) return;
    running = step()
      .catch((err) => options.onError?.(err))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, options.intervalMs ?? 1000);
      });
  };
  timer = setTimeout(tick, options.intervalMs ?? 1000);

  return {
    step,
    get operations() {
      return operations;
    },
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
