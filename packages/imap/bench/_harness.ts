/**
 * Shared pieces of the IMAP client benchmarks (not a benchmark itself): the real servers'
 * environment, memory readings, one child process per measured run, medians and ratios.
 */
import * as Credentials from "@starttls/core/Credentials"
import * as Redacted from "effect/Redacted"
import { ImapFlow } from "imapflow"
import { spawnSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"

export interface Env {
  readonly host: string
  readonly port: number
  readonly implicitPort: number
  readonly user: string
  readonly pass: string
  readonly ca: string
}

/** The MAILTEST_* environment of ../shared/mail-servers, or undefined (the benchmark then says so). */
export const env = (): Env | undefined => {
  const e = process.env
  if (e["MAILTEST_HOST"] === undefined || e["MAILTEST_CA"] === undefined) return undefined
  return {
    host: e["MAILTEST_HOST"],
    port: Number(e["MAILTEST_IMAP_PORT"] ?? 10143),
    implicitPort: Number(e["MAILTEST_IMAPS_PORT"] ?? 10993),
    user: e["MAILTEST_USER"] ?? "test",
    pass: e["MAILTEST_PASS"] ?? "secret",
    ca: readFileSync(e["MAILTEST_CA"], "utf8")
  }
}

export const requireEnv = (): Env => {
  const found = env()
  if (found === undefined) {
    console.log("skipped: the real servers' environment is missing (. /tmp/mailenv.sh, see shared/mail-servers)")
    process.exit(0)
  }
  return found
}

/** Resident set size now and at its peak (VmHWM), in MB. */
export const memory = (): { readonly rssMB: number; readonly peakMB: number } => {
  const status = readFileSync("/proc/self/status", "utf8")
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0)
  return { rssMB: kb("VmRSS") / 1024, peakMB: kb("VmHWM") / 1024 }
}

/** A measured run's result line. */
export type Row = Readonly<Record<string, number | string>>

let transferBase: number | undefined
let peakBefore = 0

/**
 * Marks the start of the measured transfer: records the RSS now and resets the kernel's peak-RSS
 * counter (`/proc/self/clear_refs` "5", Linux ≥ 4.0), so the peak at the end is the transfer's
 * own (connection set-up, TLS and JIT warm-up excluded). Every mode calls it at the same point.
 */
export const markTransfer = (): void => {
  peakBefore = memory().peakMB
  writeFileSync("/proc/self/clear_refs", "5")
  transferBase = memory().rssMB
}

/** Prints a child's result (one JSON line) and ends the process. */
export const emit = (row: Row): never => {
  const after = memory().peakMB
  // the process's peak: before the mark, or since
  const peak = Math.max(after, peakBefore)
  const transfer = transferBase === undefined ? {} : { transferMB: +(after - transferBase).toFixed(1) }
  process.stdout.write(`${JSON.stringify({ ...row, ...transfer, peakMB: +peak.toFixed(1) })}\n`)
  process.exit(0)
}

/** Runs `file mode` in a fresh Node process (fresh heap: its peak RSS is its own) and returns its row. */
export const child = (file: string, mode: string): Row => {
  const run = spawnSync(process.execPath, ["--expose-gc", file, mode], { encoding: "utf8", timeout: 180_000 })
  const line = run.stdout.trim().split("\n").pop() ?? ""
  if (run.status !== 0 || !line.startsWith("{")) {
    throw new Error(`${mode} failed (status ${run.status}): ${run.stderr.slice(-2000)}`)
  }
  return JSON.parse(line) as Row
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Runs every mode `rounds` times, interleaved, and returns the rows per mode. */
export const rounds = (file: string, modes: ReadonlyArray<string>, count: number): Map<string, Array<Row>> => {
  const out = new Map<string, Array<Row>>(modes.map((m) => [m, []]))
  for (let r = 0; r < count; r++) {
    for (const mode of modes) out.get(mode)!.push(child(file, mode))
  }
  return out
}

/** The median of a numeric field over rows. */
export const med = (rows: ReadonlyArray<Row>, field: string): number => median(rows.map((r) => Number(r[field])))

export const fixed = (n: number, digits = 1): string => n.toFixed(digits)

/** `ImapClient.session` options for the real server (STARTTLS, the test CA, PLAIN credentials). */
export const sessionOptions = (env: Env, port = env.port) => ({
  host: env.host,
  port,
  tls: { trustOnly: [env.ca] },
  credentials: Credentials.password({ username: env.user, password: Redacted.make(env.pass) })
})

/** An imapflow 2.10.2 client that requires STARTTLS (as the peers' harness uses it). */
export const imapflow = (env: Env, port = env.port): ImapFlow =>
  new ImapFlow({
    host: env.host,
    port,
    secure: false,
    doSTARTTLS: true,
    auth: { user: env.user, pass: env.pass },
    tls: { ca: [env.ca], servername: "localhost" },
    logger: false
  })

/** What one measured run of a fetch benchmark returns. */
export interface Timings {
  readonly connectMs: number
  readonly selectMs: number
  readonly fetchMs: number
  readonly totalMs: number
  readonly messages: number
  readonly bytes: number
}

/**
 * The entry point of a fetch benchmark: `file <mode>` measures one mode in this process and
 * prints its row; `file [rounds]` runs every mode in child processes and hands the rows to `report`.
 */
export const main = async (
  file: string,
  modes: Readonly<Record<string, (env: Env) => Promise<Timings>>>,
  defaultRounds: number,
  report: (rows: Map<string, Array<Row>>, rounds: number) => void
): Promise<void> => {
  const arg = process.argv[2]
  const env = requireEnv()
  if (arg !== undefined && Number.isNaN(Number(arg))) {
    const run = modes[arg]
    if (run === undefined) throw new Error(`unknown mode ${arg}`)
    const base = memory().rssMB
    const result = await run(env)
    emit({ mode: arg, ...result, baseMB: +base.toFixed(1) })
  }
  const count = Number(arg ?? defaultRounds)
  report(rounds(file, Object.keys(modes), count), count)
}
