/**
 * One SMTP / LMTP connection of `SmtpServer`: the command loop over `internal/wire.ts`. Replies are
 * queued and written together when the loop needs more client input (so pipelined commands get
 * their replies in one write, in order, RFC 2920 §3.1), before a delay, before TLS starts and before
 * the connection closes.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type { Duplex } from "node:stream"
import type * as Certificates from "../../Certificates.ts"
import type * as Recording from "../../Recording.ts"
import type * as SmtpServer from "../../SmtpServer.ts"
import * as SaslServer from "../saslServer.ts"
import * as Wire from "../wire.ts"
import * as DotDecoder from "./dotDecoder.ts"
import * as Envelope from "./envelope.ts"
import * as Hop from "./hop.ts"
import * as Input from "./input.ts"

/** The configuration with its defaults applied, and the server-wide state the session reaches. */
export interface Resolved {
  readonly name: string
  readonly mode: "smtp" | "lmtp"
  readonly security: SmtpServer.Security
  readonly requireTls: boolean
  readonly requireAuth: boolean
  readonly keyPair: Certificates.KeyPair
  readonly greeting: string
  readonly extensions: { readonly plain: ReadonlyArray<string>; readonly tls: ReadonlyArray<string> }
  readonly startTlsReply: string
  readonly limits: {
    readonly maxLineLength: number
    readonly maxAuthLineLength: number
    readonly maxMessageSize: number
    readonly maxRecipients: number
  }
  readonly account: (username: string) => SaslServer.Account | undefined
  readonly scramIterations: number | undefined
  readonly forgeServerSignature: boolean
  readonly recipientReply: (address: string, params: SmtpServer.Params) => string | undefined
  readonly finalReply: (message: SmtpServer.Message) => string | undefined
  readonly deliveryReply: (address: string, message: SmtpServer.Message) => string | undefined
  readonly faults: () => SmtpServer.Faults
  readonly nextQueueId: () => string
  readonly deliver: (message: SmtpServer.Message) => void
  readonly ended: (connection: SmtpServer.Connection) => Effect.Effect<unknown>
}

/** A connection as the server keeps it. */
export interface Handle {
  readonly connection: SmtpServer.Connection
  readonly entries: Array<SmtpServer.Entry>
  readonly setRecording: (recording: Recording.Recording) => void
  readonly shutdown: () => void
  readonly stopping: () => boolean
  readonly onShutdown: (listener: () => void) => () => void
}

export const handle = (id: number): Handle => {
  const entries: Array<SmtpServer.Entry> = []
  const listeners = new Set<() => void>()
  let recording: Recording.Recording | undefined
  let stopping = false
  return {
    connection: {
      id,
      entries,
      get recording() {
        return recording
      }
    },
    entries,
    setRecording: (value) => {
      recording = value
    },
    shutdown: () => {
      stopping = true
      for (const listener of [...listeners]) listener()
    },
    stopping: () => stopping,
    onShutdown: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    }
  }
}

interface Transaction {
  readonly from: string
  readonly params: SmtpServer.Params
  readonly recipients: Array<string>
  readonly recipientParams: Array<SmtpServer.Params>
  readonly parts: Array<Uint8Array>
  /** Unstuffed content bytes so far (counted past the limit too). */
  size: number
  /** Payload bytes as they came on the wire, for `dropAfterPayloadBytes`. */
  wireBytes: number
  bdat: boolean
}

type End = { readonly _tag: "Closed" } | { readonly _tag: "Stopped" }
type Event<A> = A | End

const encoder = new TextEncoder()
const empty = new Uint8Array(0)
const CLOSED = { _tag: "Closed" } as const
const STOPPED = { _tag: "Stopped" } as const
// RFC 3463 enhanced status code after the reply code.
const ENHANCED = /^(\d{3}[ -])[245]\.\d{1,3}\.\d{1,3} /gm
// RFC 9266: the `tls-exporter` channel binding is 32 bytes under this label (TLS 1.3 only).
const EXPORTER_LABEL = "EXPORTER-Channel-Binding"

const keywordsOf = (lines: ReadonlyArray<string>): Map<string, string> => {
  const map = new Map<string, string>()
  for (const line of lines) {
    const space = line.indexOf(" ")
    map.set((space === -1 ? line : line.slice(0, space)).toUpperCase(), space === -1 ? "" : line.slice(space + 1))
  }
  return map
}

const isPositive = (reply: string): boolean => reply.startsWith("2")

// RFC 3030 §2: "BDAT" SP chunk-size [SP end-marker].
const BDAT_SYNTAX = /^(\d{1,15})(?: (LAST))?$/i

const joined = (transaction: Transaction): Uint8Array => {
  const body = new Uint8Array(transaction.size)
  let offset = 0
  for (const part of transaction.parts) {
    body.set(part, offset)
    offset += part.length
  }
  return body
}

const hangUp = Wire.hangUp

/** Serves one connection. */
export const run = (duplex: Duplex, config: Resolved, handle: Handle): Effect.Effect<SmtpServer.Connection> =>
  Effect.scoped(Effect.gen(function*() {
    const wire = Wire.make(Hop.make(duplex))
    const input = Input.make()
    const out: Array<Uint8Array> = []
    const discarded: Array<Uint8Array> = []
    const limits = config.limits
    let outcome: Recording.Outcome | undefined
    let afterQuit: Uint8Array = empty
    let closing: "graceful" | "drop" = "graceful"

    // Session state (RFC 3207 §4.2 and RFC 5321 §4.1.4 say when it resets).
    let helo: string | undefined
    let extensions: ReadonlyMap<string, string> | undefined
    let authenticatedAs: string | undefined
    let tx: Transaction | undefined
    let replacement: Uint8Array | undefined
    let refusedGreeting = false

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const handshake = wire.handshake()
        handle.setRecording({
          chunks: [...wire.chunks()],
          outcome: outcome ?? { _tag: "ClientClosed", line: handle.entries.length, phase: phase() },
          handshake: handshake._tag === "Done" ? handshake.handshake : undefined,
          clientClosed: wire.clientClosed(),
          sentBeforeHandshake: Buffer.concat([...discarded, ...wire.sentBeforeHandshake()]),
          sentAfterExpectClose: empty,
          extraAfterScript: afterQuit
        })
        if (closing === "drop") wire.destroy()
        else hangUp(wire)
        return config.ended(handle.connection)
      })
    )

    const phase = (): Recording.Phase => wire.secure() ? "tls" : "plain"
    const log = (entry: SmtpServer.Entry) => handle.entries.push(entry)
    const faults = () => config.faults()
    const current = (): ReadonlyArray<string> => wire.secure() ? config.extensions.tls : config.extensions.plain

    // --- output -----------------------------------------------------------------------------

    const flush = (afterWrite?: () => void) => {
      if (out.length === 0) {
        afterWrite?.()
        return
      }
      const bytes = out.length === 1 ? out[0]! : Buffer.concat(out)
      out.length = 0
      wire.write(bytes, () => undefined, afterWrite)
    }
    const raw = (bytes: string | Uint8Array) => {
      out.push(typeof bytes === "string" ? encoder.encode(bytes) : bytes)
    }
    /** A reply of the server's own (enhanced codes stripped when not in force). */
    const reply = (text: string) => {
      if (replacement !== undefined) {
        out.push(replacement)
        replacement = undefined
        return
      }
      const enhanced = extensions === undefined || extensions.has("ENHANCEDSTATUSCODES")
      raw(`${enhanced ? text : text.replace(ENHANCED, "$1")}\r\n`)
    }
    /** A reply text from the configuration, verbatim. */
    const verbatim = (text: string) => {
      if (replacement !== undefined) return reply(text)
      raw(`${text}\r\n`)
    }

    // --- input ------------------------------------------------------------------------------

    const pull = () => input.push(wire.takeAll())
    const gone = () => wire.clientClosed() || wire.handshake()._tag === "Failed"

    /** Waits until `check` has a value; writes the queued replies first when it has to wait. */
    const waitFor = <A>(check: () => A | undefined): Effect.Effect<A> =>
      Effect.callback<A>((resume) => {
        const first = check()
        if (first !== undefined) return resume(Effect.succeed(first))
        let done = false
        const attempt = () => {
          if (done) return
          const value = check()
          if (value === undefined) return
          done = true
          unsubscribe()
          unshutdown()
          resume(Effect.succeed(value))
        }
        const unsubscribe = wire.subscribe(attempt)
        const unshutdown = handle.onShutdown(attempt)
        flush()
        attempt()
        return Effect.sync(() => {
          done = true
          unsubscribe()
          unshutdown()
        })
      })

    const nextLine = (limit: number): Effect.Effect<Event<Input.Line>> =>
      waitFor<Event<Input.Line>>(() => {
        if (handle.stopping()) return STOPPED
        pull()
        return input.line(limit) ?? (gone() ? CLOSED : undefined)
      })

    const nextBytes = (max: number): Effect.Effect<Event<{ readonly _tag: "Bytes"; readonly bytes: Uint8Array }>> =>
      waitFor(() => {
        if (handle.stopping()) return STOPPED
        pull()
        const bytes = input.take(max)
        if (bytes !== undefined) return { _tag: "Bytes", bytes } as const
        return gone() ? CLOSED : undefined
      })

    // --- endings ----------------------------------------------------------------------------

    const clientGone = () => {
      const state = wire.handshake()
      outcome = state._tag === "Failed"
        ? { _tag: "HandshakeFailed", line: handle.entries.length, code: state.code, message: state.message }
        : { _tag: "ClientClosed", line: handle.entries.length, phase: phase() }
    }
    const serverCloses = (how: "graceful" | "drop") => {
      if (how === "graceful") flush()
      closing = how
      outcome = { _tag: "Completed" }
    }
    const shutdownNow = () => {
      reply(`421 4.3.2 ${config.name} Service shutting down, closing transmission channel`)
      serverCloses("graceful")
    }
    /** Whether the connection is over (and then records how). */
    const ended = (event: { readonly _tag: string }): event is End => {
      if (event._tag === "Closed") clientGone()
      else if (event._tag === "Stopped") shutdownNow()
      else return false
      return true
    }

    /** Delay and 421 faults before the reply at `point`; false when the connection is over. */
    const beforeReply = Effect.fnUntraced(function*(point: SmtpServer.ReplyPoint) {
      const active = faults()
      const delay = typeof active.delayMs === "function" ? active.delayMs(point) : active.delayMs
      if (delay !== undefined && delay > 0) {
        flush()
        yield* Effect.sleep(Duration.millis(delay))
      }
      if (handle.stopping() || active.shutdownAt === point) {
        shutdownNow()
        return false
      }
      return true
    })

    // --- TLS --------------------------------------------------------------------------------

    const setup = (): Wire.TlsSetup => ({ line: handle.entries.length, keyPair: config.keyPair, clientCa: undefined })
    const handshake = waitFor(() => {
      const state = wire.handshake()
      if (state._tag === "Done") return true
      return state._tag === "Failed" || wire.clientClosed() ? false : undefined
    })
    const channelBinding = (): Uint8Array | undefined => {
      const state = wire.handshake()
      return state._tag === "Done" && state.handshake.protocol === "TLSv1.3"
        ? wire.exportKeyingMaterial(32, EXPORTER_LABEL)
        : undefined
    }
    const resetSession = () => {
      helo = undefined
      extensions = undefined
      authenticatedAs = undefined
      tx = undefined
    }

    // --- commands ---------------------------------------------------------------------------

    const needsTls = (): boolean => {
      if (!config.requireTls || wire.secure()) return false
      reply("530 5.7.0 Must issue a STARTTLS command first")
      return true
    }
    const needsHello = (): boolean => {
      if (helo !== undefined) return false
      reply("503 5.5.1 Error: send HELO/EHLO first")
      return true
    }

    const hello = (verb: string, argument: string) => {
      const lmtp = config.mode === "lmtp"
      // RFC 2033 §4.1: LMTP has LHLO instead of HELO and EHLO.
      if (lmtp !== (verb === "LHLO")) {
        return reply(lmtp ? "500 5.5.1 Error: command not recognized: use LHLO" : "502 5.5.2 Error: command not recognized")
      }
      if (argument === "") return reply(`501 5.5.4 Syntax: ${verb} hostname`)
      helo = argument
      tx = undefined
      if (verb === "HELO") {
        extensions = new Map()
        return reply(`250 ${config.name}`)
      }
      const lines = current()
      extensions = keywordsOf(lines)
      const all = [config.name, ...lines]
      reply(all.map((line, i) => `250${i === all.length - 1 ? " " : "-"}${line}`).join("\r\n"))
    }

    const startTls = Effect.fnUntraced(function*(argument: string) {
      if (wire.secure()) return reply("554 5.5.1 Error: TLS already active")
      if (argument !== "") return reply("501 5.5.4 Syntax: STARTTLS")
      verbatim(config.startTlsReply)
      if (!config.startTlsReply.startsWith("220")) return
      // RFC 3207 §4.2: whatever the client sent after STARTTLS is not part of the TLS session.
      pull()
      const early = input.drain()
      if (early.length > 0) discarded.push(early)
      resetSession()
      flush(() => wire.startTls(setup()))
      if (!(yield* handshake)) clientGone()
    })

    const authenticate = Effect.fnUntraced(function*(argument: string) {
      if (needsTls() || needsHello()) return
      if (authenticatedAs !== undefined) return reply("503 5.5.1 Error: already authenticated")
      if (tx !== undefined) return reply("503 5.5.1 Error: MAIL transaction in progress")
      const offered = extensions?.get("AUTH")
      if (offered === undefined) return reply("503 5.5.1 Error: authentication not enabled")
      const [name = "", initialText, ...more] = argument.split(" ")
      const offeredNames = offered.toUpperCase().split(" ")
      const mechanism = SaslServer.parseMechanism(name)
      if (mechanism === undefined || !offeredNames.includes(mechanism)) {
        return reply("504 5.5.4 Unrecognized authentication type")
      }
      if (more.length > 0) return reply("501 5.5.4 Syntax: AUTH mechanism [initial-response]")
      let initial: Uint8Array | undefined
      if (initialText !== undefined) {
        const decoded = SaslServer.decodeResponse(initialText, true)
        if (decoded._tag === "Cancel") return reply("501 5.7.0 Authentication aborted")
        if (decoded._tag === "Invalid") return reply("501 5.5.2 Cannot decode response")
        initial = decoded.bytes
      }
      let step = SaslServer.start(mechanism, initial, {
        account: config.account,
        channelBinding,
        offered: offeredNames,
        iterations: config.scramIterations,
        forgeServerSignature: config.forgeServerSignature,
        hostname: config.name
      })
      // The SCRAM server-final message travels as a last challenge, answered empty (RFC 4954 §4).
      let finalSent = false
      while (true) {
        let challenge: Uint8Array
        if (step._tag === "Challenge") challenge = step.data
        else if (step._tag === "Success" && step.data !== undefined && !finalSent) challenge = step.data
        else break
        finalSent = step._tag === "Success"
        raw(`334 ${SaslServer.encodeChallenge(challenge)}\r\n`)
        const event = yield* nextLine(limits.maxAuthLineLength)
        if (ended(event)) return
        if (event._tag !== "Line") {
          const length = event._tag === "TooLong" ? event.length : event.bytes.length
          log({ _tag: "BadLine", phase: phase(), reason: event._tag, length })
          return reply(
            event._tag === "TooLong"
              ? "500 5.5.6 Authentication Exchange line is too long"
              : "500 5.5.2 Error: bare <LF> received"
          )
        }
        log({ _tag: "SaslResponse", phase: phase(), line: event.text })
        const response = SaslServer.decodeResponse(event.text, false)
        if (response._tag === "Cancel") return reply("501 5.7.0 Authentication aborted")
        if (response._tag === "Invalid") return reply("501 5.5.2 Cannot decode response")
        if (step._tag === "Challenge") step = step.respond(response.bytes)
        else if (response.bytes.length > 0) return reply("535 5.7.8 Error: authentication failed")
      }
      if (step._tag !== "Success") return reply("535 5.7.8 Error: authentication failed")
      authenticatedAs = step.username
      reply("235 2.7.0 Authentication successful")
    })

    const session = (): Envelope.Session => ({
      extensions: extensions ?? new Map(),
      secure: wire.secure(),
      maxMessageSize: limits.maxMessageSize,
      smtpUtf8: tx?.params["SMTPUTF8"] === true
    })

    const mail = (argument: string) => {
      if (needsTls() || needsHello()) return
      if (config.requireAuth && authenticatedAs === undefined) return reply("530 5.7.0 Authentication required")
      if (tx !== undefined) return reply("503 5.5.1 Error: nested MAIL command")
      const parsed = Envelope.parse("MAIL", argument, session())
      if (parsed._tag === "Refused") return reply(parsed.reply)
      tx = {
        from: parsed.address,
        params: parsed.params,
        recipients: [],
        recipientParams: [],
        parts: [],
        size: 0,
        wireBytes: 0,
        bdat: false
      }
      reply("250 2.1.0 Ok")
    }

    const recipient = (argument: string) => {
      if (needsTls()) return
      if (tx === undefined) return reply("503 5.5.1 Error: need MAIL command")
      if (tx.recipients.length >= limits.maxRecipients) return reply("452 4.5.3 Error: too many recipients")
      const parsed = Envelope.parse("RCPT", argument, session())
      if (parsed._tag === "Refused") return reply(parsed.reply)
      const answer = config.recipientReply(parsed.address, parsed.params)
      if (answer === undefined) reply("250 2.1.5 Ok")
      else verbatim(answer)
      if (answer === undefined || isPositive(answer)) {
        tx.recipients.push(parsed.address)
        tx.recipientParams.push(parsed.params)
      }
    }

    /** Adds unstuffed content, keeping at most the size limit in memory. */
    const append = (transaction: Transaction, bytes: Uint8Array) => {
      transaction.size += bytes.length
      if (transaction.size <= limits.maxMessageSize) transaction.parts.push(bytes)
      else transaction.parts.length = 0
    }

    /** Payload bytes that may still arrive before `dropAfterPayloadBytes` closes the connection. */
    const room = (transaction: Transaction | undefined): number => {
      const limit = faults().dropAfterPayloadBytes
      return limit === undefined || transaction === undefined
        ? Number.MAX_SAFE_INTEGER
        : Math.max(0, limit - transaction.wireBytes)
    }

    const data = Effect.fnUntraced(function*(argument: string) {
      if (needsTls()) return
      if (argument !== "") return reply("501 5.5.4 Syntax: DATA")
      if (tx === undefined) return reply("503 5.5.1 Error: need RCPT command")
      // RFC 3030 §3: no DATA in a BDAT transaction, and BINARYMIME only with BDAT.
      if (tx.bdat) return reply("503 5.5.1 Error: DATA after BDAT")
      const body = tx.params["BODY"]
      if (typeof body === "string" && body.toUpperCase() === "BINARYMIME") {
        return reply("503 5.5.1 Error: BODY=BINARYMIME requires BDAT")
      }
      if (tx.recipients.length === 0) return reply("554 5.5.1 Error: no valid recipients")
      reply("354 End data with <CR><LF>.<CR><LF>")
      const transaction = tx
      const decoder = DotDecoder.make((bytes) => append(transaction, bytes))
      let onWire = 0
      while (true) {
        const max = room(transaction)
        if (max === 0) return serverCloses("drop")
        const event = yield* nextBytes(max)
        if (ended(event)) return
        const pushed = decoder.push(event.bytes)
        onWire += pushed.consumed
        transaction.wireBytes += pushed.consumed
        if (pushed.done) {
          input.unshift(event.bytes.subarray(pushed.consumed))
          break
        }
      }
      log({ _tag: "Payload", phase: phase(), command: "DATA", size: onWire })
      yield* finish(transaction, "DATA")
    })

    const bdat = Effect.fnUntraced(function*(argument: string) {
      const match = BDAT_SYNTAX.exec(argument)
      if (!extensions?.has("CHUNKING")) return reply("502 5.5.2 Error: command not recognized")
      if (match === null) return reply("501 5.5.4 Syntax: BDAT count [LAST]")
      const size = Number(match[1])
      const last = match[2] !== undefined
      // RFC 3030 §2: the chunk is read whatever the reply will be.
      const transaction = tx
      let remaining = size
      const chunk: Array<Uint8Array> = []
      while (remaining > 0) {
        const max = Math.min(remaining, room(transaction))
        if (max === 0) return serverCloses("drop")
        const event = yield* nextBytes(max)
        if (ended(event)) return
        remaining -= event.bytes.length
        if (transaction !== undefined) transaction.wireBytes += event.bytes.length
        chunk.push(event.bytes)
      }
      log({ _tag: "Payload", phase: phase(), command: "BDAT", size })
      if (needsTls()) return
      if (transaction === undefined) return reply("503 5.5.1 Error: need MAIL command")
      if (transaction.recipients.length === 0) {
        tx = undefined
        return reply("554 5.5.1 Error: no valid recipients")
      }
      transaction.bdat = true
      for (const part of chunk) append(transaction, part)
      if (transaction.size > limits.maxMessageSize) {
        tx = undefined
        return reply("552 5.3.4 Error: message file too big")
      }
      if (!last) return reply(`250 2.0.0 Ok: ${size} bytes`)
      yield* finish(transaction, "BDAT")
    })

    /** The end of a message: the final reply (SMTP) or one per recipient (LMTP), and delivery. */
    const finish = Effect.fnUntraced(function*(transaction: Transaction, transfer: "DATA" | "BDAT") {
      tx = undefined
      if (transaction.size > limits.maxMessageSize) return reply("552 5.3.4 Error: message file too big")
      const withheld = faults().withholdFinalReply
      if (withheld === "drop") return serverCloses("drop")
      if (withheld === "silent") return
      if (!(yield* beforeReply("message"))) return
      const message: SmtpServer.Message = {
        id: config.nextQueueId(),
        connection: handle.connection.id,
        from: transaction.from,
        recipients: [...transaction.recipients],
        recipientParams: [...transaction.recipientParams],
        params: transaction.params,
        body: joined(transaction),
        transfer,
        secure: wire.secure(),
        authenticatedAs
      }
      if (config.mode === "smtp") {
        const answer = config.finalReply(message)
        if (answer === undefined) reply(`250 2.0.0 Ok: queued as ${message.id}`)
        else verbatim(answer)
        if (answer === undefined || isPositive(answer)) config.deliver(message)
        return
      }
      // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
      const delivered: Array<number> = []
      message.recipients.forEach((address, i) => {
        const answer = config.deliveryReply(address, message)
        if (answer === undefined) reply(`250 2.0.0 <${address}> Ok: queued as ${message.id}`)
        else verbatim(answer)
        if (answer === undefined || isPositive(answer)) delivered.push(i)
      })
      if (delivered.length === 0) return
      config.deliver({
        ...message,
        recipients: delivered.map((i) => message.recipients[i]!),
        recipientParams: delivered.map((i) => message.recipientParams[i]!)
      })
    })

    const quit = () => {
      reply("221 2.0.0 Bye")
      pull()
      afterQuit = input.drain()
      serverCloses("graceful")
    }

    const overrideFor = (command: SmtpServer.Command): SmtpServer.Override | undefined => {
      const table = faults().override
      if (table === undefined) return undefined
      if (typeof table === "function") return table(command)
      return Object.hasOwn(table, command.verb) ? table[command.verb] : undefined
    }

    const dispatch = Effect.fnUntraced(function*(verb: string, argument: string) {
      switch (verb) {
        case "EHLO":
        case "HELO":
        case "LHLO":
          return hello(verb, argument)
        case "STARTTLS":
          return yield* startTls(argument)
        case "AUTH":
          return yield* authenticate(argument)
        case "MAIL":
          return mail(argument)
        case "RCPT":
          return recipient(argument)
        case "DATA":
          return yield* data(argument)
        case "BDAT":
          return yield* bdat(argument)
        case "RSET":
          tx = undefined
          return reply("250 2.0.0 Ok")
        case "NOOP":
          return reply("250 2.0.0 Ok")
        case "QUIT":
          return quit()
        case "VRFY":
          if (needsTls()) return
          return reply(argument === "" ? "501 5.5.4 Syntax: VRFY address" : `252 2.0.0 ${argument}`)
        case "ETRN":
          if (needsTls() || needsHello()) return
          return reply(argument === "" ? "500 5.5.4 Syntax: ETRN domain" : "250 Queuing started")
        default:
          return reply("502 5.5.2 Error: command not recognized")
      }
    })

    const command = Effect.fnUntraced(function*(text: string) {
      const space = text.indexOf(" ")
      const verb = (space === -1 ? text : text.slice(0, space)).toUpperCase()
      const argument = space === -1 ? "" : text.slice(space + 1)
      const entry: SmtpServer.Command = { _tag: "Command", phase: phase(), verb, line: text }
      log(entry)
      const override = overrideFor(entry)
      if (override !== undefined) {
        const bytes = typeof override.raw === "string" ? encoder.encode(override.raw) : override.raw
        if (override.then === "execute") {
          replacement = bytes
        } else {
          raw(bytes)
          if (override.then === "close") serverCloses("graceful")
          return
        }
      }
      if (!(yield* beforeReply(verb))) return
      // RFC 5321 §3.1: after a 554 greeting, only QUIT.
      if (refusedGreeting && verb !== "QUIT") return reply("503 5.5.1 Error: bad sequence of commands")
      yield* dispatch(verb, argument)
      replacement = undefined
    })

    // --- the conversation -------------------------------------------------------------------

    if (config.security === "implicit-tls") {
      wire.startTls(setup())
      if (!(yield* handshake)) {
        clientGone()
        return handle.connection
      }
    }
    if (yield* beforeReply("greeting")) {
      verbatim(config.greeting)
      if (config.greeting.startsWith("421")) serverCloses("graceful")
      refusedGreeting = config.greeting.startsWith("554")
    }
    while (outcome === undefined) {
      const event = yield* nextLine(Math.max(limits.maxLineLength, limits.maxAuthLineLength))
      if (ended(event)) break
      if (event._tag === "Line") {
        const long = event.bytes.length > limits.maxLineLength && !/^AUTH /i.test(event.text)
        if (!long) {
          yield* command(event.text)
          continue
        }
        log({ _tag: "BadLine", phase: phase(), reason: "TooLong", length: event.bytes.length })
        reply("500 5.5.2 Error: line too long")
      } else if (event._tag === "TooLong") {
        log({ _tag: "BadLine", phase: phase(), reason: "TooLong", length: event.length })
        reply("500 5.5.2 Error: line too long")
      } else if (event._tag === "BareLf") {
        log({ _tag: "BadLine", phase: phase(), reason: "BareLf", length: event.bytes.length })
        reply("500 5.5.2 Error: bare <LF> received")
      }
    }
    flush()
    return handle.connection
  }))
