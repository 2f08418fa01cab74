// Every active sync root by user, from KV `drive_roots` (written by the ingest). Actors read
// a user's roots here on activation; afterwards they follow root (un)registrations in their own
// event stream, which is ordered with the user's other events.
import type { Kv, KvWatcher } from "@drivecast/bus";
import { msgpackCodec, type RootEntry } from "@drivecast/protocol";

const codec = msgpackCodec<RootEntry>();

export interface RootsView {
  ready(): Promise<void>;
  forUser(user: string): RootEntry[];
  stop(): void;
}

export async function watchRoots(kv: Kv): Promise<RootsView> {
  const byKey = new Map<string, RootEntry>();
  const byUser = new Map<string, Map<string, RootEntry>>();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));

  function unlink(key: string, entry: RootEntry): void {
    for (const u of entry.users) {
      const m = byUser.get(u);
      m?.delete(key);
      if (m?.size === 0) byUser.delete(u);
    }
  }

  const watcher: KvWatcher = await kv.watch(
    (event) => {
      const old = byKey.get(event.key);
      if (old) unlink(event.key, old);
      if (event.value === null) {
        byKey.delete(event.key);
        return;
      }
      const entry = codec.decode(event.value);
      byKey.set(event.key, entry);
      for (const u of entry.users) {
        let m = byUser.get(u);
        if (!m) byUser.set(u, (m = new Map()));
        m.set(event.key, entry);
      }
    },
    () => resolveReady(),
  );

  return {
    ready: () => ready,
    forUser: (user) => [...(byUser.get(user)?.values() ?? [])],
    stop: () => watcher.stop(),
  };
}
