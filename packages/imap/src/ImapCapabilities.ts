/**
 * The capabilities a server advertised (RFC 9051 §7.2.2 `capability-data`, or a CAPABILITY
 * response code), as a typed, case-insensitive set.
 *
 * Capabilities that IMAP4rev2 incorporates (RFC 9051 Appendix E: LITERAL-, SASL-IR, IDLE, ENABLE,
 * MOVE, UIDPLUS, ESEARCH, SEARCHRES, BINARY, SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, NAMESPACE,
 * UNSELECT, CHILDREN, STATUS=SIZE) are reported present when IMAP4rev2 is advertised, as are the
 * ones another capability requires (QRESYNC implies CONDSTORE, RFC 7162 §3.2; UTF8=ONLY implies
 * UTF8=ACCEPT, RFC 6855 §6). `raw` keeps the list as advertised.
 *
 * This module does not decide what to trust: a set learned before STARTTLS must be discarded by the
 * client (invariant S4), and whether UTF8=ACCEPT or IMAP4rev2 was ENABLEd is the session's business.
 *
 * @since 0.1.0
 */

/**
 * A capability set.
 *
 * @category models
 * @since 0.1.0
 */
export interface ImapCapabilities {
  /** The capability atoms as advertised, in order. */
  readonly raw: ReadonlyArray<string>
  /** Upper-cased advertised atoms. */
  readonly names: ReadonlySet<string>
  readonly imap4rev1: boolean
  readonly imap4rev2: boolean
  readonly startTls: boolean
  /** LOGINDISABLED (RFC 9051 §6.2.3): the LOGIN command must not be sent. */
  readonly loginDisabled: boolean
  /** SASL mechanisms from AUTH=X atoms, upper-cased, in advertised order, without duplicates. */
  readonly authMechanisms: ReadonlyArray<string>
  /** SASL-IR (RFC 4959): AUTHENTICATE may carry the initial response. */
  readonly saslIr: boolean
  /** LITERAL+ (RFC 7888): non-synchronizing literals of any size. */
  readonly literalPlus: boolean
  /** LITERAL- (RFC 7888), or IMAP4rev2: non-synchronizing literals up to 4096 octets. */
  readonly literalMinus: boolean
  /** UTF8=ACCEPT (RFC 6855), usable after ENABLE. */
  readonly utf8Accept: boolean
  /** UTF8=ONLY (RFC 6855 §6). */
  readonly utf8Only: boolean
  readonly idle: boolean
  readonly enable: boolean
  readonly condstore: boolean
  readonly qresync: boolean
  readonly move: boolean
  readonly uidplus: boolean
  readonly specialUse: boolean
  readonly createSpecialUse: boolean
  readonly namespace: boolean
  readonly id: boolean
  /** COMPRESS=DEFLATE (RFC 4978). */
  readonly compressDeflate: boolean
  /** BINARY (RFC 3516): literal8 and the BINARY fetch items. */
  readonly binary: boolean
  readonly esearch: boolean
  /** SEARCHRES (RFC 5182): `$` and RETURN (SAVE). */
  readonly searchRes: boolean
  readonly listExtended: boolean
  readonly listStatus: boolean
  readonly unselect: boolean
  readonly children: boolean
  /** WITHIN (RFC 5032): YOUNGER / OLDER search keys. */
  readonly within: boolean
  /** APPENDLIMIT=n (RFC 7889 §3): the server-wide upload limit; undefined when absent or per mailbox. */
  readonly appendLimit: number | undefined
}

const IMPLIED_BY_REV2: ReadonlySet<string> = new Set([
  "LITERAL-",
  "SASL-IR",
  "IDLE",
  "ENABLE",
  "MOVE",
  "UIDPLUS",
  "ESEARCH",
  "SEARCHRES",
  "BINARY",
  "SPECIAL-USE",
  "LIST-EXTENDED",
  "LIST-STATUS",
  "NAMESPACE",
  "UNSELECT",
  "CHILDREN",
  "STATUS=SIZE"
])

const IMPLIED_BY: ReadonlyMap<string, string> = new Map([
  ["CONDSTORE", "QRESYNC"],
  ["UTF8=ACCEPT", "UTF8=ONLY"]
])

const hasIn = (names: ReadonlySet<string>, name: string): boolean => {
  if (names.has(name)) return true
  if (names.has("IMAP4REV2") && IMPLIED_BY_REV2.has(name)) return true
  const by = IMPLIED_BY.get(name)
  return by !== undefined && names.has(by)
}

/**
 * Whether a capability is advertised or implied (see the module header). Case-insensitive:
 * `has(caps, "auth=plain")`.
 *
 * @category guards
 * @since 0.1.0
 */
export const has = (self: ImapCapabilities, name: string): boolean => hasIn(self.names, name.toUpperCase())

const APPENDLIMIT = "APPENDLIMIT="

/**
 * Builds a set from capability atoms (as parsed from `capability-data`).
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (atoms: Iterable<string>): ImapCapabilities => {
  const raw: Array<string> = []
  const names = new Set<string>()
  const mechanisms: Array<string> = []
  let appendLimit: number | undefined
  for (const atom of atoms) {
    raw.push(atom)
    const upper = atom.toUpperCase()
    names.add(upper)
    if (upper.startsWith("AUTH=") && upper.length > 5) {
      const mechanism = upper.slice(5)
      if (!mechanisms.includes(mechanism)) mechanisms.push(mechanism)
    } else if (upper.startsWith(APPENDLIMIT)) {
      names.add("APPENDLIMIT")
      const digits = upper.slice(APPENDLIMIT.length)
      const value = Number(digits)
      if (/^[0-9]+$/.test(digits) && Number.isSafeInteger(value)) appendLimit = value
    }
  }
  const h = (name: string) => hasIn(names, name)
  return {
    raw,
    names,
    imap4rev1: h("IMAP4REV1"),
    imap4rev2: h("IMAP4REV2"),
    startTls: h("STARTTLS"),
    loginDisabled: h("LOGINDISABLED"),
    authMechanisms: mechanisms,
    saslIr: h("SASL-IR"),
    literalPlus: h("LITERAL+"),
    literalMinus: h("LITERAL-"),
    utf8Accept: h("UTF8=ACCEPT"),
    utf8Only: h("UTF8=ONLY"),
    idle: h("IDLE"),
    enable: h("ENABLE"),
    condstore: h("CONDSTORE"),
    qresync: h("QRESYNC"),
    move: h("MOVE"),
    uidplus: h("UIDPLUS"),
    specialUse: h("SPECIAL-USE"),
    createSpecialUse: h("CREATE-SPECIAL-USE"),
    namespace: h("NAMESPACE"),
    id: h("ID"),
    compressDeflate: h("COMPRESS=DEFLATE"),
    binary: h("BINARY"),
    esearch: h("ESEARCH"),
    searchRes: h("SEARCHRES"),
    listExtended: h("LIST-EXTENDED"),
    listStatus: h("LIST-STATUS"),
    unselect: h("UNSELECT"),
    children: h("CHILDREN"),
    within: h("WITHIN"),
    appendLimit
  }
}

/**
 * The empty set (nothing advertised yet: synchronizing literals, modified UTF-7, no extensions).
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty: ImapCapabilities = make([])

/**
 * Whether the server supports the SASL mechanism (from its AUTH= atoms).
 *
 * @category guards
 * @since 0.1.0
 */
export const supportsMechanism = (self: ImapCapabilities, mechanism: string): boolean =>
  self.authMechanisms.includes(mechanism.toUpperCase())

/**
 * How the client may send literals (RFC 7888): `"plus"` non-synchronizing always (LITERAL+),
 * `"minus"` non-synchronizing up to 4096 octets (LITERAL- or IMAP4rev2), `"sync"` waiting for a
 * continuation request before every literal.
 *
 * @category models
 * @since 0.1.0
 */
export type LiteralMode = "plus" | "minus" | "sync"

/**
 * The literal mode the capabilities allow.
 *
 * @category guards
 * @since 0.1.0
 */
export const literalMode = (self: ImapCapabilities): LiteralMode =>
  self.literalPlus ? "plus" : self.literalMinus ? "minus" : "sync"
