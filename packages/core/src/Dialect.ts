/**
 * A protocol, as a value. A protocol author writes a parser (a `Framer`), command encoders and a
 * dialect; core's negotiation engine (`Connection`) then runs greeting → capabilities → policy →
 * STARTTLS → injection check → upgrade → capabilities again → authentication the same way for every
 * protocol. Adding a protocol touches no file in core.
 *
 * `core/test/LineDialect.ts` is a complete example (a tiny line protocol used by core's own tests).
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"
import type * as Framer from "./Framer.ts"
import type * as Limits from "./Limits.ts"
import type * as MailError from "./MailError.ts"

/**
 * What a frame means for the exchange that reads it.
 *
 * @category models
 * @since 0.1.0
 */
export type Step<A> =
  | { readonly _tag: "Continue" }
  | { readonly _tag: "Done"; readonly value: A }
  | { readonly _tag: "Fail"; readonly reason: MailError.MailErrorReason }

/**
 * @category constructors
 * @since 0.1.0
 */
export const Continue: Step<never> = { _tag: "Continue" }

/**
 * @category constructors
 * @since 0.1.0
 */
export const done = <A>(value: A): Step<A> => ({ _tag: "Done", value })

/**
 * @category constructors
 * @since 0.1.0
 */
export const fail = (reason: MailError.MailErrorReason): Step<never> => ({ _tag: "Fail", reason })

/**
 * Bytes to write, with their redacted trace (one entry per line; secrets already masked by the
 * encoder).
 *
 * @category models
 * @since 0.1.0
 */
export interface Outgoing {
  readonly bytes: ReadonlyArray<Uint8Array>
  readonly trace: ReadonlyArray<string>
}

/**
 * One command and how to read its reply: `onFrame` is called with each frame until it returns `Done`
 * or `Fail`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Command<F, A> extends Outgoing {
  readonly phase: MailError.Phase
  readonly onFrame: (frame: F) => Step<A>
}

/**
 * What the greeting said.
 *
 * @category models
 * @since 0.1.0
 */
export type Greeting<Caps> =
  | { readonly _tag: "Ready"; readonly capabilities: Caps | undefined }
  | { readonly _tag: "Preauthenticated"; readonly capabilities: Caps | undefined }
  | { readonly _tag: "Rejected"; readonly untrustedText: string }

/**
 * How a SASL exchange frame reads.
 *
 * @category models
 * @since 0.1.0
 */
export type SaslFrame<Caps> =
  | { readonly _tag: "Challenge"; readonly data: Uint8Array }
  | {
    readonly _tag: "Success"
    /** Additional data with success (e.g. a SCRAM server-final message), when the protocol carries it. */
    readonly data: Uint8Array | undefined
    /** Capabilities announced with success (IMAP `[CAPABILITY ...]`). */
    readonly capabilities: Caps | undefined
  }
  | { readonly _tag: "Failure"; readonly code: string | undefined; readonly untrustedText: string }
  | { readonly _tag: "Ignore" }
  | { readonly _tag: "Violation"; readonly detail: string }

/**
 * How a protocol frames SASL (IMAP AUTHENTICATE, SMTP AUTH, POP3 AUTH).
 *
 * @category models
 * @since 0.1.0
 */
export interface Sasl<F, Caps> {
  /** Mechanisms the server offers, upper case. */
  readonly mechanisms: (capabilities: Caps) => ReadonlyArray<string>
  /**
   * Whether the command that starts the exchange carries the initial response of `mechanism`
   * (upper case), which takes `length` octets on the wire (base64; 1 for an empty response, sent
   * as `=`). Otherwise it is sent after the server's first (empty) challenge (RFC 4422 §5 2a).
   * IMAP: with SASL-IR; SMTP: when the AUTH line fits 12288 octets (RFC 4954 §4); POP3: when it
   * fits 255 (RFC 5034 §4). `capabilities` is `undefined` when the exchange starts without them
   * (`Connection.AuthenticateOptions.withoutCapabilities`).
   */
  readonly initialResponse: (capabilities: Caps | undefined, mechanism: string, length: number) => boolean
  /** The command that starts the exchange; `initial` is the raw initial response, if sent. */
  readonly start: (mechanism: string, initial: Redacted.Redacted<Uint8Array> | undefined) => Outgoing
  /** A response to a challenge. */
  readonly respond: (response: Redacted.Redacted<Uint8Array>) => Outgoing
  /** Aborts the exchange (the server then answers with a failure). */
  readonly cancel: () => Outgoing
  readonly onFrame: (frame: F) => SaslFrame<Caps>
  /** Whether the server forbids sending a password in a LOGIN-style exchange (IMAP LOGINDISABLED). */
  readonly loginDisabled?: ((capabilities: Caps) => boolean) | undefined
}

/**
 * The per-connection part of a dialect (tag counters and the like live here).
 *
 * @category models
 * @since 0.1.0
 */
export interface Session<F, Caps> {
  /**
   * Makes the framer for this connection (called again, for a fresh framer, at the TLS upgrade).
   * Overrides `Dialect.makeFramer` for protocols whose framer needs per-connection state shared with
   * the session — e.g. POP3, where the client tells the parser which responses are multi-line.
   */
  readonly makeFramer?: ((limits: Limits.Limits) => Framer.Framer<F>) | undefined
  /** Reads the greeting frame(s). */
  readonly greeting: (frame: F) => Step<Greeting<Caps>>
  /** The capability query (IMAP CAPABILITY, POP3 CAPA, SMTP EHLO). */
  readonly capabilities: () => Command<F, Caps>
  readonly offersStartTls: (capabilities: Caps) => boolean
  /**
   * The STARTTLS command. `Done` means the success reply was read and TLS must start now; any
   * refusal is a `Fail` with `StartTlsRejected` (text untrusted), anything odd a `ProtocolViolation`.
   */
  readonly startTls: () => Command<F, void>
  readonly sasl: Sasl<F, Caps>
  /** A clean goodbye (IMAP LOGOUT, POP3/SMTP QUIT), when the protocol has one. */
  readonly logout?: (() => Command<F, void>) | undefined
}

/**
 * A protocol.
 *
 * @category models
 * @since 0.1.0
 */
export interface Dialect<F, Caps> {
  /** e.g. "IMAP". */
  readonly name: string
  /** Ports that speak TLS from the first byte (993, 995, 465). Others use STARTTLS. */
  readonly implicitTlsPorts: ReadonlyArray<number>
  readonly makeFramer: (limits: Limits.Limits) => Framer.Framer<F>
  /**
   * Whether the capability query must run before STARTTLS (SMTP: STARTTLS is only valid after EHLO).
   * Otherwise STARTTLS is sent straight after the greeting when TLS is required, without trusting
   * or even asking for the plaintext capabilities.
   */
  readonly capabilitiesBeforeStartTls: boolean
  readonly session: () => Session<F, Caps>
}
