/**
 * Round trips, counted through the testkit's delaying proxy (50 ms each way = 100 ms RTT, as in
 * ../shared/mail-servers/README.md §5) in front of the real Postfix submission port:
 *
 *   1. TCP connect → authenticated (greeting, EHLO, STARTTLS, TLS, EHLO, AUTH PLAIN with initial
 *      response): time ÷ RTT and the client's turns, for ours, nodemailer (`verify()`, which also
 *      stops once authenticated) and a hand-written raw floor. The reference: floor 5.7 RTT,
 *      nodemailer 5.8 (README §5; the proxy accepts locally, so the greeting costs half a round trip,
 *      and Postfix's ~40 ms post-STARTTLS stall, gotcha 6, adds ~0.4).
 *   2. Per message on an open session: ours with CHUNKING (MAIL+RCPT+BDAT LAST+data in one flight:
 *      1 RTT), ours with DATA, and nodemailer (both 2 RTT: the envelope flight, then the data).
 *
 *   . /tmp/mailenv.sh && node_modules/.bin/node packages/smtp/bench/rtt.ts
 */
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { readFileSync } from "node:fs"
import * as NodeNet from "node:net"
import { performance } from "node:perf_hooks"
import * as NodeTls from "node:tls"
import nodemailer from "nodemailer"
import * as Smtp from "../src/SmtpClient.ts"

const env = process.env
if (env["MAILTEST_HOST"] === undefined || env["MAILTEST_CA"] === undefined) {
  console.log("rtt.ts: needs the real servers (. /tmp/mailenv.sh); skipped")
  process.exit(0)
}
const CA = readFileSync(env["MAILTEST_CA"], "utf8")
const TARGET = Number(env["MAILTEST_SUBMISSION_PORT"] ?? 10587)
const USER = env["MAILTEST_USER"] ?? "test"
const PASS = env["MAILTEST_PASS"] ?? "secret"
const DELAY = 50
const RTT = 2 * DELAY
const MESSAGES = 4
const message = "From: sender@localhost\r\nTo: sink@example.com\r\nSubject: rtt\r\n\r\nhello\r\n"

/** The floor: greeting, EHLO, STARTTLS, TLS, EHLO, AUTH PLAIN with initial response. */
const rawAuth = (port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    let socket: NodeNet.Socket | NodeTls.TLSSocket = NodeNet.connect(port, "127.0.0.1")
    let buffer = ""
    let step = 0
    const onLine = (line: string) => {
      if (line[3] === "-") return
      switch (step++) {
        case 0:
          return socket.write("EHLO bench.local\r\n")
        case 1:
          return socket.write("STARTTLS\r\n")
        case 2:
          socket.removeListener("data", onData)
          socket = NodeTls.connect({ socket, ca: [CA], servername: "localhost" }, () => socket.write("EHLO bench.local\r\n"))
          socket.on("data", onData)
          return
        case 3:
          return socket.write(`AUTH PLAIN ${Buffer.from(`\0${USER}\0${PASS}`).toString("base64")}\r\n`)
        case 4:
          if (!line.startsWith("235")) return reject(new Error(line))
          resolve(performance.now() - t0)
          socket.end("QUIT\r\n")
      }
    }
    const onData = (data: Buffer) => {
      buffer += data.toString("latin1")
      let i
      while ((i = buffer.indexOf("\r\n")) >= 0) {
        onLine(buffer.slice(0, i))
        buffer = buffer.slice(i + 2)
      }
    }
    socket.on("data", onData)
    socket.on("error", reject)
  })

const transport = (port: number) =>
  nodemailer.createTransport({
    host: "127.0.0.1",
    port,
    secure: false,
    requireTLS: true,
    auth: { user: USER, pass: PASS },
    tls: { ca: [CA], servername: "localhost" }
  })

const credentials = Credentials.password({ username: USER, password: Redacted.make(PASS) })

const program = Effect.gen(function*() {
  const proxy = yield* Proxy.start({ targetPort: TARGET, delayMs: DELAY })
  const rows: Array<readonly [string, number, number]> = []
  const lastSession = () => proxy.sessions[proxy.sessions.length - 1]!

  // 1. connect → authenticated, 3 rounds (the first of each client warms its code up)
  const auth = new Map<string, Array<readonly [number, number]>>()
  const record = (name: string, ms: number) => {
    const list = auth.get(name) ?? []
    list.push([ms, Proxy.clientTurns(lastSession(), ms)])
    auth.set(name, list)
  }
  let smtp: Smtp.SmtpConnection<"Authenticated"> | undefined
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now()
    const session = yield* Smtp.session({ host: "127.0.0.1", port: proxy.port, clientName: "bench.local", tls: { trustOnly: [CA] }, credentials })
    record("ours (Smtp.session)", performance.now() - t0)
    if (smtp === undefined) smtp = session
    else yield* Smtp.close(session)
    record("raw floor", yield* Effect.promise(() => rawAuth(proxy.port)))
    const nm = transport(proxy.port)
    const n0 = performance.now()
    yield* Effect.promise(() => nm.verify())
    record("nodemailer verify()", performance.now() - n0)
    nm.close()
  }
  for (const [name, list] of auth) {
    const sorted = [...list].sort((a, b) => a[0] - b[0])
    rows.push([name, sorted[1]![0], sorted[1]![1]])
  }

  // 2. per message on the open session
  const perMessage: Array<readonly [string, number]> = []
  for (const transfer of ["BDAT", "DATA"] as const) {
    const start = performance.now()
    for (let i = 0; i < MESSAGES; i++) {
      yield* Smtp.send(smtp!, { from: "sender@localhost", to: ["sink@example.com"] }, message, { transfer })
    }
    perMessage.push([`ours, ${transfer}`, (performance.now() - start) / MESSAGES])
  }
  yield* Smtp.close(smtp!)

  const pooled = nodemailer.createTransport({
    host: "127.0.0.1",
    port: proxy.port,
    secure: false,
    requireTLS: true,
    auth: { user: USER, pass: PASS },
    tls: { ca: [CA], servername: "localhost" },
    pool: true,
    maxConnections: 1
  })
  yield* Effect.promise(() => pooled.sendMail({ envelope: { from: "sender@localhost", to: ["sink@example.com"] }, raw: message }))
  const p0 = performance.now()
  for (let i = 0; i < MESSAGES; i++) {
    yield* Effect.promise(() => pooled.sendMail({ envelope: { from: "sender@localhost", to: ["sink@example.com"] }, raw: message }))
  }
  perMessage.push(["nodemailer pool", (performance.now() - p0) / MESSAGES])
  pooled.close()

  console.log(`SMTP round trips through a ${DELAY} ms-each-way proxy (RTT ${RTT} ms) to Postfix :${TARGET}`)
  console.log("connect → authenticated (median of 3)   ms     RTT   client turns")
  for (const [name, ms, turns] of rows) {
    console.log(`${name.padEnd(35)} ${ms.toFixed(0).padStart(6)}   ${(ms / RTT).toFixed(1).padStart(5)}   ${turns ?? ""}`)
  }
  console.log(`per message (mean of ${MESSAGES})                 ms     RTT`)
  for (const [name, ms] of perMessage) console.log(`${name.padEnd(35)} ${ms.toFixed(0).padStart(6)}   ${(ms / RTT).toFixed(1).padStart(5)}`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

await Effect.runPromise(program)
