import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as ImapCapabilities from "../src/ImapCapabilities.ts"
import * as ImapCommand from "../src/ImapCommand.ts"
import * as SearchCriteria from "../src/SearchCriteria.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import { failure, ok, readEncoded, shape, stringOf, text, type Value } from "./ImapCommandReader.ts"

const sync: ImapCommand.EncodeContext = { capabilities: ImapCapabilities.make(["IMAP4rev1"]) }
const plus: ImapCommand.EncodeContext = { capabilities: ImapCapabilities.make(["IMAP4rev1", "LITERAL+"]) }
const utf8: ImapCommand.EncodeContext = {
  capabilities: ImapCapabilities.make(["IMAP4rev1", "UTF8=ACCEPT", "LITERAL+"]),
  utf8: true
}
const rev2: ImapCommand.EncodeContext = { capabilities: ImapCapabilities.make(["IMAP4rev2"]) }

const search = (criteria: SearchCriteria.Criterion, ctx: ImapCommand.EncodeContext = plus) =>
  ImapCommand.encode("A1", { _tag: "Search", uid: false, criteria }, ctx)

const keys = (criteria: SearchCriteria.Criterion, ctx: ImapCommand.EncodeContext = plus): string =>
  text(ok(search(criteria, ctx))).slice("A1 SEARCH ".length, -2)

const day = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d))

// --- a reader of our own search programs (RFC 9051 §9 search-program) ------------------------------

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const SIMPLE = new Map<string, SearchCriteria.Simple["_tag"]>(
  (["All", "Answered", "Deleted", "Draft", "Flagged", "Seen", "Unanswered", "Undeleted", "Undraft", "Unflagged",
    "Unseen", "New", "Old", "Recent"] as const).map((t) => [t.toUpperCase(), t])
)
const DATES = new Map<string, SearchCriteria.DateKey["_tag"]>(
  (["Before", "On", "Since", "SentBefore", "SentOn", "SentSince"] as const).map((t) => [t.toUpperCase(), t])
)
const TEXTS = new Map<string, SearchCriteria.Text["_tag"]>(
  (["Body", "Text", "From", "To", "Cc", "Bcc", "Subject"] as const).map((t) => [t.toUpperCase(), t])
)

const parseDate = (s: string): Date => {
  const m = /^(\d{1,2})-([A-Z][a-z]{2})-(\d{4})$/.exec(s)
  if (m === null) throw new Error(`bad date ${s}`)
  const date = new Date(Date.UTC(0, MONTHS.indexOf(m[2]!), Number(m[1])))
  date.setUTCFullYear(Number(m[3]))
  return date
}

const atomOf = (v: Value | undefined): string => {
  if (v?.kind !== "atom") throw new Error(`expected an atom, got ${JSON.stringify(v)}`)
  return v.text
}

const parseKey = (values: ReadonlyArray<Value>, at: { i: number }): SearchCriteria.Criterion => {
  const v = values[at.i++]
  if (v?.kind === "list") {
    const inner = { i: 0 }
    const criteria: Array<SearchCriteria.Criterion> = []
    while (inner.i < v.items.length) criteria.push(parseKey(v.items, inner))
    return { _tag: "And", criteria }
  }
  const word = atomOf(v)
  const simple = SIMPLE.get(word)
  if (simple !== undefined) return { _tag: simple }
  const date = DATES.get(word)
  if (date !== undefined) return { _tag: date, date: parseDate(atomOf(values[at.i++])) }
  const textKey = TEXTS.get(word)
  if (textKey !== undefined) return { _tag: textKey, value: stringOf(values[at.i++]) }
  switch (word) {
    case "KEYWORD":
    case "UNKEYWORD":
      return { _tag: word === "KEYWORD" ? "Keyword" : "Unkeyword", keyword: atomOf(values[at.i++]) }
    case "LARGER":
    case "SMALLER":
      return { _tag: word === "LARGER" ? "Larger" : "Smaller", size: Number(atomOf(values[at.i++])) }
    case "YOUNGER":
    case "OLDER":
      return { _tag: word === "YOUNGER" ? "Younger" : "Older", seconds: Number(atomOf(values[at.i++])) }
    case "HEADER": {
      const field = stringOf(values[at.i++])
      return { _tag: "Header", field, value: stringOf(values[at.i++]) }
    }
    case "UID":
      return { _tag: "Uid", set: Result.getOrThrow(SequenceSet.parse(atomOf(values[at.i++]))) }
    case "MODSEQ": {
      const next = values[at.i++]
      if (next?.kind === "quoted") {
        const flag = next.text.slice("/flags/".length)
        const type = atomOf(values[at.i++]) as "priv" | "shared" | "all"
        return { _tag: "ModSeq", modSeq: BigInt(atomOf(values[at.i++])), entry: { flag, type } }
      }
      return { _tag: "ModSeq", modSeq: BigInt(atomOf(next)) }
    }
    case "NOT":
      return { _tag: "Not", criterion: parseKey(values, at) }
    case "OR": {
      const left = parseKey(values, at)
      return { _tag: "Or", left, right: parseKey(values, at) }
    }
    default:
      return { _tag: "Sequence", set: Result.getOrThrow(SequenceSet.parse(word)) }
  }
}

/** Reads `tag SEARCH [RETURN (...)] [CHARSET x] key *(SP key)`. */
const parseSearch = (values: ReadonlyArray<Value>) => {
  assert.strictEqual(atomOf(values[1]), "SEARCH")
  const at = { i: 2 }
  let charset: string | undefined
  if (values[at.i]?.kind === "atom" && atomOf(values[at.i]) === "CHARSET") {
    charset = atomOf(values[at.i + 1])
    at.i += 2
  }
  const criteria: Array<SearchCriteria.Criterion> = []
  while (at.i < values.length) criteria.push(parseKey(values, at))
  return { charset, criterion: criteria.length === 1 ? criteria[0]! : SearchCriteria.and(...criteria) }
}

// --- arbitraries ---------------------------------------------------------------------------------

const noNul = fc.string({ unit: "binary", maxLength: 12 }).filter((s) => !s.includes("\0"))
const atom = fc.stringMatching(/^[A-Za-z$][A-Za-z0-9$_.-]{0,8}$/)
const fieldName = fc.string({ unit: fc.integer({ min: 33, max: 126 }).filter((c) => c !== 58).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 10 })
const utcDay = fc.record({ y: fc.integer({ min: 1000, max: 9999 }), m: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 28 }) })
  .map(({ d, m, y }) => day(y, m, d))
const bound = fc.oneof(fc.integer({ min: 1, max: 0xffff_ffff }), fc.constant<"*">("*"))
const sequenceSet = fc.oneof(
  { weight: 5, arbitrary: fc.array(fc.record({ start: bound, end: bound }), { minLength: 1, maxLength: 4 }).map(SequenceSet.make) },
  { weight: 1, arbitrary: fc.constant(SequenceSet.saved) }
)

const { criterion } = fc.letrec<{ criterion: SearchCriteria.Criterion }>((tie) => ({
  criterion: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom(...[...SIMPLE.values()].map((t): SearchCriteria.Criterion => ({ _tag: t }))),
    fc.record({ _tag: fc.constantFrom<"Keyword" | "Unkeyword">("Keyword", "Unkeyword"), keyword: atom }),
    fc.record({ _tag: fc.constantFrom(...DATES.values()), date: utcDay }),
    fc.record({ _tag: fc.constantFrom<"Larger" | "Smaller">("Larger", "Smaller"), size: fc.maxSafeNat() }),
    fc.record({ _tag: fc.constantFrom(...TEXTS.values()), value: noNul }),
    fc.record({ _tag: fc.constant<"Header">("Header"), field: fieldName, value: noNul }),
    fc.record({ _tag: fc.constantFrom<"Uid" | "Sequence">("Uid", "Sequence"), set: sequenceSet }),
    fc.record({ _tag: fc.constant<"ModSeq">("ModSeq"), modSeq: fc.bigInt({ min: 0n, max: (1n << 63n) - 1n }) }),
    fc.record({
      _tag: fc.constant<"ModSeq">("ModSeq"),
      modSeq: fc.bigInt({ min: 0n, max: 100n }),
      entry: fc.record({
        flag: fc.oneof(atom, atom.map((a) => `\\${a}`)),
        type: fc.constantFrom<"priv" | "shared" | "all">("priv", "shared", "all")
      })
    }),
    fc.record({ _tag: fc.constantFrom<"Younger" | "Older">("Younger", "Older"), seconds: fc.integer({ min: 1, max: 0xffff_ffff }) }),
    fc.record({ _tag: fc.constant<"Not">("Not"), criterion: tie("criterion") }),
    fc.record({ _tag: fc.constant<"Or">("Or"), left: tie("criterion"), right: tie("criterion") }),
    fc.record({ _tag: fc.constant<"And">("And"), criteria: fc.array(tie("criterion"), { minLength: 1, maxLength: 3 }) })
  )
}))

// What a single top-level key list means: AND of one key is that key.
const normalizeTop = (c: SearchCriteria.Criterion): SearchCriteria.Criterion =>
  c._tag === "And" && c.criteria.length === 1 ? c.criteria[0]! : c

describe("SearchCriteria goldens", () => {
  it("flag, date, size and set keys", () => {
    assert.strictEqual(keys(SearchCriteria.and(SearchCriteria.unseen, SearchCriteria.flagged, SearchCriteria.new_)), "UNSEEN FLAGGED NEW")
    assert.strictEqual(keys(SearchCriteria.date("Since", day(2024, 1, 5))), "SINCE 5-Jan-2024")
    assert.strictEqual(keys(SearchCriteria.date("SentBefore", day(1999, 12, 31))), "SENTBEFORE 31-Dec-1999")
    // UTC calendar day, whatever the time of day.
    assert.strictEqual(keys(SearchCriteria.date("On", new Date(Date.UTC(2024, 1, 29, 23, 59)))), "ON 29-Feb-2024")
    assert.strictEqual(keys(SearchCriteria.and(SearchCriteria.larger(1000), SearchCriteria.smaller(0))), "LARGER 1000 SMALLER 0")
    assert.strictEqual(keys(SearchCriteria.uid(SequenceSet.fromNumbers([1, 2, 3, 10]))), "UID 1:3,10")
    assert.strictEqual(keys(SearchCriteria.uid(SequenceSet.saved)), "UID $")
    assert.strictEqual(keys(SearchCriteria.sequence(SequenceSet.range(5, "*"))), "5:*")
    assert.strictEqual(keys(SearchCriteria.and(SearchCriteria.keyword("$Junk"), SearchCriteria.unkeyword("Work"))),
      "KEYWORD $Junk UNKEYWORD Work")
    assert.strictEqual(keys(SearchCriteria.and(SearchCriteria.younger(3600), SearchCriteria.older(60))), "YOUNGER 3600 OLDER 60")
  })

  it("MODSEQ (RFC 7162 §3.1.5)", () => {
    assert.strictEqual(keys(SearchCriteria.modSeq(620162338n)), "MODSEQ 620162338")
    assert.strictEqual(keys(SearchCriteria.modSeq(620162338, { flag: "\\Draft", type: "all" })),
      'MODSEQ "/flags/\\\\Draft" all 620162338')
  })

  it("NOT, OR and nested AND", () => {
    assert.strictEqual(
      keys(SearchCriteria.or(SearchCriteria.text("From", "alice"), SearchCriteria.not(SearchCriteria.and(SearchCriteria.seen, SearchCriteria.deleted)))),
      "OR FROM alice NOT (SEEN DELETED)"
    )
    assert.strictEqual(keys(SearchCriteria.and(SearchCriteria.and(SearchCriteria.all))), "(ALL)")
  })

  it("strings: atom, quoted, literal", () => {
    assert.strictEqual(keys(SearchCriteria.text("Subject", "hello")), "SUBJECT hello")
    assert.strictEqual(keys(SearchCriteria.text("Subject", "hello world")), 'SUBJECT "hello world"')
    assert.strictEqual(keys(SearchCriteria.text("Body", "")), 'BODY ""')
    assert.strictEqual(keys(SearchCriteria.header("Message-ID", "<a@b>")), "HEADER Message-ID <a@b>")
    assert.strictEqual(keys(SearchCriteria.header("List-Id", "")), 'HEADER List-Id ""')
    assert.strictEqual(keys(SearchCriteria.text("Body", "line\r\nbreak")), "BODY {11+}\r\nline\r\nbreak")
  })

  it("CHARSET UTF-8 for non-ASCII strings, not under UTF8=ACCEPT or IMAP4rev2", () => {
    const subject = SearchCriteria.text("Subject", "Grüße")
    assert.strictEqual(keys(subject), "CHARSET UTF-8 SUBJECT {7+}\r\nGrüße")
    assert.deepStrictEqual(shape(ok(search(subject, sync))), [
      "L:A1 SEARCH CHARSET UTF-8 SUBJECT {7}\r\n",
      "+",
      "L:Grüße\r\n"
    ])
    assert.strictEqual(keys(subject, utf8), 'SUBJECT "Grüße"')
    assert.strictEqual(keys(subject, rev2), 'SUBJECT "Grüße"')
    assert.strictEqual(keys(SearchCriteria.not(SearchCriteria.header("X-Name", "Zoë"))), "CHARSET UTF-8 NOT HEADER X-Name {4+}\r\nZoë")
    assert.isTrue(SearchCriteria.needsUtf8(SearchCriteria.or(SearchCriteria.all, subject)))
    assert.isFalse(SearchCriteria.needsUtf8(SearchCriteria.or(SearchCriteria.all, SearchCriteria.text("To", "bob"))))
  })

  it("UID SEARCH with RETURN comes before CHARSET", () => {
    const encoded = ok(ImapCommand.encode("A7", {
      _tag: "Search",
      uid: true,
      criteria: SearchCriteria.text("To", "José"),
      return: ["ALL"]
    }, plus))
    assert.strictEqual(text(encoded), "A7 UID SEARCH RETURN (ALL) CHARSET UTF-8 TO {5+}\r\nJosé\r\n")
  })
})

describe("SearchCriteria validation", () => {
  const field = (criteria: SearchCriteria.Criterion) => failure(search(criteria)).field
  it("refuses what has no wire form", () => {
    assert.strictEqual(field(SearchCriteria.and()), "search criteria")
    assert.strictEqual(field(SearchCriteria.not(SearchCriteria.and())), "search criteria")
    assert.strictEqual(field(SearchCriteria.keyword("a b")), "keyword")
    assert.strictEqual(field(SearchCriteria.keyword("")), "keyword")
    assert.strictEqual(field(SearchCriteria.date("On", new Date(Number.NaN))), "search date")
    assert.strictEqual(field(SearchCriteria.date("On", day(10000, 1, 1))), "search date")
    assert.strictEqual(field(SearchCriteria.larger(-1)), "search size")
    assert.strictEqual(field(SearchCriteria.larger(1.5)), "search size")
    assert.strictEqual(field(SearchCriteria.younger(0)), "seconds")
    assert.strictEqual(field(SearchCriteria.header("", "x")), "header field")
    assert.strictEqual(field(SearchCriteria.header("Subject:", "x")), "header field")
    assert.strictEqual(field(SearchCriteria.header("Sub ject", "x")), "header field")
    assert.strictEqual(field(SearchCriteria.text("Subject", "a\0b")), "search string")
    assert.strictEqual(field(SearchCriteria.uid(SequenceSet.fromNumbers([0]))), "uid set")
    assert.strictEqual(field(SearchCriteria.sequence(SequenceSet.make([]))), "sequence set")
    assert.strictEqual(field(SearchCriteria.modSeq(-1)), "modseq")
    assert.strictEqual(field(SearchCriteria.modSeq(1n << 63n)), "modseq")
    assert.strictEqual(field(SearchCriteria.modSeq(1, { flag: "a b", type: "all" })), "modseq entry")
    assert.strictEqual(field(SearchCriteria.modSeq(1, { flag: "x", type: "none" as "all" })), "modseq entry")
  })
})

describe("SearchCriteria properties", () => {
  it("encode -> parse gives the criteria back, with CHARSET exactly when needed", () => {
    fc.assert(
      fc.property(criterion, fc.constantFrom(sync, plus, utf8, rev2), (c, ctx) => {
        const values = readEncoded(ok(search(c, ctx)))
        const parsed = parseSearch(values)
        assert.deepStrictEqual(parsed.criterion, normalizeTop(c))
        const utf8Session = ctx === utf8 || ctx === rev2
        assert.strictEqual(parsed.charset, !utf8Session && SearchCriteria.needsUtf8(c) ? "UTF-8" : undefined)
      }),
      { numRuns: 300 }
    )
  })
})
