/**
 * INTERNALDATE `date-time` (RFC 9051 §9) to epoch milliseconds, without `Date` parsing:
 * `dd-Mon-yyyy hh:mm:ss +zzzz`, where the day may be `SP DIGIT` (date-day-fixed). A single-digit
 * day without the space is accepted too (lenient; the date still parses unambiguously).
 */

const digit = (s: string, i: number): number => {
  const c = s.charCodeAt(i) - 0x30
  return c >= 0 && c <= 9 ? c : -1
}

const two = (s: string, i: number): number => {
  const a = digit(s, i)
  const b = digit(s, i + 1)
  return a < 0 || b < 0 ? -1 : a * 10 + b
}

// Month index from the three letters, case-insensitive (RFC 9051 date-month).
const month = (s: string, i: number): number => {
  const key = ((s.charCodeAt(i) | 0x20) << 16) | ((s.charCodeAt(i + 1) | 0x20) << 8) | (s.charCodeAt(i + 2) | 0x20)
  return MONTHS.indexOf(key)
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].map(
  (m) => (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2)
)

/**
 * Epoch milliseconds of an IMAP `date-time` (without its quotes), or `undefined`: all of `s`, or
 * `s[from, to)` (a date inside a response line: indexing the line is cheaper than indexing a slice
 * of it, which V8 resolves to its parent on every read).
 */
export const parseDateTime = (s: string, from = 0, to = s.length): number | undefined => {
  let i = from
  while (i < to && s.charCodeAt(i) === 0x20) i++
  let day = digit(s, i)
  if (day < 0) return undefined
  i++
  const d2 = digit(s, i)
  if (d2 >= 0) {
    day = day * 10 + d2
    i++
  }
  if (s.charCodeAt(i) !== 0x2d) return undefined
  const mon = month(s, i + 1)
  if (mon < 0 || s.charCodeAt(i + 4) !== 0x2d) return undefined
  i += 5
  const y1 = two(s, i)
  const y2 = two(s, i + 2)
  if (y1 < 0 || y2 < 0 || s.charCodeAt(i + 4) !== 0x20) return undefined
  i += 5
  const hh = two(s, i)
  const mm = two(s, i + 3)
  const ss = two(s, i + 6)
  if (hh < 0 || mm < 0 || ss < 0 || s.charCodeAt(i + 2) !== 0x3a || s.charCodeAt(i + 5) !== 0x3a) return undefined
  i += 8
  if (s.charCodeAt(i) !== 0x20) return undefined
  const sign = s.charCodeAt(i + 1)
  const zh = two(s, i + 2)
  const zm = two(s, i + 4)
  if ((sign !== 0x2b && sign !== 0x2d) || zh < 0 || zm < 0 || i + 6 !== to) return undefined
  if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59) return undefined
  const offset = (zh * 60 + zm) * 60
  const seconds = ((daysFromCivil(y1 * 100 + y2, mon + 1, day) * 24 + hh) * 60 + mm) * 60 + ss
  return (sign === 0x2b ? seconds - offset : seconds + offset) * 1000
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
const daysFromCivil = (year: number, month: number, day: number): number => {
  const y = month <= 2 ? year - 1 : year
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}
