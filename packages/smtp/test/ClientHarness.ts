/**
 * Test harness for the SMTP client tests: a `Transport` whose connections are served by a
 * `ScriptedServer` transcript (real TLS over an in-memory pair) or by the testkit's stateful
 * `SmtpServer`. Unlike `MemoryTransport`, the scripted server runs in the test's scope, so its
 * recording can be read after the client's scope (and socket) is gone.
 */
import * as Certificates from "@starttls/testkit/Certificates"
import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
import type * as Recording from "@starttls/testkit/Recording"
import * as ScriptedServer from "@starttls/testkit/ScriptedServer"
import * as ScriptedTransport from "@starttls/testkit/ScriptedTransport"
import * as SmtpServer from "@starttls/testkit/SmtpServer"
import * as Credentials from "@starttls/core/Credentials"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { assert } from "@effect/vitest"
import type * as MailError from "@starttls/core/MailError"
import { errorOf } from "@starttls/testkit/Failures"
import * as RecordingModule from "@starttls/testkit/Recording"
import type * as Exit from "effect/Exit"
import type * as SmtpError from "../src/SmtpError.ts"

/** Client options that trust the testkit CA and greet with a fixed name. */
export const options = {
  host: "localhost",
  port: 587,
  clientName: "client.example",
  tls: { trustOnly: [Certificates.ca.cert] },
  timeouts: { command: 3000, data: 3000, greeting: 3000, handshake: 3000 }
} as const

export const password = "s3cret-pw"
export const credentials = Credentials.password({ username: "alice", password: Redacted.make(password) })
/** base64("\0alice\0s3cret-pw") */
export const plainResponse = Buffer.from(`\0alice\0${password}`).toString("base64")

export type Scripted = ScriptedTransport.ScriptedTransport

/** Serves every connection with the transcript; the server runs in the caller's scope. */
export const scripted = (
  source: string,
  serverOptions?: ScriptedServer.Options
): Effect.Effect<Scripted, never, Scope.Scope> => ScriptedTransport.make(source, { timeoutMs: 2000, lingerMs: 50, ...serverOptions })

/** A stateful in-memory SMTP server and the transport that reaches it. */
export const memoryServer = (config?: SmtpServer.Config) =>
  Effect.map(SmtpServer.make({ users: { alice: password }, ...config }), (server) => ({
    server,
    layer: MemoryTransport.layer((duplex) => server.handler(duplex))
  }))

export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1")
export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "utf8"))

export const GREETING = "S: 220 mx.example ESMTP ready"
export const PLAIN_EHLO = `
  C: EHLO client.example
  S: 250-mx.example hello
  S+ 250-PIPELINING
  S+ 250-STARTTLS
  S+ 250-AUTH PLAIN
  S+ 250 8BITMIME`
export const TLS_EHLO = `
  C: EHLO client.example
  S: 250-mx.example hello again
  S+ 250-PIPELINING
  S+ 250-SIZE 10000
  S+ 250-CHUNKING
  S+ 250-8BITMIME
  S+ 250-ENHANCEDSTATUSCODES
  S+ 250 AUTH PLAIN LOGIN`
export const STARTTLS = `
  C: STARTTLS
  S: 220 2.0.0 Ready to start TLS
  -- starttls`
export const AUTH = `
  C: AUTH PLAIN ${plainResponse}
  S: 235 2.7.0 Authentication successful`
export const QUIT = `
  C: QUIT
  S: 221 2.0.0 Bye`

/** The reason of a failed exit, whichever error class carries it. */
export const reason = <A>(
  exit: Exit.Exit<A, MailError.MailError | SmtpError.SmtpError | unknown>
): MailError.MailErrorReason | SmtpError.SmtpErrorReason => {
  const error = errorOf(exit) as MailError.MailError | SmtpError.SmtpError
  return error.reason
}

/** Secrets that must never appear in plaintext. */
export const secrets = [password, "alice\0" + password]

/** Nothing credential- or content-bearing left the client in plaintext (ATTACKS.md §3.6 invariant 1). */
export const assertNoCred = (rec: Recording.Recording) => {
  const plain = RecordingModule.plaintextClientBytes(rec)
  assert.deepStrictEqual(RecordingModule.findSecretsInPlaintext(rec, secrets), [])
  for (const verb of ["AUTH", "MAIL", "RCPT", "DATA", "BDAT", "HELO"]) {
    assert.notMatch(plain, new RegExp(`(^|\\n)${verb}\\b`, "i"), `${verb} sent in plaintext`)
  }
}

