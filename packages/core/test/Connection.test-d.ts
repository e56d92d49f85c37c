import * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { describe, expectTypeOf, it } from "vitest"
import type { Caps } from "./LineDialect.ts"
import * as LineDialect from "./LineDialect.ts"

type Line<S extends Connection.State> = Connection.Connection<S, string, Caps>
declare const plain: Line<"Plain">
declare const secure: Line<"Secure">
declare const authenticated: Line<"Authenticated">

/** An operation a protocol package would offer only once authenticated (IMAP SELECT, POP3 RETR ...). */
declare const mailboxOperation: (connection: Line<"Authenticated">) => Effect.Effect<void, MailError.MailError>

const options = { host: "mail.example.com", port: 143 }
const credentials = Credentials.password({ username: "me", password: Redacted.make("pw") })

describe("typestate", () => {
  it("connect gives Plain, startTls turns Plain into Secure", () => {
    expectTypeOf(Connection.connect(LineDialect.dialect, options)).toEqualTypeOf<
      Effect.Effect<Line<"Plain">, MailError.MailError, Transport | Scope.Scope>
    >()
    expectTypeOf(Connection.startTls(plain)).toEqualTypeOf<Effect.Effect<Line<"Secure">, MailError.MailError>>()
  })

  it("startTls exists only on Plain", () => {
    // @ts-expect-error a Secure connection cannot STARTTLS again (A26 b)
    Connection.startTls(secure)
    // @ts-expect-error nor can an authenticated one
    Connection.startTls(authenticated)
  })

  it("trusted capabilities only on Secure/Authenticated", () => {
    expectTypeOf(Connection.capabilities(secure)).toEqualTypeOf<Effect.Effect<Caps, MailError.MailError>>()
    // @ts-expect-error plaintext capabilities are never trusted (S4)
    Connection.capabilities(plain)
  })

  it("authenticated-only operations are unavailable on Plain and Secure", () => {
    expectTypeOf(mailboxOperation(authenticated)).toEqualTypeOf<Effect.Effect<void, MailError.MailError>>()
    // @ts-expect-error not on Plain
    mailboxOperation(plain)
    // @ts-expect-error not on Secure
    mailboxOperation(secure)
  })

  it("secure never yields a Plain handle", () => {
    expectTypeOf(Connection.secure(LineDialect.dialect, options)).toEqualTypeOf<
      Effect.Effect<Line<"Secure"> | Line<"Authenticated">, MailError.MailError, Transport | Scope.Scope>
    >()
  })

  it("opportunistic STARTTLS needs the dangerous layer before the program can run", () => {
    const program = Connection.opportunistic(LineDialect.dialect, options).pipe(Effect.scoped)
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<Transport | TlsPolicy.OpportunisticStartTls>()
    const withPolicy = program.pipe(Effect.provide(TlsPolicy.opportunisticStartTlsDangerously))
    expectTypeOf<Effect.Services<typeof withPolicy>>().toEqualTypeOf<Transport>()
  })

  it("authenticate on Secure needs nothing more", () => {
    expectTypeOf(Connection.authenticate(secure, credentials)).toEqualTypeOf<
      Effect.Effect<Line<"Authenticated">, MailError.MailError, never>
    >()
  })

  it("authenticate on Plain requires the PlaintextAuth policy: the program cannot run without the layer", () => {
    const program = Connection.authenticate(plain, credentials)
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<TlsPolicy.PlaintextAuth>()
    // @ts-expect-error the dangerous layer is missing: the program does not type-check as runnable
    Effect.runPromise(program)
    const allowed = program.pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
    expectTypeOf<Effect.Services<typeof allowed>>().toEqualTypeOf<never>()
    Effect.runPromise(allowed)
  })

  it("authenticate does not exist on an Authenticated connection", () => {
    // @ts-expect-error already authenticated
    Connection.authenticate(authenticated, credentials)
  })

  it("token credentials carry the error of the effect that fetches the token", () => {
    class TokenExpired {
      readonly _tag = "TokenExpired"
    }
    const oauth = Credentials.oauth2({
      username: "me",
      token: Effect.fail(new TokenExpired()) as Effect.Effect<Redacted.Redacted<string>, TokenExpired>
    })
    expectTypeOf(Connection.authenticate(secure, oauth)).toEqualTypeOf<
      Effect.Effect<Line<"Authenticated">, TokenExpired | MailError.MailError, never>
    >()
  })
})
