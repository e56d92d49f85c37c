/**
 * APOP (RFC 1939 §7): the greeting's timestamp and the digest `MD5(timestamp + secret)`, in
 * lower-case hex.
 *
 * APOP is a legacy mechanism: MD5 of a shared secret, open to offline guessing by anyone who sees
 * the exchange, and the timestamp comes from the greeting, which with STLS was received before TLS
 * (an active attacker chooses it). Use it only over TLS and only when nothing better is offered.
 *
 * @since 0.1.0
 */
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import * as Pop3Command from "./Pop3Command.ts"

/**
 * The APOP timestamp in a greeting text: the first `<...>` in msg-id form (RFC 1939 §7, RFC 822
 * msg-id: it contains `@`), brackets included, made of printable ASCII without spaces. `undefined`
 * when there is none: the server does not offer APOP.
 *
 * @category decoding
 * @since 0.1.0
 */
export const timestamp = (greeting: string): string | undefined => {
  for (let open = greeting.indexOf("<"); open >= 0; open = greeting.indexOf("<", open + 1)) {
    const close = greeting.indexOf(">", open + 1)
    if (close < 0) return undefined
    let at = false
    let valid = close > open + 1
    for (let i = open + 1; i < close && valid; i++) {
      const c = greeting.charCodeAt(i)
      if (c === 0x40) at = true
      else if (c < 0x21 || c > 0x7e || c === 0x3c) valid = false
    }
    if (valid && at) return greeting.slice(open, close + 1)
  }
  return undefined
}

/**
 * The digest: lower-case hex MD5 of the timestamp followed by the secret (UTF-8).
 *
 * @example
 * ```ts
 * import * as Apop from "@starttls/pop3/Apop"
 * import * as Redacted from "effect/Redacted"
 *
 * // RFC 1939 §7
 * Redacted.value(Apop.digest("<1896.697170952@dbc.mtview.ca.us>", Redacted.make("tanstaaf")))
 * // "c4c9334bac560ecc979e58001b3e22fb"
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const digest = (timestamp: string, secret: Redacted.Redacted<string>): Redacted.Redacted<string> =>
  Redacted.make(createHash("md5").update(timestamp, "utf8").update(Redacted.value(secret), "utf8").digest("hex"))

/**
 * The APOP command for `name`, from the greeting's timestamp and the secret.
 *
 * @category constructors
 * @since 0.1.0
 */
export const command = (name: string, timestamp: string, secret: Redacted.Redacted<string>): Pop3Command.Apop =>
  Pop3Command.apop(name, digest(timestamp, secret))
