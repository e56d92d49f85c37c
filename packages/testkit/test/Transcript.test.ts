import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as Transcript from "../src/Transcript.ts"

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => Buffer.from(b).toString("latin1")

const parse = (source: string): Transcript.Transcript => {
  const result = Transcript.parse(source)
  if (Result.isFailure(result)) assert.fail(result.failure.message)
  return result.success
}

const parseError = (source: string): Transcript.TranscriptError => {
  const result = Transcript.parse(source)
  if (Result.isSuccess(result)) return assert.fail(`parsed: ${JSON.stringify(result.success.steps)}`)
  return result.failure
}

/** Writes with their placeholders shown as <t>/<n>. */
const shown = (step: Transcript.Step | undefined): string => {
  if (step?._tag !== "Write") return assert.fail(`not a write: ${step?._tag}`)
  return step.segments.map((s) => s._tag === "Bytes" ? text(s.bytes) : s._tag === "Tag" ? "<t>" : "<n>").join("")
}

describe("Transcript.parse", () => {
  it("parses the example conversation", () => {
    const t = parse(`
      S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready
      C: A1 STARTTLS
      S: A1 OK Begin TLS negotiation now
      -- starttls
      C: A2 CAPABILITY
      S: * CAPABILITY IMAP4rev1 AUTH=PLAIN
      S: A2 OK done
    `)
    assert.isUndefined(t.implicitTls)
    assert.deepStrictEqual(t.steps.map((s) => `${s._tag}@${s.line}`), [
      "Write@2",
      "Expect@3",
      "Write@4",
      "StartTls@5",
      "Expect@6",
      "Write@7",
      "Write@8"
    ])
    assert.strictEqual(shown(t.steps[0]), "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
    const expect = t.steps[1]
    assert.strictEqual(expect?._tag === "Expect" ? text(expect.bytes) : "", "A1 STARTTLS\r\n")
    const tls = t.steps[3]
    assert.strictEqual(tls?._tag === "StartTls" ? tls.profile : undefined, "localhost")
  })

  it("S+ and -- same-write join the previous write; S: starts a new one", () => {
    const t = parse("S: one\nS+ two\n-- same-write\nS: three\nS: four")
    assert.strictEqual(t.steps.length, 2)
    assert.strictEqual(shown(t.steps[0]), "one\r\ntwo\r\nthree\r\n")
    assert.strictEqual(shown(t.steps[1]), "four\r\n")
  })

  it("-- inject appends raw bytes without CRLF, or starts a write", () => {
    const t = parse("C: A1 STARTTLS\nS: A1 OK go\n-- inject * OK x\\r\\n\n-- delay 5\n-- inject raw")
    assert.strictEqual(shown(t.steps[1]), "A1 OK go\r\n* OK x\r\n")
    assert.deepStrictEqual(t.steps[2], { _tag: "Delay", line: 4, millis: 5 })
    assert.strictEqual(shown(t.steps[3]), "raw")
  })

  it("decodes escapes in S, C and inject text", () => {
    const t = parse("S: a\\r\\nb\\x00\\xff\\\\c é\nC: x\\x7Fy\\\\")
    assert.deepStrictEqual(
      [...(t.steps[0]?._tag === "Write" && t.steps[0].segments[0]?._tag === "Bytes" ? t.steps[0].segments[0].bytes : [])],
      [...bytes("a\r\nb"), 0x00, 0xff, ...bytes("\\c é\r\n")]
    )
    const c = t.steps[1]
    assert.deepStrictEqual([...(c?._tag === "Expect" ? c.bytes : [])], [...bytes("x\x7fy\\\r\n")])
  })

  it("keeps text after the separator verbatim, including spaces", () => {
    const t = parse("S:   indented  \nS:\nS: 250 ")
    assert.strictEqual(shown(t.steps[0]), "  indented  \r\n")
    assert.strictEqual(shown(t.steps[1]), "\r\n")
    assert.strictEqual(shown(t.steps[2]), "250 \r\n")
  })

  it("turns <t> and <n> into placeholders in server text only", () => {
    const t = parse("C: A7 NOOP\nS: <t> OK\n-- inject <n> OK injected\\r\\n\nC: <t> literal\nS: \\x3ct> is text")
    assert.strictEqual(shown(t.steps[1]), "<t> OK\r\n<n> OK injected\r\n")
    const write = t.steps[1]
    assert.deepStrictEqual(
      write?._tag === "Write" ? write.segments.map((s) => s._tag) : [],
      ["Tag", "Bytes", "NextTag", "Bytes"]
    )
    const c = t.steps[2]
    assert.strictEqual(c?._tag === "Expect" ? text(c.bytes) : "", "<t> literal\r\n")
    const literal = t.steps[3]
    assert.deepStrictEqual(literal?._tag === "Write" ? literal.segments.map((s) => s._tag) : [], ["Bytes"])
    assert.strictEqual(shown(literal), "<t> is text\r\n")
  })

  it("C* compiles an anchored regular expression over the line text", () => {
    const t = parse("C* A\\d+ (CAPABILITY|NOOP)")
    const step = t.steps[0]
    if (step?._tag !== "ExpectMatch") return assert.fail("not ExpectMatch")
    assert.strictEqual(step.description, "/A\\d+ (CAPABILITY|NOOP)/")
    assert.isTrue(step.test("A12 NOOP"))
    assert.isFalse(step.test("A12 NOOP extra"))
    assert.isFalse(step.test("xA12 NOOP"))
  })

  it("-- tls / -- starttls take a profile; -- implicit-tls sets the transcript mode", () => {
    for (const profile of Transcript.certProfiles) {
      const t = parse(`S: ok\n-- tls ${profile}`)
      assert.deepStrictEqual(t.steps[1], { _tag: "StartTls", line: 2, profile })
      const s = parse(`S: ok\n-- starttls ${profile}`)
      assert.deepStrictEqual(s.steps[1], { _tag: "StartTls", line: 2, profile })
      const i = parse(`# implicit\n-- implicit-tls ${profile}\nS: * OK`)
      assert.strictEqual(i.implicitTls, profile)
      assert.strictEqual(i.steps.length, 1)
    }
  })

  it("-- close and -- expect-close end the script; comments and CRLF line ends are fine", () => {
    const t = parse("# hello\r\nS: bye\r\n-- close\r\n\r\n# trailing comment\r\n")
    assert.deepStrictEqual(t.steps[1], { _tag: "Close", line: 3 })
    const e = parse("S: * BYE\n-- expect-close")
    assert.deepStrictEqual(e.steps[1], { _tag: "ExpectClose", line: 2 })
  })

  it("an empty transcript has no steps", () => {
    assert.deepStrictEqual(parse("\n  # nothing\n"), { implicitTls: undefined, steps: [] })
  })
})

describe("Transcript.parse errors carry the line number", () => {
  const cases: ReadonlyArray<readonly [string, string, number, RegExp]> = [
    ["unknown line", "S: a\nX: b", 2, /expected `S:`/],
    ["missing space after S:", "S:a", 1, /expected `S:`/],
    ["unknown directive", "S: a\n-- frobnicate", 2, /unknown directive `-- frobnicate`/],
    ["bad escape", "S: ok\nS: a\\qb", 2, /bad escape at column 2/],
    ["short \\x escape", "C: a\\x4", 1, /bad escape/],
    ["trailing backslash", "S: a\\", 1, /bad escape/],
    ["S+ first", "S+ a", 1, /needs a server write/],
    ["S+ after a client line", "S: a\nC: b\nS+ c", 3, /needs a server write/],
    ["same-write after a delay", "S: a\n-- delay 1\n-- same-write", 3, /needs a server write/],
    ["same-write not followed by S:", "S: a\n-- same-write\nC: b", 3, /same-write` on line 2/],
    ["same-write at the end", "S: a\n-- same-write", 2, /at the end/],
    ["same-write with an argument", "S: a\n-- same-write now", 2, /takes no argument/],
    ["empty inject", "S: a\n-- inject", 2, /inject needs bytes/],
    ["delay without a number", "-- delay soon", 1, /whole number/],
    ["negative delay", "-- delay -5", 1, /whole number/],
    ["huge delay", "-- delay 60001", 1, /limited to 60000/],
    ["unknown profile", "S: a\n-- tls evil", 2, /unknown certificate profile/],
    ["tls without profile", "S: a\n-- tls", 2, /unknown certificate profile/],
    ["starttls not after a write", "C: A1 STARTTLS\n-- starttls", 2, /must directly follow a server write/],
    ["second starttls", "S: a\n-- starttls\nS: b\n-- starttls", 4, /already TLS/],
    ["implicit-tls late", "S: a\n-- implicit-tls localhost", 2, /before every other step/],
    ["starttls after implicit-tls", "-- implicit-tls localhost\nS: a\n-- starttls", 3, /already TLS/],
    ["step after close", "S: a\n-- close\nS: b", 3, /closing step on line 2/],
    ["step after expect-close", "-- expect-close\n\nC: x", 3, /closing step on line 1/],
    ["close with an argument", "-- close now", 1, /takes no argument/],
    ["<t> before any client line", "S: <t> OK", 1, /before any client line/],
    ["<n> in an inject before any client line", "S: a\n-- inject <n>", 2, /before any client line/],
    ["C* without a pattern", "C* ", 1, /needs a regular expression/],
    ["C* with a broken pattern", "S: a\nC* (unclosed", 2, /invalid regular expression/]
  ]
  for (const [name, source, line, detail] of cases) {
    it(name, () => {
      const error = parseError(source)
      assert.strictEqual(error._tag, "TranscriptError")
      assert.strictEqual(error.line, line)
      assert.match(error.detail, detail)
      assert.match(error.message, new RegExp(`^transcript line ${line}: `))
    })
  }

  it("reports the offending source line without its indentation", () => {
    const error = parseError("  S: ok\n    oops")
    assert.strictEqual(error.text, "oops")
    assert.strictEqual(error.line, 2)
  })
})
