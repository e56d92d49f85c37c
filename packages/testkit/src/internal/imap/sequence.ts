/**
 * Sequence sets (RFC 9051 §9 `sequence-set`): `1,3:5,7:*`. Resolved against a session's view:
 * sequence numbers must exist (a number above the message count, `*` of an empty mailbox
 * included, is an error: RFC 3501 §9 seq-number); UIDs that do not exist are ignored.
 *
 * @internal
 */

export interface Range {
  readonly from: number | "*"
  readonly to: number | "*"
}

const MAX = 0xffff_ffff
const NUMBER = /^[1-9]\d{0,9}$/

const number = (text: string): number | "*" | undefined => {
  if (text === "*") return "*"
  if (!NUMBER.test(text)) return undefined
  const n = Number(text)
  return n > MAX ? undefined : n
}

export const parse = (text: string): ReadonlyArray<Range> | undefined => {
  const ranges: Array<Range> = []
  for (const item of text.split(",")) {
    const colon = item.indexOf(":")
    const from = number(colon === -1 ? item : item.slice(0, colon))
    const to = colon === -1 ? from : number(item.slice(colon + 1))
    if (from === undefined || to === undefined) return undefined
    ranges.push({ from, to })
  }
  return ranges
}

const bounds = (range: Range, star: number): readonly [number, number] => {
  const a = range.from === "*" ? star : range.from
  const b = range.to === "*" ? star : range.to
  return a <= b ? [a, b] : [b, a]
}

/** Indexes (0-based, ascending, distinct) of the messages a sequence-number set names; `undefined` if out of range. */
export const resolveSequence = (ranges: ReadonlyArray<Range>, count: number): ReadonlyArray<number> | undefined => {
  const picked = new Set<number>()
  for (const range of ranges) {
    const [a, b] = bounds(range, count)
    if (count === 0 || b > count) return undefined
    for (let n = a; n <= b; n++) picked.add(n - 1)
  }
  return [...picked].sort((x, y) => x - y)
}

/**
 * Indexes of the messages whose UIDs a UID set names (`uids` ascending). `*` is the highest UID in
 * use, so `n:*` always includes the last message (RFC 9051 §6.4.8).
 */
export const resolveUids = (ranges: ReadonlyArray<Range>, uids: ReadonlyArray<number>): ReadonlyArray<number> => {
  const star = uids.length === 0 ? 0 : uids[uids.length - 1]!
  const picked: Array<number> = []
  for (let i = 0; i < uids.length; i++) {
    const uid = uids[i]!
    if (ranges.some((r) => {
      const [a, b] = bounds(r, star)
      return uid >= a && uid <= b
    })) picked.push(i)
  }
  return picked
}

/** Whether a UID is in the set (`*` = `star`). */
export const contains = (ranges: ReadonlyArray<Range>, value: number, star: number): boolean =>
  ranges.some((r) => {
    const [a, b] = bounds(r, star)
    return value >= a && value <= b
  })

/** The shortest `a:b,c` form of ascending distinct numbers, in the given order (COPYUID keeps order). */
export const format = (numbers: ReadonlyArray<number>): string => {
  const parts: Array<string> = []
  let i = 0
  while (i < numbers.length) {
    let j = i
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j]! + 1) j++
    parts.push(i === j ? String(numbers[i]) : `${numbers[i]}:${numbers[j]}`)
    i = j + 1
  }
  return parts.join(",")
}
