import type * as MailError from "@starttls/core/MailError"
import type { Transport } from "@starttls/core/Transport"
import * as Credentials from "@starttls/core/Credentials"
import type * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { describe, expectTypeOf, it } from "vitest"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"

declare const plain: ImapClient.ImapConnection<"Plain">
declare const secure: ImapClient.ImapConnection<"Secure">
declare const authed: ImapClient.ImapConnection<"Authenticated">
declare const selected: ImapClient.Selected

describe("COMPRESS=DEFLATE (RFC 4978)", () => {
  it("compress only after authentication (Authenticated or Selected), never before", () => {
    expectTypeOf(ImapClient.compress(authed)).toEqualTypeOf<
      Effect.Effect<void, ImapError.ImapError | MailError.MailError>
    >()
    expectTypeOf(ImapClient.compress(selected, { allowWithoutTls: true })).toEqualTypeOf<
      Effect.Effect<void, ImapError.ImapError | MailError.MailError>
    >()
    // @ts-expect-error not on a Plain handle
    ImapClient.compress(plain)
    // @ts-expect-error not on a Secure handle (not authenticated yet)
    ImapClient.compress(secure)
    expectTypeOf(ImapClient.isCompressed(plain)).toEqualTypeOf<boolean>()
  })

  it("session's compress option does not change the session's type", () => {
    const credentials = Credentials.password({ username: "me", password: Redacted.make("pw") })
    expectTypeOf(ImapClient.session({ host: "mail.example.com", port: 143, credentials, compress: true })).toEqualTypeOf<
      Effect.Effect<ImapClient.ImapConnection<"Authenticated">, MailError.MailError, Transport | Scope.Scope>
    >()
  })
})
