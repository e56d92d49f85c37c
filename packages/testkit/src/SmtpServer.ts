/**
 * A stateful, in-memory SMTP (RFC 5321) and LMTP (RFC 2033) server for tests: an independent
 * implementation (it shares no code with `@starttls/smtp`), so it can judge the SMTP client. It
 * keeps what it delivered (envelope, exact unstuffed body, TLS state, authenticated user), records
 * every client byte with its phase, and injects faults.
 *
 * Plug `server.handler` into `MemoryTransport.layer` (real TLS over an in-memory pair) or
 * `LoopbackServer.make` (127.0.0.1, for `NodeTransport`).
 *
 * What it speaks, by default like the Postfix submission service of `mail-servers/README.md` §4:
 *
 * - greeting `220 localhost ESMTP Postfix`; EHLO, HELO (LHLO in LMTP mode, where EHLO and HELO are
 *   refused); the EHLO keywords before and after TLS are configurable.
 * - STARTTLS (RFC 3207): `220`, then TLS with the test certificates; everything learned before is
 *   forgotten (RFC 3207 §4.2: EHLO again); client bytes pipelined after STARTTLS are discarded and
 *   recorded in `sentBeforeHandshake`. Security `"starttls"` refuses AUTH, MAIL, RCPT, DATA, BDAT,
 *   VRFY and ETRN before TLS with `530 5.7.0 Must issue a STARTTLS command first` (Postfix
 *   `smtpd_tls_security_level = encrypt`); `"implicit-tls"` (SMTPS) handshakes first;
 *   `"plaintext"` has no TLS (the TLS_MODE=none twin: AUTH offered in clear, STARTTLS → 502).
 * - AUTH (RFC 4954) with an initial response or 334 challenges: PLAIN, LOGIN, CRAM-MD5,
 *   SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-256-PLUS (`tls-exporter`), XOAUTH2, OAUTHBEARER; the
 *   SCRAM server-final message goes out as a last 334 challenge (RFC 4954 §4); `*` cancels (501).
 * - MAIL / RCPT with SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY, ORCPT, AUTH, REQUIRETLS, each only
 *   when its extension is advertised (else 555); per-recipient replies on demand.
 * - DATA (dot-unstuffing across any chunking; only CRLF ends a line), BDAT (RFC 3030, chunk bytes
 *   are never read as commands, BODY=BINARYMIME only with BDAT), RSET, NOOP, VRFY (252), ETRN,
 *   QUIT (221). Pipelined commands (RFC 2920) are answered in order; replies are written together
 *   when the client's input is used up (as Postfix does).
 * - LMTP: one reply per accepted recipient after the message (RFC 2033 §4.2).
 * - Limits: command lines of 512 octets (RFC 5321 §4.5.3.1.4; `500 5.5.2`), SASL lines of 12288
 *   (RFC 4954 §4; `500 5.5.6`), the message size (`552 5.3.4`), recipients per message (`452`).
 *   Replies carry enhanced status codes (RFC 2034) unless a HELO, or an EHLO whose list lacks
 *   ENHANCEDSTATUSCODES, is in force. Reply texts from the configuration are written verbatim.
 *
 * Not done: SASLprep on the server side, AUTH security layers, DSN generation, mail relaying,
 * 8BITMIME / BINARYMIME content checks.
 *
 * Client bytes reach the server one macrotask after they were written, as over a network (see
 * `internal/smtp/hop.ts`: in memory, a client that reacts inside the server's write could otherwise
 * send its ClientHello before the server switched to TLS). Delays use effect's `Clock`
 * (`Effect.sleep`): run delaying tests under `it.live`. Nothing else depends on time; only SCRAM
 * nonces and salts are random.
 *
 * ```ts
 * const server = yield* SmtpServer.make({ users: { alice: "secret" } })
 * const program = Effect.gen(function*() { ... }).pipe(Effect.provide(MemoryTransport.layer(server.handler)))
 * yield* program
 * const [message] = server.messages()
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type { Duplex } from "node:stream"
import * as Certificates from "./Certificates.ts"
import type * as SaslServer from "./internal/saslServer.ts"
import * as Envelope from "./internal/smtp/envelope.ts"
import * as Session from "./internal/smtp/session.ts"
import type * as Recording from "./Recording.ts"
import type * as Transcript from "./Transcript.ts"

/**
 * MAIL / RCPT parameters: keyword (upper case) to value as sent, `true` for a keyword without value.
 *
 * @category models
 * @since 0.1.0
 */
export type Params = Readonly<Record<string, string | true>>

/**
 * A SASL mechanism the server can serve.
 *
 * @category models
 * @since 0.1.0
 */
export type Mechanism = SaslServer.MechanismName

/**
 * `"starttls"`: plaintext first, STARTTLS offered and (by default) required before AUTH and mail;
 * `"implicit-tls"`: TLS from the first byte (SMTPS, port 465); `"plaintext"`: no TLS at all.
 *
 * @category models
 * @since 0.1.0
 */
export type Security = "starttls" | "implicit-tls" | "plaintext"

/**
 * A client command, SASL response, payload or unusable line, in arrival order.
 *
 * @category models
 * @since 0.1.0
 */
export type Entry =
  | Command
  /** A line answering a 334 challenge. */
  | { readonly _tag: "SaslResponse"; readonly phase: Recording.Phase; readonly line: string }
  /** The bytes after DATA (stuffed, with the terminator) or of one BDAT chunk, as counted on the wire. */
  | {
    readonly _tag: "Payload"
    readonly phase: Recording.Phase
    readonly command: "DATA" | "BDAT"
    readonly size: number
  }
  /** A line over the limit (dropped) or ended by a bare LF. */
  | {
    readonly _tag: "BadLine"
    readonly phase: Recording.Phase
    readonly reason: "TooLong" | "BareLf"
    readonly length: number
  }

/**
 * A command line: `verb` in upper case, `line` as received without CRLF (latin1).
 *
 * @category models
 * @since 0.1.0
 */
export interface Command {
  readonly _tag: "Command"
  readonly phase: Recording.Phase
  readonly verb: string
  readonly line: string
}

/**
 * A message the server accepted (SMTP: final 2xx; LMTP: at least one recipient with a 2xx).
 * `body` is the content exactly as the client meant it (dot-stuffing removed, the last line's CRLF
 * kept, the terminator gone); `recipients` are those it was delivered to.
 *
 * @category models
 * @since 0.1.0
 */
export interface Message {
  /** Queue id, as in `250 2.0.0 Ok: queued as <id>`. */
  readonly id: string
  /** Id of the connection it came on. */
  readonly connection: number
  readonly from: string
  readonly recipients: ReadonlyArray<string>
  /** Parameters of each RCPT, in the order of `recipients`. */
  readonly recipientParams: ReadonlyArray<Params>
  /** MAIL FROM parameters. */
  readonly params: Params
  readonly body: Uint8Array
  readonly transfer: "DATA" | "BDAT"
  /** Whether the message came over TLS. */
  readonly secure: boolean
  readonly authenticatedAs: string | undefined
}

/**
 * One connection: its log (growing while open) and, once it has ended, the recording of every
 * client byte. The outcome is `Completed` when the server ended the conversation (QUIT, a fault,
 * a 421), `ClientClosed` when the client went first, `HandshakeFailed` when TLS did not come up;
 * its `line` is the index in `entries` where that happened. `extraAfterScript` holds what the
 * client sent after QUIT.
 *
 * @category models
 * @since 0.1.0
 */
export interface Connection {
  readonly id: number
  readonly entries: ReadonlyArray<Entry>
  readonly recording: Recording.Recording | undefined
}

/**
 * Raw bytes that answer a command instead of its reply. `then`: `"skip"` (default) leaves the
 * command without effect; `"execute"` runs the command and sends these bytes in place of its first
 * reply (STARTTLS still starts TLS, DATA still reads the content); `"close"` hangs up after them.
 *
 * @category models
 * @since 0.1.0
 */
export interface Override {
  readonly raw: string | Uint8Array
  readonly then?: "skip" | "execute" | "close" | undefined
}

/**
 * Where a reply goes out: `"greeting"`, a command verb in upper case (its first reply), or
 * `"message"` (the final reply after DATA content or BDAT LAST).
 *
 * @category models
 * @since 0.1.0
 */
export type ReplyPoint = string

/**
 * Fault injection; `setFaults` changes it while connections are open.
 *
 * @category models
 * @since 0.1.0
 */
export interface Faults {
  /** Waits before a reply: every reply, or per reply point. */
  readonly delayMs?: number | ((point: ReplyPoint) => number | undefined) | undefined
  /** Raw answers, by verb (upper case) or computed per command. */
  readonly override?:
    | Readonly<Record<string, Override>>
    | ((command: Command) => Override | undefined)
    | undefined
  /**
   * Destroys the connection once this many payload bytes of a transaction (DATA content, or the
   * BDAT chunks together) have arrived. Nothing is delivered.
   */
  readonly dropAfterPayloadBytes?: number | undefined
  /**
   * Instead of the final reply to a message: `"silent"` never answers (the server reads on),
   * `"drop"` destroys the connection. Nothing is delivered.
   */
  readonly withholdFinalReply?: "silent" | "drop" | undefined
  /** Answers this reply point with `421 4.3.2 ... shutting down` and closes. */
  readonly shutdownAt?: ReplyPoint | undefined
}

/**
 * Limits, with their defaults.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limits {
  /** Longest command line with CRLF (RFC 5321 §4.5.3.1.4). Default 512. */
  readonly maxLineLength?: number | undefined
  /** Longest AUTH command or SASL response line with CRLF (RFC 4954 §4). Default 12288. */
  readonly maxAuthLineLength?: number | undefined
  /** Largest message (unstuffed bytes); also the SIZE keyword's argument. Default 104857600. */
  readonly maxMessageSize?: number | undefined
  /** Recipients per message (RFC 5321 §4.5.3.1.8 asks for at least 100). Default 1000. */
  readonly maxRecipients?: number | undefined
}

/**
 * Server configuration; every field has a default.
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  /** Host name in the greeting and EHLO reply. Default "localhost". */
  readonly name?: string | undefined
  /** `"lmtp"` speaks RFC 2033 (LHLO, per-recipient replies). Default `"smtp"`. */
  readonly mode?: "smtp" | "lmtp" | undefined
  /** Default `"starttls"`. */
  readonly security?: Security | undefined
  /** Refuse AUTH and mail commands before TLS with 530. Default: true for `"starttls"`. */
  readonly requireTls?: boolean | undefined
  /** Refuse MAIL before AUTH with `530 5.7.0 Authentication required`. Default false. */
  readonly requireAuth?: boolean | undefined
  /** Server certificate. Default the `localhost` profile. */
  readonly certificate?: Transcript.CertProfile | Certificates.KeyPair | undefined
  /**
   * The greeting, verbatim (lines separated by CRLF). A `554` greeting refuses the session (every
   * command but QUIT gets 503, RFC 5321 §3.1); a `421` greeting closes at once.
   */
  readonly greeting?: string | undefined
  /** EHLO keywords (one per line, e.g. "SIZE 1000") before and after TLS. Defaults: Postfix submission. */
  readonly extensions?: {
    readonly plain?: ReadonlyArray<string> | undefined
    readonly tls?: ReadonlyArray<string> | undefined
  } | undefined
  /** Mechanisms in the default AUTH keyword (the ones accepted are those advertised). Default PLAIN LOGIN. */
  readonly mechanisms?: ReadonlyArray<Mechanism> | undefined
  /** Users and passwords. */
  readonly users?: Readonly<Record<string, string>> | undefined
  /** Users and the bearer token XOAUTH2 / OAUTHBEARER accept. */
  readonly tokens?: Readonly<Record<string, string>> | undefined
  /** SCRAM iteration count (default 4096) and a forged server signature (client verification tests). */
  readonly scram?: {
    readonly iterations?: number | undefined
    readonly forgeServerSignature?: boolean | undefined
  } | undefined
  /** Reply to STARTTLS; TLS starts when it is a 220. Default 220, or 502 for `"plaintext"`. */
  readonly startTlsReply?: string | undefined
  /** RCPT replies by address, or computed; a non-2xx refuses the recipient. Default `250 2.1.5 Ok`. */
  readonly recipients?:
    | Readonly<Record<string, string>>
    | ((address: string, params: Params) => string | undefined)
    | undefined
  /** SMTP final reply for a message; a non-2xx refuses it. Default `250 2.0.0 Ok: queued as <id>`. */
  readonly finalReply?: ((message: Message) => string | undefined) | undefined
  /** LMTP per-recipient reply after the message; a non-2xx fails that delivery. */
  readonly deliveries?:
    | Readonly<Record<string, string>>
    | ((address: string, message: Message) => string | undefined)
    | undefined
  readonly limits?: Limits | undefined
  readonly faults?: Faults | undefined
}

/**
 * A running fake server.
 *
 * @category models
 * @since 0.1.0
 */
export interface SmtpServer {
  /** Serves one connection; finishes when it ends, with its record. */
  readonly handler: (duplex: Duplex) => Effect.Effect<Connection>
  /** Messages delivered so far, in order. */
  readonly messages: () => ReadonlyArray<Message>
  /** Every connection so far (open ones without a recording yet). */
  readonly connections: () => ReadonlyArray<Connection>
  /** The next connection to end (in the order they end). */
  readonly ended: Effect.Effect<Connection>
  /** Replaces the faults, for open connections too. */
  readonly setFaults: (faults: Faults) => void
  /** Sends `421 4.3.2 ... shutting down` to every open connection and closes it (RFC 5321 §3.8). */
  readonly shutdown: Effect.Effect<void>
}

/**
 * Decodes RFC 3461 §4 xtext (`+2B` is `+`), the form of the ENVID, ORCPT and AUTH= values in `Params`.
 *
 * @category decoding
 * @since 0.1.0
 */
export const decodeXtext: (xtext: string) => string = Envelope.decodeXtext

const TAIL = ["ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]

/**
 * The default EHLO keywords: Postfix submission's lines, `SIZE` from the message size limit, and the
 * AUTH keyword from the mechanisms (omitted when there are none).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultExtensions = (
  maxMessageSize: number,
  mechanisms: ReadonlyArray<Mechanism>
): { readonly plain: ReadonlyArray<string>; readonly tls: ReadonlyArray<string> } => {
  const head = ["PIPELINING", `SIZE ${maxMessageSize}`, "VRFY", "ETRN"]
  const auth = mechanisms.length === 0 ? [] : [`AUTH ${mechanisms.join(" ")}`]
  return { plain: [...head, "STARTTLS", ...TAIL], tls: [...head, ...auth, ...TAIL] }
}

const lookup = <A extends ReadonlyArray<unknown>>(
  table: Readonly<Record<string, string>> | ((address: string, ...rest: A) => string | undefined) | undefined
) =>
(address: string, ...rest: A): string | undefined => {
  if (table === undefined) return undefined
  if (typeof table === "function") return table(address, ...rest)
  return Object.hasOwn(table, address) ? table[address] : undefined
}

/**
 * Starts a server (nothing listens: connections arrive through `handler`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config = {}): Effect.Effect<SmtpServer> =>
  Effect.gen(function*() {
    const ended = yield* Queue.unbounded<Connection>()
    const security = config.security ?? "starttls"
    const mode = config.mode ?? "smtp"
    const name = config.name ?? "localhost"
    const maxMessageSize = config.limits?.maxMessageSize ?? 104_857_600
    const defaults = defaultExtensions(maxMessageSize, config.mechanisms ?? ["PLAIN", "LOGIN"])
    const users = config.users ?? {}
    const tokens = config.tokens ?? {}
    const messages: Array<Message> = []
    const connections: Array<Session.Handle> = []
    let faults: Faults = config.faults ?? {}
    let queued = 0
    const certificate = config.certificate ?? "localhost"
    const resolved: Session.Resolved = {
      name,
      mode,
      security,
      requireTls: config.requireTls ?? security === "starttls",
      requireAuth: config.requireAuth ?? false,
      keyPair: typeof certificate === "string" ? Certificates.forProfile(certificate) : certificate,
      greeting: config.greeting ?? (mode === "lmtp" ? `220 ${name} LMTP ready` : `220 ${name} ESMTP Postfix`),
      extensions: {
        // TLS_MODE=none: the post-TLS list is what a plaintext server offers.
        plain: config.extensions?.plain ?? (security === "plaintext" ? defaults.tls : defaults.plain),
        tls: config.extensions?.tls ?? defaults.tls
      },
      startTlsReply: config.startTlsReply ??
        (security === "plaintext" ? "502 5.5.1 Error: command not implemented" : "220 2.0.0 Ready to start TLS"),
      limits: {
        maxLineLength: config.limits?.maxLineLength ?? 512,
        maxAuthLineLength: config.limits?.maxAuthLineLength ?? 12_288,
        maxMessageSize,
        maxRecipients: config.limits?.maxRecipients ?? 1000
      },
      account: (user) => {
        const password = Object.hasOwn(users, user) ? users[user] : undefined
        const token = Object.hasOwn(tokens, user) ? tokens[user] : undefined
        return password === undefined && token === undefined ? undefined : { password, token }
      },
      scramIterations: config.scram?.iterations,
      forgeServerSignature: config.scram?.forgeServerSignature ?? false,
      recipientReply: lookup<[Params]>(config.recipients),
      finalReply: (message) => config.finalReply?.(message),
      deliveryReply: lookup<[Message]>(config.deliveries),
      faults: () => faults,
      nextQueueId: () => (++queued).toString(16).toUpperCase().padStart(10, "0"),
      deliver: (message) => {
        messages.push(message)
      },
      ended: (connection) => Queue.offer(ended, connection)
    }
    return {
      handler: (duplex) => {
        const handle = Session.handle(connections.length + 1)
        connections.push(handle)
        return Session.run(duplex, resolved, handle)
      },
      messages: () => [...messages],
      connections: () => connections.map((handle) => handle.connection),
      ended: Queue.take(ended),
      setFaults: (next) => {
        faults = next
      },
      shutdown: Effect.sync(() => {
        for (const handle of connections) handle.shutdown()
      })
    }
  })
