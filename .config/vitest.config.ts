// Test projects: unit (no I/O), integration (real nats-server / Kafka via testkit) and end-to-end
// (every role as a process). Packages resolve to their built dist/, so `pnpm test` builds first.
import { defineConfig } from "vitest/config";

const integrationSetup = ["packages/testkit/dist/vitest-global-setup.js"];

export default defineConfig({
  test: {
    root: new URL("..", import.meta.url).pathname,
    pool: "forks",
    // Two cores here; more workers only make the broker-backed tests slower.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["packages/*/tests/**/*.test.ts"],
          exclude: ["packages/*/tests/**/*.int.test.ts", "**/node_modules/**"],
        },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["packages/*/tests/**/*.int.test.ts"],
          globalSetup: integrationSetup,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: integrationSetup,
        },
      },
    ],
  },
});
