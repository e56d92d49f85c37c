// Generates packages/*/src/index.ts: one `export * as Module from "./Module.ts"` line per PascalCase
// module. `--check` exits 1 when a barrel is out of date (run by the test command).
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const root = join(import.meta.dirname, "..", "packages")
const check = process.argv.includes("--check")
// --from-index: list only the modules staged in git (for committing part of a working tree).
const fromIndex = process.argv.includes("--from-index")
const staged = fromIndex
  ? new Set(execFileSync("git", ["ls-files", "--cached", "packages"], { encoding: "utf8" }).split("\n"))
  : undefined
let stale = []
for (const pkg of readdirSync(root)) {
  const src = join(root, pkg, "src")
  let files
  try {
    files = readdirSync(src)
  } catch {
    continue
  }
  const modules = files
    .filter((f) => /^[A-Z][A-Za-z0-9]*\.ts$/.test(f))
    .filter((f) => staged === undefined || staged.has(`packages/${pkg}/src/${f}`))
    .map((f) => f.slice(0, -3))
    .sort()
  const body = "// @barrel: Auto-generated exports (scripts/barrels.mjs). Do not edit manually.\n" +
    (modules.length === 0 ? "export {}\n" : modules.map((m) => `export * as ${m} from "./${m}.ts"\n`).join(""))
  const file = join(src, "index.ts")
  let current = ""
  try {
    current = readFileSync(file, "utf8")
  } catch {
    current = ""
  }
  if (current !== body) {
    if (check) stale.push(file)
    else writeFileSync(file, body)
  }
}
if (stale.length > 0) {
  console.error(`barrels out of date (run node scripts/barrels.mjs): ${stale.join(", ")}`)
  process.exit(1)
}
