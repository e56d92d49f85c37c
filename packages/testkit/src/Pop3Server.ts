/**
 * A stateful in-memory POP3 server for tests, demos and model-based property tests of POP3
 * clients: RFC 1939 (AUTHORIZATION, TRANSACTION, UPDATE; USER/PASS, APOP), RFC 2449 (CAPA,
 * PIPELINING, RESP-CODES, `[IN-USE]`), RFC 2595 §4 (STLS), RFC 5034 (AUTH with initial response
 * and `+ ` challenges), RFC 3206 (`[AUTH]`, `[SYS/TEMP]`, `[SYS/PERM]`). It is an implementation
 * independent of the project's POP3 client (testkit depends only on core), so it can serve as the
 * client's oracle.
 *
 * - **Maildrops**: per user, an ordered list of messages kept as bytes with CRLF line endings (the
 *   size LIST reports is the exact octet count RETR sends before dot-stuffing) and a UID each
 *   (given, or derived from a per-server counter). A session works on the maildrop as it was when
 *   it acquired the lock (RFC 1939 §4); a second session for the same user gets `-ERR [IN-USE]`.
 *   DELE marks, RSET unmarks, and only QUIT in TRANSACTION removes the marked messages (UPDATE,
 *   RFC 1939 §6); a session that ends any other way removes nothing.
 * - **Security** like the real Dovecot of `mail-servers/README.md` §4: `"starttls"` offers STLS and
 *   refuses USER and the mechanisms that reveal a secret (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER) until
 *   TLS is up; `"implicit-tls"` (POP3S) starts TLS before the greeting; `"plaintext"` is the
 *   `TLS_MODE=none` twin (no STLS, USER/PASS accepted in clear). The TLS is real (`node:tls` with the
 *   testkit certificates), switched in place on the same duplex.
 * - **Observation**: every session's commands with their phase and state, how it ended, what its
 *   UPDATE removed, and a `Recording` of every client byte (for `Recording.assertNoSecretInPlaintext`).
 * - **Faults**: drop the connection after N bytes of a RETR, drop it before QUIT's reply, delay
 *   replies, answer a command with raw bytes (injection tests), or write a multi-line terminator
 *   split across two writes. They can be changed while the server runs (`setFaults`).
 *
 * Big messages are sent in chunks of `chunkSize` bytes as views into the stored message (dot-stuffing
 * inserts one-byte pieces, it never copies the message), each write waiting for the previous one to
 * be taken (backpressure).
 *
 * Deterministic apart from SCRAM nonces and salts; no clock is read except for `Delay` faults (run
 * such tests with `it.live`). Not implemented: UTF8 and LANG (RFC 6856), LOGIN-DELAY, EXPIRE, SASL
 * security layers, idle timeouts.
 *
 * ```ts
 * const server = yield* Pop3Server.make({ users: { test: { password: "secret", messages: ["Subject: hi\r\n\r\nbody\r\n"] } } })
 * const layer = MemoryTransport.layer(server.handler)     // or LoopbackServer.make(server.handler)
 * // ... run the client against `layer` ...
 * assert.strictEqual(server.maildrop("test").length, 0)
 * ```
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import type { Duplex } from "node:stream"
import * as Certificates from "./Certificates.ts"
import * as Maildrop from "./internal/pop3/maildrop.ts"
import * as Pop3Session from "./internal/pop3/session.ts"
import type * as SaslServer from "./internal/saslServer.ts"
import type * as Recording from "./Recording.ts"
import type * as Transcript from "./Transcript.ts"

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/**
 * How the server does TLS: STLS offered and required before authentication (`"starttls"`), TLS
 * before the greeting (`"implicit-tls"`, POP3S), or none at all (`"plaintext"`).
 *
 * @category models
 * @since 0.1.0
 */
export type Security = "starttls" | "implicit-tls" | "plaintext"

/**
 * A SASL mechanism the server can run.
 *
 * @category models
 * @since 0.1.0
 */
export type Mechanism = SaslServer.MechanismName

/**
 * A stored message: its bytes (every line ending in CRLF), its size in octets and its UID.
 *
 * @category models
 * @since 0.1.0
 */
export interface Message {
  readonly uid: string
  readonly bytes: Uint8Array
  readonly size: number
}

/**
 * A message to store: text (UTF-8) or bytes, optionally with a UID (1-70 characters in
 * 0x21-0x7E, unique in the maildrop; default derived). Bare LFs become CRLF and a missing final
 * CRLF is added.
 *
 * @category models
 * @since 0.1.0
 */
export type MessageInput =
  | string
  | Uint8Array
  | { readonly body: string | Uint8Array; readonly uid?: string | undefined }

/**
 * A user: password (USER/PASS, APOP, PLAIN, LOGIN, CRAM-MD5, SCRAM), bearer token (XOAUTH2,
 * OAUTHBEARER), initial maildrop.
 *
 * @category models
 * @since 0.1.0
 */
export interface User {
  readonly password?: string | undefined
  readonly token?: string | undefined
  readonly messages?: ReadonlyArray<MessageInput> | undefined
}

/**
 * CAPA lines (RFC 2449 §5) before and after TLS, without CRLF.
 *
 * @category models
 * @since 0.1.0
 */
export interface Capabilities {
  readonly beforeTls: ReadonlyArray<string>
  readonly afterTls: ReadonlyArray<string>
}

/**
 * Line length limits, in octets with the CRLF. RFC 2449 §4: a command line is at most 255 octets;
 * SASL responses (RFC 5034 §4) are not commands and get their own limit. A longer line is answered
 * with `-ERR` and the connection is closed.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limits {
  readonly maxCommandLength: number
  readonly maxSaslLineLength: number
}

/**
 * The default limits, in one place.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultLimits: Limits = { maxCommandLength: 255, maxSaslLineLength: 65536 }

/**
 * A fault to inject. `command` names are matched without regard to case; `times` bounds how often a
 * fault fires over the server's life (default: every time).
 *
 * - `DropDuringRetr`: RETR (of message `message`, or any) writes its status line and `afterBodyBytes`
 *   more bytes of the (stuffed) response, then the connection is destroyed.
 * - `DropBeforeQuitReply`: QUIT in TRANSACTION destroys the connection instead of replying; the
 *   deletions are committed only when `commit` is true (a client cannot know which happened).
 * - `Delay`: waits `millis` before replying to `command` (`"GREETING"` for the greeting), or to
 *   everything when `command` is absent.
 * - `RawReply`: answers `command` with `bytes` in one write (or, given a list, one write per element
 *   with a macrotask or `pauseMs` between them) instead of handling it, then goes on (`"continue"`,
 *   default), switches to TLS right after the last write (`"startTls"`), or closes (`"close"`).
 * - `SplitTerminator`: multi-line replies (of `command`, or all) are written in two parts split inside
 *   the final `CRLF . CRLF`, after its first `at` bytes (3 gives `…\r\n.` then `\r\n`), with a
 *   macrotask (or `pauseMs`) between the writes.
 *
 * @category models
 * @since 0.1.0
 */
export type Fault =
  | {
    readonly _tag: "DropDuringRetr"
    readonly afterBodyBytes: number
    readonly message?: number | undefined
    readonly times?: number | undefined
  }
  | { readonly _tag: "DropBeforeQuitReply"; readonly commit: boolean; readonly times?: number | undefined }
  | {
    readonly _tag: "Delay"
    readonly millis: number
    readonly command?: string | undefined
    readonly times?: number | undefined
  }
  | {
    readonly _tag: "RawReply"
    readonly command: string
    readonly bytes: string | Uint8Array | ReadonlyArray<string | Uint8Array>
    readonly then?: "continue" | "startTls" | "close" | undefined
    readonly pauseMs?: number | undefined
    readonly times?: number | undefined
  }
  | {
    readonly _tag: "SplitTerminator"
    readonly at: 1 | 2 | 3 | 4
    readonly command?: string | undefined
    readonly pauseMs?: number | undefined
    readonly times?: number | undefined
  }

/**
 * How the server is set up. Every field has a default.
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  /** Users by name: a password, or a `User`. Default `{ test: "secret" }` (as in the real servers). */
  readonly users?: Readonly<Record<string, string | User>> | undefined
  /** Default `"starttls"`. */
  readonly security?: Security | undefined
  /** Server certificate. Default `"localhost"`. */
  readonly certificate?: Transcript.CertProfile | undefined
  /** Greeting text after `+OK `. Default `"Dovecot (Debian) ready."`. */
  readonly banner?: string | undefined
  /**
   * APOP timestamp appended to the greeting (RFC 1939 §7), e.g. `"<1896.697170952@dbc.mtview.ca.us>"`,
   * or one per connection number; `false` for none (APOP then refused). Default `<id.0@localhost>`.
   * APOP is accepted before TLS: it does not reveal the secret.
   */
  readonly apopTimestamp?: string | false | ((connection: number) => string) | undefined
  /** Greet with `-ERR <text>` and close instead. */
  readonly rejectGreeting?: string | undefined
  /** CAPA lines; default `defaultCapabilities(...)`. */
  readonly capabilities?: Partial<Capabilities> | undefined
  /** SASL mechanisms, in the order advertised. Default `["PLAIN", "LOGIN"]` (Dovecot's). */
  readonly mechanisms?: ReadonlyArray<Mechanism> | undefined
  /**
   * Accept USER/PASS and secret-revealing mechanisms without TLS. Default: only with `"plaintext"`.
   * True under `"starttls"` is the misconfigured server that also advertises USER before STLS.
   */
  readonly allowPlaintextAuth?: boolean | undefined
  /** Answer STLS with `-ERR [SYS/TEMP] ...` (STLS still advertised). */
  readonly refuseStls?: boolean | undefined
  /**
   * How SCRAM's server-final message is delivered: as a last `+ ` challenge the client answers with
   * an empty line (default, RFC 4422 §5), or as the text of the `+OK`.
   */
  readonly scramFinal?: "challenge" | "ok" | undefined
  readonly scramIterations?: number | undefined
  /** Send a wrong SCRAM server signature. */
  readonly forgeScramSignature?: boolean | undefined
  readonly limits?: Partial<Limits> | undefined
  /** Bytes per write of a multi-line reply. Default 65536. */
  readonly chunkSize?: number | undefined
  readonly faults?: ReadonlyArray<Fault> | undefined
  /** Host name in the default APOP timestamp and CRAM-MD5 challenges. Default `"localhost"`. */
  readonly hostname?: string | undefined
}

/**
 * POP3 session states (RFC 1939 §3).
 *
 * @category models
 * @since 0.1.0
 */
export type SessionState = "Authorization" | "Transaction" | "Update"

/**
 * A client line as the server received it (without CRLF): a command, or a SASL response.
 *
 * @category models
 * @since 0.1.0
 */
export interface CommandRecord {
  readonly phase: Recording.Phase
  readonly state: SessionState
  readonly kind: "command" | "sasl"
  readonly line: string
}

/**
 * How a session ended (`Open` while it runs).
 *
 * @category models
 * @since 0.1.0
 */
export type SessionEnd =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Quit" }
  | { readonly _tag: "ClientClosed" }
  | { readonly _tag: "HandshakeFailed"; readonly code: string | undefined; readonly message: string }
  | { readonly _tag: "LineTooLong" }
  | { readonly _tag: "Rejected" }
  | { readonly _tag: "Fault"; readonly fault: Fault["_tag"] }
  | { readonly _tag: "Interrupted" }

/**
 * One connection as the server saw it.
 *
 * @category models
 * @since 0.1.0
 */
export interface Session {
  /** 1, 2, … in connection order. */
  readonly id: number
  /** The APOP timestamp of the greeting, if any. */
  readonly timestamp: string | undefined
  readonly state: SessionState
  readonly secure: boolean
  /** The authenticated user. */
  readonly user: string | undefined
  /** `"USER"`, `"APOP"` or the SASL mechanism that authenticated `user`. */
  readonly authentication: string | undefined
  readonly commands: ReadonlyArray<CommandRecord>
  readonly end: SessionEnd
  /** The messages UPDATE removed from the maildrop (empty unless QUIT committed deletions). */
  readonly removed: ReadonlyArray<Message>
  /** The authenticated user's maildrop when the session ended (`undefined` while open or unauthenticated). */
  readonly maildropAfter: ReadonlyArray<Message> | undefined
  /**
   * Every client byte with its phase. `outcome.line` is the number of client lines read; a session
   * that ended by QUIT, a fault or the server is `Completed`.
   */
  readonly recording: Recording.Recording
}

/**
 * A running fake POP3 server. `handler` serves one connection (plug it into
 * `MemoryTransport.layer` or `LoopbackServer.make`); the rest is state for assertions and switches.
 *
 * @category models
 * @since 0.1.0
 */
export interface Pop3Server {
  readonly handler: (duplex: Duplex) => Effect.Effect<Session>
  /** The user's maildrop now (committed state; empty for an unknown user). */
  readonly maildrop: (user: string) => ReadonlyArray<Message>
  /** Appends a message to a user's maildrop (seen by sessions that lock it later). */
  readonly deliver: (user: string, message: MessageInput) => Effect.Effect<Message, InvalidConfig>
  /** Snapshots of every session so far, in connection order. */
  readonly sessions: () => ReadonlyArray<Session>
  /** Waits until `count` sessions have ended; returns the ended ones in connection order. */
  readonly awaitEnded: (count: number) => Effect.Effect<ReadonlyArray<Session>>
  readonly isLocked: (user: string) => boolean
  readonly faults: () => ReadonlyArray<Fault>
  readonly setFaults: (faults: ReadonlyArray<Fault>) => void
}

/**
 * The configuration cannot be served (a user name or text with line breaks, a bad or duplicate UID,
 * an unknown user for `deliver`).
 *
 * @category errors
 * @since 0.1.0
 */
export class InvalidConfig extends Data.TaggedError("InvalidConfig")<{ readonly reason: string }> {
  override get message(): string {
    return `invalid POP3 server configuration: ${this.reason}`
  }
}

// -----------------------------------------------------------------------------
// Capabilities
// -----------------------------------------------------------------------------

const BASE_CAPABILITIES = ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]

/**
 * The mechanisms usable in a phase: `-PLUS` only over TLS; secret-revealing ones only over TLS
 * unless plaintext authentication is allowed.
 *
 * @category constructors
 * @since 0.1.0
 */
export const usableMechanisms = (
  mechanisms: ReadonlyArray<Mechanism>,
  secure: boolean,
  allowPlaintextAuth: boolean
): ReadonlyArray<Mechanism> => Pop3Session.usableMechanisms(mechanisms, secure, allowPlaintextAuth)

/**
 * The CAPA lines Dovecot sends (mail-servers/README.md §4), for the configured mechanisms: before STLS
 * `TOP UIDL RESP-CODES PIPELINING AUTH-RESP-CODE STLS SASL` (no USER, no plaintext mechanisms);
 * after it, and without TLS support, `... AUTH-RESP-CODE USER SASL PLAIN LOGIN`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultCapabilities = (
  security: Security,
  mechanisms: ReadonlyArray<Mechanism> = ["PLAIN", "LOGIN"],
  allowPlaintextAuth: boolean = security === "plaintext"
): Capabilities => {
  const lines = (secure: boolean, stls: boolean) => {
    const usable = usableMechanisms(mechanisms, secure, allowPlaintextAuth)
    return [
      ...BASE_CAPABILITIES,
      ...(stls ? ["STLS"] : []),
      ...(secure || allowPlaintextAuth ? ["USER"] : []),
      ["SASL", ...usable].join(" ")
    ]
  }
  const afterTls = lines(true, false)
  return {
    beforeTls: security === "starttls" ? lines(false, true) : security === "plaintext" ? lines(false, false) : afterTls,
    afterTls
  }
}

// -----------------------------------------------------------------------------
// Construction
// -----------------------------------------------------------------------------

const encoder = new TextEncoder()
const hasLineBreak = (text: string) => /[\r\n\0]/.test(text)

/** Per-server message store: maildrops, locks, UID counter. */
const makeStore = () => {
  const maildrops = new Map<string, Array<Message>>()
  const locks = new Map<string, number>()
  let counter = 0

  const toMessage = (input: MessageInput, taken: ReadonlySet<string>): Message | InvalidConfig => {
    const body = typeof input === "string" || input instanceof Uint8Array ? input : input.body
    const bytes = Maildrop.normalize(typeof body === "string" ? encoder.encode(body) : body)
    counter += 1
    const uid = typeof input === "object" && !(input instanceof Uint8Array) && input.uid !== undefined
      ? input.uid
      : `${counter.toString(16).padStart(8, "0")}${createHash("md5").update(bytes.subarray(0, 4096)).digest("hex").slice(0, 8)}`
    if (!Maildrop.validUid(uid)) return new InvalidConfig({ reason: `UID ${JSON.stringify(uid)} is not 1-70 characters in 0x21-0x7E` })
    if (taken.has(uid)) return new InvalidConfig({ reason: `UID ${uid} is used twice` })
    return { uid, bytes, size: bytes.length }
  }

  return {
    maildrop: (user: string): ReadonlyArray<Message> => maildrops.get(user) ?? [],
    add: (user: string, inputs: ReadonlyArray<MessageInput>): ReadonlyArray<Message> | InvalidConfig => {
      const list = maildrops.get(user) ?? []
      const taken = new Set(list.map((m) => m.uid))
      const added: Array<Message> = []
      for (const input of inputs) {
        const message = toMessage(input, taken)
        if (message instanceof InvalidConfig) return message
        taken.add(message.uid)
        added.push(message)
      }
      maildrops.set(user, [...list, ...added])
      return added
    },
    lock: (user: string, session: number): boolean => {
      if (locks.has(user)) return false
      locks.set(user, session)
      return true
    },
    unlock: (user: string, session: number): void => {
      if (locks.get(user) === session) locks.delete(user)
    },
    isLocked: (user: string): boolean => locks.has(user),
    /** RFC 1939 §6: removes the marked messages (by identity; later deliveries stay). */
    commit: (user: string, removed: ReadonlyArray<Message>): void => {
      const gone = new Set(removed)
      maildrops.set(user, (maildrops.get(user) ?? []).filter((m) => !gone.has(m)))
    }
  }
}

const resolve = (config: Config): Pop3Session.Resolved | InvalidConfig => {
  const security = config.security ?? "starttls"
  const mechanisms = config.mechanisms ?? ["PLAIN", "LOGIN"]
  const allowPlaintextAuth = config.allowPlaintextAuth ?? security === "plaintext"
  const defaults = defaultCapabilities(security, mechanisms, allowPlaintextAuth)
  const capabilities: Capabilities = {
    beforeTls: config.capabilities?.beforeTls ?? defaults.beforeTls,
    afterTls: config.capabilities?.afterTls ?? defaults.afterTls
  }
  const hostname = config.hostname ?? "localhost"
  const stamp = config.apopTimestamp
  const texts = [
    config.banner,
    config.rejectGreeting,
    hostname,
    typeof stamp === "string" ? stamp : undefined,
    ...capabilities.beforeTls,
    ...capabilities.afterTls
  ]
  if (texts.some((text) => text !== undefined && hasLineBreak(text))) {
    return new InvalidConfig({ reason: "banner, greeting, host name, timestamp and CAPA lines must not contain CR, LF or NUL" })
  }
  const limits = { ...defaultLimits, ...config.limits }
  if (!(limits.maxCommandLength >= 6 && limits.maxSaslLineLength >= 6)) {
    return new InvalidConfig({ reason: "limits must be at least 6 octets" })
  }
  const chunkSize = config.chunkSize ?? 65536
  if (!(chunkSize >= 1)) return new InvalidConfig({ reason: "chunkSize must be at least 1" })
  return {
    security,
    keyPair: Certificates.forProfile(config.certificate ?? "localhost"),
    banner: config.banner ?? "Dovecot (Debian) ready.",
    timestamp: (id) =>
      stamp === false ? undefined : typeof stamp === "string" ? stamp : stamp?.(id) ?? `<${id}.0@${hostname}>`,
    rejectGreeting: config.rejectGreeting,
    capabilities,
    mechanisms,
    allowPlaintextAuth,
    refuseStls: config.refuseStls ?? false,
    scramFinal: config.scramFinal ?? "challenge",
    scramIterations: config.scramIterations ?? 4096,
    forgeScramSignature: config.forgeScramSignature ?? false,
    limits,
    chunkSize,
    hostname
  }
}

/**
 * Builds a server with its users and maildrops.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config = {}): Effect.Effect<Pop3Server, InvalidConfig> =>
  Effect.suspend(() => {
    const resolved = resolve(config)
    if (resolved instanceof InvalidConfig) return Effect.fail(resolved)
    const store = makeStore()
    const users = new Map<string, User>()
    for (const [name, user] of Object.entries(config.users ?? { test: "secret" })) {
      if (!/^[^\s\0]+$/.test(name)) return Effect.fail(new InvalidConfig({ reason: `user name ${JSON.stringify(name)}` }))
      const entry: User = typeof user === "string" ? { password: user } : user
      users.set(name, entry)
      const added = store.add(name, entry.messages ?? [])
      if (added instanceof InvalidConfig) return Effect.fail(added)
    }
    let faults: ReadonlyArray<Fault> = config.faults ?? []
    const fired = new Map<Fault, number>()
    const sessions: Array<() => Session> = []
    const ended: Array<Session> = []
    const waiters = new Set<() => void>()

    const shared: Pop3Session.Shared = {
      config: resolved,
      account: (name) => users.get(name),
      store,
      fault: (matches) => {
        const fault = faults.find((f) => matches(f) && (f.times === undefined || (fired.get(f) ?? 0) < f.times))
        if (fault !== undefined) fired.set(fault, (fired.get(fault) ?? 0) + 1)
        return fault
      },
      register: (snapshot) => {
        sessions.push(snapshot)
        return sessions.length
      },
      ended: (session) => {
        ended.push(session)
        for (const waiter of [...waiters]) waiter()
      }
    }

    const server: Pop3Server = {
      handler: (duplex) => Pop3Session.run(shared, duplex),
      maildrop: store.maildrop,
      deliver: (user, message) =>
        Effect.suspend(() => {
          if (!users.has(user)) return Effect.fail(new InvalidConfig({ reason: `unknown user ${JSON.stringify(user)}` }))
          const added = store.add(user, [message])
          return added instanceof InvalidConfig ? Effect.fail(added) : Effect.succeed(added[0]!)
        }),
      sessions: () => sessions.map((snapshot) => snapshot()),
      awaitEnded: (count) =>
        Effect.callback<ReadonlyArray<Session>>((resume) => {
          const check = () => {
            if (ended.length < count) return
            waiters.delete(check)
            resume(Effect.succeed([...ended].sort((a, b) => a.id - b.id)))
          }
          waiters.add(check)
          check()
          return Effect.sync(() => waiters.delete(check))
        }),
      isLocked: store.isLocked,
      faults: () => faults,
      setFaults: (next) => {
        faults = next
      }
    }
    return Effect.succeed(server)
  })
