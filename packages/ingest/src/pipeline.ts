// The ingest pipeline for one batch of one partition: decode → filter → bake → route → publish.
//
// Invariant: the batch handler resolves only when every DocEvent and dead letter derived from
// the batch is acknowledged by JetStream; the source commits the Kafka offset after that. A crash
// anywhere before redelivers the batch, and the message ids (topic/partition/offset/shard) make
// the second publish a no-op within the stream's duplicate window: every routed event reaches
// each of its shards exactly once. A record that cannot be decoded becomes a dead letter, which
// is published like any other message, so it never blocks the partition nor is lost.
import type { Bus } from "@drivecast/bus";
import {
  createRecordDecoder,
  msgpackCodec,
  parseAuditEntry,
  shardOf,
  type AuditEntry,
  type DocEvent,
  type Names,
  type RecordDecoder,
} from "@drivecast/protocol";
import type { Baker } from "./bake.js";
import { ANCESTOR_EVENTS, classify } from "./filter.js";
import type { RootIndex } from "./roots.js";
import type { SourceRecord } from "./source.js";

const eventCodec = msgpackCodec<DocEvent>();

/** The group side of Nuxeo the router needs (a subset of @drivecast/nuxeo's client). */
export interface GroupSource {
  groupMembers(name: string): Promise<string[] | null>;
}

export interface PipelineMetrics {
  record(outcome: "decoded" | "ignored" | "unrouted" | "routed" | "deadLetter", n?: number): void;
  deadLetter(reason: string): void;
  published(shards: number): void;
}

export interface PipelineOptions {
  bus: Bus;
  names: Names;
  shardCount: number;
  decoder: RecordDecoder;
  baker: Baker;
  groups: GroupSource;
  roots: RootIndex;
  metrics: PipelineMetrics;
  /** Extended audit values kept on DocEvents. */
  extendedKeys?: string[];
}

/** An audit entry whose document fields are known present (or a group event). */
interface Entry extends AuditEntry {
  docUUID: string;
  docPath: string;
  repositoryId: string;
}

interface Decoded {
  record: SourceRecord;
  entry: Entry;
}

const KEPT_EXTENDED = ["oldDigest", "impactedUserName", "id"];

function sourceId(r: SourceRecord): string {
  return `${r.topic}/${r.partition}/${r.offset}`;
}

/** `documentMoved` comment: `<repositoryId>:<previous parent uuid>`. */
function previousParent(entry: Entry): string | null {
  const c = entry.comment;
  if (!c) return null;
  const i = c.indexOf(":");
  return i < 0 ? null : c.slice(i + 1) || null;
}

function lastSegment(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function createPipeline(options: PipelineOptions): (records: SourceRecord[]) => Promise<void> {
  const { bus, names, shardCount, decoder, baker, roots, metrics } = options;
  const extendedKeys = options.extendedKeys ?? KEPT_EXTENDED;

  function deadLetter(record: SourceRecord, reason: string, message: string): Promise<unknown> {
    metrics.deadLetter(reason);
    return bus.streams.append(names.deadLetter(reason), record.value ?? new Uint8Array(0), {
      msgId: `dl/${sourceId(record)}`,
      headers: {
        "Drivecast-Source": sourceId(record),
        "Drivecast-Reason": reason,
        "Drivecast-Error": message.slice(0, 1024),
        "Drivecast-Key": record.key ? new TextDecoder().decode(record.key) : "",
      },
    });
  }

  function extended(entry: Entry): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of extendedKeys) {
      const v = entry.extended[k];
      if (v !== undefined && v !== null) out[k] = String(v);
    }
    return out;
  }

  function usersByShard(users: Iterable<string>): Map<number, string[]> {
    const out = new Map<number, string[]>();
    for (const u of users) {
      const s = shardOf(u, shardCount);
      const list = out.get(s);
      if (list) list.push(u);
      else out.set(s, [u]);
    }
    return out;
  }

  return async function handle(records) {
    const pending: Promise<unknown>[] = [];
    const decoded: Decoded[] = [];

    // 1. Decode and filter. Bad input becomes a dead letter; the batch goes on.
    for (const record of records) {
      if (record.value === null) {
        pending.push(deadLetter(record, "empty", "the Kafka record has no value"));
        continue;
      }
      try {
        const rec = decoder.decode(record.value);
        if (rec.data === null) {
          pending.push(deadLetter(record, "no_data", "the Nuxeo Record carries no audit entry"));
          continue;
        }
        const entry = parseAuditEntry(rec.data);
        metrics.record("decoded");
        const kind = classify(entry.eventId);
        if (kind === "ignored") {
          metrics.record("ignored");
          continue;
        }
        if (kind !== "group" && (!entry.docUUID || !entry.docPath || !entry.repositoryId)) {
          pending.push(
            deadLetter(
              record,
              "incomplete_entry",
              `${entry.eventId} without docUUID, docPath or repositoryId`,
            ),
          );
          continue;
        }
        decoded.push({
          record,
          entry: {
            ...entry,
            docUUID: entry.docUUID ?? "",
            docPath: entry.docPath ?? "",
            repositoryId: entry.repositoryId ?? "",
          },
        });
      } catch (error) {
        const reason = (error as { reason?: string }).reason ?? "undecodable";
        pending.push(deadLetter(record, reason, (error as Error).message ?? String(error)));
      }
    }

    // 2. Bake only what may route somewhere: under a known root (or one this batch registers),
    //    above one (ancestor events), a move (its old location is only known after baking),
    //    or a root event.
    const registering = new Set(
      decoded.filter((d) => d.entry.eventId === "rootRegistered").map((d) => d.entry.docPath),
    );
    const mayRoute = (d: Decoded): boolean => {
      const e = d.entry;
      const kind = classify(e.eventId);
      if (kind !== "document") return true;
      if (e.eventId === "documentMoved") return true;
      if (roots.containing(e.repositoryId, e.docPath).length > 0) return true;
      for (const p of registering) if (e.docPath === p || e.docPath.startsWith(`${p}/`)) return true;
      return ANCESTOR_EVENTS.has(e.eventId) && roots.beneath(e.repositoryId, e.docPath).length > 0;
    };
    const candidates = decoded.filter((d) => {
      if (mayRoute(d)) return true;
      metrics.record("unrouted");
      return false;
    });

    const byRepo = new Map<string, string[]>();
    for (const d of candidates) {
      if (classify(d.entry.eventId) === "group") continue;
      const list = byRepo.get(d.entry.repositoryId) ?? [];
      list.push(d.entry.docUUID);
      byRepo.set(d.entry.repositoryId, list);
    }
    const baked = new Map<string, Awaited<ReturnType<Baker["bake"]>>>();
    for (const [repo, uids] of byRepo) baked.set(repo, await baker.bake(repo, uids));

    // 3. Route, in record order: root (un)registrations and moves update the index before the
    //    events after them are routed.
    for (const { record, entry } of candidates) {
      const kind = classify(entry.eventId);
      const repo = entry.repositoryId;
      const b = baked.get(repo)?.get(entry.docUUID) ?? { doc: null, ancestors: [] };
      let before: DocEvent["before"] = null;
      const users = new Set<string>();
      let allShards = false;

      if (kind === "group") {
        const name = String(entry.extended.id ?? "");
        for (const u of (await options.groups.groupMembers(name)) ?? []) users.add(u);
        // Users whose cached groups held it are known only to the shards: tell every shard.
        allShards = true;
      } else if (kind === "root") {
        const user = String(entry.extended.impactedUserName ?? entry.principalName);
        users.add(user);
        const path = b.doc?.path ?? entry.docPath;
        if (entry.eventId === "rootRegistered") await roots.register(repo, entry.docUUID, path, user);
        else await roots.unregister(repo, entry.docUUID, user);
      } else {
        const newPath = b.doc?.path ?? entry.docPath;
        let oldPath: string | null = null;
        if (entry.eventId === "documentMoved") {
          const parent = previousParent(entry);
          if (parent) {
            const chain = await baker.chain(repo, parent);
            oldPath = chain ? `${chain[chain.length - 1]!.path}/${lastSegment(newPath)}` : null;
            before = { parentUid: parent, path: oldPath, ancestors: chain ?? [] };
          }
        }
        for (const path of [newPath, oldPath]) {
          if (path === null) continue;
          for (const r of roots.containing(repo, path)) for (const u of r.users) users.add(u);
          if (ANCESTOR_EVENTS.has(entry.eventId)) {
            for (const r of roots.beneath(repo, path)) for (const u of r.users) users.add(u);
          }
        }
        // Keep the index and the folder cache true to the repository.
        if (entry.eventId === "documentMoved" && oldPath !== null && oldPath !== newPath) {
          await roots.move(repo, oldPath, newPath);
          baker.invalidateUnder(repo, oldPath);
        } else if (entry.eventId === "documentRemoved") {
          await roots.removeUnder(repo, entry.docPath);
          baker.invalidateUnder(repo, entry.docPath);
        } else if (entry.eventId === "documentSecurityUpdated" || entry.eventId === "documentModified") {
          baker.invalidateUnder(repo, newPath);
        }
      }

      const shards = usersByShard(users);
      if (allShards) for (let s = 0; s < shardCount; s++) if (!shards.has(s)) shards.set(s, []);
      if (shards.size === 0) {
        metrics.record("unrouted");
        continue;
      }
      metrics.record("routed");
      const base: Omit<DocEvent, "users"> = {
        source: sourceId(record),
        eventId: entry.eventId,
        category: entry.category ?? "",
        repositoryId: repo,
        docUuid: entry.docUUID,
        docPath: entry.docPath,
        docType: entry.docType ?? "",
        docLifeCycle: entry.docLifeCycle ?? null,
        principalName: entry.principalName ?? "",
        comment: entry.comment ?? null,
        eventDate: entry.eventDate,
        extended: extended(entry),
        doc: b.doc,
        ancestors: b.ancestors,
        before,
      };
      for (const [shard, shardUsers] of shards) {
        pending.push(
          bus.streams.append(names.events(shard), eventCodec.encode({ ...base, users: shardUsers }), {
            msgId: `${base.source}/${shard}`,
          }),
        );
      }
      metrics.published(shards.size);
    }

    // 4. Everything acknowledged, or the batch fails and is redelivered.
    await Promise.all(pending);
  };
}
