import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as DotStuffing from "../src/DotStuffing.ts"
import { concat, latin1, splitAt, text } from "./helpers.ts"

const stuffChunks = (chunks: ReadonlyArray<string>, options?: DotStuffing.StufferOptions): string => {
  const stuffer = DotStuffing.makeStuffer(options)
  const out: Array<Uint8Array> = []
  for (const chunk of chunks) out.push(...stuffer.push(latin1(chunk)))
  out.push(stuffer.end())
  return text(concat(out))
}

// What an RFC receiver must get back: every line ending as CRLF, the last line completed.
const normalized = (body: string): string => {
  const n = body.replace(/\r\n|\r|\n/g, "\r\n")
  return n === "" || n.endsWith("\r\n") ? n : n + "\r\n"
}

interface Received {
  readonly body: string
  readonly done: boolean
  readonly rest: string
}

const unstuffChunks = (chunks: ReadonlyArray<Uint8Array>): Received => {
  const unstuffer = DotStuffing.makeUnstuffer()
  const body: Array<Uint8Array> = []
  for (let i = 0; i < chunks.length; i++) {
    const result = unstuffer.push(chunks[i]!)
    body.push(...result.data)
    if (result.done) {
      return { body: text(concat(body)), done: true, rest: text(concat([result.rest, ...chunks.slice(i + 1)])) }
    }
  }
  return { body: text(concat(body)), done: false, rest: "" }
}

describe("DotStuffing", () => {
  describe("stuffer (normalizeLineEndings: true, the default)", () => {
    const table: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [[], ".\r\n"],
      [[""], ".\r\n"],
      [["abc"], "abc\r\n.\r\n"],
      [["abc\r\n"], "abc\r\n.\r\n"],
      [["\r\n"], "\r\n.\r\n"],
      [["."], "..\r\n.\r\n"],
      [[".abc\r\n"], "..abc\r\n.\r\n"],
      [["a\r\n.\r\nb"], "a\r\n..\r\nb\r\n.\r\n"],
      [["a\r\n", ".", "."], "a\r\n...\r\n.\r\n"],
      [["a\r", "\n.b"], "a\r\n..b\r\n.\r\n"],
      [["a\r\n", ".\r\n"], "a\r\n..\r\n.\r\n"],
      [["a", "\r", "\n", ".", "\r", "\n"], "a\r\n..\r\n.\r\n"],
      [["a\nb"], "a\r\nb\r\n.\r\n"],
      [["a\rb"], "a\r\nb\r\n.\r\n"],
      [["a\r"], "a\r\n.\r\n"],
      [["a\r", "\r\n"], "a\r\n\r\n.\r\n"],
      [["a\r", ".b"], "a\r\n..b\r\n.\r\n"],
      [["\n.\n"], "\r\n..\r\n.\r\n"],
      [["a\n\r"], "a\r\n\r\n.\r\n"],
      [["x\r\r\n.y"], "x\r\n\r\n..y\r\n.\r\n"],
      [["..\r\n..."], "...\r\n....\r\n.\r\n"]
    ]
    for (const [chunks, expected] of table) {
      it(JSON.stringify(chunks), () => {
        assert.strictEqual(stuffChunks(chunks), expected)
      })
    }

    it("emits views of the input, not copies", () => {
      const input = latin1("line one\r\n.two\r\nthree")
      const out = DotStuffing.makeStuffer().push(input)
      for (const part of out) assert.strictEqual(part.buffer, input.buffer)
    })

    it("is ready for the next body after end()", () => {
      const stuffer = DotStuffing.makeStuffer()
      stuffer.push(latin1("a\r"))
      stuffer.end()
      assert.strictEqual(text(concat([...stuffer.push(latin1(".x")), stuffer.end()])), "..x\r\n.\r\n")
    })

    it("stuff() does it in one call", () => {
      assert.strictEqual(text(DotStuffing.stuff(latin1("a\n.b"))), "a\r\n..b\r\n.\r\n")
    })
  })

  describe("stuffer (normalizeLineEndings: false)", () => {
    const table: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
      [["a\r\nb\r\n"], "a\r\nb\r\n.\r\n"],
      [["a\r", "\n"], "a\r\n.\r\n"],
      [["a\nb"], "a\nb\r\n.\r\n"],
      [["a\n"], "a\n\r\n.\r\n"],
      // A "." after any CR or LF is doubled: no bare-line-ending smuggling sequence can form.
      [["a\n.\nb"], "a\n..\nb\r\n.\r\n"],
      [["a\r.\rb"], "a\r..\rb\r\n.\r\n"],
      [["a\n", ".\r\n"], "a\n..\r\n.\r\n"],
      [["a\r\n.\r\n"], "a\r\n..\r\n.\r\n"]
    ]
    for (const [chunks, expected] of table) {
      it(JSON.stringify(chunks), () => {
        assert.strictEqual(stuffChunks(chunks, { normalizeLineEndings: false }), expected)
      })
    }
  })

  describe("unstuffer", () => {
    const table: ReadonlyArray<readonly [string, Received]> = [
      [".\r\n", { body: "", done: true, rest: "" }],
      ["..a\r\n.\r\nQUIT\r\n", { body: ".a\r\n", done: true, rest: "QUIT\r\n" }],
      ["a\r\n..\r\n.\r\n", { body: "a\r\n.\r\n", done: true, rest: "" }],
      ["a\n.\nb\r\n.\r\n", { body: "a\n.\nb\r\n", done: true, rest: "" }],
      [".x\r\n.\r\n", { body: "x\r\n", done: true, rest: "" }],
      [".\rx\r\n.\r\n", { body: "\rx\r\n", done: true, rest: "" }],
      ["a\r\n.\r", { body: "a\r\n", done: false, rest: "" }],
      ["no end", { body: "no end", done: false, rest: "" }]
    ]
    for (const [input, expected] of table) {
      it(JSON.stringify(input), () => {
        const bytes = latin1(input)
        for (let cut = 0; cut <= bytes.length; cut++) {
          assert.deepStrictEqual(unstuffChunks([bytes.subarray(0, cut), bytes.subarray(cut)]), expected, `cut ${cut}`)
        }
      })
    }

    it("starts over for the next message after the terminator", () => {
      const unstuffer = DotStuffing.makeUnstuffer()
      const first = unstuffer.push(latin1("one\r\n.\r\n"))
      assert.isTrue(first.done)
      const second = unstuffer.push(latin1("..two\r\n.\r\n"))
      assert.isTrue(second.done)
      assert.strictEqual(text(concat(second.data)), ".two\r\n")
    })

    it("unstuff() decodes a whole transmission or fails without a terminator", () => {
      const ok = Result.getOrThrow(DotStuffing.unstuff(latin1("..a\r\n.\r\nRSET\r\n")))
      assert.strictEqual(text(ok.body), ".a\r\n")
      assert.strictEqual(text(ok.rest), "RSET\r\n")
      assert.isTrue(Result.isFailure(DotStuffing.unstuff(latin1("a\r\n"))))
    })
  })

  describe("property (c): round trip for any body and any chunking", () => {
    const piece = fc.oneof(
      fc.constantFrom(".", "..", "\r", "\n", "\r\n", ".\r\n", "\r\n.\r\n", "\n.\n", "\r.\r", "a", "From "),
      fc.uint8Array({ maxLength: 12 }).map((b) => text(b))
    )
    const body = fc.array(piece, { maxLength: 16 }).map((ps) => latin1(ps.join("")))
    const cuts = fc.array(fc.nat(), { maxLength: 10 })

    it("unstuff(stuff(x)) is x with CRLF line endings; the data ends only at the terminator", () => {
      fc.assert(
        fc.property(body, cuts, cuts, (input, inCuts, outCuts) => {
          const stuffer = DotStuffing.makeStuffer()
          const parts: Array<Uint8Array> = []
          for (const chunk of splitAt(input, inCuts)) parts.push(...stuffer.push(chunk))
          parts.push(stuffer.end())
          const wire = concat(parts)
          const wireText = text(wire)
          // The only end-of-data sequence is the terminator, and no bare CR or LF is sent.
          assert.strictEqual(("\r\n" + wireText).indexOf("\r\n.\r\n"), wireText.length - 3)
          assert.notMatch(wireText, /\r(?!\n)|(?<!\r)\n/)
          const received = unstuffChunks(splitAt(wire, outCuts))
          assert.deepStrictEqual(received, { body: normalized(text(input)), done: true, rest: "" })
        }),
        { numRuns: 400 }
      )
    })

    it("without normalization: CRLF bodies round-trip, and no line of a lone \".\" forms under any line-ending reading", () => {
      fc.assert(
        fc.property(body, cuts, (input, inCuts) => {
          const stuffer = DotStuffing.makeStuffer({ normalizeLineEndings: false })
          const parts: Array<Uint8Array> = []
          for (const chunk of splitAt(input, inCuts)) parts.push(...stuffer.push(chunk))
          stuffer.end()
          const stuffed = text(concat(parts))
          // Only dots after a CR, an LF or the start were added, one each.
          assert.strictEqual(stuffed.replace(/(^|[\r\n])\.\./g, "$1."), text(input))
          assert.notMatch(stuffed, /(^|[\r\n])\.(?=[\r\n]|$)/)
          const canonical = latin1(text(input).replace(/\r\n|\r|\n/g, "\r\n"))
          const again = DotStuffing.makeStuffer({ normalizeLineEndings: false })
          const wire = concat([...splitAt(canonical, inCuts).flatMap((c) => again.push(c)), again.end()])
          assert.deepStrictEqual(unstuffChunks([wire]), { body: normalized(text(canonical)), done: true, rest: "" })
        }),
        { numRuns: 300 }
      )
    })
  })
})
