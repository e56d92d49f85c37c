/**
 * Test helpers for the SMTP codec tests: byte builders and a driver that pushes chunks through a
 * reply parser and collects the outcome in a comparable form.
 */
import type * as CodecError from "@starttls/core/CodecError"
import { assert } from "@effect/vitest"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import * as SmtpProtocol from "../src/SmtpProtocol.ts"
import type * as SmtpReply from "../src/SmtpReply.ts"

/** UTF-8 bytes of a string. */
export const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "utf8"))

/** One byte per character (for raw, non-UTF-8 test input). */
export const latin1 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"))

export const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => new Uint8Array(Buffer.concat(parts))

export const text = (b: Uint8Array): string => Buffer.from(b).toString("latin1")

/** The outcome of parsing a sequence of chunks: every reply, then the error if one occurred. */
export interface Outcome {
  readonly replies: ReadonlyArray<SmtpReply.SmtpReply>
  readonly error: CodecError.DecodeError | undefined
  readonly buffered: number
}

export const run = (chunks: ReadonlyArray<Uint8Array>, options?: SmtpProtocol.ParserOptions): Outcome => {
  const parser = SmtpProtocol.makeReplyParser(options)
  const replies: Array<SmtpReply.SmtpReply> = []
  for (const chunk of chunks) {
    const result = parser.push(chunk)
    if (Result.isFailure(result)) return { replies, error: result.failure, buffered: parser.buffered() }
    replies.push(...result.success)
  }
  return { replies, error: undefined, buffered: parser.buffered() }
}

/** Replies of a stream that must parse, pushed in one chunk. */
export const parseOk = (wire: string, options?: SmtpProtocol.ParserOptions): ReadonlyArray<SmtpReply.SmtpReply> => {
  const outcome = run([bytes(wire)], options)
  if (outcome.error !== undefined) assert.fail(`unexpected ${outcome.error.message}`)
  return outcome.replies
}

/** The error of a stream that must fail, pushed in one chunk. */
export const parseError = (wire: Uint8Array | string, options?: SmtpProtocol.ParserOptions): CodecError.DecodeError => {
  const outcome = run([typeof wire === "string" ? bytes(wire) : wire], options)
  if (outcome.error === undefined) assert.fail(`expected an error, got ${outcome.replies.length} replies`)
  return outcome.error
}

/** Byte-at-a-time chunks. */
export const bytewise = (b: Uint8Array): ReadonlyArray<Uint8Array> => Array.from(b, (_, i) => b.subarray(i, i + 1))

/** Splits at sorted, distinct cut positions derived from arbitrary numbers. */
export const splitAt = (b: Uint8Array, cuts: ReadonlyArray<number>): ReadonlyArray<Uint8Array> => {
  const positions = [...new Set(cuts.map((c) => (b.length === 0 ? 0 : c % (b.length + 1))))].sort((x, y) => x - y)
  const out: Array<Uint8Array> = []
  let start = 0
  for (const p of positions) {
    out.push(b.subarray(start, p))
    start = p
  }
  out.push(b.subarray(start))
  return out
}

/** An error reduced to what must not depend on chunking. */
export const errorKey = (error: CodecError.DecodeError | undefined): string | undefined =>
  error === undefined
    ? undefined
    : error._tag === "LimitExceeded"
    ? `LimitExceeded:${error.limit}`
    : `MalformedInput:${error.grammar}:${error.detail}:${error.preview}`
