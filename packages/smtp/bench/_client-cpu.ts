/**
 * Helper (not run by `scripts/bench.mjs`): the client's own CPU per message, against a synchronous
 * fake transport (no streams, no TLS, no server), for profiling the send path:
 *
 *   node_modules/.bin/node --cpu-prof packages/smtp/bench/_client-cpu.ts 50000
 */
import { Transport } from "@starttls/core/Transport"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { performance } from "node:perf_hooks"
import * as Smtp from "../src/SmtpClient.ts"

const enc = new TextEncoder()
const fake = Layer.succeed(Transport, Transport.of({
  connect: () => Effect.sync(() => {
    let pending: Array<Uint8Array> = [enc.encode("220 fake\r\n")]
    const answer = (text: string) => {
      let out = ""
      for (const line of text.split("\r\n")) {
        if (line.startsWith("EHLO")) out += "250-fake\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 100000\r\n250 CHUNKING\r\n"
        else if (line.startsWith("MAIL") || line.startsWith("RCPT")) out += "250 2.1.0 ok\r\n"
        else if (line.startsWith("BDAT")) out += "250 2.0.0 queued\r\n"
        else if (line.startsWith("QUIT")) out += "221 bye\r\n"
      }
      if (out) pending.push(enc.encode(out))
    }
    return {
      pull: Effect.suspend(() => {
        const out = pending
        pending = []
        return out.length > 0 ? Effect.succeed(out) : Effect.never
      }),
      write: (chunks: ReadonlyArray<Uint8Array>) => Effect.sync(() => {
        const first = Buffer.from(chunks[0]!).toString("latin1")
        answer(first.slice(0, first.indexOf("\r\n\r\n") === -1 ? undefined : first.indexOf("BDAT") + 40))
      }),
      upgrade: () => Effect.die("no tls"),
      tls: () => undefined,
      destroy: Effect.void
    }
  })
}))
const N = Number(process.argv[2] ?? 50000)
const TEXT = "Hello,\n\nthis is a small benchmark message of a few hundred bytes. ".repeat(3) + "\n"
const msg = enc.encode(`From: a@b\r\nSubject: x\r\n\r\n${TEXT.replace(/\n/g, "\r\n")}`)
await Effect.runPromise(Effect.gen(function*() {
  const smtp = yield* Smtp.opportunistic({ host: "localhost", port: 25, clientName: "bench.local" })
  for (const round of [1, 2, 3]) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) yield* Smtp.send(smtp, { from: "a@example.com", to: ["b@example.org"] }, msg)
    console.log(`round ${round}: ${(1000 * (performance.now() - t0) / N).toFixed(1)} µs/message`)
  }
}).pipe(Effect.scoped, Effect.provide(Layer.merge(fake, TlsPolicy.opportunisticStartTlsDangerously))))
