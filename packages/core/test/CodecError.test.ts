import { assert, describe, it } from "@effect/vitest"
import * as CodecError from "@starttls/core/CodecError"

describe("CodecError.preview", () => {
  it("escapes control bytes and truncates", () => {
    const bytes = new TextEncoder().encode("a\r\n\x00b\\")
    assert.strictEqual(CodecError.preview(bytes), "a\\r\\n\\x00b\\\\")
    assert.strictEqual(CodecError.preview(new Uint8Array(200).fill(0x41), 10), "AAAAAAAAAA")
  })
  it("has computed messages", () => {
    const e = new CodecError.LimitExceeded({ limit: "maxLineLength", max: 10, actual: 11 })
    assert.strictEqual(e.message, "maxLineLength exceeded: 11 > 10")
  })
})
