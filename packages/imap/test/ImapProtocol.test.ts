import { assert, describe, it } from "@effect/vitest"
import type * as ImapResponse from "../src/ImapResponse.ts"
import * as ImapProtocol from "../src/ImapProtocol.ts"
import * as Result from "effect/Result"
import { byteAtATime, bytes, canon, concat, fails, latin1, ok, one, run, whole } from "./fixtures/harness.ts"
import { lit } from "./fixtures/transcripts.ts"

const eq = (actual: unknown, expected: unknown): void => assert.deepStrictEqual(canon(actual), canon(expected))

const fetchOf = (input: string, options?: ImapProtocol.ParserOptions): ImapResponse.FetchAttributes => {
  const f = one(input, options)
  if (f._tag !== "Fetch") throw new Error(`expected Fetch, got ${f._tag}`)
  return f.attributes
}

const malformed = (input: string, grammar: string): void => {
  const e = fails(input)
  assert.strictEqual(e._tag, "MalformedInput")
  if (e._tag === "MalformedInput") assert.strictEqual(e.grammar, grammar, e.message)
}

const limited = (input: Uint8Array | string, options: ImapProtocol.ParserOptions, limit: string): void => {
  const e = fails(input, options)
  assert.strictEqual(e._tag, "LimitExceeded", e.message)
  if (e._tag === "LimitExceeded") assert.strictEqual(e.limit, limit)
}

const addr = (name: string | null, mailbox: string, host: string): ImapResponse.Address => ({
  _tag: "Address",
  name,
  adl: null,
  mailbox,
  host
})

describe("continuation requests", () => {
  it("keeps the text and recognises base64 data", () => {
    eq(one("+ Ready for additional command text\r\n"), {
      _tag: "Continuation",
      text: "Ready for additional command text"
    })
    eq(one("+ dGVzdA==\r\n"), { _tag: "Continuation", text: "dGVzdA==", data: "dGVzdA==" })
    eq(one("+ \r\n"), { _tag: "Continuation", text: "", data: "" })
    eq(one("+\r\n"), { _tag: "Continuation", text: "", data: "" })
  })
  it("reads a response code", () => {
    eq(one("+ [ALERT] go on\r\n"), { _tag: "Continuation", code: { _tag: "ALERT" }, text: "go on" })
  })
})

describe("status responses", () => {
  it("tagged OK/NO/BAD, tag as sent", () => {
    eq(one("A1 OK done\r\n"), { _tag: "Tagged", tag: "A1", status: "OK", text: "done" })
    eq(one("x.y-9 no [TRYCREATE] No such mailbox\r\n"), {
      _tag: "Tagged",
      tag: "x.y-9",
      status: "NO",
      code: { _tag: "TRYCREATE" },
      text: "No such mailbox"
    })
    eq(one("a BAD\r\n"), { _tag: "Tagged", tag: "a", status: "BAD", text: "" })
    eq(one("a1 OK [READ-ONLY]\r\n"), { _tag: "Tagged", tag: "a1", status: "OK", code: { _tag: "READ-ONLY" }, text: "" })
  })
  it("untagged OK/NO/BAD/BYE/PREAUTH", () => {
    for (const status of ["OK", "NO", "BAD", "BYE", "PREAUTH"] as const) {
      eq(one(`* ${status} hello there\r\n`), { _tag: "Condition", status, text: "hello there" })
    }
    eq(one("* bye\r\n"), { _tag: "Condition", status: "BYE", text: "" })
  })
  it("decodes UTF-8 text", () => {
    eq(one("* OK Grüße\r\n"), { _tag: "Condition", status: "OK", text: "Grüße" })
  })
  it("rejects a tagged status other than OK/NO/BAD", () => {
    malformed("a1 BYE now\r\n", "response-tagged")
    malformed("a1 PREAUTH now\r\n", "response-tagged")
  })
})

describe("response codes", () => {
  const code = (c: string): ImapResponse.ResponseCode | undefined => {
    const f = one(`a OK [${c}] text\r\n`)
    if (f._tag !== "Tagged") throw new Error(f._tag)
    assert.strictEqual(f.text, "text")
    return f.code
  }
  const simple: ReadonlyArray<ImapResponse.SimpleCodeName> = [
    "ALERT",
    "PARSE",
    "READ-ONLY",
    "READ-WRITE",
    "TRYCREATE",
    "NOMODSEQ",
    "CLOSED",
    "UIDNOTSTICKY",
    "UNKNOWN-CTE",
    "HASCHILDREN",
    "NOTSAVED",
    "UNAVAILABLE",
    "AUTHENTICATIONFAILED",
    "AUTHORIZATIONFAILED",
    "EXPIRED",
    "PRIVACYREQUIRED",
    "CONTACTADMIN",
    "NOPERM",
    "INUSE",
    "EXPUNGEISSUED",
    "CORRUPTION",
    "SERVERBUG",
    "CLIENTBUG",
    "CANNOT",
    "LIMIT",
    "OVERQUOTA",
    "ALREADYEXISTS",
    "NONEXISTENT"
  ]
  it("codes without data", () => {
    for (const name of simple) {
      eq(code(name), { _tag: name })
      eq(code(name.toLowerCase()), { _tag: name })
    }
  })
  it("codes with data", () => {
    eq(code("BADCHARSET"), { _tag: "BADCHARSET", charsets: [] })
    eq(code('BADCHARSET (UTF-8 "US-ASCII")'), { _tag: "BADCHARSET", charsets: ["UTF-8", "US-ASCII"] })
    eq(code("CAPABILITY IMAP4rev2 AUTH=PLAIN"), { _tag: "CAPABILITY", capabilities: ["IMAP4rev2", "AUTH=PLAIN"] })
    eq(code("PERMANENTFLAGS (\\Deleted \\Seen \\*)"), { _tag: "PERMANENTFLAGS", flags: ["\\Deleted", "\\Seen", "\\*"] })
    eq(code("PERMANENTFLAGS ()"), { _tag: "PERMANENTFLAGS", flags: [] })
    eq(code("UIDNEXT 4392"), { _tag: "UIDNEXT", value: 4392 })
    eq(code("UIDVALIDITY 3857529045"), { _tag: "UIDVALIDITY", value: 3857529045 })
    eq(code("UNSEEN 17"), { _tag: "UNSEEN", value: 17 })
    eq(code("APPENDUID 38505 3955"), { _tag: "APPENDUID", uidValidity: 38505, uids: "3955" })
    eq(code("APPENDUID 38505 3955:3957"), { _tag: "APPENDUID", uidValidity: 38505, uids: "3955:3957" })
    eq(code("COPYUID 38505 304,319:320 3956:3958"), {
      _tag: "COPYUID",
      uidValidity: 38505,
      source: "304,319:320",
      dest: "3956:3958"
    })
    eq(code("HIGHESTMODSEQ 9223372036854775807"), { _tag: "HIGHESTMODSEQ", modseq: 9223372036854775807n })
    eq(code("MODIFIED 7,9"), { _tag: "MODIFIED", set: "7,9" })
    eq(code("REFERRAL imap://user;AUTH=*@server2/"), { _tag: "REFERRAL", url: "imap://user;AUTH=*@server2/" })
  })
  it("unknown codes keep name and raw text", () => {
    eq(code("X-SOMETHING some (raw) data"), { _tag: "Unknown", name: "X-SOMETHING", raw: "some (raw) data" })
    eq(code("MAILBOXID (F2212ea87-6097-4256-9d51-71338625)"), {
      _tag: "Unknown",
      name: "MAILBOXID",
      raw: "(F2212ea87-6097-4256-9d51-71338625)"
    })
    eq(code("NOTIFICATIONOVERFLOW"), { _tag: "Unknown", name: "NOTIFICATIONOVERFLOW", raw: "" })
  })
  it("a missing SP after the code is accepted", () => {
    eq(one("* OK [ALERT]System going down\r\n"), {
      _tag: "Condition",
      status: "OK",
      code: { _tag: "ALERT" },
      text: "System going down"
    })
  })
  it("malformed codes name resp-text-code", () => {
    malformed("a OK [UIDNEXT\r\n", "resp-text-code")
    malformed("a OK [UIDNEXT x] t\r\n", "nz-number")
    malformed("a OK [COPYUID 1 2] t\r\n", "resp-code-copy")
    malformed("a OK [ALERT text\r\n", "resp-text-code")
    malformed("a OK [] t\r\n", "resp-text-code")
  })
})

describe("server and mailbox data", () => {
  it("CAPABILITY and ENABLED", () => {
    eq(one("* CAPABILITY IMAP4rev2 STARTTLS AUTH=GSSAPI LOGINDISABLED\r\n"), {
      _tag: "Capability",
      capabilities: ["IMAP4rev2", "STARTTLS", "AUTH=GSSAPI", "LOGINDISABLED"]
    })
    eq(one("* CAPABILITY IMAP4rev1 \r\n"), { _tag: "Capability", capabilities: ["IMAP4rev1"] })
    eq(one("* ENABLED CONDSTORE QRESYNC\r\n"), { _tag: "Enabled", capabilities: ["CONDSTORE", "QRESYNC"] })
    eq(one("* ENABLED\r\n"), { _tag: "Enabled", capabilities: [] })
  })
  it("FLAGS", () => {
    eq(one("* FLAGS (\\Answered \\Flagged $Forwarded)\r\n"), {
      _tag: "Flags",
      flags: ["\\Answered", "\\Flagged", "$Forwarded"]
    })
    eq(one("* FLAGS ()\r\n"), { _tag: "Flags", flags: [] })
  })
  it("LIST and LSUB", () => {
    eq(one('* LIST (\\HasNoChildren) "." INBOX.Sent\r\n'), {
      _tag: "List",
      attributes: ["\\HasNoChildren"],
      delimiter: ".",
      mailbox: "INBOX.Sent"
    })
    eq(one('* LIST (\\Noselect) NIL ""\r\n'), { _tag: "List", attributes: ["\\Noselect"], delimiter: null, mailbox: "" })
    eq(one('* LSUB () "\\\\" "a\\"b"\r\n'), { _tag: "Lsub", attributes: [], delimiter: "\\", mailbox: 'a"b' })
    eq(one(`* LIST () "/" ${lit("Entwürfe")}\r\n`), { _tag: "List", attributes: [], delimiter: "/", mailbox: "Entwürfe" })
    eq(one('* LIST () "/" "&AMQ-hnliches"\r\n'), { _tag: "List", attributes: [], delimiter: "/", mailbox: "&AMQ-hnliches" })
  })
  it("LIST-EXTENDED data", () => {
    eq(one('* LIST () "/" "Fruit" ("CHILDINFO" ("SUBSCRIBED" "X"))\r\n'), {
      _tag: "List",
      attributes: [],
      delimiter: "/",
      mailbox: "Fruit",
      childInfo: ["SUBSCRIBED", "X"]
    })
    eq(one('* LIST () "/" "NewMailbox" ("OLDNAME" ("OldMailbox"))\r\n'), {
      _tag: "List",
      attributes: [],
      delimiter: "/",
      mailbox: "NewMailbox",
      oldName: "OldMailbox"
    })
    eq(one('* LIST () "/" "M" ("X-FOO" (1 (2 "three")) "X-BAR" NIL)\r\n'), {
      _tag: "List",
      attributes: [],
      delimiter: "/",
      mailbox: "M",
      extensions: [
        { name: "X-FOO", value: ["1", ["2", "three"]] },
        { name: "X-BAR", value: null }
      ]
    })
  })
  it("STATUS with every modelled item", () => {
    eq(
      one(
        "* STATUS INBOX (MESSAGES 231 RECENT 1 UIDNEXT 44292 UIDVALIDITY 3857529045 UNSEEN 5 DELETED 2 SIZE 123456789 HIGHESTMODSEQ 715194045007 APPENDLIMIT NIL MAILBOXID (F2212ea87) X-NEW 7)\r\n"
      ),
      {
        _tag: "Status",
        mailbox: "INBOX",
        attributes: {
          messages: 231,
          recent: 1,
          uidNext: 44292,
          uidValidity: 3857529045,
          unseen: 5,
          deleted: 2,
          size: 123456789,
          highestModSeq: 715194045007n,
          appendLimit: null,
          mailboxId: "F2212ea87",
          unknown: [{ name: "X-NEW", value: "7" }]
        }
      }
    )
    eq(one('* STATUS "a b" ()\r\n'), { _tag: "Status", mailbox: "a b", attributes: {} })
    eq(one("* STATUS x (APPENDLIMIT 1000)\r\n"), { _tag: "Status", mailbox: "x", attributes: { appendLimit: 1000 } })
  })
  it("SEARCH and SORT", () => {
    eq(one("* SEARCH 2 84 882\r\n"), { _tag: "Search", numbers: [2, 84, 882] })
    eq(one("* SEARCH\r\n"), { _tag: "Search", numbers: [] })
    eq(one("* SEARCH 2 5 (MODSEQ 917162500)\r\n"), { _tag: "Search", numbers: [2, 5], modseq: 917162500n })
    eq(one("* SORT 5 3 4\r\n"), { _tag: "Sort", numbers: [5, 3, 4] })
  })
  it("a SEARCH line far longer than 64 KiB is fine by default", () => {
    const numbers = Array.from({ length: 40_000 }, (_, i) => i + 1)
    const f = one(`* SEARCH ${numbers.join(" ")}\r\n`)
    assert.strictEqual(f._tag === "Search" ? f.numbers.length : -1, 40_000)
  })
  it("ESEARCH", () => {
    eq(one('* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n'), { _tag: "ESearch", uid: false, tag: "A282", min: 2, count: 3 })
    eq(one('* ESEARCH (TAG "A285") UID MIN 7 MAX 3800\r\n'), {
      _tag: "ESearch",
      uid: true,
      tag: "A285",
      min: 7,
      max: 3800
    })
    eq(one("* ESEARCH UID ALL 2,10:11 MODSEQ 917162500 PARTIAL (1:10 1,3)\r\n"), {
      _tag: "ESearch",
      uid: true,
      all: "2,10:11",
      modseq: 917162500n,
      unknown: [{ name: "PARTIAL", value: ["1:10", "1,3"] }]
    })
    eq(one("* ESEARCH\r\n"), { _tag: "ESearch", uid: false })
  })
  it("EXISTS, RECENT, EXPUNGE, VANISHED", () => {
    eq(one("* 23 EXISTS\r\n"), { _tag: "Exists", count: 23 })
    eq(one("* 0 exists\r\n"), { _tag: "Exists", count: 0 })
    eq(one("* 3 RECENT\r\n"), { _tag: "Recent", count: 3 })
    eq(one("* 22 EXPUNGE\r\n"), { _tag: "Expunge", seq: 22 })
    eq(one("* VANISHED (EARLIER) 41,43:116\r\n"), { _tag: "Vanished", earlier: true, uids: "41,43:116" })
    eq(one("* VANISHED 405,407\r\n"), { _tag: "Vanished", earlier: false, uids: "405,407" })
  })
  it("NAMESPACE", () => {
    eq(one('* NAMESPACE (("" "/")) NIL NIL\r\n'), {
      _tag: "Namespace",
      personal: [{ prefix: "", delimiter: "/" }],
      other: null,
      shared: null
    })
    eq(one('* NAMESPACE (("" "/" "X-PARAM" ("a" "b"))) (("~" "/")) (("#shared/" "/")("#news." "."))\r\n'), {
      _tag: "Namespace",
      personal: [{ prefix: "", delimiter: "/", extensions: [{ name: "X-PARAM", values: ["a", "b"] }] }],
      other: [{ prefix: "~", delimiter: "/" }],
      shared: [
        { prefix: "#shared/", delimiter: "/" },
        { prefix: "#news.", delimiter: "." }
      ]
    })
  })
  it("ID", () => {
    eq(one('* ID ("name" "Dovecot" "version" NIL)\r\n'), { _tag: "Id", params: { name: "Dovecot", version: null } })
    eq(one("* ID NIL\r\n"), { _tag: "Id", params: null })
  })
  it("ID keys cannot reach Object.prototype", () => {
    const f = one('* ID ("__proto__" "x" "constructor" "y")\r\n')
    if (f._tag !== "Id" || f.params === null) throw new Error("expected params")
    assert.strictEqual(Object.getPrototypeOf(f.params), null)
    assert.strictEqual(f.params["__proto__"], "x")
    assert.strictEqual(({} as Record<string, unknown>)["x"], undefined)
  })
  it("unknown untagged responses are kept raw with their literals", () => {
    eq(one('* QUOTA "" (STORAGE 10 512)\r\n'), {
      _tag: "Unknown",
      name: "QUOTA",
      raw: '"" (STORAGE 10 512)',
      literals: []
    })
    eq(one("* METADATA INBOX (/private/comment {3}\r\nabc)\r\n"), {
      _tag: "Unknown",
      name: "METADATA",
      raw: "INBOX (/private/comment {3}\r\n)",
      literals: [bytes("abc")]
    })
    eq(one("* 5 XFOO bar\r\n"), { _tag: "Unknown", name: "XFOO", number: 5, raw: "bar", literals: [] })
    eq(one("* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"), {
      _tag: "Unknown",
      name: "THREAD",
      raw: "(2)(3 6 (4 23)(44 7 96))",
      literals: []
    })
  })
})

describe("FETCH", () => {
  it("UID, FLAGS, INTERNALDATE, RFC822.SIZE", () => {
    eq(fetchOf('* 12 FETCH (UID 100 FLAGS (\\Seen $Label1) INTERNALDATE "17-Jul-1996 02:44:25 -0700" RFC822.SIZE 4286)\r\n'), {
      uid: 100,
      flags: ["\\Seen", "$Label1"],
      internalDate: "17-Jul-1996 02:44:25 -0700",
      internalDateMillis: Date.UTC(1996, 6, 17, 9, 44, 25),
      rfc822Size: 4286
    })
  })
  it("INTERNALDATE: space-padded day, bad dates keep only the string", () => {
    eq(fetchOf('* 1 FETCH (INTERNALDATE " 1-Jan-2020 00:00:00 +0100")\r\n'), {
      internalDate: " 1-Jan-2020 00:00:00 +0100",
      internalDateMillis: Date.UTC(2019, 11, 31, 23, 0, 0)
    })
    eq(fetchOf('* 1 FETCH (INTERNALDATE "1-jan-2020 00:00:00 +0000")\r\n'), {
      internalDate: "1-jan-2020 00:00:00 +0000",
      internalDateMillis: Date.UTC(2020, 0, 1)
    })
    eq(fetchOf('* 1 FETCH (INTERNALDATE "yesterday")\r\n'), { internalDate: "yesterday" })
    eq(fetchOf('* 1 FETCH (INTERNALDATE "31-Foo-2020 00:00:00 +0000")\r\n'), { internalDate: "31-Foo-2020 00:00:00 +0000" })
    eq(fetchOf("* 1 FETCH (INTERNALDATE NIL)\r\n"), {})
  })
  it("ENVELOPE with addresses, NIL lists and a decoded subject", () => {
    const a = fetchOf(
      '* 1 FETCH (ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "=?ISO-8859-1?Q?Gr=FC=DFe?= =?UTF-8?B?w6A=?= x" (("=?utf-8?q?J=C3=BCrgen?=" NIL "j" "example.com")) NIL (("A" "@relay:" "a" "h")) ((NIL NIL "imap" "cac.washington.edu")) ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL "<a@b>" "<B27397-0100000@cac.washington.edu>"))\r\n'
    )
    eq(a.envelope, {
      date: "Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
      subject: "Grüßeà x",
      subjectRaw: "=?ISO-8859-1?Q?Gr=FC=DFe?= =?UTF-8?B?w6A=?= x",
      from: [addr("Jürgen", "j", "example.com")],
      sender: [],
      replyTo: [{ _tag: "Address", name: "A", adl: "@relay:", mailbox: "a", host: "h" }],
      to: [addr(null, "imap", "cac.washington.edu")],
      cc: [addr(null, "minutes", "CNRI.Reston.VA.US"), addr("John Klensin", "KLENSIN", "MIT.EDU")],
      bcc: [],
      inReplyTo: "<a@b>",
      messageId: "<B27397-0100000@cac.washington.edu>"
    })
  })
  it("ENVELOPE groups (RFC 3501 §7.4.2 markers)", () => {
    const a = fetchOf(
      '* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL ((NIL NIL "team" NIL)("Ann" NIL "ann" "x.org")("Bob" NIL "bob" "x.org")(NIL NIL NIL NIL)("Cy" NIL "cy" "y.org")) NIL NIL NIL NIL))\r\n'
    )
    eq(a.envelope?.from, [{ _tag: "Group", name: "undisclosed-recipients", members: [] }])
    eq(a.envelope?.to, [
      { _tag: "Group", name: "team", members: [addr("Ann", "ann", "x.org"), addr("Bob", "bob", "x.org")] },
      addr("Cy", "cy", "y.org")
    ])
  })
  it("RFC 2047: adjacent words joined, unknown charsets and plain text kept", () => {
    const subject = (raw: string): string | null | undefined =>
      fetchOf(`* 1 FETCH (ENVELOPE (NIL "${raw}" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n`).envelope?.subject
    assert.strictEqual(subject("=?UTF-8?B?4pg=?= =?UTF-8?B?lQ==?="), "☕") // one character split across two words
    assert.strictEqual(subject("=?windows-1251?B?z/Do4uXy?="), "Привет")
    assert.strictEqual(subject("=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?="), "Привет")
    assert.strictEqual(subject("=?iso-8859-2?Q?=B1?="), "ą")
    assert.strictEqual(subject("=?UTF-8*en?Q?hello_world?="), "hello world")
    assert.strictEqual(subject("=?x-unknown?Q?abc?= tail"), "=?x-unknown?Q?abc?= tail")
    assert.strictEqual(subject("a =?UTF-8?Q?b?= c"), "a b c")
    assert.strictEqual(subject("no words =? here"), "no words =? here")
  })
  it("BODY (non-extensible) and a text part", () => {
    eq(fetchOf('* 12 FETCH (BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92))\r\n').bodyStructure, {
      _tag: "SinglePart",
      type: "text",
      subtype: "plain",
      params: { charset: "US-ASCII" },
      id: null,
      description: null,
      encoding: "7BIT",
      size: 3028,
      lines: 92
    })
  })
  it("multipart BODYSTRUCTURE with extension data", () => {
    const bs = fetchOf(
      '* 3 FETCH (BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" 120 4 NIL NIL NIL NIL)("image" "png" ("name" "a.png") "<id@x>" "pic" "base64" 3000 "md5sum" ("attachment" ("filename" "a.png")) ("en" "de") "http://x/a.png" 1 (2 "y")) "mixed" ("boundary" "b1") ("inline" NIL) "en" NIL))\r\n'
    ).bodyStructure
    eq(bs, {
      _tag: "Multipart",
      parts: [
        {
          _tag: "SinglePart",
          type: "text",
          subtype: "plain",
          params: { charset: "utf-8" },
          id: null,
          description: null,
          encoding: "quoted-printable",
          size: 120,
          lines: 4,
          md5: null,
          disposition: null,
          language: null,
          location: null
        },
        {
          _tag: "SinglePart",
          type: "image",
          subtype: "png",
          params: { name: "a.png" },
          id: "<id@x>",
          description: "pic",
          encoding: "base64",
          size: 3000,
          md5: "md5sum",
          disposition: { type: "attachment", params: { filename: "a.png" } },
          language: ["en", "de"],
          location: "http://x/a.png",
          extensions: ["1", ["2", "y"]]
        }
      ],
      subtype: "mixed",
      params: { boundary: "b1" },
      disposition: { type: "inline", params: {} },
      language: ["en"],
      location: null
    })
  })
  it("message/rfc822 parts nest an envelope and a body", () => {
    const bs = fetchOf(
      '* 1 FETCH (BODYSTRUCTURE (("TEXT" "PLAIN" NIL NIL NIL "7BIT" 10 1)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 500 (NIL "inner" NIL NIL NIL NIL NIL NIL NIL NIL) (("TEXT" "PLAIN" NIL NIL NIL "8BIT" 5 1)("TEXT" "HTML" NIL NIL NIL "8BIT" 7 1) "ALTERNATIVE") 20) "MIXED"))\r\n'
    ).bodyStructure
    if (bs?._tag !== "Multipart") throw new Error("expected multipart")
    const msg = bs.parts[1]
    if (msg?._tag !== "SinglePart") throw new Error("expected single part")
    assert.strictEqual(msg.type, "message")
    assert.strictEqual(msg.lines, 20)
    assert.strictEqual(msg.envelope?.subject, "inner")
    assert.strictEqual(msg.body?._tag, "Multipart")
    if (msg.body?._tag === "Multipart") {
      assert.deepStrictEqual(msg.body.parts.map((p) => (p._tag === "SinglePart" ? p.subtype : "")), ["plain", "html"])
      assert.strictEqual(msg.body.subtype, "alternative")
    }
  })
  it("BODYSTRUCTURE leniencies: -1 octets, NIL strings, () params, bare disposition, trailing space", () => {
    eq(fetchOf('* 1 FETCH (BODYSTRUCTURE ("APPLICATION" NIL () NIL NIL NIL -1 NIL "attachment" ) )\r\n').bodyStructure, {
      _tag: "SinglePart",
      type: "application",
      subtype: "",
      params: {},
      id: null,
      description: null,
      encoding: "",
      size: -1,
      md5: null,
      disposition: { type: "attachment", params: {} }
    })
    eq(fetchOf('* 1 FETCH (BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 0))\r\n').bodyStructure, {
      _tag: "SinglePart",
      type: "text",
      subtype: "plain",
      params: {},
      id: null,
      description: null,
      encoding: "7bit",
      size: 0
    })
  })
  it("body params are a prototype-free record with lowercased names", () => {
    const bs = fetchOf('* 1 FETCH (BODYSTRUCTURE ("text" "plain" ("__proto__" "x" "NAME" "n") NIL NIL "7bit" 1 1))\r\n').bodyStructure
    if (bs?._tag !== "SinglePart") throw new Error("expected single part")
    assert.strictEqual(Object.getPrototypeOf(bs.params), null)
    assert.strictEqual(bs.params["__proto__"], "x")
    assert.strictEqual(bs.params["name"], "n")
  })
  it("body sections: sections as sent, origin, NIL, quoted, literal, empty literal", () => {
    const a = fetchOf(
      '* 2 FETCH (BODY[] {5}\r\nhello BODY[HEADER.FIELDS (SUBJECT "X]Y")] "Subject: hi\\"" BODY[1.2.TEXT]<10> NIL BODY[1.MIME] {0}\r\n BODY[TEXT]<0> {3}\r\nabc)\r\n'
    )
    eq(a.bodySections, [
      { section: "", bytes: bytes("hello") },
      { section: 'HEADER.FIELDS (SUBJECT "X]Y")', bytes: bytes('Subject: hi"') },
      { section: "1.2.TEXT", origin: 10, bytes: null },
      { section: "1.MIME", bytes: new Uint8Array(0) },
      { section: "TEXT", origin: 0, bytes: bytes("abc") }
    ])
  })
  it("BINARY, BINARY.SIZE (literal8)", () => {
    const a = fetchOf("* 2 FETCH (BINARY[1] ~{3}\r\n\x00\x01\x02 BINARY[2]<5> NIL BINARY.SIZE[1] 3)\r\n")
    eq(a.binarySections, [
      { section: "1", bytes: new Uint8Array([0, 1, 2]) },
      { section: "2", origin: 5, bytes: null }
    ])
    eq(a.binarySizes, [{ section: "1", size: 3 }])
  })
  it("MODSEQ, EMAILID, THREADID, RFC822*, PREVIEW, SAVEDATE", () => {
    eq(
      fetchOf(
        '* 1 FETCH (MODSEQ (624140003) EMAILID (M6d99ac3275bb4e) THREADID (T64b478a75b7ea9) RFC822 {2}\r\nab RFC822.HEADER "h" RFC822.TEXT NIL PREVIEW "Hello" SAVEDATE NIL)\r\n'
      ),
      {
        modseq: 624140003n,
        emailId: "M6d99ac3275bb4e",
        threadId: "T64b478a75b7ea9",
        rfc822: bytes("ab"),
        rfc822Header: bytes("h"),
        rfc822Text: null,
        preview: "Hello",
        saveDate: null
      }
    )
    eq(fetchOf("* 1 FETCH (THREADID NIL)\r\n"), { threadId: null })
  })
  it("unknown attributes are kept as generic values", () => {
    eq(
      fetchOf('* 1 FETCH (X-GM-MSGID 1278455344230334865 X-GM-LABELS (\\Inbox "Muy Importante") X-FOO[1]<2> {2}\r\nhi UID 1)\r\n'),
      {
        unknown: [
          { name: "X-GM-MSGID", value: "1278455344230334865" },
          { name: "X-GM-LABELS", value: ["\\Inbox", "Muy Importante"] },
          { name: "X-FOO[1]<2>", value: bytes("hi") }
        ],
        uid: 1
      }
    )
  })
  it("lowercase attribute names, trailing SP before ')', empty list", () => {
    eq(fetchOf("* 4 fetch (uid 9 flags (\\Seen ) )\r\n"), { uid: 9, flags: ["\\Seen"] })
    eq(fetchOf("* 4 FETCH ()\r\n"), {})
  })
  it("attributes and body parts have one fixed shape (absent fields are undefined keys)", () => {
    const f1 = fetchOf("* 1 FETCH (UID 1)\r\n")
    const f2 = fetchOf('* 2 FETCH (FLAGS () BODY[] "x" MODSEQ (5))\r\n')
    assert.deepStrictEqual(Object.keys(f1), Object.keys(f2))
    assert.isTrue("envelope" in f1)
    assert.strictEqual(f1.envelope, undefined)
    const b1 = fetchOf('* 1 FETCH (BODY ("text" "plain" NIL NIL NIL "7bit" 1 1))\r\n').bodyStructure
    const b2 = fetchOf('* 1 FETCH (BODYSTRUCTURE ("image" "png" NIL NIL NIL "base64" 1 NIL NIL NIL NIL))\r\n').bodyStructure
    assert.deepStrictEqual(Object.keys(b1 ?? {}), Object.keys(b2 ?? {}))
  })
  it("Sender/Reply-To equal to From share From's value; different lists do not", () => {
    const same = fetchOf(
      '* 1 FETCH (ENVELOPE (NIL NIL (("A" NIL "a" "x")) (("A" NIL "a" "x")) (("A" NIL "a" "x")) NIL NIL NIL NIL NIL))\r\n'
    ).envelope
    assert.strictEqual(same?.sender, same?.from)
    assert.strictEqual(same?.replyTo, same?.from)
    const other = fetchOf(
      '* 1 FETCH (ENVELOPE (NIL NIL (("A" NIL "a" "x")) (("A" NIL "a" "y")) (("A" NIL "a" "x")("B" NIL "b" "x")) NIL NIL NIL NIL NIL))\r\n'
    ).envelope
    assert.notStrictEqual(other?.sender, other?.from)
    eq(other?.sender, [addr("A", "a", "y")])
    eq(other?.replyTo, [addr("A", "a", "x"), addr("B", "b", "x")])
  })
  it("escaped quoted strings with 8-bit content, 8-bit text", () => {
    const a = fetchOf('* 1 FETCH (ENVELOPE (NIL "Gr\\"\u00fc\\\\\u00dfe" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n')
    assert.strictEqual(a.envelope?.subject, 'Gr"ü\\ße')
    eq(one("a1 NO [ALERT] Kontingent überschritten\r\n"), {
      _tag: "Tagged",
      tag: "a1",
      status: "NO",
      code: { _tag: "ALERT" },
      text: "Kontingent überschritten"
    })
  })
  it("literal forms: {n+} (LITERAL+, lenient) and ~{n} in a BODY[] position", () => {
    eq(fetchOf("* 1 FETCH (BODY[] {3+}\r\nabc BODY[1] ~{2}\r\nxy)\r\n").bodySections, [
      { section: "", bytes: bytes("abc") },
      { section: "1", bytes: bytes("xy") }
    ])
  })
  it("8-bit quoted strings are decoded as UTF-8, literals too", () => {
    const a = fetchOf(`* 1 FETCH (ENVELOPE (NIL "Grüße" (("Jürgen" NIL "j" "x")) NIL NIL NIL NIL NIL NIL NIL) BODY[] "ü")\r\n`)
    assert.strictEqual(a.envelope?.subject, "Grüße")
    eq(a.envelope?.from, [addr("Jürgen", "j", "x")])
    eq(a.bodySections, [{ section: "", bytes: bytes("ü") }])
  })
})

describe("segment text: ASCII, UTF-8 decoded once, latin1 re-decoded per string", () => {
  const cat = (...parts: ReadonlyArray<Uint8Array | string>): Uint8Array =>
    concat(parts.map((p) => (typeof p === "string" ? bytes(p) : p)))
  const fetches = (input: Uint8Array): ReadonlyArray<ImapResponse.FetchAttributes> => {
    const outcomes = [whole(input), run(byteAtATime(input))]
    return outcomes.map((o) => {
      assert.isUndefined(o.error, o.error?.message)
      const f = o.frames[0]
      return f?._tag === "Fetch" ? f.attributes : assert.fail(`expected Fetch, got ${f?._tag}`)
    })
  }
  it("chars above U+00FF in strings and atoms; a literal marker after them is found", () => {
    for (
      const a of fetches(cat(
        '* 1 FETCH (FLAGS (\\Seen $Čtení) ENVELOPE (NIL "Čaj ☕ 𝄞" (("Jiří Čapek" NIL "jiri" "x.cz")) NIL NIL NIL NIL NIL NIL NIL) BODY[] {3}\r\nabc BODY[1] "ł")\r\n'
      ))
    ) {
      eq(a.flags, ["\\Seen", "$Čtení"])
      assert.strictEqual(a.envelope?.subject, "Čaj ☕ 𝄞")
      eq(a.envelope?.from, [addr("Jiří Čapek", "jiri", "x.cz")])
      // quoted body data gives back the bytes sent, from a UTF-8 decoded segment too
      eq(a.bodySections, [{ section: "", bytes: bytes("abc") }, { section: "1", bytes: bytes("ł") }])
    }
    eq(one('* LIST () "/" Čtení/Ú\r\n'), { _tag: "List", attributes: [], delimiter: "/", mailbox: "Čtení/Ú" })
  })
  it("a segment that is not UTF-8: its valid strings decode, an invalid byte becomes U+FFFD, quoted data keeps its bytes", () => {
    for (
      const a of fetches(cat(
        '* 1 FETCH (ENVELOPE (NIL "Grüße" (("',
        latin1("Ren\u00e9"),
        '" NIL "r" "x")) NIL NIL NIL NIL NIL NIL NIL) BODY[1] "',
        latin1("\u00e9\u00ff"),
        '" BODY[] {2}\r\nok)\r\n'
      ))
    ) {
      assert.strictEqual(a.envelope?.subject, "Grüße")
      eq(a.envelope?.from, [addr("Ren\ufffd", "r", "x")])
      eq(a.bodySections, [{ section: "1", bytes: latin1("\u00e9\u00ff") }, { section: "", bytes: bytes("ok") }])
    }
  })
  it("unknown FETCH data keeps its text per segment: UTF-8 as is, latin1 re-decoded", () => {
    for (
      const a of fetches(cat('* 1 FETCH (X-A ("Čaj" {1}\r\nz "', latin1("\u00e9"), '" "ü"))\r\n'))
    ) {
      eq(a.unknown, [{ name: "X-A", value: ["Čaj", bytes("z"), "\ufffd", "ü"] }])
    }
  })
  it("a short last segment: decoded the same, 8-bit or not; an error there names its place", () => {
    for (const a of fetches(bytes('* 1 FETCH (BODY[] {3}\r\nabc FLAGS (ü))\r\n'))) {
      eq(a.flags, ["ü"])
      eq(a.bodySections, [{ section: "", bytes: bytes("abc") }])
    }
    const e = fails("* 1 FETCH (BODY[] {3}\r\nabc)x\r\n")
    assert.strictEqual(e._tag, "MalformedInput")
    if (e._tag === "MalformedInput") {
      assert.strictEqual(e.grammar, "msg-att")
      assert.include(e.detail, "line 2")
      assert.include(e.preview, ")x")
    }
  })
})

describe("malformed input", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["*\r\n", "response-data"],
    ["*  OK\r\n", "response-data"],
    ["* 1 FETCH\r\n", "message-data"],
    ["* 1 FETCH UID 1\r\n", "msg-att"],
    ["* 1 FETCH (UID)\r\n", "msg-att-dynamic"],
    ["* 1 FETCH (UID x)\r\n", "uniqueid"],
    ["* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n", "msg-att"],
    ["* 1 FETCH (UID 1 UID\r\n", "msg-att-dynamic"],
    ["* 1 FETCH (UID 1)x\r\n", "msg-att"],
    ["* 1 FETCH (ENVELOPE (NIL))\r\n", "envelope"],
    ["* 1 FETCH (ENVELOPE (NIL NIL x NIL NIL NIL NIL NIL NIL NIL))\r\n", "env-from"],
    ["* 1 FETCH (ENVELOPE (NIL NIL ((NIL NIL)) NIL NIL NIL NIL NIL NIL NIL))\r\n", "address"],
    ['* 1 FETCH (BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit"))\r\n', "body-fields"],
    ['* 1 FETCH (BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" x))\r\n', "body-fld-octets"],
    ['* 1 FETCH (BODYSTRUCTURE (("text" "plain" NIL NIL NIL "7bit" 1 1)))\r\n', "body-type-mpart"],
    ["* 1 FETCH (BODY[ NIL)\r\n", "section"],
    ["* 1 FETCH (BODY[]<x> NIL)\r\n", "section-partial"],
    ['* 1 FETCH (BODY[] "unterminated)\r\n', "quoted"],
    ["* 1 FETCH (MODSEQ 5)\r\n", "fetch-mod-resp"],
    ["* 1 FETCH (X-FOO (a (b)\r\n", "msg-att"],
    ["* 1 EXISTS extra\r\n", "mailbox-data"],
    ["* FLAGS \\Seen\r\n", "flag-list"],
    ["* LIST () x INBOX\r\n", "mailbox-list"],
    ['* LIST () "/"\r\n', "mailbox-list"],
    ["* STATUS INBOX (MESSAGES x)\r\n", "status-att-val"],
    ["* SEARCH 1 two\r\n", "nz-number"],
    ["* VANISHED (LATER) 1\r\n", "expunged-resp"],
    ["* NAMESPACE ((\"\" \"/\")) NIL\r\n", "namespace-response"],
    ["* ID (\"a\")\r\n", "id-params-list"],
    ["(a) OK\r\n", "tag"],
    ["a1\r\n", "response-tagged"],
    ["\r\n", "tag"],
    ["* OK [ALERT\r\n", "resp-text-code"]
  ]
  it("names the ABNF rule", () => {
    for (const [input, grammar] of cases) malformed(input, grammar)
  })
  it("a literal where text is expected does not crash", () => {
    malformed("* OK hello {3}\r\nabc\r\n", "resp-cond-state")
  })
  it("errors carry an escaped preview of the input", () => {
    const e = fails("* 1 FETCH (UID \x01x)\r\n")
    assert.strictEqual(e._tag, "MalformedInput")
    if (e._tag === "MalformedInput") {
      assert.include(e.preview, "\\x01")
      assert.isAtMost(e.preview.length, 64)
    }
  })
  it("is terminal: every later push returns the same failure", () => {
    const parser = ImapProtocol.makeParser()
    const first = parser.push(bytes("* 1 FETCH x\r\n"))
    assert.isTrue(Result.isFailure(first))
    const second = parser.push(bytes("* 1 EXISTS\r\n"))
    assert.isTrue(Result.isFailure(second))
    if (Result.isFailure(first) && Result.isFailure(second)) assert.strictEqual(second.failure, first.failure)
  })
})

describe("limits", () => {
  it("maxLineLength, for a whole line and for one arriving in pieces", () => {
    const line = `* OK ${"x".repeat(100)}\r\n`
    limited(line, { maxLineLength: 50 }, "maxLineLength")
    const o = run(byteAtATime(bytes(line)), { maxLineLength: 50 })
    assert.strictEqual(o.error?._tag, "LimitExceeded")
    // the error comes before the line ends: the parser did not keep reading
    assert.isTrue(o.error?._tag === "LimitExceeded" && o.error.actual === 51)
    assert.strictEqual(whole(line, { maxLineLength: 105 }).error, undefined)
  })
  it("maxLineLength counts segments between literals, not the response", () => {
    const input = `* 1 FETCH (BODY[] {30}\r\n${"y".repeat(30)} UID 1)\r\n`
    // the longest segment is "* 1 FETCH (BODY[] {30}" (22 bytes); the response is 61
    assert.strictEqual(whole(input, { maxLineLength: 22 }).error, undefined)
    limited(input, { maxLineLength: 21 }, "maxLineLength")
  })
  it("maxLiteralSize, checked when the literal is announced", () => {
    limited("* 1 FETCH (BODY[] {1000}\r\n", { maxLiteralSize: 999 }, "maxLiteralSize")
    limited("* 1 FETCH (BODY[] {99999999999999999999}\r\n", {}, "maxLiteralSize")
    assert.strictEqual(whole(`* 1 FETCH (BODY[] {1000}\r\n${"z".repeat(1000)})\r\n`, { maxLiteralSize: 1000 }).error, undefined)
  })
  it("maxResponseBytes over segments and literals together", () => {
    const input = `* 1 FETCH (BODY[1] {40}\r\n${"a".repeat(40)} BODY[2] {40}\r\n${"b".repeat(40)})\r\n`
    limited(input, { maxResponseBytes: 80 }, "maxResponseBytes")
    assert.strictEqual(whole(input, { maxResponseBytes: 200 }).error, undefined)
  })
  it("maxListDepth for BODYSTRUCTURE and generic values, without recursion", () => {
    const nested = (depth: number): string =>
      `* 1 FETCH (BODYSTRUCTURE ${"(".repeat(depth)}"text" "plain" NIL NIL NIL "7bit" 1 1)${' "mixed")'.repeat(depth - 1)})\r\n`
    assert.strictEqual(whole(nested(10), { maxListDepth: 10 }).error, undefined)
    limited(nested(11), { maxListDepth: 10 }, "maxListDepth")
    limited(nested(100_000), {}, "maxListDepth")
    limited(`* 1 FETCH (X-DEEP ${"(".repeat(100_000)})\r\n`, {}, "maxListDepth")
    assert.strictEqual(whole(`* 1 FETCH (X-DEEP ${"(".repeat(5)}${")".repeat(5)})\r\n`, { maxListDepth: 5 }).error, undefined)
  })
})

describe("buffered bytes (STARTTLS check)", () => {
  it("is 0 exactly after complete responses, counts partial ones", () => {
    const parser = ImapProtocol.makeParser()
    const push = (s: string): ReadonlyArray<ImapResponse.Frame> => {
      const r = parser.push(bytes(s))
      if (Result.isFailure(r)) throw new Error(r.failure.message)
      return r.success
    }
    assert.strictEqual(push("a1 OK Begin TLS\r\n").length, 1)
    assert.strictEqual(parser.buffered(), 0)
    push("* 1 FETCH (BODY[] {10}\r\nabc")
    assert.strictEqual(parser.buffered(), 24 + 3)
    assert.strictEqual(new TextDecoder().decode(parser.pendingPreview()), "* 1 FETCH (BODY[] {10}\r\nabc")
    push("defghij)\r\n")
    assert.strictEqual(parser.buffered(), 0)
    push("* OK inj")
    assert.strictEqual(parser.buffered(), 8)
    assert.strictEqual(new TextDecoder().decode(parser.pendingPreview()), "* OK inj")
    push("ected\r\n")
    assert.strictEqual(parser.buffered(), 0)
    assert.strictEqual(parser.pendingPreview().length, 0)
  })
  it("bytes after a tagged OK in the same chunk are returned or counted", () => {
    const o = whole("a1 OK Begin TLS\r\n* OK injected\r\n* PART")
    assert.deepStrictEqual(o.frames.map((f) => f._tag), ["Tagged", "Condition"])
    assert.strictEqual(o.buffered, 6)
  })
  it("pendingPreview is capped at 64 bytes", () => {
    const parser = ImapProtocol.makeParser()
    parser.push(bytes("* OK " + "q".repeat(200)))
    assert.strictEqual(parser.buffered(), 205)
    assert.strictEqual(parser.pendingPreview().length, 64)
  })
})

describe("literal streaming", () => {
  const body = "x".repeat(100)
  const input = `* 3 FETCH (UID 7 BODY[1.TEXT]<0> {100}\r\n${body} BODY[HEADER] {5}\r\nshort FLAGS ())\r\na OK\r\n`

  it("streams a large body section and completes the FETCH marked streamed", () => {
    const frames = ok(input, { streamLiteralsAbove: 50 })
    assert.deepStrictEqual(frames.map((f) => f._tag), ["LiteralStart", "LiteralChunk", "Fetch", "Tagged"])
    eq(frames[0], { _tag: "LiteralStart", seq: 3, item: "BODY", section: "1.TEXT", origin: 0, size: 100 })
    eq(frames[1], { _tag: "LiteralChunk", bytes: bytes(body) })
    eq(frames[2], {
      _tag: "Fetch",
      seq: 3,
      attributes: {
        uid: 7,
        bodySections: [
          { section: "1.TEXT", origin: 0, bytes: null, streamed: true, size: 100 },
          { section: "HEADER", bytes: bytes("short") }
        ],
        flags: []
      }
    })
  })
  it("streams in pieces as chunks arrive, holding none of the literal", () => {
    const parser = ImapProtocol.makeParser({ streamLiteralsAbove: 50 })
    const all = bytes(input)
    const head = "* 3 FETCH (UID 7 BODY[1.TEXT]<0> {100}\r\n".length
    const first = parser.push(all.subarray(0, 60))
    assert.isTrue(Result.isSuccess(first))
    if (Result.isSuccess(first)) {
      assert.deepStrictEqual(first.success.map((f) => f._tag), ["LiteralStart", "LiteralChunk"])
      assert.strictEqual(first.success[1]?._tag === "LiteralChunk" ? first.success[1].bytes.length : -1, 60 - head)
    }
    assert.strictEqual(parser.buffered(), head)
    const rest = parser.push(all.subarray(60))
    assert.isTrue(Result.isSuccess(rest))
    if (Result.isSuccess(rest)) assert.deepStrictEqual(rest.success.map((f) => f._tag), ["LiteralChunk", "Fetch", "Tagged"])
  })
  it("streams BINARY literal8 and several sections of one FETCH", () => {
    const frames = ok(`* 1 FETCH (BINARY[2] ~{60}\r\n${"b".repeat(60)} BODY[] {70}\r\n${"c".repeat(70)})\r\n`, {
      streamLiteralsAbove: 50
    })
    assert.deepStrictEqual(frames.map((f) => f._tag), ["LiteralStart", "LiteralChunk", "LiteralStart", "LiteralChunk", "Fetch"])
    eq(frames[0], { _tag: "LiteralStart", seq: 1, item: "BINARY", section: "2", size: 60 })
    eq(frames[2], { _tag: "LiteralStart", seq: 1, item: "BODY", section: "", size: 70 })
  })
  it("is not bound by maxLiteralSize", () => {
    const frames = ok(`* 1 FETCH (BODY[] {100}\r\n${body})\r\n`, { streamLiteralsAbove: 10, maxLiteralSize: 20, maxResponseBytes: 60 })
    assert.deepStrictEqual(frames.map((f) => f._tag), ["LiteralStart", "LiteralChunk", "Fetch"])
  })
  it("buffers big literals that are not body sections", () => {
    const subject = "s".repeat(80)
    const frames = ok(`* 1 FETCH (ENVELOPE (NIL {80}\r\n${subject} NIL NIL NIL NIL NIL NIL NIL NIL) RFC822 {80}\r\n${subject})\r\n`, {
      streamLiteralsAbove: 10
    })
    assert.deepStrictEqual(frames.map((f) => f._tag), ["Fetch"])
    const f = frames[0]
    if (f?._tag === "Fetch") {
      assert.strictEqual(f.attributes.envelope?.subject, subject)
      eq(f.attributes.rfc822, bytes(subject))
    }
    assert.deepStrictEqual(
      ok(`* LIST () "/" {80}\r\n${subject}\r\n`, { streamLiteralsAbove: 10 }).map((x) => x._tag),
      ["List"]
    )
  })
  it("finds the body section after earlier literals of the same FETCH", () => {
    const frames = ok(
      `* 9 FETCH (ENVELOPE (NIL {3}\r\nabc NIL NIL NIL NIL NIL NIL NIL NIL) X-LIT {2}\r\nhi BODY[TEXT] {100}\r\n${body})\r\n`,
      { streamLiteralsAbove: 50 }
    )
    assert.deepStrictEqual(frames.map((f) => f._tag), ["LiteralStart", "LiteralChunk", "Fetch"])
    eq(frames[0], { _tag: "LiteralStart", seq: 9, item: "BODY", section: "TEXT", size: 100 })
    const f = frames[2]
    if (f?._tag === "Fetch") assert.strictEqual(f.attributes.envelope?.subject, "abc")
  })
  it("a malformed response is reported when it completes, streamed or not", () => {
    const input = `* 1 FETCH (UID x BODY[] {100}\r\n${body})\r\n`
    malformed(input, "uniqueid")
    const parser = ImapProtocol.makeParser({ streamLiteralsAbove: 50 })
    const head = parser.push(bytes(input).subarray(0, 60))
    assert.deepStrictEqual(Result.isSuccess(head) ? head.success.map((f) => f._tag) : [], ["LiteralStart", "LiteralChunk"])
    const rest = parser.push(bytes(input).subarray(60))
    assert.strictEqual(Result.isFailure(rest) ? rest.failure._tag : "", "MalformedInput")
    // a literal the classifier cannot place is buffered, so maxLiteralSize applies
    limited(`* 1 FETCH (X-Y ((BODY[] {100}\r\n`, { streamLiteralsAbove: 50, maxLiteralSize: 60 }, "maxLiteralSize")
  })
  it("leaves literals at or under the threshold alone", () => {
    assert.deepStrictEqual(ok(input, { streamLiteralsAbove: 100 }).map((f) => f._tag), ["Fetch", "Tagged"])
  })
})
