/**
 * The IMAP server's command reader (RFC 9051 §2.2.1, §4, §9): client bytes in, whole commands out.
 *
 * A command is one or more physical lines joined by literals. A line ending in `{n}` (synchronizing
 * literal) makes the reader ask the session for a continuation request (`+ OK`) before the client
 * may send the n bytes; `{n+}` (LITERAL+, RFC 7888) comes without one; `~{n}` / `~{n+}` are
 * literal8 (RFC 3516). When the command is complete it is split into tokens: atoms (with
 * `[...]` kept whole, so `BODY.PEEK[HEADER.FIELDS (A B)]<0.10>` is one atom), quoted strings,
 * literals and parenthesized lists.
 *
 * Between commands the same buffer serves raw lines (AUTHENTICATE responses, IDLE's DONE), so
 * nothing a client pipelines is lost or read twice. Text is binary (latin1) strings.
 *
 * Bounded: a physical line longer than `maxLineLength` is fatal (the session says BYE, as Dovecot
 * does), a literal over `maxLiteralSize` or a command whose literals exceed `maxCommandSize` is
 * refused: tagged NO before the continuation of a synchronizing literal, fatal for a
 * non-synchronizing one (RFC 7888 §4).
 *
 * @internal
 */
import { binary } from "./out.ts"

export type Token =
  | { readonly _tag: "Atom"; readonly value: string }
  | { readonly _tag: "Quoted"; readonly value: string }
  | { readonly _tag: "Literal"; readonly bytes: Uint8Array; readonly binary: boolean }
  | { readonly _tag: "List"; readonly items: ReadonlyArray<Token> }

export type Event =
  | {
    readonly _tag: "Command"
    readonly tag: string
    /** Upper-cased. */
    readonly name: string
    readonly args: ReadonlyArray<Token>
  }
  /** The client waits for a continuation request before sending a synchronizing literal. */
  | { readonly _tag: "Continue" }
  /** A command that cannot be parsed (already consumed); answer BAD. */
  | { readonly _tag: "Bad"; readonly tag: string | undefined; readonly text: string }
  /** A synchronizing literal over the limit: the client will not send it; answer NO [TOOBIG]. */
  | { readonly _tag: "TooBig"; readonly tag: string | undefined }
  /** Fatal: an over-long line or an over-long non-synchronizing literal. */
  | { readonly _tag: "Fatal"; readonly text: string }

export interface Limits {
  readonly maxLineLength: number
  readonly maxLiteralSize: number
  readonly maxCommandSize: number
}

/** Which non-synchronizing literals the client may send (RFC 7888). */
export type LiteralMode = "plus" | "minus" | "none"

export interface Reader {
  readonly push: (bytes: Uint8Array) => void
  /** The next event, `undefined` while more bytes are needed. */
  readonly next: (mode: LiteralMode) => Event | undefined
  /** The next raw line without its line end (binary string), `undefined` while incomplete. */
  readonly line: () => { readonly _tag: "Line"; readonly text: string } | { readonly _tag: "Fatal" } | undefined
  /** Removes everything buffered and the command being assembled (STARTTLS discards pipelined input). */
  readonly drain: () => Uint8Array
}

interface Segment {
  readonly text: string
  readonly literal: { readonly bytes: Uint8Array; readonly binary: boolean } | undefined
}

const LF = 0x0a
const LITERAL_MINUS_MAX = 4096
const MARKER = /(~?)\{(\d{1,10})(\+?)\}$/

export const make = (limits: Limits): Reader => {
  let chunks: Array<Uint8Array> = []
  let buffered = 0
  let segments: Array<Segment> = []
  let commandSize = 0
  let awaiting: { readonly text: string; readonly size: number; readonly binary: boolean; readonly sync: boolean } | undefined
  let continued = false
  let deferredError: string | undefined

  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const head = chunks[0]!
      const wanted = n - filled
      if (head.length <= wanted) {
        out.set(head, filled)
        filled += head.length
        chunks.shift()
      } else {
        out.set(head.subarray(0, wanted), filled)
        chunks[0] = head.subarray(wanted)
        filled += wanted
      }
    }
    buffered -= n
    return out
  }

  /** The next physical line (with its LF) as a binary string; "long" when over the limit. */
  const physicalLine = (): string | "long" | undefined => {
    let scanned = 0
    for (const chunk of chunks) {
      const lf = chunk.indexOf(LF)
      if (lf !== -1) {
        const length = scanned + lf + 1
        return length > limits.maxLineLength ? "long" : binary(take(length))
      }
      scanned += chunk.length
      if (scanned > limits.maxLineLength) return "long"
    }
    return undefined
  }

  const stripEnd = (line: string): string => line.endsWith("\r\n") ? line.slice(0, -2) : line.slice(0, -1)

  const reset = () => {
    segments = []
    commandSize = 0
    awaiting = undefined
    continued = false
    deferredError = undefined
  }

  const reader: Reader = {
    push: (bytes) => {
      if (bytes.length === 0) return
      chunks.push(bytes)
      buffered += bytes.length
    },
    next: (mode) => {
      for (;;) {
        if (awaiting !== undefined) {
          if (awaiting.sync && !continued) {
            continued = true
            return { _tag: "Continue" }
          }
          if (buffered < awaiting.size) return undefined
          segments.push({ text: awaiting.text, literal: { bytes: take(awaiting.size), binary: awaiting.binary } })
          awaiting = undefined
          continued = false
          continue
        }
        const raw = physicalLine()
        if (raw === undefined) return undefined
        if (raw === "long") {
          reset()
          return { _tag: "Fatal", text: "Too long argument." }
        }
        const text = stripEnd(raw)
        const marker = MARKER.exec(text)
        if (marker === null) {
          segments.push({ text, literal: undefined })
          const done = segments
          const error = deferredError
          reset()
          const event = parseCommand(done)
          if (error !== undefined && event._tag === "Command") return { _tag: "Bad", tag: event.tag, text: error }
          return event
        }
        const size = Number(marker[2])
        const plus = marker[3] === "+"
        const head = text.slice(0, marker.index)
        commandSize += size + text.length
        if (plus && mode === "none") deferredError ??= "Non-synchronizing literal without LITERAL+."
        if (plus && mode === "minus" && size > LITERAL_MINUS_MAX) {
          reset()
          return { _tag: "Fatal", text: "Non-synchronizing literal over 4096 bytes without LITERAL+." }
        }
        if (size > limits.maxLiteralSize || commandSize > limits.maxCommandSize) {
          const tag = tagOf(segments.length > 0 ? segments[0]!.text : head)
          reset()
          if (plus) return { _tag: "Fatal", text: "[TOOBIG] Literal too large." }
          return { _tag: "TooBig", tag }
        }
        awaiting = { text: head, size, binary: marker[1] === "~", sync: !plus }
      }
    },
    line: () => {
      const raw = physicalLine()
      if (raw === undefined) return undefined
      if (raw === "long") return { _tag: "Fatal" }
      return { _tag: "Line", text: stripEnd(raw) }
    },
    drain: () => {
      const all = chunks.length === 0 ? new Uint8Array(0) : Buffer.concat(chunks)
      chunks = []
      buffered = 0
      reset()
      return all
    }
  }
  return reader
}

// RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">
const TAG = /^[\x21\x23-\x24\x26-\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+$/

const tagOf = (text: string): string | undefined => {
  const space = text.indexOf(" ")
  const candidate = space === -1 ? text : text.slice(0, space)
  return TAG.test(candidate) ? candidate : undefined
}

interface Invalid {
  readonly _tag: "Invalid"
  readonly text: string
}

const invalid = (text: string): Invalid => ({ _tag: "Invalid", text })

const parseCommand = (segments: ReadonlyArray<Segment>): Event => {
  const first = segments[0]!.text
  const tag = tagOf(first)
  if (tag === undefined) return { _tag: "Bad", tag: undefined, text: "Error in IMAP command received by server." }
  const tokens = tokenize(segments)
  if (!Array.isArray(tokens)) return { _tag: "Bad", tag, text: tokens.text }
  const name = tokens[1]
  if (name === undefined || name._tag !== "Atom") return { _tag: "Bad", tag, text: "Error in IMAP command received by server." }
  return { _tag: "Command", tag, name: name.value.toUpperCase(), args: tokens.slice(2) }
}

/** RFC 9051 §9 tokens of a whole command; exactly one SP between tokens. */
const tokenize = (segments: ReadonlyArray<Segment>): Array<Token> | Invalid => {
  const stack: Array<Array<Token>> = [[]]
  // Whether the next token may start here (after SP, "(" or at the start).
  let boundary = true
  for (const segment of segments) {
    const text = segment.text
    let i = 0
    while (i < text.length) {
      const c = text[i]!
      if (c === " ") {
        if (boundary) return invalid("Extra space in command.")
        boundary = true
        i++
        continue
      }
      if (c === ")") {
        if (stack.length === 1) return invalid("Unexpected ')'.")
        const items = stack.pop()!
        stack[stack.length - 1]!.push({ _tag: "List", items })
        boundary = false
        i++
        continue
      }
      if (!boundary) return invalid("Missing space between arguments.")
      if (c === "(") {
        stack.push([])
        i++
        continue
      }
      if (c === "\"") {
        let value = ""
        let j = i + 1
        for (;;) {
          if (j >= text.length) return invalid("Unterminated quoted string.")
          const d = text[j]!
          if (d === "\"") break
          if (d === "\\") {
            const e = text[j + 1]
            if (e !== "\\" && e !== "\"") return invalid("Invalid escape in quoted string.")
            value += e
            j += 2
            continue
          }
          value += d
          j++
        }
        stack[stack.length - 1]!.push({ _tag: "Quoted", value })
        boundary = false
        i = j + 1
        continue
      }
      let j = i
      let depth = 0
      while (j < text.length) {
        const d = text[j]!
        if (d === "[") depth++
        else if (d === "]") depth = Math.max(0, depth - 1)
        else if (depth === 0 && (d === " " || d === "(" || d === ")" || d === "\"")) break
        if (d < " " || d === "\x7f") return invalid("Control character in command.")
        j++
      }
      if (depth > 0) return invalid("Missing ']'.")
      stack[stack.length - 1]!.push({ _tag: "Atom", value: text.slice(i, j) })
      boundary = false
      i = j
    }
    if (segment.literal !== undefined) {
      if (!boundary) return invalid("Literal must follow a space.")
      stack[stack.length - 1]!.push({ _tag: "Literal", bytes: segment.literal.bytes, binary: segment.literal.binary })
      boundary = false
    }
  }
  if (stack.length !== 1) return invalid("Missing ')'.")
  if (boundary && stack[0]!.length > 0) return invalid("Trailing space in command.")
  return stack[0]!
}
