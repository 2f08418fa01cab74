// A routing world for the process tests: users with sync roots in the simulator, a workload of
// audit records as Nuxeo writes them (partitioned as Nuxeo would, by document), and the model
// of what DRIVE_EVENTS must hold: for each record, the shards of the users whose root contains
// its document, exactly once.
import { callbackAuditSink, createSimulator, type Simulator } from "@drivecast/nuxeo-sim";
import { createRecordDecoder, fnv1a32, parseAuditEntry, shardOf } from "@drivecast/protocol";

export interface WorkloadRecord {
  key: string;
  value: Uint8Array;
  partition: number;
}

export interface RoutingWorld {
  sim: Simulator;
  users: string[];
  /** `n` mutations (creations and modifications, some outside every root), as Kafka records. */
  generate(n: number, partitions: number): Promise<WorkloadRecord[]>;
}

const WS = "/default-domain/workspaces";

export async function routingWorld(userCount = 12): Promise<RoutingWorld> {
  // Set up without an audit sink: the ingest learns the roots from its bootstrap.
  const sim = createSimulator({ auditLogLimit: 100 });
  const users = Array.from({ length: userCount }, (_, i) => `user${i}`);
  for (const u of users) sim.createUser(u);
  const shared = await sim.createWorkspace(WS, "Shared");
  const half = users.slice(0, Math.ceil(userCount / 2));
  for (const u of half) await sim.grant(shared.uid, u, "ReadWrite");
  for (const u of users) {
    const ws = await sim.createWorkspace(WS, `ws-${u}`);
    await sim.grant(ws.uid, u, "ReadWrite");
    await sim.registerRoot(u, ws.uid);
  }
  for (const u of half) await sim.registerRoot(u, shared.uid);
  await sim.createWorkspace(WS, "Elsewhere");

  let counter = 0;
  const files: string[] = [];
  return {
    sim,
    users,
    async generate(n, partitions) {
      const out: WorkloadRecord[] = [];
      sim.setAuditSink(
        callbackAuditSink((records, partitionKey) => {
          const partition = fnv1a32(partitionKey ?? records[0]!.key) % partitions;
          for (const r of records) out.push({ key: r.key, value: r.value, partition });
        }),
      );
      for (let i = 0; i < n; i++) {
        const c = counter++;
        const r = c % 10;
        if (r < 5 || files.length < 10) {
          const parent =
            r === 0
              ? `${WS}/Elsewhere`
              : r < 3
                ? `${WS}/Shared`
                : `${WS}/ws-${users[c % users.length]}`;
          const f = await sim.createFile(parent, `f${c}.txt`, { content: `v${c}` });
          files.push(f.uid);
        } else {
          await sim.modify(files[(c * 7919) % files.length]!, { content: `m${c}` });
        }
      }
      sim.setAuditSink(null);
      return out;
    },
  };
}

/** Produce order is partition order: the offset of each record within its partition. */
export function withOffsets(records: WorkloadRecord[], firstOffsets = new Map<number, number>()) {
  const next = new Map(firstOffsets);
  return records.map((r) => {
    const offset = next.get(r.partition) ?? 0;
    next.set(r.partition, offset + 1);
    return { ...r, offset };
  });
}

/**
 * The DocEvents the ingest must store: `topic/partition/offset/shard` → users, for records whose
 * document lies under some user's root (the roots do not change during the workload).
 */
export function expectedEvents(
  sim: Simulator,
  users: string[],
  topic: string,
  records: (WorkloadRecord & { offset: number })[],
  shardCount: number,
): Map<string, string[]> {
  const rootPaths = users.map((u) => ({
    user: u,
    paths: sim.rootsOf(u).map((uid) => sim.get(uid)!.path),
  }));
  const decoder = createRecordDecoder({ codec: "avro" });
  const out = new Map<string, string[]>();
  for (const r of records) {
    const entry = parseAuditEntry(decoder.decode(r.value).data);
    const path = entry.docPath ?? "";
    for (const { user, paths } of rootPaths) {
      if (!paths.some((p) => path === p || path.startsWith(`${p}/`))) continue;
      const id = `${topic}/${r.partition}/${r.offset}/${shardOf(user, shardCount)}`;
      out.set(id, [...(out.get(id) ?? []), user].sort());
    }
  }
  return out;
}
