import type * as MailError from "@starttls/core/MailError"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import * as Credentials from "@starttls/core/Credentials"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { describe, expectTypeOf, it } from "vitest"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import type * as ImapMailbox from "../src/ImapMailbox.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"

declare const plain: ImapClient.ImapConnection<"Plain">
declare const secure: ImapClient.ImapConnection<"Secure">
declare const authed: ImapClient.ImapConnection<"Authenticated">
declare const selected: ImapClient.Selected

const credentials = Credentials.password({ username: "me", password: Redacted.make("pw") })
const options = { host: "mail.example.com", port: 143 }
type Errors = ImapError.ImapError | MailError.MailError

describe("connecting", () => {
  it("connect gives Plain, secure never does, session gives Authenticated", () => {
    expectTypeOf(ImapClient.connect(options)).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Plain">, MailError.MailError, Transport | Scope.Scope>
    >()
    expectTypeOf(ImapClient.secure(options)).toEqualTypeOf<
      Effect.Effect<
        ImapClient.ImapConnection<"Secure"> | ImapClient.ImapConnection<"Authenticated">,
        MailError.MailError,
        Transport | Scope.Scope
      >
    >()
    expectTypeOf(ImapClient.session({ ...options, credentials })).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Authenticated">, MailError.MailError, Transport | Scope.Scope>
    >()
  })

  it("STARTTLS only on Plain (never on a Secure connection, ATTACKS.md A26 b)", () => {
    expectTypeOf(ImapClient.startTls(plain)).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Secure">, MailError.MailError>
    >()
    // @ts-expect-error already TLS
    ImapClient.startTls(secure)
    // @ts-expect-error already authenticated
    ImapClient.startTls(authed)
  })

  it("opportunistic STARTTLS needs the dangerous layer in R", () => {
    const program = ImapClient.opportunistic(options).pipe(Effect.scoped)
    expectTypeOf<Effect.Services<typeof program>>().toEqualTypeOf<Transport | TlsPolicy.OpportunisticStartTls>()
  })
})

describe("authentication", () => {
  it("on Secure, authenticate and login need nothing more", () => {
    expectTypeOf(ImapClient.authenticate(secure, credentials)).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Authenticated">, MailError.MailError, never>
    >()
    expectTypeOf(ImapClient.login(secure, "me", Redacted.make("pw"))).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Authenticated">, Errors, never>
    >()
  })

  it("on Plain, LOGIN does not compile as runnable without the PlaintextAuth policy", () => {
    const login = ImapClient.login(plain, "me", Redacted.make("pw"))
    expectTypeOf<Effect.Services<typeof login>>().toEqualTypeOf<TlsPolicy.PlaintextAuth>()
    // @ts-expect-error the dangerous layer is missing
    Effect.runPromise(login)
    const allowed = login.pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
    expectTypeOf<Effect.Services<typeof allowed>>().toEqualTypeOf<never>()
    const sasl = ImapClient.authenticate(plain, credentials)
    expectTypeOf<Effect.Services<typeof sasl>>().toEqualTypeOf<TlsPolicy.PlaintextAuth>()
  })

  it("no authentication on an authenticated connection", () => {
    // @ts-expect-error already authenticated
    ImapClient.login(authed, "me", Redacted.make("pw"))
    // @ts-expect-error already authenticated
    ImapClient.authenticate(authed, credentials)
  })

  it("trusted capabilities only once Secure (plaintext capabilities are never trusted)", () => {
    expectTypeOf(ImapClient.capabilities(secure)).toExtend<Effect.Effect<unknown, MailError.MailError>>()
    ImapClient.capabilities(selected)
    // @ts-expect-error plaintext capabilities are never trusted (S4)
    ImapClient.capabilities(plain)
    expectTypeOf(ImapClient.untrustedCapabilities(plain)).toExtend<Effect.Effect<unknown, MailError.MailError>>()
    // @ts-expect-error the untrusted (plaintext) list exists only on a Plain connection
    ImapClient.untrustedCapabilities(secure)
  })
})

describe("Authenticated state (RFC 9051 §6.3)", () => {
  it("mailbox commands need an authenticated connection (or a selected one)", () => {
    expectTypeOf(ImapClient.select(authed, "INBOX")).toEqualTypeOf<Effect.Effect<ImapClient.Selected, Errors>>()
    expectTypeOf(ImapClient.select(selected, "INBOX")).toEqualTypeOf<Effect.Effect<ImapClient.Selected, Errors>>()
    expectTypeOf(ImapClient.list(authed)).toEqualTypeOf<
      Effect.Effect<ReadonlyArray<ImapMailbox.ListEntry>, Errors>
    >()
    expectTypeOf(ImapClient.append(selected, "Sent", new Uint8Array(1))).toEqualTypeOf<
      Effect.Effect<ImapClient.AppendResult, Errors>
    >()
    // @ts-expect-error not before authentication
    ImapClient.select(plain, "INBOX")
    // @ts-expect-error not before authentication, even over TLS
    ImapClient.select(secure, "INBOX")
    // @ts-expect-error not before authentication
    ImapClient.list(secure)
    // @ts-expect-error not before authentication
    ImapClient.append(plain, "Sent", new Uint8Array(1))
    // @ts-expect-error not before authentication
    ImapClient.status(secure, "INBOX")
    // @ts-expect-error not before authentication
    ImapClient.create(plain, "x")
  })

  it("an APPEND stream's error joins the errors", () => {
    class Broken {
      readonly _tag = "Broken"
    }
    const message = { size: 3, stream: null as unknown as Stream.Stream<Uint8Array, Broken> }
    expectTypeOf(ImapClient.append(authed, "Sent", message)).toEqualTypeOf<
      Effect.Effect<ImapClient.AppendResult, Broken | Errors>
    >()
  })
})

describe("Selected state (RFC 9051 §6.4)", () => {
  it("message commands need a Selected handle", () => {
    expectTypeOf(ImapClient.fetch(selected, SequenceSet.all, { uid: true })).toEqualTypeOf<
      Stream.Stream<ImapClient.FetchedMessage, Errors>
    >()
    expectTypeOf(ImapClient.download(selected, 1)).toEqualTypeOf<Stream.Stream<Uint8Array, Errors>>()
    expectTypeOf(ImapClient.closeMailbox(selected)).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Authenticated">, Errors>
    >()
    // @ts-expect-error no mailbox is selected
    ImapClient.fetch(authed, SequenceSet.all, { uid: true })
    // @ts-expect-error no mailbox is selected
    ImapClient.search(authed, SearchCriteria.all)
    // @ts-expect-error no mailbox is selected
    ImapClient.store(authed, SequenceSet.all, "add", ["\\Seen"])
    // @ts-expect-error no mailbox is selected
    ImapClient.expunge(authed)
    // @ts-expect-error no mailbox is selected
    ImapClient.copy(authed, SequenceSet.all, "Archive")
    // @ts-expect-error no mailbox is selected
    ImapClient.closeMailbox(authed)
    // @ts-expect-error never before authentication
    ImapClient.fetch(plain, SequenceSet.all, {})
  })

  it("any state: noop and logout; events are scoped", () => {
    expectTypeOf(ImapClient.noop(plain)).toEqualTypeOf<Effect.Effect<void, Errors>>()
    expectTypeOf(ImapClient.logout(selected)).toEqualTypeOf<Effect.Effect<void>>()
    expectTypeOf(ImapClient.events(secure)).toEqualTypeOf<
      Effect.Effect<Stream.Stream<ImapMailbox.ImapEvent>, MailError.MailError, Scope.Scope>
    >()
  })
})
