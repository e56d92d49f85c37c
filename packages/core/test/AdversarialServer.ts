/**
 * A hostile, fully scripted LINE server (see LineDialect.ts) for the adversarial tests, on the server
 * end of an in-memory `duplexPair()`, with real TLS (`node:tls` `TLSSocket` over the duplex, the
 * testkit's committed certificates).
 *
 * Unlike LineServer it answers every step with raw writes chosen by the test (split into any
 * number of writes, each after its own delay), can stay silent or close at any point, and records
 * every raw byte the client writes, so a test can prove what went over the wire in plaintext (the
 * plaintext prefix must be exactly the negotiation commands, everything after STARTTLS must be TLS
 * records).
 *
 * The transport given to the client destroys only the CLIENT end when its scope closes: the server
 * sees the close the way a real peer would (`ended`).
 */
import * as DuplexTransport from "@starttls/core/DuplexTransport"
import { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type Duplex, duplexPair } from "node:stream"
import * as NodeTls from "node:tls"
import * as LineDialect from "./LineDialect.ts"
import * as LineServer from "./LineServer.ts"

/** Text to bytes (latin1, so that any byte value can be written in a string). */
export const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "latin1"))

/**
 * One write of the server, `delayMs` after the previous one (0: next macrotask). `repeat` makes it
 * endless: every `everyMs` (a slow-loris server), or as fast as the client reads ("flood", with
 * backpressure, so the number of bytes the server managed to write shows how much the client read).
 */
export interface Write {
  readonly bytes: Uint8Array
  readonly delayMs: number
  readonly repeat?: { readonly everyMs: number } | "flood" | undefined
}

/**
 * How the server answers one step: some writes, then stay open or close; or never answer.
 */
export type Reply =
  | { readonly _tag: "Send"; readonly writes: ReadonlyArray<Write>; readonly close: boolean }
  | { readonly _tag: "Silent" }

export const silent: Reply = { _tag: "Silent" }
export const close: Reply = { _tag: "Send", writes: [], close: true }
export const send = (...texts: ReadonlyArray<string | Uint8Array>): Reply => ({
  _tag: "Send",
  writes: texts.map((t) => ({ bytes: typeof t === "string" ? bytes(t) : t, delayMs: 0 })),
  close: false
})
export const delayed = (delayMs: number, text: string): Reply => ({
  _tag: "Send",
  writes: [{ bytes: bytes(text), delayMs }],
  close: false
})
/** Writes `prefix`, then `text` forever, one piece every `everyMs` (a slow-loris server). */
export const trickle = (prefix: string, text: string, everyMs: number): Reply => ({
  _tag: "Send",
  writes: [{ bytes: bytes(prefix), delayMs: 0 }, { bytes: bytes(text), delayMs: 0, repeat: { everyMs } }],
  close: false
})
/** Writes `prefix`, then `text` forever, as fast as the client reads. */
export const flood = (prefix: string, text: string): Reply => ({
  _tag: "Send",
  writes: [{ bytes: bytes(prefix), delayMs: 0 }, { bytes: bytes(text), delayMs: 0, repeat: "flood" }],
  close: false
})

/** What the server does once its STARTTLS reply is written. */
export type AfterStartTls = "tls" | "silent" | "close"

export interface Script {
  /** TLS from the first byte (implicit TLS). */
  readonly implicitTls?: boolean
  /** With implicit TLS: never answer the ClientHello. */
  readonly implicitSilent?: boolean
  readonly greeting: Reply
  /** Answer to CAPA in plaintext. Default `+OK CAPS STARTTLS`. */
  readonly plainCapa?: Reply
  /** Answer to STARTTLS. Default `+OK begin TLS`. */
  readonly startTls?: Reply
  /** Default "tls". */
  readonly afterStartTls?: AfterStartTls
  /** Answer to CAPA over TLS. Default `+OK CAPS AUTH=PLAIN SASL-IR ECHO`. */
  readonly tlsCapa?: Reply
  /** Answer to the AUTH exchange's last client line (PLAIN without SASL-IR gets an empty challenge first). */
  readonly auth?: Reply
  /** Answer to `ECHO x` (default `+OK x`, immediately). */
  readonly echo?: (argument: string) => Reply
  readonly cert?: { readonly cert: string; readonly key: string }
  /** Answer to the client's first bytes, whatever they are (a plaintext server meeting a ClientHello). */
  readonly onFirstBytes?: Reply
}

export type Event =
  | "connected"
  | "greeted"
  | "capa"
  | "starttls"
  | "clientHello"
  | "secure"
  | "tlsCapa"
  | "auth"
  | "echo"
  | "ended"

export interface Recording {
  /** Every raw byte the client wrote, in order, as received (TLS records included). */
  readonly raw: Array<Uint8Array>
  /** Offset in the raw stream right after the client's STARTTLS line, once received. */
  startTlsEnd: number | undefined
  /** Lines received in plaintext. */
  readonly plainLines: Array<string>
  /** Lines received over TLS (decrypted). */
  readonly tlsLines: Array<string>
  /** Every raw data event, with its length: to check that commands are never interleaved. */
  readonly plainChunks: Array<string>
  readonly events: Array<Event>
  /** SNI the client sent (false when it sent none). */
  servername: string | false | undefined
  tlsError: string | undefined
  ended: boolean
  /** Total bytes the server wrote. */
  written: number
  readonly listeners: Array<(event: Event) => void>
}

export const newRecording = (): Recording => ({
  raw: [],
  startTlsEnd: undefined,
  plainLines: [],
  tlsLines: [],
  plainChunks: [],
  events: [],
  servername: undefined,
  tlsError: undefined,
  ended: false,
  written: 0,
  listeners: []
})

const emit = (rec: Recording, event: Event) => {
  rec.events.push(event)
  for (const listener of [...rec.listeners]) listener(event)
}

/** Waits until the server has seen `event` (at once if it already has). */
export const awaitEvent = (rec: Recording, event: Event): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (rec.events.includes(event)) return resume(Effect.void)
    const listener = (e: Event) => {
      if (e !== event) return
      rec.listeners.splice(rec.listeners.indexOf(listener), 1)
      resume(Effect.void)
    }
    rec.listeners.push(listener)
    return Effect.sync(() => {
      const index = rec.listeners.indexOf(listener)
      if (index >= 0) rec.listeners.splice(index, 1)
    })
  })

/** All raw client bytes. */
export const rawBytes = (rec: Recording): Uint8Array => Buffer.concat(rec.raw)

/** Raw client bytes after the STARTTLS line (empty when STARTTLS was never sent). */
export const afterStartTls = (rec: Recording): Uint8Array =>
  rec.startTlsEnd === undefined ? new Uint8Array(0) : rawBytes(rec).subarray(rec.startTlsEnd)

/** Raw client bytes before (and including) the STARTTLS line, as text. */
export const plaintextPrefix = (rec: Recording): string =>
  Buffer.from(rawBytes(rec).subarray(0, rec.startTlsEnd)).toString("latin1")

/**
 * Whether `data` is a sequence of TLS records (content type 20-23, major version 3), the last one
 * possibly cut short. Plaintext (a command, a credential) is never such a sequence: its first byte is
 * printable.
 */
export const isTlsRecords = (data: Uint8Array): boolean => {
  let at = 0
  while (at < data.length) {
    const type = data[at]!
    if (type < 20 || type > 23) return false
    if (at + 1 < data.length && data[at + 1] !== 3) return false
    if (at + 2 < data.length && data[at + 2]! > 4) return false
    if (at + 5 > data.length) return true
    const length = (data[at + 3]! << 8) | data[at + 4]!
    if (length > 16384 + 2048) return false
    at += 5 + length
  }
  return true
}

const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64")

/** The credentials every adversarial test uses, and every form in which they could leak. */
export const secret = { username: "alice", password: "s3cret-Pw!" }
export const secretForms: ReadonlyArray<string> = [
  secret.password,
  b64(`\0${secret.username}\0${secret.password}`),
  b64(secret.password)
]

/** Whether the text contains the password in any form. */
export const leaks = (text: string): boolean => secretForms.some((form) => text.includes(form))

/**
 * Serves one connection on `raw` following `script`. Returns a function that stops its timers.
 */
export const serve = (script: Script, rec: Recording, raw: Duplex): () => void => {
  const cert = script.cert ?? LineServer.certs.localhost
  const timers = new Set<ReturnType<typeof setTimeout>>()
  let socket: Duplex = raw
  let phase: "plain" | "tls" = "plain"
  let buffer = ""
  let stopped = false
  let rawOffset = 0

  const stop = () => {
    for (const timer of timers) clearTimeout(timer)
    timers.clear()
  }
  const later = (ms: number, f: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer)
      f()
    }, ms)
    timers.add(timer)
  }
  const writable = () => !socket.destroyed && !socket.writableEnded
  const writeRaw = (target: Duplex, data: Uint8Array) => {
    if (target.destroyed || target.writableEnded) return
    rec.written += data.length
    target.write(Buffer.from(data))
  }

  /** Plays `reply` on the current socket, then calls `then` (unless silent or closed). */
  const play = (reply: Reply, then?: () => void) => {
    if (reply._tag === "Silent") return
    const target = socket
    const step = (i: number) => {
      if (i < reply.writes.length) {
        const write = reply.writes[i]!
        const repeat = write.repeat
        if (repeat === "flood") {
          const chunk = Buffer.from(write.bytes)
          const pump = () => {
            while (!target.destroyed && !target.writableEnded && !rec.ended) {
              rec.written += chunk.length
              // Like a network peer: the next write waits for a macrotask after the drain.
              if (!target.write(chunk)) return void target.once("drain", () => later(0, pump))
            }
          }
          return later(write.delayMs, pump)
        }
        if (repeat !== undefined) {
          const tick = () => {
            if (target.destroyed || target.writableEnded || rec.ended) return
            writeRaw(target, write.bytes)
            later(repeat.everyMs, tick)
          }
          return later(write.delayMs, tick)
        }
        return later(write.delayMs, () => {
          writeRaw(target, write.bytes)
          step(i + 1)
        })
      }
      if (reply.close) {
        if (!target.destroyed) target.destroy()
        if (!raw.destroyed) raw.destroy()
        return
      }
      then?.()
    }
    step(0)
  }

  const goTls = (onSecure: () => void) => {
    const tls = new NodeTls.TLSSocket(raw, { isServer: true, cert: cert.cert, key: cert.key })
    tls.on("secure", () => {
      const name = (tls as NodeTls.TLSSocket & { servername?: string | false }).servername
      rec.servername = name ?? false
      phase = "tls"
      socket = tls
      buffer = ""
      stopped = false
      emit(rec, "secure")
      tls.on("data", onTlsData)
      onSecure()
    })
    tls.on("error", (e: Error & { code?: string }) => {
      rec.tlsError = e.code ?? e.message
      tls.destroy()
    })
  }

  let authPending = false
  const handle = (line: string) => {
    const [verb = "", ...rest] = line.split(" ")
    const argument = rest.join(" ")
    if (phase === "tls" && authPending) {
      authPending = false
      return play(script.auth ?? send("+OK [CAPS ECHO AUTHED] welcome\r\n"))
    }
    switch (verb.toUpperCase()) {
      case "CAPA":
        if (phase === "plain") {
          emit(rec, "capa")
          return play(script.plainCapa ?? send("+OK CAPS STARTTLS\r\n"))
        }
        emit(rec, "tlsCapa")
        return play(script.tlsCapa ?? send("+OK CAPS AUTH=PLAIN SASL-IR ECHO\r\n"))
      case "STARTTLS": {
        if (phase === "tls") return play(send("-ERR already TLS\r\n"))
        emit(rec, "starttls")
        stopped = true
        // Whatever the client sends from now on stays in `raw` (recorded) for the TLS engine.
        raw.pause()
        const reply = script.startTls ?? send("+OK begin TLS\r\n")
        const after = script.afterStartTls ?? "tls"
        // A paused stream never reports its end: a silent server keeps reading (and recording).
        if (reply._tag === "Silent") raw.resume()
        return play(reply, () => {
          if (after === "close") {
            raw.destroy()
          } else if (after === "tls") {
            goTls(() => undefined)
          } else {
            raw.resume()
          }
        })
      }
      case "AUTH": {
        emit(rec, "auth")
        if (phase === "plain") return play(send("-ERR no\r\n"))
        if (rest.length < 2) {
          authPending = true
          return play(send("+ \r\n"))
        }
        return play(script.auth ?? send("+OK [CAPS ECHO AUTHED] welcome\r\n"))
      }
      case "ECHO":
        emit(rec, "echo")
        return play(script.echo?.(argument) ?? send(`+OK ${argument}\r\n`))
      case "QUIT":
        play(send("+OK bye\r\n"))
        if (writable()) socket.end()
        return
      default:
        return play(send("-ERR unknown command\r\n"))
    }
  }

  const lines = (text: string, into: Array<string>) => {
    buffer += text
    let index: number
    while (!stopped && (index = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, index)
      buffer = buffer.slice(index + 2)
      into.push(line)
      if (phase === "plain" && line.toUpperCase() === "STARTTLS") {
        rec.startTlsEnd = rawOffset - Buffer.byteLength(buffer, "latin1")
      }
      handle(line)
    }
  }

  const onRawData = (chunk: Buffer) => {
    rec.raw.push(new Uint8Array(chunk))
    rawOffset += chunk.length
    if ((rec.startTlsEnd !== undefined || script.implicitTls === true) && !rec.events.includes("clientHello")) {
      emit(rec, "clientHello")
    }
    if (script.onFirstBytes !== undefined && rec.raw.length === 1) return play(script.onFirstBytes)
    if (phase === "plain" && !stopped) {
      rec.plainChunks.push(chunk.toString("latin1"))
      lines(chunk.toString("latin1"), rec.plainLines)
    }
  }
  const onTlsData = (chunk: Buffer) => lines(chunk.toString("latin1"), rec.tlsLines)

  const onEnd = () => {
    if (rec.ended) return
    rec.ended = true
    stop()
    emit(rec, "ended")
    socket.destroy()
    raw.destroy()
  }
  raw.on("end", onEnd)
  raw.on("close", onEnd)
  // The peer's close (end of stream) is seen even while the server is not reading (paused for TLS).
  const push = raw.push.bind(raw)
  raw.push = (chunk: unknown, encoding?: BufferEncoding) => {
    const accepted = push(chunk, encoding)
    if (chunk === null) onEnd()
    return accepted
  }
  raw.on("error", () => undefined)
  emit(rec, "connected")

  if (script.implicitTls === true) {
    // The client's bytes are TLS records from the first one: recorded, never read as command lines
    // (a ClientHello's random bytes can hold a CRLF, and an answer to that "line" would break the
    // handshake). Line handling starts once TLS is up (`secure` clears `stopped`).
    stopped = true
    if (script.implicitSilent === true) {
      raw.on("data", onRawData)
      return stop
    }
    // Record raw bytes too: attach before the TLS socket resumes the stream.
    raw.pause()
    goTls(() => play(script.greeting, () => emit(rec, "greeted")))
    raw.on("data", onRawData)
    return stop
  }
  raw.on("data", onRawData)
  play(script.greeting, () => emit(rec, "greeted"))
  return stop
}

/**
 * The transport the adversarial tests give the client: one in-memory pair per connect, the server
 * end served by `script`. Closing the client's scope destroys the client end only.
 */
export const layer = (script: Script, rec: Recording): Layer.Layer<Transport> =>
  Layer.succeed(
    Transport,
    Transport.of({
      connect: () =>
        Effect.gen(function*() {
          const [client, server] = duplexPair()
          client.on("error", () => undefined)
          const stop = serve(script, rec, server)
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              client.destroy()
              // The server stops when it sees the close; should it never see it, its timers die anyway.
              setTimeout(stop, 2_000).unref()
            })
          )
          return yield* DuplexTransport.make(client)
        })
    })
  )

/** What a connection needs from the test. */
export type TransportNeeds = Transport | Scope.Scope

/** A transport whose connect never completes (a black-holed SYN). */
export const hangingLayer: Layer.Layer<Transport> = Layer.succeed(
  Transport,
  Transport.of({ connect: () => Effect.never })
)

/** Polls until the server saw the connection end, at most `ms`. */
export const awaitEnded = (rec: Recording, ms = 2_000): Effect.Effect<boolean> =>
  awaitEvent(rec, "ended").pipe(
    Effect.timeoutOption(ms),
    Effect.map(() => rec.ended)
  )

/** LINE, but with the capability query before STARTTLS (the SMTP shape: EHLO first). */
export const capsFirst = { ...LineDialect.dialect, capabilitiesBeforeStartTls: true }

export const options = { host: "localhost", port: 9143, tls: { trustOnly: [LineServer.certs.ca] } }
