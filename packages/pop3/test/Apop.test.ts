import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import * as Apop from "../src/Apop.ts"
import * as Pop3Command from "../src/Pop3Command.ts"

describe("Apop.digest", () => {
  it("computes the RFC 1939 §7 example", () => {
    const digest = Apop.digest("<1896.697170952@dbc.mtview.ca.us>", Redacted.make("tanstaaf"))
    assert.strictEqual(Redacted.value(digest), "c4c9334bac560ecc979e58001b3e22fb")
    assert.notInclude(String(digest), "c4c9")
  })

  it("builds the APOP command from a greeting", () => {
    const greeting = "POP3 server ready <1896.697170952@dbc.mtview.ca.us>"
    const timestamp = Apop.timestamp(greeting)
    assert.strictEqual(timestamp, "<1896.697170952@dbc.mtview.ca.us>")
    const command = Apop.command("mrose", timestamp!, Redacted.make("tanstaaf"))
    const encoded = Pop3Command.encodeWithRedaction(command)
    assert.isTrue(Result.isSuccess(encoded))
    if (Result.isSuccess(encoded)) {
      assert.strictEqual(Buffer.from(encoded.success.bytes).toString(), "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n")
      assert.strictEqual(encoded.success.redacted, "APOP mrose ***")
    }
  })
})

describe("Apop.timestamp", () => {
  const table: ReadonlyArray<readonly [string, string | undefined]> = [
    ["POP3 server ready <1896.697170952@dbc.mtview.ca.us>", "<1896.697170952@dbc.mtview.ca.us>"],
    ["<a@b> first", "<a@b>"],
    ["ready <no-at-sign> then <1.2@host>", "<1.2@host>"],
    ["ready <1.2@host> <3.4@other>", "<1.2@host>"],
    ["ready <with space@host>", undefined],
    ["ready <<1.2@host>", "<1.2@host>"],
    ["ready <1.2@host", undefined],
    ["ready <>", undefined],
    ["ready <@>", "<@>"],
    ["Dovecot ready.", undefined],
    ["ready <caf\u00e9@host>", undefined],
    ["", undefined]
  ]
  for (const [greeting, expected] of table) {
    it(`finds ${JSON.stringify(expected)} in ${JSON.stringify(greeting)}`, () => {
      assert.strictEqual(Apop.timestamp(greeting), expected)
    })
  }
})
