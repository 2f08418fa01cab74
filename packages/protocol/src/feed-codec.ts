// The codec of stored change sets (FeedEntry, on `drive.feed.<shard>.<userToken>`).
// Decoding is the plain msgpack codec's. Encoding writes the fields by name, in the interface's
// order, with keys encoded once: the changeset encodes a set for every flush, and the generic
// encoder spent most of its time counting UTF-8 and encoding the same keys (measured 2.5 times
// slower on the benchmark's sets). Its output is standard msgpack that any decoder reads to the
// same value; fields left undefined are left out, as the generic encoder does.
import type { Codec } from "./codec.js";
import { msgpackCodec } from "./codec.js";
import type { FileSystemItem, FileSystemItemChange } from "./drive.js";
import type { FeedEntry } from "./events.js";
import { MsgpackWriter, keyBytes } from "./msgpack-writer.js";

const K_user = keyBytes("user");
const K_lowerBound = keyBytes("lowerBound");
const K_summary = keyBytes("summary");
const K_eventSeq = keyBytes("eventSeq");
const K_fileSystemChanges = keyBytes("fileSystemChanges");
const K_syncDate = keyBytes("syncDate");
const K_upperBound = keyBytes("upperBound");
const K_hasTooManyChanges = keyBytes("hasTooManyChanges");
const K_activeSynchronizationRootDefinitions = keyBytes("activeSynchronizationRootDefinitions");
const K_repositoryId = keyBytes("repositoryId");
const K_eventId = keyBytes("eventId");
const K_eventDate = keyBytes("eventDate");
const K_docUuid = keyBytes("docUuid");
const K_fileSystemItem = keyBytes("fileSystemItem");
const K_fileSystemItemId = keyBytes("fileSystemItemId");
const K_fileSystemItemName = keyBytes("fileSystemItemName");

/** FileSystemItem's fields in the interface's order, each with its encoded key. */
const ITEM_FIELDS = (
  [
    "id",
    "parentId",
    "name",
    "folder",
    "creator",
    "lastContributor",
    "creationDate",
    "lastModificationDate",
    "canRename",
    "canDelete",
    "lockInfo",
    "path",
    "userName",
    "downloadURL",
    "digestAlgorithm",
    "digest",
    "size",
    "canUpdate",
    "oldDigest",
    "canCreateChild",
    "canScrollDescendants",
  ] as const satisfies readonly (keyof FileSystemItem)[]
).map((name) => ({ name, key: keyBytes(name) }));
const ITEM_FIELD_NAMES = new Set<string>(ITEM_FIELDS.map((f) => f.name));

function writeItem(w: MsgpackWriter, item: FileSystemItem): void {
  let n = 0;
  for (const f of ITEM_FIELDS) if (item[f.name] !== undefined) n++;
  let extra = 0;
  // A field the interface does not name (an item built elsewhere): kept, as the generic
  // encoder keeps it, so the decoded value is the encoded one.
  for (const k in item) {
    if (!ITEM_FIELD_NAMES.has(k) && (item as unknown as Record<string, unknown>)[k] !== undefined)
      extra++;
  }
  w.mapHeader(n + extra);
  for (const f of ITEM_FIELDS) {
    const v = item[f.name];
    if (v === undefined) continue;
    w.fixedKey(f.key);
    w.value(v);
  }
  if (extra === 0) return;
  for (const k in item) {
    const v = (item as unknown as Record<string, unknown>)[k];
    if (ITEM_FIELD_NAMES.has(k) || v === undefined) continue;
    w.key(k);
    w.value(v);
  }
}

function writeChange(w: MsgpackWriter, c: FileSystemItemChange): void {
  w.mapHeader(7);
  w.fixedKey(K_repositoryId);
  w.string(c.repositoryId);
  w.fixedKey(K_eventId);
  w.string(c.eventId);
  w.fixedKey(K_eventDate);
  w.number(c.eventDate);
  w.fixedKey(K_docUuid);
  w.string(c.docUuid);
  w.fixedKey(K_fileSystemItem);
  if (c.fileSystemItem === null) w.nil();
  else writeItem(w, c.fileSystemItem);
  w.fixedKey(K_fileSystemItemId);
  w.string(c.fileSystemItemId);
  w.fixedKey(K_fileSystemItemName);
  w.value(c.fileSystemItemName);
}

// Stored sets are published and dropped at once (the bus copies them out): small slabs suffice.
const writer = new MsgpackWriter(64 * 1024);
const plain = msgpackCodec<FeedEntry>();

/**
 * FeedEntry's codec. `encode` returns a view of a shared slab that stays valid (later messages
 * go to fresh bytes), so callers may keep it; it keeps its slab alive as long as they do.
 */
export const feedEntryCodec: Codec<FeedEntry> = {
  encode(e) {
    const w = writer.reset();
    const s = e.summary;
    w.mapHeader(4);
    w.fixedKey(K_user);
    w.string(e.user);
    w.fixedKey(K_lowerBound);
    w.number(e.lowerBound);
    w.fixedKey(K_summary);
    w.mapHeader(5);
    w.fixedKey(K_fileSystemChanges);
    w.arrayHeader(s.fileSystemChanges.length);
    for (const c of s.fileSystemChanges) writeChange(w, c);
    w.fixedKey(K_syncDate);
    w.number(s.syncDate);
    w.fixedKey(K_upperBound);
    w.number(s.upperBound);
    w.fixedKey(K_hasTooManyChanges);
    w.value(s.hasTooManyChanges);
    w.fixedKey(K_activeSynchronizationRootDefinitions);
    w.string(s.activeSynchronizationRootDefinitions);
    w.fixedKey(K_eventSeq);
    w.number(e.eventSeq);
    return w.bytes();
  },
  decode: plain.decode,
};
