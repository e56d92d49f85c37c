/**
 * What a `ScriptedServer` saw from the client: every client byte in arrival order with its phase,
 * the TLS handshake result, how the conversation ended, and the bytes that broke the rules (sent
 * between a STARTTLS command and the handshake, after `-- expect-close`, after the script ended).
 * Plus the checks tests run on it, the main one being "no secret went out in plaintext" (ATTACKS.md
 * §3.6 invariant 1).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/**
 * `plain` = before TLS (or bytes that were not TLS records while the server waited for the
 * ClientHello); `tls` = application data decrypted from TLS. TLS records themselves are not recorded.
 *
 * @category models
 * @since 0.1.0
 */
export type Phase = "plain" | "tls"

/**
 * One chunk as it arrived (chunk boundaries are kept).
 *
 * @category models
 * @since 0.1.0
 */
export interface Chunk {
  readonly phase: Phase
  readonly bytes: Uint8Array
}

/**
 * A completed server-side TLS handshake.
 *
 * @category models
 * @since 0.1.0
 */
export interface Handshake {
  readonly line: number
  /** e.g. "TLSv1.3" */
  readonly protocol: string
  readonly cipher: string
  /** Present when client certificates were requested and the client sent one. */
  readonly clientCertificate: ClientCertificate | undefined
}

/**
 * The certificate a client presented (`requestClientCertificate`).
 *
 * @category models
 * @since 0.1.0
 */
export interface ClientCertificate {
  readonly subject: string
  readonly issuer: string
  readonly fingerprint256: string
  /** Whether it was issued and signed by the CA given to the server (validity dates not checked). */
  readonly issuedByCa: boolean
}

/**
 * How the script ended.
 *
 * - `Completed`: every step ran (a final `-- expect-close` was honoured in time).
 * - `ClientClosed`: the client closed while the step on `line` waited for it (a client line or the
 *   handshake). Tests decide whether that was right.
 * - `HandshakeFailed`: the server-side handshake on `line` failed, e.g. because the client rejected the
 *   certificate (with TLS 1.3 the client then just closes: `code` is `ClosedBeforeHandshake`) or sent
 *   plaintext instead of a ClientHello (an OpenSSL `ERR_SSL_*` code). With TLS 1.2 the server's side of
 *   the handshake completes before the client checks the certificate, so a rejecting client shows up
 *   as `ClientClosed` in the `tls` phase instead.
 * - `Aborted`: the script stopped at `line` with a `ScriptMismatch` (the recording travels in it).
 *
 * @category models
 * @since 0.1.0
 */
export type Outcome =
  | { readonly _tag: "Completed" }
  | { readonly _tag: "ClientClosed"; readonly line: number; readonly phase: Phase }
  | {
    readonly _tag: "HandshakeFailed"
    readonly line: number
    readonly code: string | undefined
    readonly message: string
  }
  | { readonly _tag: "Aborted"; readonly line: number }

/**
 * Everything the server observed on one connection.
 *
 * @category models
 * @since 0.1.0
 */
export interface Recording {
  readonly chunks: ReadonlyArray<Chunk>
  readonly outcome: Outcome
  readonly handshake: Handshake | undefined
  /** Whether the client closed (EOF, reset or TLS close) before the server hung up. */
  readonly clientClosed: boolean
  /**
   * Bytes the client sent after its last expected line before a `-- starttls` and before its TLS
   * ClientHello (ATTACKS.md §3.6 invariant 4: must be empty). They are also in `chunks` as `plain`.
   */
  readonly sentBeforeHandshake: Uint8Array
  /** Bytes the client sent after the point of a `-- expect-close` (must be empty). */
  readonly sentAfterExpectClose: Uint8Array
  /** Bytes the client sent beyond the last step of the script (usually must be empty). */
  readonly extraAfterScript: Uint8Array
}

const utf8 = new TextDecoder("utf-8")

/**
 * All bytes the client sent in a phase, in order.
 *
 * @category getters
 * @since 0.1.0
 */
export const clientBytes = (recording: Recording, phase: Phase): Uint8Array =>
  Buffer.concat(recording.chunks.filter((c) => c.phase === phase).map((c) => c.bytes))

/**
 * Everything the client sent while not in TLS, decoded as UTF-8 (invalid bytes become U+FFFD).
 *
 * @category getters
 * @since 0.1.0
 */
export const plaintextClientBytes = (recording: Recording): string => utf8.decode(clientBytes(recording, "plain"))

/**
 * Everything the client sent inside TLS, decoded as UTF-8.
 *
 * @category getters
 * @since 0.1.0
 */
export const tlsClientBytes = (recording: Recording): string => utf8.decode(clientBytes(recording, "tls"))

/**
 * Where a secret was found in plaintext: verbatim, after undoing quoted-string escapes (`\"`, `\\`),
 * or inside a base64 token (e.g. an AUTH PLAIN `user\0user\0pass` blob).
 *
 * @category models
 * @since 0.1.0
 */
export interface Leak {
  readonly secret: string
  readonly found: "verbatim" | "unescaped" | "base64"
  /** The base64 token that contained it (for `base64`). */
  readonly token?: string | undefined
}

/**
 * A secret went over the wire in plaintext.
 *
 * @category errors
 * @since 0.1.0
 */
export class SecretInPlaintext extends Data.TaggedError("SecretInPlaintext")<{
  readonly leaks: ReadonlyArray<Leak>
}> {
  override get message(): string {
    // The secrets are test values; still, only their length and where they were found are shown.
    const parts = this.leaks.map((l) => `${l.secret.length}-character secret (${l.found})`)
    return `secret sent in plaintext: ${parts.join(", ")}`
  }
}

const BASE64_TOKEN = /[A-Za-z0-9+/]{4,}={0,2}/g
const BASE64_URL_TOKEN = /[A-Za-z0-9_-]{4,}={0,2}/g

const decodedTokens = (text: string): ReadonlyArray<{ readonly token: string; readonly decoded: string }> => {
  const out: Array<{ token: string; decoded: string }> = []
  const seen = new Set<string>()
  for (const [regex, encoding] of [[BASE64_TOKEN, "base64"], [BASE64_URL_TOKEN, "base64url"]] as const) {
    for (const match of text.matchAll(regex)) {
      const token = match[0]
      if (seen.has(`${encoding}:${token}`)) continue
      seen.add(`${encoding}:${token}`)
      // The token may have picked up base64-alphabet characters in front of the real blob: try
      // every alignment.
      for (let skip = 0; skip < 4 && token.length - skip >= 4; skip++) {
        const bytes = Buffer.from(token.slice(skip), encoding)
        out.push({ token, decoded: bytes.toString("latin1") }, { token, decoded: bytes.toString("utf8") })
      }
    }
  }
  return out
}

/**
 * Looks for each secret in the plaintext client bytes: verbatim, with quoted-string escapes
 * undone, and in every base64 (or base64url) token decoded.
 *
 * @category getters
 * @since 0.1.0
 */
export const findSecretsInPlaintext = (
  recording: Recording,
  secrets: ReadonlyArray<string>
): ReadonlyArray<Leak> => {
  const text = plaintextClientBytes(recording)
  const unescaped = text.replace(/\\(.)/gs, "$1")
  const tokens = decodedTokens(text)
  const leaks: Array<Leak> = []
  for (const secret of secrets) {
    if (secret.length === 0) continue
    if (text.includes(secret)) {
      leaks.push({ secret, found: "verbatim" })
      continue
    }
    if (unescaped.includes(secret)) {
      leaks.push({ secret, found: "unescaped" })
      continue
    }
    const hit = tokens.find((t) => t.decoded.includes(secret))
    if (hit !== undefined) leaks.push({ secret, found: "base64", token: hit.token })
  }
  return leaks
}

/**
 * Fails with `SecretInPlaintext` if any secret appears in the plaintext client bytes (see
 * `findSecretsInPlaintext`).
 *
 * @category guards
 * @since 0.1.0
 */
export const assertNoSecretInPlaintext = (
  recording: Recording,
  secrets: ReadonlyArray<string>
): Effect.Effect<void, SecretInPlaintext> => {
  const leaks = findSecretsInPlaintext(recording, secrets)
  return leaks.length === 0 ? Effect.void : Effect.fail(new SecretInPlaintext({ leaks }))
}
