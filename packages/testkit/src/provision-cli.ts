// `pnpm provision`: makes sure nats-server and the Kafka broker jars are in the cache, says what
// it found or installed, and exits non-zero with the reason when it cannot.

import { cacheDir, provisionKafka, provisionNatsServer } from "./provision.js";

const verb = { env: "using", cache: "found", installed: "installed" } as const;

async function main(): Promise<void> {
  console.log(`testkit: cache ${cacheDir()}`);
  let started = Date.now();
  const nats = await provisionNatsServer();
  console.log(
    `testkit: ${verb[nats.source]} nats-server ${nats.version} at ${nats.path}${nats.source === "env" ? " (DRIVECAST_NATS_SERVER)" : ""} (${Date.now() - started} ms)`,
  );
  started = Date.now();
  const kafka = await provisionKafka();
  console.log(
    `testkit: ${verb[kafka.source]} Apache Kafka ${kafka.version} in ${kafka.libsDir}, java ${kafka.java} (${Date.now() - started} ms)`,
  );
}

main().catch((err: unknown) => {
  console.error(
    `testkit: provisioning failed: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exitCode = 1;
});
