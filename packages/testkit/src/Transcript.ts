/**
 * The transcript format of the test kit: what a scripted server writes and what the client must
 * answer, line by line, for IMAP, POP3 and SMTP alike. `parse` turns the text into `Step`s that
 * `ScriptedServer.run` plays against one connection. This module only parses; it does no I/O.
 *
 * ```text
 * # IMAP STARTTLS with an injected answer after the OK (ATTACKS.md A7 shape)
 * S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready
 * C: A1 STARTTLS
 * S: <t> OK Begin TLS negotiation now
 * -- inject <n> OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n
 * -- tls localhost
 * C* A\d+ CAPABILITY
 * S: * CAPABILITY IMAP4rev1 AUTH=PLAIN
 * S: <t> OK done
 * -- expect-close
 * ```
 *
 * Lines (leading indentation is ignored, so transcripts can sit indented in template literals):
 *
 * | line | meaning |
 * |---|---|
 * | `S: text` | the server writes `text` + CRLF, as a write of its own |
 * | `S+ text` | the same, but appended to the previous write (one chunk on the wire) |
 * | `C: text` | the client must send exactly `text` + CRLF |
 * | `C* regex` | the client must send one CRLF-terminated line whose text (UTF-8, without CRLF) matches the JavaScript regular expression as a whole |
 * | `-- same-write` | the next line (which must be `S:`) joins the previous write, like `S+` |
 * | `-- inject text` | raw bytes (no CRLF added) appended to the previous write; a write of their own when the previous step is not a write |
 * | `-- delay 50` | wait 50 ms (0 to 60000) before going on |
 * | `-- starttls [profile]` | switch to TLS as the server right after the previous write (it must directly follow a server write), with the certificate `profile` (default `localhost`) |
 * | `-- tls profile` | the same with an explicit profile |
 * | `-- implicit-tls profile` | first step only: the server speaks TLS from the first byte |
 * | `-- close` | the server destroys the connection (abrupt close); must be the last step |
 * | `-- expect-close` | the client must close here; anything it sends afterwards is recorded as a violation; must be the last step |
 * | `# ...`, empty line | ignored |
 *
 * Profiles: `localhost`, `self-signed`, `wrong-name`, `expired` (see `Certificates`).
 *
 * In `S:`, `S+`, `C:` and `-- inject` text: `\r`, `\n`, `\xNN` (one byte) and `\\` are escapes (any
 * other backslash is an error); other characters are UTF-8. In server text (`S:`, `S+`, `-- inject`),
 * `<t>` is replaced by the tag of the client's last line (its first space-separated token) and `<n>`
 * by the next tag: the last tag with its trailing decimal number incremented, keeping its width
 * (`A001` -> `A002`). Write `\x3c` for a literal `<` in front of `t>` or `n>`. `C*` lines are taken
 * verbatim (regular-expression escapes are the regex's own).
 *
 * Parse errors are `TranscriptError`s carrying the 1-based line number.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Result from "effect/Result"

/**
 * Server certificate profiles (see `Certificates`).
 *
 * @category models
 * @since 0.1.0
 */
export type CertProfile = "localhost" | "self-signed" | "wrong-name" | "expired"

/**
 * All certificate profiles.
 *
 * @category models
 * @since 0.1.0
 */
export const certProfiles: ReadonlyArray<CertProfile> = ["localhost", "self-signed", "wrong-name", "expired"]

/**
 * A piece of server text: fixed bytes, or a placeholder resolved when the write happens.
 *
 * @category models
 * @since 0.1.0
 */
export type Segment =
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }
  | { readonly _tag: "Tag" }
  | { readonly _tag: "NextTag" }

/**
 * One write of the server: the segments go out in a single `write` call.
 *
 * @category models
 * @since 0.1.0
 */
export interface Write {
  readonly _tag: "Write"
  /** Line of the first `S:` (or `-- inject`) of the write. */
  readonly line: number
  readonly segments: ReadonlyArray<Segment>
}

/**
 * The client must send exactly `bytes` (a line including its CRLF).
 *
 * @category models
 * @since 0.1.0
 */
export interface Expect {
  readonly _tag: "Expect"
  readonly line: number
  readonly bytes: Uint8Array
}

/**
 * The client must send one CRLF-terminated line whose text satisfies `test`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ExpectMatch {
  readonly _tag: "ExpectMatch"
  readonly line: number
  /** Shown in mismatch reports (the regex source for `C*` lines). */
  readonly description: string
  readonly test: (line: string) => boolean
}

/**
 * Wait before the next step.
 *
 * @category models
 * @since 0.1.0
 */
export interface Delay {
  readonly _tag: "Delay"
  readonly line: number
  readonly millis: number
}

/**
 * Switch to TLS as the server with the given certificate.
 *
 * @category models
 * @since 0.1.0
 */
export interface StartTls {
  readonly _tag: "StartTls"
  readonly line: number
  readonly profile: CertProfile
}

/**
 * Destroy the connection (last step).
 *
 * @category models
 * @since 0.1.0
 */
export interface Close {
  readonly _tag: "Close"
  readonly line: number
}

/**
 * The client must close the connection here (last step).
 *
 * @category models
 * @since 0.1.0
 */
export interface ExpectClose {
  readonly _tag: "ExpectClose"
  readonly line: number
}

/**
 * @category models
 * @since 0.1.0
 */
export type Step = Write | Expect | ExpectMatch | Delay | StartTls | Close | ExpectClose

/**
 * A parsed transcript.
 *
 * @category models
 * @since 0.1.0
 */
export interface Transcript {
  /** Set by `-- implicit-tls`: TLS from the first byte with this certificate. */
  readonly implicitTls: CertProfile | undefined
  readonly steps: ReadonlyArray<Step>
}

/**
 * A transcript that cannot be parsed. `line` is 1-based; `text` is the offending source line.
 *
 * @category errors
 * @since 0.1.0
 */
export class TranscriptError extends Data.TaggedError("TranscriptError")<{
  readonly line: number
  readonly text: string
  readonly detail: string
}> {
  override get message(): string {
    return `transcript line ${this.line}: ${this.detail} (${JSON.stringify(this.text)})`
  }
}

const CRLF: Segment = { _tag: "Bytes", bytes: new Uint8Array([0x0d, 0x0a]) }
const MAX_DELAY = 60_000
const encoder = new TextEncoder()

const isHex = (c: string | undefined): boolean => c !== undefined && /^[0-9a-fA-F]$/.test(c)

/** Escapes and placeholders of one piece of text; `undefined` detail means fine. */
const decodeText = (
  text: string,
  placeholders: boolean
): { readonly segments: Array<Segment>; readonly detail?: string } => {
  const segments: Array<Segment> = []
  let run = ""
  const bytes: Array<number> = []
  const flushRun = () => {
    if (run.length > 0) for (const b of encoder.encode(run)) bytes.push(b)
    run = ""
  }
  const flushBytes = () => {
    flushRun()
    if (bytes.length > 0) segments.push({ _tag: "Bytes", bytes: Uint8Array.from(bytes) })
    bytes.length = 0
  }
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === "\\") {
      const e = text[i + 1]
      if (e === "r" || e === "n" || e === "\\") {
        run += e === "r" ? "\r" : e === "n" ? "\n" : "\\"
        i += 2
      } else if (e === "x" && isHex(text[i + 2]) && isHex(text[i + 3])) {
        flushRun()
        bytes.push(Number.parseInt(text.slice(i + 2, i + 4), 16))
        i += 4
      } else {
        return { segments, detail: `bad escape at column ${i + 1} (allowed: \\r \\n \\xNN \\\\)` }
      }
    } else if (placeholders && c === "<" && (text.startsWith("<t>", i) || text.startsWith("<n>", i))) {
      flushBytes()
      segments.push({ _tag: text[i + 1] === "t" ? "Tag" : "NextTag" })
      i += 3
    } else {
      run += c
      i += 1
    }
  }
  flushBytes()
  return { segments }
}

const concatSegments = (segments: ReadonlyArray<Segment>): Uint8Array => {
  let length = 0
  for (const s of segments) if (s._tag === "Bytes") length += s.bytes.length
  const out = new Uint8Array(length)
  let at = 0
  for (const s of segments) {
    if (s._tag === "Bytes") {
      out.set(s.bytes, at)
      at += s.bytes.length
    }
  }
  return out
}

/** Appends segments, merging adjacent byte runs so a write is as few segments as possible. */
const joinSegments = (
  left: ReadonlyArray<Segment>,
  right: ReadonlyArray<Segment>
): ReadonlyArray<Segment> => {
  const out = [...left]
  for (const segment of right) {
    const last = out[out.length - 1]
    if (segment._tag === "Bytes" && last?._tag === "Bytes") {
      out[out.length - 1] = { _tag: "Bytes", bytes: concatSegments([last, segment]) }
    } else {
      out.push(segment)
    }
  }
  return out
}

const isProfile = (s: string): s is CertProfile => (certProfiles as ReadonlyArray<string>).includes(s)

/**
 * Parses a transcript (format in the module header).
 *
 * @category decoding
 * @since 0.1.0
 */
export const parse = (source: string): Result.Result<Transcript, TranscriptError> => {
  const steps: Array<Step> = []
  let implicitTls: CertProfile | undefined
  let tls = false
  let sawClientLine = false
  let joinNext: number | undefined // line of a pending `-- same-write`
  let finalLine: number | undefined // line of `-- close` / `-- expect-close`
  const lines = source.split("\n")

  for (let index = 0; index < lines.length; index++) {
    const lineNo = index + 1
    const raw = lines[index]!
    const text = (raw.endsWith("\r") ? raw.slice(0, -1) : raw).trimStart()
    if (text === "" || text.startsWith("#")) continue
    const fail = (detail: string) => Result.fail(new TranscriptError({ line: lineNo, text, detail }))
    if (finalLine !== undefined) return fail(`nothing may follow the closing step on line ${finalLine}`)

    const last = steps[steps.length - 1]
    const appendable = last !== undefined && last._tag === "Write" ? last : undefined
    const serverText = (body: string) => {
      const decoded = decodeText(body, true)
      if (decoded.detail !== undefined) return decoded
      if (!sawClientLine && decoded.segments.some((s) => s._tag !== "Bytes")) {
        return { segments: decoded.segments, detail: "<t>/<n> used before any client line" }
      }
      return decoded
    }
    const appendTo = (write: Write, segments: ReadonlyArray<Segment>) => {
      steps[steps.length - 1] = { ...write, segments: joinSegments(write.segments, segments) }
    }

    if (joinNext !== undefined && !(text === "S:" || text.startsWith("S: "))) {
      return fail(`the \`-- same-write\` on line ${joinNext} must be followed by an S: line`)
    }

    const sLine = text === "S:" || text.startsWith("S: ")
    const sPlus = text === "S+" || text.startsWith("S+ ")
    if (sLine || sPlus) {
      const decoded = serverText(text.slice(3))
      if (decoded.detail !== undefined) return fail(decoded.detail)
      const segments = joinSegments(decoded.segments, [CRLF])
      if (sPlus || joinNext !== undefined) {
        if (appendable === undefined) return fail("S+ / same-write needs a server write right before it")
        appendTo(appendable, segments)
        joinNext = undefined
      } else {
        steps.push({ _tag: "Write", line: lineNo, segments })
      }
      continue
    }

    if (text === "C:" || text.startsWith("C: ")) {
      const decoded = decodeText(text.slice(3), false)
      if (decoded.detail !== undefined) return fail(decoded.detail)
      steps.push({ _tag: "Expect", line: lineNo, bytes: concatSegments([...decoded.segments, CRLF]) })
      sawClientLine = true
      continue
    }

    if (text.startsWith("C* ")) {
      const pattern = text.slice(3)
      if (pattern.length === 0) return fail("C* needs a regular expression")
      const compiled = Result.try({ try: () => new RegExp(`^(?:${pattern})$`), catch: String })
      if (Result.isFailure(compiled)) return fail(`invalid regular expression: ${compiled.failure}`)
      const regex = compiled.success
      steps.push({ _tag: "ExpectMatch", line: lineNo, description: `/${pattern}/`, test: (l) => regex.test(l) })
      sawClientLine = true
      continue
    }

    if (!text.startsWith("-- ")) return fail("expected `S:`, `S+`, `C:`, `C*`, `-- directive` or `#`")
    const directive = text.slice(3)
    const space = directive.indexOf(" ")
    const name = space === -1 ? directive : directive.slice(0, space)
    const arg = space === -1 ? "" : directive.slice(space + 1)

    switch (name) {
      case "same-write": {
        if (arg !== "") return fail("same-write takes no argument")
        if (appendable === undefined) return fail("same-write needs a server write right before it")
        joinNext = lineNo
        break
      }
      case "inject": {
        if (arg === "") return fail("inject needs bytes")
        const decoded = serverText(arg)
        if (decoded.detail !== undefined) return fail(decoded.detail)
        if (appendable !== undefined) appendTo(appendable, decoded.segments)
        else steps.push({ _tag: "Write", line: lineNo, segments: decoded.segments })
        break
      }
      case "delay": {
        if (!/^\d+$/.test(arg)) return fail("delay needs a whole number of milliseconds")
        const millis = Number(arg)
        if (millis > MAX_DELAY) return fail(`delay is limited to ${MAX_DELAY} ms`)
        steps.push({ _tag: "Delay", line: lineNo, millis })
        break
      }
      case "starttls":
      case "tls": {
        const profile = arg === "" && name === "starttls" ? "localhost" : arg
        if (!isProfile(profile)) return fail(`unknown certificate profile (one of ${certProfiles.join(", ")})`)
        if (tls) return fail("the connection is already TLS")
        // The switch happens synchronously after that write, so that nothing the client sends in
        // reply can be mistaken for plaintext.
        if (appendable === undefined) return fail(`${name} must directly follow a server write`)
        tls = true
        steps.push({ _tag: "StartTls", line: lineNo, profile })
        break
      }
      case "implicit-tls": {
        if (!isProfile(arg)) return fail(`unknown certificate profile (one of ${certProfiles.join(", ")})`)
        if (steps.length > 0 || tls) return fail("implicit-tls must come before every other step")
        tls = true
        implicitTls = arg
        break
      }
      case "close":
      case "expect-close": {
        if (arg !== "") return fail(`${name} takes no argument`)
        steps.push({ _tag: name === "close" ? "Close" : "ExpectClose", line: lineNo })
        finalLine = lineNo
        break
      }
      default:
        return fail(`unknown directive \`-- ${name}\``)
    }
  }
  if (joinNext !== undefined) {
    return Result.fail(
      new TranscriptError({ line: joinNext, text: "-- same-write", detail: "same-write at the end of the transcript" })
    )
  }
  return Result.succeed({ implicitTls, steps })
}
