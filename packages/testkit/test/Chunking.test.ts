import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Chunking from "../src/Chunking.ts"

const join = (chunks: ReadonlyArray<Uint8Array>) => Buffer.concat(chunks)
const hex = (chunks: ReadonlyArray<Uint8Array>) => chunks.map((c) => Buffer.from(c).toString("hex")).join("|")

describe("Chunking", () => {
  it("splits concatenate back to the input and never contain an empty chunk", () => {
    fc.assert(
      fc.property(Chunking.chunked(fc.uint8Array({ maxLength: 64 })), ({ bytes, chunks }) => {
        assert.deepStrictEqual(join(chunks), Buffer.from(bytes))
        assert.isTrue(chunks.every((c) => c.length > 0))
        assert.strictEqual(chunks.length === 0, bytes.length === 0)
      })
    )
  })

  it("splits reaches the whole input, byte-at-a-time, and cuts in between", () => {
    const bytes = new TextEncoder().encode("A1 OK go\r\n")
    const seen = new Set<number>()
    fc.assert(
      fc.property(Chunking.splits(bytes), (chunks) => {
        seen.add(chunks.length)
      }),
      { numRuns: 300, seed: 42 }
    )
    assert.isTrue(seen.has(1), "whole input")
    assert.isTrue(seen.has(bytes.length), "byte-at-a-time")
    assert.isTrue([...seen].some((n) => n > 1 && n < bytes.length), "something in between")
  })

  it("splitAt cuts at the given positions", () => {
    const bytes = Uint8Array.from([1, 2, 3, 4, 5])
    assert.strictEqual(hex(Chunking.splitAt(bytes, [1, 3])), "01|0203|0405")
    assert.strictEqual(hex(Chunking.splitAt(bytes, [])), "0102030405")
    assert.deepStrictEqual(Chunking.splitAt(new Uint8Array(0), []), [])
  })

  it("allSplitPositions lists every 0-, 1- and 2-cut split exactly once", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 12 }), (bytes) => {
        const n = bytes.length
        const all = Chunking.allSplitPositions(bytes)
        assert.strictEqual(all.length, 1 + (n - 1) + ((n - 1) * (n - 2)) / 2)
        for (const chunks of all) {
          assert.deepStrictEqual(join(chunks), Buffer.from(bytes))
          assert.isTrue(chunks.every((c) => c.length > 0))
        }
        // Cut positions of each split, as a set: all distinct, and every position appears.
        const cutSets = all.map((chunks) => {
          const cuts: Array<number> = []
          let at = 0
          for (const c of chunks.slice(0, -1)) cuts.push((at += c.length))
          return cuts.join(",")
        })
        assert.strictEqual(new Set(cutSets).size, all.length)
        for (let i = 1; i < n; i++) assert.include(cutSets, String(i))
        for (let i = 1; i < n; i++) for (let j = i + 1; j < n; j++) assert.include(cutSets, `${i},${j}`)
      })
    )
    assert.deepStrictEqual(Chunking.allSplitPositions(new Uint8Array(0)), [[]])
  })

  it("nonEmptySuffix is never empty and produces protocol-looking lines and CRLF", () => {
    const samples = fc.sample(Chunking.nonEmptySuffix(), { numRuns: 400, seed: 7 })
    assert.isTrue(samples.every((s) => s.length > 0))
    const texts = samples.map((s) => Buffer.from(s).toString("latin1"))
    for (const marker of ["* OK", "250 ", "+OK", "\r\n"]) {
      assert.isTrue(texts.some((t) => t.includes(marker)), marker)
    }
    assert.isTrue(samples.some((s) => s.some((b) => b >= 0x80)), "binary bytes")
  })
})
