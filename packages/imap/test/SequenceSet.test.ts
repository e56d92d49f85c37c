import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as SequenceSet from "../src/SequenceSet.ts"

const parsed = (text: string): SequenceSet.SequenceSet => {
  const result = SequenceSet.parse(text)
  if (Result.isFailure(result)) assert.fail(`${text}: ${result.failure.message}`)
  return result.success
}

describe("SequenceSet", () => {
  it("fromNumbers sorts, deduplicates and compresses runs", () => {
    assert.strictEqual(SequenceSet.format(SequenceSet.fromNumbers([5, 1, 2, 3, 9])), "1:3,5,9")
    assert.strictEqual(SequenceSet.format(SequenceSet.fromNumbers([7, 7, 8, 8, 6])), "6:8")
    assert.strictEqual(SequenceSet.format(SequenceSet.fromNumbers([4294967295, 4294967294])), "4294967294:4294967295")
    assert.strictEqual(SequenceSet.format(SequenceSet.fromNumbers(new Set([10]))), "10")
    assert.deepStrictEqual(SequenceSet.fromNumbers([]), SequenceSet.make([]))
  })

  it("constructors and format", () => {
    assert.strictEqual(SequenceSet.format(SequenceSet.all), "1:*")
    assert.strictEqual(SequenceSet.format(SequenceSet.saved), "$")
    assert.strictEqual(SequenceSet.format(SequenceSet.single("*")), "*")
    assert.strictEqual(SequenceSet.format(SequenceSet.range(9, 2)), "9:2")
    assert.strictEqual(
      SequenceSet.format(SequenceSet.make([{ start: 1, end: 1 }, { start: "*", end: 4 }])),
      "1,*:4"
    )
  })

  it("validate: nz-numbers only, at least one range", () => {
    const detail = (set: SequenceSet.SequenceSet) => {
      const result = SequenceSet.validate(set, "uid-set")
      if (Result.isSuccess(result)) assert.fail("expected a failure")
      assert.strictEqual(result.failure.field, "uid-set")
      return result.failure.detail
    }
    assert.isTrue(Result.isSuccess(SequenceSet.validate(SequenceSet.range(1, 4294967295))))
    assert.isTrue(Result.isSuccess(SequenceSet.validate(SequenceSet.saved)))
    assert.match(detail(SequenceSet.single(0)), /^0 is not a number/)
    assert.match(detail(SequenceSet.range(1, 4294967296)), /^4294967296/)
    assert.match(detail(SequenceSet.single(-3)), /^-3/)
    assert.match(detail(SequenceSet.single(2.5)), /^2.5/)
    assert.match(detail(SequenceSet.single(Number.NaN)), /^NaN/)
    assert.match(detail(SequenceSet.fromNumbers([1, 0])), /^0/)
    assert.strictEqual(detail(SequenceSet.make([])), "empty sequence set")
  })

  it("parse: COPYUID / APPENDUID / ESEARCH forms", () => {
    assert.deepStrictEqual(parsed("304,319:320"), SequenceSet.make([{ start: 304, end: 304 }, { start: 319, end: 320 }]))
    assert.deepStrictEqual(parsed("3956"), SequenceSet.single(3956))
    assert.deepStrictEqual(parsed("1:*"), SequenceSet.all)
    assert.deepStrictEqual(parsed("*:4,*"), SequenceSet.make([{ start: "*", end: 4 }, { start: "*", end: "*" }]))
    assert.deepStrictEqual(parsed("$"), SequenceSet.saved)
    assert.deepStrictEqual(parsed("4294967295"), SequenceSet.single(4294967295))
  })

  it("parse rejects what the grammar does not allow", () => {
    for (const bad of ["", "0", "01", "1:0", "4294967296", "99999999999", "1,", ",1", "1::2", ":", "1:", "a", "1 2", "$,1", "1,$", "-1", "1.5", "**"]) {
      const result = SequenceSet.parse(bad)
      assert.isTrue(Result.isFailure(result), JSON.stringify(bad))
      if (Result.isFailure(result)) assert.strictEqual(result.failure.grammar, "sequence-set")
    }
  })

  it("has and values resolve * as the largest number", () => {
    const set = parsed("2:4,10:*")
    assert.isTrue(SequenceSet.has(set, 3, 12))
    assert.isTrue(SequenceSet.has(set, 12, 12))
    assert.isFalse(SequenceSet.has(set, 13, 12))
    assert.isFalse(SequenceSet.has(set, 5, 12))
    assert.isFalse(SequenceSet.has(SequenceSet.saved, 1, 10))
    assert.deepStrictEqual([...SequenceSet.values(set, 12)], [2, 3, 4, 10, 11, 12])
    assert.deepStrictEqual([...SequenceSet.values(parsed("5:3"), 9)], [3, 4, 5])
    assert.deepStrictEqual([...SequenceSet.values(SequenceSet.saved, 9)], [])
  })
})

const bound = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 0xffff_ffff }) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 40 }) },
  { weight: 1, arbitrary: fc.constant<"*">("*") }
)
const validSet = fc.oneof(
  { weight: 9, arbitrary: fc.array(fc.record({ start: bound, end: bound }), { minLength: 1, maxLength: 6 }).map(SequenceSet.make) },
  { weight: 1, arbitrary: fc.constant(SequenceSet.saved) }
)

describe("SequenceSet properties", () => {
  it("format -> parse round trip", () => {
    fc.assert(
      fc.property(validSet, (set) => {
        assert.isTrue(Result.isSuccess(SequenceSet.validate(set)))
        assert.deepStrictEqual(parsed(SequenceSet.format(set)), set)
      }),
      { numRuns: 500 }
    )
  })

  it("compression keeps exactly the given numbers, in ascending disjoint ranges", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 40 }), fc.integer({ min: 1, max: 61 }), (numbers, probe) => {
        const set = SequenceSet.fromNumbers(numbers)
        assert.strictEqual(SequenceSet.has(set, probe, 1000), numbers.includes(probe))
        const members = [...SequenceSet.values(set, 1000)]
        assert.deepStrictEqual(members, [...new Set(numbers)].sort((a, b) => a - b))
        // Maximal runs: consecutive ranges are separated by a gap of at least one number.
        if (set._tag === "Ranges") {
          for (let i = 1; i < set.ranges.length; i++) {
            assert.isTrue((set.ranges[i]!.start as number) > (set.ranges[i - 1]!.end as number) + 1)
          }
        }
      }),
      { numRuns: 500 }
    )
  })
})
