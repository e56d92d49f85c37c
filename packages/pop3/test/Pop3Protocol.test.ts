import { assert, describe, it } from "@effect/vitest"
import * as Chunking from "@starttls/testkit/Chunking"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import * as Pop3Protocol from "../src/Pop3Protocol.ts"
import type * as Pop3Response from "../src/Pop3Response.ts"
import { byteAtATime, bytes, errorKey, feed, type Normal, normalize, parse } from "./frames.ts"

const ok = (text: string, code?: ReadonlyArray<string>): Pop3Response.StatusLine => ({
  _tag: "Ok",
  code: code === undefined ? undefined : { tokens: code },
  text
})
const err = (text: string, code?: ReadonlyArray<string>): Pop3Response.StatusLine => ({
  _tag: "Err",
  code: code === undefined ? undefined : { tokens: code },
  text
})
const status = (expectation: number, kind: Pop3Response.Expectation, line: Pop3Response.StatusLine): Normal => ({
  _tag: "Status",
  expectation,
  kind,
  status: line
})
const body = (expectation: number, latin1: string): ReadonlyArray<Normal> => [
  ...(latin1.length > 0 ? [{ _tag: "Body" as const, expectation, latin1 }] : []),
  { _tag: "BodyEnd", expectation, size: Buffer.byteLength(latin1, "latin1") }
]

/** Parses `wire` whole, byte at a time and at every single split; all must give `expected`. */
const assertEverySplit = (
  kinds: ReadonlyArray<Pop3Response.Expectation>,
  wire: string,
  expected: ReadonlyArray<Normal>,
  options?: Pop3Protocol.ParserOptions
) => {
  const input = Buffer.from(wire, "latin1")
  const splits = [[input], byteAtATime(input), ...Chunking.allSplitPositions(input).slice(1, input.length)]
  for (const chunks of splits) {
    const run = parse(kinds, chunks, options)
    assert.strictEqual(run.error, undefined, `split ${chunks.map((c) => c.length).join("+")}`)
    assert.deepStrictEqual(normalize(run.frames), expected, `split ${chunks.map((c) => c.length).join("+")}`)
    assert.strictEqual(run.parser.buffered(), 0)
    assert.strictEqual(run.parser.inFlight(), 0)
  }
}

describe("Pop3Protocol status lines", () => {
  const table: ReadonlyArray<readonly [string, Pop3Response.StatusLine]> = [
    ["+OK\r\n", ok("")],
    ["+OK \r\n", ok("")],
    ["+OK done\r\n", ok("done")],
    ["+OK 2 320\r\n", ok("2 320")],
    ["-ERR\r\n", err("")],
    ["-ERR no such message\r\n", err("no such message")],
    ["-ERR [IN-USE] maildrop locked\r\n", err("maildrop locked", ["IN-USE"])],
    ["-ERR [LOGIN-DELAY] wait\r\n", err("wait", ["LOGIN-DELAY"])],
    ["-ERR [SYS/TEMP] try later\r\n", err("try later", ["SYS", "TEMP"])],
    ["-ERR [SYS/PERM] go away\r\n", err("go away", ["SYS", "PERM"])],
    ["-ERR [AUTH] bad password\r\n", err("bad password", ["AUTH"])],
    ["-ERR [UTF8] need UTF8\r\n", err("need UTF8", ["UTF8"])],
    ["+OK [X-VENDOR/SUB/3] kept\r\n", ok("kept", ["X-VENDOR", "SUB", "3"])],
    ["-ERR [sys/temp] lower\r\n", err("lower", ["SYS", "TEMP"])],
    ["-ERR [IN-USE]\r\n", err("", ["IN-USE"])],
    ["-ERR [IN-USE]text\r\n", err("text", ["IN-USE"])],
    ["-ERR [unterminated code\r\n", err("[unterminated code")],
    ["-ERR [] empty\r\n", err("[] empty")],
    ["-ERR [A//B] empty level\r\n", err("[A//B] empty level")],
    ["-ERR [A B] space\r\n", err("[A B] space")],
    ["+ok lower case\r\n", ok("lower case")],
    ["-err lower case\r\n", err("lower case")],
    ["+OK bare LF\n", ok("bare LF")],
    ["+OK caf\xc3\xa9 \xe2\x82\xac\r\n", ok("café €")],
    ["+OK  two spaces\r\n", ok(" two spaces")],
    ["+OK trailing CR kept\r\r\n", ok("trailing CR kept\r")]
  ]
  for (const [wire, line] of table) {
    it(`reads ${JSON.stringify(wire)}`, () => {
      assertEverySplit(["single"], wire, [status(0, "single", line)])
    })
  }

  const malformed: ReadonlyArray<string> = [
    "+OKAY\r\n",
    "OK\r\n",
    "+ abc\r\n",
    "+\r\n",
    "\r\n",
    "-ER\r\n",
    "-ERROR\r\n",
    "* OK hello\r\n",
    "+OK\tx\r\n",
    "\x16\x03\x01\x02\x00\r\n"
  ]
  for (const wire of malformed) {
    it(`rejects ${JSON.stringify(wire)} as single-line`, () => {
      for (const chunks of [[bytes(wire)], byteAtATime(bytes(wire))]) {
        const run = parse(["single"], chunks)
        assert.strictEqual(errorKey(run.error), "MalformedInput:single-line")
      }
    })
  }

  it("reads a greeting with an APOP timestamp", () => {
    assertEverySplit(["greeting"], "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n", [
      status(0, "greeting", ok("POP3 server ready <1896.697170952@dbc.mtview.ca.us>"))
    ])
  })

  it("reads a rejecting greeting", () => {
    assertEverySplit(["greeting"], "-ERR [SYS/PERM] closed\r\n", [status(0, "greeting", err("closed", ["SYS", "PERM"]))])
  })
})

describe("Pop3Protocol SASL", () => {
  const table: ReadonlyArray<readonly [string, Normal]> = [
    ["+ \r\n", { _tag: "Continuation", expectation: 0, text: "" }],
    ["+\r\n", { _tag: "Continuation", expectation: 0, text: "" }],
    ["+ dGVzdA==\r\n", { _tag: "Continuation", expectation: 0, text: "dGVzdA==" }],
    ["+ VXNlcm5hbWU6\n", { _tag: "Continuation", expectation: 0, text: "VXNlcm5hbWU6" }],
    ["+OK logged in\r\n", status(0, "sasl", ok("logged in"))],
    ["-ERR [AUTH] invalid\r\n", status(0, "sasl", err("invalid", ["AUTH"]))],
    ["-ERR [SYS/TEMP] later\r\n", status(0, "sasl", err("later", ["SYS", "TEMP"]))]
  ]
  for (const [wire, frame] of table) {
    it(`reads ${JSON.stringify(wire)}`, () => assertEverySplit(["sasl"], wire, [frame]))
  }

  for (const wire of ["+x\r\n", "+OKAY\r\n", "* x\r\n", "\r\n"]) {
    it(`rejects ${JSON.stringify(wire)} as continue-req`, () => {
      assert.strictEqual(errorKey(parse(["sasl"], [bytes(wire)]).error), "MalformedInput:continue-req")
    })
  }

  it("answers each SASL step with its own expectation", () => {
    assertEverySplit(["sasl", "sasl", "sasl"], "+ \r\n+ Y2hhbGxlbmdl\r\n+OK welcome\r\n", [
      { _tag: "Continuation", expectation: 0, text: "" },
      { _tag: "Continuation", expectation: 1, text: "Y2hhbGxlbmdl" },
      status(2, "sasl", ok("welcome"))
    ])
  })
})

describe("Pop3Protocol multi-line (collected)", () => {
  it("collects and unstuffs lines", () => {
    assertEverySplit(["multi"], "+OK capa list\r\nTOP\r\n..\r\n...x\r\n\r\nSASL PLAIN\r\n.\r\n", [
      status(0, "multi", ok("capa list")),
      { _tag: "Lines", expectation: 0, lines: ["TOP", ".", "..x", "", "SASL PLAIN"] }
    ])
  })

  it("reads an empty listing", () => {
    assertEverySplit(["multi"], "+OK 0 messages\r\n.\r\n", [
      status(0, "multi", ok("0 messages")),
      { _tag: "Lines", expectation: 0, lines: [] }
    ])
  })

  it("reads lines ended by bare LF and decodes UTF-8", () => {
    assertEverySplit(["multi"], "+OK\nIMPLEMENTATION Caf\xc3\xa9\n.\n", [
      status(0, "multi", ok("")),
      { _tag: "Lines", expectation: 0, lines: ["IMPLEMENTATION Café"] }
    ])
  })

  it("gives no body after -ERR", () => {
    assertEverySplit(["multi", "single"], "-ERR not supported\r\n+OK\r\n", [
      status(0, "multi", err("not supported")),
      status(1, "single", ok(""))
    ])
  })

  it("limits the bytes of a collected answer (maxResponseBytes)", () => {
    const wire = "+OK\r\n" + "1 100\r\n".repeat(10) + ".\r\n"
    for (const chunks of [[bytes(wire)], byteAtATime(bytes(wire))]) {
      const run = parse(["multi"], chunks, { maxResponseBytes: 69 })
      assert.strictEqual(errorKey(run.error), "LimitExceeded:maxResponseBytes")
    }
    assertEverySplit(["multi"], wire, [
      status(0, "multi", ok("")),
      { _tag: "Lines", expectation: 0, lines: Array.from({ length: 10 }, () => "1 100") }
    ], { maxResponseBytes: 70 })
  })
})

describe("Pop3Protocol multi-line (streamed)", () => {
  const message = [
    "Return-Path: <alice@example.org>",
    "From: Alice <alice@example.org>",
    "Subject: dots",
    "",
    ".",
    "..x",
    ".hello",
    "plain line . with a dot",
    "",
    "-- ",
    "."
  ].join("\r\n") + "\r\n"
  const stuffed = message.replace(/^\./gm, "..")

  it("finds the terminator at every split position of a RETR answer", () => {
    assertEverySplit(["multiStream"], `+OK 212 octets\r\n${stuffed}.\r\n`, [
      status(0, "multiStream", ok("212 octets")),
      ...body(0, message)
    ])
  })

  it("finds the terminator at every pair of split positions of a short answer", () => {
    const wire = "+OK\r\n..\r\na\r\n...b\r\n.\r\n+OK\r\n.\r\n"
    const expected = [
      status(0, "multiStream", ok("")),
      ...body(0, ".\r\na\r\n..b\r\n"),
      status(1, "multiStream", ok("")),
      ...body(1, "")
    ]
    for (const chunks of Chunking.allSplitPositions(bytes(wire))) {
      const run = parse(["multiStream", "multiStream"], chunks)
      assert.strictEqual(run.error, undefined)
      assert.deepStrictEqual(normalize(run.frames), expected)
      assert.strictEqual(run.parser.buffered(), 0)
    }
  })

  // [what, wire after the status line, body delivered]
  const bodies: ReadonlyArray<readonly [string, string, string]> = [
    ["an empty body", ".\r\n", ""],
    ["a body whose first line is \".\"", "..\r\nnext\r\n.\r\n", ".\r\nnext\r\n"],
    ["lines \"..\", \"...x\" and only stuffed lines", "...\r\n...x\r\n..\r\n.\r\n", "..\r\n..x\r\n.\r\n"],
    ["a \".\" that does not start a line", "abc.\r\nx\r.\r\n.\r\n", "abc.\r\nx\r.\r\n"],
    ["a line-start \".\" followed by CR and not LF (RFC rule)", ".\rX\r\n.\r\r\n.\r\n", "\rX\r\n\r\r\n"],
    ["bare LF line ends, final \".\" included", "line one\n..two\n.\n", "line one\n.two\n"],
    ["arbitrary bytes, NUL and 8-bit", "\x00\xff\xfe\r\n\x80.\r\n.\r\n", "\x00\xff\xfe\r\n\x80.\r\n"]
  ]
  for (const [what, rest, delivered] of bodies) {
    it(`reads ${what}`, () => {
      assertEverySplit(["multiStream"], `+OK\r\n${rest}`, [status(0, "multiStream", ok("")), ...body(0, delivered)])
    })
  }

  it("gives no body after -ERR", () => {
    assertEverySplit(["multiStream", "single"], "-ERR [SYS/TEMP] no such message\r\n+OK\r\n", [
      status(0, "multiStream", err("no such message", ["SYS", "TEMP"])),
      status(1, "single", ok(""))
    ])
  })

  it("hands out views of the pushed chunk, cut only at stuffed dots", () => {
    const input = bytes("+OK\r\nline 1\r\nline 2\r\n..dot\r\nline 4\r\n.\r\n")
    const run = parse(["multiStream"], [input])
    const chunks = run.frames.filter((f): f is Pop3Response.BodyChunk => f._tag === "BodyChunk")
    assert.deepStrictEqual(chunks.map((c) => Buffer.from(c.bytes).toString("latin1")), [
      "line 1\r\nline 2\r\n",
      ".dot\r\nline 4\r\n"
    ])
    for (const chunk of chunks) assert.strictEqual(chunk.bytes.buffer, input.buffer)
  })

  it("does not limit the length of body lines", () => {
    const long = "x".repeat(100_000)
    const run = parse(["multiStream"], [bytes(`+OK\r\n${long}\r\n.\r\n`)], { maxLineLength: 100 })
    assert.strictEqual(run.error, undefined)
    assert.deepStrictEqual(normalize(run.frames).slice(1), body(0, `${long}\r\n`))
  })
})

describe("Pop3Protocol limits and errors", () => {
  it("rejects a line over maxLineLength at every split", () => {
    const wire = bytes("+OK 1234567\r\n") // 11 bytes before CRLF
    for (const chunks of Chunking.allSplitPositions(wire)) {
      const run = parse(["single"], chunks, { maxLineLength: 10 })
      assert.strictEqual(errorKey(run.error), "LimitExceeded:maxLineLength")
    }
    assertEverySplit(["single"], "+OK 123456\r\n", [status(0, "single", ok("123456"))], { maxLineLength: 10 })
  })

  it("fails as soon as a line without LF exceeds maxLineLength (bounded)", () => {
    const parser = Pop3Protocol.makeParser({ maxLineLength: 10 })
    parser.expect("single")
    assert.isTrue(Result.isSuccess(parser.push(bytes("+OK 123456\r"))))
    assert.strictEqual(parser.buffered(), 11)
    const result = parser.push(bytes("x"))
    assert.isTrue(Result.isFailure(result) && result.failure._tag === "LimitExceeded")
  })

  it("limits collected lines and continuations too", () => {
    assert.strictEqual(
      errorKey(parse(["multi"], [bytes("+OK\r\n12345678901\r\n.\r\n")], { maxLineLength: 10 }).error),
      "LimitExceeded:maxLineLength"
    )
    assert.strictEqual(
      errorKey(parse(["sasl"], [bytes("+ 123456789\r\n")], { maxLineLength: 10 }).error),
      "LimitExceeded:maxLineLength"
    )
  })

  it("rejects data when no command is in flight", () => {
    assert.strictEqual(errorKey(parse([], [bytes("+OK hello\r\n")]).error), "MalformedInput:response")
    assert.strictEqual(errorKey(parse([], [bytes("+")]).error), "MalformedInput:response")
    const after = parse(["single"], [bytes("+OK begin TLS\r\n+OK injected\r\n")])
    assert.strictEqual(errorKey(after.error), "MalformedInput:response")
  })

  it("reports what follows the last expected answer when it comes in a later push", () => {
    const run = parse(["single"], [bytes("+OK begin TLS\r\n"), bytes("\x16\x03")])
    assert.strictEqual(run.frames.length, 1)
    assert.deepStrictEqual(run.buffered, [0])
    assert.strictEqual(errorKey(run.error), "MalformedInput:response")
  })

  it("is terminal on error", () => {
    const parser = Pop3Protocol.makeParser()
    parser.expect("single")
    const first = parser.push(bytes("garbage\r\n"))
    assert.isTrue(Result.isFailure(first))
    parser.expect("single")
    assert.strictEqual(parser.push(bytes("+OK\r\n")), first)
  })

  it("accepts an empty push with nothing in flight", () => {
    const parser = Pop3Protocol.makeParser()
    assert.deepStrictEqual(parser.push(new Uint8Array(0)), Result.succeed([]))
    assert.strictEqual(parser.buffered(), 0)
  })
})

describe("Pop3Protocol buffered and pendingPreview", () => {
  // [what, expectation, pushes: [bytes, buffered() after, pendingPreview() after]]
  const table: ReadonlyArray<readonly [string, Pop3Response.Expectation, ReadonlyArray<readonly [string, number, string]>]> = [
    ["a partial status line", "single", [["+OK partial", 11, "+OK partial"], ["\r\n", 0, ""]]],
    ["the collected lines of an unfinished listing", "multi", [
      ["+OK\r\n1 10\r\n2 2", 9, "1 10\r\n2 2"],
      ["0\r\n.", 13, "1 10\r\n2 20\r\n."],
      ["\r\n", 0, ""]
    ]],
    ["a line-start dot whose meaning is not known yet", "multiStream", [
      ["+OK\r\nabc\r\n", 0, ""],
      [".", 1, "."],
      ["\r", 2, ".\r"],
      ["\n", 0, ""]
    ]],
    ["a stuffed dot once the next byte arrives", "multiStream", [["+OK\r\n.", 1, "."], [".x", 0, ""]]]
  ]
  for (const [what, kind, pushes] of table) {
    it(`counts ${what}`, () => {
      const parser = Pop3Protocol.makeParser()
      parser.expect(kind)
      for (const [input, buffered, preview] of pushes) {
        assert.isTrue(Result.isSuccess(parser.push(bytes(input))))
        assert.strictEqual(parser.buffered(), buffered, JSON.stringify(input))
        assert.strictEqual(Buffer.from(parser.pendingPreview()).toString("latin1"), preview)
      }
    })
  }

  it("is 0 after the +OK to STLS when nothing follows", () => {
    const parser = Pop3Protocol.makeParser()
    parser.expect("greeting")
    parser.expect("single")
    const result = parser.push(bytes("+OK ready\r\n+OK Begin TLS negotiation\r\n"))
    assert.isTrue(Result.isSuccess(result))
    assert.strictEqual(parser.buffered(), 0)
    assert.strictEqual(parser.inFlight(), 0)
  })
})

describe("Pop3Protocol pipelining", () => {
  it("numbers expectations across queue resets and compaction", () => {
    const parser = Pop3Protocol.makeParser()
    assert.strictEqual(parser.expect("single"), 0)
    parser.push(bytes("+OK\r\n"))
    assert.strictEqual(parser.expect("single"), 1)
    const numbers = Array.from({ length: 3000 }, () => parser.expect("single"))
    assert.strictEqual(numbers[0], 2)
    assert.strictEqual(numbers[2999], 3001)
    const result = parser.push(bytes("+OK\r\n".repeat(3001)))
    assert.isTrue(Result.isSuccess(result))
    if (Result.isSuccess(result)) {
      assert.deepStrictEqual(result.success.map((f) => f.expectation), Array.from({ length: 3001 }, (_, i) => i + 1))
    }
    assert.strictEqual(parser.inFlight(), 0)
    assert.strictEqual(parser.expect("multi"), 3002)
  })

  it("matches answers in order when expectations are queued while answers arrive", () => {
    const parser = Pop3Protocol.makeParser()
    parser.expect("multiStream")
    const first = feed(parser, [bytes("+OK\r\nbody\r\n")])
    parser.expect("single")
    const second = feed(parser, [bytes(".\r\n+OK deleted\r\n")])
    assert.deepStrictEqual(normalize([...first.frames, ...second.frames]), [
      status(0, "multiStream", ok("")),
      ...body(0, "body\r\n"),
      status(1, "single", ok("deleted"))
    ])
  })
})

// -----------------------------------------------------------------------------
// Properties
// -----------------------------------------------------------------------------

/** One answer: its wire bytes, the frames it must give, and `buffered()` after each of its bytes. */
interface Answer {
  readonly kind: Pop3Response.Expectation
  readonly wire: Uint8Array
  readonly expected: (expectation: number) => ReadonlyArray<Normal>
  /** held[k]: what `buffered()` must be after the first k bytes (k = 0 .. wire.length). */
  readonly held: ReadonlyArray<number>
}

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("latin1")
const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

const textArb = fc.string({
  unit: fc.constantFrom("a", "Z", "0", " ", ".", ",", ":", "<", ">", "@", "/", "]", "-", "é", "€", "😀"),
  maxLength: 12
})
const codeArb = fc.option(
  fc.constantFrom(["SYS", "TEMP"], ["SYS", "PERM"], ["IN-USE"], ["LOGIN-DELAY"], ["AUTH"], ["UTF8"], ["X-FOO", "BAR"]),
  { nil: undefined }
)
const eolArb = fc.constantFrom("\r\n", "\r\n", "\r\n", "\n")

/** A status line with its expected model and held counts (k for a partial line, 0 at its end). */
const statusArb = fc.record({ positive: fc.boolean(), code: codeArb, text: textArb, eol: eolArb }).map(
  ({ code, eol, positive, text }) => {
    const head = code === undefined ? text : `[${code.join("/")}]${text.length > 0 ? " " : ""}${text}`
    const wire = bytes(`${positive ? "+OK" : "-ERR"}${head.length > 0 ? " " : ""}${head}${eol}`)
    const line: Pop3Response.StatusLine = { _tag: positive ? "Ok" : "Err", code: code && { tokens: code }, text }
    return { wire, line, held: lineHeld(wire.length) }
  }
)
const lineHeld = (length: number): Array<number> => Array.from({ length: length + 1 }, (_, k) => (k === length ? 0 : k))

/** Reference dot-stuffer, written independently of `stuffBody`. */
const referenceStuff = (body: Uint8Array): Uint8Array => {
  const out: Array<number> = []
  body.forEach((b, i) => {
    if (b === 0x2e && (i === 0 || body[i - 1] === 0x0a)) out.push(0x2e)
    out.push(b)
  })
  if (body.length > 0 && body[body.length - 1] !== 0x0a) out.push(0x0d, 0x0a)
  out.push(0x2e, 0x0d, 0x0a)
  return Uint8Array.from(out)
}

/** held[k] inside a streamed body: 1 after a line-start ".", 2 after a line-start ".\r", else 0. */
const bodyHeld = (wire: Uint8Array): Array<number> => {
  const held = [0]
  let lineStart = 0
  for (let k = 1; k <= wire.length; k++) {
    const offset = k - lineStart
    const h = wire[lineStart] === 0x2e && (offset === 1 || (offset === 2 && wire[lineStart + 1] === 0x0d)) ? offset : 0
    held.push(k === wire.length ? 0 : h)
    if (wire[k - 1] === 0x0a) lineStart = k
  }
  return held
}

const bodyArb = fc.array(
  fc.oneof(
    fc.constantFrom(".", "..", "...x", "\r\n", "\n", "\r", ".\r\n", "\r\n.\r\n", "\r\n..\r\n", ".\r", "x", "From: a\r\n")
      .map(bytes),
    fc.uint8Array({ maxLength: 24 })
  ),
  { maxLength: 12 }
).map(concat)

const singleArb = (kind: "single" | "greeting"): fc.Arbitrary<Answer> =>
  statusArb.map(({ held, line, wire }) => ({ kind, wire, held, expected: (e) => [status(e, kind, line)] }))

const saslArb: fc.Arbitrary<Answer> = fc.oneof(
  statusArb.map(({ held, line, wire }): Answer => ({
    kind: "sasl",
    wire,
    held,
    expected: (e) => [status(e, "sasl", line)]
  })),
  fc.tuple(fc.base64String({ maxLength: 40 }), eolArb).map(([text, eol]): Answer => {
    const wire = bytes(`+ ${text}${eol}`)
    return { kind: "sasl", wire, held: lineHeld(wire.length), expected: (e) => [{ _tag: "Continuation", expectation: e, text }] }
  })
)

const multiArb: fc.Arbitrary<Answer> = fc.tuple(
  statusArb,
  fc.array(fc.oneof(textArb, fc.constantFrom(".", "..", ""), textArb.map((t) => `.${t}`)), { maxLength: 6 }),
  eolArb
).map(([head, lines, eol]) => {
  if (head.line._tag === "Err") {
    return { kind: "multi", wire: head.wire, held: head.held, expected: (e) => [status(e, "multi", head.line)] }
  }
  const rest = bytes(lines.map((l) => `${l.startsWith(".") ? "." : ""}${l}${eol}`).join("") + `.${eol}`)
  const restHeld = Array.from({ length: rest.length + 1 }, (_, k) => (k === rest.length ? 0 : k))
  return {
    kind: "multi",
    wire: concat([head.wire, rest]),
    held: [...head.held, ...restHeld.slice(1)],
    expected: (e) => [status(e, "multi", head.line), { _tag: "Lines", expectation: e, lines }]
  }
})

const streamArb: fc.Arbitrary<Answer> = fc.tuple(statusArb, bodyArb).map(([head, content]) => {
  if (head.line._tag === "Err") {
    return { kind: "multiStream", wire: head.wire, held: head.held, expected: (e) => [status(e, "multiStream", head.line)] }
  }
  const stuffed = Pop3Protocol.stuffBody(content)
  const delivered = content.length === 0 || content[content.length - 1] === 0x0a
    ? latin1(content)
    : `${latin1(content)}\r\n`
  return {
    kind: "multiStream",
    wire: concat([head.wire, stuffed]),
    held: [...head.held, ...bodyHeld(stuffed).slice(1)],
    expected: (e) => [status(e, "multiStream", head.line), ...body(e, delivered)]
  }
})

const answersArb = fc.array(
  fc.oneof(singleArb("single"), singleArb("greeting"), saslArb, multiArb, streamArb, streamArb),
  { minLength: 1, maxLength: 8 }
)

const conversationArb = answersArb.chain((answers) => {
  const wire = concat(answers.map((a) => a.wire))
  return Chunking.splits(wire).map((chunks) => ({ answers, wire, chunks }))
})

describe("Pop3Protocol properties", () => {
  it("gives the expected frames and buffered() under any chunking of pipelined answers", () => {
    fc.assert(
      fc.property(conversationArb, ({ answers, chunks, wire }) => {
        const kinds = answers.map((a) => a.kind)
        const expected = answers.flatMap((a, i) => a.expected(i))
        const held = [0]
        for (const answer of answers) held.push(...answer.held.slice(1))

        const whole = parse(kinds, [wire])
        assert.strictEqual(whole.error, undefined)
        assert.deepStrictEqual(normalize(whole.frames), expected)

        const run = parse(kinds, chunks)
        assert.strictEqual(run.error, undefined)
        assert.deepStrictEqual(normalize(run.frames), expected)
        let at = 0
        chunks.forEach((chunk, i) => {
          at += chunk.length
          assert.strictEqual(run.buffered[i], held[at], `buffered() after ${at} of ${wire.length} bytes`)
        })
        assert.strictEqual(run.parser.inFlight(), 0)
      }),
      { numRuns: 300 }
    )
  })

  it("matches answers in order when each expectation is queued just before its answer's bytes", () => {
    fc.assert(
      fc.property(conversationArb, ({ answers, chunks }) => {
        const starts: Array<number> = []
        let offset = 0
        for (const answer of answers) {
          starts.push(offset)
          offset += answer.wire.length
        }
        const parser = Pop3Protocol.makeParser()
        const frames: Array<Pop3Response.Frame> = []
        let queued = 0
        let at = 0
        for (const chunk of chunks) {
          at += chunk.length
          while (queued < answers.length && starts[queued]! < at) parser.expect(answers[queued++]!.kind)
          const result = parser.push(chunk)
          assert.isTrue(Result.isSuccess(result))
          if (Result.isSuccess(result)) frames.push(...result.success)
        }
        assert.deepStrictEqual(normalize(frames), answers.flatMap((a, i) => a.expected(i)))
      }),
      { numRuns: 150 }
    )
  })

  it("fails the same way under any chunking of arbitrary input", () => {
    const tokens = fc.constantFrom("+OK", "-ERR", "+ ", "+", ".", "..", "\r\n", "\n", "\r", " ", "[SYS/TEMP]", "abc")
    const input = fc.array(fc.oneof(tokens.map(bytes), fc.uint8Array({ maxLength: 8 })), { maxLength: 20 }).map(concat)
    const kindsArb = fc.array(fc.constantFrom<Pop3Response.Expectation>("single", "multi", "multiStream", "sasl"), {
      maxLength: 6
    })
    fc.assert(
      fc.property(kindsArb, Chunking.chunked(input), fc.integer({ min: 4, max: 64 }), (kinds, { bytes, chunks }, max) => {
        const options = { maxLineLength: max, maxResponseBytes: 2 * max }
        const whole = parse(kinds, [bytes], options)
        const split = parse(kinds, chunks, options)
        assert.strictEqual(errorKey(split.error), errorKey(whole.error))
        if (whole.error === undefined) {
          assert.deepStrictEqual(normalize(split.frames), normalize(whole.frames))
          assert.strictEqual(split.parser.buffered(), whole.parser.buffered())
        }
      }),
      { numRuns: 500 }
    )
  })

  it("stuffBody matches a reference stuffer and parses back to the body", () => {
    const stuffedArb = fc.oneof(bodyArb, fc.uint8Array({ maxLength: 600 })).chain((content) => {
      const wire = concat([bytes("+OK\r\n"), Pop3Protocol.stuffBody(content)])
      return Chunking.splits(wire).map((chunks) => ({ content, chunks }))
    })
    fc.assert(
      fc.property(stuffedArb, ({ chunks, content }) => {
        assert.strictEqual(latin1(Pop3Protocol.stuffBody(content)), latin1(referenceStuff(content)))
        const run = parse(["multiStream"], chunks)
        const got = normalize(run.frames).flatMap((f) => (f._tag === "Body" ? [f.latin1] : [])).join("")
        const want = content.length === 0 || content[content.length - 1] === 0x0a
          ? latin1(content)
          : `${latin1(content)}\r\n`
        assert.strictEqual(got, want)
        assert.strictEqual(run.parser.inFlight(), 0)
        assert.strictEqual(run.parser.buffered(), 0)
      }),
      { numRuns: 300 }
    )
  })
})

describe("Pop3Protocol.stuffBody", () => {
  const table: ReadonlyArray<readonly [string, string]> = [
    ["", ".\r\n"],
    ["a\r\n", "a\r\n.\r\n"],
    ["a", "a\r\n.\r\n"],
    [".", "..\r\n.\r\n"],
    [".\r\n", "..\r\n.\r\n"],
    ["a\r\n.b\r\n..\r\n", "a\r\n..b\r\n...\r\n.\r\n"],
    ["x.y\r\n", "x.y\r\n.\r\n"],
    ["a\n.b\n", "a\n..b\n.\r\n"],
    ["a\r.b\r\n", "a\r.b\r\n.\r\n"]
  ]
  for (const [input, output] of table) {
    it(`stuffs ${JSON.stringify(input)}`, () => {
      assert.strictEqual(latin1(Pop3Protocol.stuffBody(bytes(input))), output)
    })
  }
})
