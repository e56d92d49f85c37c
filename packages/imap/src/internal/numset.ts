/**
 * Number grammar shared by the command encoder and `SequenceSet` (RFC 9051 §9).
 *
 * @internal
 */

/** nz-number: 0 < n < 2^32 (RFC 9051 §9). */
export const MAX_NZ_NUMBER = 0xffff_ffff

/** mod-sequence-value: 0 < n < 2^63 (RFC 7162 §7). */
export const MAX_MODSEQ = (1n << 63n) - 1n

/** True for an integer 1 ..= 2^32 - 1 (`nz-number`). */
export const isNzNumber = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= MAX_NZ_NUMBER

/** True for a non-negative safe integer (`number` / `number64`, as far as JS numbers reach). */
export const isNumber64 = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/**
 * The decimal text of a mod-sequence (`mod-sequence-valzer` when `zero` is allowed, else
 * `mod-sequence-value`), or undefined when out of range.
 */
export const modSeqText = (value: number | bigint, zero: boolean): string | undefined => {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) return undefined
    value = BigInt(value)
  }
  if (value < (zero ? 0n : 1n) || value > MAX_MODSEQ) return undefined
  return value.toString()
}
