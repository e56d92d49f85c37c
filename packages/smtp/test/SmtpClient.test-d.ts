import type * as Connection from "@starttls/core/Connection"
import * as Credentials from "@starttls/core/Credentials"
import type * as MailError from "@starttls/core/MailError"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { describe, expectTypeOf, it } from "vitest"
import * as Lmtp from "../src/LmtpClient.ts"
import * as Smtp from "../src/SmtpClient.ts"
import type * as SmtpError from "../src/SmtpError.ts"
import type * as SmtpExtensions from "../src/SmtpExtensions.ts"
import type * as SmtpReply from "../src/SmtpReply.ts"
import * as SmtpPool from "../src/SmtpPool.ts"

declare const plain: Smtp.SmtpConnection<"Plain">
declare const secure: Smtp.SmtpConnection<"Secure">
declare const authenticated: Smtp.SmtpConnection<"Authenticated">
declare const maybePlain: Smtp.SmtpConnection<"Plain" | "Secure">
const credentials = Credentials.password({ username: "me", password: Redacted.make("pw") })
const options = { host: "mail.example.com", port: 587 }
const envelope = { from: "a@example.com", to: ["b@example.org"] }

type Errors = SmtpError.SmtpError | MailError.MailError

describe("SMTP typestate", () => {
  it("connect gives Plain; startTls turns it into Secure and exists only on Plain", () => {
    expectTypeOf(Smtp.connect(options)).toEqualTypeOf<
      Effect.Effect<Smtp.SmtpConnection<"Plain">, Errors, Transport | Scope.Scope>
    >()
    expectTypeOf(Smtp.startTls(plain)).toEqualTypeOf<Effect.Effect<Smtp.SmtpConnection<"Secure">, MailError.MailError>>()
    // @ts-expect-error STARTTLS on a Secure connection (ATTACKS.md A26 b)
    Smtp.startTls(secure)
    // @ts-expect-error nor on an authenticated one
    Smtp.startTls(authenticated)
  })

  it("secure, connectTls and session never give a Plain handle; session with credentials is Authenticated", () => {
    expectTypeOf(Smtp.secure(options)).toEqualTypeOf<
      Effect.Effect<Smtp.SmtpConnection<"Secure">, Errors, Transport | Scope.Scope>
    >()
    expectTypeOf(Smtp.connectTls(options)).toEqualTypeOf<
      Effect.Effect<Smtp.SmtpConnection<"Secure">, Errors, Transport | Scope.Scope>
    >()
    expectTypeOf(Smtp.session({ ...options, credentials })).toEqualTypeOf<
      Effect.Effect<Smtp.SmtpConnection<"Authenticated">, Errors, Transport | Scope.Scope>
    >()
    expectTypeOf(Smtp.session(options)).toEqualTypeOf<
      Effect.Effect<Smtp.SmtpConnection<"Secure">, Errors, Transport | Scope.Scope>
    >()
  })

  it("send on Secure and Authenticated needs nothing more", () => {
    expectTypeOf(Smtp.send(secure, envelope, "x")).toEqualTypeOf<Effect.Effect<Smtp.SendResult, Errors, never>>()
    expectTypeOf(Smtp.send(authenticated, envelope, new Uint8Array())).toEqualTypeOf<
      Effect.Effect<Smtp.SendResult, Errors, never>
    >()
  })

  it("send on Plain requires the dangerous opportunistic policy: the program cannot run without its layer", () => {
    const program = Smtp.send(plain, envelope, "x")
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<TlsPolicy.OpportunisticStartTls>()
    // @ts-expect-error the dangerous layer is missing
    Effect.runPromise(program)
    const allowed = program.pipe(Effect.provide(TlsPolicy.opportunisticStartTlsDangerously))
    expectTypeOf<Effect.Services<typeof allowed>>().toEqualTypeOf<never>()
  })

  it("a handle that may be Plain needs the policy too", () => {
    const program = Smtp.send(maybePlain, envelope, "x")
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<TlsPolicy.OpportunisticStartTls>()
  })

  it("a streamed message carries its error and requirements", () => {
    class ReadFailed {
      readonly _tag = "ReadFailed"
    }
    class Source extends Context.Service<Source, { readonly name: string }>()("Source") {}
    const stream = Stream.fail(new ReadFailed()) as Stream.Stream<Uint8Array, ReadFailed, Source>
    expectTypeOf(Smtp.send(secure, envelope, stream)).toEqualTypeOf<
      Effect.Effect<Smtp.SendResult, Errors | ReadFailed, Source>
    >()
  })

  it("authenticate: on Secure nothing more, on Plain the PlaintextAuth policy, never on Authenticated", () => {
    expectTypeOf(Smtp.authenticate(secure, credentials)).toEqualTypeOf<
      Effect.Effect<Smtp.SmtpConnection<"Authenticated">, MailError.MailError, never>
    >()
    const onPlain = Smtp.authenticate(plain, credentials)
    expectTypeOf<Effect.Services<typeof onPlain>>().toEqualTypeOf<TlsPolicy.PlaintextAuth>()
    // @ts-expect-error already authenticated
    Smtp.authenticate(authenticated, credentials)
  })

  it("opportunistic needs its dangerous layer and may give a Plain handle", () => {
    const program = Smtp.opportunistic(options)
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<
      Transport | Scope.Scope | TlsPolicy.OpportunisticStartTls
    >()
    expectTypeOf<Effect.Success<typeof program>>().toEqualTypeOf<
      Smtp.SmtpConnection<"Plain"> | Smtp.SmtpConnection<"Secure">
    >()
  })

  it("trusted extensions only on Secure/Authenticated; reset and noop outside Plain", () => {
    expectTypeOf(Smtp.extensions(secure)).toEqualTypeOf<
      Effect.Effect<SmtpExtensions.SmtpExtensions, MailError.MailError>
    >()
    // @ts-expect-error plaintext extensions are never trusted (S4)
    Smtp.extensions(plain)
    expectTypeOf(Smtp.untrustedExtensions(plain)).toEqualTypeOf<
      Effect.Effect<SmtpExtensions.SmtpExtensions, MailError.MailError>
    >()
    // @ts-expect-error only Plain handles have untrusted extensions
    Smtp.untrustedExtensions(secure)
    // @ts-expect-error no RSET on Plain
    Smtp.reset(plain)
    // @ts-expect-error no NOOP on Plain
    Smtp.noop(plain)
  })

  it("LMTP shares the handle and send", () => {
    expectTypeOf(Lmtp.secure(options)).toEqualTypeOf<
      Effect.Effect<Lmtp.LmtpConnection<"Secure">, Errors, Transport | Scope.Scope>
    >()
    expectTypeOf<Lmtp.LmtpConnection<"Plain">>().toEqualTypeOf<
      Connection.Connection<"Plain", SmtpReply.SmtpReply, SmtpExtensions.SmtpExtensions>
    >()
  })

  it("the pool is a layer over the transport; send needs nothing else", () => {
    expectTypeOf(SmtpPool.layer({ ...options, credentials })).toEqualTypeOf<
      import("effect/Layer").Layer<SmtpPool.SmtpPool, never, Transport>
    >()
    const program = Effect.gen(function*() {
      const pool = yield* SmtpPool.SmtpPool
      return yield* pool.send(envelope, "x")
    })
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<SmtpPool.SmtpPool>()
    expectTypeOf<Effect.Error<typeof program>>().toEqualTypeOf<Errors>()
  })
})
