/**
 * LINE: a tiny STARTTLS protocol that exists only to test core, and the proof that a protocol author
 * needs no change in core. Everything here is what a protocol package supplies: a framer, encoders and
 * a dialect value.
 *
 * Wire format (every line ends in CRLF):
 *   greeting   S: "+OK [CAPS a b c] text" | "+PREAUTH [CAPS ...]" | "-ERR text"
 *   CAPA       C: "CAPA"          S: "+OK CAPS a b c" | "-ERR text"
 *   STARTTLS   C: "STARTTLS"      S: "+OK text" (then TLS) | "-ERR text" | "-TEMP text"
 *   AUTH       C: "AUTH MECH [base64|=]"  S: "+ base64" (challenge) | "+OK [CAPS ...] [base64]" | "-ERR text"
 *              (the initial response only with the SASL-IR capability, and only within AUTHLINE=n octets)
 *   SASL resp  C: "base64" | "*" (cancel)
 *   ECHO       C: "ECHO text"     S: "+OK text"
 *   COMPRESS   C: "COMPRESS DEFLATE"  S: "+OK text" (then raw DEFLATE both ways) | "-ERR text"
 *   BULK       C: "BULK n"        S: "* text" lines (at least n bytes in all), then "+OK done"
 *   QUIT       C: "QUIT"          S: "+OK bye"
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Dialect from "@starttls/core/Dialect"
import type * as Framer from "@starttls/core/Framer"
import type * as Limits from "@starttls/core/Limits"
import * as MailError from "@starttls/core/MailError"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"

export type Caps = ReadonlyArray<string>

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export const makeFramer = (limits: Limits.Limits): Framer.Framer<string> => {
  let buffer = new Uint8Array(0)
  let error: CodecError.DecodeError | undefined
  return {
    push: (chunk) => {
      if (error !== undefined) return Result.fail(error)
      const joined = new Uint8Array(buffer.length + chunk.length)
      joined.set(buffer)
      joined.set(chunk, buffer.length)
      const lines: Array<string> = []
      let start = 0
      while (true) {
        const lf = joined.indexOf(0x0a, start)
        if (lf < 0) break
        if (lf - start > limits.maxLineLength) {
          error = new CodecError.LimitExceeded({ limit: "maxLineLength", max: limits.maxLineLength, actual: lf - start })
          return Result.fail(error)
        }
        if (lf === start || joined[lf - 1] !== 0x0d) {
          error = new CodecError.MalformedInput({
            grammar: "line",
            detail: "line not terminated by CRLF",
            preview: CodecError.preview(joined.subarray(start, lf + 1))
          })
          return Result.fail(error)
        }
        lines.push(decoder.decode(joined.subarray(start, lf - 1)))
        start = lf + 1
      }
      buffer = joined.slice(start)
      if (buffer.length > limits.maxLineLength) {
        error = new CodecError.LimitExceeded({ limit: "maxLineLength", max: limits.maxLineLength, actual: buffer.length })
        return Result.fail(error)
      }
      return Result.succeed(lines)
    },
    buffered: () => buffer.length,
    pendingPreview: () => buffer
  }
}

const line = (text: string, trace: string = text): Dialect.Outgoing => ({
  bytes: [encoder.encode(text + "\r\n")],
  trace: [trace]
})

const capsOf = (text: string): Caps | undefined => {
  const match = /^\[CAPS([^\]]*)\]/.exec(text)
  return match === null ? undefined : match[1]!.trim().split(/\s+/).filter((c) => c.length > 0)
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")

export const dialect: Dialect.Dialect<string, Caps> = {
  name: "LINE",
  implicitTlsPorts: [9993],
  capabilitiesBeforeStartTls: false,
  makeFramer,
  session: () => ({
    greeting: (frame) => {
      if (frame.startsWith("+OK")) return Dialect.done({ _tag: "Ready", capabilities: capsOf(frame.slice(4)) })
      if (frame.startsWith("+PREAUTH")) {
        return Dialect.done({ _tag: "Preauthenticated", capabilities: capsOf(frame.slice(9)) })
      }
      if (frame.startsWith("-ERR")) return Dialect.done({ _tag: "Rejected", untrustedText: frame.slice(5) })
      return Dialect.fail(new MailError.ProtocolViolation({ phase: "greeting", detail: "bad greeting", preview: frame }))
    },
    capabilities: () => ({
      ...line("CAPA"),
      phase: "capabilities",
      onFrame: (frame) => {
        if (frame.startsWith("+OK CAPS")) {
          return Dialect.done(frame.slice(8).trim().split(/\s+/).filter((c) => c.length > 0))
        }
        return Dialect.fail(
          new MailError.ProtocolViolation({ phase: "capabilities", detail: "CAPA failed", preview: frame })
        )
      }
    }),
    offersStartTls: (caps) => caps.includes("STARTTLS"),
    startTls: () => ({
      ...line("STARTTLS"),
      phase: "starttls",
      onFrame: (frame) => {
        if (frame.startsWith("+OK")) return Dialect.done(undefined)
        if (frame.startsWith("-ERR") || frame.startsWith("-TEMP")) {
          return Dialect.fail(
            new MailError.StartTlsRejected({
              protocol: "LINE",
              retryable: frame.startsWith("-TEMP"),
              untrustedReply: frame
            })
          )
        }
        return Dialect.fail(new MailError.ProtocolViolation({ phase: "starttls", detail: "odd STARTTLS reply", preview: frame }))
      }
    }),
    sasl: {
      mechanisms: (caps) => caps.filter((c) => c.startsWith("AUTH=")).map((c) => c.slice(5).toUpperCase()),
      // SASL-IR allows an initial response; AUTHLINE=n limits the AUTH line (CRLF included).
      initialResponse: (caps, mechanism, length) => {
        if (caps?.includes("SASL-IR") !== true) return false
        const limit = caps.find((c) => c.startsWith("AUTHLINE="))
        return limit === undefined || `AUTH ${mechanism} `.length + length + 2 <= Number(limit.slice(9))
      },
      start: (mechanism, initial) =>
        initial === undefined
          ? line(`AUTH ${mechanism}`)
          : line(
            `AUTH ${mechanism} ${Redacted.value(initial).length === 0 ? "=" : b64(Redacted.value(initial))}`,
            `AUTH ${mechanism} ***`
          ),
      respond: (response) => line(b64(Redacted.value(response)), "***"),
      cancel: () => line("*"),
      onFrame: (frame) => {
        if (frame.startsWith("+ ")) return { _tag: "Challenge", data: Buffer.from(frame.slice(2), "base64") }
        if (frame === "+") return { _tag: "Challenge", data: new Uint8Array(0) }
        if (frame.startsWith("+OK")) {
          const rest = frame.slice(3).trim()
          const caps = capsOf(rest)
          const data = rest.replace(/^\[CAPS[^\]]*\]\s*/, "")
          return {
            _tag: "Success",
            capabilities: caps,
            data: data.length > 0 ? Buffer.from(data, "base64") : undefined
          }
        }
        if (frame.startsWith("-ERR")) return { _tag: "Failure", code: undefined, untrustedText: frame.slice(5) }
        return { _tag: "Violation", detail: `unexpected SASL reply ${JSON.stringify(frame)}` }
      }
    },
    logout: () => ({
      ...line("QUIT"),
      phase: "close",
      onFrame: () => Dialect.done(undefined)
    })
  })
}

/** An application command of the LINE protocol, the way a protocol package would write one. */
export const echo = (text: string): Dialect.Command<string, string> => ({
  ...line(`ECHO ${text}`),
  phase: "command",
  onFrame: (frame) =>
    frame.startsWith("+OK ")
      ? Dialect.done(frame.slice(4))
      : Dialect.fail(new MailError.ProtocolViolation({ phase: "command", detail: "ECHO failed", preview: frame }))
})

/** COMPRESS DEFLATE (the shape of IMAP COMPRESS, RFC 4978): `Done` on "+OK", refused on "-ERR". */
export const compress = (): Dialect.Command<string, void> => ({
  ...line("COMPRESS DEFLATE"),
  phase: "command",
  onFrame: (frame) => {
    if (frame.startsWith("+OK")) return Dialect.done(undefined)
    if (frame.startsWith("-ERR")) {
      return Dialect.fail(new MailError.CompressionRejected({ protocol: "LINE", untrustedReply: frame }))
    }
    return Dialect.fail(new MailError.ProtocolViolation({ phase: "command", detail: "odd COMPRESS reply", preview: frame }))
  }
})

/** BULK: the server streams "* ..." lines of at least `bytes` bytes; the result is the text bytes received. */
export const bulk = (bytes: number): Dialect.Command<string, number> => {
  let received = 0
  return {
    ...line(`BULK ${bytes}`),
    phase: "data",
    onFrame: (frame) => {
      if (frame.startsWith("* ")) {
        received += frame.length + 2
        return Dialect.Continue
      }
      if (frame === "+OK done") return Dialect.done(received)
      return Dialect.fail(new MailError.ProtocolViolation({ phase: "data", detail: "BULK failed", preview: frame }))
    }
  }
}
