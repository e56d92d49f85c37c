/**
 * SEARCH criteria (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 7162 §3.1.5 MODSEQ) and ESEARCH result
 * options (RFC 4731): parsed from command tokens, evaluated against a session's view.
 *
 * String matches are substring matches, case-insensitive for ASCII letters, on the raw bytes (no
 * MIME or RFC 2047 decoding). Dates compare calendar days in the date's own zone.
 *
 * @internal
 */
import * as Dates from "./dates.ts"
import * as Mime from "./mime.ts"
import { binary } from "./out.ts"
import type { Token } from "./reader.ts"
import * as Sequence from "./sequence.ts"
import * as Store from "./store.ts"

export type Key =
  | { readonly _tag: "All" }
  | { readonly _tag: "Flag"; readonly flag: string; readonly set: boolean }
  | { readonly _tag: "Recent"; readonly set: boolean }
  | { readonly _tag: "New" }
  | { readonly _tag: "Header"; readonly field: string; readonly value: string }
  | { readonly _tag: "Body"; readonly value: string }
  | { readonly _tag: "Text"; readonly value: string }
  | {
    readonly _tag: "Date"
    readonly sent: boolean
    readonly op: "before" | "on" | "since"
    readonly day: Dates.Day
  }
  | { readonly _tag: "Size"; readonly larger: boolean; readonly size: number }
  | { readonly _tag: "Not"; readonly key: Key }
  | { readonly _tag: "Or"; readonly left: Key; readonly right: Key }
  | { readonly _tag: "And"; readonly keys: ReadonlyArray<Key> }
  | { readonly _tag: "Sequence"; readonly ranges: ReadonlyArray<Sequence.Range> }
  | { readonly _tag: "Uid"; readonly ranges: ReadonlyArray<Sequence.Range> }
  | { readonly _tag: "ModSeq"; readonly modseq: number }

export type ReturnOption = "MIN" | "MAX" | "COUNT" | "ALL"

export interface Query {
  readonly key: Key
  /** `undefined`: a plain SEARCH (`* SEARCH` response); else ESEARCH with these options. */
  readonly returns: ReadonlyArray<ReturnOption> | undefined
  /** Whether MODSEQ was used (CONDSTORE: the response carries the highest mod-sequence). */
  readonly modseq: boolean
}

export type Parsed =
  | { readonly _tag: "Query"; readonly query: Query }
  | { readonly _tag: "Error"; readonly status: "BAD" | "NO"; readonly text: string }

const FLAG_KEYS: Record<string, readonly [string, boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false]
}

const HEADER_KEYS: Record<string, string> = { FROM: "from", TO: "to", CC: "cc", BCC: "bcc", SUBJECT: "subject" }

const DATE_KEYS: Record<string, readonly [boolean, "before" | "on" | "since"]> = {
  BEFORE: [false, "before"],
  ON: [false, "on"],
  SINCE: [false, "since"],
  SENTBEFORE: [true, "before"],
  SENTON: [true, "on"],
  SENTSINCE: [true, "since"]
}

const MAX_DEPTH = 64

interface Failure {
  readonly _tag: "SearchFailure"
  readonly status: "BAD" | "NO"
  readonly text: string
}

const fail = (status: "BAD" | "NO", text: string): never => {
  const failure: Failure = { _tag: "SearchFailure", status, text }
  throw failure
}

const isFailure = (error: unknown): error is Failure =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "SearchFailure"

/** The text of an astring / string token (binary string). */
export const stringOf = (token: Token | undefined): string | undefined => {
  if (token === undefined) return undefined
  switch (token._tag) {
    case "Atom":
    case "Quoted":
      return token.value
    case "Literal":
      return binary(token.bytes)
    case "List":
      return undefined
  }
}

export const parse = (args: ReadonlyArray<Token>, esearch: boolean): Parsed => {
  let i = 0
  let returns: Array<ReturnOption> | undefined
  let modseq = false
  const atom = (t: Token | undefined) => (t?._tag === "Atom" ? t.value.toUpperCase() : undefined)
  if (atom(args[0]) === "RETURN") {
    if (!esearch) return { _tag: "Error", status: "BAD", text: "Unknown argument RETURN." }
    const list = args[1]
    if (list?._tag !== "List") return { _tag: "Error", status: "BAD", text: "RETURN needs a list." }
    returns = []
    for (const item of list.items) {
      const option = atom(item)
      if (option !== "MIN" && option !== "MAX" && option !== "COUNT" && option !== "ALL") {
        return { _tag: "Error", status: "BAD", text: `Unsupported RETURN option ${stringOf(item) ?? "()"}.` }
      }
      returns.push(option)
    }
    if (returns.length === 0) returns.push("ALL")
    i = 2
  }
  if (atom(args[i]) === "CHARSET") {
    const charset = stringOf(args[i + 1])?.toUpperCase()
    if (charset === undefined) return { _tag: "Error", status: "BAD", text: "Missing charset." }
    if (charset !== "UTF-8" && charset !== "US-ASCII") {
      return { _tag: "Error", status: "NO", text: "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset." }
    }
    i += 2
  }

  const key = (depth: number): Key => {
    if (depth > MAX_DEPTH) return fail("BAD", "Search criteria nested too deeply.")
    const token = args[i++]
    if (token === undefined) return fail("BAD", "Missing search key.")
    if (token._tag === "List") return parseList(token.items, depth + 1)
    const word = token._tag === "Atom" ? token.value.toUpperCase() : ""
    const str = () => {
      const value = stringOf(args[i++])
      if (value === undefined) return fail("BAD", `Missing argument of ${word}.`)
      return value
    }
    const num = () => {
      const text = stringOf(args[i++]) ?? ""
      if (!/^\d{1,19}$/.test(text)) return fail("BAD", `Invalid number in ${word}.`)
      return Number(text)
    }
    const flag = FLAG_KEYS[word]
    if (flag !== undefined) return { _tag: "Flag", flag: flag[0], set: flag[1] }
    const header = HEADER_KEYS[word]
    if (header !== undefined) return { _tag: "Header", field: header, value: str() }
    const date = DATE_KEYS[word]
    if (date !== undefined) {
      const day = Dates.parseSearchDate(str())
      if (day === undefined) return fail("BAD", `Invalid date in ${word}.`)
      return { _tag: "Date", sent: date[0], op: date[1], day }
    }
    switch (word) {
      case "ALL":
        return { _tag: "All" }
      case "RECENT":
        return { _tag: "Recent", set: true }
      case "OLD":
        return { _tag: "Recent", set: false }
      case "NEW":
        return { _tag: "New" }
      case "KEYWORD":
        return { _tag: "Flag", flag: str(), set: true }
      case "UNKEYWORD":
        return { _tag: "Flag", flag: str(), set: false }
      case "HEADER": {
        const field = str().toLowerCase()
        return { _tag: "Header", field, value: str() }
      }
      case "BODY":
        return { _tag: "Body", value: str() }
      case "TEXT":
        return { _tag: "Text", value: str() }
      case "LARGER":
        return { _tag: "Size", larger: true, size: num() }
      case "SMALLER":
        return { _tag: "Size", larger: false, size: num() }
      case "NOT":
        return { _tag: "Not", key: key(depth + 1) }
      case "OR": {
        const left = key(depth + 1)
        return { _tag: "Or", left, right: key(depth + 1) }
      }
      case "UID": {
        const ranges = Sequence.parse(stringOf(args[i++]) ?? "")
        if (ranges === undefined) return fail("BAD", "Invalid UID set.")
        return { _tag: "Uid", ranges }
      }
      case "MODSEQ": {
        // RFC 7162 §3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer
        if (args[i]?._tag === "Quoted") i += 2
        modseq = true
        return { _tag: "ModSeq", modseq: num() }
      }
    }
    if (token._tag === "Atom") {
      const ranges = Sequence.parse(token.value)
      if (ranges !== undefined) return { _tag: "Sequence", ranges }
    }
    return fail("BAD", `Unknown search key ${stringOf(token) ?? ""}.`)
  }

  const parseList = (items: ReadonlyArray<Token>, depth: number): Key => {
    const outer = args
    const outerI = i
    args = items
    i = 0
    const keys: Array<Key> = []
    while (i < args.length) keys.push(key(depth))
    args = outer
    i = outerI
    if (keys.length === 0) return fail("BAD", "Empty search list.")
    return keys.length === 1 ? keys[0]! : { _tag: "And", keys }
  }

  try {
    const keys: Array<Key> = []
    while (i < args.length) keys.push(key(0))
    if (keys.length === 0) return { _tag: "Error", status: "BAD", text: "Missing search criteria." }
    const combined: Key = keys.length === 1 ? keys[0]! : { _tag: "And", keys }
    return { _tag: "Query", query: { key: combined, returns, modseq } }
  } catch (error) {
    return isFailure(error)
      ? { _tag: "Error", status: error.status, text: error.text }
      : { _tag: "Error", status: "BAD", text: "Invalid search criteria." }
  }
}

export interface Context {
  readonly view: ReadonlyArray<Store.Message>
  readonly recent: ReadonlySet<number>
}

const lowerAscii = (text: string): string => text.replace(/[A-Z]+/g, (m) => m.toLowerCase())

const includes = (haystack: string, needle: string): boolean => lowerAscii(haystack).includes(lowerAscii(needle))

/** Whether the message at `index` of the view matches. */
export const matches = (key: Key, context: Context, index: number): boolean => {
  const message = context.view[index]!
  switch (key._tag) {
    case "All":
      return true
    case "Flag": {
      const has = [...message.flags].some((f) => f.toLowerCase() === key.flag.toLowerCase())
      return has === key.set
    }
    case "Recent":
      return context.recent.has(message.uid) === key.set
    case "New":
      return context.recent.has(message.uid) && !message.flags.has("\\Seen")
    case "Header": {
      const fields = Store.structure(message).fields.filter((f) => f.lower === key.field)
      return fields.some((f) => includes(f.value, key.value))
    }
    case "Body": {
      const root = Store.structure(message)
      return includes(binary(message.bytes.subarray(root.bodyStart, root.end)), key.value)
    }
    case "Text":
      return includes(binary(message.bytes), key.value)
    case "Date": {
      let day: Dates.Day | undefined
      if (key.sent) {
        const value = Mime.field(Store.structure(message), "date")?.value
        day = value === undefined ? undefined : Dates.headerDay(value)
        // RFC 9051 §6.4.4: a missing or unreadable Date: falls back to the internal date.
        day ??= Dates.internalDay(message.internalDate)
      } else {
        day = Dates.internalDay(message.internalDate)
      }
      return key.op === "before" ? day < key.day : key.op === "on" ? day === key.day : day >= key.day
    }
    case "Size":
      return key.larger ? message.bytes.length > key.size : message.bytes.length < key.size
    case "Not":
      return !matches(key.key, context, index)
    case "Or":
      return matches(key.left, context, index) || matches(key.right, context, index)
    case "And":
      return key.keys.every((k) => matches(k, context, index))
    case "Sequence":
      return Sequence.contains(key.ranges, index + 1, context.view.length)
    case "Uid": {
      const star = context.view.length === 0 ? 0 : context.view[context.view.length - 1]!.uid
      return Sequence.contains(key.ranges, message.uid, star)
    }
    case "ModSeq":
      return message.modseq >= key.modseq
  }
}
