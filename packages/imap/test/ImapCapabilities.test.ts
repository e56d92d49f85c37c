import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as ImapCapabilities from "../src/ImapCapabilities.ts"

describe("ImapCapabilities", () => {
  it("reads a typical IMAP4rev1 greeting set, case-insensitively", () => {
    const caps = ImapCapabilities.make([
      "imap4rev1",
      "SASL-IR",
      "LOGIN-REFERRALS",
      "ID",
      "ENABLE",
      "IDLE",
      "LITERAL+",
      "starttls",
      "LOGINDISABLED",
      "auth=plain",
      "AUTH=SCRAM-SHA-256",
      "AUTH=PLAIN"
    ])
    assert.isTrue(caps.imap4rev1)
    assert.isFalse(caps.imap4rev2)
    assert.isTrue(caps.startTls)
    assert.isTrue(caps.loginDisabled)
    assert.isTrue(caps.saslIr)
    assert.isTrue(caps.literalPlus)
    assert.isFalse(caps.literalMinus)
    assert.isTrue(caps.id && caps.enable && caps.idle)
    assert.isFalse(caps.move || caps.binary || caps.condstore || caps.utf8Accept)
    assert.deepStrictEqual(caps.authMechanisms, ["PLAIN", "SCRAM-SHA-256"])
    assert.isTrue(ImapCapabilities.supportsMechanism(caps, "scram-sha-256"))
    assert.isFalse(ImapCapabilities.supportsMechanism(caps, "LOGIN"))
    assert.isTrue(ImapCapabilities.has(caps, "login-referrals"))
    assert.isFalse(ImapCapabilities.has(caps, "AUTH"))
    assert.strictEqual(caps.raw[0], "imap4rev1")
    assert.strictEqual(ImapCapabilities.literalMode(caps), "plus")
  })

  it("IMAP4rev2 implies the extensions it incorporates (RFC 9051 Appendix E)", () => {
    const caps = ImapCapabilities.make(["IMAP4rev2", "AUTH=PLAIN"])
    for (const implied of ["LITERAL-", "SASL-IR", "IDLE", "ENABLE", "MOVE", "UIDPLUS", "ESEARCH", "SEARCHRES", "BINARY",
      "SPECIAL-USE", "LIST-EXTENDED", "LIST-STATUS", "NAMESPACE", "UNSELECT", "CHILDREN", "STATUS=SIZE"]) {
      assert.isTrue(ImapCapabilities.has(caps, implied), implied)
    }
    assert.isTrue(caps.literalMinus && caps.saslIr && caps.move && caps.binary && caps.esearch && caps.listStatus)
    assert.isFalse(caps.literalPlus || caps.condstore || caps.utf8Accept || caps.compressDeflate || caps.id)
    assert.strictEqual(ImapCapabilities.literalMode(caps), "minus")
  })

  it("implications between extensions", () => {
    const caps = ImapCapabilities.make(["IMAP4rev1", "QRESYNC", "UTF8=ONLY"])
    assert.isTrue(caps.condstore && caps.qresync)
    assert.isTrue(caps.utf8Accept && caps.utf8Only)
    assert.isFalse(ImapCapabilities.make(["CONDSTORE"]).qresync)
  })

  it("literal modes", () => {
    assert.strictEqual(ImapCapabilities.literalMode(ImapCapabilities.empty), "sync")
    assert.strictEqual(ImapCapabilities.literalMode(ImapCapabilities.make(["IMAP4rev1", "LITERAL-"])), "minus")
    assert.strictEqual(ImapCapabilities.literalMode(ImapCapabilities.make(["LITERAL-", "LITERAL+"])), "plus")
  })

  it("APPENDLIMIT (RFC 7889)", () => {
    const global = ImapCapabilities.make(["APPENDLIMIT=35651584"])
    assert.strictEqual(global.appendLimit, 35651584)
    assert.isTrue(ImapCapabilities.has(global, "APPENDLIMIT"))
    const perMailbox = ImapCapabilities.make(["APPENDLIMIT"])
    assert.strictEqual(perMailbox.appendLimit, undefined)
    assert.isTrue(ImapCapabilities.has(perMailbox, "appendlimit"))
    assert.strictEqual(ImapCapabilities.make(["APPENDLIMIT=12x"]).appendLimit, undefined)
    assert.strictEqual(ImapCapabilities.make(["APPENDLIMIT=99999999999999999999"]).appendLimit, undefined)
    assert.strictEqual(ImapCapabilities.make(["APPENDLIMIT="]).appendLimit, undefined)
  })

  it("other typed capabilities", () => {
    const caps = ImapCapabilities.make(["COMPRESS=DEFLATE", "CREATE-SPECIAL-USE", "WITHIN", "UTF8=ACCEPT", "AUTH="])
    assert.isTrue(caps.compressDeflate && caps.createSpecialUse && caps.within && caps.utf8Accept)
    assert.deepStrictEqual(caps.authMechanisms, [])
  })

  it("has(x) is true for every advertised atom, in any case", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9=+-]{1,12}$/), { maxLength: 8 }), (atoms) => {
        const caps = ImapCapabilities.make(atoms)
        for (const atom of atoms) {
          assert.isTrue(ImapCapabilities.has(caps, atom.toLowerCase()))
          assert.isTrue(ImapCapabilities.has(caps, atom.toUpperCase()))
        }
        assert.deepStrictEqual(caps.raw, atoms)
      })
    )
  })
})
