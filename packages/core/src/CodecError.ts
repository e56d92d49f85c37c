/**
 * Errors of the pure wire codecs (parsers and encoders of every protocol package).
 *
 * Codecs run without the Effect runtime, so these are cheap `Data.TaggedError`s. A parser that
 * returns a `DecodeError` is terminal: every later `push` returns the same error. The client maps
 * them into its `MailError` reasons (`LimitExceeded`, `ProtocolViolation`).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * A configured limit was exceeded by input (line length, literal size, list depth, lines per reply,
 * buffered bytes ...). `limit` names the option (e.g. `"maxLineLength"`).
 *
 * @category errors
 * @since 0.1.0
 */
export class LimitExceeded extends Data.TaggedError("LimitExceeded")<{
  readonly limit: string
  readonly max: number
  readonly actual: number
}> {
  override get message(): string {
    return `${this.limit} exceeded: ${this.actual} > ${this.max}`
  }
}

/**
 * Input that does not match the protocol grammar. `grammar` is the ABNF rule (RFC name) being parsed,
 * `detail` says what was wrong, `preview` is a short, printable, escaped excerpt of the offending input
 * (never more than 64 characters; it is server-controlled text and never trusted).
 *
 * @category errors
 * @since 0.1.0
 */
export class MalformedInput extends Data.TaggedError("MalformedInput")<{
  readonly grammar: string
  readonly detail: string
  readonly preview: string
}> {
  override get message(): string {
    return `malformed ${this.grammar}: ${this.detail} near ${JSON.stringify(this.preview)}`
  }
}

/**
 * What a parser can fail with.
 *
 * @category errors
 * @since 0.1.0
 */
export type DecodeError = LimitExceeded | MalformedInput

/**
 * A value that cannot be put on the wire (CR/LF/NUL in an argument, a non-ASCII byte where the
 * protocol allows none, an over-long argument ...). Raised before a single byte is written.
 *
 * @category errors
 * @since 0.1.0
 */
export class EncodeError extends Data.TaggedError("EncodeError")<{
  readonly field: string
  readonly detail: string
}> {
  override get message(): string {
    return `cannot encode ${this.field}: ${this.detail}`
  }
}

const HEX = "0123456789abcdef"

/**
 * An escaped, printable excerpt of untrusted bytes for error messages: at most `max` characters,
 * control and non-ASCII bytes shown as `\xNN`, CR/LF as `\r`/`\n`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const preview = (bytes: Uint8Array, max = 64): string => {
  let out = ""
  for (let i = 0; i < bytes.length && out.length < max; i++) {
    const b = bytes[i]!
    if (b === 0x0d) out += "\\r"
    else if (b === 0x0a) out += "\\n"
    else if (b === 0x5c) out += "\\\\"
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b)
    else out += "\\x" + HEX[b >> 4] + HEX[b & 15]
  }
  return out.length > max ? out.slice(0, max) : out
}
