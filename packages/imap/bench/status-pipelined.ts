/**
 * 100 STATUS on the real Dovecot through the testkit's delaying proxy (`Proxy.start`, 50 ms each
 * way: one round trip = 100 ms), after login, on 100 mailboxes of this run's own (created and
 * asked once on the direct port first, deleted at the end):
 *
 * - `ours pipelined`: `Effect.all(names.map((n) => ImapClient.status(imap, n)), { concurrency:
 *   "unbounded" })`: one write, answers matched by tag (target: ≈ 1 round trip in all);
 * - `ours sequential`: the same 100 `status` one after the other;
 * - `imapflow`: imapflow 2.10.2, `Promise.all(names.map((n) => client.status(n, {...})))`, the
 *   concurrent calls its users would write (STARTTLS required, as in `_harness.ts`).
 *
 *   . /tmp/mailenv.sh; node_modules/.bin/node packages/imap/bench/status-pipelined.ts [runs=3]
 *
 * Prints the time of the 100 STATUS ÷ RTT (median of the runs) and the client's turns in that time
 * (`Proxy.clientTurns` over the proxy's events from login to the last answer), and checks that
 * every mode got the same answers. Not measured: connecting and logging in (see `rtt.ts`).
 */
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import { performance } from "node:perf_hooks"
import * as ImapClient from "../src/ImapClient.ts"
import * as Harness from "./_harness.ts"

const DELAY = 50
const RTT = 2 * DELAY
const COUNT = 100
const ITEMS = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"] as const

interface Measured {
  readonly ms: number
  /** The proxy's events before and after the STATUS (indices into the session's events). */
  readonly from: number
  readonly to: number
  /** What each STATUS said: `name messages uidvalidity`. */
  readonly answers: ReadonlyArray<string>
}

const ours = (env: Harness.Env, proxy: Proxy.Proxy, names: ReadonlyArray<string>, pipelined: boolean) =>
  Effect.gen(function*() {
    const imap = yield* ImapClient.session(Harness.sessionOptions(env, proxy.port))
    const events = proxy.sessions[proxy.sessions.length - 1]!.events
    const from = events.length
    const t0 = performance.now()
    const results = yield* Effect.forEach(names, (name) => ImapClient.status(imap, name, ITEMS), {
      concurrency: pipelined ? "unbounded" : 1
    })
    const ms = performance.now() - t0
    const to = events.length
    yield* ImapClient.logout(imap)
    return { ms, from, to, answers: results.map((r) => `${r.name} ${r.messages} ${r.uidValidity}`) } satisfies Measured
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

const imapflow = async (env: Harness.Env, proxy: Proxy.Proxy, names: ReadonlyArray<string>): Promise<Measured> => {
  const client = Harness.imapflow(env, proxy.port)
  await client.connect()
  const events = proxy.sessions[proxy.sessions.length - 1]!.events
  const from = events.length
  const t0 = performance.now()
  const results = await Promise.all(
    names.map((name) => client.status(name, { messages: true, uidNext: true, uidValidity: true, unseen: true }))
  )
  const ms = performance.now() - t0
  const to = events.length
  await client.logout()
  return { ms, from, to, answers: results.map((r) => (r === false ? "failed" : `${r.path} ${r.messages} ${r.uidValidity}`)) }
}

/** Creates this run's mailboxes on the direct port; deletes them when the scope closes. */
const mailboxes = (env: Harness.Env) =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const imap = yield* ImapClient.session(Harness.sessionOptions(env))
      const names = Array.from({ length: COUNT }, (_, i) => `pipebench-${process.pid}-${i}`)
      yield* Effect.forEach(names, (name) => ImapClient.create(imap, name), { discard: true })
      // The first STATUS of a new mailbox makes Dovecot build its index: not what is measured.
      yield* Effect.forEach(names, (name) => ImapClient.status(imap, name, ITEMS), { discard: true })
      yield* ImapClient.logout(imap)
      return names
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)),
    (names) =>
      Effect.gen(function*() {
        const imap = yield* ImapClient.session(Harness.sessionOptions(env))
        yield* Effect.forEach(names, (name) => Effect.ignore(ImapClient.deleteMailbox(imap, name)), {
          concurrency: "unbounded",
          discard: true
        })
        yield* ImapClient.logout(imap)
      }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer), Effect.ignore)
  )

const main = Effect.gen(function*() {
  const env = Harness.requireEnv()
  const runs = Number(process.argv[2] ?? 3)
  const names = yield* mailboxes(env)
  const proxy = yield* Proxy.start({ targetPort: env.port, delayMs: DELAY })
  const results = new Map<string, { rtts: Array<number>; turns: Array<number>; answers: string }>()
  const record = (name: string, m: Measured) => {
    const session = proxy.sessions[proxy.sessions.length - 1]!
    const entry = results.get(name) ?? { rtts: [], turns: [], answers: m.answers.join("\n") }
    if (entry.answers !== m.answers.join("\n")) throw new Error(`${name} answered differently from one run to the next`)
    entry.rtts.push(m.ms / RTT)
    entry.turns.push(Proxy.clientTurns({ events: session.events.slice(m.from, m.to) }))
    results.set(name, entry)
  }
  for (let i = 0; i < runs; i++) {
    record("ours pipelined", yield* ours(env, proxy, names, true))
    record("ours sequential", yield* ours(env, proxy, names, false))
    record("imapflow", yield* Effect.promise(() => imapflow(env, proxy, names)))
  }
  const answers = new Set([...results.values()].map((r) => r.answers))
  if (answers.size !== 1) throw new Error("the modes got different STATUS answers")
  console.log(`${COUNT} STATUS after login through a ${RTT} ms RTT proxy (STARTTLS, Dovecot), ${runs} runs`)
  console.log("| client | time ÷ RTT (median) | runs | client turns |")
  console.log("|---|---:|---|---:|")
  for (const [name, r] of results) {
    console.log(
      `| ${name} | ${Harness.fixed(Harness.median(r.rtts), 2)} | ${r.rtts.map((x) => x.toFixed(2)).join(" ")} | ` +
        `${Harness.median(r.turns)} |`
    )
  }
  const pipelined = Harness.median(results.get("ours pipelined")!.rtts)
  console.log(
    `sequential / pipelined: ${Harness.fixed(Harness.median(results.get("ours sequential")!.rtts) / pipelined)}×, ` +
      `imapflow / pipelined: ${Harness.fixed(Harness.median(results.get("imapflow")!.rtts) / pipelined)}×`
  )
}).pipe(Effect.scoped)

await Effect.runPromise(main)
process.exit(0)
