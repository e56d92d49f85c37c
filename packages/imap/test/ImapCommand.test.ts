import { assert, describe, it } from "@effect/vitest"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as ImapCapabilities from "../src/ImapCapabilities.ts"
import * as ImapCommand from "../src/ImapCommand.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import { bytesOf, failure, ok, read, readEncoded, shape, stringOf, text } from "./ImapCommandReader.ts"

const context = (...atoms: ReadonlyArray<string>): ImapCommand.EncodeContext => ({
  capabilities: ImapCapabilities.make(["IMAP4rev1", ...atoms])
})
const sync = context()
const plus = context("LITERAL+")
const minus = context("LITERAL-")
const utf8 = { capabilities: ImapCapabilities.make(["IMAP4rev1", "UTF8=ACCEPT", "LITERAL+"]), utf8: true }
const rev2 = { capabilities: ImapCapabilities.make(["IMAP4rev2"]) }

const golden = (command: ImapCommand.ImapCommand, expected: string, ctx: ImapCommand.EncodeContext = plus) => {
  const encoded = ok(ImapCommand.encode("A1", command, ctx))
  assert.strictEqual(text(encoded), expected)
  readEncoded(encoded)
  return encoded
}

const fails = (command: ImapCommand.ImapCommand, field: string, ctx: ImapCommand.EncodeContext = plus, tag = "A1") =>
  assert.strictEqual(failure(ImapCommand.encode(tag, command, ctx)).field, field)

const secret = (s: string) => Redacted.make(s)
const bytes = (s: string) => Redacted.make(new TextEncoder().encode(s))
const set = SequenceSet.fromNumbers

describe("ImapCommand goldens", () => {
  it("commands without arguments", () => {
    golden(ImapCommand.capability, "A1 CAPABILITY\r\n")
    golden(ImapCommand.noop, "A1 NOOP\r\n")
    golden(ImapCommand.logout, "A1 LOGOUT\r\n")
    golden(ImapCommand.startTls, "A1 STARTTLS\r\n")
    golden(ImapCommand.namespace, "A1 NAMESPACE\r\n")
    golden(ImapCommand.idle, "A1 IDLE\r\n")
    golden(ImapCommand.close, "A1 CLOSE\r\n")
    golden(ImapCommand.unselect, "A1 UNSELECT\r\n")
    golden(ImapCommand.expunge, "A1 EXPUNGE\r\n")
  })

  it("continuation lines carry no tag", () => {
    assert.strictEqual(text(ok(ImapCommand.encode("ignored", ImapCommand.done, plus))), "DONE\r\n")
    assert.strictEqual(text(ok(ImapCommand.encode("", ImapCommand.authenticateCancel, plus))), "*\r\n")
    const cont = ok(ImapCommand.encode("", { _tag: "AuthenticateContinue", response: bytes("hello") }, plus))
    assert.strictEqual(text(cont), "aGVsbG8=\r\n")
    assert.strictEqual(cont.redacted, "***")
    const empty = ok(ImapCommand.encode("", { _tag: "AuthenticateContinue", response: bytes("") }, plus))
    assert.strictEqual(text(empty), "\r\n")
  })

  it("AUTHENTICATE with and without SASL-IR", () => {
    golden({ _tag: "Authenticate", mechanism: "SCRAM-SHA-256" }, "A1 AUTHENTICATE SCRAM-SHA-256\r\n")
    const ir = context("SASL-IR")
    const encoded = golden(
      { _tag: "Authenticate", mechanism: "PLAIN", initialResponse: bytes("\0alice\0pw") },
      "A1 AUTHENTICATE PLAIN AGFsaWNlAHB3\r\n",
      ir
    )
    assert.strictEqual(encoded.redacted, "A1 AUTHENTICATE PLAIN ***")
    golden({ _tag: "Authenticate", mechanism: "EXTERNAL", initialResponse: bytes("") }, "A1 AUTHENTICATE EXTERNAL =\r\n", ir)
    // IMAP4rev2 includes SASL-IR (RFC 9051 Appendix E).
    golden({ _tag: "Authenticate", mechanism: "PLAIN", initialResponse: bytes("x") }, "A1 AUTHENTICATE PLAIN eA==\r\n", rev2)
    fails({ _tag: "Authenticate", mechanism: "PLAIN", initialResponse: bytes("x") }, "initial response", sync)
    fails({ _tag: "Authenticate", mechanism: "PL AIN" }, "mechanism")
  })

  it("LOGIN, redacted by construction", () => {
    const encoded = golden(ImapCommand.login("alice", secret("s3cret")), "A1 LOGIN alice s3cret\r\n")
    assert.strictEqual(encoded.redacted, "A1 LOGIN alice ***")
    const quoted = golden(ImapCommand.login("a b", secret('p "w\\')), 'A1 LOGIN "a b" "p \\"w\\\\"\r\n')
    assert.strictEqual(quoted.redacted, 'A1 LOGIN "a b" ***')
    // NIL would read as an atom, so it is quoted.
    golden(ImapCommand.login("NIL", secret("nil")), 'A1 LOGIN "NIL" "nil"\r\n')
    fails(ImapCommand.login("alice", secret("x")), "LOGIN", context("LOGINDISABLED"))
  })

  it("ENABLE, COMPRESS, ID", () => {
    golden({ _tag: "Enable", capabilities: ["UTF8=ACCEPT", "CONDSTORE"] }, "A1 ENABLE UTF8=ACCEPT CONDSTORE\r\n")
    golden({ _tag: "Compress", mechanism: "DEFLATE" }, "A1 COMPRESS DEFLATE\r\n")
    golden({ _tag: "Id", params: null }, "A1 ID NIL\r\n")
    golden({ _tag: "Id", params: { name: "starttls", version: "0.1.0", os: null } },
      'A1 ID ("name" "starttls" "version" "0.1.0" "os" NIL)\r\n')
    fails({ _tag: "Enable", capabilities: [] }, "capabilities")
    fails({ _tag: "Id", params: { name: "a", NAME: "b" } }, "id field")
    fails({ _tag: "Id", params: { ["x".repeat(31)]: "a" } }, "id field")
    fails({ _tag: "Id", params: { name: "x".repeat(1025) } }, "id value")
    fails({ _tag: "Id", params: Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`f${i}`, "v"])) }, "id")
  })

  it("SELECT / EXAMINE with CONDSTORE and QRESYNC", () => {
    golden({ _tag: "Select", mailbox: "inbox" }, "A1 SELECT INBOX\r\n")
    golden({ _tag: "Examine", mailbox: "Archive/2024" }, "A1 EXAMINE Archive/2024\r\n")
    golden({ _tag: "Select", mailbox: "INBOX", condstore: true }, "A1 SELECT INBOX (CONDSTORE)\r\n")
    // RFC 7162 §3.2.5.2 example
    golden(
      {
        _tag: "Select",
        mailbox: "INBOX",
        qresync: {
          uidValidity: 67890007,
          modSeq: 90060115194045000n,
          knownUids: SequenceSet.range(41, 211),
          seqMatch: { sequences: set([1, 3, 4, 5, 6, 7]), uids: set([20, 30, 31, 32, 33, 34]) }
        }
      },
      "A1 SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211 (1,3:7 20,30:34)))\r\n"
    )
    golden({ _tag: "Select", mailbox: "INBOX", condstore: true, qresync: { uidValidity: 1, modSeq: 2 } },
      "A1 SELECT INBOX (CONDSTORE QRESYNC (1 2))\r\n")
    fails({ _tag: "Select", mailbox: "INBOX", qresync: { uidValidity: 0, modSeq: 2 } }, "uidvalidity")
    fails({ _tag: "Select", mailbox: "INBOX", qresync: { uidValidity: 1, modSeq: 0 } }, "modseq")
    fails({ _tag: "Select", mailbox: "INBOX", qresync: { uidValidity: 1, modSeq: 1, knownUids: SequenceSet.range(1, "*") } },
      "known uids")
  })

  it("mailbox commands", () => {
    golden({ _tag: "Create", mailbox: "Brouillons" }, "A1 CREATE Brouillons\r\n")
    golden({ _tag: "Create", mailbox: "Drafts", specialUse: ["\\Drafts"] }, "A1 CREATE Drafts (USE (\\Drafts))\r\n")
    golden({ _tag: "Delete", mailbox: "Old" }, "A1 DELETE Old\r\n")
    golden({ _tag: "Subscribe", mailbox: "Entwürfe" }, "A1 SUBSCRIBE Entw&APw-rfe\r\n")
    golden({ _tag: "Unsubscribe", mailbox: "a b" }, 'A1 UNSUBSCRIBE "a b"\r\n')
    golden({ _tag: "Rename", from: "Old", to: "New [2]" }, 'A1 RENAME Old "New [2]"\r\n')
    golden({ _tag: "Status", mailbox: "INBOX", items: ["MESSAGES", "UIDNEXT", "HIGHESTMODSEQ"] },
      "A1 STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)\r\n")
    golden({ _tag: "Lsub", reference: "", pattern: "*" }, 'A1 LSUB "" *\r\n')
    fails({ _tag: "Create", mailbox: "X", specialUse: ["Drafts"] }, "special use")
    fails({ _tag: "Status", mailbox: "INBOX", items: [] }, "status item")
    fails({ _tag: "Delete", mailbox: "a\r\nb" }, "mailbox")
  })

  it("LIST, basic and extended", () => {
    golden({ _tag: "List", reference: "", patterns: "%" }, 'A1 LIST "" %\r\n')
    golden({ _tag: "List", reference: "", patterns: "Archive/*" }, 'A1 LIST "" Archive/*\r\n')
    golden({ _tag: "List", reference: "", patterns: "Entwürfe/%" }, 'A1 LIST "" Entw&APw-rfe/%\r\n')
    golden({ _tag: "List", reference: "", patterns: "" }, 'A1 LIST "" ""\r\n')
    golden(
      {
        _tag: "List",
        reference: "",
        patterns: ["INBOX", "Drafts/*"],
        select: ["SUBSCRIBED", "RECURSIVEMATCH"],
        return: { children: true, specialUse: true, status: ["MESSAGES", "UNSEEN"] }
      },
      'A1 LIST (SUBSCRIBED RECURSIVEMATCH) "" (INBOX Drafts/*) RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n'
    )
    golden({ _tag: "List", reference: "", patterns: "*", return: { status: ["SIZE"] } },
      'A1 LIST "" * RETURN (STATUS (SIZE))\r\n')
    fails({ _tag: "List", reference: "", patterns: "*", select: ["RECURSIVEMATCH"] }, "list select")
    fails({ _tag: "List", reference: "", patterns: [] }, "pattern")
  })

  it("APPEND up to the literal header, then a Payload part", () => {
    const encoded = golden(
      {
        _tag: "Append",
        mailbox: "Sent",
        flags: ["\\Seen", "$Forwarded"],
        internalDate: new Date(Date.UTC(2024, 0, 5, 9, 8, 7)),
        message: { size: 310 }
      },
      'A1 APPEND Sent (\\Seen $Forwarded) "05-Jan-2024 09:08:07 +0000" {310+}\r\n\r\n'
    )
    assert.deepStrictEqual(shape(encoded), [
      'L:A1 APPEND Sent (\\Seen $Forwarded) "05-Jan-2024 09:08:07 +0000" {310+}\r\n',
      "P:310",
      "L:\r\n"
    ])
    assert.strictEqual(encoded.redacted, 'A1 APPEND Sent (\\Seen $Forwarded) "05-Jan-2024 09:08:07 +0000" {310+}')
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", { _tag: "Append", mailbox: "Sent", message: { size: 9000 } }, sync))), [
      "L:A1 APPEND Sent {9000}\r\n",
      "+",
      "P:9000",
      "L:\r\n"
    ])
    // LITERAL- allows {n+} up to 4096 octets only (RFC 7888 §5).
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", { _tag: "Append", mailbox: "Sent", message: { size: 4097 } }, minus)))[1], "+")
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", { _tag: "Append", mailbox: "Sent", message: { size: 4096 } }, minus))), [
      "L:A1 APPEND Sent {4096+}\r\n",
      "P:4096",
      "L:\r\n"
    ])
    golden({ _tag: "Append", mailbox: "Sent", message: { size: 5 }, binary: true }, "A1 APPEND Sent ~{5+}\r\n\r\n",
      context("LITERAL+", "BINARY"))
    fails({ _tag: "Append", mailbox: "Sent", message: { size: 5 }, binary: true }, "message")
    fails({ _tag: "Append", mailbox: "Sent", message: { size: 2000 } }, "message size", context("APPENDLIMIT=1000"))
    fails({ _tag: "Append", mailbox: "Sent", message: { size: -1 } }, "message size")
    fails({ _tag: "Append", mailbox: "Sent", flags: ["\\Recent"], message: { size: 1 } }, "flag")
    fails({ _tag: "Append", mailbox: "Sent", internalDate: new Date(Number.NaN), message: { size: 1 } }, "internal date")
  })

  it("SEARCH, FETCH, STORE, COPY, MOVE, UID EXPUNGE", () => {
    golden({ _tag: "Search", uid: false, criteria: SearchCriteria.unseen }, "A1 SEARCH UNSEEN\r\n")
    golden({ _tag: "Search", uid: true, criteria: SearchCriteria.all, return: ["MIN", "MAX", "COUNT", "SAVE"] },
      "A1 UID SEARCH RETURN (MIN MAX COUNT SAVE) ALL\r\n")
    golden({ _tag: "Fetch", uid: false, set: SequenceSet.range(1, "*"), items: ["FLAGS", "UID", "RFC822.SIZE"] },
      "A1 FETCH 1:* (FLAGS UID RFC822.SIZE)\r\n")
    golden(
      {
        _tag: "Fetch",
        uid: true,
        set: set([1, 2, 3, 7]),
        items: [
          "ENVELOPE",
          "BODYSTRUCTURE",
          "INTERNALDATE",
          "MODSEQ",
          { _tag: "BodySection", peek: true },
          { _tag: "BodySection", part: [1, 2], specifier: "MIME" },
          { _tag: "BodySection", peek: true, specifier: { headerFields: ["From", "Subject"] }, partial: { offset: 0, length: 512 } },
          { _tag: "BodySection", specifier: { headerFields: ["X-Spam"], not: true } },
          { _tag: "BodySection", part: [3], specifier: "TEXT" },
          { _tag: "BinarySection", peek: true, part: [1], partial: { offset: 100, length: 50 } },
          { _tag: "BinarySize", part: [2] }
        ],
        changedSince: 12345,
        vanished: true
      },
      "A1 UID FETCH 1:3,7 (ENVELOPE BODYSTRUCTURE INTERNALDATE MODSEQ BODY.PEEK[] BODY[1.2.MIME] " +
        "BODY.PEEK[HEADER.FIELDS (From Subject)]<0.512> BODY[HEADER.FIELDS.NOT (X-Spam)] BODY[3.TEXT] " +
        "BINARY.PEEK[1]<100.50> BINARY.SIZE[2]) (CHANGEDSINCE 12345 VANISHED)\r\n"
    )
    golden({ _tag: "Fetch", uid: false, set: SequenceSet.saved, items: ["UID"] }, "A1 FETCH $ (UID)\r\n")
    golden({ _tag: "Store", uid: true, set: set([4]), op: "+", silent: true, flags: ["\\Deleted"] },
      "A1 UID STORE 4 +FLAGS.SILENT (\\Deleted)\r\n")
    golden({ _tag: "Store", uid: false, set: set([1, 2]), op: "", silent: false, flags: [], unchangedSince: 0 },
      "A1 STORE 1:2 (UNCHANGEDSINCE 0) FLAGS ()\r\n")
    golden({ _tag: "Store", uid: false, set: set([1]), op: "-", silent: false, flags: ["\\Seen", "Junk"] },
      "A1 STORE 1 -FLAGS (\\Seen Junk)\r\n")
    golden({ _tag: "Copy", uid: false, set: set([2, 3, 4]), mailbox: "Archive" }, "A1 COPY 2:4 Archive\r\n")
    golden({ _tag: "Move", uid: true, set: SequenceSet.saved, mailbox: "Trash" }, "A1 UID MOVE $ Trash\r\n")
    golden({ _tag: "UidExpunge", set: set([3000, 3001, 3002, 3005]) }, "A1 UID EXPUNGE 3000:3002,3005\r\n")
  })
})

describe("ImapCommand literal modes", () => {
  const login = ImapCommand.login("jöe", secret("pass\r\nword"))

  it("without LITERAL+/-: a wait before every literal's data", () => {
    const encoded = ok(ImapCommand.encode("A1", login, sync))
    assert.deepStrictEqual(shape(encoded), [
      "L:A1 LOGIN {4}\r\n",
      "+",
      "L:jöe {10}\r\n",
      "+",
      "L:pass\r\nword\r\n"
    ])
    assert.strictEqual(encoded.redacted, "A1 LOGIN {4}\r\njöe ***")
    assert.deepStrictEqual(read(bytesOf(encoded)).map(stringOf), ["A1", "LOGIN", "jöe", "pass\r\nword"])
  })

  it("LITERAL+: one line, non-synchronizing headers", () => {
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", login, plus))), ["L:A1 LOGIN {4+}\r\njöe {10+}\r\npass\r\nword\r\n"])
  })

  it("LITERAL- and IMAP4rev2: non-synchronizing up to 4096 octets", () => {
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", login, minus))), ["L:A1 LOGIN {4+}\r\njöe {10+}\r\npass\r\nword\r\n"])
    const big = ImapCommand.login("a\n" + "x".repeat(4095), secret("p"))
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", big, minus))).length, 3)
    const atLimit = ImapCommand.login("a\n" + "x".repeat(4094), secret("p"))
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", atLimit, minus))).length, 1)
    assert.deepStrictEqual(shape(ok(ImapCommand.encode("A1", atLimit, rev2))).length, 1)
  })
})

describe("ImapCommand string classes", () => {
  const user = (value: string, ctx: ImapCommand.EncodeContext = plus) =>
    text(ok(ImapCommand.encode("A1", ImapCommand.login(value, secret("p")), ctx))).slice("A1 LOGIN ".length, -" p\r\n".length)

  it("atom, quoted, literal", () => {
    assert.strictEqual(user("alice@example.com"), "alice@example.com")
    assert.strictEqual(user("a]b"), "a]b") // resp-specials are ASTRING-CHARs
    assert.strictEqual(user(""), '""')
    assert.strictEqual(user("a b"), '"a b"')
    for (const special of ["(", ")", "{", "%", "*", '"', "\\", "\t"]) assert.strictEqual(user(`a${special}`)[0], '"')
    assert.strictEqual(user('say "hi" \\o/'), '"say \\"hi\\" \\\\o/"')
    assert.strictEqual(user("x".repeat(2000)), "x".repeat(2000))
    assert.strictEqual(user("x ".repeat(512)), `"${"x ".repeat(512)}"`)
    assert.strictEqual(user("x ".repeat(512) + "x"), `{1025+}\r\n${"x ".repeat(512)}x`)
    assert.strictEqual(user("a\rb"), "{3+}\r\na\rb")
  })

  it("8-bit text is a literal unless UTF-8 is enabled", () => {
    assert.strictEqual(user("jöe"), "{4+}\r\njöe")
    assert.strictEqual(user("jöe", utf8), '"jöe"')
    assert.strictEqual(user("😀", utf8), '"😀"')
    // UTF8=ACCEPT advertised but not enabled: still literal.
    assert.strictEqual(user("jöe", context("UTF8=ACCEPT", "LITERAL+")), "{4+}\r\njöe")
    // A server that speaks only IMAP4rev2 takes UTF-8 quoted strings.
    assert.strictEqual(user("jöe", rev2), '"jöe"')
    // utf8: true is ignored when the server offers neither UTF8=ACCEPT nor IMAP4rev2.
    assert.strictEqual(user("jöe", { ...plus, utf8: true }), "{4+}\r\njöe")
  })

  it("mailbox names: modified UTF-7 or UTF-8", () => {
    const select = (mailbox: string, ctx: ImapCommand.EncodeContext) =>
      text(ok(ImapCommand.encode("A1", { _tag: "Select", mailbox }, ctx)))
    assert.strictEqual(select("台北", plus), "A1 SELECT &U,BTFw-\r\n")
    assert.strictEqual(select("台北", utf8), 'A1 SELECT "台北"\r\n')
    assert.strictEqual(select("R&D", plus), "A1 SELECT R&-D\r\n")
    assert.strictEqual(select("R&D", utf8), "A1 SELECT R&D\r\n")
  })
})

describe("ImapCommand validation", () => {
  it("NUL anywhere is refused", () => {
    fails(ImapCommand.login("a\0b", secret("p")), "user")
    fails(ImapCommand.login("a", secret("p\0")), "password")
    fails({ _tag: "Select", mailbox: "in\0box" }, "mailbox")
    fails({ _tag: "Search", uid: false, criteria: SearchCriteria.text("Subject", "\0") }, "search string")
    fails({ _tag: "Id", params: { name: "a\0" } }, "id value")
  })

  it("CR/LF where no literal may stand", () => {
    fails({ _tag: "Search", uid: false, criteria: SearchCriteria.header("X-A\r\nB", "v") }, "header field")
    fails({
      _tag: "Fetch",
      uid: false,
      set: set([1]),
      items: [{ _tag: "BodySection", specifier: { headerFields: ["From\r\n"] } }]
    }, "header field")
    fails({ _tag: "Enable", capabilities: ["IDLE\r\nA2 LOGOUT"] }, "capability")
    fails({ _tag: "Authenticate", mechanism: "PLAIN\r\n" }, "mechanism")
  })

  it("invalid tags", () => {
    for (const tag of ["", "A+1", "A 1", "A(1", "A\r\n", "A*", "A%", 'A"', "Ä1"]) {
      fails(ImapCommand.noop, "tag", plus, tag)
    }
    assert.isTrue(ImapCommand.isValidTag("a.1-]"))
  })

  it("flags", () => {
    const store = (flags: ReadonlyArray<string>): ImapCommand.ImapCommand => ({
      _tag: "Store",
      uid: false,
      set: set([1]),
      op: "+",
      silent: false,
      flags
    })
    for (const flag of ["", "\\", "a b", "\\*", "\\Recent", "(x", "x\r\n"]) fails(store([flag]), "flag")
  })

  it("sequence sets", () => {
    const fetch = (s: SequenceSet.SequenceSet): ImapCommand.ImapCommand => ({ _tag: "Fetch", uid: false, set: s, items: ["UID"] })
    fails(fetch(set([0])), "set")
    fails(fetch(set([])), "set")
    fails(fetch(SequenceSet.range(1, 2 ** 32)), "set")
    fails(fetch(set([1.5])), "set")
    fails({ _tag: "UidExpunge", set: set([0]) }, "uid set")
  })

  it("other arguments", () => {
    fails({ _tag: "Fetch", uid: false, set: set([1]), items: [] }, "fetch items")
    fails({ _tag: "Fetch", uid: false, set: set([1]), items: [{ _tag: "BodySection", part: [0] }] }, "section part")
    fails({ _tag: "Fetch", uid: false, set: set([1]), items: [{ _tag: "BodySection", specifier: "MIME" }] }, "section")
    fails({ _tag: "Fetch", uid: false, set: set([1]), items: [{ _tag: "BodySection", partial: { offset: 0, length: 0 } }] },
      "partial length")
    fails({ _tag: "Fetch", uid: false, set: set([1]), items: ["UID"], changedSince: 1, vanished: true }, "vanished")
    fails({ _tag: "Fetch", uid: true, set: set([1]), items: ["UID"], changedSince: 2n ** 63n }, "changedsince")
    fails({ _tag: "Fetch", uid: false, set: set([1]), items: ["UID", "BODY[]" as ImapCommand.FetchAttribute] }, "fetch item")
    fails({ _tag: "Search", uid: false, criteria: SearchCriteria.and() }, "search criteria")
  })
})

// --- properties ---------------------------------------------------------------------------------

const anyText = fc.string({ unit: "binary", maxLength: 40 })
const riskyText = fc.oneof(
  anyText,
  fc.array(fc.constantFrom("a", " ", "\r", "\n", "\0", '"', "\\", "{", "}", "+", "~", "é", "😀", "NIL", "*", "%", "(", ")"), {
    maxLength: 12
  }).map((a) => a.join("")),
  fc.string({ minLength: 1020, maxLength: 1030, unit: fc.constantFrom("x", "\n") })
)
const contexts = fc.constantFrom<ImapCommand.EncodeContext>(sync, plus, minus, utf8, rev2)

describe("ImapCommand properties", () => {
  it("astring arguments read back as what was given", () => {
    fc.assert(
      fc.property(anyText, anyText, contexts, (user, password, ctx) => {
        fc.pre(!user.includes("\0") && !password.includes("\0"))
        const values = readEncoded(ok(ImapCommand.encode("A1", ImapCommand.login(user, secret(password)), ctx)))
        assert.deepStrictEqual(values.map(stringOf), ["A1", "LOGIN", user, password])
      }),
      { numRuns: 300 }
    )
  })

  it("string-only arguments (ID) read back as quoted or literal, never atoms", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 30 }), contexts, (value, ctx) => {
        fc.pre(!value.includes("\0"))
        const values = readEncoded(ok(ImapCommand.encode("A1", { _tag: "Id", params: { name: value } }, ctx)))
        const list = values[2]!
        assert.strictEqual(list.kind, "list")
        if (list.kind !== "list") return
        assert.notStrictEqual(list.items[1]!.kind, "atom")
        assert.strictEqual(stringOf(list.items[1]), value)
      }),
      { numRuns: 200 }
    )
  })

  it("CR, LF and NUL never appear outside a literal; NUL is always refused", () => {
    fc.assert(
      fc.property(riskyText, riskyText, contexts, (a, b, ctx) => {
        // Each command with the strings it carries.
        const commands: ReadonlyArray<readonly [ImapCommand.ImapCommand, string]> = [
          [ImapCommand.login(a, secret(b)), a + b],
          [{ _tag: "Select", mailbox: a }, a],
          [{ _tag: "Rename", from: a, to: b }, a + b],
          [{ _tag: "List", reference: a, patterns: [b, a] }, a + b],
          [{
            _tag: "Search",
            uid: true,
            criteria: SearchCriteria.and(SearchCriteria.text("Subject", a), SearchCriteria.header(b, a))
          }, a + b],
          [{ _tag: "Enable", capabilities: [a] }, a],
          [{ _tag: "Store", uid: false, set: set([1]), op: "+", silent: false, flags: [a] }, a],
          [{ _tag: "Id", params: { [b]: a } }, a + b],
          [{ _tag: "Authenticate", mechanism: a }, a],
          [{ _tag: "Append", mailbox: a, message: { size: b.length } }, a]
        ]
        for (const [command, strings] of commands) {
          const result = ImapCommand.encode("A1", command, ctx)
          if (result._tag === "Failure") continue
          assert.isFalse(strings.includes("\0"), "NUL accepted")
          // read() throws on a CR or LF outside a literal and checks every literal's length.
          readEncoded(result.success)
        }
      }),
      { numRuns: 200 }
    )
  })

  it("redacted never contains the password or SASL response", () => {
    const password = fc.string({ unit: "binary", minLength: 6, maxLength: 40 }).filter((p) => !p.includes("\0"))
    fc.assert(
      fc.property(fc.string({ maxLength: 10 }), password, contexts, (user, pw, ctx) => {
        fc.pre(!user.includes("\0"))
        const login = ok(ImapCommand.encode("A1", ImapCommand.login(user, secret(pw)), ctx))
        assert.isTrue(login.redacted.endsWith(" ***"))
        assert.isFalse(login.redacted.includes(pw))
        // Everything before the secret is the wire text before the password.
        const prefix = login.redacted.slice(0, -3)
        assert.isTrue(text(login).startsWith(prefix))
        const ir = new TextEncoder().encode(pw)
        const sasl = ok(ImapCommand.encode(
          "A2",
          { _tag: "Authenticate", mechanism: "PLAIN", initialResponse: Redacted.make(ir) },
          { capabilities: ImapCapabilities.make(["IMAP4rev2"]) }
        ))
        assert.strictEqual(sasl.redacted, "A2 AUTHENTICATE PLAIN ***")
        const cont = ok(ImapCommand.encode("", { _tag: "AuthenticateContinue", response: Redacted.make(ir) }, ctx))
        assert.strictEqual(cont.redacted, "***")
      }),
      { numRuns: 200 }
    )
  })
})
