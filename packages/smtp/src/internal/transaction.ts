/**
 * One mail transaction (RFC 5321 §3.3) on an open session: plan (which parameters, DATA or BDAT,
 * pipelined or not) from the message and the extensions learned in the current security state,
 * validate every command before the first byte is written, then run the flights and read every
 * reply in order.
 *
 * Round trips: with PIPELINING (RFC 2920) and CHUNKING (RFC 3030) a message that fits one BDAT
 * chunk is one flight (`[RSET] MAIL RCPT… BDAT n LAST` + data) and one round trip; with DATA it is
 * two (`[RSET] MAIL RCPT… DATA`, then the data). RSET is only sent when the previous transaction
 * left state on the server, and then it rides in the same flight.
 *
 * Safety: a message counts as sent only after the final reply (S12). When the connection fails
 * after the end of the data was written, the outcome is `OutcomeUnknown`; a failure in the middle
 * of a transaction (a broken connection, a failing message stream, an interruption) closes the
 * connection, so a half-sent message can never be completed by a later command.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { domainToASCII } from "node:url"
import * as Bdat from "../Bdat.ts"
import type * as SmtpClient from "../SmtpClient.ts"
import * as SmtpCommand from "../SmtpCommand.ts"
import { enhancedCode } from "../SmtpDialect.ts"
import * as SmtpError from "../SmtpError.ts"
import * as SmtpExtensions from "../SmtpExtensions.ts"
import * as SmtpReply from "../SmtpReply.ts"
import * as DotStuffing from "../DotStuffing.ts"
import * as Message from "./message.ts"
import * as State from "./state.ts"

type Session = Connection.Session<SmtpReply.SmtpReply, SmtpExtensions.SmtpExtensions>

/** What the caller can learn about a failed transaction (the pool retries only untouched messages). */
export interface Progress {
  /** The message stream was pulled (it cannot be replayed by a retry). */
  streamStarted: boolean
}

// Small pieces are joined before a write: over TLS every buffer of a write becomes a record of its
// own (and often a segment), which costs more than copying a few kilobytes.
const COALESCE_LIMIT = 64 * 1024

const coalesce = (parts: ReadonlyArray<Uint8Array>): ReadonlyArray<Uint8Array> => {
  if (parts.length < 2) return parts
  let size = 0
  for (const part of parts) size += part.length
  if (size > COALESCE_LIMIT) return parts
  const out = new Uint8Array(size)
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return [out]
}

const fail = (reason: SmtpError.SmtpErrorReason) => Effect.fail(SmtpError.make(reason))

const NON_ASCII = /[^\x00-\x7f]/

// RFC 6531 §3.2: without SMTPUTF8 a U-label domain can still go out as A-labels (RFC 5890).
const asciiDomain = (address: string): string => {
  const at = address.lastIndexOf("@")
  if (at === -1 || NON_ASCII.test(address.slice(0, at))) return address
  const domain = address.slice(at + 1)
  if (!NON_ASCII.test(domain)) return address
  const ascii = domainToASCII(domain)
  return ascii === "" ? address : `${address.slice(0, at)}@${ascii}`
}

interface Body<E, R> {
  readonly bytes: Uint8Array | undefined
  readonly stream: Stream.Stream<Uint8Array, E, R> | undefined
  readonly analysis: Message.Analysis | undefined
}

const bodyOf = <E, R>(message: SmtpClient.Message<E, R>): Body<E, R> => {
  if (typeof message === "string") {
    const bytes = new Uint8Array(Buffer.from(message, "utf8"))
    return { bytes, stream: undefined, analysis: Message.analyze(bytes) }
  }
  if (message instanceof Uint8Array) return { bytes: message, stream: undefined, analysis: Message.analyze(message) }
  return { bytes: undefined, stream: message, analysis: undefined }
}

interface Plan {
  /** Pipelined: one buffer for the whole flight (with DATA last for DATA); else one per command. */
  readonly commands: ReadonlyArray<SmtpCommand.Encoded>
  readonly reset: boolean
  readonly recipients: ReadonlyArray<string>
  readonly transfer: "DATA" | "BDAT"
  /** Text body: line endings normalised (everything but BINARYMIME). */
  readonly text: boolean
  /** A stream sent without BODY=8BITMIME must stay 7-bit. */
  readonly sevenBitOnly: boolean
  readonly size: number | undefined
  readonly pipelining: boolean
  readonly lmtp: boolean
  readonly chunkSize: number
}

const unavailable = (extension: string, detail: string) =>
  Result.fail(new SmtpError.ExtensionUnavailable({ extension, detail }))

const invalid = (field: string, detail: string) => Result.fail(new SmtpError.InvalidArgument({ field, detail }))

const recipientOf = (to: string | SmtpClient.Recipient): SmtpClient.Recipient =>
  typeof to === "string" ? { address: to } : to

const bodyType = (
  envelope: SmtpClient.Envelope,
  ext: SmtpExtensions.SmtpExtensions,
  body: Body<unknown, unknown>
): Result.Result<SmtpCommand.BodyType | undefined, SmtpError.SmtpErrorReason> => {
  const analysis = body.analysis
  const wanted = envelope.body
  if (wanted === "BINARYMIME") {
    if (!ext.binaryMime || !ext.chunking) {
      return unavailable("BINARYMIME", "binary content needs BINARYMIME and CHUNKING (RFC 3030 §3)")
    }
    return Result.succeed("BINARYMIME")
  }
  if (analysis?.nul === true) {
    if (wanted !== undefined) return invalid("envelope.body", "the message contains NUL bytes: only BINARYMIME can carry it")
    if (!ext.binaryMime || !ext.chunking) {
      return unavailable("BINARYMIME", "the message contains NUL bytes, which only BINARYMIME with CHUNKING can carry")
    }
    return Result.succeed("BINARYMIME")
  }
  if (wanted === "8BITMIME") {
    return ext.eightBitMime ? Result.succeed("8BITMIME") : unavailable("8BITMIME", "the server does not announce it")
  }
  if (wanted === "7BIT") {
    if (analysis?.eightBit === true) return invalid("envelope.body", "7BIT declared for a message with 8-bit bytes")
    return Result.succeed(ext.eightBitMime ? "7BIT" : undefined)
  }
  if (analysis === undefined) {
    // A stream is not read ahead: declare 8BITMIME whenever the server takes it (RFC 6152 allows
    // it for 7-bit content too); otherwise the stream is checked as it goes.
    return Result.succeed(ext.eightBitMime ? "8BITMIME" : undefined)
  }
  if (!analysis.eightBit) return Result.succeed(undefined)
  return ext.eightBitMime
    ? Result.succeed("8BITMIME")
    : unavailable("8BITMIME", "the message has 8-bit bytes and the server does not announce 8BITMIME (RFC 6152)")
}

const plan = (
  state: State.SmtpState,
  session: Session,
  ext: SmtpExtensions.SmtpExtensions,
  envelope: SmtpClient.Envelope,
  body: Body<unknown, unknown>,
  options: SmtpClient.SendOptions | undefined
): Result.Result<Plan, SmtpError.SmtpErrorReason> => {
  const to = envelope.to
  if (to.length === 0) return invalid("envelope.to", "at least one recipient is needed")
  const typed = bodyType(envelope, ext, body)
  if (Result.isFailure(typed)) return Result.fail(typed.failure)
  const type = typed.success
  const binary = type === "BINARYMIME"
  const analysis = body.analysis
  const size = analysis === undefined ? envelope.size : binary ? body.bytes!.length : analysis.textSize
  if (size !== undefined && ext.size !== undefined && size > ext.size) {
    return Result.fail(new SmtpError.MessageTooLarge({ size, max: ext.size }))
  }
  const recipients: Array<SmtpClient.Recipient> = []
  // SMTPUTF8 (RFC 6531): needed for non-ASCII local parts; asked for when the headers are UTF-8.
  let utf8Local = nonAsciiLocalPart(envelope.from)
  let wantsDsn = envelope.dsn !== undefined
  for (const entry of to) {
    const r = recipientOf(entry)
    recipients.push(r)
    utf8Local ||= nonAsciiLocalPart(r.address)
    wantsDsn ||= r.notify !== undefined || r.orcpt !== undefined
  }
  let smtpUtf8 = envelope.smtpUtf8 === true || utf8Local
  if (smtpUtf8 && !ext.smtpUtf8) {
    return unavailable("SMTPUTF8", "non-ASCII mailbox names need SMTPUTF8, which the server does not announce")
  }
  if (!smtpUtf8 && envelope.smtpUtf8 === undefined && analysis?.eightBitHeaders === true && ext.smtpUtf8) {
    smtpUtf8 = true
  }
  // DSN (RFC 3461).
  if (wantsDsn && !ext.dsn) return unavailable("DSN", "delivery status notifications need DSN (RFC 3461)")
  // REQUIRETLS (RFC 8689 §4.2.1): only over TLS with a verified certificate, and when announced.
  if (envelope.requireTls === true) {
    if (session.wire.tls()?.verified !== true) {
      return unavailable("REQUIRETLS", "REQUIRETLS needs a TLS connection with a verified certificate (RFC 8689 §4.2.1)")
    }
    if (!ext.requireTls) return unavailable("REQUIRETLS", "the server does not announce REQUIRETLS")
  }
  if (options?.transfer === "BDAT" && !ext.chunking) {
    return unavailable("CHUNKING", "BDAT was asked for and the server does not announce CHUNKING")
  }
  const transfer = binary || (ext.chunking && options?.transfer !== "DATA") ? "BDAT" : "DATA"
  const chunkSize = options?.chunkSize ?? Bdat.defaultChunkSize
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) return invalid("options.chunkSize", "must be a positive integer")
  const lmtp = state.protocol === "LMTP"
  // RFC 2033 §4.1: every LMTP server implements PIPELINING.
  const pipelining = (ext.pipelining || lmtp) && options?.pipelining !== false
  const dsn = envelope.dsn
  const reset = state.needsReset
  const commands: Array<SmtpCommand.SmtpCommand> = reset ? [SmtpCommand.rset] : []
  commands.push(SmtpCommand.mail(smtpUtf8 ? envelope.from : asciiDomain(envelope.from), {
    size: size !== undefined && SmtpExtensions.has(ext, "SIZE") ? size : undefined,
    body: type,
    smtpUtf8: smtpUtf8 || undefined,
    ret: dsn?.ret,
    envid: dsn?.envid,
    requireTls: envelope.requireTls === true || undefined
  }))
  for (const r of recipients) {
    commands.push(SmtpCommand.rcpt(smtpUtf8 ? r.address : asciiDomain(r.address), {
      notify: r.notify ?? dsn?.notify,
      orcpt: r.orcpt,
      smtpUtf8: smtpUtf8 || undefined
    }))
  }
  // Every command is validated before anything is written. A pipelined flight is one buffer (and
  // DATA rides at its end); without PIPELINING each command is its own line.
  const first = reset ? 1 : 0
  let encoded: ReadonlyArray<SmtpCommand.Encoded>
  if (pipelining) {
    const all = SmtpCommand.encodeAll(transfer === "DATA" ? [...commands, SmtpCommand.data] : commands)
    if (Result.isFailure(all)) return Result.fail(argument(all.failure, first))
    encoded = [all.success]
  } else {
    const each: Array<SmtpCommand.Encoded> = []
    for (const [i, command] of commands.entries()) {
      const one = SmtpCommand.encodeWithRedaction(command)
      if (Result.isFailure(one)) return Result.fail(argument(one.failure, first, i))
      each.push(one.success)
    }
    encoded = each
  }
  return Result.succeed({
    commands: encoded,
    reset,
    recipients: recipients.map((r) => r.address),
    transfer,
    text: !binary,
    sevenBitOnly: analysis === undefined && type === undefined,
    size,
    pipelining,
    lmtp,
    chunkSize
  })
}

const nonAsciiLocalPart = (address: string): boolean => {
  const at = address.lastIndexOf("@")
  return at > 0 && NON_ASCII.test(address.slice(0, at))
}

const FLIGHT_FIELD = /^commands\[(\d+)\]\.?(.*)$/

// Names the envelope field an encoding failure is about: `envelope` (MAIL), `envelope.to[i]`
// (RCPT), with the codec's field appended (`envelope.envid`, `envelope.to[0].orcpt`).
const argument = (
  error: { readonly field: string; readonly detail: string },
  first: number,
  index?: number
): SmtpError.InvalidArgument => {
  let field = error.field
  let at = index
  const flight = FLIGHT_FIELD.exec(field)
  if (flight !== null) {
    at = Number(flight[1])
    field = flight[2]!
  }
  const position = (at ?? first) - first
  const prefix = position <= 0 ? "envelope" : `envelope.to[${position - 1}]`
  return new SmtpError.InvalidArgument({
    field: field === "to" || field === "from" || field === "" ? prefix : `${prefix}.${field}`,
    detail: error.detail
  })
}

/** A 4yz / 5yz reply as the `Transient` / `Permanent` reason. */
export const refusal = (command: string, reply: SmtpReply.SmtpReply): SmtpError.SmtpErrorReason => {
  const fields = {
    command,
    code: reply.code,
    enhancedCode: enhancedCode(reply),
    untrustedText: SmtpReply.text(reply)
  }
  return reply.code < 500 ? new SmtpError.Transient(fields) : new SmtpError.Permanent(fields)
}

const recipientResult = (address: string, reply: SmtpReply.SmtpReply): SmtpClient.RecipientResult => ({
  address,
  accepted: reply.code >= 200 && reply.code < 300,
  code: reply.code,
  enhancedCode: enhancedCode(reply),
  untrustedText: SmtpReply.text(reply)
})

const toRefusal = (r: SmtpClient.RecipientResult): SmtpError.Refusal => ({
  address: r.address,
  code: r.code,
  enhancedCode: r.enhancedCode,
  untrustedText: r.untrustedText
})

// BDAT chunks written before their replies are read (each up to `chunkSize` octets).
const WINDOW = 4

const END_OF_EMPTY_DATA = Uint8Array.of(0x2e, 0x0d, 0x0a)
const DATA_LINE = Uint8Array.of(0x44, 0x41, 0x54, 0x41, 0x0d, 0x0a)

/** One transaction in progress. */
interface Tx {
  readonly session: Session
  readonly wire: Session["wire"]
  readonly state: State.SmtpState
  readonly plan: Plan
  readonly progress: Progress
  /** Every reply to what was written has been read: the server is between commands. */
  clean: boolean
  /** The end of the message was written: a broken connection now leaves the outcome unknown. */
  awaitingFinal: boolean
  /** LMTP recipients whose delivery was confirmed. */
  readonly delivered: Array<string>
  results: Array<SmtpClient.RecipientResult>
  /** Replies received in a batch and not consumed yet. */
  queue: ReadonlyArray<SmtpReply.SmtpReply>
  head: number
}

const write = (tx: Tx, bytes: ReadonlyArray<Uint8Array>, trace: ReadonlyArray<string>, phase: MailError.Phase) => {
  tx.clean = false
  return tx.wire.write(coalesce(bytes), trace, phase)
}

/**
 * The next `count` replies (pipelined replies usually arrive in one chunk: one wait for all of
 * them). Stops early at a 421: the server is closing the connection (RFC 5321 §3.8), nothing more
 * will come.
 */
const read = (tx: Tx, count: number, phase: MailError.Phase): Effect.Effect<Array<SmtpReply.SmtpReply>, MailError.MailError> => {
  const out: Array<SmtpReply.SmtpReply> = []
  const take = (): Effect.Effect<Array<SmtpReply.SmtpReply>, MailError.MailError> => {
    while (out.length < count && tx.head < tx.queue.length) {
      const reply = tx.queue[tx.head++]!
      out.push(reply)
      if (reply.code === 421) return Effect.succeed(out)
    }
    if (out.length === count) return Effect.succeed(out)
    return Effect.flatMap(tx.wire.nextBatch(phase), (batch) => {
      tx.queue = batch
      tx.head = 0
      return take()
    })
  }
  return Effect.suspend(take)
}

/** A 421 among `replies` (always the last one read): close, and fail naming its command. */
const closing = (tx: Tx, replies: ReadonlyArray<SmtpReply.SmtpReply>, command: (index: number) => string) => {
  const last = replies[replies.length - 1]
  if (last === undefined || last.code !== 421) return undefined
  return Effect.andThen(abandon(tx.session), fail(refusal(command(replies.length - 1), last)))
}

const readOne = (tx: Tx, phase: MailError.Phase, command: string) =>
  Effect.flatMap(read(tx, 1, phase), (replies) => closing(tx, replies, () => command) ?? Effect.succeed(replies[0]!))

/** What the envelope replies say: go on, or the reason the transaction stops. */
const judgeEnvelope = (tx: Tx, mail: SmtpReply.SmtpReply): SmtpError.SmtpErrorReason | undefined => {
  if (mail.code < 200 || mail.code >= 300) return refusal("MAIL", mail)
  tx.state.needsReset = true
  for (const r of tx.results) if (r.accepted) return undefined
  return new SmtpError.NoRecipientAccepted({ refusals: tx.results.map(toRefusal) })
}

/**
 * Writes the pipelined flight (with `extra` after it: the first BDAT chunk) and reads the replies
 * to RSET, MAIL and the RCPTs (plus `also` replies for what DATA / BDAT wrote).
 */
const pipelined = (
  tx: Tx,
  extra: ReadonlyArray<Uint8Array>,
  extraTrace: ReadonlyArray<string>,
  also: number,
  lastCommand: string
) => {
  const p = tx.plan
  const flight = p.commands[0]!
  const offset = p.reset ? 1 : 0
  const count = offset + 1 + p.recipients.length + also
  const label = (i: number) =>
    i < offset ? "RSET" : i === offset ? "MAIL" : i <= offset + p.recipients.length ? "RCPT" : lastCommand
  return Effect.andThen(
    write(tx, [flight.bytes, ...extra], [...flight.trace, ...extraTrace], also > 0 && lastCommand === "BDAT" ? "data" : "command"),
    Effect.flatMap(read(tx, count, "command"), (replies) => {
      const closed = closing(tx, replies, label)
      if (closed !== undefined) return closed
      if (p.reset) tx.state.needsReset = false
      const results: Array<SmtpClient.RecipientResult> = []
      for (let i = 0; i < p.recipients.length; i++) results.push(recipientResult(p.recipients[i]!, replies[offset + 1 + i]!))
      tx.results = results
      return Effect.succeed({ failure: judgeEnvelope(tx, replies[offset]!), rest: replies.slice(offset + 1 + p.recipients.length) })
    })
  )
}

/** Without PIPELINING: one command at a time, stopping at the first decisive refusal. */
const stepwise = Effect.fnUntraced(function*(tx: Tx) {
  const p = tx.plan
  let index = 0
  if (p.reset) {
    const rset = p.commands[index++]!
    yield* write(tx, [rset.bytes], rset.trace, "command")
    yield* readOne(tx, "command", "RSET")
    tx.state.needsReset = false
  }
  const mailCommand = p.commands[index++]!
  yield* write(tx, [mailCommand.bytes], mailCommand.trace, "command")
  const mail = yield* readOne(tx, "command", "MAIL")
  if (mail.code < 200 || mail.code >= 300) {
    tx.clean = true
    return yield* fail(refusal("MAIL", mail))
  }
  tx.state.needsReset = true
  for (const address of p.recipients) {
    const rcpt = p.commands[index++]!
    yield* write(tx, [rcpt.bytes], rcpt.trace, "command")
    tx.results.push(recipientResult(address, yield* readOne(tx, "command", "RCPT")))
  }
  tx.clean = true
  const failure = judgeEnvelope(tx, mail)
  if (failure !== undefined) return yield* fail(failure)
})

/** After the end of the message: one reply (SMTP), or one per accepted recipient (LMTP, RFC 2033 §4.2). */
const readFinal = (tx: Tx): Effect.Effect<SmtpReply.SmtpReply, SmtpError.SmtpError | MailError.MailError> => {
  tx.awaitingFinal = true
  if (!tx.plan.lmtp) {
    return Effect.flatMap(readOne(tx, "data", "message"), (final) => {
      tx.state.needsReset = false
      tx.awaitingFinal = false
      tx.clean = true
      return final.code >= 200 && final.code < 300 ? Effect.succeed(final) : fail(refusal("message", final))
    })
  }
  const accepted: Array<number> = []
  tx.results.forEach((r, i) => r.accepted && accepted.push(i))
  return Effect.flatMap(read(tx, accepted.length, "data"), (replies) => {
    let first: SmtpReply.SmtpReply | undefined
    for (let k = 0; k < replies.length; k++) {
      const reply = replies[k]!
      if (reply.code === 421) {
        // The server is closing: the recipients after this one have no answer.
        return Effect.andThen(
          abandon(tx.session),
          fail(new SmtpError.OutcomeUnknown({ detail: "421 while reporting deliveries", delivered: [...tx.delivered] }))
        )
      }
      const i = accepted[k]!
      const result = recipientResult(tx.results[i]!.address, reply)
      tx.results[i] = result
      if (result.accepted) {
        tx.delivered.push(result.address)
        first ??= reply
      }
    }
    tx.state.needsReset = false
    tx.awaitingFinal = false
    tx.clean = true
    return first === undefined
      ? fail(new SmtpError.NoRecipientAccepted({ refusals: tx.results.map(toRefusal) }))
      : Effect.succeed(first)
  })
}

const result = (tx: Tx, final: SmtpReply.SmtpReply, sent: number): SmtpClient.SendResult => {
  const accepted: Array<string> = []
  const rejected: Array<SmtpClient.RecipientResult> = []
  for (const r of tx.results) {
    if (r.accepted) accepted.push(r.address)
    else rejected.push(r)
  }
  return {
    accepted,
    rejected,
    recipients: tx.results,
    code: final.code,
    enhancedCode: enhancedCode(final),
    untrustedText: SmtpReply.text(final),
    transfer: tx.plan.transfer,
    size: sent
  }
}

// A stream sent without BODY=8BITMIME turned out to be 8-bit: the message must not be completed.
const eightBitInStream = () =>
  fail(
    new SmtpError.ExtensionUnavailable({
      extension: "8BITMIME",
      detail: "the message stream has 8-bit bytes and the server does not announce 8BITMIME (RFC 6152)"
    })
  )

/** DATA: `[RSET] MAIL RCPT… DATA`, 354, the dot-stuffed body, the final reply. */
const viaData = <E, R>(tx: Tx, body: Body<E, R>) =>
  Effect.gen(function*() {
    const p = tx.plan
    let go: SmtpReply.SmtpReply
    if (p.pipelining) {
      const envelope = yield* pipelined(tx, [], [], 1, "DATA")
      go = envelope.rest[0]!
      if (envelope.failure !== undefined) {
        // RFC 2920 §3.1: a DATA accepted after everything else failed gets an empty message.
        if (go.code === 354) {
          yield* write(tx, [END_OF_EMPTY_DATA], ["."], "data")
          yield* readOne(tx, "data", "message")
        }
        tx.clean = true
        return yield* fail(envelope.failure)
      }
    } else {
      yield* stepwise(tx)
      yield* write(tx, [DATA_LINE], ["DATA"], "command")
      go = yield* readOne(tx, "command", "DATA")
    }
    if (go.code !== 354) {
      tx.clean = true
      return yield* fail(refusal("DATA", go))
    }
    let sent = 0
    if (body.bytes !== undefined) {
      const stuffer = DotStuffing.makeStuffer()
      const parts = stuffer.push(body.bytes)
      sent = body.analysis!.textSize
      tx.awaitingFinal = true
      yield* write(tx, [...parts, stuffer.end()], [`<message: ${sent} octets>`, "."], "data")
    } else {
      // Normalised first, so that `sent` counts what the server stores; the stuffer then only
      // sees CRLF line ends.
      const normalizer = Message.makeNormalizer()
      const stuffer = DotStuffing.makeStuffer({ normalizeLineEndings: false })
      const stuff = (parts: ReadonlyArray<Uint8Array>, out: Array<Uint8Array>) => {
        for (const part of parts) {
          sent += part.length
          for (const stuffed of stuffer.push(part)) out.push(stuffed)
        }
      }
      tx.progress.streamStarted = true
      yield* Stream.runForEachArray(body.stream!, (chunks) =>
        Effect.suspend((): Effect.Effect<void, SmtpError.SmtpError | MailError.MailError> => {
          const out: Array<Uint8Array> = []
          for (const chunk of chunks) {
            if (tx.plan.sevenBitOnly && Message.hasEightBit(chunk)) return eightBitInStream()
            stuff(normalizer.push(chunk), out)
          }
          return out.length > 0 ? write(tx, out, [], "data") : Effect.void
        }))
      const out: Array<Uint8Array> = []
      stuff(normalizer.end(), out)
      out.push(stuffer.end())
      tx.awaitingFinal = true
      yield* write(tx, out, [`<message: ${sent} octets>`, "."], "data")
    }
    const final = yield* readFinal(tx)
    return result(tx, final, sent)
  })

const encoder = new TextEncoder()
const BDAT_LAST = (size: number) => encoder.encode(`BDAT ${size} LAST\r\n`)

/**
 * The common case in one flight and one round trip: byte message, PIPELINING, one chunk:
 * `[RSET] MAIL RCPT… BDAT n LAST` and the data in one write.
 */
const oneFlight = (tx: Tx, data: ReadonlyArray<Uint8Array>, size: number) => {
  tx.awaitingFinal = true
  return Effect.flatMap(pipelined(tx, [BDAT_LAST(size), ...data], [`BDAT ${size} LAST`], 0, "BDAT"), (envelope) => {
    if (envelope.failure === undefined) return Effect.map(readFinal(tx), (final) => result(tx, final, size))
    tx.awaitingFinal = false
    // The chunk was refused too (one reply); the server may hold a transaction.
    return Effect.andThen(
      readOne(tx, "data", "BDAT"),
      Effect.suspend(() => {
        tx.clean = true
        return fail(envelope.failure!)
      })
    )
  })
}

/** BDAT: the first chunk rides with the envelope; later chunks are pipelined when allowed. */
const viaBdat = <E, R>(tx: Tx, body: Body<E, R>) =>
  Effect.gen(function*() {
    const p = tx.plan
    const chunker = Bdat.makeChunker({ chunkSize: p.chunkSize })
    let first = true
    let outstanding = 0
    let sent = 0
    let final: SmtpReply.SmtpReply | undefined

    // The reply to one non-LAST chunk; `after` more replies are due for chunks already written.
    const chunkReply = Effect.fnUntraced(function*(after: number) {
      const reply = yield* readOne(tx, "data", "BDAT")
      if (reply.code < 200 || reply.code >= 300) {
        // RFC 3030 §2: no more chunks after a failed one (the server discards those in flight,
        // answering each); the transaction needs RSET.
        if (after > 0) {
          const rest = yield* read(tx, after, "data")
          const closed = closing(tx, rest, () => "BDAT")
          if (closed !== undefined) return yield* closed
        }
        tx.awaitingFinal = false
        tx.clean = true
        return yield* fail(refusal("BDAT", reply))
      }
    })

    const send = Effect.fnUntraced(function*(chunk: Bdat.BdatChunk) {
      const last = chunk.command.last
      sent += chunk.command.size
      // Once LAST is written, a broken connection leaves the outcome unknown.
      if (last) tx.awaitingFinal = true
      if (first) {
        first = false
        if (p.pipelining) {
          const envelope = yield* pipelined(tx, [chunk.header, ...chunk.data], [chunk.trace], 0, "BDAT")
          if (envelope.failure !== undefined) {
            tx.awaitingFinal = false
            // The chunk was refused too (one reply); the server may hold a transaction.
            yield* readOne(tx, "data", "BDAT")
            tx.clean = true
            return yield* fail(envelope.failure)
          }
        } else {
          yield* stepwise(tx)
          yield* write(tx, [chunk.header, ...chunk.data], [chunk.trace], "data")
        }
      } else {
        yield* write(tx, [chunk.header, ...chunk.data], [chunk.trace], "data")
        if (p.pipelining && !last) outstanding++
      }
      if (last) {
        while (outstanding > 0) yield* chunkReply(--outstanding + 1)
        final = yield* readFinal(tx)
      } else if (!p.pipelining || outstanding === 0 || outstanding > WINDOW) {
        // The first chunk is always answered before the next is sent (the envelope's verdict);
        // later ones keep at most WINDOW replies in flight.
        if (outstanding > 0) outstanding--
        yield* chunkReply(outstanding)
      }
    })

    const feed = (parts: ReadonlyArray<Uint8Array>) => {
      const chunks: Array<Bdat.BdatChunk> = []
      for (const part of parts) for (const chunk of chunker.push(part)) chunks.push(chunk)
      return chunks.length === 0 ? Effect.void : Effect.forEach(chunks, send, { discard: true })
    }

    if (body.bytes !== undefined) {
      if (!p.text || body.analysis!.canonical) {
        yield* feed([body.bytes])
      } else {
        const normalizer = Message.makeNormalizer()
        yield* feed([...normalizer.push(body.bytes), ...normalizer.end()])
      }
    } else {
      tx.progress.streamStarted = true
      const normalizer = p.text ? Message.makeNormalizer() : undefined
      yield* Stream.runForEachArray(body.stream!, (chunks) =>
        Effect.suspend((): Effect.Effect<void, SmtpError.SmtpError | MailError.MailError> => {
          const parts: Array<Uint8Array> = []
          for (const chunk of chunks) {
            if (tx.plan.sevenBitOnly && Message.hasEightBit(chunk)) return eightBitInStream()
            if (normalizer === undefined) parts.push(chunk)
            else for (const part of normalizer.push(chunk)) parts.push(part)
          }
          return feed(parts)
        }))
      if (normalizer !== undefined) yield* feed(normalizer.end())
    }
    yield* Effect.forEach(chunker.end(), send, { discard: true })
    return result(tx, final!, sent)
  })

/**
 * Runs one transaction under the session's lock (the caller holds it).
 */
export const run = <E, R>(
  session: Session,
  state: State.SmtpState,
  ext: SmtpExtensions.SmtpExtensions,
  envelope: SmtpClient.Envelope,
  message: SmtpClient.Message<E, R>,
  options: SmtpClient.SendOptions | undefined,
  progress: Progress
): Effect.Effect<SmtpClient.SendResult, SmtpError.SmtpError | MailError.MailError | E, R> =>
  Effect.suspend(() => {
    const body = bodyOf(message)
    const planned = plan(state, session, ext, envelope, body, options)
    if (Result.isFailure(planned)) return fail(planned.failure)
    const tx: Tx = {
      session,
      wire: session.wire,
      state,
      plan: planned.success,
      progress,
      clean: true,
      awaitingFinal: false,
      delivered: [],
      results: [],
      queue: [],
      head: 0
    }
    const p = tx.plan
    const bytes = body.bytes
    let transaction: Effect.Effect<SmtpClient.SendResult, SmtpError.SmtpError | MailError.MailError | E, R>
    if (p.transfer === "DATA") {
      transaction = viaData(tx, body)
    } else if (bytes !== undefined && p.pipelining && bytes.length <= p.chunkSize && (!p.text || body.analysis!.canonical)) {
      transaction = oneFlight(tx, [bytes], bytes.length)
    } else {
      transaction = viaBdat(tx, body)
    }
    return transaction.pipe(
      Effect.flatMap((sent) =>
        // Replies nobody asked for: the server is not in step with us.
        tx.head < tx.queue.length
          ? Effect.andThen(
            abandon(session),
            Effect.fail(MailError.make(new MailError.ProtocolViolation({
              phase: "data",
              detail: `${tx.queue.length - tx.head} reply(ies) without a command`
            })))
          )
          : Effect.succeed(sent)
      ),
      Effect.catch((error) =>
        tx.awaitingFinal && error instanceof MailError.MailError
          ? fail(new SmtpError.OutcomeUnknown({ detail: error.message, delivered: [...tx.delivered], cause: error }))
          : Effect.fail(error)
      ),
      // A transaction that stopped half-way leaves the server in an unknown state: close.
      Effect.onExit(() => (tx.clean ? Effect.void : abandon(session)))
    ) as Effect.Effect<SmtpClient.SendResult, SmtpError.SmtpError | MailError.MailError | E, R>
  })

/** Marks the session closed (every handle becomes stale) and destroys the connection. */
export const abandon = (session: Session): Effect.Effect<void> => Connection.abandon(session)
