/**
 * One 50 MB message streamed by RETR: time and peak memory of this client's `retrieve` stream
 * against the raw floor (`_raw.ts`, STLS + AUTH PLAIN, a line scanner that counts the bytes and drops
 * them). Goals: ≤ 1.2× the raw time, ≤ +16 MB peak RSS over the process's baseline.
 *
 *   node_modules/.bin/node packages/pop3/bench/retr-50mb.ts [rounds]
 *
 * The server is the testkit's `Pop3Server` (STLS, real TLS with the testkit certificates) on a
 * loopback TCP port in a process of its own, so the client processes hold no copy of the message:
 * Dovecot's 50 MB message is in the IMAP-only "Big" mailbox, and adding one to the shared INBOX
 * would disturb other tests. Every client run is a fresh process (peak RSS = VmHWM, base = RSS
 * after imports); rounds interleave the modes; medians. Node allocates a fresh buffer per decrypted
 * read; a dropped one is freed only by the next young-generation collection, and V8's young
 * generation has already grown (to 16 MB semi-spaces, during start-up) before the transfer, so a
 * 100 ms transfer sees almost none (--trace-gc: one scavenge) and the dropped reads pile up; the
 * "semi1" runs cap the young generation with `--max-semi-space-size=1` to show that.
 *
 * Modes: `ours` = `Pop3Client.retrieve` (a Stream: chunks the consumer drops are freed by the
 * next collection, which a fast transfer with V8's default young generation outruns), `lent` =
 * `Pop3Client.retrieveEach` (lent chunks, released as soon as the callback is done with them),
 * `raw` = the floor. "transfer peak - base" resets the peak right before RETR (`Raw.markTransfer`).
 *
 * Not measured: what a consumer does with the bytes (every mode counts and drops them).
 */
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Certificates from "@starttls/testkit/Certificates"
import * as LoopbackServer from "@starttls/testkit/LoopbackServer"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { spawn } from "node:child_process"
import { performance } from "node:perf_hooks"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Raw from "./_raw.ts"

const SIZE = 50 * 1024 * 1024
const MODES = ["ours", "lent", "raw"] as const
type Mode = (typeof MODES)[number]
/** Runs: each mode under Node's default flags, then with a 1 MB young-generation semi-space. */
const RUNS = [
  { name: "ours", mode: "ours", flags: [] },
  { name: "lent", mode: "lent", flags: [] },
  { name: "raw", mode: "raw", flags: [] },
  { name: "ours/semi1", mode: "ours", flags: ["--max-semi-space-size=1"] },
  { name: "raw/semi1", mode: "raw", flags: ["--max-semi-space-size=1"] }
] as const
type Run = (typeof RUNS)[number]["name"]

const bigMessage = (): Uint8Array => {
  const line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghijklmnopqrstu\r\n"
  const body = `Subject: 50 MB\r\n\r\n${line.repeat(Math.ceil(SIZE / line.length))}.leading dot\r\n`
  return Buffer.from(body)
}

const serve = Effect.gen(function*() {
  const server = yield* Pop3Server.make({ users: { test: { password: "secret", messages: [bigMessage()] } } })
  const loopback = yield* LoopbackServer.make(server.handler)
  console.log(JSON.stringify({ port: loopback.port, size: server.maildrop("test")[0]!.size }))
  return yield* Effect.never
}).pipe(Effect.scoped)

const ours = (port: number, lent: boolean) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const t0 = performance.now()
      const pop3 = yield* Pop3Client.session({
        host: "127.0.0.1",
        port,
        tls: { trustOnly: [Certificates.ca.cert] },
        credentials: Credentials.password({ username: "test", password: Redacted.make("secret") })
      })
      Raw.markTransfer()
      const t1 = performance.now()
      let bytes = 0
      const count = (chunk: Uint8Array) =>
        Effect.sync(() => {
          bytes += chunk.length
        })
      yield* lent ? Pop3Client.retrieveEach(pop3, 1, count) : Stream.runForEach(Pop3Client.retrieve(pop3, 1), count)
      const fetchMs = performance.now() - t1
      yield* Pop3Client.quit(pop3)
      return { connectMs: t1 - t0, fetchMs, n: 1, bytes }
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
  )

const raw = (port: number) =>
  Raw.rawRetr(
    { host: "127.0.0.1", port, ca: Certificates.ca.cert, servername: "localhost", user: "test", pass: "secret" },
    [1],
    false,
    false
  )

const startServer = (file: string) =>
  new Promise<{ readonly port: number; readonly size: number; readonly stop: () => void }>((resolve, reject) => {
    const proc = spawn(process.execPath, [file, "--server"], { stdio: ["ignore", "pipe", "inherit"] })
    proc.on("error", reject)
    proc.stdout.once("data", (d: Buffer) => {
      const info = JSON.parse(d.toString("utf8").trim().split("\n")[0]!) as { port: number; size: number }
      resolve({ ...info, stop: () => proc.kill() })
    })
  })

const main = async () => {
  const rounds = Number(process.argv[2] ?? 5)
  const file = new URL(import.meta.url).pathname
  const server = await startServer(file)
  try {
    const args = (mode: Mode) => ["--child", mode, String(server.port), String(server.size)]
    for (const run of RUNS) await Raw.child(file, args(run.mode), run.flags)
    const results = new Map<Run, Array<Record<string, unknown>>>(RUNS.map((r) => [r.name, []]))
    for (let r = 0; r < rounds; r++) {
      for (const run of RUNS) results.get(run.name)!.push(await Raw.child(file, args(run.mode), run.flags))
    }
    const med = (run: Run, key: string) => Raw.median(results.get(run)!.map((x) => Number(x[key])))
    const growth = (run: Run) => Raw.median(results.get(run)!.map((x) => Number(x["peakMB"]) - Number(x["baseMB"])))
    const transfer = (run: Run) =>
      Raw.median(results.get(run)!.map((x) => Number(x["transferPeakMB"]) - Number(x["transferBaseMB"])))
    const widths = [12, 12, 10, 12, 12, 16, 22]
    console.log(`RETR of one ${(server.size / 1e6).toFixed(1)} MB message, streamed, ${rounds} rounds, medians`)
    console.log(Raw.row(["run", "fetch ms", "ratio", "base MB", "peak MB", "peak - base MB", "transfer peak - base"], widths))
    for (const run of RUNS) {
      const floor = run.name.endsWith("semi1") ? "raw/semi1" : "raw"
      console.log(Raw.row([
        run.name,
        med(run.name, "fetchMs").toFixed(1),
        `${(med(run.name, "fetchMs") / med(floor, "fetchMs")).toFixed(2)}×`,
        med(run.name, "baseMB").toFixed(1),
        med(run.name, "peakMB").toFixed(1),
        growth(run.name).toFixed(1),
        transfer(run.name).toFixed(1)
      ], widths))
    }
    const met = (ok: boolean) => (ok ? "(met)" : "(NOT met)")
    for (const run of ["ours", "lent"] as const) {
      const ratio = med(run, "fetchMs") / med("raw", "fetchMs")
      console.log(`goals, ${run === "ours" ? "retrieve (Stream)" : "retrieveEach (lent chunks)"}, default flags: ` +
        `≤ 1.2× raw → ${ratio.toFixed(2)}× ${met(ratio <= 1.2)}; ` +
        `≤ +16 MB peak RSS → +${growth(run).toFixed(1)} MB ${met(growth(run) <= 16)}`)
    }
    console.log(`(retrieve with --max-semi-space-size=1: +${growth("ours/semi1").toFixed(1)} MB)`)
  } finally {
    server.stop()
  }
}

const [, , flag, mode, port, size] = process.argv
if (flag === "--server") {
  Effect.runPromise(serve).catch((error) => {
    console.error(error)
    process.exit(1)
  })
} else if (flag === "--child") {
  Raw.childMain(mode ?? "", () => (mode === "raw" ? raw(Number(port)) : ours(Number(port), mode === "lent")), (r) => r.bytes === Number(size))
} else {
  Raw.parentMain(main)
}
