/**
 * Test harness of the IMAP client tests: a `Transport` whose connections are played by a testkit
 * `ScriptedServer` transcript (real TLS over an in-memory pair), with the server's fiber kept in the
 * test's scope so its `Recording` can be read once the client is gone, and the stateful
 * `ImapServer` behind `MemoryTransport`.
 */
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import { Transport } from "@starttls/core/Transport"
import * as Certificates from "@starttls/testkit/Certificates"
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
import { errorOf } from "@starttls/testkit/Failures"
import * as Recording from "@starttls/testkit/Recording"
import * as ScriptedServer from "@starttls/testkit/ScriptedServer"
import * as ScriptedTransport from "@starttls/testkit/ScriptedTransport"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

/** Client options trusting the testkit CA, with short deadlines. */
export const options = {
  host: "localhost",
  port: 143,
  tls: { trustOnly: [Certificates.ca.cert] },
  timeouts: { command: 2000, data: 2000, greeting: 2000, handshake: 2000 }
} as const

export const password = "s3cret-pw"
export const credentials = Credentials.password({ username: "alice", password: Redacted.make(password) })
/** base64("\0alice\0s3cret-pw"): the PLAIN initial response. */
export const plain = Buffer.from(`\0alice\0${password}`).toString("base64")

/** The Dovecot-like start of a STARTTLS session, up to the authenticated state (tags A1-A3). */
export const LOGGED_IN = String.raw`
  S: * OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] ready
  C: A1 STARTTLS
  S: A1 OK Begin TLS negotiation now
  -- starttls
  C: A2 CAPABILITY
  S: * CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN
  S+ A2 OK Pre-login capabilities listed
  C: A3 AUTHENTICATE PLAIN ${plain}
  S: A3 OK [CAPABILITY IMAP4rev1 SASL-IR ID ENABLE IDLE UNSELECT UIDPLUS MOVE LITERAL+ SPECIAL-USE LIST-EXTENDED] Logged in
`

/** LOGGED_IN, then SELECT INBOX (A4) with 3 messages. */
export const SELECTED = String.raw`${LOGGED_IN}
  C: A4 SELECT INBOX
  S: * FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)
  S+ * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.
  S+ * 3 EXISTS
  S+ * 0 RECENT
  S+ * OK [UIDVALIDITY 1700000000] UIDs valid
  S+ * OK [UIDNEXT 4] Predicted next UID
  S+ A4 OK [READ-WRITE] Select completed.
`

/** Serves every connection with the transcript (short server deadlines); the server fibers live in
 * the caller's scope. */
export const scripted = (
  source: string,
  serverOptions?: ScriptedServer.Options
): Effect.Effect<ScriptedTransport.ScriptedTransport, never, Scope.Scope> =>
  ScriptedTransport.make(source, { timeoutMs: 600, lingerMs: 30, ...serverOptions })

/** A stateful in-memory IMAP server and the transport that reaches it. */
export const memoryServer = (config?: ImapServer.Config) =>
  Effect.map(
    ImapServer.make({ users: { alice: password }, ...config }),
    (server) => ({ server, layer: MemoryTransport.layer((duplex) => server.handler(duplex)) })
  )

/** Collects security events into `events`. */
export const collectSecurityEvents = () => {
  const events: Array<SecurityEvents.SecurityEvent> = []
  return { events, layer: SecurityEvents.layer((e) => Effect.sync(() => events.push(e))) }
}

/** Runs `program` against the transcript; returns its exit and the server's recording. */
export const play = <A, E>(
  source: string,
  program: Effect.Effect<A, E, Transport | Scope.Scope>,
  serverOptions?: ScriptedServer.Options
) =>
  Effect.gen(function*() {
    const { connections, layer, recording } = yield* scripted(source, serverOptions)
    const exit = yield* Effect.exit(program.pipe(Effect.scoped, Effect.provide(layer)))
    const rec = yield* recording.pipe(
      // A client that (rightly) hung up while the server was still writing: what it sent is the recording.
      Effect.catchIf(
        (mismatch) => mismatch.reason === "Timeout" && mismatch.expected === "the client to read the server's write",
        (mismatch) => Effect.succeed(mismatch.recording)
      )
    )
    return { exit, rec, connects: connections() }
  })

/** ATTACKS.md "no-cred": in plaintext the client sent only CAPABILITY, STARTTLS or LOGOUT, and no secret. */
export const plaintextIsClean = (rec: Recording.Recording): boolean => {
  // A TLS ClientHello the server never answered is recorded as plain bytes: it is not plaintext data.
  const chunks = rec.chunks.filter((c) => c.phase === "plain" && !(c.bytes[0] === 0x16 && c.bytes[1] === 0x03))
  const text = Buffer.concat(chunks.map((c) => c.bytes)).toString("utf8")
  const lines = text.split("\r\n").filter((l) => l.length > 0)
  return lines.every((l) => /^A\d+ (CAPABILITY|STARTTLS|LOGOUT)$/.test(l)) &&
    Recording.findSecretsInPlaintext(rec, [password, plain]).length === 0
}

/** Fails the test with the cause when `exit` is a failure. */
export const assertSuccess = <A, E>(exit: Exit.Exit<A, E>): void => {
  if (Exit.isFailure(exit)) throw new Error(`expected success, got: ${Cause.pretty(exit.cause)}`)
}

/** The reason of a failed exit, whether a `MailError` or an `ImapError` (throws on success). */
export const reason = <A, E>(exit: Exit.Exit<A, E>): MailError.MailErrorReason | ImapError.ImapErrorReason =>
  (errorOf(exit) as MailError.MailError | ImapError.ImapError).reason

/** Runs `program` with security events collected into `events`. */
export const withEvents = <A, E, R>(program: Effect.Effect<A, E, R>) => {
  const { events, layer } = collectSecurityEvents()
  return { events, program: program.pipe(Effect.provide(layer)) }
}

export const notices = (events: ReadonlyArray<SecurityEvents.SecurityEvent>) =>
  events.filter((e) => e._tag === "UntrustedPlaintextNotice")

/** The post-TLS CAPABILITY exchange (tag A2) of a transcript. */
export const TLS_CAPS = String.raw`
  C: A2 CAPABILITY
  S: * CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN
  S+ A2 OK done
`

/** Greeting, STARTTLS and its OK, then TLS (tag A1). */
export const UPGRADED = String.raw`S: * OK ready
  C: A1 STARTTLS
  S: A1 OK go
  -- starttls`

/** A connection made Secure with STARTTLS. */
export const upgraded = Effect.flatMap(ImapClient.connect(options), ImapClient.startTls)
