/**
 * The SMTP part of `pnpm demo`, on the testkit's in-memory SMTP server (real TLS, no network):
 *
 * 1. the EHLO extensions before STARTTLS (plaintext, untrusted) and after it (over TLS);
 * 2. a downgrade attempt: a server whose plaintext EHLO lacks STARTTLS (as a man in the middle
 *    would strip it) ends in a typed error before any credential is sent;
 * 3. a message sent with PIPELINING and BDAT, with each recipient's fate.
 */
import * as Credentials from "@starttls/core/Credentials"
import * as Certificates from "@starttls/testkit/Certificates"
import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
import * as SmtpServer from "@starttls/testkit/SmtpServer"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Smtp from "../src/SmtpClient.ts"
import type * as SmtpExtensions from "../src/SmtpExtensions.ts"

const options = {
  host: "localhost",
  port: 587,
  clientName: "demo.example",
  tls: { trustOnly: [Certificates.ca.cert] }
}
const credentials = Credentials.password({ username: "alice", password: Redacted.make("wonderland") })

const keywords = (ext: SmtpExtensions.SmtpExtensions) =>
  [...ext.keywords].map((k) => (k === "AUTH" ? `AUTH ${ext.auth.join(" ")}` : k === "SIZE" ? `SIZE ${ext.size ?? ""}` : k)).join(", ")

const message = [
  "From: alice@example.com",
  "To: bob@example.org, nobody@example.org",
  "Subject: STARTTLS demo",
  "",
  "Hello Bob,",
  ".this line starts with a dot",
  ""
].join("\r\n")

/**
 * Runs the SMTP demo and prints what happens.
 *
 * @category constructors
 * @since 0.1.0
 */
export const demo: Effect.Effect<void, unknown, never> = Effect.gen(function*() {
  const server = yield* SmtpServer.make({
    users: { alice: "wonderland" },
    recipients: { "nobody@example.org": "550 5.1.1 <nobody@example.org>: Recipient address rejected" }
  })
  yield* Effect.gen(function*() {
    const plain = yield* Smtp.connect(options)
    yield* Console.log(`SMTP  EHLO before STARTTLS (plaintext, untrusted): ${keywords(yield* Smtp.untrustedExtensions(plain))}`)
    const secure = yield* Smtp.startTls(plain)
    yield* Console.log(`SMTP  EHLO after STARTTLS (${Smtp.tlsSession(secure)?.protocol}): ${keywords(yield* Smtp.extensions(secure))}`)
    const smtp = yield* Smtp.authenticate(secure, credentials)
    const result = yield* Smtp.send(smtp, { from: "alice@example.com", to: ["bob@example.org", "nobody@example.org"] }, message)
    yield* Console.log(`SMTP  message sent with ${result.transfer}: ${result.code} ${result.enhancedCode ?? ""} ${result.untrustedText}`)
    for (const r of result.recipients) {
      yield* Console.log(`SMTP    ${r.address}: ${r.accepted ? "accepted" : "rejected"} ${r.code} ${r.enhancedCode ?? ""} ${r.untrustedText}`)
    }
    yield* Smtp.close(smtp)
  }).pipe(Effect.scoped, Effect.provide(MemoryTransport.layer((duplex) => server.handler(duplex))))
  const delivered = server.messages()[0]
  yield* Console.log(`SMTP  the server stored ${delivered?.body.length} octets for ${delivered?.recipients.join(", ")} (over TLS: ${delivered?.secure})`)

  // A man in the middle strips STARTTLS from the plaintext EHLO reply.
  const stripped = yield* SmtpServer.make({
    users: { alice: "wonderland" },
    extensions: { plain: ["PIPELINING", "AUTH PLAIN LOGIN", "8BITMIME"] }
  })
  const downgrade = yield* Smtp.session({ ...options, credentials }).pipe(
    Effect.scoped,
    Effect.provide(MemoryTransport.layer((duplex) => stripped.handler(duplex))),
    Effect.flip
  )
  const sent = stripped.connections()[0]?.entries.flatMap((e) => (e._tag === "Command" ? [e.verb] : [])) ?? []
  yield* Console.log(`SMTP  downgrade attempt (STARTTLS stripped): ${downgrade._tag}/${downgrade.reason._tag}: ${downgrade.message}`)
  yield* Console.log(`SMTP    commands the client sent: ${sent.join(" ")} (no AUTH, no MAIL)`)
})
