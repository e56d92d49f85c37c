/**
 * One IMAP connection of the fake server: greeting, the command loop, STARTTLS through
 * `internal/wire.ts`, LOGIN / AUTHENTICATE (SASL-IR, continuations, `internal/saslServer.ts`), IDLE,
 * LOGOUT, dispatch to the command handlers, delivery of other sessions' changes, and the fault
 * switches (raw overrides, delays, injected data, foreign tags, a drop inside a FETCH literal).
 *
 * Output is written with backpressure: each write waits for the stream's callback, big literals
 * go out as views in `writeChunkSize` slices, small pieces are batched.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Duplex } from "node:stream"
import type * as ImapServer from "../../ImapServer.ts"
import type * as Recording from "../../Recording.ts"
import * as SaslServer from "../saslServer.ts"
import * as Wire from "../wire.ts"
import * as Compress from "./compress.ts"
import * as MailboxCommands from "./mailboxCommands.ts"
import * as MessageCommands from "./messageCommands.ts"
import * as Out from "./out.ts"
import * as Reader from "./reader.ts"
import { stringOf } from "./search.ts"
import * as State from "./state.ts"
import { bad, type Completion, no, ok } from "./state.ts"
import * as Store from "./store.ts"

class End extends Data.TaggedError("End")<{}> {}

type Outcome =
  | { readonly _tag: "Open" }
  | { readonly _tag: "ServerClosed" }
  | { readonly _tag: "ClientClosed"; readonly phase: Recording.Phase }
  | { readonly _tag: "HandshakeFailed"; readonly code: string | undefined; readonly message: string }

interface Live {
  readonly server: State.Server
  readonly wire: Compress.CompressibleWire
  readonly reader: Reader.Reader
  readonly session: State.Session
  readonly commands: Array<ImapServer.ReceivedCommand>
  /** Client bytes pipelined after STARTTLS that the server discarded. */
  readonly discarded: Array<Uint8Array>
  outcome: Outcome
  user: string | undefined
}

const BATCH = 64 * 1024
const SMALL = 16 * 1024

const PRIVACY_ALERT =
  "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed.\r\n"
const PRIVACY_REQUIRED = "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
const AUTH_FAILED = "[AUTHENTICATIONFAILED] Authentication failed."

// --- waiting and writing ---

/** Waits until `check` returns a value; re-checked on every wire event (and mailbox change). */
const waitFor = <A>(wire: Wire.Wire, check: () => A | undefined, mailbox?: Store.Mailbox): Effect.Effect<A> =>
  Effect.callback<A>((resume) => {
    const first = check()
    if (first !== undefined) {
      resume(Effect.succeed(first))
      return
    }
    let done = false
    const listener = () => {
      if (done) return
      const value = check()
      if (value === undefined) return
      done = true
      cleanup()
      resume(Effect.succeed(value))
    }
    const unsubscribe = wire.subscribe(listener)
    mailbox?.listeners.add(listener)
    const cleanup = () => {
      unsubscribe()
      mailbox?.listeners.delete(listener)
    }
    return Effect.sync(cleanup)
  })

const writeChunk = (wire: Wire.Wire, bytes: Uint8Array, afterWrite?: () => void): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    wire.write(bytes, () => resume(Effect.void), afterWrite)
  })

/**
 * Writes pieces in order. With `drop`, stops after that many FETCH body bytes: returns `true` and
 * the caller ends the connection.
 */
const writePieces = Effect.fnUntraced(function*(
  live: Live,
  pieces: ReadonlyArray<Out.Piece>,
  drop: { remaining: number } | undefined
) {
  const slice = live.server.settings.writeChunkSize
  let batch: Array<Uint8Array> = []
  let size = 0
  const flush = () => {
    if (size === 0) return Effect.void
    const bytes = batch.length === 1 ? batch[0]! : Buffer.concat(batch)
    batch = []
    size = 0
    return writeChunk(live.wire, bytes)
  }
  for (const piece of pieces) {
    const bytes = piece._tag === "Text" ? Buffer.from(piece.text, "latin1") : piece.bytes
    if (piece._tag === "Bytes" && piece.body && drop !== undefined) {
      if (bytes.length >= drop.remaining) {
        batch.push(bytes.subarray(0, drop.remaining))
        size += drop.remaining
        yield* flush()
        return true
      }
      drop.remaining -= bytes.length
    }
    if (bytes.length < SMALL) {
      batch.push(bytes)
      size += bytes.length
      if (size >= BATCH) yield* flush()
      continue
    }
    yield* flush()
    for (let offset = 0; offset < bytes.length; offset += slice) {
      yield* writeChunk(live.wire, bytes.subarray(offset, offset + slice))
    }
  }
  yield* flush()
  return false
})

const writeText = (live: Live, text: string): Effect.Effect<boolean> =>
  writePieces(live, [{ _tag: "Text", text }], undefined)

const phase = (live: Live): Recording.Phase => (live.wire.secure() ? "tls" : "plain")

const end = (live: Live, outcome: Outcome): Effect.Effect<never, End> =>
  Effect.suspend(() => {
    if (live.outcome._tag === "Open") live.outcome = outcome
    return Effect.fail(new End())
  })

const clientClosed = (live: Live) => end(live, { _tag: "ClientClosed", phase: phase(live) })

// --- reading ---

const pump = (live: Live): void => {
  const bytes = live.wire.takeAll()
  if (bytes.length > 0) live.reader.push(bytes)
}

type Input = Reader.Event | { readonly _tag: "Closed" }

const nextEvent = (live: Live): Effect.Effect<Input> =>
  waitFor(live.wire, () => {
    pump(live)
    const event = live.reader.next(State.literalMode(live.session))
    if (event !== undefined) return event
    return live.wire.clientClosed() ? { _tag: "Closed" as const } : undefined
  })

/** A raw client line (AUTHENTICATE responses); ends the session if the client closes. */
const nextLine = Effect.fnUntraced(function*(live: Live) {
  const line = yield* waitFor(live.wire, () => {
    pump(live)
    const result = live.reader.line()
    if (result !== undefined) return result
    return live.wire.clientClosed() ? { _tag: "Closed" as const } : undefined
  })
  if (line._tag === "Closed") return yield* clientClosed(live)
  if (line._tag === "Fatal") {
    yield* writeText(live, "* BYE Too long argument.\r\n")
    return yield* end(live, { _tag: "ServerClosed" })
  }
  return line.text
})

// --- TLS ---

const tlsSetup = (live: Live): Wire.TlsSetup => ({
  line: live.commands.length,
  keyPair: live.server.settings.keyPair,
  clientCa: live.server.settings.clientCa
})

const awaitHandshake = Effect.fnUntraced(function*(live: Live) {
  const done = yield* Effect.timeoutOption(
    waitFor(live.wire, () => {
      const state = live.wire.handshake()
      return state._tag === "Done" || state._tag === "Failed" ? state : undefined
    }),
    Duration.millis(live.server.settings.handshakeTimeoutMs)
  )
  if (Option.isNone(done)) {
    return yield* end(live, { _tag: "HandshakeFailed", code: "Timeout", message: "no TLS handshake in time" })
  }
  if (done.value._tag === "Failed") {
    return yield* end(live, { _tag: "HandshakeFailed", code: done.value.code, message: done.value.message })
  }
})

/** Writes the last bytes before the switch and switches right after them (nothing in between). */
const switchToTls = Effect.fnUntraced(function*(live: Live, last: Uint8Array) {
  const leftover = live.reader.drain()
  if (leftover.length > 0) live.discarded.push(leftover)
  yield* writeChunk(live.wire, last, () => live.wire.startTls(tlsSetup(live)))
  yield* awaitHandshake(live)
})

// --- authentication ---

const authAllowed = (live: Live): boolean => live.server.settings.allowPlaintextAuth || live.wire.secure()

const capabilityCode = (live: Live): string => `[CAPABILITY ${State.capabilities(live.session).join(" ")}]`

const loggedIn = (live: Live, user: string): Completion => {
  const session = live.session
  session.account = Store.account(live.server.store, user)
  session.state = "Authenticated"
  live.user = user
  return ok(`${capabilityCode(live)} Logged in`)
}

const login = (live: Live, out: Out.Out, args: ReadonlyArray<Reader.Token>): Completion => {
  const user = stringOf(args[0])
  const password = stringOf(args[1])
  if (user === undefined || password === undefined || args.length !== 2) return bad("Invalid arguments.")
  if (!authAllowed(live) || State.has(live.session, "LOGINDISABLED")) {
    out.text(PRIVACY_ALERT)
    return no(PRIVACY_REQUIRED)
  }
  const name = Out.toUnicode(user)
  const account = live.server.store.accounts.get(name)
  if (account === undefined || account.password === undefined || account.password !== Out.toUnicode(password)) {
    return no(AUTH_FAILED)
  }
  return loggedIn(live, name)
}

const saslOptions = (live: Live): SaslServer.Options => ({
  account: (username) => {
    const account = live.server.store.accounts.get(username)
    return account === undefined ? undefined : { password: account.password, token: account.token }
  },
  channelBinding: () => {
    const state = live.wire.handshake()
    // RFC 9266 §2: tls-exporter needs TLS 1.3 (or extended master secret, which Node does not report).
    return state._tag === "Done" && state.handshake.protocol === "TLSv1.3"
      ? live.wire.exportKeyingMaterial(32, "EXPORTER-Channel-Binding")
      : undefined
  },
  offered: State.capabilities(live.session).filter((c) => c.toUpperCase().startsWith("AUTH=")).map((c) => c.slice(5).toUpperCase()),
  iterations: live.server.settings.scramIterations,
  forgeServerSignature: live.server.settings.forgeScramSignature
})

/** RFC 9051 §6.2.2 AUTHENTICATE, with SASL-IR (RFC 4959). */
const authenticate = Effect.fnUntraced(function*(live: Live, out: Out.Out, args: ReadonlyArray<Reader.Token>) {
  const mechanismName = args[0]?._tag === "Atom" ? args[0].value : undefined
  if (mechanismName === undefined || args.length > 2) return bad("Invalid arguments.")
  const mechanism = SaslServer.parseMechanism(mechanismName)
  if (mechanism === undefined || !live.server.settings.mechanisms.includes(mechanism)) {
    return no("Unsupported authentication mechanism.")
  }
  const initialArg = args[1]
  if (!authAllowed(live) && SaslServer.revealsSecret(mechanism)) {
    if (initialArg !== undefined) out.text(PRIVACY_ALERT)
    return no(PRIVACY_REQUIRED)
  }
  let initial: Uint8Array | undefined
  if (initialArg !== undefined) {
    if (!State.has(live.session, "SASL-IR")) return bad("Initial response without SASL-IR.")
    const decoded = SaslServer.decodeResponse(stringOf(initialArg) ?? "", true)
    if (decoded._tag !== "Data") return bad("Invalid base64 data in initial response.")
    initial = decoded.bytes
  }
  let step = SaslServer.start(mechanism, initial, saslOptions(live))
  for (;;) {
    switch (step._tag) {
      case "Challenge": {
        yield* writeText(live, `+ ${SaslServer.encodeChallenge(step.data)}\r\n`)
        const response = SaslServer.decodeResponse(yield* nextLine(live), false)
        if (response._tag === "Cancel") return bad("Authentication aborted by client.")
        if (response._tag === "Invalid") return bad("Invalid base64 data in continued response.")
        step = step.respond(response.bytes)
        break
      }
      case "Success": {
        if (step.data !== undefined) {
          // IMAP has no additional data with success: the SCRAM server-final message is a last
          // challenge the client answers with an empty response (RFC 9051 §6.2.2).
          yield* writeText(live, `+ ${SaslServer.encodeChallenge(step.data)}\r\n`)
          const response = yield* nextLine(live)
          if (response === "*") return bad("Authentication aborted by client.")
          if (response !== "") return no(AUTH_FAILED)
        }
        return loggedIn(live, step.username)
      }
      case "Failure":
        return no(AUTH_FAILED)
    }
  }
})

// --- IDLE (RFC 2177) ---

const idle = Effect.fnUntraced(function*(live: Live) {
  yield* writeText(live, "+ idling\r\n")
  for (;;) {
    const out = Out.make()
    yield* checkDeleted(live)
    State.sync(live.session, out, true)
    yield* writePieces(live, out.pieces, undefined)
    const selection = live.session.selected
    const event = yield* waitFor(
      live.wire,
      () => {
        pump(live)
        const line = live.reader.line()
        if (line !== undefined) return line
        if (live.wire.clientClosed()) return { _tag: "Closed" as const }
        if (selection !== undefined && selection.mailbox.version !== selection.seenVersion) {
          return { _tag: "Changed" as const }
        }
        return undefined
      },
      selection?.mailbox
    )
    if (event._tag === "Changed") continue
    if (event._tag === "Closed") return yield* clientClosed(live)
    if (event._tag === "Fatal") {
      yield* writeText(live, "* BYE Too long argument.\r\n")
      return yield* end(live, { _tag: "ServerClosed" })
    }
    return event.text.toUpperCase() === "DONE" ? ok("Idle completed.") : bad("Expected DONE.")
  }
})

const checkDeleted = (live: Live): Effect.Effect<void, End> =>
  Effect.suspend(() => {
    const selection = live.session.selected
    if (selection === undefined || !selection.mailbox.deleted) return Effect.void
    return Effect.andThen(
      writeText(live, "* BYE Selected mailbox was deleted, have to disconnect.\r\n"),
      end(live, { _tag: "ServerClosed" })
    )
  })

// --- COMPRESS (RFC 4978) ---

/**
 * COMPRESS DEFLATE: the tagged OK is the last uncompressed byte in both directions; what the client
 * sent after the command (already in the reader) is its first compressed data.
 */
const compress = Effect.fnUntraced(function*(live: Live, out: Out.Out, tag: string, args: ReadonlyArray<Reader.Token>) {
  const mechanism = args.length === 1 && args[0]!._tag === "Atom" ? args[0]!.value.toUpperCase() : undefined
  if (mechanism === undefined) return yield* complete(live, out, tag, "COMPRESS", bad("Invalid arguments."))
  if (live.wire.compressed()) {
    return yield* complete(live, out, tag, "COMPRESS", no("[COMPRESSIONACTIVE] COMPRESSION=DEFLATE already enabled."))
  }
  if (mechanism !== "DEFLATE") return yield* complete(live, out, tag, "COMPRESS", no("Unknown compression mechanism."))
  State.sync(live.session, out, true)
  out.text(`${tag} OK Begin compression.\r\n`)
  const bytes = Buffer.concat(out.pieces.map((piece) => piece._tag === "Text" ? Out.bytesOf(piece.text) : piece.bytes))
  yield* writeChunk(live.wire, bytes, () => live.wire.start(live.reader.drain()))
})

// --- dispatch ---

const ANY = new Set(["CAPABILITY", "NOOP", "LOGOUT", "ID"])
const NOT_AUTHENTICATED = new Set(["STARTTLS", "AUTHENTICATE", "LOGIN"])
const AUTHENTICATED = new Set([
  "SELECT",
  "EXAMINE",
  "CREATE",
  "DELETE",
  "RENAME",
  "SUBSCRIBE",
  "UNSUBSCRIBE",
  "LIST",
  "LSUB",
  "STATUS",
  "APPEND",
  "NAMESPACE",
  "ENABLE",
  "IDLE",
  "COMPRESS"
])
const SELECTED = new Set([
  "CLOSE",
  "UNSELECT",
  "EXPUNGE",
  "SEARCH",
  "FETCH",
  "STORE",
  "COPY",
  "MOVE",
  "CHECK",
  "UID FETCH",
  "UID STORE",
  "UID SEARCH",
  "UID COPY",
  "UID MOVE",
  "UID EXPUNGE"
])
/** Commands of extensions: unknown unless the capability is advertised. */
const REQUIRES: Record<string, string> = {
  ID: "ID",
  ENABLE: "ENABLE",
  IDLE: "IDLE",
  NAMESPACE: "NAMESPACE",
  UNSELECT: "UNSELECT",
  MOVE: "MOVE",
  "UID MOVE": "MOVE",
  "UID EXPUNGE": "UIDPLUS",
  COMPRESS: "COMPRESS=DEFLATE"
}

const permitted = (session: State.Session, name: string): string | undefined => {
  const known = ANY.has(name) || NOT_AUTHENTICATED.has(name) || AUTHENTICATED.has(name) || SELECTED.has(name)
  const required = REQUIRES[name]
  if (!known || (required !== undefined && !State.has(session, required))) {
    return "Unknown command."
  }
  if (ANY.has(name)) return undefined
  if (NOT_AUTHENTICATED.has(name)) return session.state === "NotAuthenticated" ? undefined : "Already logged in."
  if (session.state === "NotAuthenticated") return "Not logged in."
  if (SELECTED.has(name) && session.state !== "Selected") return "No mailbox selected."
  return undefined
}

const SYNC_HANDLERS: Record<string, MailboxCommands.Handler> = {
  SELECT: MailboxCommands.select(false),
  EXAMINE: MailboxCommands.select(true),
  CREATE: MailboxCommands.create,
  DELETE: MailboxCommands.deleteMailbox,
  RENAME: MailboxCommands.rename,
  SUBSCRIBE: MailboxCommands.subscribe(true),
  UNSUBSCRIBE: MailboxCommands.subscribe(false),
  LIST: MailboxCommands.list(false),
  LSUB: MailboxCommands.list(true),
  STATUS: MailboxCommands.status,
  APPEND: MailboxCommands.append,
  NAMESPACE: MailboxCommands.namespace,
  ENABLE: MailboxCommands.enable,
  ID: MailboxCommands.id
}

const MESSAGE_HANDLERS: Record<string, MessageCommands.Handler> = {
  FETCH: MessageCommands.fetch,
  STORE: MessageCommands.store,
  SEARCH: MessageCommands.search,
  COPY: MessageCommands.copy,
  MOVE: MessageCommands.move,
  EXPUNGE: MessageCommands.expunge,
  CLOSE: MessageCommands.close,
  UNSELECT: MessageCommands.unselect,
  CHECK: MessageCommands.check
}

const withTag = (text: string | Uint8Array, tag: string): Uint8Array =>
  typeof text === "string" ? Buffer.from(text.replaceAll("<t>", tag), "latin1") : text

/** Writes untagged output, pending updates, injected faults and the tagged completion. */
const complete = Effect.fnUntraced(function*(
  live: Live,
  out: Out.Out,
  tag: string,
  name: string,
  completion: Completion
) {
  const server = live.server
  State.sync(live.session, out, name !== "FETCH" && name !== "STORE" && name !== "SEARCH")
  const inject = State.takeFault(server, "InjectBeforeTagged", name)
  if (inject !== undefined) out.text(inject.data)
  const foreign = State.takeFault(server, "ForeignTag", name)
  if (foreign !== undefined) out.text(`${foreign.tag} ${foreign.status ?? "OK"} ${foreign.text ?? "Completed."}\r\n`)
  const text = completion.status === "BAD" ? `Error in IMAP command ${name}: ${completion.text}` : completion.text
  out.text(`${tag} ${completion.status} ${text}\r\n`)
  const drop = name === "FETCH" || name === "UID FETCH" ? State.takeFault(server, "DropInFetchLiteral", name) : undefined
  const dropped = yield* writePieces(live, out.pieces, drop === undefined ? undefined : { remaining: drop.afterBytes })
  if (dropped) return yield* end(live, { _tag: "ServerClosed" })
})

const runCommand = Effect.fnUntraced(function*(live: Live, command: Extract<Reader.Event, { _tag: "Command" }>) {
  const session = live.session
  const tag = command.tag
  let name = command.name
  let args = command.args
  if (name === "UID") {
    const sub = args[0]?._tag === "Atom" ? args[0].value.toUpperCase() : ""
    name = `UID ${sub}`
    args = args.slice(1)
  }
  live.commands.push({ tag, name, phase: phase(live) })
  const server = live.server
  const delay = State.takeFault(server, "Delay", name)
  if (delay !== undefined) yield* Effect.sleep(Duration.millis(delay.millis))
  const override = State.takeFault(server, "Override", name)
  if (override !== undefined) {
    const writes = (typeof override.reply === "string" || override.reply instanceof Uint8Array ? [override.reply] : override.reply)
      .map((w) => withTag(w, tag))
    const after = override.after ?? (name === "STARTTLS" ? "starttls" : "continue")
    for (let i = 0; i < writes.length; i++) {
      const last = i === writes.length - 1
      if (last && after === "starttls") yield* switchToTls(live, writes[i]!)
      else yield* writeChunk(live.wire, writes[i]!)
    }
    if (after === "close") return yield* end(live, { _tag: "ServerClosed" })
    return
  }
  yield* checkDeleted(live)
  const out = Out.make()
  const refused = permitted(session, name)
  if (refused !== undefined) return yield* complete(live, out, tag, name, bad(refused))
  switch (name) {
    case "CAPABILITY":
      out.text(`* CAPABILITY ${State.capabilities(session).join(" ")}\r\n`)
      return yield* complete(live, out, tag, name, ok("Pre-login capabilities listed, post-login capabilities have more."))
    case "NOOP":
      return yield* complete(live, out, tag, name, ok("NOOP completed."))
    case "LOGOUT":
      session.state = "Logout"
      yield* writeText(live, `* BYE Logging out\r\n${tag} OK Logout completed.\r\n`)
      return yield* end(live, { _tag: "ServerClosed" })
    case "STARTTLS": {
      const settings = server.settings
      if (settings.security === "plaintext") return yield* complete(live, out, tag, name, bad("TLS support isn't enabled."))
      if (live.wire.secure()) return yield* complete(live, out, tag, name, bad("TLS is already active."))
      if (settings.startTlsReply !== "OK") {
        yield* writeText(live, `${tag} ${settings.startTlsReply} TLS is not available.\r\n`)
        return
      }
      return yield* switchToTls(live, Buffer.from(`${tag} OK Begin TLS negotiation now.\r\n`, "latin1"))
    }
    case "LOGIN":
      return yield* complete(live, out, tag, name, login(live, out, args))
    case "AUTHENTICATE":
      return yield* complete(live, out, tag, name, yield* authenticate(live, out, args))
    case "IDLE":
      return yield* complete(live, out, tag, name, yield* idle(live))
    case "COMPRESS":
      return yield* compress(live, out, tag, args)
  }
  const now = yield* Clock.currentTimeMillis
  const mailboxHandler = SYNC_HANDLERS[name]
  if (mailboxHandler !== undefined) {
    return yield* complete(live, out, tag, name, mailboxHandler(session, out, args, { tag, now }))
  }
  const uid = name.startsWith("UID ")
  const messageHandler = MESSAGE_HANDLERS[uid ? name.slice(4) : name]!
  return yield* complete(live, out, tag, name, messageHandler(session, out, args, { tag, now, uid }))
})

const greet = Effect.fnUntraced(function*(live: Live) {
  const settings = live.server.settings
  if (settings.security === "implicit-tls") {
    live.wire.startTls(tlsSetup(live))
    yield* awaitHandshake(live)
  }
  const greeting = settings.greeting
  switch (greeting._tag) {
    case "Ok":
      yield* writeText(live, `* OK ${capabilityCode(live)} ${greeting.text ?? "Dovecot (Debian) ready."}\r\n`)
      return
    case "Preauth": {
      loggedIn(live, greeting.user)
      yield* writeText(live, `* PREAUTH ${capabilityCode(live)} ${greeting.text ?? `Logged in as ${greeting.user}`}\r\n`)
      return
    }
    case "Bye":
      yield* writeText(live, `* BYE ${greeting.text ?? "Server shutting down."}\r\n`)
      return yield* end(live, { _tag: "ServerClosed" })
  }
})

const loop = Effect.fnUntraced(function*(live: Live) {
  yield* greet(live)
  for (;;) {
    const event = yield* nextEvent(live)
    switch (event._tag) {
      case "Closed":
        return yield* clientClosed(live)
      case "Continue":
        yield* writeText(live, "+ OK\r\n")
        break
      case "Bad":
        yield* writeText(live, `${event.tag ?? "*"} BAD ${event.text}\r\n`)
        break
      case "TooBig":
        yield* writeText(live, `${event.tag ?? "*"} NO [TOOBIG] Literal too large.\r\n`)
        break
      case "Fatal":
        yield* writeText(live, `* BYE ${event.text}\r\n`)
        return yield* end(live, { _tag: "ServerClosed" })
      case "Command":
        yield* runCommand(live, event)
        break
    }
  }
})

const hangUp = (wire: Wire.Wire): Effect.Effect<void> => Effect.sync(() => Wire.hangUp(wire))

const recordingOf = (live: Live): Recording.Recording => {
  const state = live.wire.handshake()
  const line = live.commands.length
  const outcome: Recording.Outcome = live.outcome._tag === "ClientClosed"
    ? { _tag: "ClientClosed", line, phase: live.outcome.phase }
    : live.outcome._tag === "HandshakeFailed"
    ? { _tag: "HandshakeFailed", line, code: live.outcome.code, message: live.outcome.message }
    : { _tag: "Completed" }
  return {
    chunks: [...live.wire.chunks()],
    outcome,
    handshake: state._tag === "Done" ? state.handshake : undefined,
    clientClosed: live.wire.clientClosed(),
    sentBeforeHandshake: Buffer.concat([...live.discarded, ...live.wire.sentBeforeHandshake()]),
    sentAfterExpectClose: new Uint8Array(0),
    extraAfterScript: new Uint8Array(0)
  }
}

/** Serves one connection until it ends; never fails. */
export const serve = (server: State.Server, duplex: Duplex): Effect.Effect<ImapServer.Connection> =>
  Effect.scoped(
    Effect.gen(function*() {
      const wire = Compress.make(Wire.make(duplex))
      const live: Live = {
        server,
        wire,
        reader: Reader.make(server.settings.limits),
        session: {
          server,
          state: "NotAuthenticated",
          account: undefined,
          selected: undefined,
          enabled: new Set(),
          condstore: false,
          secure: () => wire.secure()
        },
        commands: [],
        discarded: [],
        outcome: { _tag: "Open" },
        user: undefined
      }
      const connection: ImapServer.Connection = {
        id: server.nextConnectionId++,
        commands: live.commands,
        state: () => live.session.state,
        user: () => live.user,
        secure: () => wire.secure(),
        closed: () => live.outcome._tag !== "Open",
        compression: () => wire.stats(),
        recording: () => recordingOf(live)
      }
      server.connections.push(connection)
      yield* Effect.addFinalizer(() =>
        Effect.andThen(
          Effect.sync(() => {
            if (live.outcome._tag === "Open") live.outcome = { _tag: "ServerClosed" }
            State.deselect(live.session)
          }),
          hangUp(wire)
        )
      )
      yield* Effect.catchTag(loop(live), "End", () => Effect.void)
      return connection
    })
  )
