// test/bench/RESULTS.md: each benchmark owns one section between `<!-- name:start -->` and
// `<!-- name:end -->` and rewrites only that one, so benchmarks run alone keep the others.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Replaces the section `name` of RESULTS.md with `section` (appended when it has none yet). */
export function updateResults(name: string, section: string): void {
  // Compiled to .cache/bench/: the document lives in test/bench/ of the same checkout.
  const file = fileURLToPath(new URL("../../test/bench/RESULTS.md", import.meta.url));
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = "# Benchmarks\n\nFigures written by `node test/bench/run.mjs` (see test/bench/).\n";
  }
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${section.trimEnd()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  text =
    i >= 0 && j > i
      ? text.slice(0, i) + block + text.slice(j + end.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
}
