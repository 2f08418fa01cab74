#!/usr/bin/env node
// Runs the benchmarks: compiles test/bench/*.bench.ts, then runs each as its own process, one at
// a time (they measure; running two at once on a 2-core machine would measure each other).
// `node test/bench/run.mjs ingest` runs only the files whose name contains "ingest".
// Each benchmark prints its figures and updates its section of test/bench/RESULTS.md.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, "..", "..");
const out = join(repo, ".cache", "bench");
const filter = process.argv[2] ?? "";

execFileSync(
  process.execPath,
  [join(repo, "node_modules", "typescript", "bin", "tsc"), "-p", here],
  {
    stdio: "inherit",
  },
);
const benches = readdirSync(here)
  .filter((f) => f.endsWith(".bench.ts") && f.includes(filter))
  .sort();
if (benches.length === 0) {
  console.error(`no benchmark matches "${filter}"`);
  process.exit(1);
}
// Node flags a benchmark runs with: those the README recommends for the role it measures
// (the changeset and gateway benchmarks start their servers with their own flags).
const NODE_FLAGS = { "ingest.bench.ts": ["--max-semi-space-size=64"] };
let failed = 0;
for (const file of benches) {
  console.log(`\n== ${file}`);
  const script = join(out, file.replace(/\.ts$/, ".js"));
  const res = spawnSync(process.execPath, [...(NODE_FLAGS[file] ?? []), script], {
    stdio: "inherit",
    cwd: repo,
  });
  if (res.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
