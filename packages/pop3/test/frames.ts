/**
 * Test helpers: run a parser over chunks and compare frames independently of how body bytes were
 * cut into `BodyChunk`s.
 */
import type * as CodecError from "@starttls/core/CodecError"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import * as Pop3Protocol from "../src/Pop3Protocol.ts"
import type * as Pop3Response from "../src/Pop3Response.ts"

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/** A frame with the body bytes of consecutive `BodyChunk`s merged into one latin1 string. */
export type Normal =
  | Exclude<Pop3Response.Frame, Pop3Response.BodyChunk>
  | { readonly _tag: "Body"; readonly expectation: number; readonly latin1: string }

export const normalize = (frames: ReadonlyArray<Pop3Response.Frame>): Array<Normal> => {
  const out: Array<Normal> = []
  for (const frame of frames) {
    if (frame._tag !== "BodyChunk") {
      out.push(frame)
      continue
    }
    const text = Buffer.from(frame.bytes).toString("latin1")
    const last = out[out.length - 1]
    if (last !== undefined && last._tag === "Body" && last.expectation === frame.expectation) {
      out[out.length - 1] = { ...last, latin1: last.latin1 + text }
    } else {
      out.push({ _tag: "Body", expectation: frame.expectation, latin1: text })
    }
  }
  return out
}

export interface Run {
  readonly frames: Array<Pop3Response.Frame>
  readonly error: CodecError.DecodeError | undefined
  /** `buffered()` after each successful push. */
  readonly buffered: Array<number>
}

/** Pushes the chunks in order, stopping at the first failure. */
export const feed = (parser: Pop3Protocol.Parser, chunks: ReadonlyArray<Uint8Array>): Run => {
  const frames: Array<Pop3Response.Frame> = []
  const buffered: Array<number> = []
  for (const chunk of chunks) {
    const result = parser.push(chunk)
    if (Result.isFailure(result)) return { frames, error: result.failure, buffered }
    frames.push(...result.success)
    buffered.push(parser.buffered())
  }
  return { frames, error: undefined, buffered }
}

/** A fresh parser with the given expectations queued, fed the chunks. */
export const parse = (
  kinds: ReadonlyArray<Pop3Response.Expectation>,
  chunks: ReadonlyArray<Uint8Array>,
  options?: Pop3Protocol.ParserOptions
): Run & { readonly parser: Pop3Protocol.Parser } => {
  const parser = Pop3Protocol.makeParser(options)
  for (const kind of kinds) parser.expect(kind)
  return { ...feed(parser, chunks), parser }
}

/** The error's identity without chunk-dependent details (preview, `actual`). */
export const errorKey = (error: CodecError.DecodeError | undefined): string =>
  error === undefined ? "none" : error._tag === "LimitExceeded" ? `LimitExceeded:${error.limit}` : `MalformedInput:${error.grammar}`

export const byteAtATime = (input: Uint8Array): Array<Uint8Array> => Array.from(input, (_, i) => input.subarray(i, i + 1))
