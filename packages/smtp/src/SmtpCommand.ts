/**
 * SMTP / LMTP commands as `_tag`ged values, and their pure wire form (RFC 5321 §4.1 and the
 * extensions: STARTTLS RFC 3207, AUTH RFC 4954, SIZE RFC 1870, 8BITMIME RFC 6152, CHUNKING and
 * BINARYMIME RFC 3030, DSN RFC 3461, SMTPUTF8 RFC 6531 / RFC 6533, REQUIRETLS RFC 8689, LMTP LHLO
 * RFC 2033).
 *
 * Every encoder validates before it produces a byte: CR, LF or NUL in any argument is an
 * `EncodeError` (no command injection), addresses must match RFC 5321 §4.1.2 `Mailbox` (UTF-8 only
 * when the command declares SMTPUTF8), EHLO names must be a `Domain` or an address literal, and
 * parameter values are xtext-encoded where their RFC says so.
 *
 * Secrets never reach a trace: `encodeWithRedaction` / `encodeAll` return, next to the bytes, the
 * text of each line with the secret span (SASL responses) replaced by `***`. The span is known
 * because the encoder builds it, not found afterwards by a pattern.
 *
 * Not here: the DATA body (`DotStuffing`), BDAT chunk data (`Bdat`), reading replies
 * (`SmtpProtocol`), and any decision about which commands the server allows (`SmtpExtensions`
 * tells the client what was advertised; the client refuses to use what was not).
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import * as Address from "./internal/address.ts"
import * as Xtext from "./Xtext.ts"

/**
 * `EHLO domain` (RFC 5321 §4.1.1.1). `domain` is the client's name or an address literal
 * (`[192.0.2.1]`, `[IPv6:2001:db8::1]`), ASCII only (A-labels).
 *
 * @category models
 * @since 0.1.0
 */
export interface Ehlo {
  readonly _tag: "Ehlo"
  readonly domain: string
}

/**
 * `HELO domain` (RFC 5321 §4.1.1.1), for servers without ESMTP.
 *
 * @category models
 * @since 0.1.0
 */
export interface Helo {
  readonly _tag: "Helo"
  readonly domain: string
}

/**
 * `LHLO domain` (RFC 2033 §4.1): LMTP's EHLO.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lhlo {
  readonly _tag: "Lhlo"
  readonly domain: string
}

/**
 * `STARTTLS` (RFC 3207 §4). Always encoded alone (S12).
 *
 * @category models
 * @since 0.1.0
 */
export interface StartTls {
  readonly _tag: "StartTls"
}

/**
 * `AUTH mechanism [initial-response]` (RFC 4954 §4). `initialResponse` is the raw SASL message;
 * the encoder base64-encodes it (`=` for an empty one) and masks it in the trace.
 *
 * @category models
 * @since 0.1.0
 */
export interface Auth {
  readonly _tag: "Auth"
  readonly mechanism: string
  readonly initialResponse?: Redacted.Redacted<Uint8Array> | undefined
}

/**
 * A response to a `334` challenge during AUTH: the raw SASL message, sent as one base64 line and
 * masked in the trace.
 *
 * @category models
 * @since 0.1.0
 */
export interface AuthContinue {
  readonly _tag: "AuthContinue"
  readonly response: Redacted.Redacted<Uint8Array>
}

/**
 * `*`: cancels an AUTH exchange (RFC 4954 §4); the server answers 501.
 *
 * @category models
 * @since 0.1.0
 */
export interface AuthCancel {
  readonly _tag: "AuthCancel"
}

/**
 * The `BODY=` parameter of MAIL: 7BIT / 8BITMIME (RFC 6152), BINARYMIME (RFC 3030 §3, needs BDAT).
 *
 * @category models
 * @since 0.1.0
 */
export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME"

/**
 * An extension parameter not modelled here: `keyword[=value]` (RFC 5321 §4.1.2 `esmtp-param`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Parameter {
  readonly keyword: string
  readonly value?: string | undefined
}

/**
 * `MAIL FROM:<from> [parameters]` (RFC 5321 §4.1.1.2). `from` is a mailbox, or `""` for the null
 * reverse path `<>` (bounces). Parameters appear in the order of the fields below.
 *
 * @category models
 * @since 0.1.0
 */
export interface Mail {
  readonly _tag: "Mail"
  readonly from: string
  /** `SIZE=n`, the message size in octets (RFC 1870 §6). */
  readonly size?: number | undefined
  /** `BODY=...` (RFC 6152 §2, RFC 3030 §3). */
  readonly body?: BodyType | undefined
  /** `SMTPUTF8` (RFC 6531 §3.4): allows UTF-8 in `from` and in this transaction's RCPTs. */
  readonly smtpUtf8?: boolean | undefined
  /** `RET=FULL|HDRS` (RFC 3461 §4.3): what a DSN returns of the message. */
  readonly ret?: "FULL" | "HDRS" | undefined
  /** `ENVID=xtext` (RFC 3461 §4.4): printable ASCII, at most 100 characters once encoded. */
  readonly envid?: string | undefined
  /** `REQUIRETLS` (RFC 8689 §4.1). */
  readonly requireTls?: boolean | undefined
  /** `AUTH=xtext` (RFC 4954 §5): the authenticated submitter's mailbox, `""` for `AUTH=<>`. */
  readonly auth?: string | undefined
  readonly extensions?: ReadonlyArray<Parameter> | undefined
}

/**
 * A DSN notification condition (RFC 3461 §4.1).
 *
 * @category models
 * @since 0.1.0
 */
export type NotifyCondition = "SUCCESS" | "FAILURE" | "DELAY"

/**
 * The `ORCPT=` parameter (RFC 3461 §4.2): `rfc822` for an ASCII address (xtext-encoded), `utf-8`
 * for an internationalised one (RFC 6533 §3, encoded as utf-8-addr-xtext).
 *
 * @category models
 * @since 0.1.0
 */
export interface OriginalRecipient {
  readonly type: "rfc822" | "utf-8"
  readonly address: string
}

/**
 * `RCPT TO:<to> [parameters]` (RFC 5321 §4.1.1.3). `to` is a mailbox or `Postmaster`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Rcpt {
  readonly _tag: "Rcpt"
  readonly to: string
  /** `NOTIFY=NEVER` or a non-empty list of conditions (RFC 3461 §4.1). */
  readonly notify?: "NEVER" | ReadonlyArray<NotifyCondition> | undefined
  readonly orcpt?: OriginalRecipient | undefined
  /**
   * The transaction's MAIL declared SMTPUTF8 (RFC 6531 §3.4): allows UTF-8 in `to`. Nothing is
   * written for it.
   */
  readonly smtpUtf8?: boolean | undefined
  readonly extensions?: ReadonlyArray<Parameter> | undefined
}

/**
 * `DATA` (RFC 5321 §4.1.1.4); the body follows the 354 reply, dot-stuffed (`DotStuffing`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Data {
  readonly _tag: "Data"
}

/**
 * `BDAT size [LAST]` (RFC 3030 §2): exactly `size` raw octets follow the line. `Bdat` builds these
 * from a body.
 *
 * @category models
 * @since 0.1.0
 */
export interface Bdat {
  readonly _tag: "Bdat"
  readonly size: number
  readonly last: boolean
}

/**
 * `RSET` (RFC 5321 §4.1.1.5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Rset {
  readonly _tag: "Rset"
}

/**
 * `NOOP` (RFC 5321 §4.1.1.9).
 *
 * @category models
 * @since 0.1.0
 */
export interface Noop {
  readonly _tag: "Noop"
}

/**
 * `QUIT` (RFC 5321 §4.1.1.10).
 *
 * @category models
 * @since 0.1.0
 */
export interface Quit {
  readonly _tag: "Quit"
}

/**
 * `VRFY string [SMTPUTF8]` (RFC 5321 §4.1.1.6, RFC 6531 §3.7.4.2). A query with spaces is sent as
 * a quoted string.
 *
 * @category models
 * @since 0.1.0
 */
export interface Vrfy {
  readonly _tag: "Vrfy"
  readonly query: string
  readonly smtpUtf8?: boolean | undefined
}

/**
 * Every command.
 *
 * @category models
 * @since 0.1.0
 */
export type SmtpCommand =
  | Ehlo
  | Helo
  | Lhlo
  | StartTls
  | Auth
  | AuthContinue
  | AuthCancel
  | Mail
  | Rcpt
  | Data
  | Bdat
  | Rset
  | Noop
  | Quit
  | Vrfy

/**
 * `EHLO domain`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const ehlo = (domain: string): Ehlo => ({ _tag: "Ehlo", domain })

/**
 * `HELO domain`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const helo = (domain: string): Helo => ({ _tag: "Helo", domain })

/**
 * `LHLO domain` (LMTP).
 *
 * @category constructors
 * @since 0.1.0
 */
export const lhlo = (domain: string): Lhlo => ({ _tag: "Lhlo", domain })

/**
 * `STARTTLS`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const startTls: StartTls = { _tag: "StartTls" }

/**
 * `AUTH mechanism [initial-response]`; the response stays `Redacted` until it is encoded.
 *
 * @category constructors
 * @since 0.1.0
 */
export const auth = (mechanism: string, initialResponse?: Redacted.Redacted<Uint8Array>): Auth => ({
  _tag: "Auth",
  mechanism,
  initialResponse
})

/**
 * A response line to a `334` challenge.
 *
 * @category constructors
 * @since 0.1.0
 */
export const authContinue = (response: Redacted.Redacted<Uint8Array>): AuthContinue => ({
  _tag: "AuthContinue",
  response
})

/**
 * `*`, cancelling an AUTH exchange.
 *
 * @category constructors
 * @since 0.1.0
 */
export const authCancel: AuthCancel = { _tag: "AuthCancel" }

/**
 * `MAIL FROM:<from>` with its parameters.
 *
 * @category constructors
 * @since 0.1.0
 */
export const mail = (from: string, parameters?: Omit<Mail, "_tag" | "from">): Mail => ({
  ...parameters,
  _tag: "Mail",
  from
})

/**
 * `RCPT TO:<to>` with its parameters.
 *
 * @category constructors
 * @since 0.1.0
 */
export const rcpt = (to: string, parameters?: Omit<Rcpt, "_tag" | "to">): Rcpt => ({
  ...parameters,
  _tag: "Rcpt",
  to
})

/**
 * `DATA`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const data: Data = { _tag: "Data" }

/**
 * `BDAT size [LAST]`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const bdat = (size: number, last: boolean): Bdat => ({ _tag: "Bdat", size, last })

/**
 * `RSET`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const rset: Rset = { _tag: "Rset" }

/**
 * `NOOP`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const noop: Noop = { _tag: "Noop" }

/**
 * `QUIT`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const quit: Quit = { _tag: "Quit" }

/**
 * `VRFY query [SMTPUTF8]`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const vrfy = (query: string, options?: { readonly smtpUtf8?: boolean }): Vrfy => ({
  _tag: "Vrfy",
  query,
  smtpUtf8: options?.smtpUtf8
})

/**
 * Bytes of one or more command lines, and their trace: one entry per line, secrets masked.
 *
 * @category models
 * @since 0.1.0
 */
export interface Encoded {
  readonly bytes: Uint8Array
  readonly trace: ReadonlyArray<string>
}

/** The mask that replaces a secret span in traces. */
const MASK = "***"

/**
 * RFC 4954 §4: an AUTH command line, and a response line, may be up to 12288 octets (with CRLF).
 *
 * @category constructors
 * @since 0.1.0
 */
export const maxAuthLineLength = 12288

// One command line without CRLF: `head` is public, `secret` (if any) is masked in traces.
interface Line {
  readonly head: string
  readonly secret: string | undefined
}

type Checked<A> = Result.Result<A, CodecError.EncodeError>

const failWith = (field: string, detail: string): Checked<never> =>
  Result.fail(new CodecError.EncodeError({ field, detail }))

const line = (head: string, secret?: string): Checked<Line> => Result.succeed({ head, secret })

const FORBIDDEN = /[\r\n\0]/

// CR, LF, NUL (S7/S8 wire rule) and lone surrogates (no UTF-8 form), for every string argument.
const unsafe = (field: string, value: string): CodecError.EncodeError | undefined => {
  if (FORBIDDEN.test(value)) return new CodecError.EncodeError({ field, detail: "contains CR, LF or NUL" })
  if (Address.LONE_SURROGATE.test(value)) return new CodecError.EncodeError({ field, detail: "is not well-formed UTF-16" })
  return undefined
}

const checked = (field: string, value: string, grammar: (s: string) => string | undefined): Checked<string> => {
  const bad = unsafe(field, value)
  if (bad !== undefined) return Result.fail(bad)
  const reason = grammar(value)
  return reason === undefined ? Result.succeed(value) : failWith(field, reason)
}

const helloName = (field: string, domain: string): Checked<string> =>
  checked(field, domain, (s) => Address.domainOrLiteral(s, false))

const base64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

// RFC 4422 §3.1: sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA / DIGIT / "-" / "_".
const MECHANISM = /^[A-Z0-9_-]{1,20}$/

const encodeAuth = (command: Auth): Checked<Line> => {
  const mechanism = typeof command.mechanism === "string" ? command.mechanism.toUpperCase() : ""
  if (!MECHANISM.test(mechanism)) return failWith("mechanism", "not a SASL mechanism name (RFC 4422 §3.1)")
  if (command.initialResponse === undefined) return line(`AUTH ${mechanism}`)
  const raw = Redacted.value(command.initialResponse)
  // RFC 4954 §4: an empty initial response is sent as "=".
  const encoded = raw.length === 0 ? "=" : base64(raw)
  const head = `AUTH ${mechanism} `
  if (head.length + encoded.length + 2 > maxAuthLineLength) {
    return failWith(
      "initialResponse",
      `AUTH line would exceed ${maxAuthLineLength} octets (RFC 4954 §4): send the response after the 334`
    )
  }
  return line(head, encoded)
}

const encodeAuthContinue = (command: AuthContinue): Checked<Line> => {
  const encoded = base64(Redacted.value(command.response))
  if (encoded.length + 2 > maxAuthLineLength) {
    return failWith("response", `response line exceeds ${maxAuthLineLength} octets (RFC 4954 §4)`)
  }
  return line("", encoded)
}

// RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); esmtp-value =
// 1*(%d33-60 / %d62-126), plus UTF-8 under SMTPUTF8 (RFC 6531 §3.3).
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/
const VALUE_ASCII = /^[\x21-\x3c\x3e-\x7e]+$/
const VALUE_UTF8 = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10ffff}]+$/u

// Appends the parameters to `parts`; keywords must be unique (case-insensitive).
const parameters = (
  known: ReadonlyArray<string>,
  extensions: ReadonlyArray<Parameter> | undefined,
  utf8: boolean,
  parts: Array<string>
): CodecError.EncodeError | undefined => {
  const seen = new Set(known)
  for (const [i, parameter] of (extensions ?? []).entries()) {
    const field = `extensions[${i}]`
    const keyword = parameter.keyword
    const bad = unsafe(field, keyword) ?? (parameter.value === undefined ? undefined : unsafe(field, parameter.value))
    if (bad !== undefined) return bad
    if (!KEYWORD.test(keyword)) return new CodecError.EncodeError({ field, detail: "invalid esmtp-keyword" })
    const upper = keyword.toUpperCase()
    if (seen.has(upper)) return new CodecError.EncodeError({ field, detail: `duplicate parameter ${upper}` })
    seen.add(upper)
    if (parameter.value === undefined) {
      parts.push(keyword)
    } else {
      if (!(utf8 ? VALUE_UTF8 : VALUE_ASCII).test(parameter.value)) {
        return new CodecError.EncodeError({ field, detail: "invalid esmtp-value (no SP, \"=\" or controls)" })
      }
      parts.push(`${keyword}=${parameter.value}`)
    }
  }
  return undefined
}

const PRINTABLE = /^[\x21-\x7e]+$/
const BODY_TYPES: ReadonlyArray<string> = ["7BIT", "8BITMIME", "BINARYMIME"]

const encodeMail = (command: Mail): Checked<Line> => {
  const utf8 = command.smtpUtf8 === true
  const from = command.from === ""
    ? Result.succeed("")
    : checked("from", command.from, (s) => Address.mailbox(s, utf8))
  if (Result.isFailure(from)) return Result.fail(from.failure)
  const parts = [`MAIL FROM:<${from.success}>`]
  const known: Array<string> = []
  if (command.size !== undefined) {
    if (!Number.isSafeInteger(command.size) || command.size < 0) {
      return failWith("size", "must be a non-negative integer (RFC 1870 §6)")
    }
    parts.push(`SIZE=${command.size}`)
    known.push("SIZE")
  }
  if (command.body !== undefined) {
    if (!BODY_TYPES.includes(command.body)) return failWith("body", "must be 7BIT, 8BITMIME or BINARYMIME")
    parts.push(`BODY=${command.body}`)
    known.push("BODY")
  }
  if (utf8) {
    parts.push("SMTPUTF8")
    known.push("SMTPUTF8")
  }
  if (command.ret !== undefined) {
    if (command.ret !== "FULL" && command.ret !== "HDRS") return failWith("ret", "must be FULL or HDRS")
    parts.push(`RET=${command.ret}`)
    known.push("RET")
  }
  if (command.envid !== undefined) {
    const bad = unsafe("envid", command.envid)
    if (bad !== undefined) return Result.fail(bad)
    // RFC 3461 §4.4: printable (graphic) US-ASCII, at most 100 characters.
    if (!PRINTABLE.test(command.envid)) return failWith("envid", "must be printable US-ASCII (RFC 3461 §4.4)")
    const envid = Xtext.encode(command.envid)
    if (envid.length > 100) return failWith("envid", "longer than 100 characters once encoded (RFC 3461 §4.4)")
    parts.push(`ENVID=${envid}`)
    known.push("ENVID")
  }
  if (command.requireTls === true) {
    parts.push("REQUIRETLS")
    known.push("REQUIRETLS")
  }
  if (command.auth !== undefined) {
    if (command.auth === "") {
      parts.push("AUTH=<>")
    } else {
      const submitter = checked("auth", command.auth, (s) => Address.mailbox(s, utf8))
      if (Result.isFailure(submitter)) return Result.fail(submitter.failure)
      parts.push(`AUTH=${Xtext.encode(submitter.success)}`)
    }
    known.push("AUTH")
  }
  const bad = parameters(known, command.extensions, utf8, parts)
  return bad === undefined ? line(parts.join(" ")) : Result.fail(bad)
}

const NOTIFY_CONDITIONS: ReadonlyArray<string> = ["SUCCESS", "FAILURE", "DELAY"]

const notify = (value: "NEVER" | ReadonlyArray<NotifyCondition>): Checked<string> => {
  if (value === "NEVER") return Result.succeed("NOTIFY=NEVER")
  if (!Array.isArray(value) || value.length === 0) {
    return failWith("notify", "must be NEVER or a non-empty list of SUCCESS, FAILURE, DELAY")
  }
  if (new Set(value).size !== value.length || !value.every((v) => NOTIFY_CONDITIONS.includes(v))) {
    return failWith("notify", "conditions must be distinct SUCCESS, FAILURE or DELAY (RFC 3461 §4.1)")
  }
  return Result.succeed(`NOTIFY=${value.join(",")}`)
}

const ASCII_PRINTABLE_OR_SPACE = /^[\x20-\x7e]+$/

const orcpt = (original: OriginalRecipient): Checked<string> => {
  const bad = unsafe("orcpt", original.address)
  if (bad !== undefined) return Result.fail(bad)
  let value: string
  if (original.type === "rfc822") {
    // RFC 3461 §4.2: printable US-ASCII (graphic and space) before encoding.
    if (!ASCII_PRINTABLE_OR_SPACE.test(original.address)) {
      return failWith("orcpt", "rfc822 address must be printable US-ASCII; use type utf-8 (RFC 6533)")
    }
    value = `rfc822;${Xtext.encode(original.address)}`
  } else if (original.type === "utf-8") {
    if (original.address === "" || /[\x00-\x1f\x7f]/.test(original.address)) {
      return failWith("orcpt", "utf-8 address must be non-empty, without control characters")
    }
    value = `utf-8;${Xtext.encodeUtf8Address(original.address)}`
  } else {
    return failWith("orcpt", "type must be rfc822 or utf-8")
  }
  // RFC 3461 §4.2: the ORCPT value is at most 500 characters.
  if (value.length > 500) return failWith("orcpt", "longer than 500 characters once encoded (RFC 3461 §4.2)")
  return Result.succeed(`ORCPT=${value}`)
}

const encodeRcpt = (command: Rcpt): Checked<Line> => {
  const utf8 = command.smtpUtf8 === true
  // RFC 5321 §4.1.1.3: "<Postmaster>" without a domain is always accepted.
  const to = checked(
    "to",
    command.to,
    (s) => (s.toLowerCase() === "postmaster" ? undefined : Address.mailbox(s, utf8))
  )
  if (Result.isFailure(to)) return Result.fail(to.failure)
  const parts = [`RCPT TO:<${to.success}>`]
  const known: Array<string> = []
  if (command.notify !== undefined) {
    const value = notify(command.notify)
    if (Result.isFailure(value)) return Result.fail(value.failure)
    parts.push(value.success)
    known.push("NOTIFY")
  }
  if (command.orcpt !== undefined) {
    const value = orcpt(command.orcpt)
    if (Result.isFailure(value)) return Result.fail(value.failure)
    parts.push(value.success)
    known.push("ORCPT")
  }
  const bad = parameters(known, command.extensions, utf8, parts)
  return bad === undefined ? line(parts.join(" ")) : Result.fail(bad)
}

const VRFY_PLAIN_ASCII = /^[\x21-\x7e]+$/
const VRFY_PLAIN_UTF8 = /^[\x21-\x7e\u0080-\u{10ffff}]+$/u
const VRFY_QUOTABLE_ASCII = /^[\x20-\x7e]+$/
const VRFY_QUOTABLE_UTF8 = /^[\x20-\x7e\u0080-\u{10ffff}]+$/u

const encodeVrfy = (command: Vrfy): Checked<Line> => {
  const utf8 = command.smtpUtf8 === true
  const bad = unsafe("query", command.query)
  if (bad !== undefined) return Result.fail(bad)
  const query = command.query
  let argument: string
  if ((utf8 ? VRFY_PLAIN_UTF8 : VRFY_PLAIN_ASCII).test(query)) {
    argument = query
  } else if ((utf8 ? VRFY_QUOTABLE_UTF8 : VRFY_QUOTABLE_ASCII).test(query)) {
    // RFC 5321 §4.1.2 Quoted-string: escape "\" and DQUOTE.
    argument = `"${query.replace(/["\\]/g, (c) => "\\" + c)}"`
  } else {
    return failWith("query", utf8 ? "must be non-empty, without control characters" : "must be non-empty printable US-ASCII (or use smtpUtf8)")
  }
  return line(utf8 ? `VRFY ${argument} SMTPUTF8` : `VRFY ${argument}`)
}

const encodeBdat = (command: Bdat): Checked<Line> => {
  if (!Number.isSafeInteger(command.size) || command.size < 0) {
    return failWith("size", "must be a non-negative integer (RFC 3030 §2)")
  }
  return line(command.last ? `BDAT ${command.size} LAST` : `BDAT ${command.size}`)
}

const encodeLine = (command: SmtpCommand): Checked<Line> => {
  switch (command._tag) {
    case "Ehlo":
    case "Helo":
    case "Lhlo":
      return Result.map(helloName("domain", command.domain), (d) => ({
        head: `${command._tag.toUpperCase()} ${d}`,
        secret: undefined
      }))
    case "StartTls":
      return line("STARTTLS")
    case "Auth":
      return encodeAuth(command)
    case "AuthContinue":
      return encodeAuthContinue(command)
    case "AuthCancel":
      return line("*")
    case "Mail":
      return encodeMail(command)
    case "Rcpt":
      return encodeRcpt(command)
    case "Data":
      return line("DATA")
    case "Bdat":
      return encodeBdat(command)
    case "Rset":
      return line("RSET")
    case "Noop":
      return line("NOOP")
    case "Quit":
      return line("QUIT")
    case "Vrfy":
      return encodeVrfy(command)
  }
}

const wire = (l: Line): string => (l.secret === undefined ? l.head : l.head + l.secret)
const traced = (l: Line): string => (l.secret === undefined ? l.head : l.head + MASK)
const toBytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "utf8"))

/**
 * The wire bytes of one command, CRLF included.
 *
 * @example
 * ```ts
 * import * as SmtpCommand from "@starttls/smtp/SmtpCommand"
 *
 * SmtpCommand.encode(SmtpCommand.mail("a@example.com", { size: 1200, body: "8BITMIME" }))
 * // Success(bytes of "MAIL FROM:<a@example.com> SIZE=1200 BODY=8BITMIME\r\n")
 * SmtpCommand.encode(SmtpCommand.rcpt("b@example.com>\r\nDATA"))
 * // Failure(EncodeError { field: "to", detail: "contains CR, LF or NUL" })
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (command: SmtpCommand): Result.Result<Uint8Array, CodecError.EncodeError> =>
  Result.map(encodeLine(command), (l) => toBytes(wire(l) + "\r\n"))

/**
 * The wire bytes of one command and its trace line, where secrets (SASL responses) are `***`.
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeWithRedaction = (command: SmtpCommand): Result.Result<Encoded, CodecError.EncodeError> =>
  Result.map(encodeLine(command), (l) => ({ bytes: toBytes(wire(l) + "\r\n"), trace: [traced(l)] }))

// RFC 2920 §3.1: commands whose reply decides what comes next end a pipelined group; AUTH steps
// and BDAT (its data follows the line) likewise.
const LAST_IN_GROUP: ReadonlySet<SmtpCommand["_tag"]> = new Set<SmtpCommand["_tag"]>([
  "Ehlo",
  "Helo",
  "Lhlo",
  "Data",
  "Bdat",
  "Vrfy",
  "Noop",
  "Quit",
  "Auth",
  "AuthContinue",
  "AuthCancel"
])

/**
 * A pipelined flight (RFC 2920) in one buffer, with one trace line per command. Refuses flights
 * the RFCs forbid: STARTTLS with any other command (RFC 3207 §4.2 and S12: nothing is written
 * between STARTTLS and the end of the handshake), and EHLO/HELO/LHLO, DATA, BDAT, VRFY, NOOP, QUIT
 * or an AUTH step anywhere but last (RFC 2920 §3.1). The first invalid command fails the whole
 * flight; its field is prefixed with its index.
 *
 * @example
 * ```ts
 * import * as SmtpCommand from "@starttls/smtp/SmtpCommand"
 *
 * SmtpCommand.encodeAll([
 *   SmtpCommand.mail("a@example.com"),
 *   SmtpCommand.rcpt("b@example.com"),
 *   SmtpCommand.data
 * ])
 * // Success({ bytes: "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n", trace: [...] })
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeAll = (commands: ReadonlyArray<SmtpCommand>): Result.Result<Encoded, CodecError.EncodeError> => {
  let text = ""
  const trace: Array<string> = []
  for (let i = 0; i < commands.length; i++) {
    const command = commands[i]!
    if (command._tag === "StartTls" && commands.length > 1) {
      return failWith(`commands[${i}]`, "STARTTLS must be written alone (RFC 3207 §4.2)")
    }
    if (i < commands.length - 1 && LAST_IN_GROUP.has(command._tag)) {
      return failWith(`commands[${i}]`, `${command._tag} must be the last command of a pipelined group (RFC 2920 §3.1)`)
    }
    const l = encodeLine(command)
    if (Result.isFailure(l)) {
      return failWith(`commands[${i}].${l.failure.field}`, l.failure.detail)
    }
    text += wire(l.success) + "\r\n"
    trace.push(traced(l.success))
  }
  return Result.succeed({ bytes: toBytes(text), trace })
}

/**
 * Whether `domain` can be sent in EHLO / HELO / LHLO: an ASCII `Domain` or an address literal
 * (RFC 5321 §4.1.1.1). A client whose host name fails this should send an address literal.
 *
 * @category guards
 * @since 0.1.0
 */
export const isHelloName = (domain: string): boolean => Result.isSuccess(helloName("domain", domain))

/**
 * Whether `address` is an RFC 5321 `Mailbox` (UTF-8 allowed with `smtpUtf8`, RFC 6531 §3.3).
 *
 * @category guards
 * @since 0.1.0
 */
export const isMailbox = (address: string, options?: { readonly smtpUtf8?: boolean }): boolean =>
  Result.isSuccess(checked("address", address, (s) => Address.mailbox(s, options?.smtpUtf8 === true)))
