import * as Connection from "@starttls/core/Connection"
import type * as MailError from "@starttls/core/MailError"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
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
})
