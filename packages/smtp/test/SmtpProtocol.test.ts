import { assert, describe, it } from "@effect/vitest"
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as SmtpProtocol from "../src/SmtpProtocol.ts"
import * as SmtpReply from "../src/SmtpReply.ts"
import { bytes, bytewise, concat, errorKey, latin1, parseError, parseOk, run, splitAt } from "./helpers.ts"

const reply = (
  code: number,
  lines: ReadonlyArray<string>,
  enhanced?: SmtpReply.EnhancedStatusCode
): SmtpReply.SmtpReply => ({
  code,
  severity: SmtpReply.severityOf(code)!,
  enhanced,
  lines
})

const e = (c: 2 | 4 | 5, subject: number, detail: number): SmtpReply.EnhancedStatusCode => ({
  class: c,
  subject,
  detail
})

describe("SmtpProtocol", () => {
  describe("single-line replies, every class", () => {
    const table: ReadonlyArray<readonly [string, SmtpReply.SmtpReply]> = [
      ["220 mx.example.com ESMTP Postfix\r\n", reply(220, ["mx.example.com ESMTP Postfix"])],
      ["250 2.1.0 Ok\r\n", reply(250, ["Ok"], e(2, 1, 0))],
      ["334 VXNlcm5hbWU6\r\n", reply(334, ["VXNlcm5hbWU6"])],
      ["354 End data with <CR><LF>.<CR><LF>\r\n", reply(354, ["End data with <CR><LF>.<CR><LF>"])],
      ["421 4.3.2 Service shutting down\r\n", reply(421, ["Service shutting down"], e(4, 3, 2))],
      ["454 TLS not available due to temporary reason\r\n", reply(454, ["TLS not available due to temporary reason"])],
      ["550 5.1.1 <u@example.org>: User unknown\r\n", reply(550, ["<u@example.org>: User unknown"], e(5, 1, 1))],
      ["554 5.7.1 Relay access denied\r\n", reply(554, ["Relay access denied"], e(5, 7, 1))],
      // Code alone, code + SP, enhanced code alone.
      ["250\r\n", reply(250, [""])],
      ["250 \r\n", reply(250, [""])],
      ["250 2.0.0\r\n", reply(250, [""], e(2, 0, 0))],
      ["252 2.5.999 Cannot VRFY\r\n", reply(252, ["Cannot VRFY"], e(2, 5, 999))],
      // Enhanced code not recognised: wrong class, 3yz, leading zero, too many digits, no SP after.
      ["250 5.1.1 text\r\n", reply(250, ["5.1.1 text"])],
      ["354 3.0.0 go ahead\r\n", reply(354, ["3.0.0 go ahead"])],
      ["250 2.01.0 x\r\n", reply(250, ["2.01.0 x"])],
      ["250 2.1000.0 x\r\n", reply(250, ["2.1000.0 x"])],
      ["250 2.1.0x\r\n", reply(250, ["2.1.0x"])],
      ["250 2.1.\r\n", reply(250, ["2.1."])],
      // Leniency: a bare LF ends a line; a CR inside a line is text; extra spaces are text.
      ["250 ok\n", reply(250, ["ok"])],
      ["250 a\rb\r\n", reply(250, ["a\rb"])],
      ["250  two spaces \r\n", reply(250, [" two spaces "])],
      ["250 a\r\r\n", reply(250, ["a\r"])],
      // SMTPUTF8 text is decoded as UTF-8.
      ["250 2.0.0 Grüße, 世界 😀\r\n", reply(250, ["Grüße, 世界 😀"], e(2, 0, 0))]
    ]
    for (const [wire, expected] of table) {
      it(JSON.stringify(wire), () => {
        assert.deepStrictEqual(parseOk(wire), [expected])
      })
    }

    it("turns invalid UTF-8 into U+FFFD instead of failing", () => {
      const outcome = run([latin1("250 a\xff\xfeb\r\n")])
      assert.strictEqual(outcome.error, undefined)
      assert.deepStrictEqual(outcome.replies[0]!.lines, ["a\ufffd\ufffdb"])
    })

    it("keeps NUL and other control bytes as text", () => {
      assert.deepStrictEqual(parseOk("250 a\u0000b\u001b\r\n")[0]!.lines, ["a\u0000b\u001b"])
    })
  })

  describe("multi-line replies", () => {
    it("reads an EHLO reply", () => {
      const wire = "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250 CHUNKING\r\n"
      assert.deepStrictEqual(parseOk(wire), [reply(250, ["mx.example.com", "PIPELINING", "SIZE 52428800", "CHUNKING"])])
    })

    it("strips the enhanced code from every line that repeats it", () => {
      const wire = "451-4.7.1 Greylisted, see https://example.com/g.html\r\n451 4.7.1 Please try again later\r\n"
      assert.deepStrictEqual(parseOk(wire), [
        reply(451, ["Greylisted, see https://example.com/g.html", "Please try again later"], e(4, 7, 1))
      ])
    })

    it("leaves a different enhanced code on a later line as text", () => {
      const wire = "550-5.1.1 first\r\n550-5.1.10 second\r\n550 5.7.1 third\r\n"
      assert.deepStrictEqual(parseOk(wire), [reply(550, ["first", "5.1.10 second", "5.7.1 third"], e(5, 1, 1))])
    })

    it("only looks for the enhanced code on the first line", () => {
      const wire = "250-hello\r\n250 2.0.0 Ok\r\n"
      assert.deepStrictEqual(parseOk(wire), [reply(250, ["hello", "2.0.0 Ok"])])
    })

    it("accepts empty continuation and final lines", () => {
      assert.deepStrictEqual(parseOk("250-\r\n250\r\n"), [reply(250, ["", ""])])
      assert.deepStrictEqual(parseOk("250-\r\n250 \r\n"), [reply(250, ["", ""])])
    })

    it("returns pipelined replies in order, in one push", () => {
      const wire = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 no\r\n354 go\r\n"
      assert.deepStrictEqual(
        parseOk(wire).map((r) => r.code),
        [250, 250, 550, 354]
      )
    })

    it("returns LMTP's per-recipient replies after DATA as separate replies", () => {
      const wire = "250 2.1.5 <a@x> delivered\r\n452 4.2.2 <b@x> mailbox full\r\n250 2.1.5 <c@x> delivered\r\n"
      assert.deepStrictEqual(
        parseOk(wire).map((r) => [r.code, r.severity]),
        [[250, "PositiveCompletion"], [452, "TransientNegative"], [250, "PositiveCompletion"]]
      )
    })
  })

  describe("malformed input", () => {
    const table: ReadonlyArray<readonly [string, string, string]> = [
      ["mixed codes in a multi-line reply", "250-a\r\n251 b\r\n", "changes its code from 250 to 251"],
      ["1yz reply", "150 opening\r\n", "1yz replies are not used"],
      ["code above 599", "650 x\r\n", "outside 200-599"],
      ["code below 200", "099 x\r\n", "outside 200-599"],
      ["non-digit code", "25a x\r\n", "not three digits"],
      ["letters", "OK hello\r\n", "not three digits"],
      ["missing separator", "250x\r\n", "expected SP or \"-\""],
      ["tab separator", "250\tx\r\n", "expected SP or \"-\""],
      ["empty line", "\r\n", "shorter than a reply code"],
      ["two digits", "25\r\n", "shorter than a reply code"],
      ["a POP3 reply", "+OK ready\r\n", "not three digits"],
      ["an IMAP greeting", "* OK ready\r\n", "not three digits"],
      ["a TLS record", "\u0016\u0003\u0001\u0002\u0000\n", "not three digits"]
    ]
    for (const [name, wire, detail] of table) {
      it(name, () => {
        const error = parseError(latin1(wire))
        assert.strictEqual(error._tag, "MalformedInput")
        if (error._tag === "MalformedInput") {
          assert.strictEqual(error.grammar, "Reply-line")
          assert.include(error.detail, detail)
          assert.isAtMost(error.preview.length, 64)
        }
      })
    }

    it("previews the offending line escaped", () => {
      const error = parseError("250 ok\r\n25\u0000x\r\n")
      assert.instanceOf(error, CodecError.MalformedInput)
      assert.strictEqual((error as CodecError.MalformedInput).preview, "25\\x00x\\r\\n")
    })

    it("is terminal: later pushes return the same failure", () => {
      const parser = SmtpProtocol.makeReplyParser()
      const first = parser.push(bytes("150 no\r\n"))
      assert.isTrue(Result.isFailure(first))
      const second = parser.push(bytes("250 fine\r\n"))
      assert.strictEqual(second, first)
    })

    it("does not return replies completed earlier in the failing push", () => {
      const parser = SmtpProtocol.makeReplyParser()
      const result = parser.push(bytes("250 ok\r\n150 bad\r\n"))
      assert.isTrue(Result.isFailure(result))
    })
  })

  describe("limits", () => {
    it("rejects a complete line over maxLineLength, naming the option", () => {
      const error = parseError(`250 ${"x".repeat(100)}\r\n`, { maxLineLength: 50 })
      assert.deepStrictEqual(
        error,
        new CodecError.LimitExceeded({ limit: "maxLineLength", max: 50, actual: 104 })
      )
    })

    it("accepts a line of exactly maxLineLength", () => {
      assert.strictEqual(parseOk(`250 ${"x".repeat(46)}\r\n`, { maxLineLength: 50 })[0]!.lines[0]!.length, 46)
    })

    it("rejects an endless line without LF before it ends (default 4096)", () => {
      const parser = SmtpProtocol.makeReplyParser()
      let result = parser.push(bytes("250 "))
      for (let i = 0; i < 10 && Result.isSuccess(result); i++) result = parser.push(bytes("x".repeat(1000)))
      assert.isTrue(Result.isFailure(result))
      if (Result.isFailure(result)) {
        assert.strictEqual(result.failure._tag, "LimitExceeded")
        assert.strictEqual((result.failure as CodecError.LimitExceeded).limit, "maxLineLength")
        assert.strictEqual((result.failure as CodecError.LimitExceeded).max, 4096)
      }
    })

    it("rejects too many lines in one reply, naming maxLinesPerReply", () => {
      const wire = "250-x\r\n".repeat(5) + "250 x\r\n"
      assert.deepStrictEqual(
        parseError(wire, { maxLinesPerReply: 5 }),
        new CodecError.LimitExceeded({ limit: "maxLinesPerReply", max: 5, actual: 6 })
      )
      assert.strictEqual(parseOk(wire, { maxLinesPerReply: 6 })[0]!.lines.length, 6)
    })

    it("stops an endless continuation (ATTACKS A24e) at the default 1000 lines", () => {
      const error = parseError("250-x\r\n".repeat(1001))
      assert.deepStrictEqual(error, new CodecError.LimitExceeded({ limit: "maxLinesPerReply", max: 1000, actual: 1001 }))
    })

    it("bounds the bytes held for one reply with maxBufferedBytes", () => {
      const error = parseError("250-xxxxxxxxxx\r\n".repeat(10), { maxBufferedBytes: 100 })
      assert.strictEqual(error._tag, "LimitExceeded")
      assert.strictEqual((error as CodecError.LimitExceeded).limit, "maxBufferedBytes")
    })
  })

  describe("buffered() and pendingPreview() (STARTTLS injection check, S3)", () => {
    it("reports a partial line, then 0 once the reply is complete", () => {
      const parser = SmtpProtocol.makeReplyParser()
      assert.strictEqual(parser.buffered(), 0)
      parser.push(bytes("220 rea"))
      assert.strictEqual(parser.buffered(), 7)
      assert.strictEqual(Buffer.from(parser.pendingPreview()).toString(), "220 rea")
      const done = parser.push(bytes("dy\r\n"))
      assert.isTrue(Result.isSuccess(done) && done.success.length === 1)
      assert.strictEqual(parser.buffered(), 0)
      assert.strictEqual(parser.pendingPreview().length, 0)
    })

    it("counts the lines of an unfinished multi-line reply", () => {
      const parser = SmtpProtocol.makeReplyParser()
      parser.push(bytes("250-a\r\n250-b\r\n"))
      assert.strictEqual(parser.buffered(), 14)
      assert.strictEqual(Buffer.from(parser.pendingPreview()).toString(), "250-a\r\n250-b\r\n")
      parser.push(bytes("250 c\r\n"))
      assert.strictEqual(parser.buffered(), 0)
    })

    it("shows bytes injected after the 220 to STARTTLS (ATTACKS A38)", () => {
      const parser = SmtpProtocol.makeReplyParser()
      const result = parser.push(bytes("220 Ready to start TLS\r\n250-evil\r\n250 AUTH PLAIN"))
      assert.isTrue(Result.isSuccess(result))
      if (Result.isSuccess(result)) assert.deepStrictEqual(result.success.map((r) => r.code), [220])
      assert.strictEqual(parser.buffered(), "250-evil\r\n250 AUTH PLAIN".length)
    })

    it("caps pendingPreview at 64 bytes", () => {
      const parser = SmtpProtocol.makeReplyParser()
      parser.push(bytes("250-" + "y".repeat(200) + "\r\n250-z"))
      assert.strictEqual(parser.pendingPreview().length, 64)
    })
  })

  describe("parseAll", () => {
    it("parses a complete stream and rejects a truncated one", () => {
      const ok = SmtpProtocol.parseAll(bytes("220 a\r\n250 b\r\n"))
      assert.isTrue(Result.isSuccess(ok) && ok.success.length === 2)
      const cut = SmtpProtocol.parseAll(bytes("220 a\r\n250-b\r\n"))
      assert.isTrue(Result.isFailure(cut))
    })
  })

  describe("properties", () => {
    const textLine = fc.oneof(
      fc.string({ maxLength: 30, unit: "grapheme" }),
      fc.constantFrom("2.0.0 Ok", "5.1.1 x", "4.7.1", "250-PIPELINING", " ", "-", "a\rb", "äöü ✓")
    ).filter((s) => !/[\r\n\0]/.test(s) || s === "a\rb")
    const codeArb = fc.integer({ min: 200, max: 599 })
    const wireReply = fc
      .tuple(codeArb, fc.array(textLine, { minLength: 1, maxLength: 5 }), fc.boolean())
      .map(([code, lines, lfOnly]) =>
        lines
          .map((l, i) => `${code}${i === lines.length - 1 ? (l === "" ? "" : " ") : "-"}${l}${lfOnly ? "\n" : "\r\n"}`)
          .join("")
      )
    const stream = fc.array(wireReply, { minLength: 1, maxLength: 8 }).map((rs) => bytes(rs.join("")))

    it("(a) any split of a valid stream gives the same replies as one push, byte-at-a-time included", () => {
      fc.assert(
        fc.property(stream, fc.array(fc.nat(), { maxLength: 20 }), (wire, cuts) => {
          const whole = run([wire])
          assert.strictEqual(whole.error, undefined)
          assert.deepStrictEqual(run(splitAt(wire, cuts)), whole)
          assert.deepStrictEqual(run(bytewise(wire)), whole)
        }),
        { numRuns: 200 }
      )
    })

    it("(a') any split of any byte string gives the same outcome (replies, or the same error)", () => {
      const noisy = fc.array(
        fc.oneof(
          wireReply.map(bytes),
          fc.constantFrom("250-x\r\n", "251 y\r\n", "\r\n", "150 z\r\n", "\n", "\r", "2").map(bytes),
          fc.uint8Array({ maxLength: 12 })
        ),
        { maxLength: 8 }
      ).map(concat)
      fc.assert(
        fc.property(noisy, fc.array(fc.nat(), { maxLength: 10 }), (wire, cuts) => {
          const options = { maxLineLength: 40, maxLinesPerReply: 4 }
          const whole = run([wire], options)
          for (const chunks of [splitAt(wire, cuts), bytewise(wire)]) {
            const split = run(chunks, options)
            assert.strictEqual(errorKey(split.error), errorKey(whole.error))
            // Replies completed before an error come out of earlier pushes only when split.
            if (whole.error === undefined) assert.deepStrictEqual(split, whole)
          }
        }),
        { numRuns: 300 }
      )
    })

    it("is total: random bytes give replies or a typed error, never an exception", () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), (chunks) => {
          const parser = SmtpProtocol.makeReplyParser({ maxLineLength: 32 })
          for (const chunk of chunks) {
            const result = parser.push(chunk)
            if (Result.isFailure(result)) {
              assert.include(["LimitExceeded", "MalformedInput"], result.failure._tag)
              return
            }
          }
        }),
        { numRuns: 300 }
      )
    })

    const lineArb = fc
      .string({ maxLength: 24, unit: "binary" })
      .filter((s) => !/[\r\n\0]/.test(s) && !/\p{Surrogate}/u.test(s))
    const enhancedFor = (code: number): fc.Arbitrary<SmtpReply.EnhancedStatusCode | undefined> => {
      const digit = Math.floor(code / 100)
      if (digit === 3) return fc.constant(undefined)
      return fc.option(
        fc.record({
          class: fc.constant(digit as 2 | 4 | 5),
          subject: fc.integer({ min: 0, max: 999 }),
          detail: fc.integer({ min: 0, max: 999 })
        }),
        { nil: undefined }
      )
    }
    const replyValue: fc.Arbitrary<SmtpReply.SmtpReply> = codeArb
      .chain((code) =>
        fc.tuple(fc.constant(code), fc.array(lineArb, { minLength: 1, maxLength: 4 }), enhancedFor(code))
      )
      .map(([code, lines, enhanced]) => reply(code, lines, enhanced))
      // A value whose first line already starts with a code of its class would read back with it.
      .filter((r) => r.enhanced !== undefined || !SmtpReply.startsWithEnhanced(r.lines[0]!, Math.floor(r.code / 100)))

    it("(b) encode -> parse gives every reply value back", () => {
      fc.assert(
        fc.property(fc.array(replyValue, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (rs, cuts) => {
          const wire = concat(rs.map((r) => Result.getOrThrow(SmtpReply.encode(r))))
          assert.deepStrictEqual(run(splitAt(wire, cuts)), { replies: rs, error: undefined, buffered: 0 })
        }),
        { numRuns: 300 }
      )
    })
  })
})
