/**
 * Byte and text helpers shared by the SASL mechanisms: UTF-8, strict base64, input checks that
 * never quote the value they reject.
 *
 * @internal
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as CodecError from "../../CodecError.ts"
import type * as Sasl from "../../Sasl.ts"
import { type Reason, SaslError } from "../../SaslError.ts"

/** @internal What a mechanism's opening produces: its initial response (client-first) and state. */
export interface Opening {
  readonly initial: Uint8Array | undefined
  readonly state: Sasl.State
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** @internal */
export const utf8 = (text: string): Uint8Array => encoder.encode(text)

/** @internal Decodes strict UTF-8; `undefined` when the bytes are not UTF-8. */
export const fromUtf8 = (bytes: Uint8Array): string | undefined => {
  try {
    return decoder.decode(bytes)
  } catch {
    return undefined
  }
}

/** @internal Joins byte arrays. */
export const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/** @internal A response to send: always wrapped, it may carry a secret. */
export const secret = (bytes: Uint8Array): Redacted.Redacted<Uint8Array> => Redacted.make(bytes)

/** @internal The empty response. */
export const empty = (): Redacted.Redacted<Uint8Array> => Redacted.make(new Uint8Array(0))

/** @internal Standard base64 (RFC 4648 §4) with padding. */
export const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** @internal Strict base64 (canonical alphabet, padding required); `undefined` if not base64. */
export const fromBase64 = (text: string): Uint8Array | undefined =>
  BASE64.test(text) ? new Uint8Array(Buffer.from(text, "base64")) : undefined

/** @internal */
export const fail = (
  reason: Reason,
  mechanism: string,
  detail: string,
  untrustedServerText?: Uint8Array | string
): Result.Result<never, SaslError> =>
  Result.fail(
    new SaslError({
      reason,
      mechanism,
      detail,
      untrustedServerText: untrustedServerText === undefined
        ? undefined
        : CodecError.preview(typeof untrustedServerText === "string" ? utf8(untrustedServerText) : untrustedServerText)
    })
  )

// A lone UTF-16 surrogate would be encoded as U+FFFD: refuse it instead of sending something else.
const LONE_SURROGATE = /\p{Cs}/u

/**
 * @internal
 * Checks a text field before it is encoded. `forbidden` lists the characters the mechanism
 * reserves (NUL, separators). The message names the field and the problem, never the value.
 */
export const checkField = (
  mechanism: string,
  reason: "InvalidUsername" | "InvalidSecret" | "InvalidInput",
  field: string,
  value: string,
  options: { readonly forbidden: RegExp; readonly forbiddenName: string; readonly allowEmpty?: boolean }
): Result.Result<string, SaslError> => {
  if (value.length === 0 && options.allowEmpty !== true) return fail(reason, mechanism, `${field} is empty`)
  if (LONE_SURROGATE.test(value)) return fail(reason, mechanism, `${field} is not well-formed Unicode`)
  if (options.forbidden.test(value)) return fail(reason, mechanism, `${field} contains ${options.forbiddenName}`)
  return Result.succeed(value)
}

/** @internal NUL, the separator of PLAIN and a terminator for C servers. */
export const NUL = /\0/

/** @internal Control characters (C0 and DEL), which no identity or host needs. */
export const CONTROL = /[\0-\x1f\x7f]/
