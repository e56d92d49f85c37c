import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Xtext from "../src/Xtext.ts"

const wellFormed = (s: string) => !/\p{Surrogate}/u.test(s)

describe("Xtext", () => {
  describe("xtext (RFC 3461 §4)", () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ["", ""],
      ["abc@example.com", "abc@example.com"],
      ["a+b", "a+2Bb"],
      ["a=b", "a+3Db"],
      ["a b", "a+20b"],
      ["\u0000\u007f", "+00+7F"],
      ["~!", "~!"],
      ["é", "+C3+A9"],
      ["x😀y", "x+F0+9F+98+80y"]
    ]
    for (const [plain, encoded] of table) {
      it(`${JSON.stringify(plain)} <-> ${JSON.stringify(encoded)}`, () => {
        assert.strictEqual(Xtext.encode(plain), encoded)
        assert.strictEqual(Result.getOrThrow(Xtext.decode(encoded)), plain)
      })
    }

    const invalid: ReadonlyArray<readonly [string, string]> = [
      ["lower-case hex", "a+2b"],
      ["truncated hexchar", "a+2"],
      ["non-hex", "a+GG"],
      ["raw space", "a b"],
      ["raw =", "a=b"],
      ["raw non-ASCII", "é"],
      ["octets that are not UTF-8", "+FF"]
    ]
    for (const [name, text] of invalid) {
      it(`rejects ${name}`, () => {
        const result = Xtext.decode(text)
        assert.isTrue(Result.isFailure(result))
        if (Result.isFailure(result)) assert.strictEqual(result.failure.grammar, "xtext")
      })
    }

    it("(e) round-trips any well-formed string, and encodes to xchar / hexchar only", () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 40, unit: "binary" }).filter(wellFormed), (s) => {
          const encoded = Xtext.encode(s)
          assert.match(encoded, /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/)
          assert.strictEqual(Result.getOrThrow(Xtext.decode(encoded)), s)
        }),
        { numRuns: 300 }
      )
    })
  })

  describe("utf-8-addr-xtext (RFC 6533 §3)", () => {
    const table: ReadonlyArray<readonly [string, string]> = [
      ["user@example.com", "user@example.com"],
      ["jörg@example.com", "j\\x{F6}rg@example.com"],
      ["a+b=c\\d", "a\\x{2B}b\\x{3D}c\\x{5C}d"],
      ["\"a b\"@x", "\"a\\x{20}b\"@x"],
      ["日本@例え.jp", "\\x{65E5}\\x{672C}@\\x{4F8B}\\x{3048}.jp"],
      ["😀@x", "\\x{1F600}@x"]
    ]
    for (const [plain, encoded] of table) {
      it(`${JSON.stringify(plain)} <-> ${JSON.stringify(encoded)}`, () => {
        assert.strictEqual(Xtext.encodeUtf8Address(plain), encoded)
        assert.strictEqual(Result.getOrThrow(Xtext.decodeUtf8Address(encoded)), plain)
      })
    }

    it("decodes the unitext form (raw UTF-8 under SMTPUTF8)", () => {
      assert.strictEqual(Result.getOrThrow(Xtext.decodeUtf8Address("jörg\\x{2B}1@例え.jp")), "jörg+1@例え.jp")
    })

    const invalid: ReadonlyArray<readonly [string, string]> = [
      ["lower-case hex", "\\x{f6}"],
      ["leading zero", "\\x{00F6}"],
      ["escaped QCHAR", "\\x{41}"],
      ["surrogate", "\\x{D800}"],
      ["above U+10FFFF", "\\x{110000}"],
      ["unterminated", "\\x{F6"],
      ["backslash alone", "a\\b"],
      ["raw +", "a+b"],
      ["raw space", "a b"],
      ["control", "a\u0001"]
    ]
    for (const [name, text] of invalid) {
      it(`rejects ${name}`, () => {
        assert.isTrue(Result.isFailure(Xtext.decodeUtf8Address(text)))
      })
    }

    it("(e) round-trips any well-formed address text without control characters", () => {
      fc.assert(
        fc.property(
          fc.string({ maxLength: 40, unit: "binary" }).filter((s) => wellFormed(s) && !/[\x00-\x1f]/.test(s)),
          (s) => {
            const encoded = Xtext.encodeUtf8Address(s)
            assert.match(encoded, /^[\x21-\x7e]*$/)
            assert.strictEqual(Result.getOrThrow(Xtext.decodeUtf8Address(encoded)), s)
          }
        ),
        { numRuns: 300 }
      )
    })
  })
})
