/**
 * SMTP (RFC 5321) and LMTP (RFC 2033) as core dialects: what core's negotiation engine needs to run
 * greeting → EHLO → STARTTLS → EHLO again → AUTH for these protocols.
 *
 * - Framer: `SmtpProtocol.makeReplyParser`, bounded by the connection's limits (S8).
 * - Greeting: only `220` opens a session; anything else (`554`, `421`, a stray `250` ...) is
 *   `GreetingRejected`, its text untrusted (S10).
 * - Capabilities: `EHLO` (`LHLO` for LMTP); only a `250` counts. A refused EHLO on a plaintext
 *   connection is `StartTlsUnavailable`: HELO cannot negotiate STARTTLS (ATTACKS.md A36), so under
 *   the default policy there is no way on; the HELO fallback exists only in
 *   `SmtpClient.opportunistic`, under the dangerous policy.
 * - STARTTLS (RFC 3207 §4): only `220` starts TLS. `454` is `StartTlsRejected` (retryable), other
 *   4yz/5yz refusals are `StartTlsRejected`, and anything else (`200`, `250`, `354` ...) is a
 *   `ProtocolViolation` (ATTACKS.md A35): a `354` never makes the client send message data.
 * - SASL (RFC 4954): `AUTH mechanism initial-response` (SMTP always allows the initial response),
 *   `334` challenges, `235` success, any 4yz/5yz a failure whose code is `"535 5.7.8"`-shaped.
 * - Goodbye: `QUIT`.
 *
 * Not here: mail transactions (`SmtpClient`).
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Dialect from "@starttls/core/Dialect"
import type * as Framer from "@starttls/core/Framer"
import type * as Limits from "@starttls/core/Limits"
import * as MailError from "@starttls/core/MailError"
import * as Result from "effect/Result"
import { hostname } from "node:os"
import * as State from "./internal/state.ts"
import * as SmtpCommand from "./SmtpCommand.ts"
import * as SmtpExtensions from "./SmtpExtensions.ts"
import * as SmtpProtocol from "./SmtpProtocol.ts"
import * as SmtpReply from "./SmtpReply.ts"

/**
 * How a dialect greets.
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /**
   * The name sent in EHLO / HELO / LHLO (RFC 5321 §4.1.1.1): a domain or an address literal.
   * Default: this machine's host name when it is a fully qualified domain, else `[127.0.0.1]`.
   */
  readonly clientName?: string | undefined
}

/**
 * The default client name: the host name when it is a fully qualified domain name (RFC 5321
 * §4.1.4), else the address literal `[127.0.0.1]` (which reveals nothing).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultClientName: string = (() => {
  const name = hostname()
  return name.includes(".") && SmtpCommand.isHelloName(name) ? name : "[127.0.0.1]"
})()

/**
 * The dialect type of both protocols.
 *
 * @category models
 * @since 0.1.0
 */
export type SmtpDialect = Dialect.Dialect<SmtpReply.SmtpReply, SmtpExtensions.SmtpExtensions>

/**
 * The reply parser, bounded by the connection's limits: the line length is the smaller of
 * `maxLineLength` and the SMTP parser's 4096, the number of lines per reply is `maxReplyLines`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeFramer = (limits: Limits.Limits): Framer.Framer<SmtpReply.SmtpReply> =>
  SmtpProtocol.makeReplyParser({
    maxLineLength: Math.min(limits.maxLineLength, SmtpProtocol.defaultParserOptions.maxLineLength),
    maxLinesPerReply: limits.maxReplyLines,
    maxBufferedBytes: Math.min(limits.maxBufferedBytes, SmtpProtocol.defaultParserOptions.maxBufferedBytes)
  })

const outgoing = (command: SmtpCommand.SmtpCommand): Dialect.Outgoing => {
  // Commands built here from validated values (the client name is checked by `make`, mechanism
  // names come from core's SASL table) always encode; oversized AUTH lines are handled apart.
  const encoded = SmtpCommand.encodeWithRedaction(command)
  return Result.isSuccess(encoded)
    ? { bytes: [encoded.success.bytes], trace: encoded.success.trace }
    : { bytes: [], trace: [] }
}

/**
 * The enhanced status code of a reply as text (`"5.7.8"`), if it has one.
 *
 * @category getters
 * @since 0.1.0
 */
export const enhancedCode = (reply: SmtpReply.SmtpReply): string | undefined =>
  reply.enhanced === undefined ? undefined : SmtpReply.formatEnhanced(reply.enhanced)

const codeText = (reply: SmtpReply.SmtpReply): string => {
  const enhanced = enhancedCode(reply)
  return enhanced === undefined ? `${reply.code}` : `${reply.code} ${enhanced}`
}

const violation = (phase: MailError.Phase, detail: string, reply: SmtpReply.SmtpReply) =>
  new MailError.ProtocolViolation({ phase, detail, preview: SmtpReply.format(reply) })

// RFC 3207 §4: 220 Ready to start TLS; 454 TLS not available due to temporary reason; 501 Syntax
// error (no parameters allowed). Only 220 starts TLS (ATTACKS.md A35).
const startTlsStep = (protocol: string, state: State.SmtpState) => (reply: SmtpReply.SmtpReply): Dialect.Step<void> => {
  if (reply.code === 220) {
    state.plaintext = false
    return Dialect.done(undefined)
  }
  if (reply.code >= 400) {
    return Dialect.fail(
      new MailError.StartTlsRejected({
        protocol,
        // 454 and other 4yz (421: the server closes; trying later is allowed, not continuing here).
        retryable: reply.code < 500,
        code: `${reply.code}`,
        untrustedReply: SmtpReply.format(reply)
      })
    )
  }
  return Dialect.fail(violation("starttls", `STARTTLS answered with ${reply.code}; only 220 starts TLS`, reply))
}

const helloStep = (protocol: string, state: State.SmtpState) =>
(reply: SmtpReply.SmtpReply): Dialect.Step<SmtpExtensions.SmtpExtensions> => {
  if (reply.code === 250) return Dialect.done(SmtpExtensions.parseEhlo(reply))
  const detail = `${state.hello} refused (${codeText(reply)})`
  // In plaintext there is no STARTTLS without EHLO (HELO cannot negotiate it, ATTACKS.md A36).
  if (state.plaintext === true) return Dialect.fail(new MailError.StartTlsUnavailable({ protocol }))
  return Dialect.fail(new MailError.CapabilitiesUnavailable({ protocol, detail }))
}

const saslFrame = (reply: SmtpReply.SmtpReply): Dialect.SaslFrame<SmtpExtensions.SmtpExtensions> => {
  if (reply.code === 334) {
    const data = SmtpReply.challenge(reply)
    return Result.isSuccess(data)
      ? { _tag: "Challenge", data: data.success }
      : { _tag: "Violation", detail: `malformed AUTH challenge: ${data.failure.detail}` }
  }
  // RFC 4954 §6: 235 2.7.0 Authentication successful.
  if (reply.code === 235) return { _tag: "Success", data: undefined, capabilities: undefined }
  if (reply.code >= 400) return { _tag: "Failure", code: codeText(reply), untrustedText: SmtpReply.format(reply) }
  return { _tag: "Violation", detail: `unexpected reply ${reply.code} during AUTH` }
}

const make_ = (protocol: "SMTP" | "LMTP", clientName: string): SmtpDialect => ({
  name: protocol,
  // RFC 8314 §3.3: submission over implicit TLS on 465. LMTP has no implicit-TLS port.
  implicitTlsPorts: protocol === "SMTP" ? [465] : [],
  // RFC 3207 §4: STARTTLS is an ESMTP extension, announced in the EHLO reply.
  capabilitiesBeforeStartTls: true,
  makeFramer,
  session: () => {
    const state: State.SmtpState = {
      protocol,
      clientName,
      hello: protocol === "LMTP" ? "LHLO" : "EHLO",
      needsReset: false,
      plaintext: undefined
    }
    // An initial response the encoder refuses although `initialResponse` let it through (not
    // expected: both apply RFC 4954 §4's limit) is reported at the first 334; see `sasl.start`.
    let deferredInitial = false
    const session: Dialect.Session<SmtpReply.SmtpReply, SmtpExtensions.SmtpExtensions> = {
      // RFC 5321 §4.3.2: 220 opens the session; 554 (or anything else) refuses it.
      greeting: (reply) =>
        reply.code === 220
          ? Dialect.done({ _tag: "Ready", capabilities: undefined })
          : Dialect.done({ _tag: "Rejected", untrustedText: SmtpReply.format(reply) }),
      capabilities: () => ({
        ...outgoing(protocol === "LMTP" ? SmtpCommand.lhlo(clientName) : SmtpCommand.ehlo(clientName)),
        phase: "capabilities",
        onFrame: helloStep(protocol, state)
      }),
      offersStartTls: (extensions) => extensions.startTls,
      startTls: () => ({ ...outgoing(SmtpCommand.startTls), phase: "starttls", onFrame: startTlsStep(protocol, state) }),
      sasl: {
        mechanisms: (extensions) => extensions.auth,
        // RFC 4954 §4: AUTH takes the initial response when the line fits; a longer one is sent
        // after the server's first (empty) 334.
        initialResponse: (_extensions, mechanism, length) =>
          `AUTH ${mechanism} `.length + length + 2 <= SmtpCommand.maxAuthLineLength,
        start: (mechanism, initial) => {
          const full = SmtpCommand.encodeWithRedaction(SmtpCommand.auth(mechanism, initial))
          if (Result.isSuccess(full)) return { bytes: [full.success.bytes], trace: full.success.trace }
          deferredInitial = true
          return outgoing(SmtpCommand.auth(mechanism))
        },
        respond: (response) => {
          const line = SmtpCommand.encodeWithRedaction(SmtpCommand.authContinue(response))
          // A response longer than an AUTH line allows (RFC 4954 §4) cancels the exchange instead;
          // the server's 501 then ends it as a failed authentication.
          return Result.isSuccess(line)
            ? { bytes: [line.success.bytes], trace: line.success.trace }
            : outgoing(SmtpCommand.authCancel)
        },
        cancel: () => outgoing(SmtpCommand.authCancel),
        onFrame: (reply) => {
          if (deferredInitial && reply.code === 334) {
            deferredInitial = false
            return {
              _tag: "Violation",
              detail: `the initial response does not fit an AUTH line of ${SmtpCommand.maxAuthLineLength} octets (RFC 4954 §4)`
            }
          }
          return saslFrame(reply)
        }
      },
      logout: () => ({ ...outgoing(SmtpCommand.quit), phase: "close", onFrame: () => Dialect.done(undefined) })
    }
    State.register(session, state)
    return session
  }
})

const checkName = (clientName: string): Result.Result<string, CodecError.EncodeError> =>
  SmtpCommand.isHelloName(clientName)
    ? Result.succeed(clientName)
    : Result.fail(
      new CodecError.EncodeError({
        field: "clientName",
        detail: "must be a domain or an address literal without CR, LF or NUL (RFC 5321 §4.1.1.1)"
      })
    )

/**
 * An SMTP dialect greeting with `options.clientName`. Fails when the name cannot be sent.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options?: Options): Result.Result<SmtpDialect, CodecError.EncodeError> =>
  Result.map(checkName(options?.clientName ?? defaultClientName), (name) => make_("SMTP", name))

/**
 * An LMTP dialect (LHLO, RFC 2033 §4.1) greeting with `options.clientName`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeLmtp = (options?: Options): Result.Result<SmtpDialect, CodecError.EncodeError> =>
  Result.map(checkName(options?.clientName ?? defaultClientName), (name) => make_("LMTP", name))

/**
 * SMTP with the default client name.
 *
 * @category constructors
 * @since 0.1.0
 */
export const smtp: SmtpDialect = make_("SMTP", defaultClientName)

/**
 * LMTP with the default client name.
 *
 * @category constructors
 * @since 0.1.0
 */
export const lmtp: SmtpDialect = make_("LMTP", defaultClientName)
