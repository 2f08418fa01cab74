// The ingest pipeline for one batch of one partition: decode → filter → bake → route → publish.
//
// Invariant: the batch handler resolves only when every DocEvent and dead letter derived from
// the batch is acknowledged by JetStream; the source commits the Kafka offset after that. A crash
// anywhere before redelivers the batch, and the message ids (`topic/partition/offset/shard`,
// `dl/topic/partition/offset`) make the second publish a no-op within the streams' duplicate
// window: every routed event reaches each of its shards exactly once. For that, routing must be
// a function of the record and of state the redelivery sees again: the root index, which only
// ever converges to Nuxeo's state (roots.ts), and the document snapshots, fetched again.
//
// Failure cases:
// - A record that cannot be read (bytes, schema, JSON, a Drive event lacking its document)
//   becomes a dead letter, published like any other message: it neither blocks the partition
//   nor disappears. An unknown writer schema is first looked for (schema folder, registry).
// - Nuxeo or NATS unavailable: the client retries Nuxeo, the publisher retries NATS; when that
//   is not enough the batch rejects, nothing is committed, and the source retries the batch
//   with backoff. Partial progress (publishes, root index writes) is idempotent.
// - A document gone by the time it is fetched: its event becomes the deletion its readers need
//   (doc null, routed by the audit path, the users' shards decide), not an error.
import type { Logger } from "@drivecast/bus";
import {
  DecodeError,
  UnknownSchemaError,
  UnknownSchemaIdError,
  parseAuditEntry,
  shardOf,
  type AuditEntry,
  type DocEvent,
  type DocSnapshot,
  type Names,
  type NuxeoRecord,
  type RootEntry,
} from "@drivecast/protocol";
import type { Baked, Baker } from "./bake.js";
import { deadLetterMessage } from "./deadletters.js";
import { encodeEvent } from "./event-encoding.js";
import {
  ANCESTOR_EVENTS,
  DELETION_EVENTS,
  EventKind,
  SUBTREE_INVALIDATING_EVENTS,
  classify,
  needsSnapshot,
} from "./filter.js";
import type { Publisher, PublishBatch } from "./publish.js";
import type { RootIndex } from "./roots.js";
import type { IngestDecoder, IngestNuxeo, SourceRecord } from "./types.js";

/** Why a record that was read produced no DocEvent. */
export const FilterReason = {
  /** Its event id is not one Drive needs (spec/NUXEO.md §5). */
  Event: "event",
  /** A document event without a path (versions and other placeless documents). */
  NoPath: "no_path",
  /** Under no sync root, above none. */
  NoRoot: "no_root",
  Version: "version",
  /** A proxy, other than the one a publication creates. */
  Proxy: "proxy",
} as const;
export type FilterReason = (typeof FilterReason)[keyof typeof FilterReason];

/** Dead-letter reasons of the pipeline itself (the decoder's come from the protocol). */
export const PipelineFailure = {
  /** The Kafka record has no value (a tombstone). */
  EmptyRecord: "empty_record",
  /** A Drive event without what it is about: docUUID, repositoryId, or the group's id. */
  IncompleteEntry: "incomplete_entry",
  /** The decoder threw something that is not a DecodeError (a defect; kept for the replay). */
  Undecodable: "undecodable",
} as const;

export interface PipelineMetrics {
  recordsIn(topic: string, partition: number, n: number): void;
  decoded(n: number): void;
  filtered(reason: FilterReason, n: number): void;
  /** Records that produced at least one DocEvent, and the DocEvents (one per shard). */
  routed(records: number, events: number): void;
  deadLettered(reason: string): void;
}

export const noopPipelineMetrics: PipelineMetrics = {
  recordsIn() {},
  decoded() {},
  filtered() {},
  routed() {},
  deadLettered() {},
};

export interface PipelineOptions {
  names: Names;
  shardCount: number;
  decoder: IngestDecoder;
  baker: Baker;
  nuxeo: Pick<IngestNuxeo, "groupMembers" | "documentsByIds">;
  roots: RootIndex;
  publisher: Publisher;
  metrics?: PipelineMetrics;
  logger?: Pick<Logger, "warn">;
  /** Folders invalidated by this batch (to tell the other ingest instances). */
  onInvalidate?(repository: string, uids: string[]): void;
}

/** `extended` values the semantics use (DocEvent.extended). */
const KEPT_EXTENDED = ["oldDigest", "impactedUserName", "id"] as const;
const PROXY_PUBLISHED = "documentProxyPublished";
const DOCUMENT_MOVED = "documentMoved";
const DOCUMENT_REMOVED = "documentRemoved";
const ROOT_REGISTERED = "rootRegistered";
const LIFECYCLE = "lifecycle_transition_event";
const DELETED_STATE = "deleted";

/** A decoded record the router will look at. */
interface Candidate {
  record: SourceRecord;
  source: string;
  entry: AuditEntry;
  kind: EventKind;
  repository: string;
  uid: string;
  /** Previous parent of a move (from the audit comment). */
  previousParent: string | null;
  /** The moved document's own path before the move, when the cache knew it. */
  knownOldPath: string | null;
  /** Roots containing the audit path, looked up before baking, at root index `rootsVersion`. */
  rootsAt: readonly RootEntry[] | null;
  rootsVersion: number;
}

function sourceOf(r: SourceRecord): string {
  return `${r.topic}/${r.partition}/${r.offset}`;
}

/** `documentMoved` comment: `<repositoryId>:<previous parent uuid>`. */
function previousParentOf(comment: string | null): string | null {
  if (!comment) return null;
  const i = comment.indexOf(":");
  return i < 0 ? null : comment.slice(i + 1) || null;
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function within(path: string, root: string): boolean {
  return path === root || path.startsWith(root === "/" ? "/" : `${root}/`);
}

function isDeletion(entry: AuditEntry): boolean {
  return (
    DELETION_EVENTS.has(entry.eventId) ||
    (entry.eventId === LIFECYCLE && entry.docLifeCycle === DELETED_STATE)
  );
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type BatchPipeline = (records: SourceRecord[], signal: AbortSignal) => Promise<void>;

export function createPipeline(options: PipelineOptions): BatchPipeline {
  const { names, shardCount, decoder, baker, roots, publisher, nuxeo } = options;
  const metrics = options.metrics ?? noopPipelineMetrics;
  const subjects = Array.from({ length: shardCount }, (_, s) => names.events(s));
  const shardCache = new Map<string, number>();

  function shardOfUser(user: string): number {
    let s = shardCache.get(user);
    if (s === undefined) {
      s = shardOf(user, shardCount);
      if (shardCache.size > 100_000) shardCache.clear();
      shardCache.set(user, s);
    }
    return s;
  }

  function extendedOf(entry: AuditEntry): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of KEPT_EXTENDED) {
      const v = entry.extended[k];
      if (v !== undefined && v !== null) out[k] = String(v);
    }
    return out;
  }

  async function deadLetter(
    batch: PublishBatch,
    record: SourceRecord,
    reason: string,
    error: string,
  ): Promise<void> {
    metrics.deadLettered(reason);
    const m = deadLetterMessage(names, record, reason, error, decoder.codec);
    await batch.append("deadletter", m.subject, m.data, m.options);
  }

  /**
   * Reconciles the roots a move or removal may have changed, from fresh snapshots. A root found
   * gone is dropped only by the removal that took it (`removal`): a snapshot fetched for an
   * earlier event may already miss a document that a later event removed, and the root's users
   * must still be in the index when that removal is routed, or they never hear of it.
   */
  async function refreshRoots(
    repository: string,
    uid: string,
    doc: DocSnapshot | null,
    beneath: readonly RootEntry[],
    signal: AbortSignal,
    removal = false,
  ): Promise<void> {
    if (roots.byUid(repository, uid) !== undefined && (doc !== null || removal)) {
      await roots.reconcile(repository, uid, doc, signal);
    }
    if (beneath.length === 0) return;
    const fresh = await nuxeo.documentsByIds(
      repository,
      beneath.map((r) => r.uid),
    );
    for (const r of beneath) {
      const snapshot = fresh.get(r.uid)?.snapshot ?? null;
      if (snapshot !== null || removal) await roots.reconcile(repository, r.uid, snapshot, signal);
    }
  }

  /** Highest offset counted in `records_in`, per topic and partition. */
  const counted = new Map<string, number>();
  function countIn(r: SourceRecord, n: number, highest: number): void {
    counted.set(`${r.topic}\u0000${r.partition}`, highest);
    if (n > 0) metrics.recordsIn(r.topic, r.partition, n);
  }

  const handle: BatchPipeline = async (records, signal) => {
    // A batch that fails stops its own publishes still retrying: the retry of the batch
    // publishes them again (same message ids), and slots are not held by an abandoned batch.
    const local = new AbortController();
    const onAbort = () => local.abort();
    if (signal.aborted) local.abort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const batch = publisher.begin(local.signal);
    try {
      await handleBatch(records, batch, local.signal);
    } catch (error) {
      local.abort();
      await batch.done().catch(() => {});
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  };

  async function handleBatch(
    records: SourceRecord[],
    batch: PublishBatch,
    signal: AbortSignal,
  ): Promise<void> {
    const candidates: Candidate[] = [];
    const counts = { decoded: 0, event: 0, noPath: 0 };
    let previous: SourceRecord | null = null;
    let sameSource = 0;
    let highest = -1;

    // 1. Decode and filter by event. Bad input becomes a dead letter; the batch goes on.
    for (const record of records) {
      if (
        previous === null ||
        previous.partition !== record.partition ||
        previous.topic !== record.topic
      ) {
        if (previous !== null) countIn(previous, sameSource, highest);
        previous = record;
        sameSource = 0;
        highest = counted.get(`${record.topic}\u0000${record.partition}`) ?? -1;
      }
      // A retried or redelivered record is counted once per process.
      const offset = Number(record.offset);
      if (offset > highest) {
        highest = offset;
        sameSource++;
      }
      if (record.value === null) {
        await deadLetter(
          batch,
          record,
          PipelineFailure.EmptyRecord,
          "the Kafka record has no value",
        );
        continue;
      }
      // The common case stays synchronous: no promise per record.
      let rec: NuxeoRecord | null = null;
      let failure: unknown = null;
      try {
        rec = decoder.decode(record.value);
      } catch (error) {
        failure = error;
      }
      if (failure instanceof UnknownSchemaError || failure instanceof UnknownSchemaIdError) {
        // Looking for the schema does I/O: its failures (registry down, or refusing us) are not
        // the record's fault and fail the batch; an unusable schema is the record's (a letter).
        let known = false;
        try {
          known = await decoder.recover(failure);
        } catch (error) {
          if (!(error instanceof DecodeError)) throw error;
          failure = error;
        }
        if (known) {
          try {
            rec = decoder.decode(record.value);
            failure = null;
          } catch (error) {
            failure = error;
          }
        }
      }
      let entry: AuditEntry;
      try {
        if (rec === null) throw failure;
        entry = parseAuditEntry(rec.data);
      } catch (error) {
        if (error instanceof DecodeError) {
          await deadLetter(batch, record, error.reason, error.message);
        } else {
          // Not a failure the decoder knows: a defect. The record is kept for a replay.
          await deadLetter(batch, record, PipelineFailure.Undecodable, message(error));
        }
        continue;
      }
      counts.decoded++;
      const kind = classify(entry.eventId);
      if (kind === EventKind.Ignored) {
        counts.event++;
        continue;
      }
      if (kind === EventKind.Group) {
        const id = entry.extended.id;
        if (typeof id !== "string" || id === "") {
          await deadLetter(
            batch,
            record,
            PipelineFailure.IncompleteEntry,
            `${entry.eventId} without extended.id (the group's name)`,
          );
          continue;
        }
      } else if (!entry.docUUID || !entry.repositoryId) {
        await deadLetter(
          batch,
          record,
          PipelineFailure.IncompleteEntry,
          `${entry.eventId} without ${entry.docUUID ? "repositoryId" : "docUUID"}`,
        );
        continue;
      } else if (kind === EventKind.Document && !entry.docPath) {
        counts.noPath++;
        continue;
      }
      candidates.push({
        record,
        source: sourceOf(record),
        entry,
        kind,
        repository: entry.repositoryId ?? "",
        uid: entry.docUUID ?? "",
        previousParent: entry.eventId === DOCUMENT_MOVED ? previousParentOf(entry.comment) : null,
        knownOldPath: null,
        rootsAt: null,
        rootsVersion: -1,
      });
    }
    if (previous !== null) countIn(previous, sameSource, highest);
    metrics.decoded(counts.decoded);
    if (counts.event > 0) metrics.filtered(FilterReason.Event, counts.event);
    if (counts.noPath > 0) metrics.filtered(FilterReason.NoPath, counts.noPath);

    // 2. Before anything is resolved from the folder cache: remember where moved folders were,
    //    then drop every cached folder this batch changes (and what lies beneath them).
    const invalidate = new Map<string, Set<string>>();
    for (const c of candidates) {
      if (c.kind !== EventKind.Document || !SUBTREE_INVALIDATING_EVENTS.has(c.entry.eventId))
        continue;
      if (c.entry.eventId === DOCUMENT_MOVED) {
        c.knownOldPath =
          roots.byUid(c.repository, c.uid)?.path ?? baker.peekPath(c.repository, c.uid) ?? null;
        if (c.knownOldPath === null && c.previousParent !== null) {
          const parent = baker.peekPath(c.repository, c.previousParent);
          if (parent !== undefined)
            c.knownOldPath = `${parent}/${lastSegment(c.entry.docPath ?? "")}`;
        }
      }
      let set = invalidate.get(c.repository);
      if (set === undefined) invalidate.set(c.repository, (set = new Set()));
      set.add(c.uid);
    }
    for (const [repository, uids] of invalidate) {
      baker.invalidateSubtrees(repository, uids);
      options.onInvalidate?.(repository, [...uids]);
    }

    // 3. Keep what may route somewhere: under a root (or one this batch registers), above one
    //    for the events that re-evaluate roots, a move from such a place, root and group events.
    const registering = candidates
      .filter((c) => c.entry.eventId === ROOT_REGISTERED && c.entry.docPath)
      .map((c) => ({ repository: c.repository, path: c.entry.docPath! }));
    const reaches = (repository: string, path: string, ancestorEvent: boolean): boolean =>
      roots.containing(repository, path).length > 0 ||
      (ancestorEvent && roots.beneath(repository, path).length > 0) ||
      (registering.length > 0 &&
        registering.some((r) => r.repository === repository && within(path, r.path)));
    let noRoot = 0;
    const routable = candidates.filter((c) => {
      if (c.kind !== EventKind.Document) return true;
      const e = c.entry;
      c.rootsAt = roots.containing(c.repository, e.docPath!);
      c.rootsVersion = roots.version();
      if (c.rootsAt.length > 0) return true;
      const ancestorEvent = ANCESTOR_EVENTS.has(e.eventId);
      if (reaches(c.repository, e.docPath!, ancestorEvent)) return true;
      // A move's old place is known only after baking: a cached path (folder cache, root index)
      // may already be where the document went (snapshots taken after later events, or after
      // this very move), so it cannot rule the move out.
      if (e.eventId === DOCUMENT_MOVED) return true;
      noRoot++;
      return false;
    });
    if (noRoot > 0) metrics.filtered(FilterReason.NoRoot, noRoot);

    // 4. Bake: one batched fetch per repository for the documents, previous parents' chains and
    //    group members alongside. Failures propagate: the batch is retried, never committed.
    const byRepo = new Map<string, Set<string>>();
    const parents = new Map<string, { repository: string; uid: string }>();
    const groups = new Set<string>();
    for (const c of routable) {
      if (c.kind === EventKind.Group) {
        groups.add(c.entry.extended.id as string);
        continue;
      }
      if (needsSnapshot(c.entry.eventId)) {
        let set = byRepo.get(c.repository);
        if (set === undefined) byRepo.set(c.repository, (set = new Set()));
        set.add(c.uid);
      }
      if (c.previousParent !== null) {
        parents.set(`${c.repository}\u0000${c.previousParent}`, {
          repository: c.repository,
          uid: c.previousParent,
        });
      }
    }
    const baked = new Map<string, Map<string, Baked>>();
    const chains = new Map<string, DocSnapshot[] | null>();
    const members = new Map<string, string[]>();
    const parentsByRepo = new Map<string, string[]>();
    for (const p of parents.values()) {
      parentsByRepo.set(p.repository, [...(parentsByRepo.get(p.repository) ?? []), p.uid]);
    }
    await Promise.all([
      ...[...byRepo].map(async ([repository, uids]) => {
        baked.set(repository, await baker.bake(repository, [...uids]));
        // After the documents: the previous parents are often among their ancestors.
        const previous = parentsByRepo.get(repository);
        if (previous === undefined) return;
        for (const [uid, chain] of await baker.chains(repository, previous)) {
          chains.set(`${repository}\u0000${uid}`, chain);
        }
      }),
      ...[...parentsByRepo]
        .filter(([repository]) => !byRepo.has(repository))
        .map(async ([repository, previous]) => {
          for (const [uid, chain] of await baker.chains(repository, previous)) {
            chains.set(`${repository}\u0000${uid}`, chain);
          }
        }),
      ...[...groups].map(async (g) => {
        // Transitive: adding a subgroup changes the groups of every user in it (Nuxeo's
        // `memberUsers` lists direct members only).
        members.set(g, (await nuxeo.groupMembers(g, { transitive: true })) ?? []);
      }),
    ]);

    // 5. Route, in record order: root changes reach the index before the next record is routed.
    let routedRecords = 0;
    let routedEvents = 0;
    let versions = 0;
    let proxies = 0;
    let unrouted = 0;
    for (const c of routable) {
      const { entry, repository, uid } = c;
      let eventId = entry.eventId;
      let doc: DocSnapshot | null = null;
      let ancestors: DocSnapshot[] = [];
      let before: DocEvent["before"] = null;
      const extended = extendedOf(entry);
      const users = new Set<string>();
      let allShards = false;

      if (c.kind === EventKind.Group) {
        for (const u of members.get(entry.extended.id as string) ?? []) users.add(u);
        // Users whose cached groups held the group are known only to their shards: tell every
        // shard, each with the current members it owns.
        allShards = true;
      } else {
        const b = baked.get(repository)?.get(uid);
        if (b !== undefined) {
          doc = b.doc;
          ancestors = b.ancestors;
        }
        if (doc !== null && doc.isVersion) {
          versions++;
          continue;
        }
        if (doc !== null && doc.isProxy && eventId !== PROXY_PUBLISHED) {
          proxies++;
          continue;
        }
      }

      if (c.kind === EventKind.Root) {
        users.add(String(entry.extended.impactedUserName ?? entry.principalName ?? ""));
        users.delete("");
        // The snapshot, not the event, says who is subscribed (roots.ts): replays converge. A
        // root gone meanwhile stays until its removal is routed (see refreshRoots).
        if (doc !== null) await roots.reconcile(repository, uid, doc, signal);
      } else if (c.kind === EventKind.Document) {
        const newPath = doc?.path ?? entry.docPath!;
        let oldPath: string | null = null;
        if (eventId === DOCUMENT_MOVED) {
          const chain =
            c.previousParent === null
              ? null
              : (chains.get(`${repository}\u0000${c.previousParent}`) ?? null);
          // The previous parent's chain is read with this batch, consistently with `before`;
          // the cached old path may be newer than this event (see step 3): both are candidates.
          oldPath =
            (chain !== null && chain.length > 0
              ? `${chain[chain.length - 1]!.path}/${lastSegment(newPath)}`
              : null) ?? c.knownOldPath;
          if (c.previousParent !== null) {
            before = { parentUid: c.previousParent, path: oldPath, ancestors: chain ?? [] };
          }
        }
        const ancestorEvent = ANCESTOR_EVENTS.has(eventId);
        const addUsers = (path: string) => {
          // The lookup made before baking still holds unless the index changed since.
          const containing =
            path === entry.docPath && c.rootsVersion === roots.version() && c.rootsAt !== null
              ? c.rootsAt
              : roots.containing(repository, path);
          for (const r of containing) for (const u of r.users) users.add(u);
          if (ancestorEvent) {
            for (const r of roots.beneath(repository, path)) for (const u of r.users) users.add(u);
          }
        };
        addUsers(newPath);
        const oldPaths = new Set<string>();
        for (const p of [oldPath, c.knownOldPath]) if (p !== null && p !== newPath) oldPaths.add(p);
        for (const p of oldPaths) addUsers(p);

        // Keep the root index true to the repository: roots that moved or went with this
        // document are read again from Nuxeo (roots.ts explains why not from the event).
        if (eventId === DOCUMENT_MOVED && oldPaths.size > 0) {
          const moved = new Map<string, RootEntry>();
          for (const p of oldPaths)
            for (const r of roots.beneath(repository, p)) moved.set(r.uid, r);
          await refreshRoots(repository, uid, doc, [...moved.values()], signal);
        } else if (eventId === DOCUMENT_REMOVED) {
          await refreshRoots(
            repository,
            uid,
            null,
            roots.beneath(repository, entry.docPath!),
            signal,
            true,
          );
        }

        if (
          doc === null &&
          eventId !== DOCUMENT_MOVED &&
          !isDeletion(entry) &&
          eventId !== "documentSecurityUpdated"
        ) {
          // Gone by the time it was fetched: for its readers it is a deletion now, decided by
          // the shards from where it was (the audit path).
          extended.originalEventId = eventId;
          eventId = DOCUMENT_REMOVED;
        }
      }

      if (users.size === 0 && !allShards) {
        unrouted++;
        continue;
      }
      const byShard = new Map<number, string[]>();
      for (const u of users) {
        const s = shardOfUser(u);
        const list = byShard.get(s);
        if (list) list.push(u);
        else byShard.set(s, [u]);
      }
      if (allShards) for (let s = 0; s < shardCount; s++) if (!byShard.has(s)) byShard.set(s, []);

      const shardsOf = [...byShard];
      const payloads = encodeEvent(
        {
          source: c.source,
          eventId,
          category: entry.category ?? "",
          repositoryId: repository,
          docUuid: uid,
          docPath: entry.docPath ?? doc?.path ?? "",
          docType: entry.docType ?? doc?.type ?? "",
          docLifeCycle: entry.docLifeCycle,
          principalName: entry.principalName ?? "",
          comment: entry.comment,
          eventDate: entry.eventDate,
          extended,
          doc,
          ancestors,
          before,
        },
        shardsOf.map(([, u]) => u),
      );
      for (let i = 0; i < shardsOf.length; i++) {
        const shard = shardsOf[i]![0];
        const wait = batch.append("events", subjects[shard]!, payloads[i]!, {
          msgId: `${c.source}/${shard}`,
        });
        if (wait !== null) await wait;
      }
      routedRecords++;
      routedEvents += byShard.size;
    }
    if (versions > 0) metrics.filtered(FilterReason.Version, versions);
    if (proxies > 0) metrics.filtered(FilterReason.Proxy, proxies);
    if (unrouted > 0) metrics.filtered(FilterReason.NoRoot, unrouted);
    metrics.routed(routedRecords, routedEvents);

    // 6. Everything acknowledged, or the batch fails and is redelivered.
    await batch.done();
  }

  return handle;
}
