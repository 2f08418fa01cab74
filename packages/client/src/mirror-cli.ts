#!/usr/bin/env node
// drivecast-mirror: mirrors a user's remote tree into a local folder, live, resuming after a
// restart. Usage: drivecast-mirror --url ws://host:port --token T --device D --dir PATH
import { parseArgs } from "node:util";
import { createMirror } from "./mirror.js";

const USAGE = `usage: drivecast-mirror --url <ws://host:port> --token <token> --device <id> --dir <folder>
  [--format json|msgpack] [--quiet]

Mirrors the remote tree of the token's user into <folder>: folders as directories, files as empty
placeholders with a <name>.drivecast.json sidecar (id, size, digest, digestAlgorithm). Keeps it up
to date until stopped (Ctrl-C); state in <folder>/.drivecast/state.json, so a restart resumes.`;

function fail(message: string): never {
  process.stderr.write(`drivecast-mirror: ${message}\n\n${USAGE}\n`);
  process.exit(2);
}

let values: Record<string, string | boolean | undefined>;
try {
  values = parseArgs({
    options: {
      url: { type: "string" },
      token: { type: "string" },
      device: { type: "string" },
      dir: { type: "string" },
      format: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  }).values;
} catch (err) {
  fail((err as Error).message);
}
if (values.help === true) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
for (const name of ["url", "token", "device", "dir"]) {
  if (typeof values[name] !== "string" || values[name] === "") fail(`--${name} is required`);
}
const format = values.format ?? "json";
if (format !== "json" && format !== "msgpack") fail("--format must be json or msgpack");

const quiet = values.quiet === true;
const mirror = createMirror({
  url: values.url as string,
  token: values.token as string,
  deviceId: values.device as string,
  dir: values.dir as string,
  client: { format, clientVersion: "drivecast-mirror/0.1.0" },
  log: (line) => {
    if (!quiet) process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  },
});

mirror.client.on("state", (e) => {
  if (e.state === "stopped") {
    process.stderr.write("drivecast-mirror: gave up (see the error above)\n");
    process.exit(1);
  }
});

let stopping = false;
const shutdown = (): void => {
  if (stopping) return;
  stopping = true;
  mirror.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`drivecast-mirror: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);

mirror.start().catch((err: unknown) => {
  process.stderr.write(`drivecast-mirror: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
