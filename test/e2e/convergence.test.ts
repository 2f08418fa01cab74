// Convergence, end to end: a seeded random workload of thousands of operations over 20 users
// (creates, edits, renames, moves in and out of roots, copies, trash/untrash, removals, ACL
// grants/denies/revocations, inheritance blocked, group membership, root (un)registration) goes
// simulator → Kafka → ingest → DRIVE_EVENTS → changeset → DRIVE_FEEDS → gateway → 2 client SDK
// devices per user, every role its own process. Devices drop off and come back at random (some
// keeping their cursor and tree, some starting over), one device starts late. Once the pipeline
// has drained and every device has applied its user's last change set, each device's tree must
// equal the tree the simulator says its user should see (spec/NUXEO.md §3–4, computed from the
// simulator's repository by `driveTreeOf`, which shares no code with the changeset role).
//
// A seed fixes the operations (the same list every run, see `createWorkload`), not their timing
// through the pipeline: a mismatch may show on one run only. Its report names documents by
// workload label (`d57`, `ws3`) and lists, for each difference, the operations on it, the
// DocEvents routed about it, the user's feed, what the device applied and what a scroll of its
// parent gives now: enough to tell which role went wrong. Replaying the seed on a simulator
// alone (`createWorkload(sim, { seed, users: 20, prefix })` then `run(5000)`) shows the
// repository's side of the story at any step.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startNatsServer, type NatsServerHandle } from "@drivecast/testkit";
import {
  createWorkload,
  driveTreeOf,
  seededRandom,
  type Workload,
  type WorkloadOp,
} from "@drivecast/nuxeo-sim";
import { createDriveTree, memoryCursorStore } from "@drivecast/client";
import type { ChangeEvent, DriveClient, DriveTree, MemoryCursorStore } from "@drivecast/client";
import { createNodeDriveClient } from "@drivecast/client/node";
import { waitFor } from "./harness.js";
import {
  diffTrees,
  startPipeline,
  uuidOf,
  type Pipeline,
  type Row,
  type TreeDiff,
} from "./convergence-harness.js";

const SEEDS = [4, 5, 6];
const USERS = 20;
const DEVICES_PER_USER = 2;
const OPERATIONS = 5_000;
/** A device drops off or comes back every this many operations. */
const CHURN_EVERY = 50;
const SHARDS = 8;

interface Device {
  id: string;
  user: string;
  client: DriveClient | null;
  store: MemoryCursorStore;
  tree: DriveTree;
  /** Change sets applied, for the report of a mismatch. */
  changes: ChangeEvent[];
  /** Full remote scans, by reason. */
  rescans: Record<string, number>;
  connections: number;
  restarts: { kept: number; fresh: number };
  fatal: Error | null;
  /** Whether the device is meant to run (flipped at once; the work is chained on `busy`). */
  up: boolean;
  /** Its starts and stops, one after the other, off the workload's path. */
  busy: Promise<void>;
  /** What happened to the device, for a mismatch report. */
  timeline: string[];
}

interface SeedReport {
  seed: number;
  operations: number;
  counts: Record<string, number>;
  /** Items of every device's expected tree, summed. */
  items: number;
  workloadMs: number;
  drainMs: number;
  syncMs: number;
  /** REST calls the simulator answered (ingest, changeset, gateway). */
  nuxeoRequests: number;
  rescans: Record<string, number>;
  connections: number;
  restarts: { kept: number; fresh: number };
  /** Errors the clients reported (and recovered from), by kind. */
  errors: Record<string, number>;
}

describe("e2e - convergence", () => {
  let nats: NatsServerHandle;
  const reports: SeedReport[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
  });

  afterAll(async () => {
    await nats?.stop();
    // One line per seed: what ran, and how long each phase took (figures, not assertions).
    for (const r of reports) console.info(`convergence ${JSON.stringify(r)}`);
  });

  for (const seed of SEEDS) {
    it(`convergence - seed ${seed}: ${USERS} users × ${DEVICES_PER_USER} devices end with the simulator's trees after ${OPERATIONS} operations`, async () => {
      reports.push(await converge(nats.url, inject("kafkaBrokers"), seed));
    }, 240_000);
  }
});

async function converge(natsUrl: string, brokers: string[], seed: number): Promise<SeedReport> {
  const pipeline = await startPipeline({
    natsUrl,
    brokers,
    shards: SHARDS,
    env: {
      DRIVECAST_FLUSH_QUIET_MS: "100",
      DRIVECAST_FLUSH_MAX_DELAY_MS: "500",
      // Short per-user feeds: a device away for long comes back to "too many changes"; and a
      // low change limit: a busy user's set becomes a rescan marker now and then.
      DRIVECAST_FEED_MAX_PER_USER: "30",
      DRIVECAST_CHANGE_LIMIT: "60",
    },
  });
  const devices: Device[] = [];
  try {
    const { sim } = pipeline;
    const workload = createWorkload(sim, { seed, users: USERS, prefix: `s${seed}-` });
    await workload.setup();
    // The test's own sequence for device churn (the workload has its own, from the same seed).
    const random = seededRandom(seed * 7919);
    for (const user of workload.users) {
      for (let k = 0; k < DEVICES_PER_USER; k++) {
        devices.push({
          id: `${user}-dev${k}`,
          user,
          client: null,
          store: memoryCursorStore(),
          tree: createDriveTree(),
          changes: [],
          rescans: {},
          connections: 0,
          restarts: { kept: 0, fresh: 0 },
          fatal: null,
          up: false,
          busy: Promise.resolve(),
          timeline: [],
        });
      }
    }
    const late = devices[Math.floor(random() * devices.length)] as Device;
    for (const d of devices) if (d !== late) setUp(pipeline, d, true);
    await Promise.all(devices.map((d) => d.busy));

    // The workload, with devices dropping off and coming back.
    const started = Date.now();
    await workload.run(OPERATIONS, {
      // Churn does not hold the workload up: each device's starts and stops run in order.
      onOp: (op: WorkloadOp) => {
        if (op.seq % CHURN_EVERY !== 0) return;
        const running = devices.filter((d) => d.up);
        const stopped = devices.filter((d) => !d.up && d !== late);
        if (stopped.length > 0 && (random() < 0.5 || running.length < devices.length / 2)) {
          const d = stopped[Math.floor(random() * stopped.length)] as Device;
          // Either it kept its cursor and tree, or it lost them (a reinstall: a first run).
          if (random() < 0.25) {
            d.store = memoryCursorStore();
            d.tree = createDriveTree();
            d.restarts.fresh++;
            d.timeline.push(`fresh@${op.seq}`);
          } else {
            d.restarts.kept++;
            d.timeline.push(`kept@${op.seq}`);
          }
          setUp(pipeline, d, true);
        } else {
          const d = running[Math.floor(random() * running.length)] as Device;
          d.timeline.push(`stop@${op.seq}`);
          setUp(pipeline, d, false);
        }
      },
    });
    const workloadMs = Date.now() - started;
    for (const d of devices) if (!d.up) setUp(pipeline, d, true);
    await Promise.all(devices.map((d) => d.busy));

    const drainStart = Date.now();
    await pipeline.drain(90_000);
    const positions = await pipeline.lastPositions(workload.users);
    const drainMs = Date.now() - drainStart;

    const syncStart = Date.now();
    await Promise.all(devices.map((d) => syncDevice(d, positions.get(d.user) ?? null)));
    const syncMs = Date.now() - syncStart;
    // Nothing more arrived meanwhile: the positions waited for are the last ones.
    expect(await pipeline.lastPositions(workload.users)).toEqual(positions);

    const failures: string[] = [];
    let items = 0;
    for (const d of devices) {
      const expected = driveTreeOf(sim, d.user);
      items += expected.length;
      const actual = d.tree.snapshot();
      const diff = diffTrees(actual, expected);
      if (diff.missing.length + diff.extra.length + diff.changed.length > 0) {
        failures.push(await describeMismatch(pipeline, d, diff, workload, actual));
      }
    }
    if (failures.length > 0) {
      const roots = await pipeline.rootIndexDiff(workload.users, (u) => workload.labelOf(u) ?? u);
      failures.unshift(`root index vs simulator: ${roots.slice(0, 10).join("; ") || "same"}`);
      const first = devices.find((d) => failures.some((f) => f.startsWith(`${d.id}:`))) as Device;
      expect(
        first.tree.snapshot(),
        `seed ${seed}: ${failures.length - 1} of ${devices.length} devices differ from the simulator\n` +
          failures.slice(0, 7).join("\n"),
      ).toEqual(driveTreeOf(sim, first.user));
    }
    return {
      seed,
      operations: workload.ops.length,
      counts: workload.counts(),
      items,
      workloadMs,
      drainMs,
      syncMs,
      nuxeoRequests: sim.requestCount.total,
      rescans: countRescans(devices),
      connections: devices.reduce((s, d) => s + d.connections, 0),
      restarts: {
        kept: devices.reduce((s, d) => s + d.restarts.kept, 0),
        fresh: devices.reduce((s, d) => s + d.restarts.fresh, 0),
      },
      errors: countErrors(devices),
    };
  } catch (err) {
    // What the roles said is the first thing to read when the pipeline misbehaves.
    for (const r of pipeline.roles) console.error(`--- ${r.role}\n${r.output().slice(-4_000)}`);
    throw err;
  } finally {
    await Promise.all(devices.map((d) => d.busy.catch(() => undefined).then(() => stopDevice(d))));
    await pipeline.close();
  }
}

function countRescans(devices: readonly Device[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of devices) {
    for (const [reason, n] of Object.entries(d.rescans)) out[reason] = (out[reason] ?? 0) + n;
  }
  return out;
}

function countErrors(devices: readonly Device[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const d of devices) {
    for (const t of d.timeline) {
      if (!t.startsWith("error:")) continue;
      // error:<name>:<message>: the name, and a scroll error's code.
      const name = t.split(":")[1] as string;
      const code = /scroll failed: ([a-z_]+)/.exec(t)?.[1];
      const key = code === undefined ? name : `${name}:${code}`;
      out[key] = (out[key] ?? 0) + 1;
    }
  }
  return out;
}

/** Starts or stops a device after whatever it is doing (a fresh restart swapped its tree). */
function setUp(pipeline: Pipeline, d: Device, up: boolean): void {
  d.up = up;
  const tree = d.tree;
  const store = d.store;
  d.busy = d.busy.then(() => (up ? startDevice(pipeline, d, tree, store) : stopDevice(d)));
}

async function startDevice(
  pipeline: Pipeline,
  d: Device,
  tree: DriveTree,
  store: MemoryCursorStore,
): Promise<void> {
  const client = createNodeDriveClient({
    url: pipeline.url,
    token: pipeline.sim.tokenFor(d.user, d.id),
    deviceId: d.id,
    cursorStore: store,
    tree,
    backoff: { initialMs: 50, maxMs: 1_000, longInitialMs: 200, longMaxMs: 2_000 },
  });
  client.on("change", (e) => d.changes.push(e));
  client.on("rescan", (e) => {
    d.rescans[e.reason] = (d.rescans[e.reason] ?? 0) + 1;
    d.timeline.push(`scan:${e.reason}:${String(e.upperBound).slice(-9, -3)}`);
  });
  client.on("welcome", () => d.connections++);
  client.on("error", (e) => {
    d.timeline.push(`error:${e.name}:${e.message.slice(0, 80)}`);
    if (!e.retriable) d.fatal = e;
  });
  d.client = client;
  await client.start();
}

async function stopDevice(d: Device): Promise<void> {
  const client = d.client;
  if (client === null) return;
  d.client = null;
  await client.stop();
}

async function syncDevice(d: Device, position: number | null): Promise<void> {
  const client = d.client as DriveClient;
  let done = false;
  const synced = (position === null ? client.whenSynced() : client.whenSynced(position)).then(
    () => (done = true),
  );
  // A timeout below stops the client, which rejects this: the timeout is the failure to report.
  synced.catch(() => undefined);
  await waitFor(
    () => done || d.fatal !== null,
    120_000,
    () =>
      `${d.id} to apply its user's last change set ${position} (state ${client.state}, ` +
      `cursor ${client.cursor}); timeline ${d.timeline.slice(-10).join(" ")}`,
  );
  if (d.fatal !== null) throw d.fatal;
  await synced;
}

/** A readable account of one device's differences: rows by workload label, and their history. */
async function describeMismatch(
  pipeline: Pipeline,
  d: Device,
  diff: TreeDiff,
  workload: Workload,
  actual: readonly Row[],
): Promise<string> {
  const label = (id: string) => {
    const l = workload.labelOf(uuidOf(id));
    return l === undefined ? id : `${id.startsWith("defaultSyncRoot") ? "root:" : ""}${l}`;
  };
  const show = (r: Row) =>
    `${label(r.id)} (parent ${label(r.parentId)}, ${JSON.stringify(r.name)}${r.folder ? ", folder" : ""}${r.digest === undefined ? "" : `, ${r.digest.slice(0, 6)}`})`;
  const lines = [
    `${d.id}: ${diff.missing.length} missing, ${diff.extra.length} extra, ${diff.changed.length} changed; ` +
      `timeline ${d.timeline.slice(-12).join(" ")}`,
  ];
  // The topmost differences explain the others (a missing folder hides its subtree).
  const present = new Set(actual.map((r) => r.id));
  const missingIds = new Set(diff.missing.map((r) => r.id));
  const extraIds = new Set(diff.extra.map((r) => r.id));
  const missing = diff.missing.filter((r) => !missingIds.has(r.parentId));
  const extra = diff.extra.filter((r) => !extraIds.has(r.parentId));
  const involved = new Set<string>();
  const scanned = new Set<string>();
  for (const r of missing.slice(0, 4)) {
    lines.push(
      `  missing ${show(r)}${present.has(r.parentId) || r.parentId.startsWith("org.") ? "" : " (parent absent too)"}`,
    );
    involved.add(uuidOf(r.id));
    if (present.has(r.parentId) && !scanned.has(r.parentId)) {
      // Would a rescan of the parent give it now? And what did the device hear of the parent?
      scanned.add(r.parentId);
      const ids = await pipeline
        .scroll(d.user, r.parentId)
        .catch((e: Error) => [`error ${e.message}`]);
      lines.push(
        ids[0]?.startsWith("error ") === true
          ? `    scroll ${label(r.parentId)} now: ${ids[0]}`
          : `    scroll ${label(r.parentId)} now: ${ids.length} items, ${ids.includes(r.id) ? "with" : "WITHOUT"} ${label(r.id)}`,
      );
      involved.add(uuidOf(r.parentId));
      const rescans = d.changes
        .filter((e) => e.rescanned.includes(r.parentId))
        .map((e) => String(e.upperBound).slice(-9, -3));
      lines.push(`    device rescanned ${label(r.parentId)} at ${rescans.join(",") || "never"}`);
    }
  }
  for (const r of extra.slice(0, 4)) {
    lines.push(`  extra   ${show(r)}`);
    involved.add(uuidOf(r.id));
  }
  for (const c of diff.changed.slice(0, 4)) {
    lines.push(`  changed ${show(c.actual)} → expected ${show(c.expected)}`);
    involved.add(uuidOf(c.expected.id));
  }
  const short = (n: number) => String(n).slice(-9, -3);
  for (const uuid of [...involved].slice(0, 5)) {
    const l = workload.labelOf(uuid) ?? uuid;
    const history = workload.ops
      .filter((o) => o.target === l || o.destination === l || o.created === l)
      .slice(-8)
      .map(
        (o) =>
          `#${o.seq} ${o.kind}${o.target !== l && o.target ? ` ${o.target}` : ""}${o.destination ? `→${o.destination}` : ""}${o.principal ? ` ${o.principal}` : ""}${o.permission ? ` ${o.permission}` : ""}`,
      );
    const received = d.changes
      .flatMap((e) =>
        e.summary.fileSystemChanges
          .filter((c) => c.docUuid === uuid)
          .map(
            (c) =>
              `${short(e.upperBound)}:${c.eventId}${c.fileSystemItem === null ? "(null)" : `→${label(c.fileSystemItem.parentId)}`}`,
          ),
      )
      .slice(-6);
    lines.push(`  ${l}: ops ${history.join(", ") || "none"}`);
    lines.push(`    received ${received.join(", ") || "none"}`);
    // What each applied set (its folder rescans included) did to the item.
    const touched = d.changes
      .flatMap((e) => [
        ...e.upserted.filter((id) => uuidOf(id) === uuid).map(() => `${short(e.upperBound)}:up`),
        ...e.removed.filter((id) => uuidOf(id) === uuid).map(() => `${short(e.upperBound)}:rm`),
      ])
      .slice(-8);
    lines.push(`    applied ${touched.join(", ") || "none"}`);
    const trace = await pipeline.trace(d.user, uuid, (u) => workload.labelOf(u) ?? u.slice(0, 8));
    lines.push(`    events ${trace.events.slice(-16).join("; ") || "none"}`);
    lines.push(`    feed ${trace.feed.slice(-12).join("; ") || "none"}`);
  }
  return lines.join("\n");
}
