/**
 * Per-connection SMTP state that core's `Connection.Session` has no field for: how the client
 * greeted (EHLO, HELO, LHLO), whether the server still holds a transaction that needs RSET, and
 * whether the connection is known to be plaintext (to name an EHLO refusal correctly). It is keyed
 * by the dialect's per-connection session object, which the engine keeps in `Session.protocol`.
 *
 * @internal
 */
import type * as Dialect from "@starttls/core/Dialect"

export interface SmtpState {
  readonly protocol: "SMTP" | "LMTP"
  readonly clientName: string
  /** The greeting command in force (HELO only after a refused EHLO, under the dangerous policy). */
  hello: "EHLO" | "HELO" | "LHLO"
  /** A MAIL was accepted and its transaction did not end with a final reply: RSET before the next. */
  needsReset: boolean
  /** `true` once the connection is known to be plaintext (STARTTLS mode, before the upgrade). */
  plaintext: boolean | undefined
}

const states = new WeakMap<object, SmtpState>()

export const register = (protocol: object, state: SmtpState): void => {
  states.set(protocol, state)
}

/** The state of a connection made with one of this package's dialects. */
export const of = <F, Caps>(protocol: Dialect.Session<F, Caps>): SmtpState | undefined => states.get(protocol)
