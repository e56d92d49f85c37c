/**
 * Mailbox models of the IMAP client: what SELECT / EXAMINE report (RFC 9051 §6.3.2), LIST entries
 * with special-use attributes (RFC 6154), STATUS results, the events a selected mailbox produces
 * (unsolicited EXISTS, EXPUNGE, FETCH, FLAGS; RFC 9051 §7.3, §7.4, §7.5) and the mailbox view the
 * client keeps up to date from them.
 *
 * The view is plain data with pure update functions (`applyExists`, `applyExpunge`,
 * `applyFetch` ...): the client applies only responses received over TLS (or over a connection the
 * caller explicitly allowed in plaintext) while the mailbox is selected; nothing received before TLS
 * ever reaches it (ATTACKS.md A12). It keeps `exists` and, for the messages the server told about,
 * their UID and flags; its memory grows with what the server sent, never with the `EXISTS` count.
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as SequenceSet from "./SequenceSet.ts"

/**
 * Special-use attributes (RFC 6154 §2, `\Important` RFC 8457).
 *
 * @category models
 * @since 0.1.0
 */
export type SpecialUse = "\\All" | "\\Archive" | "\\Drafts" | "\\Flagged" | "\\Junk" | "\\Sent" | "\\Trash" | "\\Important"

const SPECIAL_USE: ReadonlyMap<string, SpecialUse> = new Map(
  (["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important"] as const).map(
    (a) => [a.toLowerCase(), a]
  )
)

/**
 * The special use named by a LIST attribute (case-insensitive), if it is one.
 *
 * @category guards
 * @since 0.1.0
 */
export const specialUseOf = (attribute: string): SpecialUse | undefined => SPECIAL_USE.get(attribute.toLowerCase())

/**
 * What SELECT or EXAMINE reported about the mailbox (RFC 9051 §6.3.2, §7.1: FLAGS, EXISTS,
 * PERMANENTFLAGS, UIDNEXT, UIDVALIDITY, READ-ONLY / READ-WRITE; RECENT and UNSEEN for IMAP4rev1,
 * HIGHESTMODSEQ RFC 7162).
 *
 * @category models
 * @since 0.1.0
 */
export interface MailboxStatus {
  readonly name: string
  readonly readOnly: boolean
  readonly exists: number
  readonly recent: number | undefined
  readonly flags: ReadonlyArray<string>
  /** `undefined` when not sent (RFC 9051 §7.1: then all FLAGS can be changed permanently). */
  readonly permanentFlags: ReadonlyArray<string> | undefined
  readonly uidValidity: number | undefined
  readonly uidNext: number | undefined
  /** IMAP4rev1 `[UNSEEN n]`: the sequence number of the first unseen message. */
  readonly firstUnseen: number | undefined
  readonly highestModSeq: bigint | undefined
}

/**
 * One LIST entry (RFC 9051 §7.3.1). `name` is decoded (modified UTF-7 or UTF-8); `wireName` is the
 * name as the server sent it, for commands that must repeat it exactly.
 *
 * @category models
 * @since 0.1.0
 */
export interface ListEntry {
  readonly name: string
  readonly wireName: string
  readonly delimiter: string | null
  readonly attributes: ReadonlyArray<string>
  /** From the attributes (RFC 6154 §2); `undefined` when the server marks no special use. */
  readonly specialUse: SpecialUse | undefined
  /** False for `\Noselect` and `\NonExistent` (RFC 9051 §7.3.1). */
  readonly selectable: boolean
}

/**
 * A STATUS result (RFC 9051 §7.3.3); items not requested are `undefined`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StatusResult {
  readonly name: string
  readonly messages: number | undefined
  readonly recent: number | undefined
  readonly uidNext: number | undefined
  readonly uidValidity: number | undefined
  readonly unseen: number | undefined
  readonly deleted: number | undefined
  readonly size: number | undefined
  readonly highestModSeq: bigint | undefined
}

/**
 * Something the server told about the selected mailbox, or an alert, received over TLS.
 *
 * - `Exists`, `Recent`: the new message count (RFC 9051 §7.4.1, RFC 3501 §7.3.2).
 * - `Expunge`: message `seq` is gone; later messages move down by one (RFC 9051 §7.5.1).
 * - `Vanished`: messages with these UIDs are gone (RFC 7162 §3.2.10; set as sent).
 * - `FlagsChanged`: an unsolicited FETCH with the message's flags (RFC 9051 §7.5.2).
 * - `MailboxFlags`: the flags defined in the mailbox changed (RFC 9051 §7.3.5).
 * - `Alert`: an `[ALERT]` the RFC says must be shown to the user (RFC 9051 §7.1). Only alerts
 *   received over TLS become events; plaintext ones are dropped with a `SecurityEvents`
 *   `UntrustedPlaintextNotice` (ATTACKS.md A21).
 *
 * @category models
 * @since 0.1.0
 */
export type ImapEvent =
  | { readonly _tag: "Exists"; readonly mailbox: string; readonly count: number }
  | { readonly _tag: "Recent"; readonly mailbox: string; readonly count: number }
  | { readonly _tag: "Expunge"; readonly mailbox: string; readonly seq: number; readonly uid: number | undefined }
  | { readonly _tag: "Vanished"; readonly mailbox: string; readonly uids: string; readonly earlier: boolean }
  | {
    readonly _tag: "FlagsChanged"
    readonly mailbox: string
    readonly seq: number
    readonly uid: number | undefined
    readonly flags: ReadonlyArray<string>
  }
  | { readonly _tag: "MailboxFlags"; readonly mailbox: string; readonly flags: ReadonlyArray<string> }
  | { readonly _tag: "Alert"; readonly text: string }

/**
 * What the view knows about one message.
 *
 * @category models
 * @since 0.1.0
 */
export interface KnownMessage {
  readonly seq: number
  readonly uid: number | undefined
  readonly flags: ReadonlyArray<string> | undefined
}

/**
 * The client's view of the selected mailbox: the SELECT status kept current by the server's
 * responses, and the messages it told about (ascending `seq`).
 *
 * @category models
 * @since 0.1.0
 */
export interface View {
  readonly status: MailboxStatus
  readonly messages: ReadonlyArray<KnownMessage>
}

/**
 * A view right after SELECT / EXAMINE.
 *
 * @category constructors
 * @since 0.1.0
 */
export const makeView = (status: MailboxStatus): View => ({ status, messages: [] })

// Index of the first known message with seq >= `seq`.
const lowerBound = (messages: ReadonlyArray<KnownMessage>, seq: number): number => {
  let lo = 0
  let hi = messages.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (messages[mid]!.seq < seq) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * The known state of message `seq`, if any.
 *
 * @category getters
 * @since 0.1.0
 */
export const messageAt = (view: View, seq: number): KnownMessage | undefined => {
  const i = lowerBound(view.messages, seq)
  const m = view.messages[i]
  return m !== undefined && m.seq === seq ? m : undefined
}

/**
 * `* n EXISTS`: the mailbox now holds `count` messages. A lower count than before (which only
 * EXPUNGE may cause) forgets the messages beyond it.
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyExists = (view: View, count: number): View => ({
  status: { ...view.status, exists: count },
  messages: count < view.status.exists ? view.messages.slice(0, lowerBound(view.messages, count + 1)) : view.messages
})

/**
 * `* n RECENT` (IMAP4rev1).
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyRecent = (view: View, count: number): View => ({ ...view, status: { ...view.status, recent: count } })

/**
 * `* FLAGS (...)`: the flags defined in the mailbox.
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyMailboxFlags = (view: View, flags: ReadonlyArray<string>): View => ({
  ...view,
  status: { ...view.status, flags }
})

/**
 * `* n EXPUNGE`: message `seq` is gone; the later ones move down by one. Returns the view and the
 * expunged message's UID when it was known.
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyExpunge = (view: View, seq: number): { readonly view: View; readonly uid: number | undefined } => {
  const messages = view.messages
  const i = lowerBound(messages, seq)
  const hit = messages[i] !== undefined && messages[i]!.seq === seq ? messages[i] : undefined
  const out: Array<KnownMessage> = messages.slice(0, i)
  for (let k = hit === undefined ? i : i + 1; k < messages.length; k++) {
    const m = messages[k]!
    out.push({ seq: m.seq - 1, uid: m.uid, flags: m.flags })
  }
  return {
    view: { status: { ...view.status, exists: Math.max(0, view.status.exists - 1) }, messages: out },
    uid: hit?.uid
  }
}

/**
 * A FETCH response's UID and FLAGS for message `seq` (attributes not sent keep their value). A
 * `seq` beyond `exists` raises `exists` (a server may announce a message by its FETCH first).
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyFetch = (
  view: View,
  seq: number,
  uid: number | undefined,
  flags: ReadonlyArray<string> | undefined
): View => {
  const messages = view.messages
  const i = lowerBound(messages, seq)
  const old = messages[i] !== undefined && messages[i]!.seq === seq ? messages[i] : undefined
  const next: KnownMessage = { seq, uid: uid ?? old?.uid, flags: flags ?? old?.flags }
  let out: Array<KnownMessage>
  if (i === messages.length) {
    // The common case (a FETCH over a range, in order): append without copying when we own it.
    out = messages as Array<KnownMessage>
    out.push(next)
  } else {
    out = [...messages]
    if (old === undefined) out.splice(i, 0, next)
    else out[i] = next
  }
  const status = seq > view.status.exists ? { ...view.status, exists: seq } : view.status
  return { status, messages: out }
}

/**
 * `* VANISHED uids` (RFC 7162 §3.2.10, not EARLIER): those messages are gone. The known ones are
 * removed, the later ones renumbered, and `exists` decreases by the number of UIDs.
 *
 * @category combinators
 * @since 0.1.0
 */
export const applyVanished = (view: View, uids: string): View => {
  const parsed = SequenceSet.parse(uids)
  if (Result.isFailure(parsed)) return view
  let count = 0
  for (const r of parsed.success._tag === "Ranges" ? parsed.success.ranges : []) {
    if (r.start === "*" || r.end === "*") return view
    count += Math.abs(r.end - r.start) + 1
  }
  const gone = parsed.success
  const out: Array<KnownMessage> = []
  let removed = 0
  for (const m of view.messages) {
    if (m.uid !== undefined && SequenceSet.has(gone, m.uid, m.uid)) {
      removed++
      continue
    }
    out.push(removed === 0 ? m : { seq: m.seq - removed, uid: m.uid, flags: m.flags })
  }
  return { status: { ...view.status, exists: Math.max(0, view.status.exists - count) }, messages: out }
}
