/**
 * A stateful in-memory IMAP server for tests: IMAP4rev1 (RFC 3501) with the RFC 9051 behaviour a
 * client needs, answering like Dovecot 2.3 (`/work/shared/mail-servers/README.md` §4): the same
 * capability lists before and after STARTTLS, `LOGINDISABLED` with `NO [PRIVACYREQUIRED]`, the
 * capabilities in the tagged OK of a login, the same response texts where it matters.
 *
 * It is an independent implementation (it shares no code with the imap package), so it can serve
 * as an oracle: random command sequences against it can be compared with a model of the mailbox.
 * Plug `server.handler` into `MemoryTransport.layer` (in-memory, real TLS) or
 * `LoopbackServer.make` (TCP on 127.0.0.1).
 *
 * **Supported**: greeting OK / PREAUTH / BYE; STARTTLS (real TLS through the testkit's wire, OK /
 * NO / BAD), implicit TLS, plaintext; CAPABILITY, NOOP, LOGOUT, LOGIN, AUTHENTICATE (PLAIN, LOGIN,
 * CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-256-PLUS with tls-exporter, XOAUTH2, OAUTHBEARER;
 * SASL-IR), ENABLE (CONDSTORE, QRESYNC, UTF8=ACCEPT), ID, NAMESPACE; SELECT / EXAMINE (CONDSTORE,
 * QRESYNC parameters), CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (patterns `*` `%`,
 * LIST-EXTENDED selection SUBSCRIBED / SPECIAL-USE, RETURN SUBSCRIBED / CHILDREN / SPECIAL-USE /
 * STATUS), LSUB, STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT),
 * CREATE with `(USE (\attr))` (RFC 6154 §3: one attribute, else `NO [USEATTR]`) when
 * CREATE-SPECIAL-USE is in the configured capability list (not in the defaults, as in Dovecot),
 * APPEND (flags, date, MULTIAPPEND, `UTF8 (~{n})`, APPENDUID), CHECK, CLOSE, UNSELECT, EXPUNGE,
 * UID EXPUNGE, COPY / MOVE (COPYUID), STORE (FLAGS / +FLAGS / -FLAGS, .SILENT, UNCHANGEDSINCE),
 * SEARCH (all RFC 3501 keys, MODSEQ, CHARSET UTF-8 / US-ASCII; ESEARCH RETURN MIN MAX COUNT ALL),
 * COMPRESS=DEFLATE (RFC 4978, with `compress: true`: advertised after authentication, as Dovecot's
 * imap_zlib plugin does; `Connection.compression` has what went through the compressed stream);
 * FETCH (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE MODSEQ, BODY[...] and
 * BODY.PEEK[...] with HEADER, HEADER.FIELDS (.NOT), TEXT, MIME, part numbers and `<o.n>`, RFC822
 * forms, ALL / FAST / FULL, CHANGEDSINCE, VANISHED), IDLE; literals `{n}`, `{n+}`, `~{n}`;
 * unilateral EXISTS / RECENT / EXPUNGE (VANISHED under QRESYNC) / FETCH for changes made by other
 * sessions or by test code.
 *
 * Extension commands answer `BAD ... Unknown command` when their capability is not advertised, and
 * `{n+}` is refused without LITERAL+ (or over 4096 bytes with LITERAL-): configure the capability
 * lists to test a client against a poorer server.
 *
 * **Not supported**: IMAP4rev2 as a mode (`ENABLE IMAP4rev2` is acknowledged only if listed, with
 * no behaviour change), BINARY fetch, SEARCHRES (`$`), SORT / THREAD, CATENATE, NOTIFY,
 * METADATA, QUOTA, ACL, mailbox referrals; MIME decoding in SEARCH (matching is
 * on raw bytes, case-insensitive for ASCII only); RFC 2047 / RFC 2231 decoding (values are returned
 * raw, as Dovecot does); SASLprep; keyword case folding (keywords compare exactly); \Recent is
 * counted per mailbox for STATUS, not per session; subscriptions only for existing mailboxes;
 * modified UTF-7 validation of mailbox names.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { Duplex } from "node:stream"
import * as Certificates from "./Certificates.ts"
import * as Out from "./internal/imap/out.ts"
import * as Session from "./internal/imap/session.ts"
import type * as State from "./internal/imap/state.ts"
import * as Store from "./internal/imap/store.ts"
import type * as SaslServer from "./internal/saslServer.ts"
import type * as Recording from "./Recording.ts"
import type * as Transcript from "./Transcript.ts"

/**
 * `starttls`: STARTTLS offered, authentication only after TLS (Dovecot with
 * `disable_plaintext_auth`); `implicit-tls`: TLS from the first byte (port 993); `plaintext`: no
 * TLS at all, authentication in clear (the `TLS_MODE=none` twin).
 *
 * @category models
 * @since 0.1.0
 */
export type Security = "starttls" | "implicit-tls" | "plaintext"

/**
 * The first line: `* OK [CAPABILITY ...] text`, `* PREAUTH [CAPABILITY ...] text` (the connection
 * starts authenticated as `user`), or `* BYE text` (the server hangs up).
 *
 * @category models
 * @since 0.1.0
 */
export type Greeting =
  | { readonly _tag: "Ok"; readonly text?: string | undefined }
  | { readonly _tag: "Preauth"; readonly user: string; readonly text?: string | undefined }
  | { readonly _tag: "Bye"; readonly text?: string | undefined }

/**
 * A fault switch. `command` is the command name in upper case (`FETCH`, `UID FETCH`, `STARTTLS`)
 * or `*` for any; `times` is how often it fires (default: always).
 *
 * - `DropInFetchLiteral`: a FETCH response stops after `afterBytes` bytes of message data
 *   (counted over the response's literals) and the connection is closed.
 * - `Delay`: waits `millis` before handling the command.
 * - `Override`: answers the command with raw bytes instead of running it; `<t>` in a string is
 *   the command's tag; each element is its own write. `after`: `starttls` switches to TLS right
 *   after the last write (the default for STARTTLS), `close` hangs up, `continue` (the default
 *   otherwise) reads the next command.
 * - `InjectBeforeTagged`: raw text written just before the tagged completion (same write).
 * - `ForeignTag`: a tagged completion with a tag not in flight, before the real one.
 *
 * @category models
 * @since 0.1.0
 */
export type Fault =
  | { readonly _tag: "DropInFetchLiteral"; readonly afterBytes: number; readonly times?: number | undefined }
  | { readonly _tag: "Delay"; readonly command: string; readonly millis: number; readonly times?: number | undefined }
  | {
    readonly _tag: "Override"
    readonly command: string
    readonly reply: string | Uint8Array | ReadonlyArray<string | Uint8Array>
    readonly after?: "continue" | "starttls" | "close" | undefined
    readonly times?: number | undefined
  }
  | { readonly _tag: "InjectBeforeTagged"; readonly command: string; readonly data: string; readonly times?: number | undefined }
  | {
    readonly _tag: "ForeignTag"
    readonly command: string
    readonly tag: string
    readonly status?: "OK" | "NO" | "BAD" | undefined
    readonly text?: string | undefined
    readonly times?: number | undefined
  }

/**
 * A mailbox every user gets.
 *
 * @category models
 * @since 0.1.0
 */
export interface MailboxSeed {
  readonly name: string
  /** RFC 6154 attribute, e.g. `\\Sent`. */
  readonly specialUse?: string | undefined
  readonly subscribed?: boolean | undefined
}

/**
 * Server configuration; every field has a default.
 *
 * @category models
 * @since 0.1.0
 */
export interface Config {
  /** User name -> password. Default `{ test: "secret" }` (the real servers' user). */
  readonly users?: Readonly<Record<string, string>> | undefined
  /** User name -> bearer token for XOAUTH2 / OAUTHBEARER. */
  readonly tokens?: Readonly<Record<string, string>> | undefined
  /** Default `starttls`. */
  readonly security?: Security | undefined
  /** Server certificate: a profile of the testkit certificates or a key pair. Default `localhost`. */
  readonly certificate?: Transcript.CertProfile | Certificates.KeyPair | undefined
  /** Ask for a client certificate (checked against the test CA, recorded, not enforced). */
  readonly requestClientCertificate?: boolean | undefined
  /**
   * Capability lists used verbatim (defaults: `capabilities.beforeTls`, `afterTls(mechanisms)`,
   * `authenticated`). `afterTls` is also the list of `implicit-tls` and `plaintext` servers.
   */
  readonly capabilities?: {
    readonly beforeTls?: ReadonlyArray<string> | undefined
    readonly afterTls?: ReadonlyArray<string> | undefined
    readonly authenticated?: ReadonlyArray<string> | undefined
  } | undefined
  /**
   * COMPRESS=DEFLATE (RFC 4978): appended to the authenticated capability list (Dovecot's imap_zlib
   * plugin advertises it only after login). Default false.
   */
  readonly compress?: boolean | undefined
  /** SASL mechanisms accepted (and advertised in the default lists). Default PLAIN, LOGIN. */
  readonly mechanisms?: ReadonlyArray<SaslServer.MechanismName> | undefined
  /** Accept LOGIN and secret-revealing mechanisms without TLS. Default: only when `plaintext`. */
  readonly allowPlaintextAuth?: boolean | undefined
  readonly greeting?: Greeting | undefined
  /** How STARTTLS is answered. Default OK (then TLS). */
  readonly startTlsReply?: "OK" | "NO" | "BAD" | undefined
  /** Mailboxes created for every user besides INBOX. Default none (see `standardMailboxes`). */
  readonly mailboxes?: ReadonlyArray<MailboxSeed> | undefined
  readonly limits?: {
    /** Longest physical command line, bytes with CRLF. Default 65536. */
    readonly maxLineLength?: number | undefined
    /** Largest literal. Default 64 MiB. */
    readonly maxLiteralSize?: number | undefined
    /** Largest command, literals included. Default 80 MiB. */
    readonly maxCommandSize?: number | undefined
  } | undefined
  readonly faults?: ReadonlyArray<Fault> | undefined
  /** The `* ID` answer. Default `("name" "Dovecot")`. */
  readonly serverId?: ReadonlyArray<readonly [string, string]> | undefined
  /** UIDVALIDITY of the first mailbox created; later ones count up. Default 1. */
  readonly firstUidValidity?: number | undefined
  /** Internal date of messages added by `append` without one. Default 2020-01-01T00:00:00Z. */
  readonly defaultInternalDate?: Date | undefined
  /** SCRAM iteration count. Default 4096. */
  readonly scramIterations?: number | undefined
  /** Send a wrong SCRAM server signature (clients must reject it). */
  readonly forgeScramSignature?: boolean | undefined
  /** Largest single write of a big literal (bytes). Default 256 KiB. */
  readonly writeChunkSize?: number | undefined
  /** How long to wait for a client's TLS handshake. Default 5000 ms. */
  readonly handshakeTimeoutMs?: number | undefined
}

/**
 * A command as the server received it.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReceivedCommand {
  readonly tag: string
  /** Upper case; UID commands as `UID FETCH`. */
  readonly name: string
  readonly phase: Recording.Phase
}

/**
 * IMAP connection states (RFC 9051 §3).
 *
 * @category models
 * @since 0.1.0
 */
export type SessionState = "NotAuthenticated" | "Authenticated" | "Selected" | "Logout"

/**
 * One connection the server has seen.
 *
 * @category models
 * @since 0.1.0
 */
export interface Connection {
  readonly id: number
  readonly commands: ReadonlyArray<ReceivedCommand>
  readonly state: () => SessionState
  readonly user: () => string | undefined
  readonly secure: () => boolean
  /** Whether the conversation has ended. */
  readonly closed: () => boolean
  /** What went through COMPRESS=DEFLATE (`undefined` while the connection is not compressed). */
  readonly compression: () => CompressionStats | undefined
  /**
   * Every client byte with its phase, for `Recording.assertNoSecretInPlaintext`. `outcome` is
   * `Completed` while the connection is open and after the server ended it (LOGOUT, BYE, a fault),
   * else `ClientClosed` / `HandshakeFailed` with `line` = the number of commands received;
   * `sentBeforeHandshake` holds what the client pipelined after STARTTLS (discarded) and any
   * plaintext it sent before its ClientHello.
   */
  readonly recording: () => Recording.Recording
}

/**
 * What went through a compressed connection (RFC 4978).
 *
 * @category models
 * @since 0.1.0
 */
export interface CompressionStats {
  /** Compressed bytes received from the client / written to it. */
  readonly bytesIn: number
  readonly bytesOut: number
  /** Every byte the client sent after the switch, inflated. */
  readonly textIn: Uint8Array
  /** Bytes the server wrote after the switch, before deflating. */
  readonly textOut: number
  /** Why the client's compressed stream could not be inflated (the server then hung up). */
  readonly failure: string | undefined
}

/**
 * A stored message (a snapshot; `bytes` is the stored buffer itself, do not mutate it).
 *
 * @category models
 * @since 0.1.0
 */
export interface MessageInfo {
  readonly uid: number
  readonly bytes: Uint8Array
  readonly flags: ReadonlyArray<string>
  readonly internalDate: Date
  readonly modseq: number
}

/**
 * A mailbox (a snapshot).
 *
 * @category models
 * @since 0.1.0
 */
export interface MailboxInfo {
  readonly name: string
  readonly uidValidity: number
  readonly uidNext: number
  readonly highestModSeq: number
  readonly specialUse: string | undefined
  readonly subscribed: boolean
  readonly messages: ReadonlyArray<MessageInfo>
}

/**
 * Fault switches that can change while the server runs.
 *
 * @category models
 * @since 0.1.0
 */
export interface Faults {
  readonly add: (fault: Fault) => void
  readonly clear: () => void
  readonly active: () => ReadonlyArray<Fault>
}

/**
 * A running server: its handler, its state for assertions, and a programmatic API. Writes from
 * test code create missing users and mailboxes, and reach selected sessions like any change.
 *
 * @category models
 * @since 0.1.0
 */
export interface ImapServer {
  /** Serves one connection (for `MemoryTransport.layer` / `LoopbackServer.make`); never fails. */
  readonly handler: (duplex: Duplex) => Effect.Effect<Connection>
  readonly connections: () => ReadonlyArray<Connection>
  readonly faults: Faults
  readonly users: () => ReadonlyArray<string>
  readonly addUser: (name: string, password: string, token?: string | undefined) => void
  readonly mailboxes: (user: string) => ReadonlyArray<MailboxInfo>
  readonly mailbox: (user: string, name: string) => MailboxInfo | undefined
  readonly messages: (user: string, mailbox: string) => ReadonlyArray<MessageInfo>
  readonly createMailbox: (user: string, name: string, options?: Omit<MailboxSeed, "name">) => MailboxInfo
  readonly append: (
    user: string,
    mailbox: string,
    message: Uint8Array | string,
    options?: { readonly flags?: ReadonlyArray<string> | undefined; readonly internalDate?: Date | undefined }
  ) => MessageInfo
  /** Replaces a message's flags; `false` if there is no such message. */
  readonly setFlags: (user: string, mailbox: string, uid: number, flags: ReadonlyArray<string>) => boolean
  /** Expunges messages by UID. */
  readonly expunge: (user: string, mailbox: string, uids: ReadonlyArray<number>) => void
}

const COMMON = ["IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE"] as const

/**
 * Dovecot's capability lists (README §4), trimmed to what this server implements; the
 * authenticated list adds SPECIAL-USE and UTF8=ACCEPT, which this Dovecot does not advertise.
 *
 * @category constructors
 * @since 0.1.0
 */
export const capabilities = {
  beforeTls: [...COMMON, "LITERAL+", "STARTTLS", "LOGINDISABLED"],
  afterTls: (mechanisms: ReadonlyArray<string>): ReadonlyArray<string> => [
    ...COMMON,
    "LITERAL+",
    ...mechanisms.map((m) => `AUTH=${m}`)
  ],
  authenticated: [
    ...COMMON,
    "MULTIAPPEND",
    "UNSELECT",
    "CHILDREN",
    "NAMESPACE",
    "UIDPLUS",
    "LIST-EXTENDED",
    "CONDSTORE",
    "QRESYNC",
    "ESEARCH",
    "LIST-STATUS",
    "MOVE",
    "SPECIAL-USE",
    "STATUS=SIZE",
    "UTF8=ACCEPT",
    "LITERAL+"
  ]
} as const

/**
 * Drafts, Sent, Trash, Junk and Archive with their RFC 6154 attributes.
 *
 * @category constructors
 * @since 0.1.0
 */
export const standardMailboxes: ReadonlyArray<MailboxSeed> = [
  { name: "Drafts", specialUse: "\\Drafts", subscribed: true },
  { name: "Sent", specialUse: "\\Sent", subscribed: true },
  { name: "Trash", specialUse: "\\Trash", subscribed: true },
  { name: "Junk", specialUse: "\\Junk", subscribed: true },
  { name: "Archive", specialUse: "\\Archive", subscribed: true }
]

const DEFAULT_DATE = Date.UTC(2020, 0, 1)

const withCompress = (list: ReadonlyArray<string>, compress: boolean | undefined): ReadonlyArray<string> =>
  compress === true && !list.some((c) => c.toUpperCase() === "COMPRESS=DEFLATE") ? [...list, "COMPRESS=DEFLATE"] : list

const settingsOf = (config: Config): State.Settings => {
  const mechanisms = config.mechanisms ?? ["PLAIN", "LOGIN"]
  const security = config.security ?? "starttls"
  const certificate = config.certificate ?? "localhost"
  return {
    security,
    keyPair: typeof certificate === "string" ? Certificates.forProfile(certificate) : certificate,
    clientCa: config.requestClientCertificate === true ? Certificates.ca.cert : undefined,
    capabilities: {
      beforeTls: config.capabilities?.beforeTls ?? capabilities.beforeTls,
      afterTls: config.capabilities?.afterTls ?? capabilities.afterTls(mechanisms),
      authenticated: withCompress(config.capabilities?.authenticated ?? capabilities.authenticated, config.compress)
    },
    mechanisms,
    allowPlaintextAuth: config.allowPlaintextAuth ?? security === "plaintext",
    greeting: config.greeting ?? { _tag: "Ok" },
    startTlsReply: config.startTlsReply ?? "OK",
    limits: {
      maxLineLength: config.limits?.maxLineLength ?? 65536,
      maxLiteralSize: config.limits?.maxLiteralSize ?? 64 * 1024 * 1024,
      maxCommandSize: config.limits?.maxCommandSize ?? 80 * 1024 * 1024
    },
    serverId: config.serverId ?? [["name", "Dovecot"]],
    handshakeTimeoutMs: config.handshakeTimeoutMs ?? 5000,
    scramIterations: config.scramIterations ?? 4096,
    forgeScramSignature: config.forgeScramSignature ?? false,
    writeChunkSize: config.writeChunkSize ?? 256 * 1024,
    defaultInternalDate: config.defaultInternalDate?.getTime() ?? DEFAULT_DATE
  }
}

const messageInfo = (message: Store.Message): MessageInfo => ({
  uid: message.uid,
  bytes: message.bytes,
  flags: [...message.flags],
  internalDate: new Date(message.internalDate.millis),
  modseq: message.modseq
})

const mailboxInfo = (mailbox: Store.Mailbox): MailboxInfo => ({
  name: Out.toUnicode(mailbox.name),
  uidValidity: mailbox.uidValidity,
  uidNext: mailbox.uidNext,
  highestModSeq: mailbox.highestModSeq,
  specialUse: mailbox.specialUse,
  subscribed: mailbox.subscribed,
  messages: mailbox.messages.map(messageInfo)
})

const bytesOf = (message: Uint8Array | string): Uint8Array =>
  typeof message === "string" ? new Uint8Array(Buffer.from(message, "utf8")) : message

/**
 * Builds a server (nothing listens: connections come through `handler`).
 *
 * @example
 * ```ts
 * import * as ImapServer from "@starttls/testkit/ImapServer"
 * import * as MemoryTransport from "@starttls/testkit/MemoryTransport"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* ImapServer.make({ users: { alice: "pw" }, mailboxes: ImapServer.standardMailboxes })
 *   server.append("alice", "INBOX", "Subject: hi\r\n\r\nhello\r\n", { flags: ["\\Seen"] })
 *   const transport = MemoryTransport.layer(server.handler)
 *   // ... run the client with `transport`, then assert on server.messages("alice", "INBOX")
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (config: Config = {}): Effect.Effect<ImapServer> =>
  Effect.sync(() => {
    const settings = settingsOf(config)
    const store = Store.make(config.firstUidValidity ?? 1)
    const server: State.Server = {
      settings,
      store,
      faults: (config.faults ?? []).map((fault) => ({ fault, remaining: fault.times ?? Infinity })),
      connections: [],
      nextConnectionId: 1
    }
    const seeds = config.mailboxes ?? []
    const account = (user: string): Store.Account => {
      const existing = store.accounts.get(user)
      if (existing !== undefined) return existing
      const created = Store.account(store, user)
      for (const seed of seeds) ensureMailbox(created, seed.name, seed)
      return created
    }
    const ensureMailbox = (target: Store.Account, name: string, options: Omit<MailboxSeed, "name"> = {}) => {
      const key = Out.fromUnicode(name)
      const mailbox = Store.mailbox(target, key) ?? Store.createMailbox(store, target, key, options.specialUse)!
      if (options.specialUse !== undefined) mailbox.specialUse = options.specialUse
      if (options.subscribed !== undefined) mailbox.subscribed = options.subscribed
      return mailbox
    }
    const addUser = (name: string, password: string, token?: string) => {
      const target = account(name)
      target.password = password
      if (token !== undefined) target.token = token
    }
    for (const [name, password] of Object.entries(config.users ?? { test: "secret" })) addUser(name, password)
    for (const [name, token] of Object.entries(config.tokens ?? {})) account(name).token = token
    if (settings.greeting._tag === "Preauth") account(settings.greeting.user)
    const findMailbox = (user: string, name: string) => {
      const target = store.accounts.get(user)
      return target === undefined ? undefined : Store.mailbox(target, Out.fromUnicode(name))
    }
    const result: ImapServer = {
      handler: (duplex) => Session.serve(server, duplex),
      connections: () => server.connections,
      faults: {
        add: (fault) => server.faults.push({ fault, remaining: fault.times ?? Infinity }),
        clear: () => {
          server.faults = []
        },
        active: () => server.faults.filter((entry) => entry.remaining > 0).map((entry) => entry.fault)
      },
      users: () => [...store.accounts.keys()],
      addUser,
      mailboxes: (user) => {
        const target = store.accounts.get(user)
        return target === undefined ? [] : [...target.mailboxes.values()].map(mailboxInfo)
      },
      mailbox: (user, name) => {
        const found = findMailbox(user, name)
        return found === undefined ? undefined : mailboxInfo(found)
      },
      messages: (user, name) => findMailbox(user, name)?.messages.map(messageInfo) ?? [],
      createMailbox: (user, name, options) => mailboxInfo(ensureMailbox(account(user), name, options)),
      append: (user, name, message, options = {}) => {
        const mailbox = ensureMailbox(account(user), name)
        const flags = (options.flags ?? []).map(Store.canonicalFlag)
        const millis = options.internalDate?.getTime() ?? settings.defaultInternalDate
        return messageInfo(Store.append(mailbox, bytesOf(message), flags, { millis, offset: 0 }))
      },
      setFlags: (user, name, uid, flags) => {
        const mailbox = findMailbox(user, name)
        const message = mailbox?.messages.find((m) => m.uid === uid)
        if (mailbox === undefined || message === undefined) return false
        Store.setFlags(mailbox, message, new Set(flags.map(Store.canonicalFlag)))
        return true
      },
      expunge: (user, name, uids) => {
        const mailbox = findMailbox(user, name)
        if (mailbox === undefined) return
        const wanted = new Set(uids)
        Store.expunge(mailbox, mailbox.messages.filter((m) => wanted.has(m.uid)))
      }
    }
    return result
  })
