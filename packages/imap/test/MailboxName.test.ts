import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as MailboxName from "../src/MailboxName.ts"

const decoded = (wire: string): string => {
  const result = MailboxName.decodeUtf7(wire)
  if (Result.isFailure(result)) assert.fail(`${wire}: ${result.failure.detail}`)
  return result.success
}

// Vectors: RFC 3501 §5.1.3 example, plus hand-checked UTF-16 BE + modified base64 encodings.
const VECTORS: ReadonlyArray<readonly [string, string]> = [
  ["~peter/mail/日本語/台北", "~peter/mail/&ZeVnLIqe-/&U,BTFw-"],
  ["&", "&-"],
  ["R&D/&-", "R&-D/&--"],
  ["Entwürfe", "Entw&APw-rfe"],
  ["é", "&AOk-"],
  ["é&", "&AOk-&-"],
  ["😀", "&2D3eAA-"],
  ["a\tb", "a&AAk-b"],
  ["+/-,", "+/-,"],
  ["", ""]
]

describe("MailboxName modified UTF-7", () => {
  it("encodes and decodes the vectors", () => {
    for (const [name, wire] of VECTORS) {
      assert.strictEqual(MailboxName.encodeUtf7(name), wire, name)
      assert.strictEqual(decoded(wire), name, wire)
    }
  })

  it("rejects every non-canonical or invalid form", () => {
    const rejected: ReadonlyArray<readonly [string, RegExp]> = [
      ["&", /unterminated/],
      ["&AOk", /unterminated/],
      ["a&b", /unterminated|invalid base64/],
      ["&AGE-", /printable ASCII/], // "a" encoded
      ["&ACY-", /printable ASCII/], // "&" encoded instead of "&-"
      ["&AOl-", /padding/], // non-zero padding bits
      ["&AOkA-", /padding/], // a whole extra base64 character
      ["&AOk-&AOk-", /adjacent/], // two shifts that should be one
      ["&A/k-", /invalid base64/], // "/" is "," in modified BASE64
      ["&2D0-", /lone high surrogate/],
      ["&3gA-", /lone low surrogate/],
      ["&2D3YPQ-", /lone high surrogate/], // two high surrogates in a row
      ["é", /must be encoded/], // raw 8-bit
      ["a\tb", /must be encoded/], // raw control character
      ["&,-", /empty/]
    ]
    for (const [wire, detail] of rejected) {
      const result = MailboxName.decodeUtf7(wire)
      if (Result.isSuccess(result)) assert.fail(`accepted ${JSON.stringify(wire)} as ${JSON.stringify(result.success)}`)
      assert.match(result.failure.detail, detail, wire)
      assert.strictEqual(result.failure.grammar, "mailbox (modified UTF-7)")
    }
  })

  it("round trips any well-formed string, and the wire form is printable ASCII", () => {
    const name = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.array(fc.constantFrom("&", "-", "+", "/", ",", "a", "é", "日", "😀", "\u0001", "&-", " "), { maxLength: 10 })
        .map((a) => a.join(""))
    )
    fc.assert(
      fc.property(name, (s) => {
        const wire = MailboxName.encodeUtf7(s)
        assert.match(wire, /^[\x20-\x7e]*$/)
        assert.strictEqual(decoded(wire), s)
      }),
      { numRuns: 400 }
    )
  })

  it("decoding is strict: any accepted wire form is the canonical encoding of its result", () => {
    const wire = fc.array(fc.constantFrom("&", "-", "A", "O", "k", "2", "D", "3", "e", ",", "+", "a", "Z"), { maxLength: 12 })
      .map((a) => a.join(""))
    fc.assert(
      fc.property(wire, (w) => {
        const result = MailboxName.decodeUtf7(w)
        if (Result.isSuccess(result)) assert.strictEqual(MailboxName.encodeUtf7(result.success), w)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("MailboxName encode / decode", () => {
  const encoded = (name: string, utf8: boolean) => {
    const result = MailboxName.encode(name, { utf8 })
    if (Result.isFailure(result)) assert.fail(result.failure.detail)
    return result.success
  }

  it("INBOX is case-insensitive (ASCII only)", () => {
    assert.strictEqual(encoded("inbox", false), "INBOX")
    assert.strictEqual(encoded("InBoX", true), "INBOX")
    assert.strictEqual(MailboxName.normalize("INBOX"), "INBOX")
    assert.strictEqual(MailboxName.normalize("inbox/sub"), "inbox/sub")
    // "ınbox" (dotless i) upper-cases to "INBOX" with toUpperCase but is another name.
    assert.strictEqual(encoded("ınbox", true), "ınbox")
    assert.strictEqual(encoded("ınbox", false), "&ATE-nbox")
  })

  it("UTF-8 or modified UTF-7", () => {
    assert.strictEqual(encoded("Entwürfe", false), "Entw&APw-rfe")
    assert.strictEqual(encoded("Entwürfe", true), "Entwürfe")
    assert.strictEqual(encoded("A&B", true), "A&B")
  })

  it("refuses NUL, CR, LF and lone surrogates", () => {
    for (const name of ["a\0", "a\rb", "a\nb", "\ud800", "x\udc00y", "\ud83d"]) {
      for (const utf8 of [true, false]) {
        const result = MailboxName.encode(name, { utf8 })
        assert.isTrue(Result.isFailure(result), JSON.stringify(name))
        if (Result.isFailure(result)) assert.strictEqual(result.failure.field, "mailbox")
      }
    }
  })

  it("decode inverts encode and normalizes INBOX", () => {
    const roundTrip = (name: string, utf8: boolean) =>
      Result.getOrThrow(MailboxName.decode(encoded(name, utf8), { utf8 }))
    assert.strictEqual(roundTrip("日本語", false), "日本語")
    assert.strictEqual(roundTrip("日本語", true), "日本語")
    assert.strictEqual(Result.getOrThrow(MailboxName.decode("Inbox", { utf8: false })), "INBOX")
    // In UTF-8 mode "&" is an ordinary character.
    assert.strictEqual(Result.getOrThrow(MailboxName.decode("&AOk-", { utf8: true })), "&AOk-")
    assert.isTrue(Result.isFailure(MailboxName.decode("&AOk", { utf8: false })))
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 20 }), fc.boolean(), (name, utf8) => {
        fc.pre(MailboxName.invalidReason(name) === undefined)
        assert.strictEqual(roundTrip(name, utf8), MailboxName.normalize(name))
      }),
      { numRuns: 300 }
    )
  })
})
