// The test command: type-check everything, run type tests and runtime tests, print "N passed, N failed".
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const bin = (name) => join(import.meta.dirname, "..", "node_modules", ".bin", name)
const run = (cmd, args) => spawnSync(cmd, args, { stdio: "inherit", env: process.env }).status ?? 1

let passed = 0
let failed = 0

console.log(`node ${process.version}`)
console.log("== barrels up to date")
if (run(process.execPath, [join(import.meta.dirname, "barrels.mjs"), "--check"]) === 0) passed++
else failed++

console.log("== tsc --noEmit (all packages, sources and tests)")
if (run(bin("tsc"), ["-p", "tsconfig.json", "--noEmit"]) === 0) passed++
else failed++

const out = join(mkdtempSync(join(tmpdir(), "starttls-test-")), "vitest.json")
console.log("== vitest (runtime tests + *.test-d.ts type tests)")
const extra = process.argv.slice(2)
const status = run(bin("vitest"), [
  "run", "--typecheck", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...extra
])
try {
  const report = JSON.parse(readFileSync(out, "utf8"))
  passed += report.numPassedTests
  failed += report.numFailedTests
  if (status !== 0 && report.numFailedTests === 0) failed++ // suite-level failure (e.g. an import error)
} catch {
  failed++
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
