// What testkit's vitest global setup provides to tests. Importing anything from
// @drivecast/testkit brings this augmentation along, so `inject("kafkaBrokers")` is typed.

// Pulls vitest into the program; without it tsc rejects the augmentation (TS2664).
import type {} from "vitest";

/** The values `inject()` returns in the integration and e2e projects. */
export interface TestkitProvidedContext {
  /** `["127.0.0.1:<port>"]`: the Kafka broker started once for the whole vitest run. */
  kafkaBrokers: string[];
}

declare module "vitest" {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging
  export interface ProvidedContext extends TestkitProvidedContext {}
}
