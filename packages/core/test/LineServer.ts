/**
 * A configurable LINE server (see LineDialect.ts) over any Duplex, with real TLS from the testkit's
 * committed certificates. It records every client byte with the phase it arrived in.
 */
import * as Effect from "effect/Effect"
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { Duplex } from "node:stream"
import * as NodeTls from "node:tls"
import * as Zlib from "node:zlib"

const certDir = join(import.meta.dirname, "..", "..", "testkit", "fixtures", "certs")
const pem = (name: string) => readFileSync(join(certDir, name), "utf8")

export const certs = {
  ca: pem("ca.crt"),
  localhost: { cert: pem("localhost.crt"), key: pem("localhost.key") },
  selfSigned: { cert: pem("self-signed.crt"), key: pem("self-signed.key") },
  wrongName: { cert: pem("wrong-name.crt"), key: pem("wrong-name.key") },
  expired: { cert: pem("expired.crt"), key: pem("expired.key") },
  client: { cert: pem("client.crt"), key: pem("client.key") }
}

export type CertName = "localhost" | "selfSigned" | "wrongName" | "expired"

const serverTlsOptions = (cert: { readonly cert: string; readonly key: string }, requireClientCert: boolean) => ({
  isServer: true,
  cert: cert.cert,
  key: cert.key,
  ...(requireClientCert ? { requestCert: true, rejectUnauthorized: true, ca: [certs.ca] } : {})
})

export interface Config {
  readonly greeting?: string
  readonly plainCaps?: ReadonlyArray<string>
  readonly tlsCaps?: ReadonlyArray<string>
  /** Reply to STARTTLS. Default "+OK begin TLS". */
  readonly startTlsReply?: string
  /** Bytes written in the SAME write as the STARTTLS reply. */
  readonly injectSameWrite?: Uint8Array
  /** Bytes written in a later write (after `injectDelayMs`), before the server starts TLS. */
  readonly injectLater?: Uint8Array
  readonly injectDelayMs?: number
  /** Raw writes answering STARTTLS (each its own write, a macrotask apart), then TLS starts. */
  readonly startTlsWrites?: ReadonlyArray<Uint8Array>
  /** Delay before answering STARTTLS. */
  readonly startTlsDelayMs?: number
  /** Whether to start TLS after a positive STARTTLS reply. Default true. */
  readonly startTls?: boolean
  readonly cert?: CertName
  readonly implicitTls?: boolean
  /** PLAIN users. */
  readonly users?: Readonly<Record<string, string>>
  /** Don't answer anything (greeting timeout tests). */
  readonly silent?: boolean
  /** SCRAM-SHA-256 users (password), for SCRAM-SHA-256 and SCRAM-SHA-256-PLUS. */
  readonly scramUsers?: Readonly<Record<string, string>>
  /** Send a forged server signature in SCRAM's final message. */
  readonly forgeScramSignature?: boolean
  /** Require a client certificate signed by the test CA. */
  readonly requireClientCert?: boolean
  /** Reply to CAPA over TLS (default "+OK CAPS " + tlsCaps). */
  readonly tlsCapaReply?: string
  /** Reply to COMPRESS (default "+OK DEFLATE active"); after a "+OK" both directions are raw DEFLATE. */
  readonly compressReply?: string
  /** Plaintext the server sends, compressed, in the SAME write as the COMPRESS success reply. */
  readonly compressTrailer?: string
  /** Raw bytes sent instead of compressed data, in the same write as the COMPRESS reply (corrupt streams, bombs). */
  readonly compressRaw?: Uint8Array
}

export interface Recording {
  readonly chunks: Array<{ readonly phase: "plain" | "tls"; readonly text: string }>
  /** Client bytes that arrived after the STARTTLS line and before TLS started. */
  readonly afterStartTls: Array<string>
  tlsStarted: boolean
  tlsError: string | undefined
  peerCertificateSubject: string | undefined
  channelBindingChecked: boolean
  closed: boolean
  /** Whether COMPRESS was accepted. */
  compressed: boolean
  /** Raw (compressed) bytes received from the client after COMPRESS. */
  compressedBytesIn: number
  /** Raw (compressed) bytes sent to the client after the COMPRESS reply. */
  compressedBytesOut: number
}

export const newRecording = (): Recording => ({
  chunks: [],
  afterStartTls: [],
  tlsStarted: false,
  tlsError: undefined,
  peerCertificateSubject: undefined,
  channelBindingChecked: false,
  closed: false,
  compressed: false,
  compressedBytesIn: 0,
  compressedBytesOut: 0
})

const BULK_WORDS = ["mailbox", "flags", "seen", "answered", "subject", "invoice", "meeting", "report", "draft", "weekly"]

/** At least `bytes` bytes of "* ..." lines that look like mail listings (compressible, not trivially). */
export const bulkText = (bytes: number): string => {
  const lines: Array<string> = []
  let size = 0
  let seed = 12345
  for (let n = 1; size < bytes; n++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    const words = [0, 1, 2, 3].map((i) => BULK_WORDS[(seed >>> (i * 4 + 8)) % BULK_WORDS.length]).join(" ")
    const text = `* ${n} FETCH (UID ${seed % 100000} RFC822.SIZE ${seed % 9973} SUBJECT "${words}")\r\n`
    lines.push(text)
    size += text.length
  }
  return lines.join("")
}

export const plaintextSent = (rec: Recording): string =>
  rec.chunks.filter((c) => c.phase === "plain").map((c) => c.text).join("")

export const tlsSent = (rec: Recording): string =>
  rec.chunks.filter((c) => c.phase === "tls").map((c) => c.text).join("")

/**
 * Serves one connection. Resolves when the connection ends.
 */
export const serve = (config: Config, rec: Recording) => (raw: Duplex): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const cert = certs[config.cert ?? "localhost"]
    let socket: Duplex = raw
    let phase: "plain" | "tls" = "plain"
    let buffer = ""
    let stopped = false
    const done = () => {
      rec.closed = true
      resume(Effect.void)
    }
    // After COMPRESS: every write is deflated and flushed on its own (RFC 4978 §4).
    let deflater: Zlib.DeflateRaw | undefined
    const write = (text: string) => {
      if (socket.destroyed) return
      if (deflater === undefined) return socket.write(text)
      deflater.write(Buffer.from(text))
      deflater.flush(Zlib.constants.Z_SYNC_FLUSH)
    }
    const end = () => {
      if (deflater === undefined) return socket.end()
      deflater.flush(Zlib.constants.Z_SYNC_FLUSH, () => socket.end())
    }
    const caps = () => (phase === "tls" ? config.tlsCaps ?? ["AUTH=PLAIN"] : config.plainCaps ?? ["STARTTLS"])

    const goTls = () => {
      stopped = true
      raw.off("data", onData)
      const tls = new NodeTls.TLSSocket(raw, serverTlsOptions(cert, config.requireClientCert === true))
      tls.on("secure", () => {
        rec.tlsStarted = true
        const peer = tls.getPeerCertificate()
        if (peer !== null && typeof peer === "object" && peer.subject !== undefined) {
          rec.peerCertificateSubject = `CN=${peer.subject.CN}`
        }
        phase = "tls"
        socket = tls
        stopped = false
        buffer = ""
        tls.on("data", onData)
      })
      tls.on("error", (e: Error & { code?: string }) => {
        rec.tlsError = e.code ?? e.message
        tls.destroy()
      })
      tls.on("close", done)
    }

    let authUser: string | undefined
    let scram: ((line: string) => void) | undefined
    const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64")
    const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest()
    const startScram = (plus: boolean, clientFirst: string) => {
      const comma = clientFirst.indexOf(",", clientFirst.indexOf(",") + 1)
      const gs2 = clientFirst.slice(0, comma + 1)
      const bare = clientFirst.slice(comma + 1)
      const user = /n=([^,]*)/.exec(bare)?.[1] ?? ""
      const cnonce = /r=([^,]*)/.exec(bare)?.[1] ?? ""
      const password = config.scramUsers?.[user]
      if (password === undefined || (plus && gs2 !== "p=tls-exporter,,")) return write("-ERR authentication failed\r\n")
      const salt = randomBytes(16)
      const nonce = cnonce + randomBytes(12).toString("base64")
      const serverFirst = `r=${nonce},s=${b64(salt)},i=4096`
      write(`+ ${b64(serverFirst)}\r\n`)
      scram = (line) => {
        scram = undefined
        const clientFinal = Buffer.from(line, "base64").toString("utf8")
        const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(",p="))
        const proof = Buffer.from(clientFinal.slice(clientFinal.lastIndexOf(",p=") + 3), "base64")
        const binding = plus && socket instanceof NodeTls.TLSSocket
          ? socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0))
          : Buffer.alloc(0)
        const expectedC = b64(Buffer.concat([Buffer.from(gs2), binding]))
        const salted = pbkdf2Sync(password, salt, 4096, 32, "sha256")
        const clientKey = hmac(salted, "Client Key")
        const storedKey = createHash("sha256").update(clientKey).digest()
        const authMessage = `${bare},${serverFirst},${withoutProof}`
        const signature = hmac(storedKey, authMessage)
        const recovered = Buffer.from(proof.map((byte, i) => byte ^ signature[i]!))
        const ok = withoutProof.startsWith(`c=${expectedC},r=${nonce}`) &&
          createHash("sha256").update(recovered).digest().equals(storedKey)
        if (!ok) return write("-ERR authentication failed\r\n")
        const serverSignature = config.forgeScramSignature === true
          ? randomBytes(32)
          : hmac(hmac(salted, "Server Key"), authMessage)
        rec.channelBindingChecked = plus
        write(`+OK [CAPS ECHO AUTHED] ${b64(`v=${b64(serverSignature)}`)}\r\n`)
      }
    }
    const handle = (line: string) => {
      if (scram !== undefined) return scram(line)
      const [verb = "", ...rest] = line.split(" ")
      const arg = rest.join(" ")
      if (authUser !== undefined) {
        // SASL PLAIN response to an empty challenge
        authUser = undefined
        return finishPlain(line)
      }
      switch (verb.toUpperCase()) {
        case "CAPA":
          return write(phase === "tls" && config.tlsCapaReply !== undefined ? config.tlsCapaReply + "\r\n" : `+OK CAPS ${caps().join(" ")}\r\n`)
        case "STARTTLS": {
          if (config.startTlsWrites !== undefined || config.startTlsDelayMs !== undefined) {
            stopped = true
            raw.off("data", onData)
            // Leave whatever the client sends now (its ClientHello, or plaintext it should not send)
            // buffered for the TLS engine: plaintext there fails the server's handshake (recorded).
            raw.pause()
            const writes = config.startTlsWrites ?? [new TextEncoder().encode("+OK begin TLS\r\n")]
            const step = (i: number) => {
              if (i < writes.length) {
                raw.write(Buffer.from(writes[i]!))
                setImmediate(() => step(i + 1))
              } else {
                goTls()
              }
            }
            setTimeout(() => step(0), config.startTlsDelayMs ?? 0)
            return
          }
          const reply = (config.startTlsReply ?? "+OK begin TLS") + "\r\n"
          const positive = reply.startsWith("+OK")
          if (config.injectSameWrite !== undefined) {
            write(reply + Buffer.from(config.injectSameWrite).toString("latin1"))
          } else {
            write(reply)
          }
          if (!positive || config.startTls === false) return
          stopped = true
          raw.off("data", onData)
          raw.on("data", onAfterStartTls)
          if (config.injectLater !== undefined) {
            const later = config.injectLater
            setTimeout(() => {
              raw.write(Buffer.from(later))
              raw.off("data", onAfterStartTls)
              goTls()
            }, config.injectDelayMs ?? 20)
          } else {
            raw.off("data", onAfterStartTls)
            goTls()
          }
          return
        }
        case "AUTH": {
          const [mech = "", initial] = rest
          if (mech.toUpperCase().startsWith("SCRAM-SHA-256")) {
            if (initial === undefined) return write("-ERR SASL-IR expected\r\n")
            return startScram(mech.toUpperCase().endsWith("-PLUS"), Buffer.from(initial, "base64").toString("utf8"))
          }
          if (mech.toUpperCase() !== "PLAIN") return write("-ERR unsupported\r\n")
          if (initial === undefined) {
            authUser = ""
            return write("+ \r\n")
          }
          return finishPlain(initial)
        }
        case "ECHO":
          return write(`+OK ${arg}\r\n`)
        case "QUIT":
          write("+OK bye\r\n")
          end()
          return
        case "COMPRESS":
          return startCompression()
        case "BULK":
          return write(bulkText(Number(arg)) + "+OK done\r\n")
        default:
          return write("-ERR unknown command\r\n")
      }
    }
    const finishPlain = (b64: string) => {
      const parts = Buffer.from(b64 === "=" ? "" : b64, "base64").toString("utf8").split("\0")
      const user = parts[1] ?? ""
      const pass = parts[2] ?? ""
      if (config.users !== undefined && config.users[user] === pass) {
        return write(`+OK [CAPS ${phase === "tls" ? "ECHO AUTHED" : "ECHO AUTHED-PLAIN"}] welcome\r\n`)
      }
      return write("-ERR authentication failed\r\n")
    }
    const startCompression = () => {
      const reply = (config.compressReply ?? "+OK DEFLATE active") + "\r\n"
      if (rec.compressed) return write("-ERR compression already active\r\n")
      if (!reply.startsWith("+OK")) return write(reply)
      rec.compressed = true
      const target = socket
      // The client's bytes after its COMPRESS line are raw DEFLATE.
      const inflater = Zlib.createInflateRaw()
      inflater.on("data", onData)
      inflater.on("error", () => target.destroy())
      target.off("data", onData)
      target.on("data", (chunk: Buffer) => {
        rec.compressedBytesIn += chunk.length
        inflater.write(chunk)
      })
      // Level 1: the fastest zlib level, so that throughput tests measure the client, not this server.
      const out = Zlib.createDeflateRaw({ level: 1 })
      // Until the reply is written, compressed output is collected to go in the SAME write.
      let first: Array<Buffer> | undefined = []
      out.on("data", (chunk: Buffer) => {
        if (first !== undefined) return first.push(chunk)
        rec.compressedBytesOut += chunk.length
        if (!target.destroyed) target.write(chunk)
      })
      deflater = out
      if (config.compressRaw !== undefined) {
        first = undefined
        rec.compressedBytesOut += config.compressRaw.length
        target.write(Buffer.concat([Buffer.from(reply), Buffer.from(config.compressRaw)]))
        return
      }
      if (config.compressTrailer !== undefined) out.write(Buffer.from(config.compressTrailer))
      out.flush(Zlib.constants.Z_SYNC_FLUSH, () => {
        const compressed = Buffer.concat(first ?? [])
        first = undefined
        rec.compressedBytesOut += compressed.length
        if (!target.destroyed) target.write(Buffer.concat([Buffer.from(reply), compressed]))
      })
    }
    const onAfterStartTls = (chunk: Buffer) => {
      rec.afterStartTls.push(chunk.toString("latin1"))
    }
    const onData = (chunk: Buffer) => {
      if (stopped) return
      const text = chunk.toString("latin1")
      rec.chunks.push({ phase, text })
      buffer += text
      let index: number
      while (!stopped && (index = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, index)
        buffer = buffer.slice(index + 2)
        handle(line)
        if (stopped && buffer.length > 0) {
          // bytes the client sent in the same write as STARTTLS (client-side injection, A19)
          rec.afterStartTls.push(buffer)
          buffer = ""
        }
      }
    }
    raw.on("close", () => {
      if (phase === "plain") done()
    })
    raw.on("error", () => undefined)
    if (config.silent === true) return
    const greet = () => write((config.greeting ?? `+OK [CAPS ${caps().join(" ")}] LINE ready`) + "\r\n")
    if (config.implicitTls === true) {
      const tls = new NodeTls.TLSSocket(raw, serverTlsOptions(cert, config.requireClientCert === true))
      tls.on("secure", () => {
        rec.tlsStarted = true
        phase = "tls"
        socket = tls
        tls.on("data", onData)
        greet()
      })
      tls.on("error", (e: Error & { code?: string }) => {
        rec.tlsError = e.code ?? e.message
        tls.destroy()
      })
      tls.on("close", done)
      return
    }
    raw.on("data", onData)
    greet()
  })
