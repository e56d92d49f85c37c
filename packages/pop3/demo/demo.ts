/**
 * The POP3 part of `pnpm demo`, on the testkit's in-memory POP3 server (real TLS, no network):
 *
 * 1. CAPA before STLS (plaintext, untrusted: no USER, no SASL mechanisms) and after it (over TLS);
 * 2. a downgrade attempt: a server that refuses STLS (as a man in the middle would make it) ends in
 *    a typed error before any credential is sent;
 * 3. LIST, then every message retrieved in one pipelined flight: sizes and first header lines,
 *    including a body with dot-leading lines;
 * 4. the fast path: with the mechanism named, AUTH goes right after the handshake (one round trip
 *    less), and CAPA is asked over TLS only when something needs it (here the pipelined flight).
 */
import * as Credentials from "@starttls/core/Credentials"
import * as Certificates from "@starttls/testkit/Certificates"
import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as Pop3Capabilities from "../src/Pop3Capabilities.ts"
import * as Pop3 from "../src/Pop3Client.ts"

const options = { host: "localhost", port: 110, tls: { trustOnly: [Certificates.ca.cert] } }
const credentials = Credentials.password({ username: "alice", password: Redacted.make("wonderland") })

const MESSAGES = [
  "Subject: Quarterly report\r\nFrom: bob@example.org\r\n\r\nNumbers attached.\r\n",
  "Subject: Lines with dots\r\nFrom: carol@example.org\r\n\r\n.this line starts with a dot\r\n..and this one with two\r\n.\r\n",
  "Subject: Lunch?\r\nFrom: dave@example.org\r\n\r\nNoon at the usual place.\r\n"
]

const describe = (caps: Pop3Capabilities.Pop3Capabilities): string =>
  [
    caps.top ? "TOP" : undefined,
    caps.uidl ? "UIDL" : undefined,
    caps.respCodes ? "RESP-CODES" : undefined,
    caps.pipelining ? "PIPELINING" : undefined,
    caps.authRespCode ? "AUTH-RESP-CODE" : undefined,
    caps.stls ? "STLS" : undefined,
    caps.user ? "USER" : undefined,
    `SASL${caps.sasl.map((m) => ` ${m}`).join("")}`
  ].filter((x) => x !== undefined).join(", ")

const firstLine = (bytes: Uint8Array): string => {
  const text = Buffer.from(bytes).toString("utf8")
  return text.slice(0, text.indexOf("\r\n"))
}

/**
 * Runs the POP3 demo and prints what happens.
 *
 * @category constructors
 * @since 0.1.0
 */
export const demo: Effect.Effect<void, unknown, never> = Effect.gen(function*() {
  const server = yield* Pop3Server.make({ users: { alice: { password: "wonderland", messages: MESSAGES } } })
  yield* Effect.gen(function*() {
    const plain = yield* Pop3.connect(options)
    yield* Console.log(`POP3  CAPA before STLS (plaintext, untrusted): ${describe(yield* Pop3.queryCapabilities(plain))}`)
    const secure = yield* Pop3.startTls(plain)
    const tls = Pop3.tlsSession(secure)
    yield* Console.log(`POP3  CAPA after STLS (${tls?.protocol}): ${describe(yield* Pop3.capabilities(secure))}`)
    const pop3 = yield* Pop3.authenticate(secure, credentials)
    const listing = yield* Pop3.list(pop3)
    yield* Console.log(`POP3  LIST: ${listing.map((e) => `#${e.msg} ${e.size} octets`).join(", ")}`)
    yield* Stream.runForEach(
      Pop3.retrieveAll(pop3, listing.map((e) => e.msg)),
      (m) => Console.log(`POP3    RETR ${m.msg}: ${m.bytes.length} bytes, first header line "${firstLine(m.bytes)}"`)
    )
    const quit = yield* Pop3.quit(pop3)
    yield* Console.log(`POP3  QUIT: ${quit.deleted.length} message(s) deleted`)
  }).pipe(Effect.scoped, Effect.provide(MemoryTransport.layer((duplex) => Effect.forkDetach(server.handler(duplex)))))

  const fast = yield* Pop3Server.make({ users: { alice: { password: "wonderland", messages: MESSAGES } } })
  yield* Effect.gen(function*() {
    const pop3 = yield* Pop3.session({ ...options, credentials, authenticate: { mechanisms: ["PLAIN"] } })
    yield* Stream.runDrain(Pop3.retrieveAll(pop3, [1, 2, 3]))
    yield* Pop3.quit(pop3)
  }).pipe(Effect.scoped, Effect.provide(MemoryTransport.layer((duplex) => Effect.forkDetach(fast.handler(duplex)))))
  const [named] = yield* fast.awaitEnded(1)
  // verbs only: the AUTH line carries the credentials
  const verbs = (named?.commands ?? []).map((c) => `${c.line.split(" ")[0]}${c.phase === "tls" ? "" : " (plaintext)"}`)
  yield* Console.log(`POP3  named mechanism (PLAIN), commands in order: ${verbs.join(", ")}`)

  const refusing = yield* Pop3Server.make({ users: { alice: "wonderland" }, refuseStls: true })
  const refused = yield* Pop3.session({ ...options, credentials }).pipe(
    Effect.scoped,
    Effect.provide(MemoryTransport.layer((duplex) => Effect.forkDetach(refusing.handler(duplex)))),
    Effect.flip
  )
  const [session] = yield* refusing.awaitEnded(1)
  yield* Console.log(
    `POP3  STLS refused by the server: ${refused.message}; client sent only ${
      JSON.stringify(session?.commands.map((c) => c.line))
    }`
  )
})
