/**
 * IMAP dates: INTERNALDATE `date-time` (RFC 9051 §9, `"dd-Mon-yyyy hh:mm:ss +zzzz"`), SEARCH
 * `date` (`d-Mon-yyyy`), and the calendar day of an RFC 5322 `Date:` header (SENTBEFORE/SENTON/
 * SENTSINCE compare days, "disregarding time and timezone", RFC 9051 §6.4.4).
 *
 * @internal
 */

/** A point in time with the zone it was given in. */
export interface InternalDate {
  readonly millis: number
  /** Offset from UTC in minutes (e.g. -420 for -0700). */
  readonly offset: number
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

const monthIndex = (name: string): number => MONTHS.findIndex((m) => m.toLowerCase() === name.toLowerCase())

const pad = (n: number, width = 2): string => String(n).padStart(width, "0")

/** `"17-Jul-1996 02:44:25 -0700"` without the quotes. */
export const format = (date: InternalDate): string => {
  const local = new Date(date.millis + date.offset * 60_000)
  const sign = date.offset < 0 ? "-" : "+"
  const abs = Math.abs(date.offset)
  return `${pad(local.getUTCDate())}-${MONTHS[local.getUTCMonth()]}-${pad(local.getUTCFullYear(), 4)} ` +
    `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
}

const DATE_TIME = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/

/** Parses an APPEND `date-time` (the quoted string's content). */
export const parseDateTime = (text: string): InternalDate | undefined => {
  const m = DATE_TIME.exec(text)
  if (m === null) return undefined
  const month = monthIndex(m[2]!)
  const day = Number(m[1])
  const [h, min, s] = [Number(m[4]), Number(m[5]), Number(m[6])]
  if (month === -1 || day < 1 || day > 31 || h > 23 || min > 59 || s > 60) return undefined
  const offset = (m[7] === "-" ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]))
  const local = Date.UTC(Number(m[3]), month, day, h, min, s)
  return { millis: local - offset * 60_000, offset }
}

/** A calendar day as a comparable number (yyyymmdd). */
export type Day = number

const dayOf = (year: number, month: number, day: number): Day => year * 10_000 + (month + 1) * 100 + day

/** SEARCH `date`: `d-Mon-yyyy`. */
export const parseSearchDate = (text: string): Day | undefined => {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text)
  if (m === null) return undefined
  const month = monthIndex(m[2]!)
  const day = Number(m[1])
  return month === -1 || day < 1 || day > 31 ? undefined : dayOf(Number(m[3]), month, day)
}

/** The day of an internal date, in its own zone. */
export const internalDay = (date: InternalDate): Day => {
  const local = new Date(date.millis + date.offset * 60_000)
  return dayOf(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate())
}

/** The day of an RFC 5322 date (`[Mon, ]d Mon yyyy ...`), `undefined` if unreadable. */
export const headerDay = (value: string): Day | undefined => {
  const m = /(?:^|[\s,])(\d{1,2})\s+([A-Za-z]{3})\s+(\d{2,4})\b/.exec(value)
  if (m === null) return undefined
  const month = monthIndex(m[2]!)
  let year = Number(m[3])
  // RFC 5322 §4.3 obs-year
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900
  return month === -1 ? undefined : dayOf(year, month, Number(m[1]))
}
