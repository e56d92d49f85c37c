import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Effect from "effect/Effect"
import * as ImapClient from "../src/ImapClient.ts"
import * as Harness from "./_harness.ts"
const env = Harness.requireEnv()
await Effect.runPromise(Effect.gen(function*() {
  const imap = yield* ImapClient.session(Harness.sessionOptions(env))
  const l = yield* ImapClient.list(imap)
  console.log(l.map((m) => m.name).filter((n) => /pipe|probe/.test(n)).length, l.length, l.map(m=>m.name).slice(0,20).join(","))
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))
process.exit(0)
