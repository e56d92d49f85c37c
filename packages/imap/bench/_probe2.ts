// temporary probe (deleted before the report)
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Effect from "effect/Effect"
import { performance } from "node:perf_hooks"
import * as ImapClient from "../src/ImapClient.ts"
import * as Harness from "./_harness.ts"
const env = Harness.requireEnv()
const program = Effect.gen(function*() {
  const imap = yield* ImapClient.session(Harness.sessionOptions(env))
  const names = Array.from({ length: 100 }, (_, i) => `probe-${process.pid}-${i}`)
  yield* Effect.forEach(names, (n) => ImapClient.create(imap, n), { discard: true })
  for (let r = 0; r < 5; r++) {
    let t = performance.now()
    yield* Effect.forEach(names, (n) => ImapClient.status(imap, n), { concurrency: "unbounded" })
    const p = performance.now() - t
    t = performance.now()
    yield* Effect.forEach(names, (n) => ImapClient.status(imap, n))
    const s = performance.now() - t
    console.log(`pipelined ${p.toFixed(1)} ms, sequential ${s.toFixed(1)} ms`)
  }
  yield* Effect.forEach(names, (n) => ImapClient.deleteMailbox(imap, n), { concurrency: "unbounded", discard: true })
  yield* ImapClient.logout(imap)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
await Effect.runPromise(program)
process.exit(0)
