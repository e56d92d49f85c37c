/**
 * Sequence sets (RFC 9051 §9 `sequence-set`, `uid-set`): message sequence numbers or UIDs as
 * numbers, ranges and `*` (the largest number in use), plus `$`, the saved result of the last
 * `SEARCH ... RETURN (SAVE)` (RFC 5182 SEARCHRES).
 *
 * Values are plain data; `validate` checks them (numbers are nz-number: 1 ..= 2^32 - 1) and the
 * command encoder calls it before writing anything. `parse` reads the sets servers send in COPYUID,
 * APPENDUID (RFC 4315) and ESEARCH ALL (RFC 4731) results.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import { isNzNumber, MAX_NZ_NUMBER } from "./internal/numset.ts"

/**
 * One end of a range: a number or `*`, the largest number in use in the mailbox.
 *
 * @category models
 * @since 0.1.0
 */
export type Bound = number | "*"

/**
 * `start:end`, both ends included, in either order (RFC 9051 §9: "2:4" and "4:2" are the same);
 * a single number is a range whose ends are equal.
 *
 * @category models
 * @since 0.1.0
 */
export interface Range {
  readonly start: Bound
  readonly end: Bound
}

/**
 * Numbers and ranges, written comma-separated.
 *
 * @category models
 * @since 0.1.0
 */
export interface Ranges {
  readonly _tag: "Ranges"
  readonly ranges: ReadonlyArray<Range>
}

/**
 * `$`: the messages saved by the last `SEARCH RETURN (SAVE)` (RFC 5182 §2.1).
 *
 * @category models
 * @since 0.1.0
 */
export interface Saved {
  readonly _tag: "Saved"
}

/**
 * A sequence set.
 *
 * @category models
 * @since 0.1.0
 */
export type SequenceSet = Ranges | Saved

/**
 * A set of explicit ranges, kept in the given order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (ranges: ReadonlyArray<Range>): SequenceSet => ({ _tag: "Ranges", ranges })

/**
 * `start:end`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const range = (start: Bound, end: Bound): SequenceSet => make([{ start, end }])

/**
 * One number (or `*`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const single = (n: Bound): SequenceSet => make([{ start: n, end: n }])

/**
 * `1:*`, every message.
 *
 * @category constructors
 * @since 0.1.0
 */
export const all: SequenceSet = range(1, "*")

/**
 * `$`, the saved search result (RFC 5182).
 *
 * @category constructors
 * @since 0.1.0
 */
export const saved: SequenceSet = { _tag: "Saved" }

/**
 * The set of the given numbers, sorted, deduplicated and compressed into ranges of consecutive
 * numbers (`[5, 1, 2, 3, 9]` is `1:3,5,9`). Invalid numbers are kept and rejected by `validate`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromNumbers = (numbers: Iterable<number>): SequenceSet => {
  const sorted = Float64Array.from(numbers).sort()
  const ranges: Array<Range> = []
  let i = 0
  while (i < sorted.length) {
    const start = sorted[i]!
    let end = start
    i++
    while (i < sorted.length && (sorted[i] === end || sorted[i] === end + 1)) {
      end = sorted[i]!
      i++
    }
    ranges.push({ start, end })
  }
  return make(ranges)
}

const invalidBound = (bound: Bound): boolean => bound !== "*" && !isNzNumber(bound)

/**
 * Checks a set before it goes on the wire: at least one range, every number an nz-number.
 *
 * @category encoding
 * @since 0.1.0
 */
export const validate = (
  self: SequenceSet,
  field = "sequence-set"
): Result.Result<SequenceSet, CodecError.EncodeError> => {
  if (self._tag === "Saved") return Result.succeed(self)
  if (self.ranges.length === 0) {
    return Result.fail(new CodecError.EncodeError({ field, detail: "empty sequence set" }))
  }
  for (const r of self.ranges) {
    if (invalidBound(r.start) || invalidBound(r.end)) {
      const bad = invalidBound(r.start) ? r.start : r.end
      return Result.fail(
        new CodecError.EncodeError({ field, detail: `${String(bad)} is not a number in 1..${MAX_NZ_NUMBER}` })
      )
    }
  }
  return Result.succeed(self)
}

/**
 * The wire text (`1:3,5,9:*`, `$`). Does not validate: the encoder calls `validate` first.
 *
 * @category encoding
 * @since 0.1.0
 */
export const format = (self: SequenceSet): string => {
  if (self._tag === "Saved") return "$"
  let out = ""
  for (let i = 0; i < self.ranges.length; i++) {
    const r = self.ranges[i]!
    if (i > 0) out += ","
    out += r.start === r.end ? String(r.start) : `${r.start}:${r.end}`
  }
  return out
}

const malformed = (text: string, detail: string) =>
  Result.fail(
    new CodecError.MalformedInput({
      grammar: "sequence-set",
      detail,
      preview: CodecError.preview(new TextEncoder().encode(text))
    })
  )

/**
 * Parses `sequence-set` text strictly: nz-numbers without leading zeros, `*`, `a:b`, commas, or
 * `$` alone.
 *
 * @category decoding
 * @since 0.1.0
 */
export const parse = (text: string): Result.Result<SequenceSet, CodecError.MalformedInput> => {
  if (text === "$") return Result.succeed(saved)
  const ranges: Array<Range> = []
  const n = text.length
  let i = 0
  let error = ""
  const bound = (): Bound | undefined => {
    if (text.charCodeAt(i) === 0x2a) {
      i++
      return "*"
    }
    const from = i
    while (i < n && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x39) i++
    if (i === from) error = "expected a number or *"
    else if (text.charCodeAt(from) === 0x30) error = "numbers are non-zero without leading zeros"
    else if (i - from > 10 || Number(text.slice(from, i)) > MAX_NZ_NUMBER) error = "number out of range"
    else return Number(text.slice(from, i))
    return undefined
  }
  while (true) {
    const start = bound()
    if (start === undefined) return malformed(text, error)
    let end = start
    if (text.charCodeAt(i) === 0x3a) {
      i++
      const last = bound()
      if (last === undefined) return malformed(text, error)
      end = last
    }
    ranges.push({ start, end })
    if (i === n) return Result.succeed(make(ranges))
    if (text.charCodeAt(i) !== 0x2c) return malformed(text, "expected , or end of set")
    i++
  }
}

const resolve = (bound: Bound, largest: number): number => (bound === "*" ? largest : bound)

/**
 * Whether `n` is in the set, with `*` standing for `largest` (the highest number in use). Always
 * false for `$`, whose members only the server knows.
 *
 * @category guards
 * @since 0.1.0
 */
export const has = (self: SequenceSet, n: number, largest: number): boolean => {
  if (self._tag === "Saved") return false
  for (const r of self.ranges) {
    const a = resolve(r.start, largest)
    const b = resolve(r.end, largest)
    if (n >= Math.min(a, b) && n <= Math.max(a, b)) return true
  }
  return false
}

/**
 * The members in wire order (each range ascending), lazily, with `*` standing for `largest`; pairs
 * the source and destination sets of a COPYUID result without materialising them. Nothing for `$`.
 *
 * @category constructors
 * @since 0.1.0
 */
export function* values(self: SequenceSet, largest: number): Generator<number, void, undefined> {
  if (self._tag === "Saved") return
  for (const r of self.ranges) {
    const a = resolve(r.start, largest)
    const b = resolve(r.end, largest)
    for (let k = Math.min(a, b); k <= Math.max(a, b); k++) yield k
  }
}
