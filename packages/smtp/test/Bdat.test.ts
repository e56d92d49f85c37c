import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Bdat from "../src/Bdat.ts"
import * as SmtpCommand from "../src/SmtpCommand.ts"
import { concat, latin1, splitAt, text } from "./helpers.ts"

const chunkAll = (inputs: ReadonlyArray<Uint8Array>, chunkSize?: number): ReadonlyArray<Bdat.BdatChunk> => {
  const chunker = Bdat.makeChunker(chunkSize === undefined ? undefined : { chunkSize })
  return [...inputs.flatMap((input) => chunker.push(input)), ...chunker.end()]
}

const summary = (chunks: ReadonlyArray<Bdat.BdatChunk>) =>
  chunks.map((c) => `${text(c.header)}${text(concat(c.data))}`).join("")

describe("Bdat", () => {
  it("splits a body into chunks of chunkSize, the last marked LAST", () => {
    assert.strictEqual(
      summary(chunkAll([latin1("Hello world")], 4)),
      "BDAT 4\r\nHellBDAT 4\r\no woBDAT 3 LAST\r\nrld"
    )
  })

  it("sends an empty body as BDAT 0 LAST", () => {
    assert.strictEqual(summary(chunkAll([], 4)), "BDAT 0 LAST\r\n")
  })

  it("does not add an empty LAST chunk after a body that is a multiple of chunkSize", () => {
    assert.strictEqual(summary(chunkAll([latin1("abcd"), latin1("efgh")], 4)), "BDAT 4\r\nabcdBDAT 4 LAST\r\nefgh")
  })

  it("coalesces small pushes without copying them", () => {
    const a = latin1("ab")
    const b = latin1("cd")
    const chunks = chunkAll([a, b, latin1("e")], 4)
    assert.strictEqual(chunks[0]!.data[0]!.buffer, a.buffer)
    assert.strictEqual(chunks[0]!.data[1]!.buffer, b.buffer)
    assert.strictEqual(summary(chunks), "BDAT 4\r\nabcdBDAT 1 LAST\r\ne")
  })

  it("keeps bytes as they are: no dot-stuffing, no line-ending rewrite", () => {
    assert.strictEqual(summary(chunkAll([latin1(".\r\n.\n\r")])), "BDAT 6 LAST\r\n.\r\n.\n\r")
  })

  it("returns the command, its wire header and the trace", () => {
    const [chunk] = chunkAll([latin1("xyz")])
    assert.deepStrictEqual(chunk!.command, { _tag: "Bdat", size: 3, last: true })
    assert.strictEqual(text(chunk!.header), text(Result.getOrThrow(SmtpCommand.encode(chunk!.command))))
    assert.strictEqual(chunk!.trace, "BDAT 3 LAST")
  })

  it("falls back to the default chunk size for an invalid one", () => {
    const chunks = chunkAll([new Uint8Array(Bdat.defaultChunkSize + 1)], 0)
    assert.deepStrictEqual(chunks.map((c) => c.command.size), [Bdat.defaultChunkSize, 1])
  })

  it("any body and chunking: the data is the body, sizes match, only the last is LAST", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 64 }),
        (body, cuts, size) => {
          const chunks = chunkAll(splitAt(body, cuts), size)
          assert.deepStrictEqual(concat(chunks.flatMap((c) => c.data)), body)
          chunks.forEach((c, i) => {
            const length = c.data.reduce((n, d) => n + d.length, 0)
            assert.strictEqual(c.command.size, length)
            assert.strictEqual(c.command.last, i === chunks.length - 1)
            assert.isAtMost(length, size)
            if (i < chunks.length - 1) assert.strictEqual(length, size)
          })
          assert.isTrue(chunks.length >= 1)
        }
      ),
      { numRuns: 300 }
    )
  })
})
