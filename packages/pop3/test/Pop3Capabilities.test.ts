import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Pop3Capabilities from "../src/Pop3Capabilities.ts"

describe("Pop3Capabilities.parse", () => {
  it("reads the RFC 2449 §5 example", () => {
    const caps = Pop3Capabilities.parse([
      "TOP",
      "USER",
      "SASL CRAM-MD5 KERBEROS_V4",
      "RESP-CODES",
      "LOGIN-DELAY 900",
      "PIPELINING",
      "EXPIRE 60",
      "UIDL",
      "IMPLEMENTATION Shlemazle-Plotz-v302"
    ])
    assert.deepStrictEqual(caps, {
      ...Pop3Capabilities.empty,
      top: true,
      user: true,
      sasl: ["CRAM-MD5", "KERBEROS_V4"],
      respCodes: true,
      loginDelay: { seconds: 900, perUser: false },
      pipelining: true,
      expire: { days: 60, perUser: false },
      uidl: true,
      implementation: "Shlemazle-Plotz-v302"
    })
  })

  it("reads Dovecot's list before and after STLS", () => {
    const before = Pop3Capabilities.parse(["CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "STLS", "SASL"])
    assert.isTrue(before.stls)
    assert.isTrue(before.authRespCode)
    assert.isFalse(before.user)
    assert.deepStrictEqual(before.sasl, [])
    assert.deepStrictEqual(before.unknown, [{ tag: "CAPA", params: [] }])
    const after = Pop3Capabilities.parse(["TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE", "USER", "SASL PLAIN LOGIN"])
    assert.isFalse(after.stls)
    assert.isTrue(after.user)
    assert.deepStrictEqual(after.sasl, ["PLAIN", "LOGIN"])
  })

  const table: ReadonlyArray<readonly [string, Partial<Pop3Capabilities.Pop3Capabilities>]> = [
    ["stls", { stls: true }],
    ["  Top  ", { top: true }],
    ["SASL plain  Scram-Sha-256\tplain", { sasl: ["PLAIN", "SCRAM-SHA-256"] }],
    ["LOGIN-DELAY 0", { loginDelay: { seconds: 0, perUser: false } }],
    ["LOGIN-DELAY 300 USER", { loginDelay: { seconds: 300, perUser: true } }],
    ["LOGIN-DELAY x", { unknown: [{ tag: "LOGIN-DELAY", params: ["x"] }] }],
    ["LOGIN-DELAY", { unknown: [{ tag: "LOGIN-DELAY", params: [] }] }],
    ["LOGIN-DELAY 10 OTHER", { unknown: [{ tag: "LOGIN-DELAY", params: ["10", "OTHER"] }] }],
    ["LOGIN-DELAY NEVER", { unknown: [{ tag: "LOGIN-DELAY", params: ["NEVER"] }] }],
    ["EXPIRE NEVER", { expire: { days: "NEVER", perUser: false } }],
    ["EXPIRE never user", { expire: { days: "NEVER", perUser: true } }],
    ["EXPIRE 0", { expire: { days: 0, perUser: false } }],
    ["EXPIRE 30 USER", { expire: { days: 30, perUser: true } }],
    ["EXPIRE -1", { unknown: [{ tag: "EXPIRE", params: ["-1"] }] }],
    ["IMPLEMENTATION  Dovecot  (Debian) ", { implementation: "Dovecot  (Debian)" }],
    ["IMPLEMENTATION", { implementation: "" }],
    ["UTF8", { utf8: { user: false } }],
    ["UTF8 USER", { utf8: { user: true } }],
    ["UTF8 OTHER", { unknown: [{ tag: "UTF8", params: ["OTHER"] }] }],
    ["LANG", { lang: true }],
    ["AUTH-RESP-CODE", { authRespCode: true }],
    ["X-VENDOR a b", { unknown: [{ tag: "X-VENDOR", params: ["a", "b"] }] }],
    ["", {}]
  ]
  for (const [line, expected] of table) {
    it(`reads ${JSON.stringify(line)}`, () => {
      assert.deepStrictEqual(Pop3Capabilities.parse([line]), { ...Pop3Capabilities.empty, ...expected })
    })
  }

  it("is total and keeps every unknown line", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 30 }), { maxLength: 10 }), (lines) => {
        const caps = Pop3Capabilities.parse(lines)
        assert.isAtMost(caps.unknown.length, lines.length)
        assert.isTrue(caps.sasl.every((m) => m === m.toUpperCase()))
        assert.strictEqual(new Set(caps.sasl).size, caps.sasl.length)
      })
    )
  })
})

describe("Pop3Capabilities.hasSasl", () => {
  it("compares without regard to case", () => {
    const caps = Pop3Capabilities.parse(["SASL PLAIN SCRAM-SHA-256"])
    assert.isTrue(Pop3Capabilities.hasSasl(caps, "scram-sha-256"))
    assert.isFalse(Pop3Capabilities.hasSasl(caps, "LOGIN"))
  })
})
