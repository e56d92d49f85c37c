/**
 * The real Dovecot's 50 MB message (mailbox "Big", ../shared/mail-servers) streamed, bytes counted
 * and dropped: connect + STARTTLS + authenticate + EXAMINE Big + the body. Modes, each in a fresh
 * Node process (so each peak RSS is that mode's own), interleaved over the rounds:
 *
 * - `ours`: `ImapClient.download` (the parser streams the literal; chunks go downstream as they
 *   arrive; a chunk the consumer dropped is freed by the next young-generation collection, and
 *   V8's default young generation, grown during start-up, sees about one during the transfer);
 * - `lent`: `ImapClient.downloadEach` (each chunk lent to the callback and released right after
 *   it: constant memory whatever the collector does);
 * - `raw`: the floor (`_raw.ts`, `FETCH 1:* BODY.PEEK[]`, literal bytes counted, not kept);
 * - `imapflow`: imapflow 2.10.2 `download()` (partial fetches, one round trip each).
 *
 *   . /tmp/mailenv.sh; node_modules/.bin/node packages/imap/bench/fetch-big.ts [rounds=5]
 *
 * Targets: ≤ 1.2× raw time, ≤ +16 MB peak RSS over the process's base (RSS after imports). Every mode must count
 * 52,428,800 bytes.
 */
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import * as ImapClient from "../src/ImapClient.ts"
import * as Harness from "./_harness.ts"
import * as Raw from "./_raw.ts"

const file = fileURLToPath(import.meta.url)
const MAILBOX = "Big"

const ours = (env: Harness.Env, lent: boolean) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const imap = yield* ImapClient.session(Harness.sessionOptions(env))
    const t1 = performance.now()
    const big = yield* ImapClient.examine(imap, MAILBOX)
    Harness.markTransfer()
    const t2 = performance.now()
    let bytes = 0
    const count = (chunk: Uint8Array) =>
      Effect.sync(() => {
        bytes += chunk.length
      })
    yield* lent ? ImapClient.downloadEach(big, 1, count) : Stream.runForEach(ImapClient.download(big, 1), count)
    const t3 = performance.now()
    yield* ImapClient.logout(imap)
    return { connectMs: t1 - t0, selectMs: t2 - t1, fetchMs: t3 - t2, totalMs: t3 - t0, messages: 1, bytes }
  }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

const imapflow = async (env: Harness.Env) => {
  const t0 = performance.now()
  const client = Harness.imapflow(env)
  await client.connect()
  const t1 = performance.now()
  await client.mailboxOpen(MAILBOX)
  Harness.markTransfer()
  const t2 = performance.now()
  let bytes = 0
  const { content } = await client.download("1", undefined, { uid: false })
  if (content === undefined) throw new Error("imapflow: no content")
  for await (const chunk of content) bytes += (chunk as Buffer).length
  const t3 = performance.now()
  await client.logout()
  return { connectMs: t1 - t0, selectMs: t2 - t1, fetchMs: t3 - t2, totalMs: t3 - t0, messages: 1, bytes }
}

const report = (rows: Map<string, Array<Harness.Row>>, count: number) => {
  const modes = [...rows.keys()]
  for (const [mode, r] of rows) {
    for (const row of r) if (Number(row["bytes"]) !== 52428800) throw new Error(`${mode} counted ${row["bytes"]} bytes`)
  }
  const raw = rows.get("raw")!
  console.log(`one 50 MB message streamed (52,428,800 bytes counted, not kept), ${count} rounds, medians`)
  console.log("| mode | total ms | fetch ms | total / raw | peak RSS MB | peak − base MB | transfer peak − base MB |")
  console.log("|---|---:|---:|---:|---:|---:|---:|")
  for (const mode of modes) {
    const r = rows.get(mode)!
    const peak = Harness.med(r, "peakMB")
    console.log(
      `| ${mode} | ${Harness.fixed(Harness.med(r, "totalMs"))} | ${Harness.fixed(Harness.med(r, "fetchMs"))} | ` +
        `${Harness.fixed(Harness.med(r, "totalMs") / Harness.med(raw, "totalMs"), 2)}× | ${Harness.fixed(peak)} | ` +
        `+${Harness.fixed(Harness.median(r.map((x) => Number(x["peakMB"]) - Number(x["baseMB"]))))} | ` +
        `+${Harness.fixed(Harness.med(r, "transferMB"))} |`
    )
  }
  const perRound = rows.get("ours")!.map((r, i) => Number(r["totalMs"]) / Number(raw[i]!["totalMs"]))
  console.log(`ours / raw per round: ${perRound.map((x) => x.toFixed(2)).join(" ")}`)
}

await Harness.main(file, {
  ours: (env) => Effect.runPromise(ours(env, false)),
  lent: (env) => Effect.runPromise(ours(env, true)),
  raw: (env) => Raw.run(env, MAILBOX, false),
  imapflow
}, 5, report)
