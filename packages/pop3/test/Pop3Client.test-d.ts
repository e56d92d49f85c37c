/**
 * Type tests of the POP3 client: RFC 1939's states in the handle types (AUTHORIZATION = Plain |
 * Secure, TRANSACTION = Authenticated), and every login on a Plain handle requiring the dangerous
 * `PlaintextAuth` policy before the program can run.
 */
import type * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { describe, expectTypeOf, it } from "vitest"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as Pop3Command from "../src/Pop3Command.ts"
import type * as Pop3Error from "../src/Pop3Error.ts"
import type * as Pop3Response from "../src/Pop3Response.ts"

declare const plain: Pop3Client.Pop3Connection<"Plain">
declare const secure: Pop3Client.Pop3Connection<"Secure">
declare const authed: Pop3Client.Pop3Connection<"Authenticated">

type Failure = Pop3Error.Pop3Error | MailError.MailError
const options = { host: "pop.example.com", port: 110 }
const password = Credentials.password({ username: "me", password: Redacted.make("pw") })

describe("connecting", () => {
  it("connect gives Plain; secure and connectTls give Secure (POP3 has no pre-authenticated greeting)", () => {
    expectTypeOf(Pop3Client.connect(options)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Plain">, MailError.MailError, Transport | Scope.Scope>
    >()
    expectTypeOf(Pop3Client.secure(options)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Secure">, MailError.MailError, Transport | Scope.Scope>
    >()
    expectTypeOf(Pop3Client.connectTls(options)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Secure">, MailError.MailError, Transport | Scope.Scope>
    >()
  })

  it("STLS exists only on Plain (A26 b: never on a Secure connection)", () => {
    expectTypeOf(Pop3Client.startTls(plain)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Secure">, MailError.MailError>
    >()
    expectTypeOf(Pop3Client.startTls(plain, { deferCapabilities: true })).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Secure">, MailError.MailError>
    >()
    // @ts-expect-error already TLS
    Pop3Client.startTls(secure)
    // @ts-expect-error already TLS and logged in
    Pop3Client.startTls(authed)
  })

  it("session names its mechanism like ImapClient.session; the named path needs nothing more", () => {
    const named = Pop3Client.session({ ...options, credentials: password, authenticate: { mechanisms: ["PLAIN"] } })
    expectTypeOf(named).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Authenticated">, MailError.MailError, Transport | Scope.Scope>
    >()
    const optedOut = { mechanisms: ["PLAIN"], withoutCapabilities: false }
    expectTypeOf(Pop3Client.session({ ...options, credentials: password, authenticate: optedOut })).toEqualTypeOf(named)
    // @ts-expect-error the option is a boolean
    Pop3Client.session({ ...options, credentials: password, authenticate: { withoutCapabilities: "yes" } })
  })

  it("trusted capabilities only once TLS is up", () => {
    Pop3Client.capabilities(secure)
    Pop3Client.capabilities(authed)
    // @ts-expect-error plaintext capabilities are never trusted (S4)
    Pop3Client.capabilities(plain)
  })

  it("opportunistic STLS needs the dangerous layer", () => {
    const program = Effect.scoped(Pop3Client.opportunistic(options))
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<Transport | TlsPolicy.OpportunisticStartTls>()
  })
})

describe("AUTHORIZATION → TRANSACTION", () => {
  it("every login on Secure needs nothing more and gives an Authenticated handle", () => {
    expectTypeOf(Pop3Client.authenticate(secure, password)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Authenticated">, MailError.MailError, never>
    >()
    expectTypeOf(Pop3Client.login(secure, password)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Authenticated">, MailError.MailError, never>
    >()
    expectTypeOf(Pop3Client.apop(secure, password)).toEqualTypeOf<
      Effect.Effect<Pop3Client.Pop3Connection<"Authenticated">, MailError.MailError, never>
    >()
  })

  it("every login on Plain requires PlaintextAuth: the program cannot run without the layer", () => {
    for (
      const program of [
        Pop3Client.authenticate(plain, password),
        Pop3Client.login(plain, password),
        Pop3Client.apop(plain, password)
      ]
    ) {
      expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<TlsPolicy.PlaintextAuth>()
      // @ts-expect-error the dangerous layer is missing
      Effect.runPromise(program)
      Effect.runPromise(program.pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously)))
    }
  })

  it("no second login on an Authenticated handle", () => {
    // @ts-expect-error already in TRANSACTION
    Pop3Client.authenticate(authed, password)
    // @ts-expect-error already in TRANSACTION
    Pop3Client.login(authed, password)
    // @ts-expect-error already in TRANSACTION
    Pop3Client.apop(authed, password)
  })

  it("USER/PASS and APOP take passwords only", () => {
    const token = Credentials.oauth2({ username: "me", token: Redacted.make("t") })
    Pop3Client.authenticate(secure, token)
    // @ts-expect-error USER/PASS needs a password
    Pop3Client.login(secure, token)
  })
})

describe("TRANSACTION commands exist only in TRANSACTION (RFC 1939 §5)", () => {
  it("their types", () => {
    expectTypeOf(Pop3Client.stat(authed)).toEqualTypeOf<Effect.Effect<Pop3Response.Stat, Failure>>()
    expectTypeOf(Pop3Client.list(authed)).toEqualTypeOf<Effect.Effect<ReadonlyArray<Pop3Response.ListEntry>, Failure>>()
    expectTypeOf(Pop3Client.uidlMessage(authed, 1)).toEqualTypeOf<Effect.Effect<Pop3Response.UidlEntry, Failure>>()
    expectTypeOf(Pop3Client.retrieve(authed, 1)).toEqualTypeOf<Stream.Stream<Uint8Array, Failure>>()
    expectTypeOf(Pop3Client.retrieveAll(authed, [1, 2])).toEqualTypeOf<Stream.Stream<Pop3Client.Message, Failure>>()
    expectTypeOf(Pop3Client.deleteMany(authed, [1])).toEqualTypeOf<Effect.Effect<Pop3Client.DeleteResult, Failure>>()
    expectTypeOf(Pop3Client.quit(authed)).toEqualTypeOf<Effect.Effect<Pop3Client.QuitResult, Failure>>()
  })

  it("not in AUTHORIZATION, with or without TLS", () => {
    // @ts-expect-error STAT before login
    Pop3Client.stat(secure)
    // @ts-expect-error RETR before login
    Pop3Client.retrieve(plain, 1)
    // @ts-expect-error DELE before login
    Pop3Client.dele(secure, 1)
    // @ts-expect-error LIST before login
    Pop3Client.list(plain)
    // @ts-expect-error TOP before login
    Pop3Client.top(secure, 1, 0)
    // @ts-expect-error pipelining before login
    Pop3Client.pipeline(secure, [Pop3Command.stat])
  })

  it("pipeline takes only TRANSACTION commands: never STLS, AUTH, PASS or QUIT", () => {
    Pop3Client.pipeline(authed, [Pop3Command.stat, Pop3Command.retr(1), Pop3Command.dele(1), Pop3Command.rset])
    // @ts-expect-error STLS is never pipelined (A19)
    Pop3Client.pipeline(authed, [Pop3Command.stls])
    // @ts-expect-error nor credentials
    Pop3Client.pipeline(authed, [Pop3Command.pass(Redacted.make("pw"))])
    // @ts-expect-error QUIT has its own operation (deletions, S12)
    Pop3Client.pipeline(authed, [Pop3Command.quit])
  })

  it("QUIT is possible in every state", () => {
    Pop3Client.quit(plain)
    Pop3Client.quit(secure)
    expectTypeOf<Pop3Client.Transaction>().toEqualTypeOf<"Authenticated">()
    expectTypeOf<Pop3Client.Authorization>().toEqualTypeOf<Exclude<Connection.State, "Authenticated">>()
  })
})
