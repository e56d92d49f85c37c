/**
 * One connection of the fake POP3 server: greeting, the AUTHORIZATION / TRANSACTION / UPDATE state
 * machine of RFC 1939, STLS, USER/PASS, APOP, AUTH, the TRANSACTION commands, and fault injection.
 * `Pop3Server` owns the configuration, maildrops and locks; this module runs one session on a `Wire`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { createHash, timingSafeEqual } from "node:crypto"
import type { Duplex } from "node:stream"
import type * as Certificates from "../../Certificates.ts"
import type * as Pop3Server from "../../Pop3Server.ts"
import type * as Recording from "../../Recording.ts"
import * as SaslServer from "../saslServer.ts"
import * as Wire from "../wire.ts"
import * as Io from "./io.ts"
import * as Maildrop from "./maildrop.ts"

/** The configuration with every default applied. */
export interface Resolved {
  readonly security: Pop3Server.Security
  readonly keyPair: Certificates.KeyPair
  readonly banner: string
  readonly timestamp: (session: number) => string | undefined
  readonly rejectGreeting: string | undefined
  readonly capabilities: Pop3Server.Capabilities
  readonly mechanisms: ReadonlyArray<Pop3Server.Mechanism>
  readonly allowPlaintextAuth: boolean
  readonly refuseStls: boolean
  readonly scramFinal: "challenge" | "ok"
  readonly scramIterations: number
  readonly forgeScramSignature: boolean
  readonly limits: Pop3Server.Limits
  readonly chunkSize: number
  readonly hostname: string
}

export interface Store {
  readonly maildrop: (user: string) => ReadonlyArray<Pop3Server.Message>
  readonly lock: (user: string, session: number) => boolean
  readonly unlock: (user: string, session: number) => void
  readonly commit: (user: string, removed: ReadonlyArray<Pop3Server.Message>) => void
}

/** What every session of one server shares. */
export interface Shared {
  readonly config: Resolved
  readonly account: (user: string) => Pop3Server.User | undefined
  readonly store: Store
  /** The first active fault `matches` accepts (counted as fired). */
  readonly fault: (matches: (fault: Pop3Server.Fault) => boolean) => Pop3Server.Fault | undefined
  /** Registers a session's snapshot function; returns the session's id. */
  readonly register: (snapshot: () => Pop3Server.Session) => number
  readonly ended: (session: Pop3Server.Session) => void
}

interface Entry {
  readonly message: Pop3Server.Message
  deleted: boolean
}

interface State {
  readonly shared: Shared
  readonly config: Resolved
  readonly wire: Wire.Wire
  id: number
  timestamp: string | undefined
  state: Pop3Server.SessionState
  pendingUser: string | undefined
  user: string | undefined
  authentication: string | undefined
  entries: Array<Entry>
  readonly commands: Array<Pop3Server.CommandRecord>
  end: Pop3Server.SessionEnd
  removed: ReadonlyArray<Pop3Server.Message>
  maildropAfter: ReadonlyArray<Pop3Server.Message> | undefined
  afterEnd: Uint8Array
}

/** `true`: read the next command; `false`: the session is over. */
type Next = Effect.Effect<boolean>

const encoder = new TextEncoder()
const utf8 = new TextDecoder("utf-8")
const DOT_CRLF = encoder.encode(".\r\n")
const empty = new Uint8Array(0)

const AUTH_FAILED = "-ERR [AUTH] Authentication failed."
const PLAINTEXT_DISALLOWED = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
const ABORTED = "-ERR Authentication aborted by client."

// -----------------------------------------------------------------------------
// Replies
// -----------------------------------------------------------------------------

const reply = (s: State, text: string): Effect.Effect<void> => Io.write(s.wire, encoder.encode(`${text}\r\n`))

const commandMatches = (expected: string | undefined, verb: string) =>
  expected === undefined || expected.toUpperCase() === verb

/**
 * A multi-line reply (RFC 1939 §3): status line, dot-stuffed body, `.` line. Applies the
 * `SplitTerminator` fault, and stops after `dropAfter` bytes past the status line when given.
 */
const multiLine = Effect.fnUntraced(function*(
  s: State,
  verb: string,
  status: string,
  body: Uint8Array,
  dropAfter?: number
) {
  const head = encoder.encode(`${status}\r\n`)
  const pieces = [head, ...Maildrop.stuffed(body), DOT_CRLF]
  const total = pieces.reduce((sum, piece) => sum + piece.length, 0)
  const split = s.shared.fault((f) => f._tag === "SplitTerminator" && commandMatches(f.command, verb))
  const completed = yield* Io.emit(s.wire, pieces, s.config.chunkSize, {
    splitAt: split?._tag === "SplitTerminator" ? total - 5 + split.at : undefined,
    pauseMs: split?._tag === "SplitTerminator" ? split.pauseMs : undefined,
    stopAt: dropAfter === undefined ? undefined : head.length + dropAfter
  })
  return completed
})

const linesBody = (lines: ReadonlyArray<string>): Uint8Array => encoder.encode(lines.map((l) => `${l}\r\n`).join(""))

/** Destroys the connection (after a macrotask, so that what was written reaches the raw side). */
const drop = (s: State, fault: Pop3Server.Fault["_tag"]): Next =>
  Effect.map(Io.pause(0), () => {
    s.wire.destroy()
    s.end = { _tag: "Fault", fault }
    return false
  })

// -----------------------------------------------------------------------------
// Reading
// -----------------------------------------------------------------------------

type Read =
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Malformed" }
  | { readonly _tag: "Stop" }

const STOP: Read = { _tag: "Stop" }
const MALFORMED: Read = { _tag: "Malformed" }

/** The next client line, recorded; a close or an over-long line ends the session. */
const readLine = Effect.fnUntraced(function*(s: State, kind: "command" | "sasl") {
  const limit = kind === "command" ? s.config.limits.maxCommandLength : s.config.limits.maxSaslLineLength
  const event = yield* Io.waitFor(s.wire, () => s.wire.takeLine(limit))
  if (event._tag === "Closed") {
    s.end = { _tag: "ClientClosed" }
    return STOP
  }
  if (event._tag === "TooLong") {
    yield* reply(s, "-ERR Input line too long.")
    s.end = { _tag: "LineTooLong" }
    return STOP
  }
  const bytes = event.bytes
  // RFC 1939 §3: lines end in CRLF; a bare CR or a NUL inside is not a command.
  const body = bytes.subarray(0, bytes.length - 2)
  const wellFormed = bytes.length >= 2 && bytes[bytes.length - 2] === 0x0d && !body.includes(0x0d) &&
    !body.includes(0x00)
  const text = utf8.decode(wellFormed ? body : bytes.subarray(0, bytes.length - 1))
  s.commands.push({ phase: s.wire.secure() ? "tls" : "plain", state: s.state, kind, line: text })
  const read: Read = wellFormed ? { _tag: "Text", text } : MALFORMED
  return read
})

const splitArgs = (rest: string): ReadonlyArray<string> => (rest === "" ? [] : rest.split(" "))

// -----------------------------------------------------------------------------
// AUTHORIZATION
// -----------------------------------------------------------------------------

const plaintextAllowed = (s: State) => s.wire.secure() || s.config.allowPlaintextAuth

/** RFC 1939 §4: the lock, then TRANSACTION on the maildrop as it is now. */
const login = (s: State, user: string, authentication: string, okText = "Logged in."): Next =>
  Effect.suspend(() => {
    if (!s.shared.store.lock(user, s.id)) {
      return Effect.as(reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session."), true)
    }
    s.user = user
    s.authentication = authentication
    s.state = "Transaction"
    s.entries = s.shared.store.maildrop(user).map((message) => ({ message, deleted: false }))
    return Effect.as(reply(s, `+OK ${okText}`), true)
  })

const capa = (s: State, verb: string, rest: string): Next =>
  Effect.gen(function*() {
    if (rest !== "") return yield* Effect.as(reply(s, "-ERR Too many arguments."), true)
    const lines = s.wire.secure() ? s.config.capabilities.afterTls : s.config.capabilities.beforeTls
    return yield* multiLine(s, verb, "+OK", linesBody(lines))
  })

// RFC 2595 §4
const stls = (s: State, _verb: string, rest: string): Next =>
  Effect.gen(function*() {
    if (rest !== "") return yield* Effect.as(reply(s, "-ERR Too many arguments."), true)
    if (s.config.security === "plaintext") return yield* Effect.as(reply(s, "-ERR TLS support isn't enabled."), true)
    if (s.wire.secure()) return yield* Effect.as(reply(s, "-ERR TLS is already active."), true)
    if (s.config.refuseStls) {
      return yield* Effect.as(reply(s, "-ERR [SYS/TEMP] TLS is temporarily unavailable."), true)
    }
    return yield* startTls(s, encoder.encode("+OK Begin TLS negotiation now.\r\n"))
  })

/** Writes `bytes`, switches to TLS right after the write call, and waits for the handshake. */
const startTls = (s: State, bytes: Uint8Array): Next =>
  Effect.gen(function*() {
    const setup: Wire.TlsSetup = { line: s.commands.length, keyPair: s.config.keyPair, clientCa: undefined }
    yield* Io.write(s.wire, bytes, () => s.wire.startTls(setup))
    const ok = yield* handshake(s)
    // RFC 2595 §4: nothing learned before TLS carries over.
    s.pendingUser = undefined
    return ok
  })

const handshake = (s: State): Next =>
  Effect.map(
    Io.waitFor(s.wire, () => {
      const state = s.wire.handshake()
      return state._tag === "Done" || state._tag === "Failed" ? state : undefined
    }),
    (state) => {
      if (state._tag === "Done") return true
      s.end = { _tag: "HandshakeFailed", code: state.code, message: state.message }
      return false
    }
  )

const user = (s: State, _verb: string, rest: string): Next => {
  if (!plaintextAllowed(s)) return Effect.as(reply(s, PLAINTEXT_DISALLOWED), true)
  if (rest === "") return Effect.as(reply(s, "-ERR No username given."), true)
  s.pendingUser = rest
  return Effect.as(reply(s, "+OK"), true)
}

const equalSecret = (expected: string, got: string): boolean => {
  const a = Buffer.from(expected, "utf8")
  const b = Buffer.from(got, "utf8")
  return a.length === b.length && timingSafeEqual(a, b)
}

// RFC 1939 §7: the password is the rest of the line (it may contain spaces).
const pass = (s: State, _verb: string, rest: string): Next => {
  if (!plaintextAllowed(s)) return Effect.as(reply(s, PLAINTEXT_DISALLOWED), true)
  const name = s.pendingUser
  if (name === undefined) return Effect.as(reply(s, "-ERR No username given."), true)
  s.pendingUser = undefined
  const password = s.shared.account(name)?.password
  if (password === undefined || !equalSecret(password, rest)) return Effect.as(reply(s, AUTH_FAILED), true)
  return login(s, name, "USER")
}

// RFC 1939 §7: digest = lower-case hex MD5(timestamp + secret)
const apop = (s: State, _verb: string, rest: string): Next => {
  const args = splitArgs(rest)
  if (s.timestamp === undefined) return Effect.as(reply(s, "-ERR APOP is not available."), true)
  const [name = "", digest = ""] = args
  if (args.length !== 2 || !/^[0-9a-fA-F]{32}$/.test(digest)) {
    return Effect.as(reply(s, "-ERR Invalid arguments."), true)
  }
  const password = s.shared.account(name)?.password
  const expected = password === undefined
    ? undefined
    : createHash("md5").update(s.timestamp + password, "utf8").digest("hex")
  if (expected === undefined || !equalSecret(expected, digest.toLowerCase())) {
    return Effect.as(reply(s, AUTH_FAILED), true)
  }
  return login(s, name, "APOP")
}

/** `-PLUS` only over TLS; secret-revealing mechanisms only over TLS unless plaintext auth is allowed. */
export const usableMechanisms = (
  mechanisms: ReadonlyArray<Pop3Server.Mechanism>,
  secure: boolean,
  allowPlaintextAuth: boolean
): ReadonlyArray<Pop3Server.Mechanism> =>
  mechanisms.filter((m) => secure || (!m.endsWith("-PLUS") && (allowPlaintextAuth || !SaslServer.revealsSecret(m))))

const usable = (s: State) => usableMechanisms(s.config.mechanisms, s.wire.secure(), s.config.allowPlaintextAuth)

// RFC 5034 §4
const auth = (s: State, verb: string, rest: string): Next =>
  Effect.gen(function*() {
    const args = splitArgs(rest)
    if (args.length === 0) return yield* multiLine(s, verb, "+OK", linesBody(usable(s)))
    const [name = "", initialText] = args
    const mechanism = SaslServer.parseMechanism(name)
    if (args.length > 2) return yield* Effect.as(reply(s, "-ERR Invalid arguments."), true)
    if (mechanism === undefined || !s.config.mechanisms.includes(mechanism)) {
      return yield* Effect.as(reply(s, "-ERR Unsupported authentication mechanism."), true)
    }
    if (!usable(s).includes(mechanism)) {
      return yield* Effect.as(
        reply(s, mechanism.endsWith("-PLUS") ? "-ERR Unsupported authentication mechanism." : PLAINTEXT_DISALLOWED),
        true
      )
    }
    let initial: Uint8Array | undefined
    if (initialText !== undefined) {
      const decoded = SaslServer.decodeResponse(initialText, true)
      if (decoded._tag === "Cancel") return yield* Effect.as(reply(s, ABORTED), true)
      if (decoded._tag === "Invalid") {
        return yield* Effect.as(reply(s, "-ERR Invalid base64 data in initial response."), true)
      }
      initial = decoded.bytes
    }
    return yield* exchange(s, mechanism, initial)
  })

const saslOptions = (s: State): SaslServer.Options => ({
  account: (name) => s.shared.account(name),
  // RFC 9266: tls-exporter is defined for TLS 1.3.
  channelBinding: () => {
    const state = s.wire.handshake()
    return state._tag === "Done" && state.handshake.protocol === "TLSv1.3"
      ? s.wire.exportKeyingMaterial(32, "EXPORTER-Channel-Binding")
      : undefined
  },
  offered: usable(s),
  iterations: s.config.scramIterations,
  hostname: s.config.hostname,
  forgeServerSignature: s.config.forgeScramSignature
})

type Answer = { readonly _tag: "Data"; readonly bytes: Uint8Array } | { readonly _tag: "Done"; readonly next: boolean }

const answerDone = (next: boolean): Answer => ({ _tag: "Done", next })

/** One client line of a SASL exchange; `Done` when the exchange is over (cancelled, malformed, closed). */
const saslAnswer = Effect.fnUntraced(function*(s: State) {
  const read = yield* readLine(s, "sasl")
  if (read._tag === "Stop") return answerDone(false)
  const decoded = read._tag === "Text" ? SaslServer.decodeResponse(read.text, false) : { _tag: "Invalid" as const }
  if (decoded._tag === "Data") return { _tag: "Data", bytes: decoded.bytes } satisfies Answer
  yield* reply(s, decoded._tag === "Cancel" ? ABORTED : "-ERR Invalid base64 data in continued response.")
  return answerDone(true)
})

const exchange = Effect.fnUntraced(function*(
  s: State,
  mechanism: SaslServer.MechanismName,
  initial: Uint8Array | undefined
) {
  let step = SaslServer.start(mechanism, initial, saslOptions(s))
  while (step._tag === "Challenge") {
    yield* reply(s, `+ ${SaslServer.encodeChallenge(step.data)}`)
    const answer = yield* saslAnswer(s)
    if (answer._tag === "Done") return answer.next
    step = step.respond(answer.bytes)
  }
  if (step._tag === "Failure") return yield* Effect.as(reply(s, AUTH_FAILED), true)
  const data = step.data
  if (data !== undefined && s.config.scramFinal === "challenge") {
    // RFC 4422 §5: additional data as a last challenge, answered with an empty response.
    yield* reply(s, `+ ${SaslServer.encodeChallenge(data)}`)
    const answer = yield* saslAnswer(s)
    if (answer._tag === "Done") return answer.next
    if (answer.bytes.length > 0) return yield* Effect.as(reply(s, AUTH_FAILED), true)
  }
  // Or as the text of the +OK (RFC 5034 §4 "additional data with success").
  const okText = data !== undefined && s.config.scramFinal === "ok" ? SaslServer.encodeChallenge(data) : undefined
  return yield* login(s, step.username, mechanism, okText)
})

const quit = (s: State, _verb: string, rest: string): Next =>
  Effect.gen(function*() {
    if (rest !== "") return yield* Effect.as(reply(s, "-ERR Too many arguments."), true)
    if (s.state === "Authorization") {
      yield* reply(s, "+OK Logging out.")
      s.end = { _tag: "Quit" }
      return false
    }
    // RFC 1939 §6: UPDATE removes the marked messages, then the server replies and closes.
    s.state = "Update"
    const removed = s.entries.filter((e) => e.deleted).map((e) => e.message)
    const fault = s.shared.fault((f) => f._tag === "DropBeforeQuitReply")
    if (fault?._tag === "DropBeforeQuitReply") {
      if (fault.commit) commit(s, removed)
      return yield* drop(s, fault._tag)
    }
    commit(s, removed)
    yield* reply(s, removed.length > 0 ? "+OK Logging out, messages deleted." : "+OK Logging out.")
    s.end = { _tag: "Quit" }
    return false
  })

const commit = (s: State, removed: ReadonlyArray<Pop3Server.Message>) => {
  if (s.user !== undefined) s.shared.store.commit(s.user, removed)
  s.removed = removed
}

// -----------------------------------------------------------------------------
// TRANSACTION (RFC 1939 §5, §7)
// -----------------------------------------------------------------------------

type Pick = { readonly _tag: "Entry"; readonly entry: Entry; readonly number: number } | {
  readonly _tag: "Error"
  readonly text: string
}

const pick = (s: State, arg: string | undefined): Pick => {
  if (arg === undefined || !/^[1-9][0-9]{0,9}$/.test(arg)) return { _tag: "Error", text: "-ERR Invalid message number." }
  const number = Number(arg)
  const entry = s.entries[number - 1]
  if (entry === undefined) return { _tag: "Error", text: `-ERR There's no message ${number}.` }
  if (entry.deleted) return { _tag: "Error", text: "-ERR Message is deleted." }
  return { _tag: "Entry", entry, number }
}

/** A command taking exactly one message number. */
const withMessage = (
  run: (s: State, verb: string, picked: { readonly entry: Entry; readonly number: number }) => Next
) =>
(s: State, verb: string, rest: string): Next => {
  const args = splitArgs(rest)
  const picked = pick(s, args[0])
  if (args.length !== 1) return Effect.as(reply(s, "-ERR Invalid arguments."), true)
  if (picked._tag === "Error") return Effect.as(reply(s, picked.text), true)
  return run(s, verb, picked)
}

const live = (s: State) =>
  s.entries.flatMap((entry, i) => (entry.deleted ? [] : [{ number: i + 1, message: entry.message }]))

const stat = (s: State, _verb: string, rest: string): Next => {
  if (rest !== "") return Effect.as(reply(s, "-ERR Too many arguments."), true)
  const messages = live(s)
  const octets = messages.reduce((sum, m) => sum + m.message.size, 0)
  return Effect.as(reply(s, `+OK ${messages.length} ${octets}`), true)
}

/** LIST and UIDL: all live messages, or one. */
const listing = (field: (message: Pop3Server.Message) => string, heading: (count: number) => string) =>
(s: State, verb: string, rest: string): Next => {
  if (rest !== "") {
    return withMessage((s2, _verb, picked) =>
      Effect.as(reply(s2, `+OK ${picked.number} ${field(picked.entry.message)}`), true)
    )(s, verb, rest)
  }
  const messages = live(s)
  return multiLine(s, verb, heading(messages.length), linesBody(messages.map((m) => `${m.number} ${field(m.message)}`)))
}

const retr = withMessage((s, verb, { entry, number }) =>
  Effect.gen(function*() {
    const fault = s.shared.fault((f) =>
      f._tag === "DropDuringRetr" && (f.message === undefined || f.message === number)
    )
    const dropAfter = fault?._tag === "DropDuringRetr" ? Math.max(0, fault.afterBodyBytes) : undefined
    const completed = yield* multiLine(s, verb, `+OK ${entry.message.size} octets`, entry.message.bytes, dropAfter)
    return completed ? true : yield* drop(s, "DropDuringRetr")
  })
)

const top = (s: State, verb: string, rest: string): Next => {
  const args = splitArgs(rest)
  const picked = pick(s, args[0])
  const lines = args[1]
  if (args.length !== 2 || lines === undefined || !/^[0-9]{1,9}$/.test(lines)) {
    return Effect.as(reply(s, "-ERR Invalid arguments."), true)
  }
  if (picked._tag === "Error") return Effect.as(reply(s, picked.text), true)
  return multiLine(s, verb, "+OK", Maildrop.topPrefix(picked.entry.message.bytes, Number(lines)))
}

const dele = withMessage((s, _verb, { entry }) => {
  entry.deleted = true
  return Effect.as(reply(s, "+OK Marked to be deleted."), true)
})

const noop = (s: State, _verb: string, rest: string): Next =>
  Effect.as(reply(s, rest === "" ? "+OK" : "-ERR Too many arguments."), true)

const rset = (s: State, _verb: string, rest: string): Next => {
  if (rest !== "") return Effect.as(reply(s, "-ERR Too many arguments."), true)
  for (const entry of s.entries) entry.deleted = false
  return Effect.as(reply(s, "+OK"), true)
}

type Handler = (s: State, verb: string, rest: string) => Next

const authorization: Readonly<Record<string, Handler>> = {
  CAPA: capa,
  STLS: stls,
  USER: user,
  PASS: pass,
  APOP: apop,
  AUTH: auth,
  QUIT: quit
}

const transaction: Readonly<Record<string, Handler>> = {
  CAPA: capa,
  STAT: stat,
  LIST: listing((m) => String(m.size), (count) => `+OK ${count} messages:`),
  UIDL: listing((m) => m.uid, () => "+OK"),
  RETR: retr,
  TOP: top,
  DELE: dele,
  NOOP: noop,
  RSET: rset,
  QUIT: quit
}

// -----------------------------------------------------------------------------
// The session
// -----------------------------------------------------------------------------

const delayFor = (s: State, verb: string): Effect.Effect<void> => {
  const fault = s.shared.fault((f) => f._tag === "Delay" && commandMatches(f.command, verb))
  return fault?._tag === "Delay" ? Effect.sleep(Duration.millis(fault.millis)) : Effect.void
}

/** A `RawReply` fault answering `verb`, if one is active. */
const rawReply = (s: State, verb: string): Next | undefined => {
  const fault = s.shared.fault((f) => f._tag === "RawReply" && f.command.toUpperCase() === verb)
  if (fault?._tag !== "RawReply") return undefined
  const writes = (typeof fault.bytes === "string" || fault.bytes instanceof Uint8Array ? [fault.bytes] : fault.bytes)
    .map((part) => (typeof part === "string" ? encoder.encode(part) : part))
  const last = writes.pop() ?? empty
  const before = Effect.forEach(writes, (part) => Effect.andThen(Io.write(s.wire, part), Io.pause(fault.pauseMs ?? 0)), {
    discard: true
  })
  switch (fault.then ?? "continue") {
    case "startTls":
      return Effect.andThen(before, startTls(s, last))
    case "close":
      return before.pipe(Effect.andThen(Io.write(s.wire, last)), Effect.andThen(drop(s, "RawReply")))
    case "continue":
      return before.pipe(Effect.andThen(Io.write(s.wire, last)), Effect.as(true))
  }
}

const dispatch = (s: State, text: string): Next =>
  Effect.gen(function*() {
    const space = text.indexOf(" ")
    const verb = (space === -1 ? text : text.slice(0, space)).toUpperCase()
    const rest = space === -1 ? "" : text.slice(space + 1)
    yield* delayFor(s, verb)
    const raw = rawReply(s, verb)
    if (raw !== undefined) return yield* raw
    const handler = (s.state === "Authorization" ? authorization : transaction)[verb]
    if (handler === undefined) return yield* Effect.as(reply(s, "-ERR Unknown command."), true)
    return yield* handler(s, verb, rest)
  })

const greet = Effect.fnUntraced(function*(s: State) {
  if (s.config.security === "implicit-tls") {
    s.wire.startTls({ line: 0, keyPair: s.config.keyPair, clientCa: undefined })
    if (!(yield* handshake(s))) return false
  }
  yield* delayFor(s, "GREETING")
  if (s.config.rejectGreeting !== undefined) {
    yield* reply(s, `-ERR ${s.config.rejectGreeting}`)
    s.end = { _tag: "Rejected" }
    return false
  }
  const stamp = s.timestamp === undefined ? "" : ` ${s.timestamp}`
  yield* reply(s, `+OK ${s.config.banner}${stamp}`)
  return true
})

const outcome = (s: State): Recording.Outcome => {
  const line = s.commands.length
  const phase: Recording.Phase = s.wire.secure() ? "tls" : "plain"
  switch (s.end._tag) {
    case "ClientClosed":
      return { _tag: "ClientClosed", line, phase }
    case "HandshakeFailed":
      return { _tag: "HandshakeFailed", line, code: s.end.code, message: s.end.message }
    case "LineTooLong":
      return { _tag: "Aborted", line }
    default:
      return { _tag: "Completed" }
  }
}

const snapshot = (s: State): Pop3Server.Session => {
  const tls = s.wire.handshake()
  return {
    id: s.id,
    timestamp: s.timestamp,
    state: s.state,
    secure: s.wire.secure(),
    user: s.user,
    authentication: s.authentication,
    commands: [...s.commands],
    end: s.end,
    removed: s.removed,
    maildropAfter: s.maildropAfter,
    recording: {
      chunks: [...s.wire.chunks()],
      outcome: outcome(s),
      handshake: tls._tag === "Done" ? tls.handshake : undefined,
      clientClosed: s.wire.clientClosed(),
      sentBeforeHandshake: Buffer.concat(s.wire.sentBeforeHandshake()),
      sentAfterExpectClose: s.afterEnd,
      extraAfterScript: empty
    }
  }
}

const hangUp = Wire.hangUp

const finish = (s: State, exit: Exit.Exit<unknown, unknown>) =>
  Effect.sync(() => {
    if (s.end._tag === "Open") s.end = Exit.hasInterrupts(exit) ? { _tag: "Interrupted" } : { _tag: "ClientClosed" }
    if (s.user !== undefined) {
      s.shared.store.unlock(s.user, s.id)
      s.maildropAfter = s.shared.store.maildrop(s.user)
    }
    s.afterEnd = s.wire.takeAll()
    hangUp(s.wire)
    s.shared.ended(snapshot(s))
  })

const serve = Effect.fnUntraced(function*(s: State) {
  yield* Effect.addFinalizer((exit) => finish(s, exit))
  let next = yield* greet(s)
  while (next) {
    const read = yield* readLine(s, "command")
    if (read._tag === "Stop") break
    next = read._tag === "Text"
      ? yield* dispatch(s, read.text)
      : yield* Effect.as(reply(s, "-ERR Invalid command line."), true)
  }
})

/** Serves one connection until QUIT, a close, a fault, or interruption; returns the ended session. */
export const run = (shared: Shared, duplex: Duplex): Effect.Effect<Pop3Server.Session> =>
  Effect.suspend(() => {
    const s: State = {
      shared,
      config: shared.config,
      wire: Wire.make(duplex),
      id: 0,
      timestamp: undefined,
      state: "Authorization",
      pendingUser: undefined,
      user: undefined,
      authentication: undefined,
      entries: [],
      commands: [],
      end: { _tag: "Open" },
      removed: [],
      maildropAfter: undefined,
      afterEnd: empty
    }
    s.id = shared.register(() => snapshot(s))
    s.timestamp = shared.config.timestamp(s.id)
    return Effect.map(Effect.scoped(serve(s)), () => snapshot(s))
  })
