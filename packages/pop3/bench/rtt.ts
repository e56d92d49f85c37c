/**
 * Round trips from TCP connect to authenticated, counted through the testkit's delaying `Proxy`
 * (50 ms each way: one round trip = 100 ms):
 *
 * - `ours named`: `session` with `authenticate: { mechanisms: ["PLAIN"] }`: greeting, STLS, TLS,
 *   AUTH PLAIN with an initial response right after the handshake (CAPA over TLS when first needed);
 * - `ours`: `session` with the mechanism chosen from CAPA over TLS (greeting, STLS, TLS, CAPA,
 *   AUTH PLAIN);
 * - `raw`: the raw floor (`_raw.ts`: STLS, TLS, AUTH PLAIN, no CAPA).
 *
 * Goal: ≤ 4.0 (floor 3.8).
 *
 *   node_modules/.bin/node packages/pop3/bench/rtt.ts [runs]
 *
 * Against the real Dovecot STLS port when the MAILTEST_* environment is present, else against the
 * testkit's `Pop3Server` on a loopback port. Two figures per client: client turns (`Proxy.clientTurns`:
 * a client write that follows a server write; the TLS Finished and the first command go out
 * together) and elapsed time ÷ RTT (the proxy accepts locally, so the greeting costs half a round
 * trip, as in ../shared/mail-servers/README.md §5).
 *
 * Not measured: DNS and the TCP handshake to a real remote host (add one round trip).
 */
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Certificates from "@starttls/testkit/Certificates"
import * as LoopbackServer from "@starttls/testkit/LoopbackServer"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { readFileSync } from "node:fs"
import { performance } from "node:perf_hooks"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Raw from "./_raw.ts"

const DELAY = 50
const RTT = 2 * DELAY
const env = process.env

interface Measure {
  readonly turns: number
  readonly rtts: number
}

/** A target: the real Dovecot, or the testkit server on a loopback port. */
const target = Effect.gen(function*() {
  if (env["MAILTEST_HOST"] !== undefined) {
    return {
      name: `Dovecot ${env["MAILTEST_HOST"]}:${env["MAILTEST_POP3_PORT"]}`,
      port: Number(env["MAILTEST_POP3_PORT"]),
      ca: readFileSync(env["MAILTEST_CA"]!, "utf8"),
      user: env["MAILTEST_USER"] ?? "test",
      pass: env["MAILTEST_PASS"] ?? "secret"
    }
  }
  const server = yield* Pop3Server.make()
  const loopback = yield* LoopbackServer.make(server.handler)
  return { name: "testkit Pop3Server", port: loopback.port, ca: Certificates.ca.cert, user: "test", pass: "secret" }
})

type Target = Effect.Success<typeof target>

/** Runs `login` through a fresh delaying proxy; counts client turns until it reported success. */
const measure = (t: Target, login: (port: number) => Effect.Effect<number, unknown>) =>
  Effect.scoped(Effect.gen(function*() {
    const proxy = yield* Proxy.start({ targetPort: t.port, delayMs: DELAY })
    const ms = yield* login(proxy.port)
    const session = proxy.sessions[0]!
    const result: Measure = { turns: Proxy.clientTurns(session, ms + DELAY / 2), rtts: ms / RTT }
    return result
  }))

const ours = (t: Target, named: boolean) => (port: number) =>
  Effect.scoped(Effect.gen(function*() {
    const t0 = performance.now()
    yield* Pop3Client.session({
      host: "127.0.0.1",
      port,
      tls: { trustOnly: [t.ca] },
      credentials: Credentials.password({ username: t.user, password: Redacted.make(t.pass) }),
      ...(named ? { authenticate: { mechanisms: ["PLAIN"] } } : {})
    })
    const ms = performance.now() - t0
    // Stay connected a moment, so that closing is not counted as a turn.
    yield* Effect.sleep(3 * DELAY)
    return ms
  })).pipe(Effect.provide(NodeTransport.layer))

const raw = (t: Target) => (port: number) =>
  Effect.promise(async () => {
    const login = await Raw.rawLogin({ host: "127.0.0.1", port, ca: t.ca, servername: "localhost", user: t.user, pass: t.pass })
    await new Promise((r) => setTimeout(r, 3 * DELAY))
    login.close()
    return login.ms
  })

const program = Effect.scoped(Effect.gen(function*() {
  const runs = Number(process.argv[2] ?? 3)
  const t = yield* target
  const results: Record<string, Array<Measure>> = { "ours named": [], ours: [], raw: [] }
  for (let i = 0; i < runs; i++) {
    results["ours named"]!.push(yield* measure(t, ours(t, true)))
    results["ours"]!.push(yield* measure(t, ours(t, false)))
    results["raw"]!.push(yield* measure(t, raw(t)))
  }
  console.log(`TCP connect → authenticated via a ${DELAY} ms/direction proxy, ${t.name}, ${runs} runs`)
  const widths = [12, 14, 44]
  console.log(Raw.row(["client", "client turns", "elapsed ÷ RTT (runs)"], widths))
  for (const [name, list] of Object.entries(results)) {
    console.log(Raw.row([
      name,
      Raw.median(list.map((m) => m.turns)),
      `${Raw.median(list.map((m) => m.rtts)).toFixed(2)} (${list.map((m) => m.rtts.toFixed(2)).join(", ")})`
    ], widths))
  }
  for (const name of ["ours named", "ours"]) {
    const turns = Raw.median(results[name]!.map((m) => m.turns))
    const elapsed = Raw.median(results[name]!.map((m) => m.rtts))
    console.log(
      `${name}: goal ≤ 4.0: client turns ${turns} ${turns <= 4 ? "(met)" : "(NOT met)"}; elapsed ` +
        `${elapsed.toFixed(2)} RTT ${elapsed <= 4 ? "(met)" : "(NOT met)"}`
    )
  }
  console.log(
    "`ours` waits for the CAPA re-query over TLS (S4, RFC 2595 §4) before choosing the mechanism (S11); " +
      "`ours named` sends the caller's mechanism right after the handshake and asks CAPA over TLS later."
  )
}))

Effect.runPromise(program).then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
