/**
 * IMAP as a core `Dialect` (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1): the framer (the pure
 * `ImapProtocol` parser, with core's limits), and how the greeting, CAPABILITY, STARTTLS,
 * AUTHENTICATE and LOGOUT read. Core's engine runs the negotiation with it; `ImapClient` runs
 * everything else.
 *
 * Classification, strictly:
 * - greeting (RFC 9051 §7.1.1, §7.1.4, §7.1.5): `* OK` is ready, `* PREAUTH` pre-authenticated (core
 *   refuses it on a plaintext connection, S6), `* BYE` a rejection with untrusted text; anything
 *   else is a `ProtocolViolation`. The greeting's `[CAPABILITY]` code is kept (core forgets it at
 *   the upgrade when it came in plaintext, S4).
 * - STARTTLS (RFC 9051 §6.2.1): only the tagged `OK` of the STARTTLS command starts TLS. Its `NO` /
 *   `BAD` is `StartTlsRejected` (text untrusted); a continuation request is a `ProtocolViolation` and
 *   nothing is sent in answer (ATTACKS.md A2); an untagged `OK` is not an answer (A2 d). A
 *   `[CAPABILITY]` code on the OK is plaintext and ignored (A16).
 * - CAPABILITY: the untagged CAPABILITY of this command; a tagged OK without one is a
 *   `ProtocolViolation` (after TLS core turns it into `CapabilitiesUnavailable`, A15).
 * - every command: a tagged reply whose tag is not in flight is a `ProtocolViolation` (S12); untagged
 *   data goes to the connection state's `absorb` (plaintext mailbox data dropped, A12; plaintext
 *   ALERTs reported as `UntrustedPlaintextNotice`, A21; referrals never followed, A20).
 *
 * `sasl.loginDisabled` reports LOGINDISABLED, so core never picks the SASL LOGIN mechanism then,
 * and `ImapClient.login` refuses the LOGIN command (RFC 9051 §6.2.3, S11).
 *
 * @since 0.1.0
 */
import * as Dialect from "@starttls/core/Dialect"
import type * as Framer from "@starttls/core/Framer"
import type * as Limits from "@starttls/core/Limits"
import * as MailError from "@starttls/core/MailError"
import * as Base64 from "effect/encoding/Base64"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as ImapCapabilities from "./ImapCapabilities.ts"
import * as ImapCommand from "./ImapCommand.ts"
import * as ImapProtocol from "./ImapProtocol.ts"
import type * as ImapResponse from "./ImapResponse.ts"
import * as State from "./internal/client/state.ts"

/**
 * What the framer yields.
 *
 * @category models
 * @since 0.1.0
 */
export type Frame = ImapResponse.Frame

/**
 * The capability type of IMAP connections.
 *
 * @category models
 * @since 0.1.0
 */
export type Caps = ImapCapabilities.ImapCapabilities

/**
 * Dialect options.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * BODY[] / BINARY[] literals larger than this many bytes are streamed by the parser instead of
   * buffered (`ImapClient.download` passes them through at constant memory; `ImapClient.fetch`
   * assembles them, up to `maxLiteralSize`). Default 1 MiB.
   */
  readonly streamLiteralsAbove?: number | undefined
}

/**
 * The default streaming threshold.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultStreamLiteralsAbove = 1024 * 1024

const encoder = new TextEncoder()

const violation = (phase: MailError.Phase, detail: string, preview?: string): Dialect.Step<never> =>
  Dialect.fail(new MailError.ProtocolViolation({ phase, detail, ...(preview === undefined ? {} : { preview }) }))

const notInFlight = (phase: MailError.Phase, tag: string) =>
  violation(phase, `a tagged reply for a tag not in flight (${JSON.stringify(tag.slice(0, 32))})`)

const unexpected = (phase: MailError.Phase, frame: Frame) =>
  violation(phase, `unexpected ${frame._tag === "Continuation" ? "continuation request" : "literal data"}`)

/** The CAPABILITY response code of a response, if any. */
const codeCapabilities = (code: ImapResponse.ResponseCode | undefined): Caps | undefined =>
  code !== undefined && code._tag === "CAPABILITY" ? ImapCapabilities.make(code.capabilities) : undefined

const outgoing = (encoded: ImapCommand.EncodedCommand): Dialect.Outgoing => {
  const bytes: Array<Uint8Array> = []
  for (const part of encoded.parts) if (part._tag === "Line") bytes.push(part.bytes)
  return { bytes, trace: [encoded.redacted] }
}

/** A command without literals (the ones the dialect sends always encode). */
const simple = (tag: string, command: ImapCommand.ImapCommand): Dialect.Outgoing =>
  Result.match(ImapCommand.encode(tag, command, { capabilities: ImapCapabilities.empty }), {
    onSuccess: outgoing,
    // Not reachable: tags come from the counter and these commands have no free-form argument.
    onFailure: () => ({ bytes: [encoder.encode(`${tag} NOOP\r\n`)], trace: [`${tag} NOOP`] })
  })

const SASL_IR = ImapCapabilities.make(["SASL-IR"])

/**
 * Reads the frames of a tagged command that core runs: untagged data to `absorb` (or `onUntagged`),
 * the tagged reply to `onTagged`, anything else a `ProtocolViolation`.
 */
const tagged = <A>(
  state: State.State,
  tag: string,
  phase: MailError.Phase,
  onTagged: (reply: ImapResponse.Tagged) => Dialect.Step<A>,
  onUntagged?: (response: ImapResponse.Untagged) => boolean
) =>
(frame: Frame): Dialect.Step<A> => {
  switch (frame._tag) {
    case "Tagged":
      if (frame.tag !== tag) return notInFlight(phase, frame.tag)
      state.inFlight.delete(tag)
      State.alert(state, frame.code, frame.text)
      return onTagged(frame)
    case "Continuation":
    case "LiteralStart":
    case "LiteralChunk":
      return unexpected(phase, frame)
    default:
      if (onUntagged === undefined || !onUntagged(frame)) State.absorb(state, frame)
      return Dialect.Continue
  }
}

const greeting = (state: State.State) => (frame: Frame): Dialect.Step<Dialect.Greeting<Caps>> => {
  if (frame._tag !== "Condition" || frame.status === "NO" || frame.status === "BAD") {
    return violation("greeting", "the greeting must be * OK, * PREAUTH or * BYE")
  }
  if (frame.status === "BYE") return Dialect.done({ _tag: "Rejected", untrustedText: frame.text })
  if (frame.code !== undefined && frame.code._tag === "ALERT") state.greetingAlerts.push(frame.text)
  const capabilities = codeCapabilities(frame.code)
  return Dialect.done(
    frame.status === "PREAUTH" ? { _tag: "Preauthenticated", capabilities } : { _tag: "Ready", capabilities }
  )
}

const authenticate = (tag: string, mechanism: string, initial: Redacted.Redacted<Uint8Array> | undefined) =>
  Result.match(
    ImapCommand.encode(
      tag,
      initial === undefined
        ? { _tag: "Authenticate", mechanism }
        : { _tag: "Authenticate", mechanism, initialResponse: initial },
      { capabilities: SASL_IR }
    ),
    {
      onSuccess: outgoing,
      // Not reachable: core's mechanism names are atoms.
      onFailure: () => simple(tag, ImapCommand.noop)
    }
  )

const capabilities = (state: State.State) => (): Dialect.Command<Frame, Caps> => {
  const tag = State.nextTag(state)
  const command = simple(tag, ImapCommand.capability)
  // Pipelined authentication (ImapClient.session): only after the STARTTLS success reply, i.e. only
  // in the CAPABILITY core sends over TLS.
  const armed = state.startTlsAccepted ? state.pipelined : undefined
  state.pipelined = undefined
  let extra: Dialect.Outgoing | undefined
  if (armed !== undefined) {
    const authTag = State.nextTag(state)
    extra = authenticate(authTag, armed.mechanism, armed.initial)
    state.pipelinedTag = { mechanism: armed.mechanism, tag: authTag }
  }
  let received: Caps | undefined
  return {
    bytes: extra === undefined ? command.bytes : [...command.bytes, ...extra.bytes],
    trace: extra === undefined ? command.trace : [...command.trace, ...extra.trace],
    phase: "capabilities",
    onFrame: tagged(
      state,
      tag,
      "capabilities",
      (reply) => {
        if (reply.status !== "OK") {
          return violation("capabilities", `CAPABILITY answered ${reply.status}`)
        }
        const caps = received ?? codeCapabilities(reply.code)
        return caps === undefined ? violation("capabilities", "no CAPABILITY response") : Dialect.done(caps)
      },
      (response) => {
        if (response._tag !== "Capability") return false
        received = ImapCapabilities.make(response.capabilities)
        return true
      }
    )
  }
}

const startTls = (state: State.State) => (): Dialect.Command<Frame, void> => {
  const tag = State.nextTag(state)
  // If the greeting's alerts are still unclassified, this is a STARTTLS connection: they were plaintext.
  for (let i = 0; i < state.greetingAlerts.length; i++) {
    State.notice(state, "[ALERT] in the greeting received before TLS; dropped")
  }
  state.greetingAlerts = []
  return {
    ...simple(tag, ImapCommand.startTls),
    phase: "starttls",
    onFrame: tagged(state, tag, "starttls", (reply) => {
      if (reply.status === "OK") {
        state.startTlsAccepted = true
        state.secure = true
        return Dialect.done(undefined)
      }
      const name = State.codeName(reply.code)
      return Dialect.fail(
        new MailError.StartTlsRejected({
          protocol: "IMAP",
          retryable: false,
          code: name === undefined ? reply.status : `${reply.status} ${name}`,
          untrustedReply: reply.text
        })
      )
    })
  }
}

const sasl = (state: State.State): Dialect.Sasl<Frame, Caps> => {
  let current: string | undefined
  return {
    mechanisms: (caps) => caps.authMechanisms,
    initialResponse: (caps) => caps?.saslIr === true,
    loginDisabled: (caps) => caps.loginDisabled,
    start: (mechanism, initial) => {
      state.authCapabilities = undefined
      const written = state.pipelinedTag
      state.pipelinedTag = undefined
      if (written !== undefined && written.mechanism === mechanism) {
        // Already sent, pipelined with the post-TLS CAPABILITY: only its reply is left to read.
        current = written.tag
        return { bytes: [], trace: [] }
      }
      const tag = State.nextTag(state)
      current = tag
      return authenticate(tag, mechanism, initial)
    },
    respond: (response) => respond(response),
    cancel: () => simple("", ImapCommand.authenticateCancel),
    onFrame: (frame) => {
      switch (frame._tag) {
        case "Continuation": {
          State.alert(state, frame.code, frame.text)
          if (frame.data === undefined) return { _tag: "Violation", detail: "a SASL challenge that is not base64" }
          const data = Base64.decode(frame.data)
          return Result.isSuccess(data)
            ? { _tag: "Challenge", data: data.success }
            : { _tag: "Violation", detail: "a SASL challenge that is not base64" }
        }
        case "Tagged": {
          if (frame.tag !== current) {
            return { _tag: "Violation", detail: `a tagged reply for a tag not in flight (${JSON.stringify(frame.tag.slice(0, 32))})` }
          }
          state.inFlight.delete(frame.tag)
          State.alert(state, frame.code, frame.text)
          if (frame.status === "OK") {
            const caps = codeCapabilities(frame.code) ?? state.authCapabilities
            state.authCapabilities = caps
            return { _tag: "Success", data: undefined, capabilities: caps }
          }
          const code = frame.code
          return {
            _tag: "Failure",
            code: State.codeName(code),
            untrustedText: code !== undefined && code._tag === "REFERRAL" ? `[REFERRAL ${code.url}] ${frame.text}` : frame.text
          }
        }
        case "LiteralStart":
        case "LiteralChunk":
          return { _tag: "Violation", detail: "unexpected literal data" }
        case "Capability":
          state.authCapabilities = ImapCapabilities.make(frame.capabilities)
          return { _tag: "Ignore" }
        default:
          State.absorb(state, frame)
          return { _tag: "Ignore" }
      }
    }
  }
}

const respond = (response: Redacted.Redacted<Uint8Array>): Dialect.Outgoing =>
  Result.match(ImapCommand.encode("", { _tag: "AuthenticateContinue", response }, { capabilities: SASL_IR }), {
    onSuccess: outgoing,
    // Not reachable: base64 always encodes.
    onFailure: () => ({ bytes: [encoder.encode("*\r\n")], trace: ["*"] })
  })

const logout = (state: State.State) => (): Dialect.Command<Frame, void> => {
  const tag = State.nextTag(state)
  return {
    ...simple(tag, ImapCommand.logout),
    phase: "close",
    onFrame: tagged(state, tag, "close", () => Dialect.done(undefined), (response) =>
      // RFC 9051 §6.1.3: the BYE is the expected answer here.
      response._tag === "Condition" && response.status === "BYE")
  }
}

/**
 * Builds the IMAP dialect.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: Options): Dialect.Dialect<Frame, Caps> => {
  const streamLiteralsAbove = options?.streamLiteralsAbove ?? defaultStreamLiteralsAbove
  return {
    name: "IMAP",
    implicitTlsPorts: [993],
    // RFC 9051 §6.2.1 / ATTACKS.md (emailjs PR 39): under required TLS, STARTTLS goes straight after
    // the greeting; the plaintext capability list is neither asked for nor trusted.
    capabilitiesBeforeStartTls: false,
    makeFramer: (limits: Limits.Limits): Framer.Framer<Frame> =>
      ImapProtocol.makeParser({
        maxLineLength: limits.maxLineLength,
        maxLiteralSize: limits.maxLiteralSize,
        maxListDepth: limits.maxListDepth,
        maxResponseBytes: limits.maxResponseBytes,
        streamLiteralsAbove
      }),
    session: () => {
      const state = State.make()
      const session: Dialect.Session<Frame, Caps> = {
        greeting: greeting(state),
        capabilities: capabilities(state),
        offersStartTls: (caps) => caps.startTls,
        startTls: startTls(state),
        sasl: sasl(state),
        logout: logout(state)
      }
      State.register(session, state)
      return session
    }
  }
}

/**
 * The IMAP dialect with default options.
 *
 * @category constructors
 * @since 0.1.0
 */
export const dialect: Dialect.Dialect<Frame, Caps> = make()
