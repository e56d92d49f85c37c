/**
 * POP3 client commands as `_tag`ged values, their pure encoder, and the kind of answer each one
 * gets (RFC 1939, RFC 2449 CAPA, RFC 2595 §4 STLS, RFC 5034 AUTH, RFC 6856 UTF8 and LANG).
 *
 * `encode` validates every argument before producing a byte and fails with `EncodeError` (naming
 * the field, never echoing a secret):
 *
 * - arguments are printable (RFC 1939 §3): no control character (so no CR, LF or NUL), and no
 *   8-bit text unless `utf8` is set (RFC 6856 §2: after the UTF8 command, when the server
 *   advertised `UTF8 USER`);
 * - USER and APOP names contain no space (arguments are separated by single spaces); a PASS
 *   secret may contain spaces (RFC 1939 §7: the server reads the rest of the line as the password);
 * - message numbers are positive integers, TOP's line count a non-negative integer;
 * - a command line is at most 255 octets with its CRLF (RFC 2449 §4), PASS and AUTH included
 *   (RFC 5034 §4: an initial response that would exceed it must be sent after the first
 *   challenge instead; see `initialResponseFits`). RFC 1939's 40-character limit per argument is
 *   not enforced: user names that are e-mail addresses exceed it, and servers accept them.
 *   SASL responses (`AuthContinue`) are not command lines and have no length limit here.
 *
 * Secrets (PASS, the APOP digest, SASL responses) are `Redacted` values; `encodeWithRedaction`
 * returns, with the bytes, the line for wire traces with each secret replaced by `***`: the
 * encoder knows which parts are secret, so masking does not depend on matching patterns (S7).
 *
 * Not done here: deciding whether a command is allowed in the session's state or advertised.
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Base64 from "effect/encoding/Base64"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import type * as Pop3Response from "./Pop3Response.ts"

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/**
 * `CAPA` (RFC 2449 §5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Capa {
  readonly _tag: "Capa"
}

/**
 * `STLS` (RFC 2595 §4).
 *
 * @category models
 * @since 0.1.0
 */
export interface Stls {
  readonly _tag: "Stls"
}

/**
 * `USER name` (RFC 1939 §7).
 *
 * @category models
 * @since 0.1.0
 */
export interface User {
  readonly _tag: "User"
  readonly name: string
}

/**
 * `PASS secret` (RFC 1939 §7).
 *
 * @category models
 * @since 0.1.0
 */
export interface Pass {
  readonly _tag: "Pass"
  readonly secret: Redacted.Redacted<string>
}

/**
 * `APOP name digest` (RFC 1939 §7); build it with `Apop.command`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Apop {
  readonly _tag: "Apop"
  readonly name: string
  /** 32 lower-case hex digits. */
  readonly digest: Redacted.Redacted<string>
}

/**
 * `AUTH mechanism [initial-response]` (RFC 5034 §4). An empty initial response is sent as `=`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Auth {
  readonly _tag: "Auth"
  readonly mechanism: string
  /** The raw (not yet base64-encoded) initial response. */
  readonly initialResponse: Redacted.Redacted<Uint8Array> | undefined
}

/**
 * A response to a SASL challenge: one base64 line (RFC 5034 §4).
 *
 * @category models
 * @since 0.1.0
 */
export interface AuthContinue {
  readonly _tag: "AuthContinue"
  /** The raw (not yet base64-encoded) response. */
  readonly response: Redacted.Redacted<Uint8Array>
}

/**
 * `*`: cancels a SASL exchange (RFC 5034 §4; the server answers `-ERR`).
 *
 * @category models
 * @since 0.1.0
 */
export interface AuthCancel {
  readonly _tag: "AuthCancel"
}

/**
 * `STAT` (RFC 1939 §5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Stat {
  readonly _tag: "Stat"
}

/**
 * `LIST [msg]` (RFC 1939 §5): without a number, a multi-line scan listing.
 *
 * @category models
 * @since 0.1.0
 */
export interface List {
  readonly _tag: "List"
  readonly msg: number | undefined
}

/**
 * `UIDL [msg]` (RFC 1939 §7): without a number, a multi-line unique-id listing.
 *
 * @category models
 * @since 0.1.0
 */
export interface Uidl {
  readonly _tag: "Uidl"
  readonly msg: number | undefined
}

/**
 * `RETR msg` (RFC 1939 §5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Retr {
  readonly _tag: "Retr"
  readonly msg: number
}

/**
 * `TOP msg n` (RFC 1939 §7): the header and the first `lines` lines of the body.
 *
 * @category models
 * @since 0.1.0
 */
export interface Top {
  readonly _tag: "Top"
  readonly msg: number
  readonly lines: number
}

/**
 * `DELE msg` (RFC 1939 §5). The deletion happens only at a successful QUIT (invariant S12).
 *
 * @category models
 * @since 0.1.0
 */
export interface Dele {
  readonly _tag: "Dele"
  readonly msg: number
}

/**
 * `RSET` (RFC 1939 §5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Rset {
  readonly _tag: "Rset"
}

/**
 * `NOOP` (RFC 1939 §5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Noop {
  readonly _tag: "Noop"
}

/**
 * `QUIT` (RFC 1939 §6).
 *
 * @category models
 * @since 0.1.0
 */
export interface Quit {
  readonly _tag: "Quit"
}

/**
 * `UTF8` (RFC 6856 §2).
 *
 * @category models
 * @since 0.1.0
 */
export interface Utf8 {
  readonly _tag: "Utf8"
}

/**
 * `LANG [tag]` (RFC 6856 §3): without a tag, a multi-line list of languages; `*` picks the
 * server's choice from the client's preferences.
 *
 * @category models
 * @since 0.1.0
 */
export interface Lang {
  readonly _tag: "Lang"
  readonly tag: string | undefined
}

/**
 * Every command.
 *
 * @category models
 * @since 0.1.0
 */
export type Pop3Command =
  | Capa
  | Stls
  | User
  | Pass
  | Apop
  | Auth
  | AuthContinue
  | AuthCancel
  | Stat
  | List
  | Uidl
  | Retr
  | Top
  | Dele
  | Rset
  | Noop
  | Quit
  | Utf8
  | Lang

// -----------------------------------------------------------------------------
// Constructors
// -----------------------------------------------------------------------------

/**
 * The `CAPA` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const capa: Capa = { _tag: "Capa" }

/**
 * The `STLS` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const stls: Stls = { _tag: "Stls" }

/**
 * The `*` line that cancels a SASL exchange.
 *
 * @category constructors
 * @since 0.1.0
 */
export const authCancel: AuthCancel = { _tag: "AuthCancel" }

/**
 * The `STAT` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const stat: Stat = { _tag: "Stat" }

/**
 * The `RSET` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const rset: Rset = { _tag: "Rset" }

/**
 * The `NOOP` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const noop: Noop = { _tag: "Noop" }

/**
 * The `QUIT` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const quit: Quit = { _tag: "Quit" }

/**
 * The `UTF8` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const utf8: Utf8 = { _tag: "Utf8" }

/**
 * A `USER` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const user = (name: string): User => ({ _tag: "User", name })

/**
 * A `PASS` command; the secret stays `Redacted` until encoding.
 *
 * @category constructors
 * @since 0.1.0
 */
export const pass = (secret: Redacted.Redacted<string>): Pass => ({ _tag: "Pass", secret })

/**
 * An `APOP` command (see `Apop.command` to compute the digest).
 *
 * @category constructors
 * @since 0.1.0
 */
export const apop = (name: string, digest: Redacted.Redacted<string>): Apop => ({ _tag: "Apop", name, digest })

/**
 * An `AUTH` command, with an optional raw initial response.
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
 * A response to a SASL challenge (raw bytes; encoded as base64).
 *
 * @category constructors
 * @since 0.1.0
 */
export const authContinue = (response: Redacted.Redacted<Uint8Array>): AuthContinue => ({
  _tag: "AuthContinue",
  response
})

/**
 * A `LIST` command, for one message or all.
 *
 * @category constructors
 * @since 0.1.0
 */
export const list = (msg?: number): List => ({ _tag: "List", msg })

/**
 * A `UIDL` command, for one message or all.
 *
 * @category constructors
 * @since 0.1.0
 */
export const uidl = (msg?: number): Uidl => ({ _tag: "Uidl", msg })

/**
 * A `RETR` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const retr = (msg: number): Retr => ({ _tag: "Retr", msg })

/**
 * A `TOP` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const top = (msg: number, lines: number): Top => ({ _tag: "Top", msg, lines })

/**
 * A `DELE` command.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dele = (msg: number): Dele => ({ _tag: "Dele", msg })

/**
 * A `LANG` command, listing languages or choosing one.
 *
 * @category constructors
 * @since 0.1.0
 */
export const lang = (tag?: string): Lang => ({ _tag: "Lang", tag })

// -----------------------------------------------------------------------------
// Expectation
// -----------------------------------------------------------------------------

/**
 * The kind of answer the command gets, to pass to `Pop3Protocol.Parser.expect` when it is sent.
 * Every command, SASL responses and `*` included, is answered by exactly one status line or
 * continuation.
 *
 * @category decoding
 * @since 0.1.0
 */
export const expectation = (command: Pop3Command): Pop3Response.Expectation => {
  switch (command._tag) {
    case "Capa":
      return "multi"
    case "List":
    case "Uidl":
      return command.msg === undefined ? "multi" : "single"
    case "Lang":
      return command.tag === undefined ? "multi" : "single"
    case "Retr":
    case "Top":
      return "multiStream"
    case "Auth":
    case "AuthContinue":
      return "sasl"
    default:
      return "single"
  }
}

// -----------------------------------------------------------------------------
// Encoding
// -----------------------------------------------------------------------------

/**
 * Encoder settings from the session.
 *
 * @category models
 * @since 0.1.0
 */
export interface EncodeOptions {
  /** UTF8 was accepted (RFC 6856 §2): USER, PASS and APOP names may be UTF-8. Default false. */
  readonly utf8?: boolean
}

/**
 * An encoded command: the bytes to write (with CRLF) and the trace line (without CRLF), secrets
 * replaced by `***`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Encoded {
  readonly bytes: Uint8Array
  readonly redacted: string
}

/** RFC 2449 §4: 255 octets including the CRLF. */
const MAX_LINE = 255

const encodeError = (field: string, detail: string) => Result.fail(new CodecError.EncodeError({ field, detail }))

/**
 * Checks a text argument: non-empty, printable, ASCII unless `utf8`, spaces only when allowed.
 * The detail never quotes the value.
 */
const checkText = (
  field: string,
  value: string,
  spaces: boolean,
  utf8: boolean
): Result.Result<void, CodecError.EncodeError> => {
  if (value.length === 0) return encodeError(field, "must not be empty")
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) {
      return encodeError(field, `contains a control character at index ${i} (CR, LF and NUL included)`)
    }
    if (c === 0x20 && !spaces) return encodeError(field, "must not contain a space (RFC 1939 §3)")
    if (c > 0x7e && !utf8) {
      return encodeError(field, `contains a non-ASCII character at index ${i}; allowed only after UTF8 (RFC 6856 §2)`)
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && i + 1 < value.length && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00
      if (!pair) return encodeError(field, `contains an unpaired surrogate at index ${i}`)
      i++
    }
  }
  return Result.void
}

const checkMsg = (field: string, value: number, min: number): Result.Result<void, CodecError.EncodeError> =>
  Number.isSafeInteger(value) && value >= min
    ? Result.void
    : encodeError(field, min === 1 ? "must be a positive integer" : "must be a non-negative integer")

/** SASL mechanism names (RFC 4422 §3.1): 1-20 of A-Z 0-9 - _ (lower case accepted and upper-cased). */
const checkMechanism = (mechanism: string): Result.Result<string, CodecError.EncodeError> =>
  /^[A-Za-z0-9_-]{1,20}$/.test(mechanism)
    ? Result.succeed(mechanism.toUpperCase())
    : encodeError("mechanism", "must be 1-20 characters of A-Z, 0-9, '-' and '_' (RFC 4422 §3.1)")

/** RFC 5646 language tag characters, or "*" (RFC 6856 §3). */
const checkLang = (tag: string): Result.Result<void, CodecError.EncodeError> =>
  tag === "*" || /^[A-Za-z0-9]{1,8}(?:-[A-Za-z0-9]{1,8})*$/.test(tag)
    ? Result.void
    : encodeError("tag", "must be a language tag or \"*\" (RFC 6856 §3)")

/**
 * Whether `AUTH mechanism <base64 of response>` fits in 255 octets (RFC 2449 §4, RFC 5034 §4).
 * When it does not, send `AUTH mechanism` alone and the response after the first (empty)
 * challenge.
 *
 * @category guards
 * @since 0.1.0
 */
export const initialResponseFits = (mechanism: string, responseLength: number): boolean =>
  // An empty response is sent as "=".
  authLineFits(mechanism, responseLength === 0 ? 1 : Math.ceil(responseLength / 3) * 4)

/**
 * Whether `AUTH mechanism <initial response>` fits in 255 octets with its CRLF when the response
 * takes `encodedLength` octets on the wire (base64, or "=") (RFC 2449 §4, RFC 5034 §4).
 *
 * @category guards
 * @since 0.1.0
 */
export const authLineFits = (mechanism: string, encodedLength: number): boolean =>
  // "AUTH " mechanism " " response CRLF
  5 + mechanism.length + 1 + encodedLength + 2 <= MAX_LINE

interface Line {
  readonly text: string
  readonly redacted: string
}

const line = (text: string, redacted: string = text): Result.Result<Line, CodecError.EncodeError> =>
  Result.succeed({ text, redacted })

const numbered = (keyword: string, field: string, msg: number | undefined): Result.Result<Line, CodecError.EncodeError> => {
  if (msg === undefined) return line(keyword)
  return Result.flatMap(checkMsg(field, msg, 1), () => line(`${keyword} ${msg}`))
}

const toLine = (command: Pop3Command, utf8: boolean): Result.Result<Line, CodecError.EncodeError> => {
  switch (command._tag) {
    case "Capa":
      return line("CAPA")
    case "Stls":
      return line("STLS")
    case "User":
      return Result.flatMap(checkText("name", command.name, false, utf8), () => line(`USER ${command.name}`))
    case "Pass": {
      const secret = Redacted.value(command.secret)
      return Result.flatMap(checkText("secret", secret, true, utf8), () => line(`PASS ${secret}`, "PASS ***"))
    }
    case "Apop": {
      const digest = Redacted.value(command.digest)
      if (!/^[0-9a-f]{32}$/.test(digest)) return encodeError("digest", "must be 32 lower-case hex digits (RFC 1939 §7)")
      return Result.flatMap(
        checkText("name", command.name, false, utf8),
        () => line(`APOP ${command.name} ${digest}`, `APOP ${command.name} ***`)
      )
    }
    case "Auth":
      return Result.flatMap(checkMechanism(command.mechanism), (mechanism) => {
        if (command.initialResponse === undefined) return line(`AUTH ${mechanism}`)
        const raw = Redacted.value(command.initialResponse)
        if (!initialResponseFits(mechanism, raw.length)) {
          return encodeError(
            "initialResponse",
            "the AUTH line would exceed 255 octets (RFC 5034 §4): send it after the first challenge"
          )
        }
        // RFC 5034 §4: an empty initial response is sent as "=".
        const encoded = raw.length === 0 ? "=" : Base64.encode(raw)
        return line(`AUTH ${mechanism} ${encoded}`, `AUTH ${mechanism} ***`)
      })
    case "AuthContinue":
      return line(Base64.encode(Redacted.value(command.response)), "***")
    case "AuthCancel":
      return line("*")
    case "Stat":
      return line("STAT")
    case "List":
      return numbered("LIST", "msg", command.msg)
    case "Uidl":
      return numbered("UIDL", "msg", command.msg)
    case "Retr":
      return numbered("RETR", "msg", command.msg)
    case "Dele":
      return numbered("DELE", "msg", command.msg)
    case "Top":
      return Result.flatMap(
        Result.flatMap(checkMsg("msg", command.msg, 1), () => checkMsg("lines", command.lines, 0)),
        () => line(`TOP ${command.msg} ${command.lines}`)
      )
    case "Rset":
      return line("RSET")
    case "Noop":
      return line("NOOP")
    case "Quit":
      return line("QUIT")
    case "Utf8":
      return line("UTF8")
    case "Lang":
      return command.tag === undefined
        ? line("LANG")
        : Result.flatMap(checkLang(command.tag), () => line(`LANG ${command.tag}`))
  }
}

/**
 * Encodes a command and its redacted trace line.
 *
 * @example
 * ```ts
 * import * as Pop3Command from "@starttls/pop3/Pop3Command"
 * import * as Redacted from "effect/Redacted"
 *
 * Pop3Command.encodeWithRedaction(Pop3Command.pass(Redacted.make("s3cret pass")))
 * // Success({ bytes: "PASS s3cret pass\r\n", redacted: "PASS ***" })
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const encodeWithRedaction = (
  command: Pop3Command,
  options?: EncodeOptions
): Result.Result<Encoded, CodecError.EncodeError> =>
  Result.flatMap(toLine(command, options?.utf8 === true), ({ redacted, text }) => {
    const bytes = Buffer.from(`${text}\r\n`, "utf8")
    if (command._tag !== "AuthContinue" && bytes.length > MAX_LINE) {
      return encodeError(
        command._tag === "Pass" ? "secret" : "command",
        `the command line is ${bytes.length} octets; at most ${MAX_LINE} with CRLF (RFC 2449 §4)`
      )
    }
    return Result.succeed({ bytes, redacted })
  })

/**
 * Encodes a command (with its CRLF).
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (command: Pop3Command, options?: EncodeOptions): Result.Result<Uint8Array, CodecError.EncodeError> =>
  Result.map(encodeWithRedaction(command, options), (encoded) => encoded.bytes)
