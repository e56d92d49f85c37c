import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as SmtpCommand from "../src/SmtpCommand.ts"
import { bytes, text } from "./helpers.ts"

const wire = (command: SmtpCommand.SmtpCommand): string => text(Result.getOrThrow(SmtpCommand.encode(command)))

const failure = (command: SmtpCommand.SmtpCommand) => {
  const result = SmtpCommand.encode(command)
  if (Result.isSuccess(result)) return assert.fail(`encoded ${JSON.stringify(text(result.success))}`)
  return result.failure
}

const secret = (s: string) => Redacted.make(bytes(s))

describe("SmtpCommand", () => {
  describe("wire form", () => {
    const table: ReadonlyArray<readonly [SmtpCommand.SmtpCommand, string]> = [
      [SmtpCommand.ehlo("client.example.com"), "EHLO client.example.com\r\n"],
      [SmtpCommand.ehlo("[192.0.2.1]"), "EHLO [192.0.2.1]\r\n"],
      [SmtpCommand.ehlo("[IPv6:2001:db8::1]"), "EHLO [IPv6:2001:db8::1]\r\n"],
      [SmtpCommand.ehlo("[IPv6:::ffff:192.0.2.1]"), "EHLO [IPv6:::ffff:192.0.2.1]\r\n"],
      [SmtpCommand.ehlo("localhost"), "EHLO localhost\r\n"],
      [SmtpCommand.helo("a-b.example"), "HELO a-b.example\r\n"],
      [SmtpCommand.lhlo("lmtp.example"), "LHLO lmtp.example\r\n"],
      [SmtpCommand.startTls, "STARTTLS\r\n"],
      [SmtpCommand.auth("PLAIN"), "AUTH PLAIN\r\n"],
      [SmtpCommand.auth("plain", secret("\u0000u\u0000p")), "AUTH PLAIN AHUAcA==\r\n"],
      [SmtpCommand.auth("EXTERNAL", Redacted.make(new Uint8Array(0))), "AUTH EXTERNAL =\r\n"],
      [SmtpCommand.authContinue(secret("pass")), "cGFzcw==\r\n"],
      [SmtpCommand.authContinue(Redacted.make(new Uint8Array(0))), "\r\n"],
      [SmtpCommand.authCancel, "*\r\n"],
      [SmtpCommand.mail(""), "MAIL FROM:<>\r\n"],
      [SmtpCommand.mail("a@example.com"), "MAIL FROM:<a@example.com>\r\n"],
      [
        SmtpCommand.mail("a@example.com", {
          size: 1200,
          body: "8BITMIME",
          smtpUtf8: true,
          ret: "HDRS",
          envid: "QQ314159+x=y",
          requireTls: true,
          auth: "e+e@example.com",
          extensions: [{ keyword: "MT-PRIORITY", value: "3" }, { keyword: "HOLDUNTIL" }]
        }),
        "MAIL FROM:<a@example.com> SIZE=1200 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159+2Bx+3Dy REQUIRETLS AUTH=e+2Be@example.com MT-PRIORITY=3 HOLDUNTIL\r\n"
      ],
      [SmtpCommand.mail("a@example.com", { auth: "" }), "MAIL FROM:<a@example.com> AUTH=<>\r\n"],
      [SmtpCommand.mail("a@example.com", { body: "BINARYMIME", size: 0 }), "MAIL FROM:<a@example.com> SIZE=0 BODY=BINARYMIME\r\n"],
      [SmtpCommand.mail("jörg@bücher.example", { smtpUtf8: true }), "MAIL FROM:<jörg@bücher.example> SMTPUTF8\r\n"],
      [SmtpCommand.mail("\"john doe\"@example.com"), "MAIL FROM:<\"john doe\"@example.com>\r\n"],
      [SmtpCommand.mail("\"a\\\"b\"@[10.0.0.1]"), "MAIL FROM:<\"a\\\"b\"@[10.0.0.1]>\r\n"],
      [SmtpCommand.rcpt("b@example.com"), "RCPT TO:<b@example.com>\r\n"],
      [SmtpCommand.rcpt("Postmaster"), "RCPT TO:<Postmaster>\r\n"],
      [SmtpCommand.rcpt("b@example.com", { notify: "NEVER" }), "RCPT TO:<b@example.com> NOTIFY=NEVER\r\n"],
      [
        SmtpCommand.rcpt("b@example.com", {
          notify: ["SUCCESS", "FAILURE", "DELAY"],
          orcpt: { type: "rfc822", address: "Bob Smith+x@example.com" }
        }),
        "RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;Bob+20Smith+2Bx@example.com\r\n"
      ],
      [
        SmtpCommand.rcpt("b@example.com", { orcpt: { type: "utf-8", address: "jörg+1@example.com" } }),
        "RCPT TO:<b@example.com> ORCPT=utf-8;j\\x{F6}rg\\x{2B}1@example.com\r\n"
      ],
      [SmtpCommand.rcpt("日本@例え.jp", { smtpUtf8: true }), "RCPT TO:<日本@例え.jp>\r\n"],
      [SmtpCommand.data, "DATA\r\n"],
      [SmtpCommand.bdat(1000, false), "BDAT 1000\r\n"],
      [SmtpCommand.bdat(0, true), "BDAT 0 LAST\r\n"],
      [SmtpCommand.rset, "RSET\r\n"],
      [SmtpCommand.noop, "NOOP\r\n"],
      [SmtpCommand.quit, "QUIT\r\n"],
      [SmtpCommand.vrfy("smith"), "VRFY smith\r\n"],
      [SmtpCommand.vrfy("John Smith"), "VRFY \"John Smith\"\r\n"],
      [SmtpCommand.vrfy("a \"b\" \\c"), "VRFY \"a \\\"b\\\" \\\\c\"\r\n"],
      [SmtpCommand.vrfy("jörg", { smtpUtf8: true }), "VRFY jörg SMTPUTF8\r\n"]
    ]
    for (const [command, expected] of table) {
      it(JSON.stringify(expected), () => {
        // UTF-8 on the wire: compare with the expected text's UTF-8 bytes.
        assert.strictEqual(wire(command), text(bytes(expected)))
      })
    }
  })

  describe("validation", () => {
    const table: ReadonlyArray<readonly [string, SmtpCommand.SmtpCommand, string]> = [
      ["EHLO with a space", SmtpCommand.ehlo("a b"), "domain"],
      ["EHLO empty", SmtpCommand.ehlo(""), "domain"],
      ["EHLO with an underscore", SmtpCommand.ehlo("my_host"), "domain"],
      ["EHLO label starting with -", SmtpCommand.ehlo("-a.example"), "domain"],
      ["EHLO trailing dot", SmtpCommand.ehlo("a.example."), "domain"],
      ["EHLO non-ASCII", SmtpCommand.ehlo("bücher.example"), "domain"],
      ["EHLO bad IPv4 literal", SmtpCommand.ehlo("[256.1.1.1]"), "domain"],
      ["EHLO bad IPv6 literal", SmtpCommand.ehlo("[IPv6:1::2::3]"), "domain"],
      ["EHLO IPv6 zone", SmtpCommand.ehlo("[IPv6:fe80::1%eth0]"), "domain"],
      ["EHLO 64-character label", SmtpCommand.ehlo("a".repeat(64) + ".example"), "domain"],
      ["AUTH bad mechanism", SmtpCommand.auth("PLAIN X"), "mechanism"],
      ["AUTH mechanism too long", SmtpCommand.auth("A".repeat(21)), "mechanism"],
      ["AUTH initial response too long", SmtpCommand.auth("XOAUTH2", Redacted.make(new Uint8Array(9300))), "initialResponse"],
      ["MAIL without @", SmtpCommand.mail("nobody"), "from"],
      ["MAIL with <", SmtpCommand.mail("a<b@example.com"), "from"],
      ["MAIL with >", SmtpCommand.mail("a>@example.com"), "from"],
      ["MAIL with a space", SmtpCommand.mail("a b@example.com"), "from"],
      ["MAIL with a double dot", SmtpCommand.mail("a..b@example.com"), "from"],
      ["MAIL unterminated quote", SmtpCommand.mail("\"ab@example.com"), "from"],
      ["MAIL non-ASCII without SMTPUTF8", SmtpCommand.mail("jörg@example.com"), "from"],
      ["MAIL non-ASCII domain without SMTPUTF8", SmtpCommand.mail("a@bücher.example"), "from"],
      ["MAIL negative SIZE", SmtpCommand.mail("a@example.com", { size: -1 }), "size"],
      ["MAIL fractional SIZE", SmtpCommand.mail("a@example.com", { size: 1.5 }), "size"],
      ["MAIL ENVID with a space", SmtpCommand.mail("a@example.com", { envid: "a b" }), "envid"],
      ["MAIL ENVID too long", SmtpCommand.mail("a@example.com", { envid: "+".repeat(34) }), "envid"],
      ["MAIL AUTH not a mailbox", SmtpCommand.mail("a@example.com", { auth: "x y" }), "auth"],
      ["MAIL duplicate parameter", SmtpCommand.mail("a@example.com", { size: 1, extensions: [{ keyword: "size", value: "2" }] }), "extensions[0]"],
      ["MAIL parameter value with =", SmtpCommand.mail("a@example.com", { extensions: [{ keyword: "X", value: "a=b" }] }), "extensions[0]"],
      ["MAIL parameter bad keyword", SmtpCommand.mail("a@example.com", { extensions: [{ keyword: "-X" }] }), "extensions[0]"],
      ["RCPT empty", SmtpCommand.rcpt(""), "to"],
      ["RCPT empty NOTIFY list", SmtpCommand.rcpt("b@example.com", { notify: [] }), "notify"],
      ["RCPT duplicate NOTIFY", SmtpCommand.rcpt("b@example.com", { notify: ["DELAY", "DELAY"] }), "notify"],
      ["RCPT rfc822 ORCPT non-ASCII", SmtpCommand.rcpt("b@example.com", { orcpt: { type: "rfc822", address: "jörg@x" } }), "orcpt"],
      ["RCPT ORCPT too long", SmtpCommand.rcpt("b@example.com", { orcpt: { type: "rfc822", address: "+".repeat(200) } }), "orcpt"],
      ["BDAT negative", SmtpCommand.bdat(-1, true), "size"],
      ["VRFY empty", SmtpCommand.vrfy(""), "query"],
      ["VRFY tab", SmtpCommand.vrfy("a\tb"), "query"],
      ["VRFY non-ASCII without SMTPUTF8", SmtpCommand.vrfy("jörg"), "query"]
    ]
    for (const [name, command, field] of table) {
      it(`rejects ${name}`, () => {
        assert.strictEqual(failure(command).field, field)
      })
    }

    it("rejects the go-smtp injection attempt in RCPT", () => {
      const error = failure(SmtpCommand.rcpt("user2@gmail.com>\r\nDATA\r\nAnother injected message body\r\n.\r\nQUIT\r\n"))
      assert.strictEqual(error.field, "to")
      assert.strictEqual(error.detail, "contains CR, LF or NUL")
    })

    it("rejects a lone surrogate (no UTF-8 form)", () => {
      assert.strictEqual(failure(SmtpCommand.mail("a\ud800@example.com", { smtpUtf8: true })).detail, "is not well-formed UTF-16")
    })

    it("isHelloName and isMailbox expose the checks", () => {
      assert.isTrue(SmtpCommand.isHelloName("[127.0.0.1]"))
      assert.isFalse(SmtpCommand.isHelloName("my_pc"))
      assert.isTrue(SmtpCommand.isMailbox("a.b+c@example.com"))
      assert.isFalse(SmtpCommand.isMailbox("jörg@example.com"))
      assert.isTrue(SmtpCommand.isMailbox("jörg@example.com", { smtpUtf8: true }))
    })
  })

  describe("redaction by construction", () => {
    it("masks the AUTH initial response", () => {
      const encoded = Result.getOrThrow(SmtpCommand.encodeWithRedaction(SmtpCommand.auth("PLAIN", secret("\u0000me\u0000hunter2"))))
      assert.deepStrictEqual(encoded.trace, ["AUTH PLAIN ***"])
      assert.strictEqual(text(encoded.bytes), "AUTH PLAIN AG1lAGh1bnRlcjI=\r\n")
    })

    it("masks every SASL response, even an empty one", () => {
      for (const response of ["hunter2", ""]) {
        const encoded = Result.getOrThrow(SmtpCommand.encodeWithRedaction(SmtpCommand.authContinue(secret(response))))
        assert.deepStrictEqual(encoded.trace, ["***"])
      }
    })

    it("traces other commands as they are written", () => {
      const encoded = Result.getOrThrow(SmtpCommand.encodeWithRedaction(SmtpCommand.mail("a@example.com", { size: 5 })))
      assert.deepStrictEqual(encoded.trace, ["MAIL FROM:<a@example.com> SIZE=5"])
    })

    it("never puts the secret in the trace, whatever it is", () => {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (raw) => {
          const b64 = Buffer.from(raw).toString("base64")
          for (const command of [SmtpCommand.auth("PLAIN", Redacted.make(raw)), SmtpCommand.authContinue(Redacted.make(raw))]) {
            const encoded = Result.getOrThrow(SmtpCommand.encodeWithRedaction(command))
            assert.include(text(encoded.bytes), b64)
            assert.notInclude(encoded.trace.join("\n"), b64)
          }
        }),
        { numRuns: 100 }
      )
    })
  })

  describe("encodeAll (pipelining, RFC 2920)", () => {
    it("writes a flight in one buffer with one trace line per command", () => {
      const encoded = Result.getOrThrow(
        SmtpCommand.encodeAll([
          SmtpCommand.rset,
          SmtpCommand.mail("a@example.com"),
          SmtpCommand.rcpt("b@example.com"),
          SmtpCommand.rcpt("c@example.com"),
          SmtpCommand.data
        ])
      )
      assert.strictEqual(
        text(encoded.bytes),
        "RSET\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<c@example.com>\r\nDATA\r\n"
      )
      assert.deepStrictEqual(encoded.trace, [
        "RSET",
        "MAIL FROM:<a@example.com>",
        "RCPT TO:<b@example.com>",
        "RCPT TO:<c@example.com>",
        "DATA"
      ])
    })

    it("allows AUTH with an initial response as the last command, masked", () => {
      const encoded = Result.getOrThrow(SmtpCommand.encodeAll([SmtpCommand.rset, SmtpCommand.auth("PLAIN", secret("x"))]))
      assert.strictEqual(text(encoded.bytes), "RSET\r\nAUTH PLAIN eA==\r\n")
      assert.deepStrictEqual(encoded.trace, ["RSET", "AUTH PLAIN ***"])
    })

    it("refuses STARTTLS with any other command (S12)", () => {
      for (const flight of [[SmtpCommand.startTls, SmtpCommand.ehlo("c.example")], [SmtpCommand.rset, SmtpCommand.startTls]]) {
        const result = SmtpCommand.encodeAll(flight)
        assert.isTrue(Result.isFailure(result))
        if (Result.isFailure(result)) assert.include(result.failure.detail, "STARTTLS must be written alone")
      }
      assert.isTrue(Result.isSuccess(SmtpCommand.encodeAll([SmtpCommand.startTls])))
    })

    it("refuses a command that must end a group anywhere else", () => {
      for (const first of [SmtpCommand.data, SmtpCommand.ehlo("c.example"), SmtpCommand.quit, SmtpCommand.noop, SmtpCommand.bdat(1, true), SmtpCommand.auth("LOGIN")]) {
        const result = SmtpCommand.encodeAll([first, SmtpCommand.rset])
        assert.isTrue(Result.isFailure(result) && result.failure.field === "commands[0]")
      }
    })

    it("names the failing command's index and field", () => {
      const result = SmtpCommand.encodeAll([SmtpCommand.mail("a@example.com"), SmtpCommand.rcpt("x\r\n")])
      assert.isTrue(Result.isFailure(result) && result.failure.field === "commands[1].to")
    })
  })

  describe("property (d): CR or LF in any argument never encodes", () => {
    const injected = fc
      .tuple(fc.string({ maxLength: 10 }), fc.constantFrom("\r", "\n", "\r\n", "\u0000"), fc.string({ maxLength: 10 }))
      .map(([a, bad, b]) => a + bad + b)
    const commands = (s: string): ReadonlyArray<SmtpCommand.SmtpCommand> => [
      SmtpCommand.ehlo(s),
      SmtpCommand.helo(s),
      SmtpCommand.lhlo(s),
      SmtpCommand.auth(s),
      SmtpCommand.mail(s),
      SmtpCommand.mail(s, { smtpUtf8: true }),
      SmtpCommand.mail("a@example.com", { envid: s }),
      SmtpCommand.mail("a@example.com", { auth: s }),
      SmtpCommand.mail("a@example.com", { extensions: [{ keyword: s }] }),
      SmtpCommand.mail("a@example.com", { extensions: [{ keyword: "X", value: s }] }),
      SmtpCommand.mail("a@example.com", { smtpUtf8: true, extensions: [{ keyword: "X", value: s }] }),
      SmtpCommand.rcpt(s),
      SmtpCommand.rcpt(s, { smtpUtf8: true }),
      SmtpCommand.rcpt("b@example.com", { orcpt: { type: "rfc822", address: s } }),
      SmtpCommand.rcpt("b@example.com", { orcpt: { type: "utf-8", address: s } }),
      SmtpCommand.rcpt("b@example.com", { extensions: [{ keyword: "X", value: s }] }),
      SmtpCommand.vrfy(s),
      SmtpCommand.vrfy(s, { smtpUtf8: true })
    ]
    it("every string field of every command", () => {
      fc.assert(
        fc.property(injected, (s) => {
          for (const command of commands(s)) {
            assert.isTrue(Result.isFailure(SmtpCommand.encode(command)), JSON.stringify(command))
            assert.isTrue(Result.isFailure(SmtpCommand.encodeAll([command])))
          }
        }),
        { numRuns: 200 }
      )
    })

    it("whatever encodes is exactly one line", () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 20, unit: "binary" }), (s) => {
          for (const command of commands(s)) {
            const result = SmtpCommand.encode(command)
            if (Result.isSuccess(result)) {
              const line = text(result.success)
              assert.strictEqual(line.indexOf("\r"), line.length - 2)
              assert.strictEqual(line.indexOf("\n"), line.length - 1)
              assert.notInclude(line, "\u0000")
            }
          }
        }),
        { numRuns: 200 }
      )
    })
  })
})
