/**
 * 1000 small messages on ONE connection to the real Postfix submission port (STARTTLS + AUTH
 * PLAIN), side by side in one process:
 *
 *   raw         a hand-written floor, as ../shared/bench/peers/smtp-bench.mjs `raw-pipe`: net+tls,
 *               MAIL+RCPT+DATA pipelined in one write, then the dot-stuffed body (2 round trips
 *               per message), no parsing beyond the reply code
 *   raw-bdat    the same floor with CHUNKING: MAIL+RCPT+BDAT LAST+data in one write
 *   ours        `Smtp.session` + `Smtp.send` per message (BDAT: MAIL+RCPT+BDAT LAST+data in one
 *               write, 1 round trip per message)
 *   ours-data   the same with `transfer: "DATA"` (the raw floor's exact exchange)
 *   nodemailer  pool, maxConnections 1, prebuilt raw message (`nm-pool1-raw`)
 *
 *   . /tmp/mailenv.sh && node_modules/.bin/node packages/smtp/bench/send.ts [N] [rounds]
 *
 * Rounds interleave the clients (in a rotating order); each figure is the median over rounds,
 * ratios are to the raw floor's median (`BENCH_ONLY=ours` runs one client). Time runs from before the TCP connect to the last final reply (setup included:
 * TCP + STARTTLS + AUTH and Postfix's ~40 ms post-STARTTLS stall, README gotcha 6). The recipient
 * is `sink@example.com`, which Postfix discards (the mailbox does not grow). The machine is shared
 * by client and server (2 cores): compare ratios, not absolute times.
 *
 * Not measured: MIME composition (every client sends the same prebuilt bytes).
 */
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Credentials from "@starttls/core/Credentials"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { readFileSync } from "node:fs"
import * as NodeNet from "node:net"
import * as NodeTls from "node:tls"
import { performance } from "node:perf_hooks"
import nodemailer from "nodemailer"
import * as Smtp from "../src/SmtpClient.ts"

const env = process.env
if (env["MAILTEST_HOST"] === undefined || env["MAILTEST_CA"] === undefined) {
  console.log("send.ts: needs the real servers (. /tmp/mailenv.sh); skipped")
  process.exit(0)
}
const HOST = env["MAILTEST_HOST"]
const PORT = Number(env["MAILTEST_SUBMISSION_PORT"] ?? 10587)
const USER = env["MAILTEST_USER"] ?? "test"
const PASS = env["MAILTEST_PASS"] ?? "secret"
const CA = readFileSync(env["MAILTEST_CA"], "utf8")
const N = Number(process.argv[2] ?? 1000)
const ROUNDS = Number(process.argv[3] ?? 4)

const TEXT = "Hello,\n\nthis is a small benchmark message of a few hundred bytes. ".repeat(3) + "\n"
const rawMessage = (i: number) =>
  `From: sender@localhost\r\nTo: sink@example.com\r\nSubject: bench ${i}\r\nMessage-ID: <bench-${i}-${process.pid}@localhost>\r\nDate: ${
    new Date().toUTCString()
  }\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${TEXT.replace(/\n/g, "\r\n")}`
const messages = Array.from({ length: N }, (_, i) => rawMessage(i))
const messageBytes = messages.map((m) => new TextEncoder().encode(m))

interface Run {
  readonly ms: number
  readonly ok: number
}

/** The floor: one connection, MAIL+RCPT+DATA pipelined, then the body; reply codes only. */
const raw = (): Promise<Run> => rawWith("DATA")

/** The same floor with CHUNKING: MAIL+RCPT+BDAT LAST+data in one write (1 round trip). */
const rawBdat = (): Promise<Run> => rawWith("BDAT")

const rawWith = (transfer: "DATA" | "BDAT"): Promise<Run> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    let socket: NodeNet.Socket | NodeTls.TLSSocket = NodeNet.connect(PORT, HOST)
    let buffer = ""
    let step = "greeting"
    let pending = 0
    let sent = 0
    let ok = 0
    const send = (s: string) => socket.write(s)
    const next = () => {
      pending = 3
      if (transfer === "BDAT") {
        step = "bdat"
        const body = messageBytes[sent]!
        return send(`MAIL FROM:<sender@localhost>\r\nRCPT TO:<sink@example.com>\r\nBDAT ${body.length} LAST\r\n${messages[sent]!}`)
      }
      step = "envelope"
      send("MAIL FROM:<sender@localhost>\r\nRCPT TO:<sink@example.com>\r\nDATA\r\n")
    }
    const onReply = (code: number, line: string) => {
      switch (step) {
        case "greeting":
          step = "ehlo"
          return send("EHLO bench.local\r\n")
        case "ehlo":
          step = "starttls"
          return send("STARTTLS\r\n")
        case "starttls":
          socket.removeListener("data", onData)
          socket = NodeTls.connect({ socket, ca: [CA], servername: "localhost" }, () => {
            step = "ehlo2"
            send("EHLO bench.local\r\n")
          })
          socket.on("data", onData)
          socket.on("error", reject)
          return
        case "ehlo2":
          step = "auth"
          return send(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString("base64")}\r\n`)
        case "auth":
          if (code !== 235) return reject(new Error(line))
          return next()
        case "envelope":
          if (--pending === 0) {
            if (code !== 354) return reject(new Error(line))
            step = "data"
            send(messages[sent]!.replace(/^\./gm, "..") + ".\r\n")
          }
          return
        case "bdat":
          if (--pending > 0) return
          if (code === 250) ok++
          if (++sent < N) return next()
          step = "quit"
          resolve({ ms: performance.now() - t0, ok })
          return send("QUIT\r\n")
        case "data":
          if (code === 250) ok++
          if (++sent < N) return next()
          step = "quit"
          resolve({ ms: performance.now() - t0, ok })
          return send("QUIT\r\n")
        case "quit":
          socket.end()
      }
    }
    const onData = (data: Buffer) => {
      buffer += data.toString("latin1")
      let i
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        if (line[3] === "-") continue
        onReply(Number(line.slice(0, 3)), line)
      }
    }
    socket.on("data", onData)
    socket.on("error", reject)
  })

const ours = (transfer: "BDAT" | "DATA"): Promise<Run> => {
  const credentials = Credentials.password({ username: USER, password: Redacted.make(PASS) })
  const program = Effect.gen(function*() {
    const t0 = performance.now()
    const smtp = yield* Smtp.session({
      host: HOST,
      port: PORT,
      clientName: "bench.local",
      tls: { trustOnly: [CA] },
      credentials
    })
    let ok = 0
    for (const bytes of messageBytes) {
      const result = yield* Smtp.send(smtp, { from: "sender@localhost", to: ["sink@example.com"] }, bytes, { transfer })
      if (result.code === 250) ok++
    }
    const ms = performance.now() - t0
    yield* Smtp.close(smtp)
    return { ms, ok }
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
  return Effect.runPromise(program)
}

const nm = async (): Promise<Run> => {
  const t0 = performance.now()
  const transport = nodemailer.createTransport({
    host: HOST,
    port: PORT,
    secure: false,
    requireTLS: true,
    auth: { user: USER, pass: PASS },
    tls: { ca: [CA], servername: "localhost" },
    pool: true,
    maxConnections: 1,
    maxMessages: Infinity
  })
  let ok = 0
  for (const raw of messages) {
    const r = await transport.sendMail({ envelope: { from: "sender@localhost", to: ["sink@example.com"] }, raw })
    if (/^250 /.test(r.response)) ok++
  }
  const ms = performance.now() - t0
  transport.close()
  return { ms, ok }
}

const allClients: ReadonlyArray<readonly [string, () => Promise<Run>]> = [
  ["raw", raw],
  ["raw-bdat", rawBdat],
  ["ours", () => ours("BDAT")],
  ["ours-data", () => ours("DATA")],
  ["nodemailer", nm]
]

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const only = env["BENCH_ONLY"]
const clients = only === undefined ? allClients : allClients.filter(([name]) => name === only)
const times = new Map<string, Array<number>>(clients.map(([name]) => [name, []]))
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order: Postfix's queue manager lags behind bursts, which would favour the first.
  for (const [name, run] of [...clients.slice(round % clients.length), ...clients.slice(0, round % clients.length)]) {
    const r = await run()
    if (r.ok !== N) throw new Error(`${name}: ${r.ok}/${N} accepted`)
    times.get(name)!.push(r.ms)
  }
}
const floor = median(times.get("raw") ?? [Number.NaN])
console.log(`SMTP send: ${N} messages on one connection (STARTTLS + AUTH PLAIN), Postfix ${HOST}:${PORT}, ${ROUNDS} rounds`)
console.log("client       median ms   per msg   ratio to raw   runs")
for (const [name] of clients) {
  const ts = times.get(name)!
  const m = median(ts)
  console.log(
    `${name.padEnd(12)} ${m.toFixed(0).padStart(9)}   ${(m / N).toFixed(2).padStart(7)}   ${(m / floor).toFixed(2).padStart(12)}×   ${ts.map((t) => t.toFixed(0)).join(" ")}`
  )
}
