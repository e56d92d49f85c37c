import { assert, describe, it } from "@effect/vitest"
import * as SmtpExtensions from "../src/SmtpExtensions.ts"
import { parseOk } from "./helpers.ts"

const ehlo = (wire: string) => SmtpExtensions.parseEhlo(parseOk(wire)[0]!)

describe("SmtpExtensions", () => {
  it("reads a Postfix EHLO reply", () => {
    const ext = ehlo(
      "250-mx.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
        "250-AUTH PLAIN LOGIN XOAUTH2\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n" +
        "250-REQUIRETLS\r\n250-BINARYMIME\r\n250 CHUNKING\r\n"
    )
    assert.strictEqual(ext.domain, "mx.example.com")
    assert.strictEqual(ext.greeting, "")
    assert.isTrue(ext.startTls)
    assert.deepStrictEqual(ext.auth, ["PLAIN", "LOGIN", "XOAUTH2"])
    assert.strictEqual(ext.size, 52428800)
    for (const flag of ["pipelining", "eightBitMime", "binaryMime", "smtpUtf8", "dsn", "chunking", "enhancedStatusCodes", "requireTls"] as const) {
      assert.isTrue(ext[flag], flag)
    }
    assert.deepStrictEqual([...ext.unknown], [["VRFY", ""], ["ETRN", ""]])
  })

  it("reads a single-line reply: no extensions", () => {
    const ext = ehlo("250 mx.example.com Hello client [192.0.2.1]\r\n")
    assert.strictEqual(ext.domain, "mx.example.com")
    assert.strictEqual(ext.greeting, "Hello client [192.0.2.1]")
    assert.isFalse(ext.startTls)
    assert.deepStrictEqual(ext.auth, [])
    assert.strictEqual(ext.size, undefined)
    assert.strictEqual(ext.keywords.size, 0)
  })

  it("merges AUTH and the legacy AUTH= form, upper-cases and de-duplicates mechanisms", () => {
    const ext = ehlo("250-x\r\n250-AUTH=PLAIN LOGIN\r\n250 auth login cram-md5 SCRAM-SHA-256\r\n")
    assert.deepStrictEqual(ext.auth, ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"])
    assert.isTrue(SmtpExtensions.has(ext, "auth"))
  })

  it("drops mechanism names that are not RFC 4422 names", () => {
    const ext = ehlo("250-x\r\n250 AUTH PLAIN <script> A_VERY_LONG_MECHANISM_NAME_X\r\n")
    assert.deepStrictEqual(ext.auth, ["PLAIN"])
  })

  describe("SIZE (RFC 1870 §4)", () => {
    const table: ReadonlyArray<readonly [string, number | undefined]> = [
      ["SIZE 1000", 1000],
      ["SIZE", undefined],
      ["SIZE 0", undefined],
      ["SIZE abc", undefined],
      ["SIZE -5", undefined],
      ["size   2048", 2048]
    ]
    for (const [line, size] of table) {
      it(JSON.stringify(line), () => {
        const ext = ehlo(`250-x\r\n250 ${line}\r\n`)
        assert.strictEqual(ext.size, size)
        assert.isTrue(SmtpExtensions.has(ext, "SIZE"))
      })
    }
  })

  it("keeps unknown keywords with their parameters, case-insensitively", () => {
    const ext = ehlo("250-x\r\n250-x-exps GSSAPI NTLM\r\n250-MT-PRIORITY  MIXER\r\n250 DELIVERBY 240\r\n")
    assert.strictEqual(SmtpExtensions.parameters(ext, "X-EXPS"), "GSSAPI NTLM")
    assert.strictEqual(SmtpExtensions.parameters(ext, "mt-priority"), "MIXER")
    assert.strictEqual(SmtpExtensions.parameters(ext, "deliverby"), "240")
    assert.strictEqual(SmtpExtensions.parameters(ext, "STARTTLS"), undefined)
    assert.isTrue(SmtpExtensions.has(ext, "Deliverby"))
    assert.isFalse(SmtpExtensions.has(ext, "STARTTLS"))
  })

  it("skips lines that are not ehlo-lines instead of failing", () => {
    const ext = ehlo("250-x\r\n250-\r\n250- \r\n250--BAD\r\n250-é\r\n250-=x\r\n250 STARTTLS\r\n")
    assert.deepStrictEqual([...ext.keywords], ["STARTTLS"])
  })

  it("reads an LMTP LHLO reply the same way", () => {
    const ext = ehlo("250-lmtp.example.com\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
    assert.isTrue(ext.pipelining && ext.enhancedStatusCodes && ext.eightBitMime)
  })
})
