/**
 * RETR of 1000 × 10 KB from the REAL Dovecot of ../shared/mail-servers (`. /tmp/mailenv.sh` first):
 * this client (STLS, CAPA over TLS, AUTH PLAIN, RETRs pipelined by `retrieveAll`, and one at a time
 * with a window of 1), yapople 0.4.10 (POP3S: it has no STLS; its own queue, one RETR at a time,
 * as ../shared/bench/peers/pop3-bench.mjs drives it), and the raw floor (`_raw.ts`: STLS, AUTH
 * PLAIN, RETRs sequential or all written at once).
 *
 *   node_modules/.bin/node packages/pop3/bench/retr-dovecot.ts [rounds]
 *
 * Every run is a fresh process (peak RSS = VmHWM; base = RSS after imports); rounds interleave the
 * modes; medians. A fresh process runs this client's code cold (the JIT has not seen it); a last
 * child therefore also alternates this client and the raw floor in one process, after a warm-up,
 * to show the steady state. "fetch" is from authenticated to the last byte of message 1000; "total" adds
 * connect, TLS and login. Every mode retrieves messages 1..1000 and ends with RSET + QUIT, so the
 * shared mailbox keeps its flags. Each mode checks the bytes it got (10,240,000).
 *
 * Not measured: what a consumer does with the messages; the server's first-read disk cost (a
 * warm-up run precedes the rounds).
 */
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { performance } from "node:perf_hooks"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Raw from "./_raw.ts"

const env = process.env
const COUNT = 1000
const ids = Array.from({ length: COUNT }, (_, i) => i + 1)
const MODES = ["ours-pipelined", "ours-sequential", "yapople", "raw-sequential", "raw-pipelined"] as const
type Mode = (typeof MODES)[number]

interface Result {
  readonly mode: Mode
  readonly connectMs: number
  readonly fetchMs: number
  readonly n: number
  readonly bytes: number
}

const target = (): Raw.Target => ({
  host: env["MAILTEST_HOST"]!,
  port: Number(env["MAILTEST_POP3_PORT"]),
  ca: readFileSync(env["MAILTEST_CA"]!, "utf8"),
  servername: env["MAILTEST_SERVERNAME"] ?? "localhost",
  user: env["MAILTEST_USER"] ?? "test",
  pass: env["MAILTEST_PASS"] ?? "secret"
})

const ours = (window: number): Promise<Omit<Result, "mode">> => {
  const t = target()
  return Effect.runPromise(
    Effect.gen(function*() {
      const t0 = performance.now()
      const pop3 = yield* Pop3Client.session({
        host: t.host,
        port: t.port,
        tls: { trustOnly: [t.ca] },
        credentials: Credentials.password({ username: t.user, password: Redacted.make(t.pass) })
      })
      const t1 = performance.now()
      let bytes = 0
      let n = 0
      yield* Stream.runForEach(Pop3Client.retrieveAll(pop3, ids, { window }), (m) =>
        Effect.sync(() => {
          bytes += m.bytes.length
          n++
        }))
      const fetchMs = performance.now() - t1
      yield* Pop3Client.rset(pop3)
      yield* Pop3Client.quit(pop3)
      return { connectMs: t1 - t0, fetchMs, n, bytes }
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
  )
}

interface Yapople {
  connect(): Promise<void>
  retrieve(ids: ReadonlyArray<number>): Promise<ReadonlyArray<Buffer | string | undefined>>
  rset(): Promise<void>
  disconnect(): Promise<void>
}

const yapople = async (): Promise<Omit<Result, "mode">> => {
  const t = target()
  const { Client } = createRequire(import.meta.url)("yapople") as {
    Client: new(options: Record<string, unknown>) => Yapople
  }
  const t0 = performance.now()
  const client = new Client({
    host: t.host,
    port: Number(env["MAILTEST_POP3S_PORT"]),
    tls: true,
    username: t.user,
    password: t.pass,
    mailparser: false,
    options: { ca: [t.ca], servername: t.servername }
  })
  await client.connect()
  const t1 = performance.now()
  const messages = await client.retrieve(ids)
  const fetchMs = performance.now() - t1
  const got = messages.filter((m) => m !== undefined)
  // yapople drops each body's final CRLF: add it back so the byte counts compare.
  const bytes = got.reduce((sum, m) => sum + Buffer.byteLength(m!) + 2, 0)
  await client.rset()
  await client.disconnect()
  return { connectMs: t1 - t0, fetchMs, n: got.length, bytes }
}

/** In one process, after a warm-up round: median fetch times, warm, of ours and the raw floor. */
const warm = async (rounds: number) => {
  const times: Record<string, Array<number>> = { "ours-pipelined": [], "raw-sequential": [], "raw-pipelined": [] }
  for (let r = 0; r <= rounds; r++) {
    const ours256 = (await ours(256)).fetchMs
    const seq = (await Raw.rawRetr(target(), ids, false, true)).fetchMs
    const pipe = (await Raw.rawRetr(target(), ids, true, true)).fetchMs
    if (r === 0) continue
    times["ours-pipelined"]!.push(ours256)
    times["raw-sequential"]!.push(seq)
    times["raw-pipelined"]!.push(pipe)
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Raw.median(v)]))
}

const runMode = (mode: Mode): Promise<Omit<Result, "mode">> => {
  switch (mode) {
    case "ours-pipelined":
      return ours(256)
    case "ours-sequential":
      return ours(1)
    case "yapople":
      return yapople()
    case "raw-sequential":
      return Raw.rawRetr(target(), ids, false, true)
    case "raw-pipelined":
      return Raw.rawRetr(target(), ids, true, true)
  }
}

const main = async () => {
  if (env["MAILTEST_HOST"] === undefined) {
    console.log("retr-dovecot: skipped (no MAILTEST_* environment: run `. /tmp/mailenv.sh` first)")
    return
  }
  const rounds = Number(process.argv[2] ?? 5)
  const file = new URL(import.meta.url).pathname
  for (const mode of MODES) await Raw.child(file, ["--child", mode]) // warm-up
  const results = new Map<Mode, Array<Record<string, unknown>>>(MODES.map((m) => [m, []]))
  for (let r = 0; r < rounds; r++) {
    for (const mode of MODES) results.get(mode)!.push(await Raw.child(file, ["--child", mode]))
  }
  const med = (mode: Mode, key: string) => Raw.median(results.get(mode)!.map((x) => Number(x[key])))
  const floor = med("raw-sequential", "fetchMs")
  const widths = [17, 14, 14, 14, 12, 14]
  console.log(`RETR ${COUNT} × 10 KB from Dovecot, ${rounds} rounds, medians (ratio = fetch / raw sequential fetch)`)
  console.log(Raw.row(["mode", "fetch ms", "total ms", "ratio", "bytes", "peak-base MB"], widths))
  for (const mode of MODES) {
    const fetch = med(mode, "fetchMs")
    console.log(Raw.row([
      mode,
      fetch.toFixed(1),
      (fetch + med(mode, "connectMs")).toFixed(1),
      `${(fetch / floor).toFixed(2)}×`,
      med(mode, "bytes"),
      (med(mode, "peakMB") - med(mode, "baseMB")).toFixed(1)
    ], widths))
  }
  const ratio = med("ours-pipelined", "fetchMs") / floor
  console.log(`goal: ours-pipelined ≤ 0.45× raw sequential → ${ratio.toFixed(2)}× ${ratio <= 0.45 ? "(met)" : "(NOT met)"} (cold)`)
  const steady = await Raw.child(file, ["--warm", String(rounds)])
  const w = (key: string) => Number(steady[key])
  console.log(
    `warm, in one process (${rounds} rounds after a warm-up): ours-pipelined ${w("ours-pipelined").toFixed(1)} ms, ` +
      `raw-sequential ${w("raw-sequential").toFixed(1)} ms, raw-pipelined ${w("raw-pipelined").toFixed(1)} ms → ` +
      `${(w("ours-pipelined") / w("raw-sequential")).toFixed(2)}× raw sequential, ` +
      `${(w("ours-pipelined") / w("raw-pipelined")).toFixed(2)}× raw pipelined`
  )
}

if (process.argv[2] === "--warm") {
  warm(Number(process.argv[3] ?? 5)).then((r) => {
    console.log(JSON.stringify(r))
    process.exit(0)
  }, (error) => {
    console.error(error)
    process.exit(1)
  })
} else if (process.argv[2] === "--child") {
  const mode = process.argv[3] as Mode
  // yapople keeps the stuffed dots (RFC 1939 §3), so its byte count is a few bytes over.
  Raw.childMain(mode, () => runMode(mode), (r) => r.n === COUNT && (mode === "yapople" || r.bytes === COUNT * 10240))
} else {
  Raw.parentMain(main)
}
