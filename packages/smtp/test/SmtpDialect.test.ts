import { assert, describe, it } from "@effect/vitest"
import * as Limits from "@starttls/core/Limits"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as SmtpCommand from "../src/SmtpCommand.ts"
import * as SmtpDialect from "../src/SmtpDialect.ts"
import * as SmtpExtensions from "../src/SmtpExtensions.ts"
import * as SmtpReply from "../src/SmtpReply.ts"

const reply = (code: number, ...lines: Array<string>) => Result.getOrThrow(SmtpReply.make(code, lines.length === 0 ? [""] : lines))
const text = (bytes: ReadonlyArray<Uint8Array>) => Buffer.concat(bytes).toString("latin1")

describe("SmtpDialect", () => {
  const session = () => SmtpDialect.smtp.session()

  it("names, ports and the capability-first rule", () => {
    assert.strictEqual(SmtpDialect.smtp.name, "SMTP")
    assert.deepStrictEqual(SmtpDialect.smtp.implicitTlsPorts, [465])
    assert.isTrue(SmtpDialect.smtp.capabilitiesBeforeStartTls)
    assert.strictEqual(SmtpDialect.lmtp.name, "LMTP")
    assert.deepStrictEqual(SmtpDialect.lmtp.implicitTlsPorts, [])
  })

  it("greeting: 220 is Ready, everything else Rejected with the escaped text", () => {
    assert.deepStrictEqual(session().greeting(reply(220, "hi")), {
      _tag: "Done",
      value: { _tag: "Ready", capabilities: undefined }
    })
    for (const code of [221, 250, 354, 421, 554]) {
      const step = session().greeting(reply(code, "go\taway"))
      assert.deepStrictEqual(step, { _tag: "Done", value: { _tag: "Rejected", untrustedText: `${code} go\\x09away` } })
    }
  })

  it("EHLO / LHLO commands use the configured name; an invalid name is refused", () => {
    const made = Result.getOrThrow(SmtpDialect.make({ clientName: "[192.0.2.1]" }))
    assert.strictEqual(text(made.session().capabilities().bytes), "EHLO [192.0.2.1]\r\n")
    const lmtp = Result.getOrThrow(SmtpDialect.makeLmtp({ clientName: "client.example" }))
    assert.strictEqual(text(lmtp.session().capabilities().bytes), "LHLO client.example\r\n")
    for (const bad of ["a b", "x\r\nMAIL FROM:<a>", "", "caf\u00e9.example"]) {
      assert.isTrue(Result.isFailure(SmtpDialect.make({ clientName: bad })), bad)
    }
    assert.isTrue(SmtpCommand.isHelloName(SmtpDialect.defaultClientName))
  })

  it("EHLO replies: 250 gives extensions; a refusal is CapabilitiesUnavailable unless the connection is known to be plaintext", () => {
    const s = session()
    const command = s.capabilities()
    const ok = command.onFrame(reply(250, "mx", "STARTTLS", "AUTH PLAIN"))
    assert.strictEqual(ok._tag, "Done")
    if (ok._tag === "Done") assert.isTrue(ok.value.startTls)
    const refused = command.onFrame(reply(502, "no"))
    assert.strictEqual(refused._tag === "Fail" ? refused.reason._tag : refused._tag, "CapabilitiesUnavailable")
  })

  it("STARTTLS: only 220 is Done; 4yz retryable, 5yz not; anything else a violation", () => {
    const onFrame = session().startTls().onFrame
    assert.deepStrictEqual(onFrame(reply(220, "go")), { _tag: "Done", value: undefined })
    const tag = (code: number) => {
      const step = onFrame(reply(code, "x"))
      return step._tag === "Fail" ? [step.reason._tag, step.reason._tag === "StartTlsRejected" ? step.reason.retryable : undefined] : [step._tag]
    }
    assert.deepStrictEqual(tag(454), ["StartTlsRejected", true])
    assert.deepStrictEqual(tag(421), ["StartTlsRejected", true])
    assert.deepStrictEqual(tag(502), ["StartTlsRejected", false])
    for (const code of [200, 221, 250, 334, 354]) assert.deepStrictEqual(tag(code), ["ProtocolViolation", undefined])
    assert.strictEqual(text(session().startTls().bytes), "STARTTLS\r\n")
  })

  it("SASL framing: AUTH with initial response (= when empty), responses, cancel, replies", () => {
    const sasl = session().sasl
    const initial = Redacted.make(new TextEncoder().encode("\0u\0p"))
    const start = sasl.start("PLAIN", initial)
    assert.strictEqual(text(start.bytes), "AUTH PLAIN AHUAcA==\r\n")
    assert.deepStrictEqual(start.trace, ["AUTH PLAIN ***"])
    assert.strictEqual(text(sasl.start("EXTERNAL", Redacted.make(new Uint8Array(0))).bytes), "AUTH EXTERNAL =\r\n")
    assert.strictEqual(text(sasl.start("LOGIN", undefined).bytes), "AUTH LOGIN\r\n")
    assert.strictEqual(text(sasl.respond(Redacted.make(new Uint8Array(0))).bytes), "\r\n")
    assert.strictEqual(text(sasl.cancel().bytes), "*\r\n")
    assert.deepStrictEqual(sasl.onFrame(reply(334, "VXNlcm5hbWU6")), { _tag: "Challenge", data: new TextEncoder().encode("Username:") })
    assert.deepStrictEqual(sasl.onFrame(reply(235, "2.7.0 ok")), { _tag: "Success", data: undefined, capabilities: undefined })
    assert.deepStrictEqual(sasl.onFrame(reply(535, "5.7.8 Error: authentication failed")), {
      _tag: "Failure",
      code: "535 5.7.8",
      untrustedText: "535 5.7.8 Error: authentication failed"
    })
    assert.strictEqual(sasl.onFrame(reply(334, "%%%"))._tag, "Violation")
    assert.strictEqual(sasl.onFrame(reply(250, "ok"))._tag, "Violation")
    // RFC 4954 §4: inline while "AUTH PLAIN " + response + CRLF fits 12288 octets.
    const ehlo = SmtpExtensions.parseEhlo(reply(250, "mx"))
    assert.isTrue(sasl.initialResponse(ehlo, "PLAIN", 12288 - "AUTH PLAIN \r\n".length))
    assert.isFalse(sasl.initialResponse(ehlo, "PLAIN", 12288 - "AUTH PLAIN \r\n".length + 1))
  })

  it("an initial response too long for one AUTH line is not sent; the exchange stops at the server's 334", () => {
    const s = session()
    const huge = Redacted.make(new Uint8Array(10_000))
    assert.strictEqual(text(s.sasl.start("XOAUTH2", huge).bytes), "AUTH XOAUTH2\r\n")
    assert.strictEqual(s.sasl.onFrame(reply(334, ""))._tag, "Violation")
    assert.strictEqual(text(s.sasl.respond(Redacted.make(new Uint8Array(10_000))).bytes), "*\r\n")
  })

  it("QUIT; the framer is bounded by the connection's limits", () => {
    assert.strictEqual(text(session().logout!().bytes), "QUIT\r\n")
    const framer = SmtpDialect.makeFramer(Limits.limits({ maxReplyLines: 3 }))
    const result = framer.push(new TextEncoder().encode("250-a\r\n250-b\r\n250-c\r\n250-d\r\n"))
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) assert.strictEqual(result.failure._tag, "LimitExceeded")
    const long = SmtpDialect.makeFramer(Limits.limits()).push(new TextEncoder().encode("220 " + "x".repeat(5000)))
    assert.isTrue(Result.isFailure(long))
  })
})
