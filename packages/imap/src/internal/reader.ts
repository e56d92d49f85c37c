/**
 * Token-level reader over one framed IMAP response (RFC 9051 §4, §9 ABNF).
 *
 * A response arrives from the framer as segments: the text of each line between literals, decoded
 * to a latin1 string once (so string index == byte offset, and every ABNF delimiter is one char),
 * and the literal that ended each segment but the last, kept as bytes. Methods are named after
 * ABNF rules and advance a cursor; a mismatch throws a `MalformedInput` naming the rule, which the
 * parser's `push` turns into a failed `Result` (nothing escapes the public API).
 *
 * Strings that hold 8-bit bytes are UTF-8 (IMAP4rev2 and UTF8=ACCEPT send UTF-8 in quoted strings
 * and text; in IMAP4rev1 8-bit is invalid there, and UTF-8 is the best guess). A segment whose bytes
 * are valid UTF-8 is decoded as UTF-8 once instead (`TEXT_UTF8`: every ABNF delimiter is still one
 * char, and no string needs re-decoding); one that is not stays latin1 and its 8-bit strings are
 * re-decoded one by one (`TEXT_LATIN1`), where invalid bytes become U+FFFD.
 */
import { Buffer } from "node:buffer"
import * as CodecError from "@starttls/core/CodecError"
import type * as ImapResponse from "../ImapResponse.ts"
import { utf8Slice } from "./buffers.ts"

/** Character classes, indexed by char code (latin1 strings: every code is < 256). */
const ATOM = 1 // ATOM-CHAR (RFC 9051 §9); 8-bit accepted leniently
const ASTRING = 2 // ASTRING-CHAR = ATOM-CHAR / resp-specials ("]")
const DIGIT = 4
const WORD = 8 // generic scalar: anything but SP, CTL, "(", ")", DQUOTE
const SEQSET = 16 // sequence-set chars: digits ":" "," "*"
const TAG = 32 // tag = 1*<any ASTRING-CHAR except "+">
const NAME = 64 // FETCH attribute / keyword names: letters, digits, ".", "-", "_"

// 64K entries, so a UTF-8 decoded segment's chars above U+00FF index it too: every non-ASCII char
// has the class of an 8-bit byte (ATOM, ASTRING, TAG, WORD), the same in either decoding.
const CLASS = (() => {
  const t = new Uint8Array(0x10000)
  for (let c = 0x21; c < 256; c++) {
    if (c === 0x7f) continue
    const ch = String.fromCharCode(c)
    const atomSpecial = "(){%*\"\\]".includes(ch)
    if (!atomSpecial) t[c]! |= ATOM | ASTRING | TAG
    if (ch === "]") t[c]! |= ASTRING | TAG
    if (ch === "+") t[c]! &= ~TAG
    if (!"()\"".includes(ch)) t[c]! |= WORD
    if (/[0-9]/.test(ch)) t[c]! |= DIGIT | SEQSET
    if (":,*".includes(ch)) t[c]! |= SEQSET
    if (/[A-Za-z0-9.\-_]/.test(ch)) t[c]! |= NAME
  }
  t.fill(t[0xff]!, 0x100)
  return t
})()

/** How a segment's text was decoded (see the module comment). */
export const TEXT_ASCII = 0
export const TEXT_UTF8 = 1
export const TEXT_LATIN1 = 2
export type TextMode = typeof TEXT_ASCII | typeof TEXT_UTF8 | typeof TEXT_LATIN1

const SP = 0x20
const DQUOTE = 0x22
const LPAREN = 0x28
const RPAREN = 0x29
const BACKSLASH = 0x5c
const LBRACE = 0x7b
const TILDE = 0x7e
const RBRACKET = 0x5d

const EIGHT_BIT = /[\u0080-\u00ff]/
const EMPTY: Uint8Array = Buffer.alloc(0)

const latin1ToUtf8 = (s: string): string => Buffer.from(s, "latin1").toString("utf8")

/** Re-decodes a latin1 string holding UTF-8 bytes. */
export const utf8FromLatin1 = (s: string): string => (EIGHT_BIT.test(s) ? latin1ToUtf8(s) : s)

/** Decodes literal bytes as UTF-8 text. */
export const utf8 = (bytes: Uint8Array): string => utf8Slice(bytes, 0, bytes.length)

const latin1Bytes = (s: string): Uint8Array => Buffer.from(s, "latin1")
const utf8Bytes = (s: string): Uint8Array => Buffer.from(s, "utf8")

// Flags most messages carry, returned as shared strings instead of a new slice each time.
const FLAGS_BY_LENGTH: Array<ReadonlyArray<string> | undefined> = (() => {
  const t: Array<Array<string> | undefined> = []
  for (const f of ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent", "$Forwarded", "$Junk", "$NotJunk", "$MDNSent", "$Phishing"]) {
    ;(t[f.length] ??= []).push(f)
  }
  return t
})()

/** Thrown while classifying an incomplete response: the pending literal has not arrived. */
export const NOT_YET: unique symbol = Symbol("NotYet")

/** Appends to a list that is created on first use (optional list fields stay `undefined`). */
export const append = <A>(list: Array<A> | undefined, item: A): Array<A> => {
  if (list === undefined) return [item]
  list.push(item)
  return list
}

/** A null-prototype record: keys come from the server and must not reach Object.prototype. */
export const record = <A>(): Record<string, A> => Object.create(null) as Record<string, A>

/**
 * Cursor over the segments of one response. Reused across responses, so its shape stays
 * monomorphic on the hot path; the segment arrays are overwritten, not shrunk (shrinking an array
 * to 0 drops its backing store, and every response would allocate new ones).
 */
export class Reader {
  /** Segments of the response: text, bytes (LF included), how the text was decoded, literal marker
   * position in the text (-1: none). */
  // Each array is created holding an element of its kind (overwritten by index like the rest):
  // an empty literal is a small-integer array, which V8 turns into an object array at the first
  // string or buffer stored, and code optimized for the arrays of one parser would then meet the
  // other kind in the next parser's first response and be thrown away (seen as "wrong map" deopts).
  segs: Array<string> = [""]
  bytes: Array<Uint8Array> = [EMPTY]
  modes: Array<TextMode> = []
  markers: Array<number> = []
  count = 0
  /** Literal after segment i; `undefined` when it was streamed (its size in `litSizes`). */
  lits: Array<Uint8Array | undefined> = [EMPTY]
  litSizes: Array<number> = []
  litCount = 0
  /** Cursor: segment index, its text, position, length, whether its strings need re-decoding (a
   * latin1 segment holding 8-bit bytes), next backslash cache. */
  i = 0
  s = ""
  p = 0
  n = 0
  latin1 = false
  bs = -1
  /** While classifying an incomplete response: the segment whose literal is still pending. */
  pending = -1
  maxListDepth: number

  constructor(maxListDepth: number) {
    this.maxListDepth = maxListDepth
  }

  addSegment(text: string, bytes: Uint8Array, mode: TextMode, marker: number): void {
    const k = this.count++
    this.segs[k] = text
    this.bytes[k] = bytes
    this.modes[k] = mode
    this.markers[k] = marker
  }

  addLiteral(bytes: Uint8Array | undefined, size: number): void {
    const k = this.litCount++
    this.lits[k] = bytes
    this.litSizes[k] = size
  }

  /** Moves the cursor to the start of the response. */
  start(pending: number): void {
    this.pending = pending
    this.enter(0)
  }

  /** Forgets the segments of a completed response (and its references to received chunks). */
  clear(): void {
    for (let k = 0; k < this.count; k++) {
      this.segs[k] = ""
      this.bytes[k] = EMPTY
    }
    for (let k = 0; k < this.litCount; k++) this.lits[k] = EMPTY
    this.count = 0
    this.litCount = 0
    this.s = ""
  }

  private enter(i: number): void {
    const s = this.segs[i]!
    this.i = i
    this.s = s
    this.p = 0
    this.n = s.length
    this.latin1 = this.modes[i] === TEXT_LATIN1
    this.bs = -1
  }

  /** Whether `[a, b)` of the current segment holds an 8-bit char of a latin1 segment (then its bytes
   * are re-decoded as UTF-8). */
  has8bit(a: number, b: number): boolean {
    if (!this.latin1) return false
    const s = this.s
    for (let k = a; k < b; k++) if (s.charCodeAt(k) > 0x7f) return true
    return false
  }

  /** The bytes a piece of the current segment's text was decoded from. */
  private rawBytes(text: string): Uint8Array {
    return this.modes[this.i] === TEXT_UTF8 ? utf8Bytes(text) : latin1Bytes(text)
  }

  /** `[a, b)` of the current segment decoded from its bytes as UTF-8. */
  private utf8Range(a: number, b: number): string {
    return utf8Slice(this.bytes[this.i]!, a, b)
  }

  // ---------------------------------------------------------------------------------------------
  // errors

  fail(grammar: string, detail: string): never {
    const from = Math.max(0, this.p - 24)
    const text = this.s.slice(from, Math.min(this.n, this.p + 40))
    throw new CodecError.MalformedInput({
      grammar,
      detail: `${detail} (at offset ${this.p} of line ${this.i + 1})`,
      preview: CodecError.preview(this.rawBytes(text))
    })
  }

  depthExceeded(actual: number): never {
    throw new CodecError.LimitExceeded({ limit: "maxListDepth", max: this.maxListDepth, actual })
  }

  // ---------------------------------------------------------------------------------------------
  // characters

  peek(): number {
    return this.s.charCodeAt(this.p)
  }

  atEnd(): boolean {
    return this.p >= this.n
  }

  sp(grammar: string): void {
    if (this.s.charCodeAt(this.p) !== SP) this.fail(grammar, "expected SP")
    this.p++
  }

  expect(code: number, grammar: string): void {
    if (this.s.charCodeAt(this.p) !== code) this.fail(grammar, `expected "${String.fromCharCode(code)}"`)
    this.p++
  }

  /** Consumes `code` if it is next. */
  eat(code: number): boolean {
    if (this.s.charCodeAt(this.p) !== code) return false
    this.p++
    return true
  }

  /** Consumes SP when it is followed by `code` (lenient separators). */
  spBefore(code: number): boolean {
    if (this.s.charCodeAt(this.p) === SP && this.s.charCodeAt(this.p + 1) === code) {
      this.p++
      return true
    }
    return false
  }

  /** End of the response. Spaces before CRLF are accepted (as go-imap v2 `imapwire` does). */
  end(grammar: string): void {
    while (this.s.charCodeAt(this.p) === SP) this.p++
    if (this.p < this.n || this.i !== this.count - 1) this.fail(grammar, "unexpected data at end of response")
  }

  /** Consumes the next chars when they are `text`. */
  repeats(text: string): boolean {
    const p = this.p
    const end = p + text.length
    // a slice and a string comparison: ~35 ns for a 50-char address list, where `startsWith` takes
    // ~110 ns (it compares char by char) and a charCodeAt loop ~80 ns
    if (end > this.n || this.s.slice(p, end) !== text) return false
    this.p = end
    return true
  }

  /** Skips spaces; true when the line (segment) ends there. */
  skipSpaces(): boolean {
    while (this.s.charCodeAt(this.p) === SP) this.p++
    return this.p >= this.n
  }

  /** Text of `[a, b)` of the current segment, UTF-8 re-decoded when it holds 8-bit bytes. */
  text(a: number, b: number): string {
    return this.has8bit(a, b) ? this.utf8Range(a, b) : this.s.slice(a, b)
  }

  /** The rest of the current segment as text (`text` of resp-text). */
  rest(): string {
    const v = this.text(this.p, this.n)
    this.p = this.n
    return v
  }

  // ---------------------------------------------------------------------------------------------
  // atoms and numbers

  private run(cls: number): number {
    const s = this.s
    let p = this.p
    while (p < this.n && (CLASS[s.charCodeAt(p)]! & cls) !== 0) p++
    return p
  }

  /** atom (RFC 9051 §9), as sent. */
  atom(grammar: string): string {
    const a = this.p
    const b = this.run(ATOM)
    if (b === a) this.fail(grammar, "expected atom")
    this.p = b
    return this.text(a, b)
  }

  /** An atom uppercased (keywords are case-insensitive, RFC 9051 §9 note 1). */
  keyword(grammar: string): string {
    const a = this.p
    const b = this.run(ATOM)
    if (b === a) this.fail(grammar, "expected keyword")
    this.p = b
    const s = this.s.slice(a, b)
    for (let k = a; k < b; k++) {
      const c = this.s.charCodeAt(k)
      if (c >= 0x61 && c <= 0x7a) return s.toUpperCase()
    }
    return s
  }

  /** A FETCH attribute name (`BODY`, `RFC822.SIZE`, `X-GM-MSGID`), as sent. */
  name(grammar: string): string {
    const a = this.p
    return this.s.slice(a, this.nameEnd(grammar))
  }

  /** Skips a name (see `name`) and returns where it ends. */
  nameEnd(grammar: string): number {
    const b = this.run(NAME)
    if (b === this.p) this.fail(grammar, "expected name")
    this.p = b
    return b
  }

  /** tag (RFC 9051 §9). */
  tag(): string {
    const a = this.p
    const b = this.run(TAG)
    if (b === a) this.fail("tag", "expected tag")
    this.p = b
    return this.s.slice(a, b)
  }

  /** A sequence-set / uid-set, as sent (RFC 9051 §9 sequence-set). */
  sequenceSet(grammar: string): string {
    const a = this.p
    const b = this.run(SEQSET)
    if (b === a) this.fail(grammar, "expected sequence-set")
    this.p = b
    return this.s.slice(a, b)
  }

  /** number / nz-number (RFC 9051 §9), up to 2^53 - 1. */
  number(grammar: string): number {
    const s = this.s
    const a = this.p
    let p = a
    let v = 0
    for (;;) {
      const c = s.charCodeAt(p)
      if (c >= 0x30 && c <= 0x39) {
        v = v * 10 + (c - 0x30)
        p++
      } else break
    }
    if (p === a) this.fail(grammar, "expected number")
    if (p - a > 15 && v > Number.MAX_SAFE_INTEGER) this.fail(grammar, "number too large")
    this.p = p
    return v
  }

  /** A number that may carry a sign: body-fld-octets / body-fld-lines sent as -1 by some servers
   * (go-imap v2 `ExpectBodyFldOctets` accepts it for the same reason). */
  signedNumber(grammar: string): number {
    if (this.s.charCodeAt(this.p) === 0x2d) {
      this.p++
      return -this.number(grammar)
    }
    return this.number(grammar)
  }

  /** number64 / mod-sequence-value (RFC 9051 §9, RFC 7162 §7) as bigint. */
  number64(grammar: string): bigint {
    const a = this.p
    const b = this.run(DIGIT)
    if (b === a || b - a > 20) this.fail(grammar, "expected 63-bit number")
    this.p = b
    return BigInt(this.s.slice(a, b))
  }

  isDigit(): boolean {
    return (CLASS[this.s.charCodeAt(this.p)]! & DIGIT) !== 0
  }

  /** `NIL` (case-insensitive) followed by a delimiter. */
  nil(): boolean {
    const s = this.s
    const p = this.p
    if (
      (s.charCodeAt(p) | 0x20) === 0x6e &&
      (s.charCodeAt(p + 1) | 0x20) === 0x69 &&
      (s.charCodeAt(p + 2) | 0x20) === 0x6c &&
      (CLASS[s.charCodeAt(p + 3)]! & ATOM) === 0
    ) {
      this.p = p + 3
      return true
    }
    return false
  }

  // ---------------------------------------------------------------------------------------------
  // strings

  /** quoted (RFC 9051 §9): cursor on DQUOTE. Returns the content as the segment's text holds it
   * (in a latin1 segment, not yet UTF-8 decoded). */
  private quotedRaw(): string {
    const s = this.s
    const a = this.p + 1
    const q = s.indexOf('"', a)
    if (q < 0) this.fail("quoted", "unterminated quoted string")
    let bs = this.bs
    if (bs < a && bs !== -2) {
      bs = s.indexOf("\\", a)
      if (bs < 0) bs = -2
      this.bs = bs
    }
    if (bs === -2 || bs > q) {
      this.p = q + 1
      return s.slice(a, q)
    }
    // escapes: RFC 9051 allows only \" and \\; the backslash is dropped before any char (lenient)
    let out = ""
    let from = a
    let k = a
    for (;;) {
      if (k >= this.n) {
        this.p = k
        this.fail("quoted", "unterminated quoted string")
      }
      const c = s.charCodeAt(k)
      if (c === DQUOTE) break
      if (c === BACKSLASH) {
        out += s.slice(from, k)
        from = k + 1
        k += 2
        continue
      }
      k++
    }
    this.bs = -1
    this.p = k + 1
    return out + s.slice(from, k)
  }

  quoted(): string {
    const a = this.p
    const v = this.quotedRaw()
    if (!this.has8bit(a, this.p)) return v
    // without escapes the content is [a + 1, p - 1) of the bytes: decode it from there
    return v.length === this.p - a - 2 ? this.utf8Range(a + 1, this.p - 1) : latin1ToUtf8(v)
  }

  /**
   * literal / literal8 (RFC 9051 §9, RFC 3516 §4.2): cursor on "{" or "~"; returns the literal index
   * and moves to the next segment. The framer has checked the marker and its size.
   */
  literal(grammar: string): number {
    const i = this.i
    if (this.markers[i] !== this.p) this.fail(grammar, "literal marker not at end of line")
    if (i === this.pending) throw NOT_YET
    if (i + 1 >= this.count) this.fail(grammar, "missing data after literal")
    this.enter(i + 1)
    return i
  }

  private literalBytes(grammar: string): Uint8Array {
    const k = this.literal(grammar)
    const bytes = this.lits[k]
    if (bytes === undefined) this.fail(grammar, "streamed literal where a string is expected")
    return bytes
  }

  isLiteral(): boolean {
    const c = this.s.charCodeAt(this.p)
    return c === LBRACE || (c === TILDE && this.s.charCodeAt(this.p + 1) === LBRACE)
  }

  /** string (RFC 9051 §9) as text. */
  string(grammar: string): string {
    const c = this.s.charCodeAt(this.p)
    if (c === DQUOTE) return this.quoted()
    if (c === LBRACE || c === TILDE) return utf8(this.literalBytes(grammar))
    return this.fail(grammar, "expected string")
  }

  /** nstring (RFC 9051 §9) as text; NIL is `null`. */
  nstring(grammar: string): string | null {
    const c = this.s.charCodeAt(this.p)
    if (c === DQUOTE) return this.quoted()
    if (c === LBRACE || c === TILDE) return utf8(this.literalBytes(grammar))
    if (this.nil()) return null
    return this.fail(grammar, "expected nstring")
  }

  /** A string where servers are known to send NIL instead (body-fld-* fields): NIL gives "". */
  stringOrNil(grammar: string): string {
    return this.nstring(grammar) ?? ""
  }

  /** nstring as bytes (body section data); quoted data is re-encoded as it was decoded. */
  nstringBytes(grammar: string): Uint8Array | null {
    const c = this.s.charCodeAt(this.p)
    if (c === DQUOTE) return this.rawBytes(this.quotedRaw())
    if (c === LBRACE || c === TILDE) return this.literalBytes(grammar)
    if (this.nil()) return null
    return this.fail(grammar, "expected nstring")
  }

  /** astring (RFC 9051 §9) as text. */
  astring(grammar: string): string {
    const c = this.s.charCodeAt(this.p)
    if (c === DQUOTE) return this.quoted()
    if (c === LBRACE || c === TILDE) return utf8(this.literalBytes(grammar))
    const a = this.p
    const b = this.run(ASTRING)
    if (b === a) this.fail(grammar, "expected astring")
    this.p = b
    return this.text(a, b)
  }

  /** An astring or NIL (`null`). */
  nastring(grammar: string): string | null {
    if (this.nil()) return null
    return this.astring(grammar)
  }

  /** flag / flag-perm / mbx-list-flag: `\Name`, `\*` or a keyword atom, as sent. */
  flag(grammar: string): string {
    const a = this.p
    if (this.s.charCodeAt(a) === BACKSLASH) {
      this.p++
      if (this.s.charCodeAt(this.p) === 0x2a) {
        this.p++
        return "\\*"
      }
    }
    const b = this.run(ATOM)
    if (b === this.p) this.fail(grammar, "expected flag")
    this.p = b
    const common = FLAGS_BY_LENGTH[b - a]
    if (common !== undefined) {
      for (const f of common) if (this.s.startsWith(f, a)) return f
    }
    return this.text(a, b)
  }

  /** "(" [flag *(SP flag)] ")": flag lists of FLAGS, PERMANENTFLAGS, LIST. */
  flagList(grammar: string): Array<string> {
    this.expect(LPAREN, grammar)
    let out: Array<string> | undefined // created with its first flag (see `append`)
    for (;;) {
      const c = this.s.charCodeAt(this.p)
      if (c === RPAREN) break
      if (c === SP) {
        this.p++ // lenient: extra spaces
        continue
      }
      out = append(out, this.flag(grammar))
    }
    this.p++
    return out ?? []
  }

  /** `"(" element ")"`. */
  inParens<A>(grammar: string, element: () => A): A {
    this.expect(LPAREN, grammar)
    const v = element()
    this.expect(RPAREN, grammar)
    return v
  }

  /**
   * `"(" [item *(SP item)] ")"`, extra spaces accepted: cursor on "(", `item` reads one element.
   * An element reader that consumes nothing fails the list (no input can make it loop).
   */
  list(grammar: string, item: () => void): void {
    this.expect(LPAREN, grammar)
    for (;;) {
      const c = this.s.charCodeAt(this.p)
      if (c === RPAREN) break
      if (c === SP) {
        this.p++
        continue
      }
      const at = this.p
      const seg = this.i
      item()
      if (this.p === at && this.i === seg) this.fail(grammar, "expected list element")
    }
    this.p++
  }

  /** A list of atoms up to the end of the segment or "]" (capability-data, ENABLED, resp-text-code). */
  atoms(grammar: string): Array<string> {
    const out: Array<string> = []
    for (;;) {
      const c = this.s.charCodeAt(this.p)
      if (c === SP) {
        this.p++
        continue
      }
      if (this.p >= this.n || c === RBRACKET) return out
      out.push(this.atom(grammar))
    }
  }

  /** Raw text up to (not including) the next `code` in this segment. */
  until(code: number, grammar: string): string {
    const q = this.s.indexOf(String.fromCharCode(code), this.p)
    if (q < 0) this.fail(grammar, `expected "${String.fromCharCode(code)}"`)
    const v = this.text(this.p, q)
    this.p = q
    return v
  }

  // ---------------------------------------------------------------------------------------------
  // generic values

  /** A scalar generic value: string, literal, NIL or a word (atoms, numbers, `BODY[1]`). */
  private scalar(grammar: string): ImapResponse.Value {
    const c = this.s.charCodeAt(this.p)
    if (c === DQUOTE) return this.quoted()
    if (c === LBRACE || c === TILDE) return this.lits[this.literal(grammar)] ?? EMPTY // streamed: classifier only
    if (this.nil()) return null
    const a = this.p
    const b = this.run(WORD)
    if (b === a) this.fail(grammar, "expected value")
    this.p = b
    return this.text(a, b)
  }

  /**
   * Any value (`tagged-ext-val`, `body-extension`, unknown FETCH data), nested lists read with an
   * explicit stack bounded by `maxListDepth`.
   */
  value(grammar: string): ImapResponse.Value {
    if (this.s.charCodeAt(this.p) !== LPAREN) return this.scalar(grammar)
    this.p++
    const stack: Array<Array<ImapResponse.Value>> = []
    let current: Array<ImapResponse.Value> = []
    for (;;) {
      const c = this.s.charCodeAt(this.p)
      if (c === RPAREN) {
        this.p++
        const done = current
        const parent = stack.pop()
        if (parent === undefined) return done
        parent.push(done)
        current = parent
      } else if (c === SP) {
        this.p++
      } else if (c === LPAREN) {
        if (stack.length + 2 > this.maxListDepth) this.depthExceeded(stack.length + 2)
        this.p++
        stack.push(current)
        current = []
      } else {
        if (this.p >= this.n) this.fail(grammar, "unterminated list")
        current.push(this.scalar(grammar))
      }
    }
  }

  /** The rest of the response as sent (literal markers kept) and its literals, for unknown data. */
  rawRest(): { readonly raw: string; readonly literals: ReadonlyArray<Uint8Array> } {
    const piece = (k: number, text: string): string => this.modes[k] === TEXT_LATIN1 ? utf8FromLatin1(text) : text
    let raw = piece(this.i, this.s.slice(this.p))
    const literals: Array<Uint8Array> = []
    for (let k = this.i; k < this.count - 1; k++) {
      literals.push(this.lits[k] ?? EMPTY)
      raw += "\r\n" + piece(k + 1, this.segs[k + 1]!)
    }
    this.enter(this.count - 1)
    this.p = this.n
    return { raw, literals }
  }
}
