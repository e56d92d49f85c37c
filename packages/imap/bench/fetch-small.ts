/**
 * FETCH of the real Dovecot's seeded INBOX (1000 × 10 KB, ../shared/mail-servers) with full bodies:
 * connect + STARTTLS + authenticate + SELECT + `FETCH 1:* BODY.PEEK[]`, every body in memory per
 * message. Modes, each run in a fresh Node process, interleaved over the rounds:
 *
 * - `ours`: `ImapClient.session` (CAPABILITY over TLS, AUTHENTICATE PLAIN with SASL-IR), `select`,
 *   `fetch(..., { source: true })` as a Stream consumed message by message;
 * - `named`: the same with the mechanism named (`authenticate: { mechanisms: ["PLAIN"] }`: AUTHENTICATE
 *   right after the handshake, CAPABILITY asked later only if needed), the raw floor's sequence;
 * - `raw`: the floor (`_raw.ts`: no framework, LOGIN, bodies copied into one Buffer each);
 * - `imapflow`: imapflow 2.10.2, `fetch('1:*', { source: true })` (STARTTLS required).
 *
 *   . /tmp/mailenv.sh; node_modules/.bin/node packages/imap/bench/fetch-small.ts [rounds=7]
 *
 * Reports medians of total and FETCH-phase times, ratios to raw (target: ours ≤ 1.2× raw), and
 * peak RSS (VmHWM) per process. Not measured: anything but this one workload on loopback; other
 * suites may use the same Dovecot meanwhile (the machine is shared: compare ratios of one run).
 */
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as ImapClient from "../src/ImapClient.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as Harness from "./_harness.ts"
import * as Raw from "./_raw.ts"

const file = fileURLToPath(import.meta.url)
const MAILBOX = "INBOX"

const ours = (env: Harness.Env, named: boolean) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const imap = yield* ImapClient.session({
      ...Harness.sessionOptions(env),
      ...(named ? { authenticate: { mechanisms: ["PLAIN"] } } : {})
    })
    const t1 = performance.now()
    const inbox = yield* ImapClient.select(imap, MAILBOX)
    const t2 = performance.now()
    let messages = 0
    let bytes = 0
    yield* ImapClient.fetch(inbox, SequenceSet.range(1, "*"), { source: true }).pipe(
      Stream.runForEach((message) =>
        Effect.sync(() => {
          messages++
          bytes += message.source?.length ?? 0
        })
      )
    )
    const t3 = performance.now()
    yield* ImapClient.logout(imap)
    return { connectMs: t1 - t0, selectMs: t2 - t1, fetchMs: t3 - t2, totalMs: t3 - t0, messages, bytes }
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

const imapflow = async (env: Harness.Env) => {
  const t0 = performance.now()
  const client = Harness.imapflow(env)
  await client.connect()
  const t1 = performance.now()
  await client.mailboxOpen(MAILBOX)
  const t2 = performance.now()
  let messages = 0
  let bytes = 0
  for await (const message of client.fetch("1:*", { source: true })) {
    messages++
    bytes += message.source?.length ?? 0
  }
  const t3 = performance.now()
  await client.logout()
  return { connectMs: t1 - t0, selectMs: t2 - t1, fetchMs: t3 - t2, totalMs: t3 - t0, messages, bytes }
}

const report = (rows: Map<string, Array<Harness.Row>>, count: number) => {
  const modes = [...rows.keys()]
  const raw = rows.get("raw")!
  const counts = new Set([...rows.values()].flat().map((r) => `${r["messages"]}/${r["bytes"]}`))
  if (counts.size !== 1) throw new Error(`the modes fetched different things: ${[...counts].join(", ")}`)
  console.log(`FETCH 1:* BODY.PEEK[] of ${[...counts][0]} messages/bytes, ${count} rounds, medians`)
  console.log("| mode | total ms | fetch ms | total / raw | fetch / raw | peak RSS MB (peak − base) |")
  console.log("|---|---:|---:|---:|---:|---:|")
  for (const mode of modes) {
    const r = rows.get(mode)!
    console.log(
      `| ${mode} | ${Harness.fixed(Harness.med(r, "totalMs"))} | ${Harness.fixed(Harness.med(r, "fetchMs"))} | ` +
        `${Harness.fixed(Harness.med(r, "totalMs") / Harness.med(raw, "totalMs"), 2)}× | ` +
        `${Harness.fixed(Harness.med(r, "fetchMs") / Harness.med(raw, "fetchMs"), 2)}× | ` +
        `${Harness.fixed(Harness.med(r, "peakMB"))} (+${
          Harness.fixed(Harness.median(r.map((x) => Number(x["peakMB"]) - Number(x["baseMB"]))))
        }) |`
    )
  }
  const perRound = rows.get("ours")!.map((r, i) => Number(r["totalMs"]) / Number(raw[i]!["totalMs"]))
  console.log(`ours / raw per round: ${perRound.map((x) => x.toFixed(2)).join(" ")}`)
}

await Harness.main(file, {
  ours: (env) => Effect.runPromise(ours(env, false)),
  named: (env) => Effect.runPromise(ours(env, true)),
  raw: (env) => Raw.run(env, MAILBOX, true),
  imapflow
}, 7, report)
