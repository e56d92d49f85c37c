import * as Redacted from "effect/Redacted"
import { describe, expectTypeOf, it } from "vitest"
import type * as SmtpProtocol from "../src/SmtpProtocol.ts"
import type * as Framer from "@starttls/core/Framer"
import * as SmtpCommand from "../src/SmtpCommand.ts"
import type * as SmtpReply from "../src/SmtpReply.ts"

describe("SmtpCommand types", () => {
  it("takes SASL responses only as Redacted bytes (S7)", () => {
    const secret = Redacted.make(new Uint8Array([1, 2]))
    expectTypeOf(SmtpCommand.auth("PLAIN", secret)).toEqualTypeOf<SmtpCommand.Auth>()
    // @ts-expect-error a plain string cannot be an initial response
    SmtpCommand.auth("PLAIN", "AHUAcA==")
    // @ts-expect-error raw bytes must be wrapped in Redacted
    SmtpCommand.authContinue(new Uint8Array([1]))
  })

  it("types the closed parameter values", () => {
    SmtpCommand.mail("a@example.com", { body: "8BITMIME", ret: "HDRS" })
    // @ts-expect-error not a BODY type
    SmtpCommand.mail("a@example.com", { body: "8BIT" })
    SmtpCommand.rcpt("b@example.com", { notify: ["SUCCESS", "DELAY"], orcpt: { type: "utf-8", address: "x" } })
    // @ts-expect-error NEVER cannot be combined with other conditions
    SmtpCommand.rcpt("b@example.com", { notify: ["NEVER", "DELAY"] })
  })

  it("makes the reply parser a core Framer", () => {
    expectTypeOf<SmtpProtocol.ReplyParser>().toEqualTypeOf<Framer.Framer<SmtpReply.SmtpReply>>()
  })

  it("narrows commands by _tag", () => {
    const command = SmtpCommand.bdat(1, true) as SmtpCommand.SmtpCommand
    if (command._tag === "Bdat") expectTypeOf(command.size).toEqualTypeOf<number>()
  })
})
