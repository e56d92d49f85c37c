import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Recording from "../src/Recording.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64")

const recording = (chunks: ReadonlyArray<readonly [Recording.Phase, string]>): Recording.Recording => ({
  chunks: chunks.map(([phase, text]) => ({ phase, bytes: bytes(text) })),
  outcome: { _tag: "Completed" },
  handshake: undefined,
  clientClosed: true,
  sentBeforeHandshake: new Uint8Array(0),
  sentAfterExpectClose: new Uint8Array(0),
  extraAfterScript: new Uint8Array(0)
})

describe("Recording", () => {
  it("plaintextClientBytes / tlsClientBytes keep arrival order per phase", () => {
    const rec = recording([["plain", "A1 STARTTLS\r\n"], ["plain", "junk"], ["tls", "A2 LOGIN u p\r\n"], [
      "tls",
      "A3 NOOP\r\n"
    ]])
    assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 STARTTLS\r\njunk")
    assert.strictEqual(Recording.tlsClientBytes(rec), "A2 LOGIN u p\r\nA3 NOOP\r\n")
    assert.deepStrictEqual(Recording.clientBytes(rec, "plain"), bytes("A1 STARTTLS\r\njunk"))
  })

  it("finds a secret verbatim, quoted with escapes, and in base64 (AUTH PLAIN, LOGIN, XOAUTH2)", () => {
    const cases: ReadonlyArray<readonly [string, string, Recording.Leak["found"]]> = [
      ["A1 LOGIN user s3cret\r\n", "s3cret", "verbatim"],
      ["A1 LOGIN user \"pa\\\"ss\\\\word\"\r\n", "pa\"ss\\word", "unescaped"],
      [`AUTH PLAIN ${b64("\0user\0s3cret")}\r\n`, "s3cret", "base64"],
      [`A1 AUTHENTICATE PLAIN\r\n${b64("user\0user\0s3cret")}\r\n`, "s3cret", "base64"],
      [`AUTH LOGIN\r\n${b64("user")}\r\n${b64("s3cret")}\r\n`, "s3cret", "base64"],
      [`AUTH XOAUTH2 ${b64("user=u\x01auth=Bearer tok-123\x01\x01")}\r\n`, "tok-123", "base64"],
      [`A1 AUTHENTICATE PLAIN x${b64("\0user\0s3cret")}\r\n`, "s3cret", "base64"],
      [`PASS ${Buffer.from("\0u\0s3cret").toString("base64url")}\r\n`, "s3cret", "base64"]
    ]
    for (const [text, secret, found] of cases) {
      const leaks = Recording.findSecretsInPlaintext(recording([["plain", text]]), [secret, "unrelated"])
      assert.deepStrictEqual(leaks.map((l) => [l.secret, l.found]), [[secret, found]], text)
    }
  })

  it("a secret split across chunks is still found; empty secrets are ignored", () => {
    const rec = recording([["plain", "PASS hun"], ["plain", "ter2\r\n"]])
    assert.deepStrictEqual(Recording.findSecretsInPlaintext(rec, ["hunter2", ""]), [
      { secret: "hunter2", found: "verbatim" }
    ])
  })

  it.effect("assertNoSecretInPlaintext passes when the secret only went over TLS", () =>
    Effect.gen(function*() {
      const rec = recording([["plain", "A1 STARTTLS\r\n"], ["tls", `AUTH PLAIN ${b64("\0u\0s3cret")}\r\n`]])
      yield* Recording.assertNoSecretInPlaintext(rec, ["s3cret"])
    }))

  it.effect("assertNoSecretInPlaintext fails without printing the secret", () =>
    Effect.gen(function*() {
      const rec = recording([["plain", `AUTH PLAIN ${b64("\0u\0s3cret")}\r\n`]])
      const error = yield* Effect.flip(Recording.assertNoSecretInPlaintext(rec, ["s3cret"]))
      assert.strictEqual(error._tag, "SecretInPlaintext")
      assert.strictEqual(error.leaks.length, 1)
      assert.strictEqual(error.message, "secret sent in plaintext: 6-character secret (base64)")
      assert.notInclude(error.message, "s3cret")
    }))
})
