/**
 * FETCH data (RFC 9051 §7.5.2 `msg-att`), decoded straight into typed values: no generic token
 * tree is built and walked a second time. ENVELOPE and BODYSTRUCTURE are here too, and the
 * classifier that decides, before a large literal arrives, whether it is a body section to stream.
 */
import type * as ImapResponse from "../ImapResponse.ts"
import { parseDateTime } from "./datetime.ts"
import { append, type Reader, record } from "./reader.ts"
import { decodeEncodedWords } from "./rfc2047.ts"

/** Writable, every key required (values may still be `undefined`): the fixed shapes being built. */
type Building<T> = { -readonly [K in keyof T]-?: T[K] }

const SP = 0x20
const LPAREN = 0x28
const RPAREN = 0x29
const LT = 0x3c
const GT = 0x3e
const LBRACKET = 0x5b
const RBRACKET = 0x5d
const DQUOTE = 0x22
const BACKSLASH = 0x5c

const NO_ADDRESSES: ImapResponse.AddressList = Object.freeze([])
const NO_PARAMS: ImapResponse.BodyParams = Object.freeze(record<string>())

// -------------------------------------------------------------------------------------------------
// section and origin: "[" section-spec "]" ["<" number ">"]

/** The section text between the brackets, as sent: cursor on "[", left after "]". */
const section = (r: Reader): string => {
  const s = r.s
  const a = r.p + 1
  const close = s.indexOf("]", a)
  if (close === a) {
    r.p = close + 1
    return ""
  }
  const quote = s.indexOf('"', a)
  if (close > 0 && (quote < 0 || quote > close)) {
    r.p = close + 1
    return r.text(a, close)
  }
  // a quoted header-fld-name may hold "]": walk it
  let k = a
  for (;;) {
    if (k >= r.n) {
      r.p = k
      r.fail("section", "unterminated section")
    }
    const c = s.charCodeAt(k)
    if (c === RBRACKET) break
    if (c === DQUOTE) {
      k++
      while (k < r.n && s.charCodeAt(k) !== DQUOTE) k += s.charCodeAt(k) === BACKSLASH ? 2 : 1
    }
    k++
  }
  r.p = k + 1
  return r.text(a, k)
}

/** "<" number ">" after a section, or -1. */
const origin = (r: Reader): number => {
  if (r.peek() !== LT) return -1
  r.p++
  const n = r.number("section-partial")
  r.expect(GT, "section-partial")
  return n
}

/** The value of BODY[...] / BINARY[...]: nstring, literal or literal8, possibly streamed. */
const sectionValue = (r: Reader, sec: string, from: number): ImapResponse.BodySection => {
  if (r.isLiteral()) {
    const k = r.literal("msg-att-body-section")
    const bytes = r.lits[k]
    if (bytes === undefined) {
      const size = r.litSizes[k]!
      return from < 0
        ? { section: sec, bytes: null, streamed: true, size }
        : { section: sec, origin: from, bytes: null, streamed: true, size }
    }
    return from < 0 ? { section: sec, bytes } : { section: sec, origin: from, bytes }
  }
  const bytes = r.nstringBytes("msg-att-body-section")
  return from < 0 ? { section: sec, bytes } : { section: sec, origin: from, bytes }
}

// -------------------------------------------------------------------------------------------------
// msg-att

/** `"(" msg-att *(SP msg-att) ")"` after `* n FETCH SP`. */
export const fetch = (r: Reader, seq: number): ImapResponse.Fetch => {
  r.expect(LPAREN, "msg-att")
  const a: Building<ImapResponse.FetchAttributes> = {
    uid: undefined,
    flags: undefined,
    internalDate: undefined,
    internalDateMillis: undefined,
    rfc822Size: undefined,
    envelope: undefined,
    bodyStructure: undefined,
    bodySections: undefined,
    binarySections: undefined,
    binarySizes: undefined,
    modseq: undefined,
    emailId: undefined,
    threadId: undefined,
    rfc822: undefined,
    rfc822Header: undefined,
    rfc822Text: undefined,
    preview: undefined,
    saveDate: undefined,
    unknown: undefined
  }
  if (!r.eat(RPAREN)) {
    for (;;) {
      attribute(r, a, attributeName(r))
      if (r.eat(RPAREN)) break
      r.sp("msg-att")
      if (r.eat(RPAREN)) break // lenient: SP before ")"
    }
  }
  return { _tag: "Fetch", seq, attributes: a }
}

const ATTRIBUTES = [
  "UID",
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODY",
  "BODYSTRUCTURE",
  "BINARY",
  "BINARY.SIZE",
  "MODSEQ",
  "EMAILID",
  "THREADID",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
  "PREVIEW",
  "SAVEDATE"
]

const ATTRIBUTES_BY_LENGTH: Array<ReadonlyArray<string> | undefined> = (() => {
  const t: Array<Array<string> | undefined> = []
  for (const name of ATTRIBUTES) (t[name.length] ??= []).push(name)
  return t
})()

const knownAttribute = (s: string, a: number, b: number): string | undefined => {
  const candidates = ATTRIBUTES_BY_LENGTH[b - a]
  if (candidates !== undefined) {
    for (const name of candidates) if (s.startsWith(name, a)) return name
  }
  return undefined
}

// Known names by their first char (as servers send them: uppercase), a name before any it prefixes.
const ATTRIBUTES_BY_FIRST: Array<ReadonlyArray<string> | undefined> = (() => {
  const t: Array<Array<string> | undefined> = []
  for (const name of ATTRIBUTES) (t[name.charCodeAt(0)] ??= []).push(name)
  return t
})()

/** NAME chars (see `Reader.name`): letters, digits, ".", "-", "_". */
const isNameChar = (c: number): boolean =>
  (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d ||
  c === 0x5f

/** The attribute name: a shared constant string for known names (no slice on the hot path),
 * uppercased otherwise (keywords are case-insensitive, RFC 9051 §9 note 1). */
const attributeName = (r: Reader): string => {
  const s = r.s
  const a = r.p
  // a known name as sent by servers: found from its first char, without scanning the name first
  const guesses = ATTRIBUTES_BY_FIRST[s.charCodeAt(a)]
  if (guesses !== undefined) {
    for (let k = 0; k < guesses.length; k++) {
      const name = guesses[k]!
      if (s.startsWith(name, a) && !isNameChar(s.charCodeAt(a + name.length))) {
        r.p = a + name.length
        return name
      }
    }
  }
  const b = r.nameEnd("msg-att")
  const known = knownAttribute(r.s, a, b)
  if (known !== undefined) return known
  const upper = r.s.slice(a, b).toUpperCase()
  return knownAttribute(upper, 0, upper.length) ?? upper
}

const attribute = (r: Reader, a: Building<ImapResponse.FetchAttributes>, name: string): void => {
  switch (name) {
    case "UID":
      r.sp("msg-att-dynamic")
      a.uid = r.number("uniqueid")
      return
    case "FLAGS":
      r.sp("msg-att-dynamic")
      a.flags = r.flagList("flag-fetch")
      return
    case "INTERNALDATE": {
      r.sp("msg-att-static")
      const seg = r.i
      const at = r.p
      const d = r.nstring("date-time") // lenient: NIL is accepted and leaves the field undefined
      if (d !== null) {
        a.internalDate = d
        // read in the line when it is there as sent (quoted, no escapes)
        const ms = r.i === seg && r.p - at - 2 === d.length && r.s.charCodeAt(at) === DQUOTE
          ? parseDateTime(r.s, at + 1, r.p - 1)
          : parseDateTime(d)
        if (ms !== undefined) a.internalDateMillis = ms
      }
      return
    }
    case "RFC822.SIZE":
      r.sp("msg-att-static")
      a.rfc822Size = r.number("number64")
      return
    case "ENVELOPE":
      r.sp("msg-att-static")
      a.envelope = envelope(r)
      return
    case "BODY":
      if (r.peek() === LBRACKET) {
        const sec = section(r)
        const from = origin(r)
        r.sp("msg-att-static")
        a.bodySections = append(a.bodySections as Array<ImapResponse.BodySection> | undefined, sectionValue(r, sec, from))
        return
      }
      r.sp("msg-att-static")
      a.bodyStructure = body(r)
      return
    case "BODYSTRUCTURE":
      r.sp("msg-att-static")
      a.bodyStructure = body(r)
      return
    case "BINARY": {
      if (r.peek() !== LBRACKET) r.fail("msg-att-static", "expected section after BINARY")
      const sec = section(r)
      const from = origin(r)
      r.sp("msg-att-static")
      a.binarySections = append(a.binarySections as Array<ImapResponse.BodySection> | undefined, sectionValue(r, sec, from))
      return
    }
    case "BINARY.SIZE": {
      if (r.peek() !== LBRACKET) r.fail("msg-att-static", "expected section after BINARY.SIZE")
      const sec = section(r)
      r.sp("msg-att-static")
      a.binarySizes = append(a.binarySizes as Array<ImapResponse.BinarySize> | undefined, {
        section: sec,
        size: r.number("number")
      })
      return
    }
    case "MODSEQ":
      // RFC 7162 §3.1.4: "MODSEQ" SP "(" permsg-modsequence ")"
      r.sp("fetch-mod-resp")
      a.modseq = r.inParens("fetch-mod-resp", () => r.number64("permsg-modsequence"))
      return
    case "EMAILID":
      // RFC 8474 §5.1: "EMAILID" SP "(" objectid ")"
      r.sp("fetch-emailid-resp")
      a.emailId = r.inParens("fetch-emailid-resp", () => r.atom("objectid"))
      return
    case "THREADID":
      // RFC 8474 §5.2: "THREADID" SP ( "(" objectid ")" / nil )
      r.sp("fetch-threadid-resp")
      a.threadId = r.nil() ? null : r.inParens("fetch-threadid-resp", () => r.atom("objectid"))
      return
    case "RFC822":
      r.sp("msg-att-static")
      a.rfc822 = r.nstringBytes("msg-att-static")
      return
    case "RFC822.HEADER":
      r.sp("msg-att-static")
      a.rfc822Header = r.nstringBytes("msg-att-static")
      return
    case "RFC822.TEXT":
      r.sp("msg-att-static")
      a.rfc822Text = r.nstringBytes("msg-att-static")
      return
    case "PREVIEW":
      // RFC 8970 §2: "PREVIEW" SP nstring (a list here is an older draft's form: kept as unknown)
      r.sp("msg-att-static")
      if (r.peek() === LPAREN) unknownAttribute(r, a, name)
      else a.preview = r.nstring("preview")
      return
    case "SAVEDATE": {
      // RFC 8514 §4: "SAVEDATE" SP (date-time / nil)
      r.sp("msg-att-static")
      a.saveDate = r.nstring("date-time")
      return
    }
    default: {
      if (r.peek() === LBRACKET) {
        const sec = section(r)
        const from = origin(r)
        r.sp("msg-att")
        unknownAttribute(r, a, `${name}[${sec}]${from < 0 ? "" : `<${from}>`}`)
        return
      }
      r.sp("msg-att")
      unknownAttribute(r, a, name)
    }
  }
}

const unknownAttribute = (r: Reader, a: Building<ImapResponse.FetchAttributes>, name: string): void => {
  a.unknown = append(a.unknown as Array<ImapResponse.NamedValue> | undefined, { name, value: r.value("msg-att") })
}

// -------------------------------------------------------------------------------------------------
// envelope (RFC 9051 §7.5.2, RFC 3501 §7.4.2)

/** `envelope`: cursor on "(". */
export const envelope = (r: Reader): ImapResponse.Envelope => {
  r.expect(LPAREN, "envelope")
  const date = r.nstring("env-date")
  r.sp("envelope")
  const subjectRaw = r.nstring("env-subject")
  r.sp("envelope")
  const fromSeg = r.i
  const fromStart = r.p
  const from = addressList(r, "env-from")
  // Servers fill Sender and Reply-To from From when the header lacks them (RFC 3501 §7.4.2), so
  // the same list text usually follows: reuse the (immutable) value instead of building it again.
  const fromText = r.i === fromSeg && r.s.charCodeAt(fromStart) === LPAREN ? r.s.slice(fromStart, r.p) : ""
  r.sp("envelope")
  const sender = fromText !== "" && r.i === fromSeg && r.repeats(fromText) ? from : addressList(r, "env-sender")
  r.sp("envelope")
  const replyTo = fromText !== "" && r.i === fromSeg && r.repeats(fromText) ? from : addressList(r, "env-reply-to")
  r.sp("envelope")
  const to = addressList(r, "env-to")
  r.sp("envelope")
  const cc = addressList(r, "env-cc")
  r.sp("envelope")
  const bcc = addressList(r, "env-bcc")
  r.sp("envelope")
  const inReplyTo = r.nstring("env-in-reply-to")
  r.sp("envelope")
  const messageId = r.nstring("env-message-id")
  r.expect(RPAREN, "envelope")
  return {
    date,
    subject: subjectRaw === null ? null : decodeEncodedWords(subjectRaw),
    subjectRaw,
    from,
    sender,
    replyTo,
    to,
    cc,
    bcc,
    inReplyTo,
    messageId
  }
}

/** `"(" 1*address ")" / nil`, group markers folded into `Group` values. */
const addressList = (r: Reader, grammar: string): ImapResponse.AddressList => {
  if (r.peek() !== LPAREN) {
    if (r.nil()) return NO_ADDRESSES
    r.fail(grammar, "expected address list")
  }
  r.p++
  // created with its first element: an array literal of one is allocated at its size, where `[]`
  // grows to 17 slots at the first push (most lists hold one address)
  let out: Array<ImapResponse.Address | ImapResponse.Group> | undefined
  let members: Array<ImapResponse.Address> | undefined
  for (;;) {
    const c = r.peek()
    if (c === RPAREN) break
    if (c === SP) {
      r.p++ // lenient: RFC 9051 puts no SP between addresses
      continue
    }
    r.expect(LPAREN, "address")
    const name = r.nstring("addr-name")
    r.sp("address")
    const adl = r.nstring("addr-adl")
    r.sp("address")
    const mailbox = r.nstring("addr-mailbox")
    r.sp("address")
    const host = r.nstring("addr-host")
    r.expect(RPAREN, "address")
    if (host === null) {
      // RFC 3501 §7.4.2: NIL host marks a group; NIL mailbox too ends it.
      if (mailbox === null) members = undefined
      else {
        members = []
        out = append(out, { _tag: "Group", name: decodeEncodedWords(mailbox), members })
      }
      continue
    }
    const address: ImapResponse.Address = {
      _tag: "Address",
      name: name === null ? null : decodeEncodedWords(name),
      adl,
      mailbox,
      host
    }
    if (members === undefined) out = append(out, address)
    else members.push(address)
  }
  r.p++
  return out ?? []
}

// -------------------------------------------------------------------------------------------------
// body structure (RFC 9051 §7.5.2 body, body-type-1part, body-type-mpart), read with an explicit
// stack: multipart bodies and message/rfc822 parts nest, bounded by maxListDepth.

interface MultipartFrame {
  readonly kind: 0
  readonly parts: Array<ImapResponse.BodyStructure>
}

interface MessageFrame {
  readonly kind: 1
  readonly part: Building<ImapResponse.SinglePart>
}

/** Consumes SP when more fields follow; a lone SP before ")" is skipped (lenient). */
const more = (r: Reader): boolean => {
  if (r.peek() !== SP) return false
  r.p++
  return r.peek() !== RPAREN
}

/** `body`: cursor on "(". */
export const body = (r: Reader): ImapResponse.BodyStructure => {
  const stack: Array<MultipartFrame | MessageFrame> = []
  for (;;) {
    r.expect(LPAREN, "body")
    if (stack.length + 1 > r.maxListDepth) r.depthExceeded(stack.length + 1)
    if (r.peek() === LPAREN) {
      stack.push({ kind: 0, parts: [] })
      continue
    }
    const part = bodyFields(r)
    if (
      part.type === "message" &&
      (part.subtype === "rfc822" || part.subtype === "global") &&
      r.spBefore(LPAREN)
    ) {
      // body-type-msg: ... SP envelope SP body SP body-fld-lines
      part.envelope = envelope(r)
      r.sp("body-type-msg")
      stack.push({ kind: 1, part })
      continue
    }
    if (part.type === "text") part.lines = lines(r)
    let node: ImapResponse.BodyStructure = singlePartExtension(r, part)
    for (;;) {
      const top = stack[stack.length - 1]
      if (top === undefined) return node
      if (top.kind === 0) {
        top.parts.push(node)
        if (r.peek() === LPAREN || r.spBefore(LPAREN)) break // next part
        r.sp("body-type-mpart")
        node = multipartExtension(r, top.parts, r.stringOrNil("media-subtype").toLowerCase())
      } else {
        const msg = top.part
        msg.body = node
        msg.lines = lines(r)
        node = singlePartExtension(r, msg)
      }
      stack.pop()
    }
  }
}

/** `SP body-fld-lines` when present (lenient: a missing count is accepted; -1 like octets). */
const lines = (r: Reader): number | undefined => {
  if (r.peek() !== SP) return undefined
  const c = r.s.charCodeAt(r.p + 1)
  if (c !== 0x2d && (c < 0x30 || c > 0x39)) return undefined
  r.p++
  return r.signedNumber("body-fld-lines")
}

/** media type SP subtype SP body-fields (strings where servers send NIL are read as ""). */
const bodyFields = (r: Reader): Building<ImapResponse.SinglePart> => {
  const type = r.stringOrNil("media-type").toLowerCase()
  r.sp("body-type-1part")
  const subtype = r.stringOrNil("media-subtype").toLowerCase()
  r.sp("body-type-1part")
  const params = bodyParams(r, "body-fld-param")
  r.sp("body-fields")
  const id = r.nstring("body-fld-id")
  r.sp("body-fields")
  const description = r.nstring("body-fld-desc")
  r.sp("body-fields")
  const encoding = r.stringOrNil("body-fld-enc")
  r.sp("body-fields")
  const size = r.signedNumber("body-fld-octets")
  return {
    _tag: "SinglePart",
    type,
    subtype,
    params,
    id,
    description,
    encoding,
    size,
    lines: undefined,
    envelope: undefined,
    body: undefined,
    md5: undefined,
    disposition: undefined,
    language: undefined,
    location: undefined,
    extensions: undefined
  }
}

/** [SP body-ext-1part] ")". */
const singlePartExtension = (
  r: Reader,
  part: Building<ImapResponse.SinglePart>
): ImapResponse.SinglePart => {
  if (more(r)) {
    part.md5 = r.nstring("body-fld-md5")
    if (more(r)) extensionTail(r, part)
  }
  r.expect(RPAREN, "body-type-1part")
  return part
}

/** The extension fields both part kinds share, which the caller has checked are there. */
type ExtensionTail = Building<Pick<ImapResponse.Multipart, "disposition" | "language" | "location" | "extensions">>

/** `body-fld-dsp [SP body-fld-lang [SP body-fld-loc *(SP body-extension)]]`. */
const extensionTail = (r: Reader, into: ExtensionTail): void => {
  into.disposition = disposition(r)
  if (!more(r)) return
  into.language = language(r)
  if (!more(r)) return
  into.location = r.nstring("body-fld-loc")
  let ext: Array<ImapResponse.Value> | undefined
  while (more(r)) ext = append(ext, r.value("body-extension"))
  into.extensions = ext
}

/** [SP body-ext-mpart] ")" after the subtype. */
const multipartExtension = (
  r: Reader,
  parts: ReadonlyArray<ImapResponse.BodyStructure>,
  subtype: string
): ImapResponse.Multipart => {
  const m: Building<ImapResponse.Multipart> = {
    _tag: "Multipart",
    parts,
    subtype,
    params: undefined,
    disposition: undefined,
    language: undefined,
    location: undefined,
    extensions: undefined
  }
  if (more(r)) {
    m.params = bodyParams(r, "body-ext-mpart")
    if (more(r)) extensionTail(r, m)
  }
  r.expect(RPAREN, "body-type-mpart")
  return m
}

/** `body-fld-param`: "(" string SP string *(SP string SP string) ")" / nil; "()" accepted. */
const bodyParams = (r: Reader, grammar: string): ImapResponse.BodyParams => {
  if (r.peek() !== LPAREN) {
    if (r.nil()) return NO_PARAMS
    r.fail(grammar, "expected parameter list")
  }
  const params = record<string>()
  r.list(grammar, () => {
    const name = (r.nastring(grammar) ?? "").toLowerCase()
    r.sp(grammar)
    params[name] = r.nastring(grammar) ?? ""
  })
  return params
}

/** `body-fld-dsp`: "(" string SP body-fld-param ")" / nil; a bare string is accepted (lenient). */
const disposition = (r: Reader): ImapResponse.BodyDisposition | null => {
  if (r.peek() === LPAREN) {
    r.p++
    const type = r.stringOrNil("body-fld-dsp")
    r.sp("body-fld-dsp")
    const params = bodyParams(r, "body-fld-dsp")
    r.expect(RPAREN, "body-fld-dsp")
    return { type, params }
  }
  const type = r.nstring("body-fld-dsp")
  return type === null ? null : { type, params: NO_PARAMS }
}

/** `body-fld-lang`: nstring / "(" string *(SP string) ")". */
const language = (r: Reader): Array<string> | null => {
  if (r.peek() !== LPAREN) {
    const one = r.nstring("body-fld-lang")
    return one === null ? null : [one]
  }
  const out: Array<string> = []
  r.list("body-fld-lang", () => out.push(r.string("body-fld-lang")))
  return out
}

// -------------------------------------------------------------------------------------------------
// streaming classifier

/** Where a pending literal goes, when it is a body section value. */
export interface StreamTarget {
  readonly seq: number
  readonly item: "BODY" | "BINARY"
  readonly section: string
  readonly origin: number
}

/**
 * Decides whether the literal announced at the end of the response's last segment (the framer has
 * not received it) is the value of a top-level BODY[...] / BINARY[...] attribute of a FETCH.
 * Walks the attributes received so far; the reader throws NOT_YET if the walk reaches the literal
 * anywhere else. Runs only for literals above `streamLiteralsAbove`.
 */
export const streamTarget = (r: Reader): StreamTarget | undefined => {
  if (r.s.charCodeAt(0) !== 0x2a || r.s.charCodeAt(1) !== SP) return undefined
  r.p = 2
  if (!r.isDigit()) return undefined
  const seq = r.number("message-data")
  r.sp("message-data")
  if (r.keyword("message-data") !== "FETCH") return undefined
  r.sp("message-data")
  r.expect(LPAREN, "msg-att")
  for (;;) {
    const name = r.name("msg-att").toUpperCase()
    let sec: string | undefined
    let from = -1
    if (r.peek() === LBRACKET) {
      sec = section(r)
      from = origin(r)
    }
    r.sp("msg-att")
    if (r.i === r.pending && r.p === r.markers[r.i]) {
      return (name === "BODY" || name === "BINARY") && sec !== undefined
        ? { seq, item: name, section: sec, origin: from }
        : undefined
    }
    r.value("msg-att")
    if (r.eat(RPAREN)) return undefined
    r.sp("msg-att")
  }
}
