// Lint rules. The role boundary is enforced here: ingest, changeset and gateway meet only through
// @drivecast/protocol and @drivecast/bus (and call Nuxeo through @drivecast/nuxeo).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const roles = ["ingest", "changeset", "gateway"];

function roleBoundary(role) {
  const others = roles.filter((r) => r !== role);
  return {
    files: [`packages/${role}/src/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: others
            .flatMap((o) => [
              {
                group: [`@drivecast/${o}`, `@drivecast/${o}/*`],
                message: `roles never import each other (${role} → ${o}); meet through protocol and bus`,
              },
              {
                group: [`**/${o}/src/*`, `../../${o}/*`],
                message: `roles never import each other (${role} → ${o})`,
              },
            ])
            .concat([
              {
                group: ["@drivecast/nuxeo-sim", "@drivecast/testkit", "@drivecast/drivecast"],
                message:
                  "production code never imports the simulator, the testkit or the composition package",
              },
            ]),
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", ".cache/**", "**/*.d.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        setImmediate: "readonly",
        URL: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        fetch: "readonly",
        AbortController: "readonly",
        AbortSignal: "readonly",
        queueMicrotask: "readonly",
        btoa: "readonly",
        atob: "readonly",
        WebSocket: "readonly",
        performance: "readonly",
      },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
      ],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  ...roles.map(roleBoundary),
  {
    files: ["packages/*/src/**/*.ts"],
    ignores: ["packages/*/src/main.ts", "packages/testkit/**"],
    rules: {
      "no-restricted-properties": [
        "error",
        {
          object: "process",
          property: "env",
          message: "only src/main.ts reads the environment; inject config",
        },
      ],
    },
  },
);
