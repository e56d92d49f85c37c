import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Pop3Response from "../src/Pop3Response.ts"

const ok = (text: string): Pop3Response.StatusLine => Pop3Response.statusLine("Ok", text)

describe("Pop3Response.statusLine", () => {
  const table: ReadonlyArray<readonly [string, ReadonlyArray<string> | undefined, string]> = [
    ["", undefined, ""],
    ["hello", undefined, "hello"],
    ["[IN-USE] locked", ["IN-USE"], "locked"],
    ["[SYS/TEMP]", ["SYS", "TEMP"], ""],
    ["[auth] lower", ["AUTH"], "lower"],
    ["[A/B/C]x", ["A", "B", "C"], "x"],
    ["[A/] bad", undefined, "[A/] bad"],
    ["[/A] bad", undefined, "[/A] bad"],
    ["[] bad", undefined, "[] bad"],
    ["[A", undefined, "[A"],
    ["[A\tB] bad", undefined, "[A\tB] bad"],
    [" [A] not first", undefined, " [A] not first"]
  ]
  for (const [rest, tokens, text] of table) {
    it(`splits ${JSON.stringify(rest)}`, () => {
      const line = Pop3Response.statusLine("Err", rest)
      assert.deepStrictEqual(line, { _tag: "Err", code: tokens && { tokens }, text })
    })
  }
})

describe("Pop3Response.hasCode", () => {
  it("matches codes hierarchically and without regard to case", () => {
    const line = Pop3Response.statusLine("Err", "[SYS/TEMP] later")
    assert.isTrue(Pop3Response.hasCode(line, "SYS/TEMP"))
    assert.isTrue(Pop3Response.hasCode(line, "SYS"))
    assert.isTrue(Pop3Response.hasCode(line, "sys/temp"))
    assert.isFalse(Pop3Response.hasCode(line, "SYS/PERM"))
    assert.isFalse(Pop3Response.hasCode(line, "SYS/TEMP/X"))
    assert.isFalse(Pop3Response.hasCode(line, "AUTH"))
    assert.isFalse(Pop3Response.hasCode(ok("no code"), "SYS"))
    assert.strictEqual(Pop3Response.codeText(line), "SYS/TEMP")
    assert.strictEqual(Pop3Response.codeText(ok("x")), undefined)
  })
})

describe("Pop3Response.parseStat", () => {
  it("reads count and size", () => {
    assert.deepStrictEqual(Pop3Response.parseStat(ok("2 320")), Result.succeed({ count: 2, size: 320 }))
    assert.deepStrictEqual(Pop3Response.parseStat(ok("0 0")), Result.succeed({ count: 0, size: 0 }))
    assert.deepStrictEqual(Pop3Response.parseStat(ok("3 1000 extra text")), Result.succeed({ count: 3, size: 1000 }))
  })
  for (const text of ["", "2", "2 ", "two 320", "2 -1", "2  320", "-2 320", "2 3e2", "1234567890123456 1"]) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const result = Pop3Response.parseStat(ok(text))
      assert.isTrue(Result.isFailure(result) && result.failure.grammar === "drop-listing")
    })
  }
  it("rejects -ERR", () => {
    assert.isTrue(Result.isFailure(Pop3Response.parseStat(Pop3Response.statusLine("Err", "2 320"))))
  })
})

describe("Pop3Response.parseListLine / parseList", () => {
  it("reads scan listings", () => {
    assert.deepStrictEqual(Pop3Response.parseListLine("1 120"), Result.succeed({ msg: 1, size: 120 }))
    assert.deepStrictEqual(Pop3Response.parseListLine("2 200 more"), Result.succeed({ msg: 2, size: 200 }))
    assert.deepStrictEqual(
      Pop3Response.parseList(["1 120", "2 200"]),
      Result.succeed([{ msg: 1, size: 120 }, { msg: 2, size: 200 }])
    )
    assert.deepStrictEqual(Pop3Response.parseList([]), Result.succeed([]))
  })
  for (const text of ["0 120", "1", "x 1", "1 x", "1\t120", " 1 120", ""]) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const result = Pop3Response.parseListLine(text)
      assert.isTrue(Result.isFailure(result) && result.failure.grammar === "scan-listing")
    })
  }
  it("fails the whole listing on one bad line", () => {
    assert.isTrue(Result.isFailure(Pop3Response.parseList(["1 120", "garbage"])))
  })
})

describe("Pop3Response.parseUidlLine / parseUidl", () => {
  it("reads unique-id listings (RFC 1939 §7 examples)", () => {
    assert.deepStrictEqual(Pop3Response.parseUidlLine("1 whqtswO00WBw418f9t5JxYwZ"), Result.succeed({
      msg: 1,
      uid: "whqtswO00WBw418f9t5JxYwZ"
    }))
    assert.deepStrictEqual(
      Pop3Response.parseUidl(["1 whqtswO00WBw418f9t5JxYwZ", "2 QhdPYR:00WBw1Ph7x7"]),
      Result.succeed([{ msg: 1, uid: "whqtswO00WBw418f9t5JxYwZ" }, { msg: 2, uid: "QhdPYR:00WBw1Ph7x7" }])
    )
    assert.deepStrictEqual(Pop3Response.parseUidlLine(`3 ${"~".repeat(70)}`), Result.succeed({ msg: 3, uid: "~".repeat(70) }))
    assert.deepStrictEqual(Pop3Response.parseUidlLine("4 !"), Result.succeed({ msg: 4, uid: "!" }))
  })
  for (const text of ["1", "1 ", "0 abc", "x abc", `1 ${"a".repeat(71)}`, "1 a b", "1 caf\u00e9", "1 a\u007f", " 1 a"]) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const result = Pop3Response.parseUidlLine(text)
      assert.isTrue(Result.isFailure(result) && result.failure.grammar === "unique-id-listing")
    })
  }
  it("accepts exactly the ids of 1-70 characters in 0x21-0x7E", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e9 }), fc.string({ maxLength: 80 }), (msg, uid) => {
        const valid = uid.length >= 1 && uid.length <= 70 && /^[\x21-\x7e]*$/.test(uid)
        const result = Pop3Response.parseUidlLine(`${msg} ${uid}`)
        assert.strictEqual(Result.isSuccess(result), valid)
        if (Result.isSuccess(result)) assert.deepStrictEqual(result.success, { msg, uid })
      })
    )
  })
})

describe("Pop3Response.decodeChallenge", () => {
  it("decodes base64 challenges", () => {
    assert.deepStrictEqual(Pop3Response.decodeChallenge("dGVzdA=="), Result.succeed(new TextEncoder().encode("test")))
    assert.deepStrictEqual(Pop3Response.decodeChallenge(""), Result.succeed(new Uint8Array(0)))
    assert.deepStrictEqual(
      Pop3Response.decodeChallenge({ _tag: "Continuation", expectation: 0, text: "VXNlcm5hbWU6" }),
      Result.succeed(new TextEncoder().encode("Username:"))
    )
  })
  for (const text of ["abc", "a===", "not base64!", "dGVz dA=="]) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const result = Pop3Response.decodeChallenge(text)
      assert.isTrue(Result.isFailure(result) && result.failure.grammar === "continue-req")
    })
  }
})
