// Test helpers: the simulator as the ingest's Nuxeo without HTTP (unit tests), records as Kafka
// would carry them, and a pipeline wired on the memory bus.
import { createMemoryBus, type MemoryBus } from "@drivecast/bus";
import {
  Names,
  RECORD_SCHEMA_2023,
  auditEntryJson,
  schemaInfo,
  encodeRecord,
  msgpackCodec,
  watermarkOf,
  type AuditEntry,
  type DocEvent,
} from "@drivecast/protocol";
import { callbackAuditSink, createSimulator, type Simulator } from "@drivecast/nuxeo-sim";
import {
  createBaker,
  createIngestDecoder,
  createPipeline,
  createPublisher,
  createRootIndex,
  bootstrapRoots,
  type FetchedDocument,
  type IngestNuxeo,
  type RootIndex,
  type SourceRecord,
  type Baker,
  type BatchPipeline,
} from "../src/mod.js";

export const eventCodec = msgpackCodec<DocEvent>();

/** The simulator's repository as the ingest's Nuxeo, in process, counting calls. */
export interface SimNuxeo extends IngestNuxeo {
  calls: { documents: number; groups: number; queries: number };
  /** The next `n` calls reject with a retriable error. */
  failNext(n: number): void;
}

export function simNuxeo(sim: Simulator): SimNuxeo {
  let failures = 0;
  const calls = { documents: 0, groups: 0, queries: 0 };
  const maybeFail = () => {
    if (failures > 0) {
      failures--;
      throw Object.assign(new Error("Nuxeo answered 503"), { retriable: true });
    }
  };
  const fetched = (uid: string): FetchedDocument | undefined => {
    const snapshot = sim.snapshot(uid);
    if (snapshot === undefined) return undefined;
    const breadcrumb: { uid: string; path: string }[] = [];
    for (let d = sim.get(uid); d !== undefined && d.path !== "/";) {
      breadcrumb.unshift({ uid: d.uid, path: d.path });
      d = d.parentUid === null ? undefined : sim.get(d.parentUid);
    }
    return { snapshot, breadcrumb };
  };
  const all = (): FetchedDocument[] => {
    const out: FetchedDocument[] = [];
    const walk = (ref: string) => {
      for (const c of sim.children(ref)) {
        const f = fetched(c.uid);
        if (f) out.push(f);
        walk(c.uid);
      }
    };
    walk("/");
    return out;
  };
  return {
    calls,
    failNext: (n) => {
      failures = n;
    },
    async documentsByIds(_repository, uids) {
      calls.documents++;
      maybeFail();
      const out = new Map<string, FetchedDocument>();
      for (const uid of uids) {
        const f = fetched(uid);
        if (f) out.set(uid, f);
      }
      return out;
    },
    async groupMembers(name) {
      calls.groups++;
      maybeFail();
      return sim.group(name)?.memberUsers ?? null;
    },
    async *queryAll() {
      calls.queries++;
      maybeFail();
      const roots = all().filter(
        (d) => d.snapshot.facets.includes("DriveSynchronized") && !d.snapshot.isTrashed,
      );
      yield { entries: roots };
    },
  };
}

/** A simulator whose audit records are collected (as Kafka would get them). */
export function recordingSimulator(): {
  sim: Simulator;
  records: { key: string; value: Uint8Array }[];
} {
  const records: { key: string; value: Uint8Array }[] = [];
  const sim = createSimulator({
    audit: callbackAuditSink((batch) => {
      records.push(...batch);
    }),
  });
  return { sim, records };
}

let offset = 0;
/** Kafka records of `values` on one partition, offsets counting up across calls. */
export function sourceRecords(
  values: { key: string | null; value: Uint8Array | null }[],
  topic = "audit",
  partition = 0,
): SourceRecord[] {
  return values.map((v) => ({
    topic,
    partition,
    offset: String(offset++),
    key: v.key === null ? null : new TextEncoder().encode(v.key),
    value: v.value,
    timestamp: 0,
  }));
}

/** An audit entry with Nuxeo's defaults for what is not given. */
export function auditEntry(entry: Partial<AuditEntry> & { eventId: string }): AuditEntry {
  return {
    category: "eventDocumentCategory",
    principalName: "Administrator",
    comment: null,
    docLifeCycle: "project",
    docPath: null,
    docType: "File",
    docUUID: null,
    repositoryId: "default",
    eventDate: Date.UTC(2026, 0, 2, 3, 4, 5, 6),
    logDate: Date.UTC(2026, 0, 2, 3, 4, 5, 7),
    extended: {},
    ...entry,
  };
}

/** The Nuxeo stream Record carrying an audit entry. */
export function nuxeoRecord(entry: AuditEntry) {
  return {
    watermark: watermarkOf(entry.eventDate),
    key: entry.docUUID ?? "",
    data: auditEntryJson(entry),
    flagsAsByte: 0,
    traceContext: null,
    appenderThread: null,
  };
}

/** The Kafka value Nuxeo writes for an audit entry (codec avro, 2023 schema). */
export function auditValue(entry: Partial<AuditEntry> & { eventId: string }): Uint8Array {
  return encodeRecord(nuxeoRecord(auditEntry(entry)), { codec: "avro" });
}

export interface Rig {
  bus: MemoryBus;
  names: Names;
  nuxeo: SimNuxeo;
  roots: RootIndex;
  baker: Baker;
  pipeline: BatchPipeline;
  shardCount: number;
  /** Every DocEvent stored, with its shard. */
  events(): Promise<{ shard: number; event: DocEvent; msgId?: string }[]>;
  deadLetters(): Promise<{ subject: string; data: Uint8Array; headers: Record<string, string> }[]>;
  run(records: SourceRecord[]): Promise<void>;
}

/** A pipeline on the memory bus over `sim`, root index bootstrapped from it. */
export async function rig(sim: Simulator, shardCount = 8): Promise<Rig> {
  const bus = createMemoryBus();
  const names = new Names({ prefix: "", subjectPrefix: "" });
  const nuxeo = simNuxeo(sim);
  const ensureStreams = async () => {
    await bus.streams.ensure({ name: names.eventsStream, subjects: [names.eventsSubjects] });
    await bus.streams.ensure({
      name: names.deadLetterStream,
      subjects: [names.deadLetterSubjects],
    });
  };
  await ensureStreams();
  const kv = await bus.kv({ bucket: names.rootsBucket });
  const roots = await createRootIndex(kv);
  await roots.ready();
  await bootstrapRoots(kv, roots, nuxeo, {
    repositories: ["default"],
    pageSize: 100,
    owner: "test",
    logger: { info() {}, warn() {} } as never,
  });
  const baker = createBaker(nuxeo);
  const pipeline = createPipeline({
    names,
    shardCount,
    decoder: await createIngestDecoder({ codec: "avro" }),
    baker,
    nuxeo,
    roots,
    publisher: createPublisher({
      streams: bus.streams,
      maxInFlight: 64,
      retryBaseMs: 1,
      retryMaxMs: 5,
      ensureStreams,
    }),
  });
  return {
    bus,
    names,
    nuxeo,
    roots,
    baker,
    pipeline,
    shardCount,
    async events() {
      const msgs = await bus.streams.read(names.eventsStream, names.eventsSubjects, 1);
      return msgs.map((m) => ({
        shard: Number(m.subject.slice(m.subject.lastIndexOf(".") + 1)),
        event: eventCodec.decode(m.data),
      }));
    },
    async deadLetters() {
      return bus.streams.read(names.deadLetterStream, names.deadLetterSubjects, 1);
    },
    run: (records) => pipeline(records, new AbortController().signal),
  };
}

/**
 * A later Nuxeo Record schema (one more field, with a default) and a record written with it in
 * single-object encoding: what `avro` meets after a Nuxeo upgrade.
 */
export function evolvedRecord(record: Parameters<typeof encodeRecord>[0]): {
  schemaText: string;
  value: Uint8Array;
  fingerprintHex: string;
} {
  const schema = JSON.parse(RECORD_SCHEMA_2023) as { fields: unknown[] };
  schema.fields.push({ name: "tenant", type: "string", default: "" });
  const schemaText = JSON.stringify(schema);
  const info = schemaInfo(schemaText);
  const body = encodeRecord(record, { codec: "avroBinary", schema: "2023" });
  const tenant = new TextEncoder().encode("acme");
  const value = new Uint8Array(10 + body.length + 1 + tenant.length);
  value[0] = 0xc3;
  value[1] = 0x01;
  let fp = info.fingerprint;
  for (let i = 2; i < 10; i++, fp >>= 8n) value[i] = Number(fp & 0xffn);
  value.set(body, 10);
  value[10 + body.length] = tenant.length * 2; // zigzag varint of the string length
  value.set(tenant, 11 + body.length);
  return { schemaText, value, fingerprintHex: info.fingerprintHex };
}
