/**
 * SMTP reply parsing throughput: `SmtpProtocol.makeReplyParser` against nodemailer's full reply
 * path, on the shared parsebench SMTP streams (`../shared/bench/parsebench/gen-smtp.mjs`, seed 7).
 *
 *   node_modules/.bin/node packages/smtp/bench/reply-parse.ts
 *
 * `SMTP_BENCH_VERBOSE=1` prints every timed run; `SMTP_GEN` overrides the generator's path. The
 * streams are generated once into `$TMPDIR/starttls-smtp-bench/`.
 *
 * One process, in order:
 *   (a) ours on the full stream (21.6 MB, 830,854 replies), 64 KiB and 16 KiB chunks;
 *   (b) nodemailer's `SMTPConnection#_onData` + `_processResponse` (its real reply path: one
 *       `setImmediate` per reply, each reply handed to a queued per-command action) on the small
 *       stream (2.3 MB, 89,057 replies; the full stream takes minutes there, PARSE.md);
 *   (c) ours on the small stream, synchronously and with one macrotask turn per chunk (as a
 *       socket delivers them), 8 passes per timed run (a fresh parser each), then the ratios;
 *   (d) linearity: our time per reply on 1/4, 1/2 and all of the full stream (a timed run goes
 *       over the 1/4 prefix 4 times and the 1/2 prefix twice, with a fresh parser each time).
 *
 * Every run is verified against the generator's `.json` (reply and multi-line counts): a parser
 * that drops or mis-frames a reply fails the bench instead of producing a number. Each figure is
 * the median of 7 timed runs after 3 verified warm-up runs, `gc()` before each run; the fastest
 * run is printed next to it (the machine is shared: medians move by tens of percent).
 *
 * Not measured: sockets, TLS, the Effect runtime (the client's per-batch hand-off). Chunks are
 * views of one in-memory buffer. The machine is shared: single runs move by tens of percent.
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Result from "effect/Result"
import * as SmtpProtocol from "../src/SmtpProtocol.ts"

interface Meta {
  readonly replies: number
  readonly multiline: number
  readonly totalBytes: number
}

interface Stream {
  readonly bytes: Buffer
  readonly meta: Meta
}

interface Counts {
  readonly replies: number
  readonly multiline: number
}

const RUNS = 7
const WARMUPS = 3

const collect: () => void = (() => {
  const exposed: unknown = Reflect.get(globalThis, "gc")
  if (typeof exposed === "function") return () => void Reflect.apply(exposed, undefined, [])
  v8.setFlagsFromString("--expose-gc")
  const gc: unknown = vm.runInNewContext("gc")
  return typeof gc === "function" ? () => void Reflect.apply(gc, undefined, []) : () => undefined
})()

// ---------------------------------------------------------------------------------------------
// Streams

const generator = process.env["SMTP_GEN"] ??
  fileURLToPath(new URL("../../../../shared/bench/parsebench/gen-smtp.mjs", import.meta.url))

const load = (name: string, transactions: number): Stream => {
  const dir = join(tmpdir(), "starttls-smtp-bench")
  const file = join(dir, name)
  if (!existsSync(file) || !existsSync(file + ".json")) {
    mkdirSync(dir, { recursive: true })
    execFileSync(process.execPath, [generator, file, String(transactions), "7"], { stdio: "ignore" })
  }
  const bytes = readFileSync(file)
  const meta: Meta = JSON.parse(readFileSync(file + ".json", "utf8"))
  if (meta.totalBytes !== bytes.length) throw new Error(`${file}: size does not match its .json`)
  return { bytes, meta }
}

const split = (bytes: Uint8Array, size: number): ReadonlyArray<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, Math.min(i + size, bytes.length)))
  return chunks
}

// The prefix of `bytes` up to the last line end before `fraction` of its length.
const prefix = (bytes: Buffer, fraction: number): Buffer => bytes.subarray(0, bytes.lastIndexOf(10, Math.floor(bytes.length * fraction)) + 1)

// ---------------------------------------------------------------------------------------------
// Parsers under test

interface Tally {
  replies: number
  multiline: number
}

const feed = (parser: SmtpProtocol.ReplyParser, chunk: Uint8Array, tally: Tally) => {
  const result = parser.push(chunk)
  if (Result.isFailure(result)) throw new Error(`parse failed: ${result.failure.message}`)
  for (const reply of result.success) {
    tally.replies++
    if (reply.lines.length > 1) tally.multiline++
  }
}

const ours = (chunks: ReadonlyArray<Uint8Array>): Counts => {
  const parser = SmtpProtocol.makeReplyParser()
  const tally: Tally = { replies: 0, multiline: 0 }
  for (const chunk of chunks) feed(parser, chunk, tally)
  return tally
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

const oursSocketLike = async (chunks: ReadonlyArray<Uint8Array>): Promise<Counts> => {
  const parser = SmtpProtocol.makeReplyParser()
  const tally: Tally = { replies: 0, multiline: 0 }
  for (const chunk of chunks) {
    await nextTurn()
    feed(parser, chunk, tally)
  }
  return tally
}

// nodemailer's SMTPConnection internals this harness drives (dist/cjs/smtp-connection/index.js).
interface NodemailerConnection {
  _responseActions: Array<(this: NodemailerConnection, str: string) => void>
  readonly _responseQueue: ReadonlyArray<unknown>
  readonly _responsePartial: boolean
  _onData(chunk: Uint8Array): void
}
type NodemailerConnectionClass = new (options: { readonly logger: object }) => NodemailerConnection

const require = createRequire(import.meta.url)
const SMTPConnection: NodemailerConnectionClass = require("nodemailer/lib/smtp-connection")

const silent = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
  child: () => silent,
  level: "silent"
}

// A chunk goes into `_onData` on its own macrotask turn; the next chunk follows once nodemailer
// has worked through the complete replies it holds (a server answers commands, it does not
// flood). Each reply is consumed by an action that queues the next action, as each sent command
// does, so both queues stay short.
const nodemailer = (chunks: ReadonlyArray<Uint8Array>, expected: number): Promise<Counts> =>
  new Promise((resolve, reject) => {
    const connection = new SMTPConnection({ logger: silent })
    let replies = 0
    let multiline = 0
    const action = (str: string) => {
      replies++
      if (str.includes("\n")) multiline++
      if (replies === expected) resolve({ replies, multiline })
      else connection._responseActions.push(action)
    }
    connection._responseActions = [action]
    const feed = async () => {
      for (const chunk of chunks) {
        connection._onData(chunk)
        do await nextTurn()
        while (connection._responseQueue.length > (connection._responsePartial ? 1 : 0))
      }
      if (replies !== expected) reject(new Error(`nodemailer returned ${replies} of ${expected} replies`))
    }
    feed().catch(reject)
  })

// ---------------------------------------------------------------------------------------------
// Measurement

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const verify = (name: string, counts: Counts, expected: Counts) => {
  if (counts.replies !== expected.replies || counts.multiline !== expected.multiline) {
    throw new Error(
      `${name}: got ${counts.replies} replies (${counts.multiline} multi-line), want ${expected.replies} (${expected.multiline})`
    )
  }
}

// `passes`: how many times one timed run goes over the stream (a fresh parser each time, every pass
// verified), so that a run of a fast parser on a small stream lasts long enough (tens of ms) not to
// be decided by a scheduler hiccup on a shared machine. Times are per pass.
const measure = async (
  name: string,
  run: () => Counts | Promise<Counts>,
  expected: Counts,
  passes = 1
): Promise<Timing> => {
  for (let i = 0; i < WARMUPS; i++) verify(name, await run(), expected)
  const times: Array<number> = []
  for (let i = 0; i < RUNS; i++) {
    collect()
    const start = performance.now()
    for (let pass = 0; pass < passes; pass++) verify(name, await run(), expected)
    times.push((performance.now() - start) / passes)
  }
  if (process.env["SMTP_BENCH_VERBOSE"] !== undefined) console.log(`  runs (ms): ${times.map((t) => t.toFixed(1)).join(" ")}`)
  return { median: median(times), best: Math.min(...times) }
}

interface Timing {
  readonly median: number
  readonly best: number
}

interface Speed {
  /** MB/s of the median run. */
  readonly median: number
  /** MB/s of the fastest run (less sensitive to other processes on a shared machine). */
  readonly best: number
}

// Prints one row.
const record = (what: string, bytes: number, replies: number, timing: Timing): Speed => {
  const mbps = bytes / 1e3 / timing.median
  console.log(
    `${what.padEnd(56)} ${mbps.toFixed(0).padStart(5)} MB/s ${timing.median.toFixed(1).padStart(7)} ms ${
      ((timing.median * 1e3) / replies).toFixed(3).padStart(6)
    } µs/reply   (best ${(bytes / 1e3 / timing.best).toFixed(0)} MB/s)`
  )
  return { median: mbps, best: bytes / 1e3 / timing.best }
}

// ---------------------------------------------------------------------------------------------

const benchStart = performance.now()
console.log(`Node ${process.version}; median of ${RUNS} runs after ${WARMUPS} verified warm-up runs\n`)
const full = load("smtp-replies.bin", 150_000)
const small = load("smtp-replies-small.bin", 16_000)
console.log(
  `full stream ${(full.bytes.length / 1e6).toFixed(1)} MB, ${full.meta.replies} replies; small stream ${(small.bytes.length / 1e6).toFixed(1)} MB, ${small.meta.replies} replies\n`
)

const full64 = split(full.bytes, 64 * 1024)
const full16 = split(full.bytes, 16 * 1024)
const small64 = split(small.bytes, 64 * 1024)

const row = async (
  what: string,
  stream: Stream,
  run: () => Counts | Promise<Counts>,
  passes?: number
): Promise<Speed> => record(what, stream.bytes.length, stream.meta.replies, await measure(what, run, stream.meta, passes))

const oursFull64 = await row("(a) ours, full stream, 64 KiB chunks", full, () => ours(full64))
const oursFull16 = await row("(a) ours, full stream, 16 KiB chunks", full, () => ours(full16))
const nodemailerSmall = await row(
  "(b) nodemailer _onData + _processResponse, small, 64 KiB",
  small,
  () => nodemailer(small64, small.meta.replies)
)
const oursSmall = await row("(c) ours, small stream, 64 KiB chunks (x8 per run)", small, () => ours(small64), 8)
const oursSmallTurns = await row(
  "(c) ours, small, one macrotask turn per chunk (x8 per run)",
  small,
  () => oursSocketLike(small64),
  8
)

const ratio = (what: string, a: Speed, b: Speed) =>
  console.log(`  ${what.padEnd(44)} ${(a.median / b.median).toFixed(1).padStart(5)}x   (best/best ${(a.best / b.best).toFixed(1)}x)`)
console.log("\nratios against nodemailer's full path (goal >= 15x), medians:")
ratio("ours small / nodemailer small", oursSmall, nodemailerSmall)
ratio("ours small (turn per chunk) / nodemailer", oursSmallTurns, nodemailerSmall)
ratio("ours full 64 KiB / nodemailer small", oursFull64, nodemailerSmall)
ratio("ours full 16 KiB / nodemailer small", oursFull16, nodemailerSmall)

console.log("\n(d) linearity, ours, 64 KiB chunks, ~21.6 MB per timed run (time per reply should stay flat):")
const perReply: Array<number> = []
for (const fraction of [0.25, 0.5, 1]) {
  const bytes = fraction === 1 ? full.bytes : prefix(full.bytes, fraction)
  const chunks = split(bytes, 64 * 1024)
  const expected = ours(chunks)
  const timing = await measure(`ours ${fraction}`, () => ours(chunks), expected, Math.round(1 / fraction))
  record(`    ${fraction === 1 ? "all" : `1/${1 / fraction}`} of the full stream`, bytes.length, expected.replies, timing)
  perReply.push(timing.median / expected.replies)
}
const growth = perReply[2]! / perReply[0]!
console.log(`  time per reply, all / (1/4): ${growth.toFixed(2)} (${growth < 1.5 ? "linear" : "NOT linear"})`)
console.log(`\ndone in ${((performance.now() - benchStart) / 1e3).toFixed(1)} s`)
