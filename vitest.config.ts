import { defineConfig } from "vitest/config"

// Integration tests talk to real Dovecot/Postfix started by .ci/run (../shared/mail-servers/real-servers.sh).
// They run only when that script's environment (MAILTEST_*) is present, and one file at a time: they share
// one real mailbox (SMTP tests deliver into the INBOX that the POP3 and IMAP tests list).
const integration = process.env["MAILTEST_HOST"] !== undefined
const integrationFiles = "packages/*/test/**/*.integration.test.ts"

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          // scripts/demo.test.ts: `pnpm demo` (the main job) as a test
          include: ["packages/*/test/**/*.test.ts", "scripts/**/*.test.ts"],
          exclude: ["**/node_modules/**", integrationFiles],
          typecheck: {
            enabled: true,
            include: ["packages/*/test/**/*.test-d.ts"],
            tsconfig: "./tsconfig.json"
          }
        }
      },
      ...(integration
        ? [{
          extends: true as const,
          test: {
            name: "integration",
            include: [integrationFiles],
            fileParallelism: false
          }
        }]
        : [])
    ]
  }
})
