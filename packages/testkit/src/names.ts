import { randomBytes } from "node:crypto";
import { createServer } from "node:net";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

/**
 * `${prefix}_${10 random letters/digits}`: valid as a JetStream stream or consumer name, a KV
 * bucket, a Kafka topic and a NATS subject token, and unique enough that tests never collide.
 */
export function randomName(prefix: string): string {
  if (!/^[A-Za-z0-9_]*$/.test(prefix)) {
    throw new TypeError(
      `randomName prefix ${JSON.stringify(prefix)} may only hold letters, digits and underscores`,
    );
  }
  const bytes = randomBytes(10);
  let suffix = "";
  // 256 % 36 skews a few letters slightly; irrelevant for uniqueness at 10 characters.
  for (const b of bytes) suffix += ALPHABET[b % ALPHABET.length];
  return prefix === "" ? suffix : `${prefix}_${suffix}`;
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it). Another process may take
 * it before you bind it, so callers that can retry should.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
