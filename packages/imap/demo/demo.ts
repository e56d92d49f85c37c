/**
 * The IMAP part of `pnpm demo`, on the testkit's in-memory IMAP server (real TLS, no network),
 * which answers like the project's Dovecot:
 *
 * 1. "What changes after STARTTLS?", answered live: the capabilities the server states in
 *    plaintext, the ones it states over TLS, and the difference (LOGINDISABLED and STARTTLS go,
 *    AUTH=PLAIN / AUTH=LOGIN come).
 * 2. LOGIN on the plaintext connection: it does not compile without the dangerous
 *    `TlsPolicy.PlaintextAuth` layer; with it, it is still refused (typed `PolicyViolation`)
 *    because the server advertises LOGINDISABLED, and no credential is sent.
 * 3. After TLS: authenticate, SELECT INBOX, FETCH the messages as a stream.
 * 4. Extensions on one TLS session: COMPRESS=DEFLATE, ENABLE CONDSTORE (HIGHESTMODSEQ), three
 *    STATUS pipelined in one write, and IDLE delivering a message that arrives meanwhile.
 */
import * as Credentials from "@starttls/core/Credentials"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Certificates from "@starttls/testkit/Certificates"
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
import * as Recording from "@starttls/testkit/Recording"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as ImapClient from "../src/ImapClient.ts"
import * as SequenceSet from "../src/SequenceSet.ts"

const options = { host: "localhost", port: 143, tls: { trustOnly: [Certificates.ca.cert] } }
const password = "wonderland"
const credentials = Credentials.password({ username: "alice", password: Redacted.make(password) })

const message = (n: number, subject: string) =>
  `From: Bob <bob@example.org>\r\nTo: alice@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${n}@example.org>\r\n\r\nHello ${n}\r\n`

const list = (caps: ReadonlyArray<string>) => caps.join(" ")

/**
 * Runs the IMAP demo and prints what happens.
 *
 * @category constructors
 * @since 0.1.0
 */
export const demo: Effect.Effect<void, unknown, never> = Effect.gen(function*() {
  const server = yield* ImapServer.make({ users: { alice: password } })
  server.append("alice", "INBOX", message(1, "STARTTLS explained"), { flags: ["\\Seen"] })
  server.append("alice", "INBOX", message(2, "Why LOGINDISABLED matters"))
  const transport = MemoryTransport.layer(server.handler)

  // 1. What changes after STARTTLS?
  yield* Effect.gen(function*() {
    const plain = yield* ImapClient.connect(options)
    const before = yield* ImapClient.untrustedCapabilities(plain)
    const secure = yield* ImapClient.startTls(plain)
    const after = yield* ImapClient.capabilities(secure)
    const gone = before.raw.filter((c) => !after.names.has(c.toUpperCase()))
    const added = after.raw.filter((c) => !before.names.has(c.toUpperCase()))
    yield* Console.log(`IMAP  capabilities before STARTTLS (plaintext, untrusted): ${list(before.raw)}`)
    yield* Console.log(`IMAP  capabilities after STARTTLS (asked again over TLS): ${list(after.raw)}`)
    yield* Console.log(`IMAP  what changed: gone ${list(gone)}; new ${list(added)}`)
    yield* ImapClient.logout(secure)
  }).pipe(Effect.scoped, Effect.provide(transport))

  // 2. LOGIN on the plaintext connection.
  yield* Console.log(
    "IMAP  ImapClient.login(plain, ...) needs TlsPolicy.PlaintextAuth in its requirements: without " +
      "TlsPolicy.allowPlaintextAuthDangerously the program does not compile (see test/ImapClient.test-d.ts)"
  )
  const refused = yield* Effect.gen(function*() {
    const plain = yield* ImapClient.connect(options)
    return yield* ImapClient.login(plain, "alice", Redacted.make(password))
  }).pipe(
    Effect.scoped,
    Effect.provide(transport),
    Effect.provide(TlsPolicy.allowPlaintextAuthDangerously),
    Effect.flip
  )
  const plaintextLogin = server.connections()[1]!.recording()
  yield* Console.log(
    `IMAP  even with that layer, LOGIN in plaintext fails: ${refused._tag} ${refused.reason._tag}: ${refused.message}`
  )
  yield* Console.log(
    `IMAP  bytes the client sent on that connection: ${JSON.stringify(Recording.plaintextClientBytes(plaintextLogin))}; ` +
      `secrets found in plaintext: ${Recording.findSecretsInPlaintext(plaintextLogin, [password]).length}`
  )

  // 3. After TLS: select and fetch.
  yield* Effect.gen(function*() {
    const imap = yield* ImapClient.session({ ...options, credentials })
    const inbox = yield* ImapClient.select(imap, "INBOX")
    yield* Console.log(
      `IMAP  SELECT INBOX over TLS: ${inbox.status.exists} messages, UIDVALIDITY ${inbox.status.uidValidity}, ` +
        `flags ${list(inbox.status.flags)}`
    )
    yield* ImapClient.fetch(inbox, SequenceSet.range(1, "*"), { uid: true, flags: true, envelope: true, size: true })
      .pipe(
        Stream.runForEach((m) =>
          Console.log(
            `IMAP    #${m.seq} UID ${m.uid} ${m.size} bytes ${JSON.stringify(m.envelope?.subject)} ` +
              `from ${m.envelope?.from.map((a) => (a._tag === "Address" ? `${a.mailbox}@${a.host}` : a.name)).join(", ")} ` +
              `flags ${list(m.flags ?? [])}`
          )
        )
      )
    yield* ImapClient.logout(imap)
  }).pipe(Effect.scoped, Effect.provide(transport))
  const last = server.connections()[2]!.recording()
  yield* Console.log(`IMAP  plaintext part of the authenticated session: ${JSON.stringify(Recording.plaintextClientBytes(last))}`)

  // 4. Extensions, on a server that also offers COMPRESS=DEFLATE after authentication.
  const rich = yield* ImapServer.make({ users: { alice: password }, compress: true })
  rich.append("alice", "INBOX", message(1, "Pipelined"))
  for (const name of ["Sent", "Drafts"]) rich.createMailbox("alice", name)
  const clientWrites = () => rich.connections()[0]?.commands.map((c) => c.name) ?? []
  yield* Effect.gen(function*() {
    const imap = yield* ImapClient.session({ ...options, credentials, compress: true })
    yield* Console.log(`IMAP  COMPRESS=DEFLATE after login, over TLS: compressed ${ImapClient.isCompressed(imap)}`)
    const enabled = yield* ImapClient.enable(imap, ["CONDSTORE"])
    const before = clientWrites().length
    const statuses = yield* Effect.all(
      ["INBOX", "Sent", "Drafts"].map((name) => ImapClient.status(imap, name)),
      { concurrency: "unbounded" }
    )
    yield* Console.log(
      `IMAP  ENABLE ${list(enabled)}; ${clientWrites().length - before} STATUS sent without waiting for each other ` +
        `(Effect.all; answers matched by tag): ${statuses.map((s) => `${s.name} ${s.messages}`).join(", ")}`
    )
    const inbox = yield* ImapClient.select(imap, "INBOX")
    yield* Console.log(`IMAP  SELECT INBOX: HIGHESTMODSEQ ${inbox.status.highestModSeq}`)
    const idling = yield* Effect.forkChild(Stream.runHead(ImapClient.idle(inbox)))
    // Another session delivers a message once the client idles.
    for (let i = 0; i < 400 && !clientWrites().includes("IDLE"); i++) yield* Effect.sleep("5 millis")
    rich.append("alice", "INBOX", message(2, "Arrived while idling"))
    const event = Option.getOrUndefined(yield* Fiber.join(idling))
    yield* Console.log(
      `IMAP  IDLE saw: ${JSON.stringify(event)}; ending the stream sent DONE, the connection goes on: ` +
        `${(yield* ImapClient.status(imap, "INBOX")).messages} messages in INBOX`
    )
    yield* ImapClient.logout(imap)
  }).pipe(Effect.scoped, Effect.provide(MemoryTransport.layer(rich.handler)))
})
