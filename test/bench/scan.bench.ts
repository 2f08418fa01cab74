// Remote scan of 100,000 descendants: the scroll (changeset scroll service behind NATS, as a
// gateway asks it) against the recursive per-folder listing a Drive client without scroll does
// (`ecm:parentId = …` per folder), on the same nuxeo-sim tree over REST. Prints items/s, Nuxeo
// requests and the documents Nuxeo rendered for each, and updates "Remote scan" in RESULTS.md.
//
// nuxeo-sim evaluates every NXQL query by scanning its whole repository (no indexes), so wall
// times here are mostly the simulator's; the request and rendered-document counts are what a real
// Nuxeo would see. The simulator runs in a child process, so this process's CPU time is the
// scanning side's own: for the scroll, the scroll service, the gateway-side requests and the
// Nuxeo client; for the baseline, the Nuxeo client.
//
// `node .cache/bench/scan.bench.js [runs]` (default 3); run through `node test/bench/run.mjs scan`.
import { fork } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import { connectNatsBus } from "@drivecast/bus";
import { createNuxeoClient, type NuxeoClient } from "@drivecast/nuxeo";
import { createSimulator, startRestServer } from "@drivecast/nuxeo-sim";
import {
  msgpackCodec,
  Names,
  shardOf,
  type ScrollDescendantsReply,
  type ScrollDescendantsRequest,
} from "@drivecast/protocol";
import { startNatsServer } from "@drivecast/testkit";
import { createScrollService } from "@drivecast/changeset";
import { updateResults } from "./results.js";

const DESCENDANTS = 100_000;
const BATCH = 1000;
const SIM_ARG = "--simulator";
const RUNS = Number(process.argv[2] === SIM_ARG ? 0 : (process.argv[2] ?? 3));
const SHARDS = 8;

interface Counted {
  client: NuxeoClient;
  /** Requests, documents in answers, ms waiting for answers, since the last reset. */
  stats(): { requests: number; documents: number; nuxeoMs: number };
  reset(): void;
}

function countedClient(baseUrl: string): Counted {
  let requests = 0;
  let nuxeoMs = 0;
  let documents = 0;
  const client = createNuxeoClient({
    baseUrl,
    auth: { kind: "basic", user: "Administrator", password: "Administrator" },
    timeoutMs: 120_000,
    onRequest: (_kind, ms) => {
      requests++;
      nuxeoMs += ms;
    },
  });
  // Count the documents in the answers: what Nuxeo rendered (with its acls/breadcrumb enrichers).
  const query = client.query.bind(client);
  client.query = async (nxql, options) => {
    const page = await query(nxql, options);
    documents += page.entries.length;
    return page;
  };
  return {
    client,
    stats: () => ({ requests, documents, nuxeoMs }),
    reset: () => {
      requests = 0;
      documents = 0;
      nuxeoMs = 0;
    },
  };
}

/** ws → 10 × 10 × 10 folders (1,110) → 98 or 99 files each: 100,000 descendants. */
async function buildTree() {
  const sim = createSimulator({ auditLogLimit: 10 });
  await sim.createGroup("team", { members: [] });
  sim.createUser("alice", { groups: ["team"] });
  const ws = await sim.createWorkspace(sim.workspacesUid, "scan");
  await sim.grant(ws.uid, "team", "ReadWrite");
  let n = 0;
  let leaves = 0;
  for (let a = 0; a < 10; a++) {
    const fa = await sim.createFolder(ws.uid, `a${a}`);
    n++;
    for (let b = 0; b < 10; b++) {
      const fb = await sim.createFolder(fa.uid, `b${b}`);
      n++;
      for (let c = 0; c < 10; c++) {
        const fc = await sim.createFolder(fb.uid, `c${c}`);
        n++;
        const files = leaves++ < 890 ? 99 : 98;
        for (let f = 0; f < files; f++, n++)
          await sim.createFile(fc.uid, `file ${f}.txt`, { content: `${a}/${b}/${c}/${f}` });
      }
    }
  }
  if (n !== DESCENDANTS) throw new Error(`built ${n} descendants, not ${DESCENDANTS}`);
  await sim.registerRoot("alice", ws.uid);
  return { sim, ws: ws.uid };
}

/** The child process: builds the tree, serves it, tells the parent where; exits with it. */
async function simulatorProcess(): Promise<void> {
  const t0 = performance.now();
  const { sim, ws } = await buildTree();
  const rest = await startRestServer(sim);
  const info: SimInfo = {
    url: rest.url,
    ws,
    groups: sim.user("alice")!.extendedGroups,
    roots: sim.rootsOf("alice"),
    buildMs: performance.now() - t0,
  };
  process.send!(info);
  process.on("disconnect", () => process.exit(0));
}

interface SimInfo {
  url: string;
  ws: string;
  groups: string[];
  roots: string[];
  buildMs: number;
}

function startSimulator(): Promise<{ info: SimInfo; stop(): void }> {
  const child = fork(fileURLToPath(import.meta.url), [SIM_ARG], { stdio: "inherit" });
  return new Promise((resolve, reject) => {
    child.once("message", (info) =>
      resolve({ info: info as SimInfo, stop: () => child.disconnect() }),
    );
    child.once("exit", (code) => reject(new Error(`the simulator process exited (${code})`)));
  });
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Run {
  ms: number;
  requests: number;
  documents: number;
  nuxeoMs: number;
  items: number;
  cpuMs: number;
  firstMs?: number;
  maxReply?: number;
  heldBytes?: number;
}

async function main(): Promise<void> {
  const simulator = await startSimulator();
  const { ws } = simulator.info;
  console.log(`tree: ${DESCENDANTS} descendants built in ${simulator.info.buildMs.toFixed(0)} ms`);
  const nats = await startNatsServer();
  const workerBus = await connectNatsBus({ servers: nats.url });
  const gatewayBus = await connectNatsBus({ servers: nats.url });
  const names = new Names({ prefix: "", subjectPrefix: "" });
  const nuxeo = countedClient(simulator.info.url);
  const scroll = createScrollService({
    bus: workerBus,
    names,
    nuxeo: nuxeo.client,
    roots: (user) =>
      user === "alice"
        ? simulator.info.roots.map((uid: string) => ({ repository: "default", uid }))
        : [],
  });
  for (let s = 0; s < SHARDS; s++) scroll.serveShard(s);
  await workerBus.flush();
  const reqCodec = msgpackCodec<ScrollDescendantsRequest>();
  const replyCodec = msgpackCodec<ScrollDescendantsReply>();
  const subject = names.rpcSubject(shardOf("alice", SHARDS));
  const rootId = `defaultSyncRootFolderItemFactory#default#${ws}`;

  async function scrollScan(): Promise<Run> {
    nuxeo.reset();
    const cpu = process.cpuUsage();
    const start = performance.now();
    let scrollId: string | null = null;
    let items = 0;
    let firstMs = 0;
    let maxReply = 0;
    let heldBytes = 0;
    for (;;) {
      const request: ScrollDescendantsRequest = {
        type: "scrollDescendants",
        user: "alice",
        groups: simulator.info.groups,
        isAdministrator: false,
        id: rootId,
        scrollId,
        batchSize: BATCH,
        keepAliveMs: 60_000,
      };
      const raw = await gatewayBus.request(subject, reqCodec.encode(request), 300_000);
      maxReply = Math.max(maxReply, raw.length);
      const reply = replyCodec.decode(raw);
      if (scrollId === null) firstMs = performance.now() - start;
      heldBytes = Math.max(heldBytes, scroll.stats().bytes);
      scrollId = reply.scrollId;
      if (reply.fileSystemItems.length === 0) break;
      items += reply.fileSystemItems.length;
    }
    const ms = performance.now() - start;
    return { ms, ...nuxeo.stats(), items, cpuMs: cpuMs(cpu), firstMs, maxReply, heldBytes };
  }

  async function recursiveScan(): Promise<Run> {
    nuxeo.reset();
    const cpu = process.cpuUsage();
    const start = performance.now();
    let items = 0;
    // Breadth-first, one folder at a time, as Drive's remote watcher walks a tree.
    const folders = [ws];
    while (folders.length > 0) {
      const parent = folders.shift()!;
      const nxql =
        `SELECT * FROM Document WHERE ecm:parentId = '${parent}' AND ecm:isTrashed = 0` +
        ` AND ecm:isVersion = 0 AND ecm:mixinType != 'HiddenInNavigation'`;
      for await (const page of nuxeo.client.queryAll(nxql, 1000)) {
        for (const d of page.entries) {
          items++;
          if (d.snapshot.facets.includes("Folderish")) folders.push(d.snapshot.uid);
        }
      }
    }
    return { ms: performance.now() - start, ...nuxeo.stats(), items, cpuMs: cpuMs(cpu) };
  }

  const scrolls: Run[] = [];
  const baselines: Run[] = [];
  for (let r = 0; r < RUNS; r++) {
    const s = await scrollScan();
    if (s.items !== DESCENDANTS) throw new Error(`scroll returned ${s.items} items`);
    scrolls.push(s);
    const b = await recursiveScan();
    if (b.items !== DESCENDANTS) throw new Error(`recursive listing found ${b.items} documents`);
    baselines.push(b);
    console.log(
      `run ${r + 1}: scroll ${s.ms.toFixed(0)} ms (first call ${s.firstMs!.toFixed(0)} ms, ` +
        `${s.requests} requests), recursive ${b.ms.toFixed(0)} ms (${b.requests} requests)`,
    );
  }

  const row = (label: string, runs: Run[]) => {
    const ms = median(runs.map((r) => r.ms));
    const first =
      runs[0]!.firstMs === undefined
        ? "–"
        : (median(runs.map((r) => r.firstMs!)) / 1000).toFixed(1);
    return (
      `| ${label} | ${Math.round((DESCENDANTS / ms) * 1000)} | ${(ms / 1000).toFixed(1)} | ${first} | ` +
      `${runs[0]!.requests} | ${runs[0]!.documents} | ` +
      `${(median(runs.map((r) => r.nuxeoMs)) / 1000).toFixed(1)} | ` +
      `${(median(runs.map((r) => r.cpuMs)) / 1000).toFixed(2)} |`
    );
  };
  const s0 = scrolls[0]!;
  const lines = [
    "## Remote scan",
    "",
    `\`node test/bench/run.mjs scan\` — ${new Date().toISOString().slice(0, 10)}, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
      `Node ${process.version}; median of ${RUNS} runs.`,
    "",
    `Full remote scan of one sync root holding ${DESCENDANTS.toLocaleString("en")} descendants ` +
      "(1,110 folders, 98–99 files each), nuxeo-sim over REST, scroll requests over NATS in " +
      `batches of ${BATCH}.`,
    "",
    "| scan | items/s | wall s | first batch s | Nuxeo requests | documents Nuxeo rendered | Nuxeo answer time s | scanning side CPU s |",
    "|---|---|---|---|---|---|---|---|",
    row("scroll (`ecm:ancestorId`, pages of 1000)", scrolls),
    row("recursive per-folder listing (`ecm:parentId`)", baselines),
    "",
    `- Scroll: the listing runs in the background while batches go out (a batch waits at most ` +
      `5 s for the listing); largest reply ${(s0.maxReply! / 1024).toFixed(0)} KiB (NATS ` +
      `max_payload 1 MiB); the open scroll held at most ${(s0.heldBytes! / 2 ** 20).toFixed(1)} MiB ` +
      `(${Math.round(s0.heldBytes! / DESCENDANTS)} bytes an item, estimate).`,
    "- Nuxeo answer time: the sum of the request durations the Nuxeo client saw (the scroll's " +
      "listing overlaps with its batches). Scanning side CPU: this process, the simulator runs " +
      "in another.",
    "- nuxeo-sim finds the candidates of `ecm:ancestorId`, `ecm:parentId` and `ecm:uuid` " +
      "conditions from its tree, but evaluates a query's whole result (permission checks " +
      "included) for every page it serves, so each page of the scroll's listing costs " +
      "O(descendants) here, unlike Nuxeo's indexed, paged queries: compare the request and " +
      "document counts, and read wall times as the simulator's.",
    "- The recursive listing builds no items (a Drive client gets them from Nuxeo); the scroll " +
      "builds every item for the user (ACL checks, ids, paths).",
    "",
  ];
  const text = lines.join("\n");
  console.log(`\n${text}`);

  updateResults("scan", text);

  scroll.close();
  await gatewayBus.close();
  await workerBus.close();
  await nats.stop();
  simulator.stop();
}

if (process.argv[2] === SIM_ARG) await simulatorProcess();
else await main();
