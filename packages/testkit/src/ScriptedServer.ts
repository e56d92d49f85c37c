/**
 * Plays a `Transcript` as the server on one connection: any Node `Duplex` (one end of an in-memory
 * `duplexPair()`, or a socket accepted by `LoopbackServer`). It writes the `S:` lines with the write
 * boundaries the script gives, checks every client line exactly, switches to TLS in place, and
 * returns a `Recording` of every byte the client sent.
 *
 * **How it judges**
 *
 * - A client line that differs from the script, a line over `maxLineLength`, or a client that stays
 *   silent past `timeoutMs` fails with `ScriptMismatch` (readable diff with transcript line and phase).
 * - A client that closes while the script waits for it is not an error: the `Recording`'s `outcome`
 *   says `ClientClosed` and where, and the test decides. `-- expect-close` is how a script demands a
 *   close; if the client stays open past `timeoutMs`, that is a `ScriptMismatch` (`NotClosed`).
 * - A failed server-side TLS handshake (the client rejected the certificate, or sent plaintext
 *   instead of a ClientHello) ends the run with outcome `HandshakeFailed`.
 * - Bytes sent between a STARTTLS command and the handshake, after `-- expect-close`, and after the
 *   last step (during `lingerMs`) are recorded separately. Of the pre-handshake bytes, those that
 *   arrived before the server's go-ahead are dropped (as a server that discards pipelined input
 *   would), and those that arrived after it go to the TLS engine like on a real server, where
 *   anything but a ClientHello breaks the handshake.
 *
 * **Why plain `node:tls` and not effect's `NodeSocket.fromDuplex` + `reader.upgrade`**: the server has
 * to see every raw byte before OpenSSL does (to tell plaintext sent before the handshake from the
 * ClientHello), keep chunk boundaries (`fromDuplex` joins buffered chunks on Node < 26), and record a
 * failed handshake as data instead of an error. So the Node-level part lives in `internal/wire.ts`
 * and this module drives it from Effect.
 *
 * Timeouts use effect's `Clock`: run under `it.live`, not `it.effect` (whose TestClock never moves
 * on its own). Closing the connection at the end does not wait on the clock.
 *
 * ```ts
 * const transcript = yield* Transcript.parse(`
 *   S: +OK POP3 ready
 *   C: STLS
 *   S: +OK begin TLS
 *   -- starttls
 *   C: CAPA
 *   S: +OK
 *   S+ .
 * `)
 * const [clientEnd, serverEnd] = duplexPair()
 * const server = yield* Effect.forkChild(ScriptedServer.run(serverEnd, transcript, { timeoutMs: 1000 }))
 * // ... drive the client over clientEnd ...
 * const recording = yield* Fiber.join(server)
 * yield* Recording.assertNoSecretInPlaintext(recording, ["hunter2"])
 * ```
 *
 * @since 0.1.0
 */
import { preview } from "@starttls/core/CodecError"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Duplex } from "node:stream"
import * as Certificates from "./Certificates.ts"
import * as Wire from "./internal/wire.ts"
import type * as Recording from "./Recording.ts"
import type * as Transcript from "./Transcript.ts"

/**
 * How `run` plays a transcript.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** Replaces the certificate of a profile (default: the `Certificates` fixtures). */
  readonly certs?: Partial<Record<Transcript.CertProfile, Certificates.KeyPair>> | undefined
  /** How long to wait for each client line, the handshake, or an expected close. Default 5000 ms. */
  readonly timeoutMs?: number | undefined
  /** After the last step: how long to wait for the client to close before hanging up. Default 100 ms. */
  readonly lingerMs?: number | undefined
  /** Longest client line accepted (bytes, with CRLF). Default 65536. */
  readonly maxLineLength?: number | undefined
  /**
   * Request a client certificate during the handshake (verified against `Certificates.ca`); the
   * result is in `Recording.handshake.clientCertificate`. Default false.
   */
  readonly requestClientCertificate?: boolean | undefined
}

/**
 * Why a script stopped with a `ScriptMismatch`.
 *
 * @category models
 * @since 0.1.0
 */
export type MismatchReason = "Mismatch" | "LineTooLong" | "Timeout" | "NotClosed" | "Placeholder"

/**
 * The client did not follow the script. `expected` and `got` are escaped (`\r`, `\n`, `\xNN`);
 * `recording` holds everything received up to that point (its outcome is `Aborted`).
 *
 * @category errors
 * @since 0.1.0
 */
export class ScriptMismatch extends Data.TaggedError("ScriptMismatch")<{
  readonly line: number
  readonly phase: Recording.Phase
  readonly reason: MismatchReason
  readonly expected: string
  readonly got: string
  readonly recording: Recording.Recording
}> {
  override get message(): string {
    const head = `transcript line ${this.line} (${this.phase}): ${describe[this.reason]}`
    const caret = this.reason === "Mismatch" ? caretLine(this.expected, this.got) : ""
    return `${head}\n  expected: ${this.expected}\n  got:      ${this.got}${caret}`
  }
}

const describe: Record<MismatchReason, string> = {
  Mismatch: "the client line differs from the script",
  LineTooLong: "the client line is longer than maxLineLength",
  Timeout: "timed out waiting for the client",
  NotClosed: "the client did not close the connection",
  Placeholder: "cannot resolve a <t>/<n> placeholder"
}

const caretLine = (expected: string, got: string): string => {
  let i = 0
  while (i < expected.length && i < got.length && expected[i] === got[i]) i++
  return `\n            ${" ".repeat(i)}^ first difference at character ${i + 1}`
}

const MAX_SHOWN = 400
const escape = (bytes: Uint8Array): string => {
  const shown = preview(bytes, MAX_SHOWN)
  return bytes.length > MAX_SHOWN && shown.length >= MAX_SHOWN ? `${shown}... (${bytes.length} bytes)` : shown
}

const utf8 = new TextDecoder("utf-8")
const encoder = new TextEncoder()
const empty = new Uint8Array(0)

const tagOf = (line: Uint8Array): string => {
  const text = utf8.decode(line).replace(/\r?\n$/, "")
  const space = text.indexOf(" ")
  return space === -1 ? text : text.slice(0, space)
}

/** `A001` -> `A002`; `undefined` when the tag has no trailing number. */
const nextTag = (tag: string): string | undefined => {
  const match = /^(.*?)(\d+)$/.exec(tag)
  if (match === null) return undefined
  const digits = match[2]!
  return match[1]! + String(Number(digits) + 1).padStart(digits.length, "0")
}

const resolveSegments = (
  segments: ReadonlyArray<Transcript.Segment>,
  tag: string | undefined
): Uint8Array | undefined => {
  const parts: Array<Uint8Array> = []
  for (const segment of segments) {
    if (segment._tag === "Bytes") {
      parts.push(segment.bytes)
      continue
    }
    const value = tag === undefined ? undefined : segment._tag === "Tag" ? tag : nextTag(tag)
    if (value === undefined) return undefined
    parts.push(encoder.encode(value))
  }
  return Buffer.concat(parts)
}

const waitFor = Wire.waitFor

const within = <A>(millis: number, effect: Effect.Effect<A>): Effect.Effect<Option.Option<A>> =>
  Effect.timeoutOption(effect, Duration.millis(millis))

const hangUp = (wire: Wire.Wire): Effect.Effect<void> => Effect.sync(() => Wire.hangUp(wire))

/**
 * Runs `transcript` as the server over `duplex` and returns what the client sent. The connection is
 * closed when the run ends (ended gracefully, or destroyed by `-- close`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const run: (
  duplex: Duplex,
  transcript: Transcript.Transcript,
  options?: Options
) => Effect.Effect<Recording.Recording, ScriptMismatch> = Effect.fnUntraced(
  function*(duplex: Duplex, transcript: Transcript.Transcript, options: Options = {}) {
    const timeoutMs = options.timeoutMs ?? 5000
    const lingerMs = options.lingerMs ?? 100
    const maxLineLength = options.maxLineLength ?? 65536
    const wire = Wire.make(duplex)
    yield* Effect.addFinalizer(() => hangUp(wire))

    const phase = (): Recording.Phase => wire.secure() ? "tls" : "plain"
    const setup = (profile: Transcript.CertProfile, line: number): Wire.TlsSetup => ({
      line,
      keyPair: options.certs?.[profile] ?? Certificates.forProfile(profile),
      clientCa: options.requestClientCertificate === true ? Certificates.ca.cert : undefined
    })
    const snapshot = (
      outcome: Recording.Outcome,
      extra: { readonly sentAfterExpectClose?: Uint8Array; readonly extraAfterScript?: Uint8Array } = {}
    ): Recording.Recording => {
      const state = wire.handshake()
      return {
        chunks: [...wire.chunks()],
        outcome,
        handshake: state._tag === "Done" ? state.handshake : undefined,
        clientClosed: wire.clientClosed(),
        sentBeforeHandshake: Buffer.concat(wire.sentBeforeHandshake()),
        sentAfterExpectClose: extra.sentAfterExpectClose ?? empty,
        extraAfterScript: extra.extraAfterScript ?? empty
      }
    }
    const mismatch = (
      line: number,
      reason: MismatchReason,
      expected: string,
      got: string,
      extra: { readonly sentAfterExpectClose?: Uint8Array } = {}
    ) =>
      new ScriptMismatch({
        line,
        phase: phase(),
        reason,
        expected,
        got,
        recording: snapshot({ _tag: "Aborted", line }, extra)
      })
    const closed = () => wire.clientClosed() ? true : undefined

    /** Waits for the handshake started on `line`; a failure ends the script. */
    const handshake = Effect.fnUntraced(function*(line: number) {
      const done = yield* within(
        timeoutMs,
        waitFor(wire, () => {
          const state = wire.handshake()
          return state._tag === "Done" || state._tag === "Failed" ? state : undefined
        })
      )
      if (Option.isNone(done)) {
        const sent = Buffer.concat(wire.sentBeforeHandshake())
        return yield* mismatch(line, "Timeout", "a TLS ClientHello", sent.length === 0 ? "nothing" : escape(sent))
      }
      return done.value._tag === "Failed"
        ? snapshot({ _tag: "HandshakeFailed", line, code: done.value.code, message: done.value.message })
        : undefined
    })

    let lastTag: string | undefined
    if (transcript.implicitTls !== undefined) {
      wire.startTls(setup(transcript.implicitTls, 0))
      const failed = yield* handshake(0)
      if (failed !== undefined) return failed
    }

    const steps = transcript.steps
    for (let index = 0; index < steps.length; index++) {
      const step = steps[index]!
      switch (step._tag) {
        case "Write": {
          const bytes = resolveSegments(step.segments, lastTag)
          if (bytes === undefined) {
            return yield* mismatch(step.line, "Placeholder", "a client tag ending in digits for <n>", lastTag ?? "none")
          }
          const next = steps[index + 1]
          const switchTo = next?._tag === "StartTls" ? setup(next.profile, next.line) : undefined
          const written = yield* within(
            timeoutMs,
            Effect.callback<void>((resume) =>
              wire.write(
                bytes,
                () => resume(Effect.void),
                switchTo === undefined ? undefined : () => wire.startTls(switchTo)
              )
            )
          )
          if (Option.isNone(written)) {
            return yield* mismatch(step.line, "Timeout", "the client to read the server's write", "no progress")
          }
          break
        }
        case "StartTls": {
          // The switch itself happened right after the previous write (the parser guarantees one).
          const failed = yield* handshake(step.line)
          if (failed !== undefined) return failed
          break
        }
        case "Expect":
        case "ExpectMatch": {
          const event = yield* within(timeoutMs, waitFor(wire, () => wire.takeLine(maxLineLength)))
          const expected = step._tag === "Expect"
            ? escape(step.bytes)
            : `a CRLF-terminated line matching ${step.description}`
          if (Option.isNone(event)) {
            const pending = wire.takeAll()
            return yield* mismatch(step.line, "Timeout", expected, pending.length === 0 ? "nothing" : escape(pending))
          }
          const got = event.value
          if (got._tag === "Closed") return snapshot({ _tag: "ClientClosed", line: step.line, phase: phase() })
          if (got._tag === "TooLong") return yield* mismatch(step.line, "LineTooLong", expected, escape(got.bytes))
          const ok = step._tag === "Expect"
            ? Buffer.from(got.bytes).equals(step.bytes)
            : got.bytes.length >= 2 && got.bytes[got.bytes.length - 2] === 0x0d &&
              step.test(utf8.decode(got.bytes.subarray(0, -2)))
          if (!ok) return yield* mismatch(step.line, "Mismatch", expected, escape(got.bytes))
          lastTag = tagOf(got.bytes)
          break
        }
        case "Delay": {
          yield* Effect.sleep(Duration.millis(step.millis))
          break
        }
        case "Close": {
          wire.destroy()
          return snapshot({ _tag: "Completed" })
        }
        case "ExpectClose": {
          const done = yield* within(timeoutMs, waitFor(wire, closed))
          const after = wire.takeAll()
          if (Option.isNone(done)) {
            return yield* mismatch(step.line, "NotClosed", "the client to close", "still open", {
              sentAfterExpectClose: after
            })
          }
          return snapshot({ _tag: "Completed" }, { sentAfterExpectClose: after })
        }
      }
    }
    yield* within(lingerMs, waitFor(wire, closed))
    return snapshot({ _tag: "Completed" }, { extraAfterScript: wire.takeAll() })
  },
  Effect.scoped
)
