/**
 * POP3 as a core `Dialect`: how core's negotiation engine reads the greeting (RFC 1939 §4), asks
 * for capabilities (CAPA, RFC 2449 §5), upgrades with STLS (RFC 2595 §4), frames SASL (AUTH,
 * RFC 5034 §4) and says goodbye (QUIT, RFC 1939 §6).
 *
 * POP3 answers do not say whether a body follows, so the framer (`Pop3Protocol.makeParser`) is told
 * what each command expects. The framer is per connection, and so is the rest of the client's
 * state: `state(session)` gives the current parser (replaced by a fresh one at the TLS upgrade:
 * nothing parsed before TLS survives, S4), the greeting's APOP timestamp, and the messages marked
 * for deletion. Every command is queued on the parser (`expect`) when it is built, right before the
 * engine writes it.
 *
 * What is decided here (S1, S3, S10):
 *
 * - Only `+OK` to STLS starts TLS. `-ERR` is `StartTlsRejected` with the whole line (response code
 *   included) as untrusted text: a plaintext `[SYS/PERM]` does not mark anything permanent, so the
 *   refusal is always reported as retryable (ATTACKS.md A29). Anything else is a protocol violation.
 * - STLS is sent straight after the greeting (`capabilitiesBeforeStartTls: false`): a plaintext CAPA
 *   that fails or omits STLS changes nothing under the default policy.
 * - A `-ERR` greeting is `GreetingRejected`, its text untrusted.
 * - The plaintext greeting's APOP timestamp is kept for APOP after STLS: it decides nothing but the
 *   digest, which then travels over TLS (a forged timestamp only makes the login fail).
 *
 * Not here: the operations of the TRANSACTION state (`Pop3Client`), and the wire codec
 * (`Pop3Protocol`, `Pop3Command`, `Pop3Response`).
 *
 * @since 0.1.0
 */
import type * as CodecError from "@starttls/core/CodecError"
import type * as Connection from "@starttls/core/Connection"
import * as Dialect from "@starttls/core/Dialect"
import * as Limits from "@starttls/core/Limits"
import * as MailError from "@starttls/core/MailError"
import * as Base64 from "effect/encoding/Base64"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import * as Apop from "./Apop.ts"
import * as Pop3Capabilities from "./Pop3Capabilities.ts"
import * as Pop3Command from "./Pop3Command.ts"
import * as Pop3Protocol from "./Pop3Protocol.ts"
import * as Pop3Response from "./Pop3Response.ts"

/**
 * What core's `Connection` carries for POP3: frames of `Pop3Protocol`, capabilities of CAPA.
 *
 * @category models
 * @since 0.1.0
 */
export type Session = Connection.Session<Pop3Response.Frame, Pop3Capabilities.Pop3Capabilities>

/**
 * The per-connection state of the POP3 client.
 *
 * @category models
 * @since 0.1.0
 */
export interface State {
  /** The current parser (a fresh one after the TLS upgrade). */
  readonly parser: () => Pop3Protocol.Parser
  /** The APOP timestamp of the greeting (RFC 1939 §7), if it had one. */
  readonly timestamp: () => string | undefined
  /** Message numbers marked with DELE and not unmarked by RSET (RFC 1939 §5). */
  readonly marked: Set<number>
}

interface MutableState extends State {
  current: Pop3Protocol.Parser
  framers: number
  greeting: string | undefined
  limits: Limits.Limits
}

const states = new WeakMap<object, MutableState>()

const PROTOCOL = "POP3"

/**
 * The POP3 state of a connection's session; `undefined` when the session was not made by this
 * module's `dialect`.
 *
 * @category getters
 * @since 0.1.0
 */
export const state = (session: Session): State | undefined => states.get(session.protocol)

/**
 * Queues the expectation of `command` on the session's parser and encodes it: right before the
 * engine writes the bytes, in the order the commands are written.
 */
const prepare = (
  s: State,
  command: Pop3Command.Pop3Command
): Result.Result<Pop3Command.Encoded, CodecError.EncodeError> =>
  Result.map(Pop3Command.encodeWithRedaction(command), (encoded) => {
    s.parser().expect(Pop3Command.expectation(command))
    return encoded
  })

const outgoing = (encoded: Pop3Command.Encoded): Dialect.Outgoing => ({
  bytes: [encoded.bytes],
  trace: [encoded.redacted]
})

/** The dialect's own commands: none has an argument that can be invalid. */
type Fixed = Pop3Command.Capa | Pop3Command.Stls | Pop3Command.Quit | Pop3Command.AuthCancel | Pop3Command.AuthContinue

const fixed = (s: State, command: Fixed): Dialect.Outgoing => {
  const encoded = prepare(s, command)
  if (Result.isSuccess(encoded)) return outgoing(encoded.success)
  // Unreachable (the encoder accepts every value of these commands); cancel rather than guess.
  s.parser().expect(Pop3Command.expectation(command))
  return { bytes: [Buffer.from("*\r\n")], trace: ["*"] }
}

/**
 * `AUTH mechanism [initial-response]`. An initial response that would make the line longer than
 * 255 octets (a long OAuth token) never gets here: `sasl.initialResponse` keeps it for the
 * server's first empty challenge (RFC 5034 §4). Should the encoder refuse the line anyway, it is
 * sent as it is (servers read far longer AUTH lines: Dovecot up to its 4 KiB input buffer).
 */
const authStart = (s: State, mechanism: string, initial: Redacted.Redacted<Uint8Array> | undefined): Dialect.Outgoing => {
  const command = Pop3Command.auth(mechanism, initial)
  const encoded = prepare(s, command)
  if (Result.isSuccess(encoded)) return outgoing(encoded.success)
  s.parser().expect("sasl")
  const raw = initial === undefined ? undefined : Redacted.value(initial)
  const response = raw === undefined ? "" : ` ${raw.length === 0 ? "=" : Base64.encode(raw)}`
  return {
    bytes: [Buffer.from(`AUTH ${mechanism.toUpperCase()}${response}\r\n`, "latin1")],
    trace: [`AUTH ${mechanism.toUpperCase()}${raw === undefined ? "" : " ***"}`]
  }
}

const statusText = (status: Pop3Response.StatusLine): string => {
  const code = Pop3Response.codeText(status)
  return code === undefined ? status.text : `[${code}] ${status.text}`
}

const violation = (phase: MailError.Phase, detail: string, frame?: Pop3Response.Frame) =>
  new MailError.ProtocolViolation({
    phase,
    detail,
    ...(frame?._tag === "Status" ? { preview: statusText(frame.status).slice(0, 64) } : {})
  })

const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$|^[A-Za-z0-9+/]{2}==$|^[A-Za-z0-9+/]{3}=$/

/**
 * Additional data with success (RFC 5034 §4, RFC 4422 §5: a SCRAM server-final message as the text of
 * the `+OK`): the text when it is base64 and nothing else, otherwise none ("Logged in.").
 */
const successData = (status: Pop3Response.StatusLine): Uint8Array | undefined => {
  if (status.code !== undefined || !BASE64.test(status.text)) return undefined
  const decoded = Base64.decode(status.text)
  return Result.isSuccess(decoded) ? decoded.success : undefined
}

const saslFrame = (frame: Pop3Response.Frame): Dialect.SaslFrame<Pop3Capabilities.Pop3Capabilities> => {
  switch (frame._tag) {
    case "Continuation": {
      const data = Pop3Response.decodeChallenge(frame)
      return Result.isSuccess(data)
        ? { _tag: "Challenge", data: data.success }
        : { _tag: "Violation", detail: "the SASL challenge is not base64 (RFC 5034 §4)" }
    }
    case "Status":
      return frame.status._tag === "Ok"
        ? { _tag: "Success", data: successData(frame.status), capabilities: undefined }
        : { _tag: "Failure", code: Pop3Response.codeText(frame.status), untrustedText: frame.status.text }
    default:
      return { _tag: "Violation", detail: `unexpected ${frame._tag} frame during AUTH` }
  }
}

const capabilitiesCommand = (s: State, limits: () => Limits.Limits) =>
(): Dialect.Command<Pop3Response.Frame, Pop3Capabilities.Pop3Capabilities> => ({
  ...fixed(s, Pop3Command.capa),
  phase: "capabilities",
  onFrame: (frame) => {
    if (frame._tag === "Status") {
      if (frame.status._tag === "Ok") return Dialect.Continue
      // RFC 2449 §5: a server without CAPA answers -ERR. Nothing is assumed instead (S4).
      return Dialect.fail(
        new MailError.CapabilitiesUnavailable({ protocol: PROTOCOL, detail: "the server refused CAPA" })
      )
    }
    if (frame._tag === "Lines") {
      const max = limits().maxReplyLines
      if (frame.lines.length > max) {
        return Dialect.fail(new MailError.LimitExceeded({ limit: "maxReplyLines", max, actual: frame.lines.length }))
      }
      return Dialect.done(Pop3Capabilities.parse(frame.lines))
    }
    return Dialect.fail(violation("capabilities", `unexpected ${frame._tag} frame in the CAPA answer`))
  }
})

const startTlsCommand = (s: State) => (): Dialect.Command<Pop3Response.Frame, void> => ({
  ...fixed(s, Pop3Command.stls),
  phase: "starttls",
  onFrame: (frame) => {
    if (frame._tag !== "Status") return Dialect.fail(violation("starttls", `unexpected ${frame._tag} frame`))
    // RFC 2595 §4: only +OK starts TLS.
    if (frame.status._tag === "Ok") return Dialect.done(undefined)
    return Dialect.fail(
      new MailError.StartTlsRejected({
        protocol: PROTOCOL,
        // A plaintext [SYS/PERM] or [SYS/TEMP] decides nothing (A29): the code stays in the text.
        retryable: true,
        untrustedReply: statusText(frame.status)
      })
    )
  }
})

const logoutCommand = (s: State) => (): Dialect.Command<Pop3Response.Frame, void> => ({
  ...fixed(s, Pop3Command.quit),
  phase: "close",
  onFrame: () => Dialect.done(undefined)
})

const parserFor = (limits: Limits.Limits): Pop3Protocol.Parser =>
  Pop3Protocol.makeParser({ maxLineLength: limits.maxLineLength, maxResponseBytes: limits.maxResponseBytes })

const makeSession = (): Dialect.Session<Pop3Response.Frame, Pop3Capabilities.Pop3Capabilities> => {
  const s: MutableState = {
    current: parserFor(Limits.defaultLimits),
    framers: 0,
    greeting: undefined,
    limits: Limits.defaultLimits,
    parser: () => s.current,
    timestamp: () => (s.greeting === undefined ? undefined : Apop.timestamp(s.greeting)),
    marked: new Set()
  }
  const session: Dialect.Session<Pop3Response.Frame, Pop3Capabilities.Pop3Capabilities> = {
    makeFramer: (limits) => {
      s.limits = limits
      s.current = parserFor(limits)
      // The greeting is read by the first framer only (after STLS there is none, RFC 2595 §4).
      if (s.framers === 0) s.current.expect("greeting")
      s.framers += 1
      return s.current
    },
    greeting: (frame) => {
      if (frame._tag !== "Status") return Dialect.fail(violation("greeting", `unexpected ${frame._tag} frame`))
      if (frame.status._tag === "Err") {
        return Dialect.done({ _tag: "Rejected", untrustedText: statusText(frame.status) })
      }
      s.greeting = frame.status.text
      return Dialect.done({ _tag: "Ready", capabilities: undefined })
    },
    capabilities: capabilitiesCommand(s, () => s.limits),
    offersStartTls: (capabilities) => capabilities.stls,
    startTls: startTlsCommand(s),
    sasl: {
      mechanisms: (capabilities) => capabilities.sasl,
      // RFC 5034 §4: the initial response goes with AUTH when the line fits 255 octets; otherwise
      // AUTH goes alone and the response answers the server's first (empty) "+ " challenge.
      initialResponse: (_capabilities, mechanism, length) => Pop3Command.authLineFits(mechanism, length),
      start: (mechanism, initial) => authStart(s, mechanism, initial),
      respond: (response) => fixed(s, Pop3Command.authContinue(response)),
      cancel: () => fixed(s, Pop3Command.authCancel),
      onFrame: saslFrame
    },
    logout: logoutCommand(s)
  }
  states.set(session, s)
  return session
}

/**
 * The POP3 dialect: implicit TLS on 995 (POP3S, RFC 8314), STLS elsewhere (110).
 *
 * @category constructors
 * @since 0.1.0
 */
export const dialect: Dialect.Dialect<Pop3Response.Frame, Pop3Capabilities.Pop3Capabilities> = {
  name: PROTOCOL,
  implicitTlsPorts: [995],
  capabilitiesBeforeStartTls: false,
  makeFramer: parserFor,
  session: makeSession
}
