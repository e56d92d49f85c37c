/**
 * A `TransportConnection` over any Node `Duplex`: a TCP socket (`NodeTransport`) or one end of an
 * in-memory pair (the testkit's `MemoryTransport`). Reads and writes go through effect's
 * `NodeSocket.fromDuplex` (pull-based, with backpressure); the in-place TLS upgrade is done here with
 * `node:tls` over the same duplex, because effect's `Reader.upgrade` takes no minimum TLS version,
 * no pin check and exposes no keying material for channel binding.
 *
 * The upgrade detaches the plaintext reader first (it holds no bytes: effect's reader only reads
 * while a pull waits), then hands the raw duplex to `tls.connect`, which feeds whatever the peer sent
 * meanwhile to OpenSSL as TLS records: plaintext injected after a STARTTLS reply breaks the handshake
 * (`TlsFailure` `NotTls`) and never reaches the protocol parser.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import { createHash, X509Certificate } from "node:crypto"
import { isIP } from "node:net"
import type { Duplex } from "node:stream"
import * as NodeTls from "node:tls"
import * as MailError from "./MailError.ts"
import type * as Tls from "./Tls.ts"
import { IoError, type TransportConnection } from "./Transport.ts"

interface Io {
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array>, IoError>
  readonly write: (chunks: ReadonlyArray<Uint8Array>) => Effect.Effect<void, IoError>
}

const toIoError = (operation: "read" | "write") => (error: Socket.SocketError): IoError => {
  const reason = error.reason
  if (reason._tag === "SocketCloseError") return new IoError({ operation: "closed", code: String(reason.code) })
  const cause = "cause" in reason ? reason.cause : undefined
  return new IoError({ operation, code: errorCode(cause), cause })
}

const errorCode = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined

// The reader lives in `readerScope` (closed at the upgrade, which detaches it from the plaintext
// duplex). The writer lives in the connection's scope: releasing it ends the stream, which must not
// happen at the upgrade (once the reader is gone it no longer has a stream to end). A TLS socket
// is never upgraded: it is read in flowing mode (`flowing`), a plaintext duplex pull by pull.
const attach = (duplex: Duplex, readerScope: Scope.Scope, connectionScope: Scope.Scope) =>
  duplex instanceof NodeTls.TLSSocket ? flowing(duplex, readerScope, connectionScope) : pulled(duplex, readerScope, connectionScope)

// Plaintext: effect's reader reads only while a pull waits, so at the upgrade every byte it did not
// hand over is still in the socket, and goes to OpenSSL (see the module header).
const pulled = Effect.fnUntraced(function*(duplex: Duplex, readerScope: Scope.Scope, connectionScope: Scope.Scope) {
  // S8: at most 16 chunks per pull, so what is held before a parser limit can fire is bounded
  // (effect's default, 4096 chunks, lets a fast local peer hand over 16 MiB in one pull).
  const socket = yield* NodeSocket.fromDuplex(Effect.succeed(duplex), { chunkSize: 16 })
  const reader = yield* Scope.provide(socket.reader, readerScope).pipe(Effect.mapError(toIoError("read")))
  const writer = yield* Scope.provide(socket.writer, connectionScope)
  const io: Io = {
    pull: Effect.mapError(
      Effect.map(reader.pull, bytesOnly),
      toIoError("read")
    ),
    write: (chunks) =>
      chunks.length === 0
        ? Effect.void
        : Effect.mapError(
          writer.writeAll(chunks as readonly [Uint8Array, ...Array<Uint8Array>]),
          toIoError("write")
        )
  }
  return io
})

/** Chunks a pull may take at once (S8: what is held before a parser limit can fire is bounded). */
const CHUNKS_PER_PULL = 16

const closed = (code: string) => new IoError({ operation: "closed", code })

/**
 * Over TLS (decrypted data, no upgrade to come): 'data' events straight into an array that the
 * next pull takes whole. Unlike a pull-driven `read()`, which concatenates what Node buffered (a
 * copy of the bytes, and a bigger allocation, per pull), each decrypted read is handed over as
 * Node made it, and no tick is scheduled per read. Backpressure: the socket is paused while
 * `CHUNKS_PER_PULL` chunks wait. Errors are those of the pull reader: a read error (its bytes not
 * delivered), or, after the bytes, the close (`closed` "1000", "1006" after an error).
 */
const flowing = Effect.fnUntraced(function*(
  socket: NodeTls.TLSSocket,
  readerScope: Scope.Scope,
  connectionScope: Scope.Scope
) {
  let chunks: Array<Uint8Array> = []
  let failure: IoError | undefined
  let ended: IoError | undefined
  let waiter: ((result: Effect.Effect<ReadonlyArray<Uint8Array>, IoError>) => void) | undefined
  const deliver = () => {
    const resume = waiter
    if (resume === undefined) return
    let result: Effect.Effect<ReadonlyArray<Uint8Array>, IoError>
    if (failure !== undefined) result = Effect.fail(failure)
    else if (chunks.length > 0) {
      result = Effect.succeed(chunks)
      chunks = []
      if (socket.isPaused()) socket.resume()
    } else if (ended !== undefined) result = Effect.fail(ended)
    else return
    waiter = undefined
    resume(result)
  }
  // Delivery per loop turn: Node decrypts each TLS record into a read of its own, one 'data' event
  // each, so a bulk transfer would wake the puller (an Effect resumption, and its garbage) once per
  // record. The first read of a turn goes at once (a lone reply keeps its latency); once a turn has
  // brought several, the following turns' reads go together at the end of the turn (setImmediate,
  // after the poll phase), until a turn brings one read again.
  let reads = 0
  let batching = false
  let turnEnding = false
  const endTurn = () => {
    turnEnding = false
    batching = reads > 1
    reads = 0
    deliver()
  }
  const onData = (chunk: Buffer) => {
    chunks.push(chunk)
    reads++
    if (!turnEnding) {
      turnEnding = true
      setImmediate(endTurn)
    }
    if (chunks.length >= CHUNKS_PER_PULL) {
      socket.pause()
      deliver()
    } else if (!batching && reads === 1) deliver()
  }
  const onEnd = () => {
    ended ??= closed("1000")
    deliver()
  }
  const onError = (cause: unknown) => {
    failure ??= new IoError({ operation: "read", code: errorCode(cause), cause })
    chunks = []
    deliver()
  }
  const onClose = (hadError: boolean) => {
    if (hadError) failure ??= closed("1006")
    else ended ??= closed("1000")
    deliver()
  }
  const detach = () => {
    socket.off("data", onData)
    socket.off("end", onEnd)
    socket.off("error", onError)
    socket.off("close", onClose)
  }
  socket.on("end", onEnd)
  socket.on("error", onError)
  socket.on("close", onClose)
  socket.on("data", onData)
  // The handshake left the socket paused: a 'data' listener alone does not start the flow.
  socket.resume()
  yield* Scope.addFinalizer(
    readerScope,
    Effect.sync(() => {
      detach()
      socket.pause()
      failure ??= closed("1006")
      chunks = []
      deliver()
    })
  )
  yield* Scope.addFinalizer(
    connectionScope,
    Effect.sync(() => {
      if (!socket.writableEnded) socket.end()
    })
  )
  // One pull waits at a time, and an interrupted pull is cancelled before it could be resumed:
  // the cancellation forgets the waiter (built once, not per pull).
  const cancel = Effect.sync(() => {
    waiter = undefined
  })
  const pull: Effect.Effect<ReadonlyArray<Uint8Array>, IoError> = Effect.callback((resume) => {
    waiter = resume
    deliver()
    return waiter === resume ? cancel : undefined
  })
  const io: Io = {
    pull,
    write: (data) =>
      data.length === 0 ? Effect.void : Effect.suspend(() => {
        // A closed socket never drains: fail now instead of waiting for it.
        if (socket.destroyed || socket.writableEnded) {
          return Effect.fail(new IoError({ operation: "write", cause: new Error("socket closed") }))
        }
        let needsDrain = false
        socket.cork()
        for (const chunk of data) needsDrain = !socket.write(chunk) || needsDrain
        socket.uncork()
        return needsDrain ? awaitDrain(socket) : Effect.void
      })
  }
  return io
})

const awaitDrain = (socket: Duplex) =>
  Effect.callback<void, IoError>((resume) => {
    const cleanup = () => {
      socket.off("drain", onDrain)
      socket.off("error", onError)
      socket.off("close", onClose)
    }
    const onDrain = () => {
      cleanup()
      resume(Effect.void)
    }
    const onError = (cause: unknown) => {
      cleanup()
      resume(Effect.fail(new IoError({ operation: "write", code: errorCode(cause), cause })))
    }
    const onClose = () => {
      cleanup()
      resume(Effect.fail(new IoError({ operation: "write", cause: new Error("socket closed") })))
    }
    socket.on("drain", onDrain)
    socket.on("error", onError)
    socket.on("close", onClose)
    return Effect.sync(cleanup)
  })

// TCP only yields bytes; a string frame cannot occur on a Duplex of Buffers. The batch is passed
// on as it is unless one does (no array per read).
const bytesOnly = (batch: ReadonlyArray<Uint8Array | string>): ReadonlyArray<Uint8Array> => {
  for (let i = 0; i < batch.length; i++) {
    if (typeof batch[i] === "string") return batch.filter((x): x is Uint8Array => typeof x !== "string")
  }
  return batch as ReadonlyArray<Uint8Array>
}

/**
 * Turns an `IoError` into a `MailError` for the phase the caller was in.
 *
 * @category errors
 * @since 0.1.0
 */
export const ioFailure = (phase: MailError.Phase) => (error: IoError): MailError.MailError =>
  MailError.make(
    new MailError.TransportFailure({
      phase,
      operation: error.operation,
      code: error.code,
      cause: error.cause
    })
  )

const CERT_UNTRUSTED = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_REJECTED",
  "CERT_REVOKED",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED"
])
const CERT_TIME = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"])
const NOT_TLS = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_HTTP_REQUEST",
  "ERR_SSL_HTTPS_PROXY_REQUEST",
  "ERR_SSL_RECORD_LENGTH_MISMATCH",
  "ERR_SSL_UNEXPECTED_RECORD"
])
const VERSION = new Set([
  "ERR_SSL_UNSUPPORTED_PROTOCOL",
  "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
  "ERR_SSL_NO_PROTOCOLS_AVAILABLE"
])
const PIN_MISMATCH = "ERR_STARTTLS_PIN_MISMATCH"

/**
 * Classifies a Node/OpenSSL handshake error.
 *
 * @category errors
 * @since 0.1.0
 */
export const classifyTlsError = (cause: unknown): MailError.TlsFailureKind => {
  const code = errorCode(cause)
  if (code === undefined) return "Handshake"
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") return "HostnameMismatch"
  if (code === PIN_MISMATCH) return "PinMismatch"
  if (CERT_TIME.has(code)) return "CertificateExpired"
  if (CERT_UNTRUSTED.has(code)) return "CertificateUntrusted"
  if (NOT_TLS.has(code)) return "NotTls"
  if (VERSION.has(code)) return "ProtocolVersion"
  return "Handshake"
}

/**
 * Base64 SHA-256 of a DER certificate's SubjectPublicKeyInfo (the `pin-sha256` form).
 *
 * @category constructors
 * @since 0.1.0
 */
export const spkiSha256 = (der: Uint8Array): string => {
  const spki = new X509Certificate(der).publicKey.export({ type: "spki", format: "der" })
  return createHash("sha256").update(spki).digest("base64")
}

const trustAnchors = (params: Tls.TlsParams): ReadonlyArray<string> | undefined => {
  if (params.trustOnly !== undefined) return params.trustOnly
  if (params.extraCa !== undefined && params.extraCa.length > 0) return [...NodeTls.rootCertificates, ...params.extraCa]
  return undefined
}

const tlsOptions = (socket: Duplex, params: Tls.TlsParams): NodeTls.ConnectionOptions => {
  const pins = params.pinnedSha256
  const ca = trustAnchors(params)
  const client = params.clientCertificate
  return {
    socket,
    // The name verified is the configured host; SNI only for names (RFC 6066 §3 forbids IP literals).
    host: params.host,
    ...(isIP(params.host) === 0 ? { servername: params.host } : {}),
    minVersion: params.minVersion ?? "TLSv1.2",
    rejectUnauthorized: params.dangerouslyAcceptInvalidCertificates !== true,
    ...(ca === undefined ? {} : { ca: [...ca] }),
    ...(client === undefined ? {} : {
      cert: client.cert,
      key: Redacted.value(client.key),
      ...(client.passphrase === undefined ? {} : { passphrase: Redacted.value(client.passphrase) })
    }),
    checkServerIdentity: (host, cert) => {
      const identity = NodeTls.checkServerIdentity(host, cert)
      if (identity !== undefined) return identity
      if (pins !== undefined && pins.length > 0 && !pins.includes(spkiSha256(cert.raw))) {
        return Object.assign(new Error("certificate does not match any pinned key"), { code: PIN_MISMATCH })
      }
      return undefined
    }
  }
}

// The peer's SPKI hash is computed when first asked for (parsing the certificate again costs about
// a millisecond per connection, and most sessions never ask).
const sessionOf = (socket: NodeTls.TLSSocket, params: Tls.TlsParams): Tls.TlsSession => {
  const protocol = socket.getProtocol() ?? "unknown"
  const peer = socket.getPeerCertificate()
  const raw = peer !== null && typeof peer === "object" && "raw" in peer ? peer.raw : undefined
  let spki: string | undefined
  const peerSpki = (): string | undefined => {
    if (spki === undefined && raw !== undefined) spki = spkiSha256(raw)
    return spki
  }
  return {
    protocol,
    cipher: socket.getCipher().standardName,
    verified: socket.authorized && params.dangerouslyAcceptInvalidCertificates !== true,
    get peerSpkiSha256() {
      return peerSpki()
    },
    channelBinding: protocol === "TLSv1.3"
      // RFC 8446 §7.5: in TLS 1.3 an empty context is the same as no context (RFC 9266 asks for none).
      ? new Uint8Array(socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)))
      : undefined
  }
}

const handshake = (raw: Duplex, params: Tls.TlsParams) =>
  Effect.callback<{ readonly socket: NodeTls.TLSSocket; readonly session: Tls.TlsSession }, MailError.MailError>(
    (resume) => {
      const fail = (cause: unknown) =>
        MailError.make(
          new MailError.TlsFailure({
            kind: classifyTlsError(cause),
            code: errorCode(cause),
            host: params.host,
            cause
          })
        )
      let settled = false
      let socket: NodeTls.TLSSocket | undefined
      const cleanup = () => {
        socket?.off("error", onError)
        socket?.off("close", onClose)
      }
      // Passed to tls.connect itself, so it is registered before the handshake can start: over an
      // in-memory duplex the whole handshake may complete inside the connect call.
      const onSecure = (established: NodeTls.TLSSocket) => {
        if (settled) return
        settled = true
        socket = established
        cleanup()
        resume(Effect.succeed({ socket: established, session: sessionOf(established, params) }))
      }
      const onError = (cause: unknown) => {
        if (settled) return
        settled = true
        cleanup()
        socket?.destroy()
        resume(Effect.fail(fail(cause)))
      }
      const onClose = () =>
        onError(Object.assign(new Error("connection closed during the TLS handshake"), { code: "ECONNRESET" }))
      try {
        socket = NodeTls.connect(tlsOptions(raw, params), function(this: NodeTls.TLSSocket) {
          onSecure(this)
        })
      } catch (cause) {
        onError(cause)
        return
      }
      socket.pause()
      if (settled) return
      socket.once("error", onError)
      socket.once("close", onClose)
      return Effect.sync(() => {
        cleanup()
        socket?.destroy()
      })
    }
  )

/**
 * Builds a connection over an open duplex. The duplex belongs to the caller's scope (the caller
 * registers its destruction); the TLS layer created by `upgrade` is destroyed with the scope too.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.fnUntraced(function*(raw: Duplex) {
  const scope = yield* Effect.scope
  let ioScope = yield* Scope.fork(scope)
  // The plaintext reader and writer are attached on first use: a connection that starts TLS
  // straight away (implicit TLS) never has a plaintext reader on its socket, and hands the socket
  // to OpenSSL exactly as it was opened.
  let io: Io | undefined
  const plaintext: Effect.Effect<Io, IoError> = Effect.suspend(() =>
    io !== undefined ? Effect.succeed(io) : Effect.map(attach(raw, ioScope, scope), (attached) => (io = attached))
  )
  let tls: { readonly socket: NodeTls.TLSSocket; readonly session: Tls.TlsSession } | undefined
  let upgraded = false

  const upgrade = (params: Tls.TlsParams): Effect.Effect<Tls.TlsSession, MailError.MailError> =>
    Effect.gen(function*() {
      if (upgraded) {
        return yield* MailError.make(
          new MailError.ProtocolViolation({ phase: "handshake", detail: "the connection is already TLS" })
        )
      }
      upgraded = true
      // Detach the plaintext reader: from here on no plaintext byte is read by anyone but OpenSSL.
      yield* Scope.close(ioScope, Exit.void)
      io = { pull: Effect.fail(new IoError({ operation: "closed" })), write: () => Effect.fail(new IoError({ operation: "closed" })) }
      const established = yield* handshake(raw, params)
      yield* Scope.addFinalizer(scope, Effect.sync(() => established.socket.destroy()))
      tls = established
      ioScope = yield* Scope.fork(scope)
      io = yield* attach(established.socket, ioScope, scope).pipe(Effect.mapError(ioFailure("handshake")))
      return established.session
    })

  const connection: TransportConnection = {
    pull: Effect.suspend(() => io !== undefined ? io.pull : Effect.flatMap(plaintext, (attached) => attached.pull)),
    write: (chunks) =>
      chunks.length === 0
        ? Effect.void
        : Effect.suspend(() =>
          io !== undefined ? io.write(chunks) : Effect.flatMap(plaintext, (attached) => attached.write(chunks))
        ),
    upgrade,
    tls: () => tls?.session,
    destroy: Effect.sync(() => {
      tls?.socket.destroy()
      raw.destroy()
    })
  }
  return connection
})
