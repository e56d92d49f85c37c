import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as SmtpReply from "../src/SmtpReply.ts"
import { text } from "./helpers.ts"

const made = (code: number, lines: ReadonlyArray<string>, enhanced?: SmtpReply.EnhancedStatusCode) =>
  Result.getOrThrow(SmtpReply.make(code, lines, enhanced))

describe("SmtpReply", () => {
  describe("severityOf", () => {
    it("maps the first digit (RFC 5321 §4.2.1)", () => {
      assert.strictEqual(SmtpReply.severityOf(220), "PositiveCompletion")
      assert.strictEqual(SmtpReply.severityOf(334), "PositiveIntermediate")
      assert.strictEqual(SmtpReply.severityOf(451), "TransientNegative")
      assert.strictEqual(SmtpReply.severityOf(599), "PermanentNegative")
    })

    it("has no severity outside 200-599", () => {
      for (const code of [0, 150, 199, 600, 250.5, Number.NaN]) assert.strictEqual(SmtpReply.severityOf(code), undefined)
    })
  })

  describe("guards", () => {
    const table: ReadonlyArray<readonly [number, boolean, boolean, boolean, boolean, boolean]> = [
      // code, positive, completion, intermediate, transient, permanent
      [250, true, true, false, false, false],
      [354, true, false, true, false, false],
      [421, false, false, false, true, false],
      [554, false, false, false, false, true]
    ]
    for (const [code, positive, completion, intermediate, transient, permanent] of table) {
      it(`${code}`, () => {
        const r = made(code, ["x"])
        assert.strictEqual(SmtpReply.isPositive(r), positive)
        assert.strictEqual(SmtpReply.isPositiveCompletion(r), completion)
        assert.strictEqual(SmtpReply.isIntermediate(r), intermediate)
        assert.strictEqual(SmtpReply.isTransient(r), transient)
        assert.strictEqual(SmtpReply.isPermanent(r), permanent)
      })
    }
  })

  describe("make", () => {
    it("recognises and strips an enhanced code when none is given", () => {
      assert.deepStrictEqual(made(550, ["5.1.1 User unknown", "5.1.1 really"]), {
        code: 550,
        severity: "PermanentNegative",
        enhanced: { class: 5, subject: 1, detail: 1 },
        lines: ["User unknown", "really"]
      })
    })

    it("takes the lines as text when the enhanced code is given", () => {
      const r = made(250, ["2.0.0 literally"], { class: 2, subject: 0, detail: 0 })
      assert.deepStrictEqual(r.lines, ["2.0.0 literally"])
    })

    it("copies the lines array", () => {
      const lines = ["a"]
      const r = made(250, lines)
      lines[0] = "b"
      assert.deepStrictEqual(r.lines, ["a"])
    })

    const invalid: ReadonlyArray<readonly [string, number, ReadonlyArray<string>, SmtpReply.EnhancedStatusCode | undefined, string]> = [
      ["1yz code", 150, ["x"], undefined, "code"],
      ["code 600", 600, ["x"], undefined, "code"],
      ["no lines", 250, [], undefined, "lines"],
      ["CR in a line", 250, ["a\rb"], undefined, "lines[0]"],
      ["LF in a line", 250, ["ok", "a\nb"], undefined, "lines[1]"],
      ["NUL in a line", 250, ["a\u0000"], undefined, "lines[0]"],
      ["lone surrogate", 250, ["\ud800"], undefined, "lines[0]"],
      ["class mismatch", 250, ["x"], { class: 5, subject: 1, detail: 1 }, "enhanced"],
      ["enhanced on 3yz", 354, ["x"], { class: 2, subject: 0, detail: 0 }, "enhanced"],
      ["subject out of range", 250, ["x"], { class: 2, subject: 1000, detail: 0 }, "enhanced"],
      ["fractional detail", 250, ["x"], { class: 2, subject: 1, detail: 0.5 }, "enhanced"]
    ]
    for (const [name, code, lines, enhanced, field] of invalid) {
      it(`rejects ${name}`, () => {
        const result = SmtpReply.make(code, lines, enhanced)
        assert.isTrue(Result.isFailure(result))
        if (Result.isFailure(result)) assert.strictEqual(result.failure.field, field)
      })
    }
  })

  describe("encode", () => {
    const table: ReadonlyArray<readonly [SmtpReply.SmtpReply, string]> = [
      [made(250, ["Ok"]), "250 Ok\r\n"],
      [made(250, [""]), "250\r\n"],
      [made(250, ["a", "", "c"]), "250-a\r\n250-\r\n250 c\r\n"],
      [made(550, ["5.1.1 gone", "5.1.1 really"]), "550-5.1.1 gone\r\n550 5.1.1 really\r\n"],
      [made(250, [""], { class: 2, subject: 0, detail: 0 }), "250 2.0.0\r\n"],
      [made(250, ["Grüße"]), "250 Gr\u00c3\u00bc\u00c3\u009fe\r\n"]
    ]
    for (const [reply, wire] of table) {
      it(JSON.stringify(wire), () => {
        assert.strictEqual(text(Result.getOrThrow(SmtpReply.encode(reply))), wire)
      })
    }

    it("refuses a hand-built reply whose severity does not match its code", () => {
      const result = SmtpReply.encode({ code: 250, severity: "PermanentNegative", enhanced: undefined, lines: ["x"] })
      assert.isTrue(Result.isFailure(result) && result.failure.field === "severity")
    })

    it("refuses a hand-built reply with CRLF in a line (no reply injection from a test server)", () => {
      const result = SmtpReply.encode({
        code: 250,
        severity: "PositiveCompletion",
        enhanced: undefined,
        lines: ["ok\r\n250 injected"]
      })
      assert.isTrue(Result.isFailure(result))
    })
  })

  describe("format", () => {
    it("prints code, enhanced code and joined lines", () => {
      assert.strictEqual(SmtpReply.format(made(451, ["4.7.1 Greylisted", "4.7.1 try later"])), "451 4.7.1 Greylisted | try later")
      assert.strictEqual(SmtpReply.format(made(250, [""])), "250")
    })

    it("escapes control characters so server text cannot forge log lines", () => {
      const r: SmtpReply.SmtpReply = {
        code: 250,
        severity: "PositiveCompletion",
        enhanced: undefined,
        lines: ["a\rINFO fake\u001b[31m\u007f"]
      }
      assert.strictEqual(SmtpReply.format(r), "250 a\\x0dINFO fake\\x1b[31m\\x7f")
    })
  })

  describe("text", () => {
    it("joins the lines with LF", () => {
      assert.strictEqual(SmtpReply.text(made(250, ["a", "b"])), "a\nb")
    })
  })

  describe("challenge", () => {
    it("decodes a 334 challenge", () => {
      const result = SmtpReply.challenge(made(334, ["VXNlcm5hbWU6"]))
      assert.strictEqual(Buffer.from(Result.getOrThrow(result)).toString(), "Username:")
    })

    it("reads an empty 334 as an empty challenge", () => {
      assert.strictEqual(Result.getOrThrow(SmtpReply.challenge(made(334, [""]))).length, 0)
    })

    it("rejects other codes and text that is not base64", () => {
      assert.isTrue(Result.isFailure(SmtpReply.challenge(made(235, ["2.7.0 ok"]))))
      assert.isTrue(Result.isFailure(SmtpReply.challenge(made(334, ["not base64!"]))))
      assert.isTrue(Result.isFailure(SmtpReply.challenge(made(334, ["abc"]))))
    })
  })

  describe("formatEnhanced / startsWithEnhanced", () => {
    it("round-trips the dotted form", () => {
      assert.strictEqual(SmtpReply.formatEnhanced({ class: 4, subject: 7, detail: 12 }), "4.7.12")
      assert.isTrue(SmtpReply.startsWithEnhanced("4.7.12 x", 4))
      assert.isFalse(SmtpReply.startsWithEnhanced("4.7.12 x", 5))
      assert.isFalse(SmtpReply.startsWithEnhanced("3.0.0 x", 3))
      assert.isFalse(SmtpReply.startsWithEnhanced("4.07.1 x", 4))
    })
  })
})
