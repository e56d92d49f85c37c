/**
 * Pure, incremental decoder of IMAP server responses (IMAP4rev2 RFC 9051, IMAP4rev1 RFC 3501, and
 * the extensions modelled in `ImapResponse`).
 *
 * `makeParser(options).push(chunk)` frames the byte stream into responses and decodes each one
 * straight into typed `ImapResponse` values, synchronously: every complete response in the chunk
 * is returned at once, a partial one is kept for the next push. Nothing here opens a socket,
 * tracks the session, matches tags to commands or decides whether server text can be trusted: the
 * client does that.
 *
 * Performance model (`bench/parse.ts`): LF found with `Buffer#indexOf`, literal bytes skipped by
 * count and returned as views of the pushed chunk (copied once only when they straddle chunks),
 * each line decoded to a string once (latin1 when ASCII, UTF-8 when it holds valid UTF-8) and
 * tokenized with `charCodeAt`, FETCH attributes built directly, nested lists read with explicit
 * stacks.
 *
 * Safety: the parser is total and bounded (S8). Any input gives responses or a `DecodeError`
 * (`MalformedInput` naming the ABNF rule, or `LimitExceeded` naming the option), never an
 * exception; the first error is terminal. Any split of the input into chunks gives the same
 * responses. Tags are returned as sent (the client checks them against its commands in flight)
 * and no server text is interpreted beyond the grammar.
 *
 * Accepted beyond the ABNF, each because a real server or a peer parser's experience calls for it:
 * - a lone LF as line end, and spaces before the line end (go-imap v2 `imapwire.Decoder.CRLF`
 *   accepts both, with an issue link, see shared/STYLE.md §1);
 * - `body-fld-octets` / `body-fld-lines` of `-1` (go-imap v2 `ExpectBodyFldOctets`: "some servers
 *   incorrectly return" it);
 * - keywords in any case (`* ok`, `fetch`, `uid`): RFC 9051 §9 makes them case-insensitive;
 * - `{n+}` literal markers from the server (RFC 7888 defines them for clients only) and `~{n}`
 *   wherever a string may be (RFC 3516 allows it for BINARY only);
 * - response text that is empty or missing (`a1 OK`, `+` without SP, `[ALERT]` without text or SP
 *   after `]`), text after a code that takes none, unknown response codes, untagged responses and
 *   FETCH attributes (kept raw: Gmail's X-GM-* items, QUOTA, METADATA ...);
 * - SP before `)` and between list items where the ABNF has none (address lists, namespace
 *   descriptions, body parts), `()` for an empty parameter list, NIL where BODYSTRUCTURE has a
 *   string (media type, subtype, encoding, parameter names and values: read as ""), a bare string
 *   as Content-Disposition, a text part without a line count, INTERNALDATE NIL and a day without
 *   its padding space. These keep one odd part from failing a whole FETCH; none of them changes
 *   how the input is framed, so none can hide one response inside another.
 *
 * @since 0.1.0
 */
import type * as CodecError from "@starttls/core/CodecError"
import * as CodecErrors from "@starttls/core/CodecError"
import * as Limits from "@starttls/core/Limits"
import * as Result from "effect/Result"
import type * as ImapResponse from "./ImapResponse.ts"
import { Framer } from "./internal/framer.ts"

/**
 * Parser limits and the literal streaming threshold. Every limit names itself in the
 * `LimitExceeded` it causes.
 *
 * @category models
 * @since 0.1.0
 */
export interface ParserOptions {
  /** Longest line segment (the text between literals, without CRLF), in bytes. */
  readonly maxLineLength?: number
  /** Largest literal that is buffered (streamed literals are not limited by it). */
  readonly maxLiteralSize?: number
  /** Deepest nesting of parenthesised lists (BODYSTRUCTURE, extension data). */
  readonly maxListDepth?: number
  /** Most bytes buffered for one response: its segments and buffered literals together. */
  readonly maxResponseBytes?: number
  /**
   * When set, a BODY[...] or BINARY[...] literal larger than this many bytes in a FETCH response is
   * not buffered: the parser emits `LiteralStart`, then its bytes as `LiteralChunk` frames as they
   * arrive, and the FETCH response then completes with that section marked `streamed`.
   */
  readonly streamLiteralsAbove?: number
}

/**
 * Defaults. Literal size, list depth and response size come from `@starttls/core/Limits`. The
 * line limit is IMAP's own: one `* SEARCH` line lists every match (about 7 bytes per message, so
 * 64 KiB covers only ~9,000 messages), and LIST/SEARCH answers carry no literals to split them, so
 * the default is 8 MiB (a line of a million UIDs). List depth 64: real BODYSTRUCTUREs nest a few
 * levels (multipart/mixed > alternative > related, message/rfc822 adds two per forwarded level),
 * and the depth only needs to stop hostile nesting, not recursion (the parser uses explicit stacks).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultParserOptions: Required<Omit<ParserOptions, "streamLiteralsAbove">> = {
  maxLineLength: 8 * 1024 * 1024,
  maxLiteralSize: Limits.defaultLimits.maxLiteralSize,
  maxListDepth: Limits.defaultLimits.maxListDepth,
  maxResponseBytes: Limits.defaultLimits.maxResponseBytes
}

/**
 * An incremental response parser.
 *
 * @category models
 * @since 0.1.0
 */
export interface Parser {
  /**
   * Takes the next bytes from the server and returns every response (and streamed literal frame)
   * they complete, in order. The parser keeps views into `chunk` (literal bytes, partial lines):
   * hand over a buffer that is not reused, as socket reads are. After a failure every call returns
   * the same failure; frames completed by the failing call are not returned.
   */
  push(chunk: Uint8Array): Result.Result<ReadonlyArray<ImapResponse.Frame>, CodecError.DecodeError>
  /**
   * Bytes received that no returned response accounts for (a partial response). It is 0 right
   * after a push whose input ended exactly at the end of a response. STARTTLS check (S3): after
   * the tagged OK to STARTTLS it must be 0 and the OK must be the last frame of its batch.
   */
  buffered(): number
  /** The first (at most 64) bytes that `buffered()` counts, for an error report. */
  pendingPreview(): Uint8Array
  /**
   * Whether the parser still holds a view into `buffer` (a pushed chunk's buffer) for a response
   * not yet returned: a partial line, or the segments and literals of a response under way.
   */
  retains(buffer: ArrayBufferLike): boolean
  /**
   * `push` appending to `out` (no array or result per call): returns the failure, if any; frames
   * the failing call completed before it are in `out`, and are not to be used.
   */
  pushInto(chunk: Uint8Array, out: Array<ImapResponse.Frame>): CodecError.DecodeError | undefined
}

/**
 * Creates a parser.
 *
 * @example
 * ```ts
 * import * as ImapProtocol from "@starttls/imap/ImapProtocol"
 * import * as Result from "effect/Result"
 *
 * const parser = ImapProtocol.makeParser()
 * const result = parser.push(new TextEncoder().encode("* 3 EXISTS\r\na1 OK done\r\n"))
 * if (Result.isSuccess(result)) console.log(result.success) // Exists, Tagged
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeParser = (options?: ParserOptions): Parser => {
  const framer = new Framer({
    maxLineLength: options?.maxLineLength ?? defaultParserOptions.maxLineLength,
    maxLiteralSize: options?.maxLiteralSize ?? defaultParserOptions.maxLiteralSize,
    maxListDepth: options?.maxListDepth ?? defaultParserOptions.maxListDepth,
    maxResponseBytes: options?.maxResponseBytes ?? defaultParserOptions.maxResponseBytes,
    streamLiteralsAbove: options?.streamLiteralsAbove ?? Infinity
  })
  let failure: CodecError.DecodeError | undefined
  const pushInto = (chunk: Uint8Array, out: Array<ImapResponse.Frame>): CodecError.DecodeError | undefined => {
    if (failure !== undefined) return failure
    try {
      framer.push(chunk, out)
    } catch (e) {
      failure = asDecodeError(e, framer.pendingPreview())
      return failure
    }
    return undefined
  }
  return {
    push(chunk) {
      const out: Array<ImapResponse.Frame> = []
      const error = pushInto(chunk, out)
      return error === undefined ? Result.succeed(out) : Result.fail(error)
    },
    pushInto,
    buffered: () => framer.buffered(),
    pendingPreview: () => framer.pendingPreview(),
    retains: (buffer) => framer.retains(buffer)
  }
}

const asDecodeError = (e: unknown, pending: Uint8Array): CodecError.DecodeError => {
  if (e instanceof CodecErrors.LimitExceeded || e instanceof CodecErrors.MalformedInput) return e
  // Not reachable by input (every path throws one of the above); kept so no exception escapes.
  return new CodecErrors.MalformedInput({
    grammar: "response",
    detail: `parser failure: ${e instanceof Error ? e.name : typeof e}`,
    preview: CodecErrors.preview(pending)
  })
}
