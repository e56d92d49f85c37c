/**
 * The capabilities a POP3 server lists in its answer to CAPA (RFC 2449 §5-6), as a typed set:
 * TOP, UIDL, USER, SASL (RFC 5034), STLS (RFC 2595 §4), PIPELINING, RESP-CODES, AUTH-RESP-CODE
 * (RFC 3206), LOGIN-DELAY, EXPIRE, IMPLEMENTATION, UTF8 and LANG (RFC 6856). Tags are
 * case-insensitive. Lines with an unknown tag, and lines of a known tag whose arguments do not
 * parse, are kept in `unknown`.
 *
 * This module does not decide what to trust: a set learned before STLS must be discarded and CAPA
 * asked again over TLS (invariant S4); `implementation` is server-controlled text.
 *
 * @since 0.1.0
 */

/**
 * A capability line that is not modelled (or did not parse), split at spaces; `tag` upper-cased.
 *
 * @category models
 * @since 0.1.0
 */
export interface UnknownCapability {
  readonly tag: string
  readonly params: ReadonlyArray<string>
}

/**
 * A capability set.
 *
 * @category models
 * @since 0.1.0
 */
export interface Pop3Capabilities {
  /** TOP (RFC 2449 §6.1). */
  readonly top: boolean
  /** UIDL (RFC 2449 §6.8). */
  readonly uidl: boolean
  /** USER (RFC 2449 §6.2): USER/PASS accepted (in the current state and security layer). */
  readonly user: boolean
  /** SASL mechanisms (RFC 2449 §6.3, RFC 5034), upper-cased, in advertised order, no duplicates. */
  readonly sasl: ReadonlyArray<string>
  /** STLS (RFC 2595 §4). */
  readonly stls: boolean
  /** PIPELINING (RFC 2449 §6.6). */
  readonly pipelining: boolean
  /** RESP-CODES (RFC 2449 §6.4). */
  readonly respCodes: boolean
  /** AUTH-RESP-CODE (RFC 3206): the `[AUTH]` code is used. */
  readonly authRespCode: boolean
  /**
   * LOGIN-DELAY (RFC 2449 §6.5): minimum seconds between logins. `perUser`: the value may differ
   * per user (the `USER` argument, sent before authentication).
   */
  readonly loginDelay: { readonly seconds: number; readonly perUser: boolean } | undefined
  /**
   * EXPIRE (RFC 2449 §6.7): days messages are kept after retrieval (0: deleted at QUIT), or
   * `"NEVER"`. `perUser` as for `loginDelay`.
   */
  readonly expire: { readonly days: number | "NEVER"; readonly perUser: boolean } | undefined
  /** IMPLEMENTATION (RFC 2449 §6.9): server-controlled text, never trusted. */
  readonly implementation: string | undefined
  /** UTF8 (RFC 6856 §2); `user`: UTF-8 user names and passwords accepted (the `USER` argument). */
  readonly utf8: { readonly user: boolean } | undefined
  /** LANG (RFC 6856 §3). */
  readonly lang: boolean
  /** Other lines, in order. */
  readonly unknown: ReadonlyArray<UnknownCapability>
}

/**
 * The empty set (what a server that refuses CAPA has shown).
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty: Pop3Capabilities = {
  top: false,
  uidl: false,
  user: false,
  sasl: [],
  stls: false,
  pipelining: false,
  respCodes: false,
  authRespCode: false,
  loginDelay: undefined,
  expire: undefined,
  implementation: undefined,
  utf8: undefined,
  lang: false,
  unknown: []
}

const DIGITS = /^[0-9]{1,9}$/

/** `n [USER]`: the number and whether USER follows, or undefined when malformed. */
const numberAndUser = (params: ReadonlyArray<string>, never: boolean) => {
  const [value, flag] = params
  if (value === undefined || params.length > 2) return undefined
  if (flag !== undefined && flag.toUpperCase() !== "USER") return undefined
  const upper = value.toUpperCase()
  if (never && upper === "NEVER") return { value: "NEVER" as const, perUser: flag !== undefined }
  if (!DIGITS.test(value)) return undefined
  return { value: Number(value), perUser: flag !== undefined }
}

/**
 * Reads the lines of a CAPA answer (as `Pop3Response.Lines` holds them). Total: nothing is rejected.
 *
 * @example
 * ```ts
 * import * as Pop3Capabilities from "@starttls/pop3/Pop3Capabilities"
 *
 * const caps = Pop3Capabilities.parse(["TOP", "SASL PLAIN SCRAM-SHA-256", "STLS", "EXPIRE NEVER"])
 * caps.stls // true
 * caps.sasl // ["PLAIN", "SCRAM-SHA-256"]
 * ```
 *
 * @category decoding
 * @since 0.1.0
 */
export const parse = (lines: ReadonlyArray<string>): Pop3Capabilities => {
  let top = false
  let uidl = false
  let user = false
  let stls = false
  let pipelining = false
  let respCodes = false
  let authRespCode = false
  let lang = false
  const sasl: Array<string> = []
  let loginDelay: Pop3Capabilities["loginDelay"]
  let expire: Pop3Capabilities["expire"]
  let implementation: string | undefined
  let utf8: Pop3Capabilities["utf8"]
  const unknown: Array<UnknownCapability> = []
  for (const line of lines) {
    const trimmed = line.trim()
    if (trimmed.length === 0) continue
    const words = trimmed.split(/[ \t]+/)
    const tag = words[0]!.toUpperCase()
    const params = words.slice(1)
    let known = true
    switch (tag) {
      case "TOP":
        top = true
        break
      case "UIDL":
        uidl = true
        break
      case "USER":
        user = true
        break
      case "STLS":
        stls = true
        break
      case "PIPELINING":
        pipelining = true
        break
      case "RESP-CODES":
        respCodes = true
        break
      case "AUTH-RESP-CODE":
        authRespCode = true
        break
      case "LANG":
        lang = true
        break
      case "SASL":
        for (const mechanism of params) {
          const upper = mechanism.toUpperCase()
          if (!sasl.includes(upper)) sasl.push(upper)
        }
        break
      case "LOGIN-DELAY": {
        const parsed = numberAndUser(params, false)
        if (parsed === undefined || parsed.value === "NEVER") known = false
        else loginDelay = { seconds: parsed.value, perUser: parsed.perUser }
        break
      }
      case "EXPIRE": {
        const parsed = numberAndUser(params, true)
        if (parsed === undefined) known = false
        else expire = { days: parsed.value, perUser: parsed.perUser }
        break
      }
      case "IMPLEMENTATION":
        // The whole rest of the line, spaces included (RFC 2449 §6.9).
        implementation = trimmed.slice(words[0]!.length).trim()
        break
      case "UTF8":
        if (params.length > 1 || (params.length === 1 && params[0]!.toUpperCase() !== "USER")) known = false
        else utf8 = { user: params.length === 1 }
        break
      default:
        known = false
    }
    if (!known) unknown.push({ tag, params })
  }
  return {
    top,
    uidl,
    user,
    sasl,
    stls,
    pipelining,
    respCodes,
    authRespCode,
    loginDelay,
    expire,
    implementation,
    utf8,
    lang,
    unknown
  }
}

/**
 * Whether the server offers the SASL mechanism (case-insensitive).
 *
 * @category guards
 * @since 0.1.0
 */
export const hasSasl = (capabilities: Pop3Capabilities, mechanism: string): boolean =>
  capabilities.sasl.includes(mechanism.toUpperCase())
