// The `bench` script: runs every package's benchmarks (packages/*/bench/*.ts), one process each, in
// order, under the Node that runs this script (Node 24 from the workspace). Benchmarks that need
// the real servers read the MAILTEST_* environment of ../shared/mail-servers/real-servers.sh and
// say so when it is missing. `node scripts/bench.mjs imap` runs one package's benchmarks.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "packages")
const only = process.argv.slice(2)
let failed = 0
for (const pkg of readdirSync(root).sort()) {
  if (only.length > 0 && !only.includes(pkg)) continue
  const dir = join(root, pkg, "bench")
  if (!existsSync(dir)) continue
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.startsWith("_")).sort()) {
    console.log(`\n=== ${pkg}/bench/${file}`)
    const status = spawnSync(process.execPath, ["--expose-gc", join(dir, file)], { stdio: "inherit" }).status
    if (status !== 0) failed++
  }
}
process.exit(failed === 0 ? 0 : 1)
