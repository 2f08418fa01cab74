// Provisioning: puts nats-server and the Apache Kafka broker jars into a cache folder that later
// runs reuse. Nothing is downloaded outside the ordinary package clients: nats-server is built
// with `go install` (Go module proxy) and Kafka's jars come through Maven from kafka/pom.xml.
//
// A half-finished download must never look finished: both installs write into a private temp
// location and rename it into place, and Kafka's marker file is written only after that.

import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MissingToolError, ProvisionError } from "./errors.js";
import { run } from "./processes.js";
import type { KafkaDistribution, NatsServerBinary, Provisioned } from "./types.js";

export const NATS_SERVER_VERSION = "2.12.15";
/** The oldest nats-server accepted through DRIVECAST_NATS_SERVER (per-message TTL, 2.10 APIs). */
export const NATS_SERVER_MIN_VERSION = "2.10.23";
export const KAFKA_VERSION = "4.1.1";
/** Kafka 4 needs Java 17 for the broker. */
export const JAVA_MIN_MAJOR = 17;

const POM = fileURLToPath(new URL("../kafka/pom.xml", import.meta.url));

/** `$DRIVECAST_CACHE_DIR`, else `~/.cache/drivecast`. */
export function cacheDir(): string {
  const fromEnv = process.env["DRIVECAST_CACHE_DIR"];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : join(homedir(), ".cache", "drivecast");
}

function parseVersion(text: string): [number, number, number] | undefined {
  const m = /v?(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
}

function atLeast(v: [number, number, number], min: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) {
    if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  }
  return true;
}

async function natsServerVersion(path: string): Promise<string> {
  let out;
  try {
    out = await run(path, ["--version"]);
  } catch (cause) {
    throw new ProvisionError(`cannot run ${path} --version: ${String(cause)}`, cause);
  }
  const v = parseVersion(out.output);
  if (out.code !== 0 || v === undefined) {
    throw new ProvisionError(
      `${path} --version did not print a version (exit ${out.code}): ${out.output.trim()}`,
    );
  }
  return v.join(".");
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
}

async function provisionNatsServerOnce(): Promise<NatsServerBinary> {
  const fromEnv = process.env["DRIVECAST_NATS_SERVER"];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!existsSync(fromEnv)) {
      throw new MissingToolError(
        "nats-server",
        `DRIVECAST_NATS_SERVER=${fromEnv} does not exist: point it at a nats-server >= ${NATS_SERVER_MIN_VERSION} binary, or unset it to build v${NATS_SERVER_VERSION} into the cache`,
      );
    }
    const version = await natsServerVersion(fromEnv);
    if (!atLeast(parseVersion(version)!, parseVersion(NATS_SERVER_MIN_VERSION)!)) {
      throw new MissingToolError(
        "nats-server",
        `DRIVECAST_NATS_SERVER=${fromEnv} is nats-server ${version}, older than ${NATS_SERVER_MIN_VERSION}: point it at a newer binary, or unset it to build v${NATS_SERVER_VERSION} into the cache`,
      );
    }
    return { path: fromEnv, version, source: "env" };
  }

  const dir = join(cacheDir(), `nats-server-v${NATS_SERVER_VERSION}`);
  const path = join(dir, "nats-server");
  if (existsSync(path)) {
    return { path, version: await natsServerVersion(path), source: "cache" };
  }

  try {
    const go = await run("go", ["version"]);
    if (go.code !== 0) throw new Error(go.output);
  } catch (cause) {
    throw new MissingToolError(
      "go",
      `nats-server v${NATS_SERVER_VERSION} is not in ${dir} and \`go\` is not usable (${isEnoent(cause) ? "not installed" : String(cause)}): install Go 1.24 or newer so testkit can \`go install\` it, or set DRIVECAST_NATS_SERVER to a nats-server >= ${NATS_SERVER_MIN_VERSION} binary`,
      cause,
    );
  }
  // A private GOBIN, then a rename: a concurrent or interrupted install never leaves a partial
  // binary at `path`.
  const gobin = join(dir, `.partial-${process.pid}-${Date.now()}`);
  await mkdir(gobin, { recursive: true });
  try {
    const out = await run(
      "go",
      ["install", `github.com/nats-io/nats-server/v2@v${NATS_SERVER_VERSION}`],
      { env: { ...process.env, GOBIN: gobin } },
    );
    if (out.code !== 0) {
      throw new ProvisionError(
        `go install of nats-server v${NATS_SERVER_VERSION} failed (exit ${out.code}); check Go's access to the module proxy and run \`pnpm provision\` again:\n${out.output.trim()}`,
      );
    }
    await rename(join(gobin, "nats-server"), path);
  } finally {
    await rm(gobin, { recursive: true, force: true });
  }
  return { path, version: await natsServerVersion(path), source: "installed" };
}

/** The Java major version (`java -version`), or a MissingToolError saying what to install. */
export async function javaVersion(): Promise<string> {
  let out;
  try {
    out = await run("java", ["-version"]);
  } catch (cause) {
    throw new MissingToolError(
      "java",
      `\`java\` is not installed: Apache Kafka ${KAFKA_VERSION} needs Java ${JAVA_MIN_MAJOR} or newer (e.g. apt-get install openjdk-17-jre-headless)`,
      cause,
    );
  }
  // `openjdk version "17.0.15" 2025-04-15`, or `"1.8.0_392"` for Java 8.
  const m = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(out.output);
  const major = m === null ? NaN : m[1] === "1" ? Number(m[2]) : Number(m[1]);
  if (out.code !== 0 || Number.isNaN(major) || major < JAVA_MIN_MAJOR) {
    throw new MissingToolError(
      "java",
      `Apache Kafka ${KAFKA_VERSION} needs Java ${JAVA_MIN_MAJOR} or newer, \`java -version\` says: ${out.output.trim()}`,
    );
  }
  return /version "([^"]+)"/.exec(out.output)?.[1] ?? String(major);
}

async function provisionKafkaOnce(): Promise<KafkaDistribution> {
  const dir = join(cacheDir(), `kafka-${KAFKA_VERSION}`);
  const libsDir = join(dir, "libs");
  const marker = join(dir, ".complete");
  const java = await javaVersion();
  if (existsSync(marker) && existsSync(libsDir)) {
    return { libsDir, version: KAFKA_VERSION, java, source: "cache" };
  }

  try {
    const mvn = await run("mvn", ["-B", "-q", "-version"]);
    if (mvn.code !== 0) throw new Error(mvn.output);
  } catch (cause) {
    throw new MissingToolError(
      "mvn",
      `Apache Kafka ${KAFKA_VERSION} is not in ${dir} and \`mvn\` is not usable (${isEnoent(cause) ? "not installed" : String(cause)}): install Maven 3 (e.g. apt-get install maven) so testkit can fetch the broker jars`,
      cause,
    );
  }
  const partial = join(dir, `.partial-${process.pid}-${Date.now()}`);
  await mkdir(dir, { recursive: true });
  try {
    const out = await run("mvn", [
      "-B",
      "-q",
      "-f",
      POM,
      "dependency:copy-dependencies",
      "-DincludeScope=runtime",
      `-DoutputDirectory=${partial}`,
    ]);
    if (out.code !== 0) {
      throw new ProvisionError(
        `mvn could not fetch the Apache Kafka ${KAFKA_VERSION} jars (exit ${out.code}); check Maven's access to its repository and run \`pnpm provision\` again:\n${out.output.trim()}`,
      );
    }
    const jars = (await readdir(partial)).filter((f) => f.endsWith(".jar")).sort();
    if (!jars.some((j) => j.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) {
      throw new ProvisionError(
        `mvn finished but ${partial} has no kafka_2.13-${KAFKA_VERSION}.jar; run \`pnpm provision\` again`,
      );
    }
    if (!existsSync(marker)) {
      // No marker: whatever is at libsDir is a leftover of an interrupted older install.
      await rm(libsDir, { recursive: true, force: true });
      try {
        await rename(partial, libsDir);
      } catch (err) {
        // Another process finished the same install between our check and our rename.
        if (!(await stat(libsDir).catch(() => undefined))?.isDirectory()) throw err;
      }
      await writeFile(marker, JSON.stringify({ version: KAFKA_VERSION, jars }, null, 2) + "\n");
    }
  } finally {
    await rm(partial, { recursive: true, force: true });
  }
  return { libsDir, version: KAFKA_VERSION, java, source: "installed" };
}

function memo<T>(fn: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    // A failure is not remembered: the next call tries again (network hiccup, tool installed).
    pending ??= fn().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

/**
 * The nats-server binary: DRIVECAST_NATS_SERVER if set (checked to be >= 2.10.23), else
 * v2.12.15 in the cache, built with `go install` on first use.
 */
export const provisionNatsServer: () => Promise<NatsServerBinary> = memo(provisionNatsServerOnce);

/** The Apache Kafka 4.1.1 broker jars in the cache, fetched with Maven on first use. */
export const provisionKafka: () => Promise<KafkaDistribution> = memo(provisionKafkaOnce);

/** Both servers; they are fetched one after the other (a 2-core machine builds slowly enough). */
export async function provision(): Promise<Provisioned> {
  const nats = await provisionNatsServer();
  const kafka = await provisionKafka();
  return { nats, kafka };
}
