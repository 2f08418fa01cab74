// Loading sync roots' current state from Nuxeo, for re-evaluation after an event on one of their
// ancestors or a group change. Rare (ancestor moves, trash, ACL and group changes), so fetched on
// demand: one batched call for the roots, one for their ancestors.
import type { DocSnapshot } from "@drivecast/protocol";
import type { RootState, UserRoot } from "./compute/index.js";

/** What the loader needs from Nuxeo (a subset of @drivecast/nuxeo's client). */
export interface RootDocumentSource {
  /** The documents that exist among `uids`, by uid. */
  documentsByIds(
    repository: string,
    uids: readonly string[],
  ): Promise<Map<string, { snapshot: DocSnapshot; breadcrumb: { uid: string; path: string }[] }>>;
}

export async function loadRootStates(
  source: RootDocumentSource,
  roots: readonly UserRoot[],
): Promise<RootState[]> {
  const byRepo = new Map<string, UserRoot[]>();
  for (const r of roots) byRepo.set(r.repository, [...(byRepo.get(r.repository) ?? []), r]);
  const out: RootState[] = [];
  for (const [repo, list] of byRepo) {
    const docs = await source.documentsByIds(
      repo,
      list.map((r) => r.uid),
    );
    const ancestorIds = new Set<string>();
    for (const d of docs.values())
      for (const b of d.breadcrumb.slice(0, -1)) ancestorIds.add(b.uid);
    const ancestors = await source.documentsByIds(repo, [...ancestorIds]);
    for (const root of list) {
      const d = docs.get(root.uid);
      const chain = d?.breadcrumb.slice(0, -1).map((b) => ancestors.get(b.uid)?.snapshot);
      // A missing ancestor means the root is going away with it.
      if (!d || !chain || chain.some((a) => a === undefined)) {
        out.push({ root, doc: null, ancestors: [] });
      } else {
        out.push({ root, doc: d.snapshot, ancestors: chain as DocSnapshot[] });
      }
    }
  }
  return out;
}
