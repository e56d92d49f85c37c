/**
 * Round trips from TCP connect to authenticated, through the testkit's delaying proxy
 * (`Proxy.start`, 50 ms each way: one round trip = 100 ms) in front of the real Dovecot's STARTTLS
 * port. The proxy accepts locally, so the greeting costs half a round trip (as in
 * ../shared/mail-servers/README.md §5, where the raw floor measured 3.8 and imapflow 7.1).
 *
 * - `ours pipelined`: `ImapClient.session` with `authenticate: { mechanisms: ["PLAIN"] }`: the
 *   AUTHENTICATE (SASL-IR) goes with the post-TLS CAPABILITY;
 * - `ours`: `ImapClient.session` with the mechanism chosen from the post-TLS CAPABILITY answer;
 * - `imapflow`: imapflow 2.10.2 (`doSTARTTLS: true`), time of its LOGIN/AUTHENTICATE completion;
 * - `raw floor`: `_raw.ts`, STARTTLS then `AUTHENTICATE PLAIN` with SASL-IR right after the
 *   handshake, no CAPABILITY (what README §5 measured as 3.8).
 *
 *   . /tmp/mailenv.sh; node_modules/.bin/node packages/imap/bench/rtt.ts [runs=3]
 *
 * Prints time to authenticated ÷ RTT (median of the runs) and the client's turns up to then
 * (`Proxy.clientTurns`). Target: ours ≤ 4.0.
 */
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import { performance } from "node:perf_hooks"
import * as ImapClient from "../src/ImapClient.ts"
import * as Harness from "./_harness.ts"
import * as Raw from "./_raw.ts"

const DELAY = 50
const RTT = 2 * DELAY

const ours = (env: Harness.Env, port: number, pipelined: boolean) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const imap = yield* ImapClient.session({
      ...Harness.sessionOptions(env, port),
      ...(pipelined ? { authenticate: { mechanisms: ["PLAIN"] } } : {})
    })
    const ms = performance.now() - t0
    yield* ImapClient.logout(imap)
    return ms
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

const imapflow = async (env: Harness.Env, port: number): Promise<number> => {
  const t0 = performance.now()
  let authenticated = 0
  const client = Harness.imapflow(env, port)
  // imapflow's connect() resolves after more commands (ID, NAMESPACE, ENABLE): time its login.
  // `run` is imapflow's internal command runner (not in its typings), as the peers' rtt.mjs wraps it.
  const internal = client as unknown as { run: (command: string, ...args: Array<unknown>) => Promise<unknown> }
  const run = internal.run.bind(client)
  internal.run = async (command, ...args) => {
    const result = await run(command, ...args)
    if ((command === "LOGIN" || command === "AUTHENTICATE") && authenticated === 0) authenticated = performance.now()
    return result
  }
  await client.connect()
  await client.logout()
  return authenticated - t0
}

const main = Effect.gen(function*() {
  const env = Harness.requireEnv()
  const runs = Number(process.argv[2] ?? 3)
  const proxy = yield* Proxy.start({ targetPort: env.port, delayMs: DELAY })
  const results = new Map<string, { rtts: Array<number>; turns: Array<number> }>()
  const record = (name: string, ms: number) => {
    const session = proxy.sessions[proxy.sessions.length - 1]!
    const entry = results.get(name) ?? { rtts: [], turns: [] }
    entry.rtts.push(ms / RTT)
    // The LOGOUT after authentication is written within a millisecond: leave it out of the turns.
    entry.turns.push(Proxy.clientTurns(session, ms - 2))
    results.set(name, entry)
  }
  for (let i = 0; i < runs; i++) {
    record("ours pipelined", yield* ours(env, proxy.port, true))
    record("ours", yield* ours(env, proxy.port, false))
    record("imapflow", yield* Effect.promise(() => imapflow(env, proxy.port)))
    record("raw floor", yield* Effect.promise(() => Raw.authenticate(env, proxy.port)))
  }
  console.log(`TCP connect → authenticated through a ${RTT} ms RTT proxy (STARTTLS, Dovecot), ${runs} runs`)
  console.log("| client | RTT to authenticated (median) | runs | client turns |")
  console.log("|---|---:|---|---:|")
  for (const [name, r] of results) {
    console.log(
      `| ${name} | ${Harness.fixed(Harness.median(r.rtts), 2)} | ${r.rtts.map((x) => x.toFixed(2)).join(" ")} | ` +
        `${Harness.median(r.turns)} |`
    )
  }
}).pipe(Effect.scoped)

await Effect.runPromise(main)
process.exit(0)
