/**
 * RFC 5321 §4.1.2 / §4.1.3 grammar checks for what the client puts in EHLO, MAIL and RCPT:
 * `Mailbox`, `Domain`, `address-literal`, extended by RFC 6531 §3.3 (UTF-8 in `atext`,
 * `qtextSMTP` and U-labels) when the transaction uses SMTPUTF8. Each check returns `undefined`
 * when the value is valid, else a short reason.
 *
 * @internal
 */

// RFC 5322 §3.2.3 atext as used by RFC 5321 §4.1.2.
const ATEXT = "!#$%&'*+-/=?^_`{|}~"

const isAlnum = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

const isAtext = (c: number, utf8: boolean): boolean =>
  isAlnum(c) || (c < 128 && ATEXT.includes(String.fromCharCode(c))) || (utf8 && c >= 128)

// RFC 5321 §4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126 (+ UTF8-non-ascii, RFC 6531).
const isQtext = (c: number, utf8: boolean): boolean =>
  (c >= 32 && c <= 126 && c !== 34 && c !== 92) || (utf8 && c >= 128)

/** Lone surrogates have no UTF-8 form. */
export const LONE_SURROGATE = /\p{Surrogate}/u

/** `Dot-string` (RFC 5321 §4.1.2). */
const dotString = (s: string, utf8: boolean): string | undefined => {
  if (s.length === 0) return "local part is empty"
  let atomStart = true
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (atomStart) return "local part has an empty atom (leading, trailing or double \".\")"
      atomStart = true
    } else if (isAtext(c, utf8)) {
      atomStart = false
    } else {
      return c >= 128 ? "non-ASCII local part needs SMTPUTF8 (RFC 6531)" : `local part contains ${JSON.stringify(s[i])}`
    }
  }
  return atomStart ? "local part has an empty atom (leading, trailing or double \".\")" : undefined
}

/** Index just after a `Quoted-string` starting at 0, or a reason. */
const quotedString = (s: string, utf8: boolean): number | string => {
  for (let i = 1; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 34) return i + 1
    if (c === 92) {
      const next = s.charCodeAt(i + 1)
      // quoted-pairSMTP = %d92 %d32-126
      if (!(next >= 32 && next <= 126)) return "invalid quoted pair in local part"
      i++
    } else if (!isQtext(c, utf8)) {
      return c >= 128 ? "non-ASCII local part needs SMTPUTF8 (RFC 6531)" : "invalid character in quoted local part"
    }
  }
  return "unterminated quoted local part"
}

const label = (s: string, utf8: boolean): string | undefined => {
  if (s.length === 0) return "domain has an empty label"
  if (s.length > 63) return "domain label longer than 63 characters"
  let ascii = true
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128) {
      if (!utf8) return "non-ASCII domain needs SMTPUTF8 (RFC 6531) or an A-label"
      ascii = false
    } else if (!isAlnum(c) && c !== 45) {
      return `domain contains ${JSON.stringify(s[i])}`
    }
  }
  // RFC 5321 §4.1.2: sub-domain = Let-dig [Ldh-str]: no hyphen first or last.
  if (ascii && (s.charCodeAt(0) === 45 || s.charCodeAt(s.length - 1) === 45)) {
    return "domain label starts or ends with \"-\""
  }
  return undefined
}

/** `Domain` (RFC 5321 §4.1.2), U-labels allowed with `utf8` (RFC 6531 §3.3). */
export const domain = (s: string, utf8: boolean): string | undefined => {
  if (s.length === 0) return "domain is empty"
  if (s.length > 255) return "domain longer than 255 characters (RFC 5321 §4.5.3.1.2)"
  for (const part of s.split(".")) {
    const bad = label(part, utf8)
    if (bad !== undefined) return bad
  }
  return undefined
}

const snum = (s: string): boolean => /^[0-9]{1,3}$/.test(s) && Number(s) <= 255

const ipv4 = (s: string): boolean => {
  const parts = s.split(".")
  return parts.length === 4 && parts.every(snum)
}

const hexGroups = (s: string): number | undefined => {
  if (s === "") return 0
  const groups = s.split(":")
  return groups.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g)) ? groups.length : undefined
}

/** RFC 5321 §4.1.3 `IPv6-addr` (full, compressed, and both with an IPv4 tail). */
export const ipv6 = (s: string): boolean => {
  let body = s
  let extra = 0
  const lastColon = s.lastIndexOf(":")
  if (lastColon !== -1 && s.includes(".", lastColon)) {
    if (!ipv4(s.slice(lastColon + 1))) return false
    // "::1.2.3.4" keeps its "::"; "1:2:3:4:5:6:1.2.3.4" drops the ":" before the IPv4 part.
    body = s.slice(0, s.charCodeAt(lastColon - 1) === 58 ? lastColon + 1 : lastColon)
    extra = 2
  }
  const compressed = body.indexOf("::")
  if (compressed === -1) {
    const n = hexGroups(body)
    return n !== undefined && n + extra === 8
  }
  if (body.indexOf("::", compressed + 1) !== -1) return false
  const left = hexGroups(body.slice(0, compressed))
  const right = hexGroups(body.slice(compressed + 2))
  // RFC 5321 §4.1.3: "::" stands for at least two groups, so at most 6 others.
  return left !== undefined && right !== undefined && left + right + extra <= 6
}

/** `address-literal` (RFC 5321 §4.1.3): `[IPv4]`, `[IPv6:...]` or `[tag:content]`. */
export const addressLiteral = (s: string): string | undefined => {
  if (s.length < 3 || s.charCodeAt(0) !== 91 || s.charCodeAt(s.length - 1) !== 93) return "not an address literal"
  const inner = s.slice(1, -1)
  if (ipv4(inner)) return undefined
  const colon = inner.indexOf(":")
  if (colon <= 0) return "address literal is neither IPv4 nor tag:content"
  const tag = inner.slice(0, colon)
  const content = inner.slice(colon + 1)
  if (tag.toLowerCase() === "ipv6") return ipv6(content) ? undefined : "invalid IPv6 address literal"
  // General-address-literal: Standardized-tag ":" 1*dcontent, dcontent = %d33-90 / %d94-126.
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/.test(tag)) return "invalid address literal tag"
  if (!/^[\x21-\x5a\x5e-\x7e]+$/.test(content)) return "invalid address literal content"
  return undefined
}

/** `Domain / address-literal`. */
export const domainOrLiteral = (s: string, utf8: boolean): string | undefined =>
  s.charCodeAt(0) === 91 ? addressLiteral(s) : domain(s, utf8)

/** `Mailbox = Local-part "@" ( Domain / address-literal )` (RFC 5321 §4.1.2). */
export const mailbox = (s: string, utf8: boolean): string | undefined => {
  let at: number
  if (s.charCodeAt(0) === 34) {
    const end = quotedString(s, utf8)
    if (typeof end === "string") return end
    if (s.charCodeAt(end) !== 64) return "expected \"@\" after the quoted local part"
    at = end
  } else {
    at = s.lastIndexOf("@")
    if (at === -1) return "address has no \"@\""
    const bad = dotString(s.slice(0, at), utf8)
    if (bad !== undefined) return bad
  }
  return domainOrLiteral(s.slice(at + 1), utf8)
}
