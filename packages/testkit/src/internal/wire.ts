/**
 * The server end of one connection, at the level of Node callbacks: records every client chunk,
 * buffers client bytes for line reads, and switches to TLS in place. `ScriptedServer` drives it
 * from Effect code.
 *
 * TLS is a `node:tls` `TLSSocket` in server mode over one end of an internal `duplexPair()`; the
 * wire copies raw client bytes into the other end. Standing in between lets the wire look at every
 * byte before OpenSSL does: bytes that are not TLS records while the server waits for the ClientHello
 * are recorded as plaintext sent before the handshake (ATTACKS.md §3.6 invariant 4).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { X509Certificate } from "node:crypto"
import { duplexPair, type Duplex } from "node:stream"
import * as NodeTls from "node:tls"
import type * as Certificates from "../Certificates.ts"
import type * as Recording from "../Recording.ts"

/** TLS record content type "handshake" (RFC 8446 §5.1): the first byte of a ClientHello. */
const TLS_HANDSHAKE = 0x16

export type HandshakeState =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Done"; readonly handshake: Recording.Handshake }
  | { readonly _tag: "Failed"; readonly code: string | undefined; readonly message: string }

export type LineEvent =
  | { readonly _tag: "Line"; readonly bytes: Uint8Array }
  | { readonly _tag: "TooLong"; readonly bytes: Uint8Array }
  | { readonly _tag: "Closed" }

export interface TlsSetup {
  /** Transcript line of the switch (0 for implicit TLS). */
  readonly line: number
  readonly keyPair: Certificates.KeyPair
  /** Request a client certificate, verified against this CA (the result is recorded, not enforced). */
  readonly clientCa: string | undefined
}

export interface Wire {
  readonly secure: () => boolean
  readonly clientClosed: () => boolean
  readonly handshake: () => HandshakeState
  /** Registers a callback run after every state change; returns its removal. */
  readonly subscribe: (listener: () => void) => () => void
  /** The next complete client line (with its LF), `undefined` while none is there yet. */
  readonly takeLine: (maxLength: number) => LineEvent | undefined
  /** Removes and returns every buffered client byte. */
  readonly takeAll: () => Uint8Array
  /** Writes one chunk; `afterWrite` runs synchronously right after the write call. */
  readonly write: (bytes: Uint8Array, done: () => void, afterWrite?: () => void) => void
  /** Switches the server side to TLS now. */
  readonly startTls: (setup: TlsSetup) => void
  /** Ends the connection gracefully; `done` runs when the raw side has finished (or failed). */
  readonly end: (done: () => void) => void
  /** Destroys everything at once. */
  readonly destroy: () => void
  readonly chunks: () => ReadonlyArray<Recording.Chunk>
  readonly sentBeforeHandshake: () => ReadonlyArray<Uint8Array>
  /**
   * RFC 5705 keying material of the server's TLS session (`undefined` before the handshake is
   * done): `exportKeyingMaterial(32, "EXPORTER-Channel-Binding")` is RFC 9266 `tls-exporter`.
   */
  readonly exportKeyingMaterial: (length: number, label: string) => Uint8Array | undefined
}

const errorCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (parts.length === 1) return parts[0]!
  return Buffer.concat(parts)
}

export const make = (raw: Duplex): Wire => {
  const chunks: Array<Recording.Chunk> = []
  const violations: Array<Uint8Array> = []
  const listeners = new Set<() => void>()
  let buffer: Array<Uint8Array> = []
  let mode: "plain" | "awaitHello" | "tls" = "plain"
  let rawClosed = false
  let tlsClosed = false
  let tls: NodeTls.TLSSocket | undefined
  let feed: Duplex | undefined
  let handshake: HandshakeState = { _tag: "Idle" }

  const notify = () => {
    for (const listener of [...listeners]) listener()
  }
  const record = (phase: Recording.Phase, bytes: Uint8Array) => {
    chunks.push({ phase, bytes: Uint8Array.from(bytes) })
  }

  /**
   * Client bytes on their way to the TLS engine. Until the first byte of a TLS record arrives,
   * everything is plaintext the client should not have sent: it is recorded as a violation.
   * `buffered` bytes arrived before the switch (they were recorded then, and are dropped, as a
   * server that discards pipelined input would); bytes that arrive after the switch go to the TLS
   * engine like on a real server, where they break the handshake.
   */
  const toTls = (bytes: Uint8Array, buffered: boolean) => {
    if (mode !== "awaitHello") {
      feed?.write(bytes)
      return
    }
    const hello = bytes.indexOf(TLS_HANDSHAKE)
    const before = hello === -1 ? bytes : bytes.subarray(0, hello)
    if (before.length > 0) {
      violations.push(Uint8Array.from(before))
      if (!buffered) record("plain", before)
    }
    if (hello !== -1) mode = "tls"
    const forward = buffered ? (hello === -1 ? undefined : bytes.subarray(hello)) : bytes
    if (forward !== undefined) feed?.write(forward)
  }

  const onRawData = (chunk: Buffer) => {
    if (mode === "plain") {
      record("plain", chunk)
      buffer.push(chunk)
      notify()
    } else {
      toTls(chunk, false)
    }
  }
  const onRawClosed = () => {
    if (rawClosed) return
    rawClosed = true
    // The TLS engine sees the EOF after every byte already fed to it.
    feed?.end()
    notify()
  }
  raw.on("data", onRawData)
  raw.on("end", onRawClosed)
  raw.on("close", onRawClosed)
  raw.on("error", onRawClosed)

  const failHandshake = (code: string | undefined, message: string) => {
    if (handshake._tag === "Pending") handshake = { _tag: "Failed", code, message }
  }

  const wire: Wire = {
    secure: () => tls !== undefined,
    clientClosed: () => tls === undefined ? rawClosed : tlsClosed,
    handshake: () => handshake,
    subscribe: (listener) => {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    takeLine: (maxLength) => {
      let length = 0
      for (let i = 0; i < buffer.length; i++) {
        const part = buffer[i]!
        const lf = part.indexOf(0x0a)
        if (lf !== -1) {
          const line = concat([...buffer.slice(0, i), part.subarray(0, lf + 1)])
          const rest = part.subarray(lf + 1)
          buffer = rest.length > 0 ? [rest, ...buffer.slice(i + 1)] : buffer.slice(i + 1)
          return line.length > maxLength ? { _tag: "TooLong", bytes: line } : { _tag: "Line", bytes: line }
        }
        length += part.length
      }
      if (length > maxLength) return { _tag: "TooLong", bytes: concat(buffer) }
      return wire.clientClosed() ? { _tag: "Closed" } : undefined
    },
    takeAll: () => {
      const all = concat(buffer)
      buffer = []
      return all.length === 0 ? new Uint8Array(0) : all
    },
    write: (bytes, done, afterWrite) => {
      const target = tls ?? raw
      if (target.destroyed || target.writableEnded) {
        done()
        afterWrite?.()
        return
      }
      target.write(bytes, () => done())
      afterWrite?.()
    },
    startTls: (setup) => {
      const [inner, outer] = duplexPair()
      feed = outer
      outer.on("data", (chunk: Buffer) => {
        if (raw.destroyed || raw.writableEnded) return
        // Backpressure: the TLS engine's output waits while the raw side is full (a 50 MB reply
        // is not queued in memory in front of a slow reader).
        if (!raw.write(chunk)) {
          outer.pause()
          raw.once("drain", () => outer.resume())
        }
      })
      outer.on("error", () => undefined)
      const socket = new NodeTls.TLSSocket(inner, {
        isServer: true,
        secureContext: NodeTls.createSecureContext({
          cert: setup.keyPair.cert,
          key: setup.keyPair.key,
          ...(setup.clientCa === undefined ? {} : { ca: setup.clientCa })
        }),
        requestCert: setup.clientCa !== undefined,
        rejectUnauthorized: false
      })
      tls = socket
      mode = "awaitHello"
      handshake = { _tag: "Pending" }
      socket.on("secure", () => {
        const peer = setup.clientCa === undefined ? undefined : socket.getPeerX509Certificate()
        // A TLSSocket built by hand (not by tls.Server) never sets `authorized`: check the issuer here.
        const ca = setup.clientCa === undefined ? undefined : new X509Certificate(setup.clientCa)
        handshake = {
          _tag: "Done",
          handshake: {
            line: setup.line,
            protocol: socket.getProtocol() ?? "unknown",
            cipher: socket.getCipher().name,
            clientCertificate: peer === undefined ? undefined : {
              subject: peer.subject,
              issuer: peer.issuer,
              fingerprint256: peer.fingerprint256,
              issuedByCa: ca !== undefined && peer.checkIssued(ca) && peer.verify(ca.publicKey)
            }
          }
        }
        notify()
      })
      socket.on("data", (chunk: Buffer) => {
        record("tls", chunk)
        buffer.push(chunk)
        notify()
      })
      const onTlsClosed = () => {
        tlsClosed = true
        failHandshake("ClosedBeforeHandshake", "the client closed the connection before the handshake completed")
        notify()
      }
      socket.on("end", onTlsClosed)
      socket.on("close", onTlsClosed)
      socket.on("error", (error: Error) => {
        failHandshake(errorCode(error), error.message)
        onTlsClosed()
      })
      // What the client sent before the switch was already recorded as plaintext; whatever it is,
      // it came before the server's go-ahead, so it counts as sent before the handshake.
      const leftover = buffer
      buffer = []
      for (const part of leftover) toTls(part, true)
      if (rawClosed) outer.end()
    },
    end: (done) => {
      let finished = false
      const finish = () => {
        if (finished) return
        finished = true
        done()
      }
      raw.once("finish", finish)
      raw.once("close", finish)
      if (raw.destroyed || raw.writableFinished) return finish()
      if (tls !== undefined && feed !== undefined && !tls.destroyed) {
        // close_notify travels through `feed` first; end the raw side when that stream is done.
        feed.once("end", () => raw.end())
        tls.end()
      } else {
        raw.end()
      }
    },
    destroy: () => {
      tls?.destroy()
      feed?.destroy()
      raw.destroy()
    },
    chunks: () => chunks,
    sentBeforeHandshake: () => violations,
    exportKeyingMaterial: (length, label) =>
      tls === undefined || handshake._tag !== "Done"
        ? undefined
        : new Uint8Array(tls.exportKeyingMaterial(length, label, Buffer.alloc(0)))
  }
  return wire
}

/** Waits until `check` returns a value; re-checked after every change on the wire. */
export const waitFor = <A>(wire: Wire, check: () => A | undefined): Effect.Effect<A> =>
  Effect.callback<A>((resume) => {
    const first = check()
    if (first !== undefined) return resume(Effect.succeed(first))
    const unsubscribe = wire.subscribe(() => {
      const value = check()
      if (value === undefined) return
      unsubscribe()
      resume(Effect.succeed(value))
    })
    return Effect.sync(unsubscribe)
  })

/**
 * A graceful end (close_notify, FIN), then destroy. The fallback timer is real and unref'd so that
 * closing never depends on the effect clock.
 */
export const hangUp = (wire: Wire): void => {
  const fallback = setTimeout(() => wire.destroy(), 1000)
  fallback.unref()
  wire.end(() => {
    clearTimeout(fallback)
    wire.destroy()
  })
}
