// msgpack encoding of DocEvents, built for the ingest's hot path. The shards decode them with the
// protocol's plain msgpack codec; only the way the bytes are put together here differs from
// `msgpackCodec<DocEvent>().encode(event)`:
// - one reused writer (the protocol's MsgpackWriter) instead of the generic encoder;
// - the ancestors of most events are the same few cached folder snapshots, so each snapshot's
//   encoding is kept (WeakMap on the snapshot object, which the folder cache shares) and copied;
// - an event routed to several shards differs only in `users`: the rest is encoded once.
// Measured (test/bench/ingest.bench.ts): encoding was over half of the per-record cost before,
// mostly re-encoding the same ancestor snapshots.
import { MsgpackWriter, keyBytes, type DocEvent, type DocSnapshot } from "@drivecast/protocol";

const writer = new MsgpackWriter();

// Keys are encoded once: a lookup per key showed in the profile.
const K_aces = keyBytes("aces");
const K_acls = keyBytes("acls");
const K_ancestors = keyBytes("ancestors");
const K_before = keyBytes("before");
const K_blob = keyBytes("blob");
const K_category = keyBytes("category");
const K_comment = keyBytes("comment");
const K_created = keyBytes("created");
const K_creator = keyBytes("creator");
const K_doc = keyBytes("doc");
const K_docLifeCycle = keyBytes("docLifeCycle");
const K_docPath = keyBytes("docPath");
const K_docType = keyBytes("docType");
const K_docUuid = keyBytes("docUuid");
const K_enabled = keyBytes("enabled");
const K_eventDate = keyBytes("eventDate");
const K_eventId = keyBytes("eventId");
const K_extended = keyBytes("extended");
const K_facets = keyBytes("facets");
const K_granted = keyBytes("granted");
const K_isProxy = keyBytes("isProxy");
const K_isTrashed = keyBytes("isTrashed");
const K_isVersion = keyBytes("isVersion");
const K_lastContributor = keyBytes("lastContributor");
const K_modified = keyBytes("modified");
const K_name = keyBytes("name");
const K_parentUid = keyBytes("parentUid");
const K_path = keyBytes("path");
const K_permission = keyBytes("permission");
const K_principalName = keyBytes("principalName");
const K_repository = keyBytes("repository");
const K_repositoryId = keyBytes("repositoryId");
const K_source = keyBytes("source");
const K_status = keyBytes("status");
const K_subscriptions = keyBytes("subscriptions");
const K_title = keyBytes("title");
const K_type = keyBytes("type");
const K_uid = keyBytes("uid");
const K_username = keyBytes("username");
const K_users = keyBytes("users");
const snapshotBytes = new WeakMap<DocSnapshot, Uint8Array>();

/** DocEvent without `users`: what every shard's copy of an event shares. */
export type EventHead = Omit<DocEvent, "users">;

/** DocSnapshot fields in the order of the interface; written without a per-key lookup. */
function writeSnapshot(w: MsgpackWriter, s: DocSnapshot): void {
  w.mapHeader(17);
  w.fixedKey(K_repository);
  w.string(s.repository);
  w.fixedKey(K_uid);
  w.string(s.uid);
  w.fixedKey(K_path);
  w.string(s.path);
  w.fixedKey(K_parentUid);
  w.value(s.parentUid);
  w.fixedKey(K_type);
  w.string(s.type);
  w.fixedKey(K_title);
  w.string(s.title);
  w.fixedKey(K_facets);
  w.arrayHeader(s.facets.length);
  for (const f of s.facets) w.string(f);
  w.fixedKey(K_isVersion);
  w.value(s.isVersion);
  w.fixedKey(K_isProxy);
  w.value(s.isProxy);
  w.fixedKey(K_isTrashed);
  w.value(s.isTrashed);
  w.fixedKey(K_creator);
  w.string(s.creator);
  w.fixedKey(K_lastContributor);
  w.string(s.lastContributor);
  w.fixedKey(K_created);
  w.number(s.created);
  w.fixedKey(K_modified);
  w.number(s.modified);
  w.fixedKey(K_blob);
  if (s.blob === null) w.nil();
  else w.object(s.blob as unknown as Record<string, unknown>);
  w.fixedKey(K_acls);
  w.arrayHeader(s.acls.length);
  for (const acl of s.acls) {
    w.mapHeader(2);
    w.fixedKey(K_name);
    w.string(acl.name);
    w.fixedKey(K_aces);
    w.arrayHeader(acl.aces.length);
    for (const ace of acl.aces) {
      w.mapHeader(ace.status === undefined ? 3 : 4);
      w.fixedKey(K_username);
      w.string(ace.username);
      w.fixedKey(K_permission);
      w.string(ace.permission);
      w.fixedKey(K_granted);
      w.value(ace.granted);
      if (ace.status !== undefined) {
        w.fixedKey(K_status);
        w.string(ace.status);
      }
    }
  }
  w.fixedKey(K_subscriptions);
  w.arrayHeader(s.subscriptions.length);
  for (const sub of s.subscriptions) {
    w.mapHeader(2);
    w.fixedKey(K_username);
    w.string(sub.username);
    w.fixedKey(K_enabled);
    w.value(sub.enabled);
  }
}

// Small slabs: cached snapshots keep theirs alive as long as the folder cache keeps them.
const snapshotWriter = new MsgpackWriter(16 * 1024);

/** A folder snapshot's encoding, kept as long as the snapshot object lives (folder cache). */
function cachedSnapshot(s: DocSnapshot): Uint8Array {
  let b = snapshotBytes.get(s);
  if (b === undefined) {
    writeSnapshot(snapshotWriter.reset(), s);
    b = snapshotWriter.bytes();
    snapshotBytes.set(s, b);
  }
  return b;
}

/**
 * The DocEvent `head` for each users list, one message each. The field order is the DocEvent
 * interface's with `users` last: everything before it is written once and copied.
 */
export function encodeEvent(
  e: EventHead,
  usersLists: readonly (readonly string[])[],
): Uint8Array[] {
  const w = writer.reset();
  w.mapHeader(16);
  w.fixedKey(K_source);
  w.string(e.source);
  w.fixedKey(K_eventId);
  w.string(e.eventId);
  w.fixedKey(K_category);
  w.string(e.category);
  w.fixedKey(K_repositoryId);
  w.string(e.repositoryId);
  w.fixedKey(K_docUuid);
  w.string(e.docUuid);
  w.fixedKey(K_docPath);
  w.string(e.docPath);
  w.fixedKey(K_docType);
  w.string(e.docType);
  w.fixedKey(K_docLifeCycle);
  w.value(e.docLifeCycle);
  w.fixedKey(K_principalName);
  w.string(e.principalName);
  w.fixedKey(K_comment);
  w.value(e.comment);
  w.fixedKey(K_eventDate);
  w.number(e.eventDate);
  w.fixedKey(K_extended);
  w.object(e.extended);
  w.fixedKey(K_doc);
  if (e.doc === null) w.nil();
  else writeSnapshot(w, e.doc);
  w.fixedKey(K_ancestors);
  w.arrayHeader(e.ancestors.length);
  for (const a of e.ancestors) w.raw(cachedSnapshot(a));
  w.fixedKey(K_before);
  if (e.before === null) w.nil();
  else {
    w.mapHeader(3);
    w.fixedKey(K_parentUid);
    w.string(e.before.parentUid);
    w.fixedKey(K_path);
    w.value(e.before.path);
    w.fixedKey(K_ancestors);
    w.arrayHeader(e.before.ancestors.length);
    for (const a of e.before.ancestors) w.raw(cachedSnapshot(a));
  }
  w.fixedKey(K_users);
  const prefix = w.length;
  const out: Uint8Array[] = [];
  for (const users of usersLists) {
    if (out.length > 0) w.repeatPrefix(prefix);
    w.arrayHeader(users.length);
    for (const user of users) w.string(user);
    out.push(w.bytes());
  }
  return out;
}
