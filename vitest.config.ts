import { defineConfig } from "vitest/config";

// One root config: workspace packages resolve to their TypeScript sources through the
// "falgate-source" export condition, so tests never run against a stale dist/.
export default defineConfig({
  resolve: { conditions: ["falgate-source"] },
  ssr: { resolve: { conditions: ["falgate-source"], externalConditions: ["falgate-source"] } },
  test: {
    include: [
      "packages/*/test/**/*.test.ts",
      "apps/*/test/**/*.test.ts",
      "docs/test/**/*.test.ts",
      "scripts/test/**/*.test.ts",
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    reporters: ["default", "./scripts/vitest-summary.ts"],
  },
});
