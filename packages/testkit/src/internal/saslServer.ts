/**
 * The server side of SASL (RFC 4422) for the testkit's fake servers, as small synchronous state
 * machines: the protocol (POP3 AUTH, SMTP AUTH, IMAP AUTHENTICATE) frames the exchange, decodes
 * base64, and calls
 *
 * ```
 * start(mechanism, initial | undefined, options) -> Step
 * step.respond(bytes)                            -> Step      (after a Challenge)
 * ```
 *
 * A `Step` is a challenge to send (then `respond` with the client's answer), a success (with the
 * authenticated user and, for SCRAM, the server-final message as "additional data" the protocol
 * delivers either with its success reply or as a last challenge), or a failure with a reason.
 *
 * Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195),
 * SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) and SCRAM-SHA-256-PLUS with `tls-exporter`
 * channel binding (RFC 5802 §6, RFC 9266), XOAUTH2 (Google) and OAUTHBEARER (RFC 7628).
 *
 * Not done: SASLprep (names and passwords are compared as sent, which is exact for ASCII), proxy
 * authorization (an authzid other than the authcid fails), security layers.
 *
 * @internal
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto"

/** The mechanisms served, by their IANA names. */
export type MechanismName =
  | "PLAIN"
  | "LOGIN"
  | "CRAM-MD5"
  | "SCRAM-SHA-1"
  | "SCRAM-SHA-256"
  | "SCRAM-SHA-256-PLUS"
  | "XOAUTH2"
  | "OAUTHBEARER"

/** Every mechanism `start` knows. */
export const mechanisms: ReadonlyArray<MechanismName> = [
  "PLAIN",
  "LOGIN",
  "CRAM-MD5",
  "SCRAM-SHA-1",
  "SCRAM-SHA-256",
  "SCRAM-SHA-256-PLUS",
  "XOAUTH2",
  "OAUTHBEARER"
]

/** Whether `name` (any case) is a mechanism served here; returns its canonical name. */
export const parseMechanism = (name: string): MechanismName | undefined => {
  const upper = name.toUpperCase()
  return mechanisms.find((m) => m === upper)
}

/**
 * Mechanisms that reveal a reusable secret to anyone reading the exchange (the password, or a
 * bearer token): a server that forbids plaintext authentication without TLS hides them.
 */
export const revealsSecret = (mechanism: MechanismName): boolean =>
  mechanism === "PLAIN" || mechanism === "LOGIN" || mechanism === "XOAUTH2" || mechanism === "OAUTHBEARER"

/** What the server knows about a user. */
export interface Account {
  readonly password?: string | undefined
  /** Bearer token accepted by XOAUTH2 and OAUTHBEARER. */
  readonly token?: string | undefined
}

export interface Options {
  readonly account: (username: string) => Account | undefined
  /** RFC 9266 `tls-exporter` data of the session; `undefined` when not on TLS (1.3). */
  readonly channelBinding: () => Uint8Array | undefined
  /** The mechanisms the server offers (SCRAM's "y" flag is a downgrade when the -PLUS variant is here). */
  readonly offered: ReadonlyArray<string>
  /** SCRAM iteration count. Default 4096. */
  readonly iterations?: number | undefined
  /** Server nonce for SCRAM and the CRAM-MD5 challenge. Default: 18 random bytes, base64. */
  readonly nonce?: (() => string) | undefined
  /** SCRAM salt per user. Default: 16 random bytes. */
  readonly salt?: ((username: string) => Uint8Array) | undefined
  /** Host name in the CRAM-MD5 challenge. Default "localhost". */
  readonly hostname?: string | undefined
  /** Sends a wrong SCRAM server signature (to test that clients verify it). */
  readonly forgeServerSignature?: boolean | undefined
}

export type FailureReason =
  /** The message does not follow the mechanism's grammar. */
  | "Malformed"
  /** Unknown user, wrong password or token, wrong proof. */
  | "BadCredentials"
  /** An authorization identity other than the authentication identity. */
  | "AuthzidRefused"
  /** -PLUS without TLS 1.3 channel binding data, a wrong binding, or a "y" flag while -PLUS is offered. */
  | "ChannelBinding"
  /** The client answered the mechanism's last step with something other than an empty response. */
  | "UnexpectedResponse"

export type Step =
  | { readonly _tag: "Challenge"; readonly data: Uint8Array; readonly respond: (response: Uint8Array) => Step }
  | {
    readonly _tag: "Success"
    readonly username: string
    /** Additional data with success (a SCRAM server-final message). */
    readonly data: Uint8Array | undefined
  }
  | { readonly _tag: "Failure"; readonly reason: FailureReason; readonly username: string | undefined }

const encoder = new TextEncoder()
const utf8 = new TextDecoder("utf-8", { fatal: true })
const empty = new Uint8Array(0)

const decodeText = (bytes: Uint8Array): string | undefined => {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

const challenge = (data: Uint8Array | string, respond: (response: Uint8Array) => Step): Step => ({
  _tag: "Challenge",
  data: typeof data === "string" ? encoder.encode(data) : data,
  respond
})
const success = (username: string, data?: Uint8Array): Step => ({ _tag: "Success", username, data })
const failure = (reason: FailureReason, username?: string): Step => ({ _tag: "Failure", reason, username })

/** Client-first mechanisms without an initial response get an empty challenge first (RFC 4422 §5). */
const clientFirst = (initial: Uint8Array | undefined, run: (response: Uint8Array) => Step): Step =>
  initial === undefined ? challenge(empty, run) : run(initial)

const passwordMatches = (options: Options, username: string, password: string): boolean => {
  const expected = options.account(username)?.password
  return expected !== undefined && equalText(expected, password)
}

const equalText = (a: string, b: string): boolean => {
  const x = Buffer.from(a, "utf8")
  const y = Buffer.from(b, "utf8")
  return x.length === y.length && timingSafeEqual(x, y)
}

// RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd
const plain = (options: Options) => (response: Uint8Array): Step => {
  const text = decodeText(response)
  const parts = text?.split("\0")
  if (parts === undefined || parts.length !== 3) return failure("Malformed")
  const [authzid = "", authcid = "", password = ""] = parts
  if (authcid === "" || password === "") return failure("Malformed", authcid)
  if (authzid !== "" && authzid !== authcid) return failure("AuthzidRefused", authcid)
  return passwordMatches(options, authcid, password) ? success(authcid) : failure("BadCredentials", authcid)
}

// draft-murchison-sasl-login: "Username:" then "Password:"; an initial response is the username.
const login = (options: Options, initial: Uint8Array | undefined): Step => {
  const password = (username: string) =>
    challenge("Password:", (response) => {
      const text = decodeText(response)
      if (text === undefined) return failure("Malformed", username)
      return passwordMatches(options, username, text) ? success(username) : failure("BadCredentials", username)
    })
  const username = (response: Uint8Array) => {
    const text = decodeText(response)
    return text === undefined || text === "" ? failure("Malformed") : password(text)
  }
  return initial === undefined ? challenge("Username:", username) : username(initial)
}

// RFC 2195: challenge "<unique@host>", response "user SP hex(HMAC-MD5(password, challenge))".
const cramMd5 = (options: Options): Step => {
  const stamp = `<${nonceOf(options).replace(/[^A-Za-z0-9]/g, "")}@${options.hostname ?? "localhost"}>`
  return challenge(stamp, (response) => {
    const text = decodeText(response)
    const space = text?.lastIndexOf(" ") ?? -1
    if (text === undefined || space <= 0) return failure("Malformed")
    const username = text.slice(0, space)
    const digest = text.slice(space + 1)
    const password = options.account(username)?.password
    if (password === undefined) return failure("BadCredentials", username)
    const expected = createHmac("md5", password).update(stamp).digest("hex")
    return equalText(expected, digest.toLowerCase()) ? success(username) : failure("BadCredentials", username)
  })
}

const tokenMatches = (options: Options, username: string, token: string): boolean => {
  const expected = options.account(username)?.token
  return expected !== undefined && equalText(expected, token)
}

/** The failure report both bearer mechanisms send as a challenge; the client answers it before the failure. */
const bearerRejected = (json: string, username: string): Step =>
  challenge(json, () => failure("BadCredentials", username))

// XOAUTH2: "user=" user ^A "auth=Bearer " token ^A ^A
const xoauth2 = (options: Options) => (response: Uint8Array): Step => {
  const match = /^user=([^\x01]+)\x01auth=Bearer ([^\x01]+)\x01\x01$/.exec(decodeText(response) ?? "")
  if (match === null) return failure("Malformed")
  const [, username = "", token = ""] = match
  return tokenMatches(options, username, token)
    ? success(username)
    : bearerRejected(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`, username)
}

// RFC 7628 §3.1: gs2-header kvsep *(key "=" value kvsep) kvsep, kvsep = %x01; the user is the authzid.
const oauthBearer = (options: Options) => (response: Uint8Array): Step => {
  const text = decodeText(response) ?? ""
  const match = /^n,a=([^,]+),\x01((?:[A-Za-z]+=[^\x01]*\x01)*)\x01$/.exec(text)
  if (match === null) return failure("Malformed")
  const username = unescapeSaslName(match[1] ?? "")
  if (username === undefined) return failure("Malformed")
  const auth = (match[2] ?? "").split("\x01").find((pair) => pair.startsWith("auth="))
  const token = auth?.startsWith("auth=Bearer ") === true ? auth.slice("auth=Bearer ".length) : undefined
  if (token === undefined) return failure("Malformed", username)
  return tokenMatches(options, username, token)
    ? success(username)
    : bearerRejected(`{"status":"invalid_token","scope":"mail","openid-configuration":"https://localhost/.well-known/openid-configuration"}`, username)
}

// RFC 5802 §5.1 saslname: "=2C" is ",", "=3D" is "="; any other "=" is an error.
const unescapeSaslName = (name: string): string | undefined => {
  if (/=(?!2C|3D)/.test(name)) return undefined
  return name.replace(/=2C/g, ",").replace(/=3D/g, "=")
}

const nonceOf = (options: Options): string => options.nonce?.() ?? randomBytes(18).toString("base64")

interface ScramHash {
  readonly name: "sha1" | "sha256"
  readonly length: number
}

const hmac = (hash: ScramHash, key: Uint8Array, data: string): Buffer => createHmac(hash.name, key).update(data).digest()

/** RFC 5802 §3: the keys the server stores for a password. */
const scramKeys = (hash: ScramHash, password: string, salt: Uint8Array, iterations: number) => {
  const salted = pbkdf2Sync(password, salt, iterations, hash.length, hash.name)
  const clientKey = hmac(hash, salted, "Client Key")
  return {
    storedKey: createHash(hash.name).update(clientKey).digest(),
    serverKey: hmac(hash, salted, "Server Key")
  }
}

interface ClientFirst {
  readonly gs2Header: string
  readonly cbFlag: string
  readonly username: string
  readonly clientNonce: string
  readonly bare: string
}

// RFC 5802 §7: gs2-cbind-flag "," [authzid] "," "n=" saslname ",r=" c-nonce ["," extensions]
const parseClientFirst = (text: string): ClientFirst | undefined => {
  const match = /^(n|y|p=[A-Za-z0-9.-]+),(a=[^,]*)?,(n=([^,]*),r=([\x21-\x2b\x2d-\x7e]+)(?:,[a-ln-z]=[^,]*)*)$/.exec(text)
  if (match === null) return undefined
  const [, cbFlag = "", authzid, bare = "", name = "", clientNonce = ""] = match
  const username = unescapeSaslName(name)
  if (username === undefined || username === "") return undefined
  if (authzid !== undefined && unescapeSaslName(authzid.slice(2)) !== username) return undefined
  return { gs2Header: text.slice(0, text.length - bare.length), cbFlag, username, clientNonce, bare }
}

const scram = (mechanism: "SCRAM-SHA-1" | "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS", options: Options) =>
(response: Uint8Array): Step => {
  const hash: ScramHash = mechanism === "SCRAM-SHA-1" ? { name: "sha1", length: 20 } : { name: "sha256", length: 32 }
  const first = parseClientFirst(decodeText(response) ?? "")
  if (first === undefined) return failure("Malformed")
  const { username } = first
  // RFC 5802 §6: -PLUS requires "p=tls-exporter" (RFC 9266) with the session's exporter; the plain
  // mechanism takes "n", or "y" only when this server does not offer -PLUS (else it was stripped).
  const binding = options.channelBinding()
  const plus = mechanism === "SCRAM-SHA-256-PLUS"
  if (plus && (first.cbFlag !== "p=tls-exporter" || binding === undefined)) return failure("ChannelBinding", username)
  if (!plus && first.cbFlag.startsWith("p=")) return failure("ChannelBinding", username)
  if (first.cbFlag === "y" && binding !== undefined && options.offered.includes(`${mechanism}-PLUS`)) {
    return failure("ChannelBinding", username)
  }
  const password = options.account(username)?.password
  const salt = options.salt?.(username) ?? randomBytes(16)
  const iterations = options.iterations ?? 4096
  const nonce = first.clientNonce + nonceOf(options).replace(/,/g, "")
  const serverFirst = `r=${nonce},s=${Buffer.from(salt).toString("base64")},i=${iterations}`
  return challenge(serverFirst, (final) => {
    // c=base64(gs2-header [cb-data]),r=nonce[,extensions],p=proof
    const match = /^(c=([A-Za-z0-9+/=]*),r=([^,]+)(?:,[a-oq-z]=[^,]*)*),p=([A-Za-z0-9+/=]+)$/.exec(decodeText(final) ?? "")
    if (match === null) return failure("Malformed", username)
    const [, withoutProof = "", c = "", r = "", proof = ""] = match
    const expectedC = Buffer.concat([Buffer.from(first.gs2Header), plus ? binding ?? empty : empty]).toString("base64")
    if (c !== expectedC) return failure("ChannelBinding", username)
    if (r !== nonce || password === undefined) return failure("BadCredentials", username)
    const keys = scramKeys(hash, password, salt, iterations)
    const authMessage = `${first.bare},${serverFirst},${withoutProof}`
    const signature = hmac(hash, keys.storedKey, authMessage)
    const clientProof = Buffer.from(proof, "base64")
    if (clientProof.length !== hash.length) return failure("BadCredentials", username)
    const clientKey = clientProof.map((byte, i) => byte ^ signature[i]!)
    const recovered = createHash(hash.name).update(clientKey).digest()
    if (!timingSafeEqual(recovered, keys.storedKey)) return failure("BadCredentials", username)
    const serverSignature = options.forgeServerSignature === true
      ? randomBytes(hash.length)
      : hmac(hash, keys.serverKey, authMessage)
    return success(username, encoder.encode(`v=${serverSignature.toString("base64")}`))
  })
}

/** Starts an exchange; `initial` is the decoded initial response, if the client sent one. */
export const start = (mechanism: MechanismName, initial: Uint8Array | undefined, options: Options): Step => {
  switch (mechanism) {
    case "PLAIN":
      return clientFirst(initial, plain(options))
    case "LOGIN":
      return login(options, initial)
    case "CRAM-MD5":
      // A server-first mechanism: an initial response is a protocol error.
      return initial === undefined ? cramMd5(options) : failure("Malformed")
    case "SCRAM-SHA-1":
    case "SCRAM-SHA-256":
    case "SCRAM-SHA-256-PLUS":
      return clientFirst(initial, scram(mechanism, options))
    case "XOAUTH2":
      return clientFirst(initial, xoauth2(options))
    case "OAUTHBEARER":
      return clientFirst(initial, oauthBearer(options))
  }
}

/**
 * A client's SASL line decoded (RFC 5034 §4, RFC 4954 §4): `*` cancels, `=` is an empty initial
 * response, an empty line an empty response, anything else must be base64.
 */
export type Response =
  | { readonly _tag: "Cancel" }
  | { readonly _tag: "Data"; readonly bytes: Uint8Array }
  | { readonly _tag: "Invalid" }

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Decodes a SASL response line (without CRLF); `initial` for the argument of the AUTH command itself. */
export const decodeResponse = (text: string, initial: boolean): Response => {
  if (text === "*") return { _tag: "Cancel" }
  if (initial && text === "=") return { _tag: "Data", bytes: empty }
  if (initial && text === "") return { _tag: "Invalid" }
  if (!BASE64.test(text)) return { _tag: "Invalid" }
  return { _tag: "Data", bytes: new Uint8Array(Buffer.from(text, "base64")) }
}

/** Base64 of a challenge or of additional data (empty stays empty). */
export const encodeChallenge = (data: Uint8Array): string => Buffer.from(data).toString("base64")
