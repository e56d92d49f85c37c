/**
 * MAIL FROM / RCPT TO arguments: the path (RFC 5321 §4.1.2) and the ESMTP parameters, checked
 * against the extensions the session advertised (RFC 5321 §4.1.1.11: a parameter of an extension
 * that was not advertised is refused with 555). Replies carry enhanced codes (RFC 3463); the
 * session strips them when ENHANCEDSTATUSCODES is not in force.
 *
 * Parameters: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030 BINARYMIME), SMTPUTF8 (RFC 6531), RET,
 * ENVID, NOTIFY, ORCPT (RFC 3461), AUTH (RFC 4954 §5), REQUIRETLS (RFC 8689).
 *
 * @internal
 */

/** Parameter keyword (upper case) -> value as sent; `true` for a keyword without value. */
export type Params = Readonly<Record<string, string | true>>

export interface Session {
  /** Keywords of the extensions in force (upper case), with their arguments. */
  readonly extensions: ReadonlyMap<string, string>
  readonly secure: boolean
  readonly maxMessageSize: number
  /** MAIL FROM had SMTPUTF8 (RCPT only). */
  readonly smtpUtf8: boolean
}

export type Parsed =
  | { readonly _tag: "Ok"; readonly address: string; readonly params: Params }
  | { readonly _tag: "Refused"; readonly reply: string }

const refused = (reply: string): Parsed => ({ _tag: "Refused", reply })

const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/
// RFC 5321 §4.1.2 esmtp-value: %d33-60 / %d62-126 (no "=", no SP); RFC 6531 §3.3 adds UTF-8.
const VALUE = /^[\x21-\x3c\x3e-\x7e]+$/
const VALUE_UTF8 = /^[\x21-\x3c\x3e-\x7e\x80-\xff]+$/
// RFC 3461 §4 xtext: xchar (%d33-126 but "+" and "=") or "+" two upper-case hex digits.
const XTEXT = /^(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})*$/
const NON_ASCII = /[\x80-\xff]/
// Control characters and spaces outside a quoted local part.
const ADDRESS_CHAR = /^[\x21-\x7e\x80-\xff]$/

/** RFC 3461 §4: xtext to text (`+2B` -> `+`). */
export const decodeXtext = (xtext: string): string =>
  xtext.replace(/\+([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))

const toUtf8 = (latin1: string): string => Buffer.from(latin1, "latin1").toString("utf8")

/**
 * `<path>` at the start of `text`: the address inside the brackets (latin1) and the index after
 * `>`, or `undefined` when malformed. Quoted local parts may hold `>` and spaces.
 */
const path = (text: string): { readonly address: string; readonly end: number } | undefined => {
  if (text[0] !== "<") return undefined
  let quoted = false
  for (let i = 1; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === "\\") i++
      else if (c === "\"") quoted = false
      else if (c < " " || c === "\x7f") return undefined
      continue
    }
    if (c === "\"") quoted = true
    else if (c === ">") return { address: text.slice(1, i), end: i + 1 }
    else if (!ADDRESS_CHAR.test(c) || c === "<") return undefined
  }
  return undefined
}

const mailbox = (address: string): boolean => {
  const at = address.lastIndexOf("@")
  return at > 0 && at < address.length - 1
}

/**
 * Parses `FROM:<path> params` / `TO:<path> params` (the text after the verb and its space).
 */
export const parse = (verb: "MAIL" | "RCPT", argument: string, session: Session): Parsed => {
  const prefix = verb === "MAIL" ? "FROM:" : "TO:"
  const syntax = refused(`501 5.5.4 Syntax: ${verb} ${prefix}<address>`)
  if (argument.slice(0, prefix.length).toUpperCase() !== prefix) return syntax
  const rest = argument.slice(prefix.length)
  const found = path(rest)
  if (found === undefined) return syntax
  // RFC 5321 §4.1.1.3: "<Postmaster>" needs no domain; MAIL takes the null path "<>".
  const address = found.address
  const valid = verb === "MAIL"
    ? address === "" || mailbox(address)
    : mailbox(address) || address.toLowerCase() === "postmaster"
  if (!valid) return refused(`501 5.1.3 Bad ${verb === "MAIL" ? "sender" : "recipient"} address syntax`)
  const tail = rest.slice(found.end)
  if (tail !== "" && tail[0] !== " ") return syntax
  const params = parseParams(verb, tail === "" ? [] : tail.slice(1).split(" "), session)
  if (params._tag === "Refused") return params
  const utf8 = verb === "MAIL" ? params.params["SMTPUTF8"] === true : session.smtpUtf8
  // RFC 6531 §3.7.4.1: a non-ASCII address needs the SMTPUTF8 transaction.
  if (NON_ASCII.test(address) && !utf8) {
    return refused(`553 5.6.7 ${verb === "MAIL" ? "Sender" : "Recipient"} address needs SMTPUTF8`)
  }
  return { _tag: "Ok", address: toUtf8(address), params: params.params }
}

type ParamsResult = { readonly _tag: "Ok"; readonly params: Params } | { readonly _tag: "Refused"; readonly reply: string }

const parseParams = (verb: "MAIL" | "RCPT", tokens: ReadonlyArray<string>, session: Session): ParamsResult => {
  const params: Record<string, string | true> = {}
  const utf8 = verb === "MAIL" ? tokens.some((t) => t.toUpperCase() === "SMTPUTF8") : session.smtpUtf8
  for (const token of tokens) {
    const eq = token.indexOf("=")
    const keyword = (eq === -1 ? token : token.slice(0, eq)).toUpperCase()
    const value = eq === -1 ? true : token.slice(eq + 1)
    if (!KEYWORD.test(keyword)) return { _tag: "Refused", reply: "501 5.5.4 Bad parameter syntax" }
    if (value !== true && !(utf8 ? VALUE_UTF8 : VALUE).test(value)) {
      return { _tag: "Refused", reply: `501 5.5.4 Bad ${keyword} parameter syntax` }
    }
    if (Object.hasOwn(params, keyword)) return { _tag: "Refused", reply: `501 5.5.4 Duplicate ${keyword} parameter` }
    const problem = verb === "MAIL" ? checkMail(keyword, value, session) : checkRcpt(keyword, value, session)
    if (problem !== undefined) return { _tag: "Refused", reply: problem }
    params[keyword] = value
  }
  return { _tag: "Ok", params }
}

const unsupported = (keyword: string) => `555 5.5.4 Unsupported option: ${keyword}`
const bad = (keyword: string) => `501 5.5.4 Bad ${keyword} parameter`

// With SMTPUTF8, RFC 6533 §3 lets UTF-8 stand in xtext.
const xtext = (value: string, utf8: boolean): boolean =>
  XTEXT.test(value) || (utf8 && XTEXT.test(value.replace(/[\x80-\xff]/g, "A")))

const checkMail = (keyword: string, value: string | true, session: Session): string | undefined => {
  const has = (extension: string) => session.extensions.has(extension)
  switch (keyword) {
    case "SIZE": {
      if (!has("SIZE")) return unsupported(keyword)
      if (value === true || !/^\d{1,20}$/.test(value)) return bad(keyword)
      // RFC 1870 §6.1: a declared size above the fixed limit is refused with 552.
      return Number(value) > session.maxMessageSize ? "552 5.3.4 Message size exceeds fixed limit" : undefined
    }
    case "BODY": {
      if (value === true) return bad(keyword)
      const body = value.toUpperCase()
      if (body === "BINARYMIME") return has("BINARYMIME") ? undefined : unsupported(keyword)
      if (body !== "7BIT" && body !== "8BITMIME") return bad(keyword)
      return has("8BITMIME") || has("BINARYMIME") ? undefined : unsupported(keyword)
    }
    case "SMTPUTF8":
      if (!has("SMTPUTF8")) return unsupported(keyword)
      return value === true ? undefined : bad(keyword)
    case "RET":
      if (!has("DSN")) return unsupported(keyword)
      return value === "FULL" || value === "HDRS" ? undefined : bad(keyword)
    case "ENVID":
      if (!has("DSN")) return unsupported(keyword)
      // RFC 3461 §4.4: at most 100 characters.
      return value !== true && value.length > 0 && value.length <= 100 && xtext(value, false) ? undefined : bad(keyword)
    case "AUTH":
      if (!has("AUTH")) return unsupported(keyword)
      return value === "<>" || (value !== true && xtext(value, session.smtpUtf8)) ? undefined : bad(keyword)
    case "REQUIRETLS":
      if (!has("REQUIRETLS")) return unsupported(keyword)
      if (value !== true) return bad(keyword)
      // RFC 8689 §4.1: only over TLS.
      return session.secure ? undefined : "530 5.7.10 REQUIRETLS needs a TLS session"
    default:
      return unsupported(keyword)
  }
}

const NOTIFY = new Set(["SUCCESS", "FAILURE", "DELAY"])

const checkRcpt = (keyword: string, value: string | true, session: Session): string | undefined => {
  switch (keyword) {
    case "NOTIFY": {
      if (!session.extensions.has("DSN")) return unsupported(keyword)
      if (value === true) return bad(keyword)
      const items = value.toUpperCase().split(",")
      // RFC 3461 §4.1: "NEVER" alone, or a list of SUCCESS / FAILURE / DELAY.
      if (items.length === 1 && items[0] === "NEVER") return undefined
      const distinct = new Set(items)
      return distinct.size === items.length && items.every((item) => NOTIFY.has(item)) ? undefined : bad(keyword)
    }
    case "ORCPT": {
      if (!session.extensions.has("DSN")) return unsupported(keyword)
      if (value === true) return bad(keyword)
      // RFC 3461 §4.2: addr-type ";" xtext.
      const semi = value.indexOf(";")
      if (semi <= 0 || !/^[A-Za-z0-9-]+$/.test(value.slice(0, semi))) return bad(keyword)
      return xtext(value.slice(semi + 1), session.smtpUtf8) ? undefined : bad(keyword)
    }
    default:
      return unsupported(keyword)
  }
}
