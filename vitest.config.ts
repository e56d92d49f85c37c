import { defineConfig } from "vitest/config"

// Integration tests talk to real Dovecot/Postfix started by .ci/run (../shared/mail-servers/real-servers.sh).
// They run only when that script's environment (MAILTEST_*) is present.
const integration = process.env["MAILTEST_HOST"] !== undefined

export default defineConfig({
  test: {
    include: integration
      ? ["packages/*/test/**/*.test.ts"]
      : ["packages/*/test/**/*.test.ts"],
    exclude: integration ? ["**/node_modules/**"] : ["**/node_modules/**", "**/*.integration.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    typecheck: {
      include: ["packages/*/test/**/*.test-d.ts"],
      tsconfig: "./tsconfig.json"
    }
  }
})
